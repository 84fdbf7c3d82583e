import { performance } from 'node:perf_hooks';
import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from '../tf/backend.js';
import { auc } from '../evaluation/metrics.js';
import { augmentBatch, DEFAULT_AUGMENT, type AugmentOptions } from './augment.js';
import { drawEpoch, samplingWeights, type SourceBalance } from './sampler.js';
import { deriveSeed, mulberry32 } from './random.js';
import type { Sample } from './datasets.js';
import { photoConsistency, type ConsistencySpace, type ConsistencyTarget } from '../model/card.js';

export interface TrainSet {
  samples: readonly Sample[];
  inputs: readonly Float32Array[];
  /**
   * Other views of each image (simulated phone photos of it, through the same preprocessing;
   * possibly none), one of which is drawn instead of the original with
   * `TrainOptions.photoProbability`.
   */
  photos?: readonly (readonly Float32Array[])[];
}

export interface EpochStats {
  epoch: number;
  loss: number;
  val_loss: number;
  val_auc: number;
  seconds: number;
}

export interface TrainOptions {
  size: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  /** Stop after this many epochs without a better validation AUC; the best weights are kept. */
  patience: number;
  augment: AugmentOptions | false;
  balance: SourceBalance;
  /** Share of draws that use the image's photo view when it has one (0: never). */
  photoProbability?: number;
  /**
   * Weight of a consistency loss (0 or absent: off). When on, every draw goes in twice, as the
   * image and as its photo view, and the loss adds this weight times the mean squared gap
   * between the two logits: the model learns to give a photo of a film the answer it gives the
   * film, not just a good answer to each. `photoProbability` is then unused.
   */
  photoConsistency?: number;
  /**
   * What the consistency loss moves (default 'pair'): both logits towards each other, or, with
   * 'image', only the photo's towards the image's, which the loss leaves where the labels put it.
   */
  consistencyTarget?: ConsistencyTarget | undefined;
  /**
   * Where the consistency loss weighs the gap (default 'logit'). With 'probability' it weighs
   * the gap between the two answers as probabilities, the figure a user sees: two confident
   * answers on the same side cost almost nothing, so the loss leaves the labels free to push
   * them apart and works where answers move most, near 0.5.
   */
  consistencySpace?: ConsistencySpace | undefined;
  /** Images drawn per epoch (default: the training set's size). */
  epochSize?: number;
  /** How the learning rate moves over the run (default constant; see learningRateAt). */
  learningRateSchedule?: LearningRateSchedule;
  /** After each step; `learningRate` is the rate the optimiser took it with. */
  onBatch?: (info: {
    epoch: number;
    batch: number;
    batches: number;
    loss: number;
    learningRate: number;
  }) => void;
  onEpoch?: (stats: EpochStats) => void;
}

/**
 * `constant`: the base rate throughout. `cosine`: from the base rate down to 0 along half a cosine
 * over the maximum epochs' steps, so the last epochs take small steps and settle instead of
 * jumping between minima (the validation loss of constant-rate runs swings from epoch to epoch).
 */
export const LEARNING_RATE_SCHEDULES = ['constant', 'cosine'] as const;
export type LearningRateSchedule = (typeof LEARNING_RATE_SCHEDULES)[number];

/** The learning rate of step `step` (0-based) of `totalSteps`. */
export function learningRateAt(
  base: number,
  schedule: LearningRateSchedule,
  step: number,
  totalSteps: number,
): number {
  if (schedule === 'constant' || totalSteps <= 0) return base;
  return (base * (1 + Math.cos((Math.PI * Math.min(step, totalSteps)) / totalSteps))) / 2;
}

/** Adam whose rate can be set between steps (tfjs keeps it in a protected field it reads every step). */
export class ScheduledAdam extends tf.AdamOptimizer {
  constructor(learningRate: number) {
    // tf.train.adam's defaults.
    super(learningRate, 0.9, 0.999);
  }

  set rate(value: number) {
    this.learningRate = value;
  }

  get rate(): number {
    return this.learningRate;
  }
}

