import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { initBackend, tf } from '../../src/tf/backend.js';
import { decodeImage } from '../../src/image/decode.js';
import { saveModel } from '../../src/model/io.js';
import { lungPreprocessing, readLungCard, writeLungCard, type LungCard } from '../../src/lungs/card.js';
import { createSegmenter, type Segmenter } from '../../src/lungs/segment.js';
import { buildUNet, foldBatchNorm } from '../../src/lungs/unet.js';
import { makeTempDir, removeDir } from '../training/fixtures.js';
import { chestPixels, lungMask, pngOf } from './fixtures.js';

const SIZE = 32;
const FILTERS = [4, 8];

function card(): LungCard {
  return {
    schemaVersion: 1,
    name: 'lung-unet',
    version: 'test-untrained',
    createdAt: new Date().toISOString(),
    architecture: { name: 'unet', filters: FILTERS, parameters: 1 },
    input: { height: SIZE, width: SIZE, channels: 1 },
    preprocessing: lungPreprocessing(SIZE),
    threshold: 0.5,
    minPlausibility: 0.2,
    postprocessing: 'test',
    intendedUse: 'test',
    limitations: [],
  };
}

let dir: string;
let segmenter: Segmenter;

beforeAll(async () => {
  await initBackend();
  dir = await makeTempDir('lung-segmenter');
  const model = buildUNet({ size: SIZE, filters: FILTERS, seed: 3 });
  await saveModel(model, dir);
  model.dispose();
  await writeLungCard(dir, card());
  segmenter = await createSegmenter({ modelDir: dir });
});

afterAll(async () => {
  segmenter?.dispose();
  await removeDir(dir);
});

describe('createSegmenter', () => {
  it('reads the card and its preprocessing', async () => {
    expect(segmenter.card.version).toBe('test-untrained');
    expect((await readLungCard(dir)).preprocessing).toEqual(lungPreprocessing(SIZE));
  });

  it('returns a mask of the same size as the decoded input, 0/255', async () => {
    for (const [w, h] of [
      [301, 217],
      [64, 200],
    ] as const) {
      const decoded = await decodeImage(await pngOf(chestPixels(w, h, lungMask(w, h), 1), w, h));
      const mask = await segmenter.segment(decoded);
      expect([mask.width, mask.height]).toEqual([decoded.width, decoded.height]);
      expect(mask.data).toHaveLength(w * h);
      expect(mask.data.every((v) => v === 0 || v === 255)).toBe(true);
      expect(mask.area).toBeGreaterThanOrEqual(0);
      expect(mask.area).toBeLessThanOrEqual(1);
      expect(mask.plausibility).toBeGreaterThanOrEqual(0);
      expect(mask.plausibility).toBeLessThanOrEqual(1);
    }
  });

  it('refuses a model whose shape disagrees with its card', async () => {
    const other = await makeTempDir('lung-segmenter-bad');
    try {
      const model = buildUNet({ size: 64, filters: FILTERS });
      await saveModel(model, other);
      model.dispose();
      await writeLungCard(other, card());
      await expect(createSegmenter({ modelDir: other })).rejects.toMatchObject({ code: 'model_invalid' });
    } finally {
      await removeDir(other);
    }
  });

  it('says model_missing for a folder without a lung model', async () => {
    await expect(createSegmenter({ modelDir: path.join(dir, 'nothing') })).rejects.toMatchObject({
      code: 'model_missing',
    });
  });
});

describe('foldBatchNorm', () => {
  it('gives the trained model’s inference output', async () => {
    const options = { size: SIZE, filters: FILTERS, seed: 5 };
    const model = buildUNet(options);
    model.compile({ optimizer: tf.train.adam(0.05), loss: 'binaryCrossentropy' });
    const x = tf.randomUniform([4, SIZE, SIZE, 1], 0, 1, 'float32', 7);
    const y = tf.cast(tf.greater(x, 0.6), 'float32');
    // A few steps move the batch-norm statistics away from their initial 0 / 1.
    for (let i = 0; i < 3; i++) await model.trainOnBatch(x, y);
    const folded = foldBatchNorm(model, options);
    expect(folded.layers.some((l) => l.getClassName() === 'BatchNormalization')).toBe(false);
    const a = model.predict(x) as tf.Tensor;
    const b = folded.predict(x) as tf.Tensor;
    const diff = tf.max(tf.abs(tf.sub(a, b)));
    expect((await diff.data())[0]).toBeLessThan(1e-4);
    tf.dispose([a, b, diff, x, y]);
    model.dispose();
    folded.dispose();
  });
});
