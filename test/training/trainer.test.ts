import { beforeAll, describe, expect, it } from 'vitest';
import { defaultCnn } from '../../src/model/architectures.js';
import * as tf from '@tensorflow/tfjs';
import {
  learningRateAt,
  predictInputs,
  ScheduledAdam,
  stopGradient,
  trainModel,
  DEFAULT_TRAIN_OPTIONS,
  type TrainSet,
} from '../../src/training/trainer.js';
import type { ConsistencySpace, ConsistencyTarget } from '../../src/model/card.js';
import { mulberry32 } from '../../src/training/random.js';
import type { Sample } from '../../src/training/datasets.js';
import { initBackend } from '../../src/tf/backend.js';

const SIZE = 16;

/**
 * Images whose label is a bright square, and "photo views" that are unrelated noise: a model
 * trained on the images alone answers the noise however it likes, while the consistency loss
 * must pull its answer on each noise view towards its answer on the image.
 */
function makeSet(n: number, seed: number): TrainSet {
  const random = mulberry32(seed);
  const samples: Sample[] = [];
  const inputs: Float32Array[] = [];
  const photos: Float32Array[][] = [];
  for (let i = 0; i < n; i++) {
    const covid = i % 2 === 0 ? 1 : 0;
    const x = new Float32Array(SIZE * SIZE).map(() => 0.2 + 0.1 * random());
    if (covid === 1) for (let y = 5; y < 11; y++) for (let c = 5; c < 11; c++) x[y * SIZE + c] = 0.9;
    inputs.push(x);
    photos.push([new Float32Array(SIZE * SIZE).map(() => random())]);
    samples.push({
      file: `/x/${i}.png`,
      label: covid ? 'covid' : 'normal',
      covid,
      source: 's',
      patientId: `p${i}`,
    });
  }
  return { samples, inputs, photos };
}

async function meanGap(
  weight: number,
  set: TrainSet,
  target?: ConsistencyTarget,
  space?: ConsistencySpace,
): Promise<number> {
  const model = defaultCnn(SIZE, { filters: [4, 8], seed: 3 });
  await trainModel(model, set, set, {
    ...DEFAULT_TRAIN_OPTIONS,
    size: SIZE,
    epochs: 8,
    learningRate: 1e-2,
    batchSize: 16,
    patience: 8,
    augment: false,
    balance: 'none',
    photoConsistency: weight,
    ...(target === undefined ? {} : { consistencyTarget: target }),
    ...(space === undefined ? {} : { consistencySpace: space }),
  });
  const onImages = await predictInputs(model, set.inputs, SIZE);
  const onPhotos = await predictInputs(
    model,
    set.photos?.map((views) => views[0] ?? new Float32Array()) ?? [],
    SIZE,
  );
  model.dispose();
  return onImages.reduce((sum, p, i) => sum + Math.abs(p - (onPhotos[i] ?? p)), 0) / onImages.length;
}

describe('trainModel with a photo consistency loss', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('shrinks the gap between the answer on an image and on its photo view', async () => {
    const set = makeSet(64, 5);
    const without = await meanGap(0, set);
    const withConsistency = await meanGap(20, set);
    expect(without).toBeGreaterThan(0.03);
    expect(withConsistency).toBeLessThan(without / 4);
  }, 60_000);

  it("shrinks it too when only the photo's answer may move", async () => {
    const set = makeSet(64, 5);
    const without = await meanGap(0, set);
    expect(await meanGap(20, set, 'image')).toBeLessThan(without / 4);
  }, 60_000);

  it('shrinks it too when the gap is weighed between probabilities', async () => {
    const set = makeSet(64, 5);
    const without = await meanGap(0, set);
    expect(await meanGap(20, set, 'pair', 'probability')).toBeLessThan(without / 4);
  }, 60_000);
});