export const DEFAULT_TRAIN_OPTIONS: Omit<TrainOptions, 'size'> = {
  epochs: 20,
  batchSize: 32,
  learningRate: 2e-3,
  seed: 42,
  patience: 5,
  augment: DEFAULT_AUGMENT,
  balance: 'sqrt',
};

export interface TrainResult {
  history: EpochStats[];
  bestEpoch: number;
  /** Raw (uncalibrated) validation probabilities of the kept weights, in validation order. */
  valProbabilities: number[];
  seconds: number;
  msPerStep: number;
}

/** Forward pass in batches, without training-time behaviour (dropout off, batch norm frozen). */
export async function predictInputs(
  model: tfTypes.LayersModel,
  inputs: readonly Float32Array[],
  size: number,
  batchSize = 64,
): Promise<number[]> {
  const out: number[] = [];
  for (let start = 0; start < inputs.length; start += batchSize) {
    const chunk = inputs.slice(start, start + batchSize);
    const y = tf.tidy(() => model.predict(stack(chunk, size)) as tfTypes.Tensor);
    out.push(...(await y.data()));
    y.dispose();
  }
  return out;
}

function stack(inputs: readonly Float32Array[], size: number): tfTypes.Tensor4D {
  const data = new Float32Array(inputs.length * size * size);
  inputs.forEach((x, i) => data.set(x, i * size * size));
  return tf.tensor4d(data, [inputs.length, size, size, 1]);
}

function logLoss(labels: readonly number[], probs: readonly number[]): number {
  let sum = 0;
  labels.forEach((y, i) => {
    const p = Math.min(1 - 1e-7, Math.max(1e-7, probs[i] ?? 0.5));
    sum += -(y * Math.log(p) + (1 - y) * Math.log(1 - p));
  });
  return sum / Math.max(1, labels.length);
}

/** `x` itself, through which no gradient flows back (tfjs has no stop-gradient op of its own). */
export const stopGradient: (x: tfTypes.Tensor) => tfTypes.Tensor = tf.customGrad((x) => ({
  value: (x as tfTypes.Tensor).clone(),
  gradFunc: (dy: tfTypes.Tensor) => tf.zerosLike(dy),
}));

/**
 * One step on a batch whose second half is the first half's photo views: binary cross-entropy
 * on all of it, plus `weight` times the mean squared gap between each pair's logits or
 * probabilities (with target 'image', a gap only the photo's answer is moved to close).
 */
async function consistencyStep(
  model: tfTypes.LayersModel,
  optimizer: tfTypes.Optimizer,
  xs: tfTypes.Tensor4D,
  ys: tfTypes.Tensor2D,
  pairs: number,
  weight: number,
  target: ConsistencyTarget,
  space: ConsistencySpace,
): Promise<number> {
  const cost = optimizer.minimize(() => {
    const p = tf.clipByValue(model.apply(xs, { training: true }) as tfTypes.Tensor2D, 1e-6, 1 - 1e-6);
    const bce = tf.mean(tf.metrics.binaryCrossentropy(ys, p));
    const answers = space === 'probability' ? p : tf.sub(tf.log(p), tf.log1p(tf.neg(p)));
    const [a, b] = tf.split(answers, [pairs, pairs], 0) as [tfTypes.Tensor, tfTypes.Tensor];
    const image = target === 'image' ? stopGradient(a) : a;
    return tf.add(bce, tf.mul(weight, tf.mean(tf.squaredDifference(image, b)))) as tfTypes.Scalar;
  }, true);
  if (cost === null) throw new Error('The optimiser returned no loss.');
  const value = (await cost.data())[0] ?? Number.NaN;
  cost.dispose();
  return value;
}

/**
 * Trains `model` (compiled here with Adam + binary cross-entropy) with source-balanced sampling,
 * augmentation, and early stopping on validation AUC; restores the best epoch's weights.
 */
