import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { fitFeatureStats, invert, mahalanobis } from '../../src/gate/mahalanobis.js';
import { fitGate, VAL_ACCEPTANCE } from '../../src/gate/fit.js';
import { createClassifier, type Classifier } from '../../src/classifier/classifier.js';
import { mulberry32, randomNormal } from '../../src/training/random.js';
import { makeTestModel } from '../helpers/model.js';
import { makeChestLikeJpeg, makeColourPhotoJpeg } from '../helpers/images.js';

describe('Mahalanobis feature distance', () => {
  it('inverts a matrix (A * inv(A) = I)', () => {
    const a = Float64Array.from([4, 1, 0, 1, 3, 1, 0, 1, 2]);
    const inv = invert(a, 3);
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 3; j++) {
        let v = 0;
        for (let k = 0; k < 3; k++) v += (a[i * 3 + k] ?? 0) * (inv[k * 3 + j] ?? 0);
        expect(v).toBeCloseTo(i === j ? 1 : 0, 10);
      }
  });

  it('is the z-score for one dimension, and grows with distance from the mean', () => {
    // Values 1..5: mean 3, sample variance 2.5; with no shrinkage the distance of 3 + k is k / sqrt(2.5).
    const stats = fitFeatureStats([[1], [2], [3], [4], [5]], 0);
    expect(mahalanobis(stats, [3])).toBeCloseTo(0, 10);
    expect(mahalanobis(stats, [5])).toBeCloseTo(2 / Math.sqrt(2.5), 10);
    expect(mahalanobis(stats, [13])).toBeGreaterThan(mahalanobis(stats, [5]));
  });

  it('picks a threshold that accepts the stated share of validation vectors', () => {
    const random = mulberry32(5);
    const sample = () => Float32Array.from({ length: 6 }, () => randomNormal(random));
    const gate = fitGate(Array.from({ length: 300 }, sample), Array.from({ length: 400 }, sample));
    const accepted = gate.valDistances.filter((d) => d <= gate.settings.maxDistance).length;
    expect(accepted / 400).toBeGreaterThanOrEqual(VAL_ACCEPTANCE);
    // A far-away vector (a "photo" in feature space) is outside.
    expect(
      mahalanobis(
        gate.stats,
        Float32Array.from({ length: 6 }, () => 12),
      ),
    ).toBeGreaterThan(gate.settings.maxDistance);
  });
});

describe('the gate in the classifier', () => {
  let classifier: Classifier;
  beforeAll(async () => {
    classifier = await createClassifier({ modelDir: await makeTestModel(), workers: 1 });
  });
  afterAll(async () => {
    await classifier.close();
  });

  it('refuses a colour photo without a probability', async () => {
    const result = await classifier.classify(await makeColourPhotoJpeg());
    expect(result).toMatchObject({ accepted: false, reason: 'colour_image' });
    expect('probability' in result).toBe(false);
  });

  it('refuses a picture far wider than any chest film', async () => {
    const wide = await sharp(await makeChestLikeJpeg(300, 300))
      .resize(900, 200, { fit: 'fill' })
      .jpeg()
      .toBuffer();
    expect(await classifier.classify(wide)).toMatchObject({ accepted: false, reason: 'not_chest_xray' });
  });

  it('accepts a chest-like grey image, with a heatmap', async () => {
    const result = await classifier.classify(await makeChestLikeJpeg(400, 420, { seed: 3 }));
    expect(result.accepted).toBe(true);
    if (!result.accepted) return;
    expect(Buffer.from(result.heatmap?.png.subarray(1, 4) ?? []).toString('latin1')).toBe('PNG');
    const meta = await sharp(result.heatmap?.png).metadata();
    expect(meta.width).toBe(result.heatmap?.width);
  });

  it('leaves the heatmap out when asked', async () => {
    const result = await classifier.classify(await makeChestLikeJpeg(400, 420, { seed: 3 }), {
      explain: false,
    });
    expect(result.accepted && result.heatmap === undefined && result.timings.explainMs < 5).toBe(true);
  });
});