describe('stopGradient', () => {
  it('passes the value on and no gradient back', () => {
    const x = tf.tensor1d([1, -2, 3]);
    // d/dx of sum(stop(x) * x) is stop(x) = x; without the stop it would be 2x.
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(stopGradient(v), v)))(x);
    expect(Array.from(stopGradient(x).dataSync())).toEqual([1, -2, 3]);
    expect(Array.from(g.dataSync())).toEqual([1, -2, 3]);
    tf.dispose([x, g]);
  });
});

describe('trainModel with several photo views per image', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  /** Trained on photo views only; the validation images carry the bright square. */
  async function aucFromViews(views: (set: TrainSet, i: number) => Float32Array[]): Promise<number> {
    const set = makeSet(64, 9);
    const train: TrainSet = { ...set, photos: set.samples.map((_, i) => views(set, i)) };
    const model = defaultCnn(SIZE, { filters: [4, 8], seed: 3 });
    const result = await trainModel(model, train, set, {
      ...DEFAULT_TRAIN_OPTIONS,
      size: SIZE,
      epochs: 6,
      learningRate: 1e-2,
      batchSize: 16,
      patience: 6,
      augment: false,
      balance: 'none',
      photoProbability: 1,
    });
    model.dispose();
    return Math.max(...result.history.map((h) => h.val_auc));
  }

  it('draws every view: a label seen only in the second view is learned', async () => {
    // Views: [noise, the image]. Only the second carries the label, so only a trainer that
    // draws it can learn the square; with the noise view alone nothing is learned.
    const noiseOnly = await aucFromViews((set, i) => [set.photos?.[i]?.[0] ?? new Float32Array()]);
    const both = await aucFromViews((set, i) => [
      set.photos?.[i]?.[0] ?? new Float32Array(),
      set.inputs[i] ?? new Float32Array(),
    ]);
    expect(noiseOnly).toBeLessThan(0.75);
    expect(both).toBeGreaterThan(0.95);
  }, 60_000);
});

describe('the learning-rate schedule', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('is the base rate when constant; cosine goes from it down to 0 over the steps', () => {
    expect([0, 50, 99].map((step) => learningRateAt(0.01, 'constant', step, 100))).toEqual([
      0.01, 0.01, 0.01,
    ]);
    const cosine = [0, 25, 50, 75, 100].map((step) => learningRateAt(0.01, 'cosine', step, 100));
    expect(cosine[0]).toBeCloseTo(0.01, 10);
    expect(cosine[2]).toBeCloseTo(0.005, 10);
    expect(cosine[4]).toBeCloseTo(0, 10);
    for (let i = 1; i < cosine.length; i++) expect(cosine[i]).toBeLessThan(cosine[i - 1] ?? 0);
  });

  it('is the rate the optimiser steps with: at rate 0 a variable stays, at the base rate it moves', () => {
    const step = (rate: number): number => {
      const optimizer = new ScheduledAdam(0.1);
      optimizer.rate = rate;
      const v = tf.variable(tf.scalar(1));
      optimizer.minimize(() => tf.square(v) as tf.Scalar);
      const value = v.dataSync()[0] ?? Number.NaN;
      v.dispose();
      optimizer.dispose();
      return value;
    };
    expect(step(0)).toBe(1);
    expect(step(0.1)).toBeCloseTo(0.9, 5);
  });

  it('is applied by trainModel step by step, over the maximum epochs', async () => {
    const set = makeSet(32, 4);
    const rates: number[] = [];
    const model = defaultCnn(SIZE, { filters: [4, 8], seed: 3 });
    await trainModel(model, set, set, {
      ...DEFAULT_TRAIN_OPTIONS,
      size: SIZE,
      epochs: 4,
      learningRate: 1e-2,
      batchSize: 16,
      patience: 4,
      augment: false,
      balance: 'none',
      learningRateSchedule: 'cosine',
      onBatch: (info) => rates.push(info.learningRate),
    });
    model.dispose();
    // 4 epochs x 2 steps: step k at 0.01 * (1 + cos(pi k / 8)) / 2.
    expect(rates).toHaveLength(8);
    rates.forEach((rate, k) => expect(rate).toBeCloseTo((0.01 * (1 + Math.cos((Math.PI * k) / 8))) / 2, 8));
  }, 60_000);
});