export async function trainModel(
  model: tfTypes.LayersModel,
  train: TrainSet,
  val: TrainSet,
  options: TrainOptions,
): Promise<TrainResult> {
  const started = performance.now();
  const random = mulberry32(deriveSeed(options.seed, 'train'));
  const optimizer = new ScheduledAdam(options.learningRate);
  const schedule = options.learningRateSchedule ?? 'constant';
  model.compile({ optimizer, loss: 'binaryCrossentropy' });
  const weights = samplingWeights(train.samples, options.balance);
  const valLabels = val.samples.map((s) => s.covid);
  const epochSize = options.epochSize ?? train.samples.length;
  const batches = Math.ceil(epochSize / options.batchSize);
  // Over the maximum epochs: a run that patience stops early ends with a rate above 0.
  const totalSteps = options.epochs * batches;
  const consistency = options.photoConsistency ?? 0;
  const paired = consistency > 0 && train.photos !== undefined;
  const { target, space } = photoConsistency(
    consistency,
    options.consistencySpace,
    options.consistencyTarget,
  );

  const history: EpochStats[] = [];
  let best: { auc: number; epoch: number; weights: tfTypes.Tensor[]; probs: number[] } | undefined;
  let stepMs = 0;
  let steps = 0;

  for (let epoch = 1; epoch <= options.epochs; epoch++) {
    const epochStart = performance.now();
    const order = drawEpoch(weights, epochSize, random);
    let lossSum = 0;
    for (let b = 0; b < batches; b++) {
      const idx = order.slice(b * options.batchSize, (b + 1) * options.batchSize);
      const t0 = performance.now();
      optimizer.rate = learningRateAt(options.learningRate, schedule, (epoch - 1) * batches + b, totalSteps);
      const input = (i: number) => train.inputs[i] ?? new Float32Array(options.size * options.size);
      const labels = idx.map((i) => train.samples[i]?.covid ?? 0);
      const photoShare = options.photoProbability ?? 0;
      // One of the image's photo views; with one view, no draw (a seeded run with one photo per
      // image draws the same batches as before several views existed).
      const photo = (i: number): Float32Array | undefined => {
        const list = train.photos?.[i] ?? [];
        return list.length <= 1 ? list[0] : list[Math.floor(random() * list.length)];
      };
      const hasPhoto = (i: number) => (train.photos?.[i]?.length ?? 0) > 0;
      // Paired: the images first, then one photo view of each (the image itself when it has none).
      // Otherwise each draw is the image or, with photoShare, one of its photo views.
      const views = paired
        ? [...idx.map(input), ...idx.map((i) => photo(i) ?? input(i))]
        : idx.map((i) =>
            photoShare > 0 && hasPhoto(i) && random() < photoShare ? (photo(i) ?? input(i)) : input(i),
          );
      const xs = stack(views, options.size);
      const xa = options.augment === false ? xs : augmentBatch(xs, random, options.augment);
      const ys = tf.tensor2d(paired ? [...labels, ...labels] : labels, [views.length, 1]);
      const loss = paired
        ? await consistencyStep(model, optimizer, xa, ys, idx.length, consistency, target, space)
        : ((await model.trainOnBatch(xa, ys)) as number);
      tf.dispose([xs, xa, ys]);
      stepMs += performance.now() - t0;
      steps++;
      lossSum += loss;
      options.onBatch?.({ epoch, batch: b + 1, batches, loss, learningRate: optimizer.rate });
    }
    const probs = await predictInputs(model, val.inputs, options.size);
    const stats: EpochStats = {
      epoch,
      loss: lossSum / batches,
      val_loss: logLoss(valLabels, probs),
      val_auc: auc(valLabels, probs),
      seconds: (performance.now() - epochStart) / 1000,
    };
    history.push(stats);
    options.onEpoch?.(stats);
    if (best === undefined || stats.val_auc > best.auc) {
      best?.weights.forEach((w) => w.dispose());
      best = { auc: stats.val_auc, epoch, weights: model.getWeights().map((w) => w.clone()), probs };
    } else if (epoch - best.epoch >= options.patience) {
      break;
    }
  }
  if (best === undefined) throw new Error('Training ran no epoch.');
  model.setWeights(best.weights);
  best.weights.forEach((w) => w.dispose());
  optimizer.dispose();
  return {
    history,
    bestEpoch: best.epoch,
    valProbabilities: best.probs,
    seconds: (performance.now() - started) / 1000,
    msPerStep: steps === 0 ? 0 : stepMs / steps,
  };
}
