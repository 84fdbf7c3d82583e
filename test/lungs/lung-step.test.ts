import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeImage } from '../../src/image/decode.js';
import { modelRegion, preprocess, toModelInput } from '../../src/image/preprocess.js';
import type { PreprocessingSpec } from '../../src/model/card.js';
import { cleanLungMask, describeMask, lungBox } from '../../src/lungs/segment.js';
import { createEngine, type Engine } from '../../src/classifier/engine.js';
import { prepareInputs } from '../../src/training/inputs.js';
import type { Sample } from '../../src/training/datasets.js';
import { isXrayError } from '../../src/core/errors.js';
import { makeTestModel } from '../helpers/model.js';
import { makeChestLikeJpeg } from '../helpers/images.js';
import { makeTempDir, removeDir } from '../training/fixtures.js';
import { boxOf, chestPixels, lungMask, pngOf } from './fixtures.js';

const SPEC: PreprocessingSpec = {
  size: 32,
  channels: 1,
  crop: 0.9,
  fit: 'fill',
  contrast: 'none',
  scale: 'unit',
  lungs: { model: 'known', crop: true, margin: 0.1 },
};

/** A generated chest with lungs at a known place, and the mask cleaned as the segmenter would. */
async function knownChest(width: number, height: number) {
  const truth = lungMask(width, height, {
    centres: [
      [0.35, 0.4],
      [0.62, 0.42],
    ],
    radii: [0.1, 0.2],
  });
  const decoded = await decodeImage(await pngOf(chestPixels(width, height, truth, 5), width, height));
  const mask = describeMask(cleanLungMask(truth, width, height), width, height);
  return { decoded, mask, truth };
}

describe('the lung crop in the one preprocessing path', () => {
  it('cuts the lung box grown by the margin from a generated image with known lungs', async () => {
    const { decoded, mask, truth } = await knownChest(200, 160);
    const known = boxOf(truth, 200);
    const region = modelRegion(decoded, SPEC, { mask, minPlausibility: 0.3 });
    const [dx, dy] = [Math.round(known.width * 0.1), Math.round(known.height * 0.1)];
    expect(region).toEqual({
      left: known.left - dx,
      top: known.top - dy,
      width: known.width + 2 * dx,
      height: known.height + 2 * dy,
    });
    const input = await toModelInput(decoded, SPEC, { mask, minPlausibility: 0.3 });
    expect(input.region).toEqual(region);
    // The lungs (dark) fill the crop: its mean is far below the whole image's.
    const whole = await toModelInput(decoded, {
      ...SPEC,
      lungs: { ...(SPEC.lungs as NonNullable<PreprocessingSpec['lungs']>), crop: false },
    });
    const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean(input.data)).toBeLessThan(mean(whole.data) - 0.05);
  });

  it('falls back to the central crop when the lungs are not found (the engine refuses those)', async () => {
    const { decoded, mask } = await knownChest(200, 160);
    const region = modelRegion(decoded, SPEC, { mask, minPlausibility: 1.01 });
    expect(region).toEqual({ left: 10, top: 8, width: 180, height: 144 });
    expect(lungBox(mask, 0.1)).not.toEqual(region);
  });

  it('refuses to run a lung spec without the lung model', async () => {
    const bytes = await makeChestLikeJpeg(120, 120, { seed: 1 });
    const error = await preprocess(bytes, SPEC).catch((e: unknown) => e);
    expect(isXrayError(error) && error.code).toBe('model_invalid');
  });
});

describe('an engine with a lung step', () => {
  let found: string;
  let missing: string;
  let engine: Engine;

  beforeAll(async () => {
    found = await makeTestModel({ lungs: { crop: true, threshold: 0.01 } });
    missing = await makeTestModel({ lungs: { crop: true, threshold: 0.99 } });
    engine = await createEngine({ modelDir: found });
  });
  afterAll(() => engine?.dispose());

  it('loads the lung model named by the card and answers with a probability', async () => {
    expect(engine.lungs?.card.version).toBe('test-lungs-0.01');
    const result = await engine.classify(await makeChestLikeJpeg(180, 200, { seed: 3 }));
    expect(result.accepted).toBe(true);
  });

  it('refuses with lungs_not_found when the lung model finds no lungs', async () => {
    const refusing = await createEngine({ modelDir: missing });
    try {
      const result = await refusing.classify(await makeChestLikeJpeg(180, 200, { seed: 3 }));
      expect(result).toMatchObject({ accepted: false, reason: 'lungs_not_found' });
      expect('probability' in result).toBe(false);
    } finally {
      refusing.dispose();
    }
  });

  it('refuses to load when lungs/ holds another lung model than the one it was trained with', async () => {
    const dir = await makeTestModel({ lungs: { crop: true, threshold: 0.01, version: 'other' } });
    const error = await createEngine({ modelDir: dir }).catch((e: unknown) => e);
    expect(isXrayError(error) && error.code).toBe('model_invalid');
    expect((error as Error).message).toContain('other');
  });

  it('gives training exactly the tensor serving gives (same path, same lung model)', async () => {
    const root = await makeTempDir('lung-step');
    try {
      await mkdir(path.join(root, 'images'), { recursive: true });
      const samples: Sample[] = [];
      for (let i = 0; i < 3; i++) {
        const file = path.join(root, 'images', `x${i}.jpg`);
        await writeFile(file, await makeChestLikeJpeg(150 + 20 * i, 170, { seed: i }));
        samples.push({ file, label: 'normal', covid: 0, source: 's', patientId: `p${i}` });
      }
      const training = await prepareInputs(samples, engine.card.preprocessing, { lungs: engine.lungs });
      expect(training.skipped).toEqual([]);
      expect(training.lungsNotFound).toEqual([]);
      for (const [i, sample] of samples.entries()) {
        const serving = await engine.prepare(await readFile(sample.file));
        expect(serving.lungs).toBeDefined();
        expect(Array.from(training.inputs[i]!)).toEqual(Array.from(serving.input.data));
      }
    } finally {
      await removeDir(root);
    }
  });

  it('counts the images whose lungs are not found when preparing training data', async () => {
    const refusing = await createEngine({ modelDir: missing });
    const root = await makeTempDir('lung-step-missing');
    try {
      const file = path.join(root, 'x.jpg');
      await writeFile(file, await makeChestLikeJpeg(160, 170, { seed: 9 }));
      const sample: Sample = { file, label: 'normal', covid: 0, source: 's', patientId: 'p' };
      const set = await prepareInputs([sample], refusing.card.preprocessing, { lungs: refusing.lungs });
      expect(set.samples).toHaveLength(1);
      expect(set.lungsNotFound).toEqual([file]);
    } finally {
      refusing.dispose();
      await removeDir(root);
    }
  });
});
