import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { createClassifier, type Classifier } from '../../src/classifier/classifier.js';
import { createEngine } from '../../src/classifier/engine.js';
import { XrayError } from '../../src/core/errors.js';
import type { ClassifyResult } from '../../src/core/result.js';
import { tf } from '../../src/tf/backend.js';
import { makeTestModel } from '../helpers/model.js';
import { makeChestLikeJpeg, makeFilmPhotoJpeg } from '../helpers/images.js';

let modelDir: string;
let classifier: Classifier;

beforeAll(async () => {
  modelDir = await makeTestModel();
  classifier = await createClassifier({ modelDir, workers: 2, queueLimit: 4 });
});
afterAll(async () => {
  await classifier.close();
});

describe('createClassifier', () => {
  it('returns probability, label, threshold, model version and timings', async () => {
    const result = await classifier.classify(await makeChestLikeJpeg(300, 260));
    expect(result.accepted).toBe(true);
    if (!result.accepted) return;
    expect(result.probability).toBeGreaterThan(0);
    expect(result.probability).toBeLessThan(1);
    expect(result.label).toBe(result.probability >= result.threshold ? 'covid' : 'not_covid');
    expect(result.threshold).toBe(classifier.card.threshold);
    expect(result.modelVersion).toBe('test-0.1');
    expect(result.photo).toBe(false);
    expect(result.photoChange).toBeUndefined();
    expect(result.timings.inferenceMs).toBeGreaterThan(0);
    expect(result.timings.totalMs).toBeGreaterThanOrEqual(result.timings.preprocessMs);
    expect(classifier.backend).toBe('wasm');
  });

  it('gives the same answer for the same image, also under concurrent calls', async () => {
    const images = await Promise.all(
      [1, 2, 3].map((seed) => makeChestLikeJpeg(200, 200, { seed: seed * 7 })),
    );
    const sequential: ClassifyResult[] = [];
    for (const image of images) sequential.push(await classifier.classify(image));
    const concurrent = await Promise.all(images.map((image) => classifier.classify(image)));
    expect(concurrent).toHaveLength(3);
    concurrent.forEach((r, i) => {
      const s = sequential[i];
      if (!r.accepted || s === undefined || !s.accepted) throw new Error('expected accepted results');
      expect(r.probability).toBeCloseTo(s.probability, 6);
    });
  });

  it('rejects bad input with a typed error and keeps serving', async () => {
    await expect(classifier.classify(Buffer.from('not an image at all'))).rejects.toMatchObject({
      code: 'unsupported_format',
    });
    await expect(
      classifier.classify(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>')),
    ).rejects.toBeInstanceOf(XrayError);
    const ok = await classifier.classify(await makeChestLikeJpeg(64, 64));
    expect(ok.accepted).toBe(true);
  });

  it('refuses an oversized buffer before it reaches a worker', async () => {
    const small = await createClassifier({
      modelDir,
      workers: 1,
      limits: { maxBytes: 1000, maxPixels: 1e6 },
    });
    try {
      await expect(small.classify(await makeChestLikeJpeg(256, 256))).rejects.toMatchObject({
        code: 'image_too_large',
      });
    } finally {
      await small.close();
    }
  });

  it('rejects at once with a busy error when the queue is full', async () => {
    const tiny = await createClassifier({ modelDir, workers: 1, queueLimit: 1 });
    try {
      const image = await makeChestLikeJpeg(1500, 1500);
      const calls = Array.from({ length: 6 }, () => tiny.classify(image));
      const settled = await Promise.allSettled(calls);
      const busy = settled.filter((s) => s.status === 'rejected' && (s.reason as XrayError).code === 'busy');
      const done = settled.filter((s) => s.status === 'fulfilled');
      expect(busy.length).toBeGreaterThanOrEqual(1);
      expect(done.length).toBeGreaterThanOrEqual(2);
      // And it recovers once the queue drains.
      expect((await tiny.classify(image)).accepted).toBe(true);
    } finally {
      await tiny.close();
    }
  });

  it('answers a timeout error at the deadline, then serves again', async () => {
    const slow = await createClassifier({
      modelDir,
      workers: 1,
      timeoutMs: 50,
      limits: { maxBytes: 20 * 1024 * 1024, maxPixels: 50_000_000 },
    });
    try {
      // Noise defeats PNG compression and JPEG shrink-on-load: decoding this takes far over 50 ms.
      const noise = Buffer.alloc(2000 * 2000);
      for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
      const image = await sharp(noise, { raw: { width: 2000, height: 2000, channels: 1 } })
        .png({ compressionLevel: 0 })
        .toBuffer();
      await expect(slow.classify(image)).rejects.toMatchObject({ code: 'timeout' });
      // The worker was not killed: it finishes that task, then serves the next one.
      const served = (await slow.classify(await makeChestLikeJpeg(64, 64), { timeoutMs: 30_000 })).accepted;
      expect(served).toBe(true);
    } finally {
      await slow.close();
    }
  });

  it('refuses a model whose input shape disagrees with its card', async () => {
    const dir = await makeTestModel();
    const cardFile = path.join(dir, 'card.json');
    const card = JSON.parse(await fs.readFile(cardFile, 'utf8')) as {
      input: { width: number; height: number };
      preprocessing: { size: number };
    };
    card.input = { ...card.input, width: 64, height: 64 };
    card.preprocessing.size = 64;
    await fs.writeFile(cardFile, JSON.stringify(card));
    await expect(createClassifier({ modelDir: dir, workers: 1 })).rejects.toMatchObject({
      code: 'model_invalid',
    });
  });

  it('says clearly when there is no model', async () => {
    await expect(createClassifier({ modelDir: path.join(modelDir, 'nope') })).rejects.toMatchObject({
      code: 'model_missing',
    });
  });
});

describe('phone photos of a film or screen', () => {
  it('are cut to the film and said to be photos, with the change the card measured on photos', async () => {
    const dir = await makeTestModel({
      card: { metrics: { phonePhoto: { meanAbsDelta: 0.125, acceptedByGate: { meanAbsDelta: 0.111 } } } },
    });
    const engine = await createEngine({ modelDir: dir });
    try {
      const onPhoto = await engine.classify(await makeFilmPhotoJpeg());
      const onXray = await engine.classify(await makeChestLikeJpeg(300, 340, { seed: 5 }));
      if (!onPhoto.accepted || !onXray.accepted) throw new Error('expected accepted results');
      expect([onPhoto.photo, onPhoto.photoChange]).toEqual([true, 0.111]);
      expect([onXray.photo, onXray.photoChange]).toEqual([false, undefined]);
    } finally {
      engine.dispose();
    }
  });
});

describe('engine memory', () => {
  it('keeps the tensor count flat over many calls', async () => {
    const engine = await createEngine({ modelDir });
    const image = await makeChestLikeJpeg(128, 128);
    await engine.classify(image);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 200; i++) await engine.classify(image);
    expect(tf.memory().numTensors).toBe(before);
    engine.dispose();
  });
});
