import { promises as fs } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type * as tfTypes from '@tensorflow/tfjs';
import { initBackend, tf, type BackendName } from '../tf/backend.js';
import { decodeImage } from '../image/decode.js';
import { toModelInput } from '../image/preprocess.js';
import { saveModel } from '../model/io.js';
import { newStagingDir, switchModelDir } from '../model/store.js';
import { modelVersion } from '../model/version.js';
import { deriveSeed, mulberry32, shuffle, type Random } from '../training/random.js';
import { augmentPairs, type LungAugmentOptions } from './augment.js';
import {
  LUNG_INTENDED_USE,
  LUNG_LIMITATIONS,
  LUNGMASKS_CITATIONS,
  LUNGMASKS_REDISTRIBUTION,
  LUNGMASKS_SOURCES,
  lungPreprocessing,
  readLungCard,
  writeLungCard,
  type LungCard,
  type LungSplitMetrics,
} from './card.js';
import {
  loadLungManifest,
  preparePairs,
  readTruthMask,
  type LungSample,
  type PreparedPairs,
} from './data.js';
import { dice, iou, summariseOverlap, type ScoredMask } from './metrics.js';
import { createSegmenter, type Segmenter } from './segment.js';
import { buildUNet, weightBytes } from './unet.js';

/** Probability threshold of the shipped masks. */
export const LUNG_THRESHOLD = 0.5;
/**
 * Plausibility below which the answer is "couldn't find the lungs". Measured on the shipped
 * model: all 161 val/test X-rays score 1.0; 105 of the 241 non-chest negatives score below 0.5.
 */
export const MIN_PLAUSIBILITY = 0.5;

export const POSTPROCESSING =
  'at the model size: thresholded, the two largest 4-connected components kept (the second only if ' +
  '>= 10 % of the first), holes filled; then the cleaned probabilities up-sampled bilinearly to the ' +
  'image size and thresholded again';

export interface LungTrainingRequest {
  /** Folder with manifest.csv (image,mask,source,patient_id,split). */
  data: string;
  /** Model directory to update (switched atomically), e.g. `model/lungs`. */
  modelDir: string;
  size: number;
  filters: number[];
  /** Epochs at the full size; early stopping on validation Dice may end them sooner. */
  epochs: number;
  /** Epochs at half the size first: 4x cheaper, and they teach the coarse shape. */
  warmupEpochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  /** Stop after this many full-size epochs without a better validation Dice. */
  patience: number;
  augment: LungAugmentOptions | false;
  /** Replace the current model even when its validation Dice is higher. */
  force: boolean;
  /** Wall-time budget for the epochs, minutes: no epoch starts that would likely end past it. */
  maxMinutes?: number | undefined;
  backend?: BackendName | undefined;
  log: (line: string) => void;
  onPrepare?: (done: number, total: number) => void;
  onBatch?: (info: { epoch: number; batch: number; batches: number; loss: number }) => void;
  onEpoch?: (stats: LungEpochStats) => void;
}

export interface LungEpochStats {
  epoch: number;
  /** Input side of this epoch (half during warm-up). */
  size: number;
  loss: number;
  /** Mean Dice at the model's resolution on the validation split (no post-processing). */
  valDice: number;
  learningRate: number;
  seconds: number;
}

export interface LungTrainingOutcome {
  replaced: boolean;
  version: string;
  /** Validation Dice through `segment`, full-size masks. */
  valDice: number;
  currentValDice?: number;
  /** Where the new model is: `modelDir` when replaced, else the kept staging folder. */
  dir: string;
  backup?: string | undefined;
  card: LungCard;
  history: LungEpochStats[];
  seconds: number;
}

/** Binary cross-entropy plus (1 - soft Dice) per image: BCE for sharp edges, Dice for overlap. */
export function diceBceLoss(yTrue: tfTypes.Tensor, yPred: tfTypes.Tensor): tfTypes.Scalar {
  return tf.tidy(() => {
    const p = tf.clipByValue(yPred, 1e-6, 1 - 1e-6);
    const bce = tf.neg(
      tf.mean(tf.add(tf.mul(yTrue, tf.log(p)), tf.mul(tf.sub(1, yTrue), tf.log(tf.sub(1, p))))),
    );
    const both = tf.sum(tf.mul(yTrue, yPred), [1, 2, 3]);
    const total = tf.add(tf.sum(yTrue, [1, 2, 3]), tf.sum(yPred, [1, 2, 3]));
    const softDice = tf.div(tf.add(tf.mul(both, 2), 1), tf.add(total, 1));
    return tf.add(bce, tf.sub(1, tf.mean(softDice))) as tfTypes.Scalar;
  });
}

/** Adam whose learning rate can follow a schedule (tfjs reads it at every step). */
class ScheduledAdam extends tf.AdamOptimizer {
  constructor(learningRate: number) {
    super(learningRate, 0.9, 0.999);
  }
  setLearningRate(rate: number): void {
    this.learningRate = rate;
  }
}

export async function runLungTraining(req: LungTrainingRequest): Promise<LungTrainingOutcome> {
  const started = performance.now();
  const backend = await initBackend(req.backend);
  req.log(`TensorFlow.js backend: ${backend}`);
  const samples = await loadLungManifest(req.data);
  const bySplit = (split: LungSample['split']) => samples.filter((s) => s.split === split);
  const [trainSamples, valSamples, testSamples] = [bySplit('train'), bySplit('val'), bySplit('test')];
  if (trainSamples.length === 0 || valSamples.length === 0) {
    throw new Error('Training needs image/mask pairs in both the train and the val split.');
  }
  const warmSize = req.size / 2;
  const warmup = req.warmupEpochs > 0;
  if (warmup && warmSize % 2 ** req.filters.length !== 0) {
    throw new Error(`Warm-up at ${warmSize} px needs a size divisible by 2^${req.filters.length + 1}.`);
  }
  req.log(
    `Pairs: train ${trainSamples.length}, val ${valSamples.length}, test ${testSamples.length} ` +
      `(test only measured at the end).`,
  );

  const spec = lungPreprocessing(req.size);
  const total = (trainSamples.length + valSamples.length) * (warmup ? 2 : 1);
  let done = 0;
  const progress = { onProgress: () => req.onPrepare?.(++done, total) };
  const train = await preparePairs(trainSamples, spec, progress);
  const val = await preparePairs(valSamples, spec, progress);
  const warmTrain = warmup
    ? await preparePairs(trainSamples, lungPreprocessing(warmSize), progress)
    : undefined;
  const warmVal = warmup ? await preparePairs(valSamples, lungPreprocessing(warmSize), progress) : undefined;

  const random = mulberry32(deriveSeed(req.seed, 'lungs'));
  const unet = { filters: req.filters, seed: req.seed };
  const model = buildUNet({ ...unet, size: req.size });
  const history: LungEpochStats[] = [];
  const steps = { count: 0, ms: 0 };
  const deadline = req.maxMinutes === undefined ? Infinity : started + req.maxMinutes * 60_000;
  const phase = { req, random, history, steps, deadline };

  if (warmTrain !== undefined && warmVal !== undefined) {
    const warm = buildUNet({ ...unet, size: warmSize });
    await trainPhase(phase, warm, warmTrain, warmVal, {
      size: warmSize,
      epochs: req.warmupEpochs,
      keepBest: false,
    });
    model.setWeights(warm.getWeights());
    warm.dispose();
  }
  const best = await trainPhase(phase, model, train, val, {
    size: req.size,
    epochs: req.epochs,
    keepBest: true,
  });

  const version = modelVersion(`unet${req.size}`);
  const card: LungCard = {
    schemaVersion: 1,
    name: 'lung-unet',
    version,
    createdAt: new Date().toISOString(),
    architecture: {
      name: 'unet',
      filters: [...req.filters],
      parameters: model.countParams(),
      weightBytes: weightBytes(model),
    },
    input: { height: req.size, width: req.size, channels: 1 },
    preprocessing: spec,
    threshold: LUNG_THRESHOLD,
    minPlausibility: MIN_PLAUSIBILITY,
    postprocessing: POSTPROCESSING,
    intendedUse: LUNG_INTENDED_USE,
    limitations: [...LUNG_LIMITATIONS],
    data: dataSummary(samples),
    training: {
      backend,
      warmupEpochs: req.warmupEpochs,
      warmupSize: warmup ? warmSize : null,
      epochs: history.length - req.warmupEpochs,
      bestEpoch: best.epoch,
      batchSize: req.batchSize,
      learningRate: req.learningRate,
      learningRateSchedule: 'cosine decay over the full-size epochs or the time budget, whichever ends first',
      loss: 'binary cross-entropy + (1 - soft Dice)',
      seed: req.seed,
      augmentation: req.augment === false ? 'none' : req.augment,
      earlyStopping: `validation Dice at ${req.size} px, patience ${req.patience}`,
      msPerStep: Math.round(steps.count === 0 ? 0 : steps.ms / steps.count),
      seconds: 0,
      history,
    },
  };

  const staged = await newStagingDir(req.modelDir, version);
  await saveModel(model, staged);
  await writeLungCard(staged, card);
  model.dispose();

  // The new model is measured exactly as it will be used: loaded from disk, through `segment`.
  req.log('Measuring the new model on the val and test splits (full-size masks)...');
  const measured = await measureLungModel(staged, valSamples, testSamples, req.backend);
  card.metrics = measured;
  const valMetrics = measured.val;
  (card.training as Record<string, unknown>)['seconds'] = Math.round((performance.now() - started) / 1000);
  await writeLungCard(staged, card);
  const valDice = valMetrics.overall.dice ?? Number.NaN;

  const current = await currentModelValDice(req.modelDir, valSamples, req);
  const outcome = { version, valDice, card, history, seconds: (performance.now() - started) / 1000 };
  if (current !== undefined && !(valDice >= current.dice) && !req.force) {
    req.log(
      `Quality gate: the new model's validation Dice ${fmt(valDice)} is below the current model's ` +
        `${fmt(current.dice)} on the same images. The current model stays; the new one is in ${staged}. ` +
        'Use --force to replace it anyway.',
    );
    return { ...outcome, replaced: false, currentValDice: current.dice, dir: staged };
  }
  const backup = await switchModelDir(staged, req.modelDir, current?.version);
  req.log(
    `Lung model ${version} is now in ${req.modelDir} (validation Dice ${fmt(valDice)}` +
      `${current === undefined ? '' : `, previous ${fmt(current.dice)}`}).` +
      `${backup === undefined ? '' : ` Previous model kept in ${backup}.`}`,
  );
  return {
    ...outcome,
    replaced: true,
    ...(current === undefined ? {} : { currentValDice: current.dice }),
    dir: req.modelDir,
    backup,
  };
}

interface PhaseContext {
  req: LungTrainingRequest;
  random: Random;
  history: LungEpochStats[];
  steps: { count: number; ms: number };
  /** performance.now() after which no epoch should still be running. */
  deadline: number;
}

/**
 * Epochs of Adam on shuffled, augmented batches. With `keepBest`, the learning rate follows a
 * cosine decay, training stops after `patience` epochs without a better validation Dice, and
 * the best epoch's weights are put back.
 */
async function trainPhase(
  ctx: PhaseContext,
  model: tfTypes.LayersModel,
  train: PreparedPairs,
  val: PreparedPairs,
  options: { size: number; epochs: number; keepBest: boolean },
): Promise<{ epoch: number; dice: number }> {
  const { req, random, history, steps, deadline } = ctx;
  const { size, epochs, keepBest } = options;
  const optimizer = new ScheduledAdam(req.learningRate);
  model.compile({ optimizer, loss: diceBceLoss });
  const batches = Math.ceil(train.inputs.length / req.batchSize);
  let best: { dice: number; epoch: number; weights: tfTypes.Tensor[] } | undefined;

  let lastSeconds = 0;
  const phaseStart = performance.now();
  for (let e = 1; e <= epochs; e++) {
    const epoch = history.length + 1;
    const epochStart = performance.now();
    if (epochStart + lastSeconds * 1000 > deadline) {
      req.log(`Time budget of ${req.maxMinutes} min reached: no more epochs.`);
      break;
    }
    // Cosine decay over the epochs, or over the time budget when that runs out first, so
    // that a run cut short by --max-minutes still ends with a small learning rate.
    const progress = Math.min(
      1,
      Math.max(
        (e - 1) / epochs,
        (epochStart - phaseStart) / Math.max(1, deadline - lastSeconds * 1000 - phaseStart),
      ),
    );
    const rate = keepBest
      ? req.learningRate * (0.05 + 0.95 * 0.5 * (1 + Math.cos(Math.PI * progress)))
      : req.learningRate;
    optimizer.setLearningRate(rate);
    const order = shuffle(
      Array.from({ length: train.inputs.length }, (_, i) => i),
      random,
    );
    let lossSum = 0;
    for (let b = 0; b < batches; b++) {
      const idx = order.slice(b * req.batchSize, (b + 1) * req.batchSize);
      const t0 = performance.now();
      const xs = stack(
        idx.map((i) => train.inputs[i]),
        size,
      );
      const ys = stack(
        idx.map((i) => train.targets[i]),
        size,
      );
      const batch =
        req.augment === false ? { images: xs, masks: ys } : augmentPairs(xs, ys, random, req.augment);
      const loss = (await model.trainOnBatch(batch.images, batch.masks)) as number;
      tf.dispose([xs, ys, batch.images, batch.masks]);
      steps.ms += performance.now() - t0;
      steps.count++;
      lossSum += loss;
      req.onBatch?.({ epoch, batch: b + 1, batches, loss });
    }
    const valDice = await modelResolutionDice(model, val, size);
    const stats: LungEpochStats = {
      epoch,
      size,
      loss: lossSum / batches,
      valDice,
      learningRate: rate,
      seconds: (performance.now() - epochStart) / 1000,
    };
    history.push(stats);
    lastSeconds = stats.seconds;
    req.onEpoch?.(stats);
    if (!keepBest) continue;
    if (best === undefined || valDice > best.dice) {
      best?.weights.forEach((w) => w.dispose());
      best = { dice: valDice, epoch, weights: model.getWeights().map((w) => w.clone()) };
    } else if (epoch - best.epoch >= req.patience) {
      req.log(`Early stop: no better validation Dice for ${req.patience} epochs.`);
      break;
    }
  }
  optimizer.dispose();
  if (best === undefined) return { epoch: history.length, dice: history.at(-1)?.valDice ?? Number.NaN };
  model.setWeights(best.weights);
  best.weights.forEach((w) => w.dispose());
  return { epoch: best.epoch, dice: best.dice };
}

function stack(arrays: readonly (Float32Array | undefined)[], size: number): tfTypes.Tensor4D {
  const data = new Float32Array(arrays.length * size * size);
  arrays.forEach((a, i) => {
    if (a !== undefined) data.set(a, i * size * size);
  });
  return tf.tensor4d(data, [arrays.length, size, size, 1]);
}

/** Mean Dice of the thresholded output against the model-size targets: cheap, for early stopping. */
async function modelResolutionDice(
  model: tfTypes.LayersModel,
  set: PreparedPairs,
  size: number,
): Promise<number> {
  let sum = 0;
  for (let start = 0; start < set.inputs.length; start += 16) {
    const chunk = set.inputs.slice(start, start + 16);
    const out = tf.tidy(() =>
      tf.greaterEqual(model.predict(stack(chunk, size)) as tfTypes.Tensor, LUNG_THRESHOLD),
    );
    const values = await out.data();
    out.dispose();
    chunk.forEach((_, i) => {
      const pixels = size * size;
      sum += dice(
        values.subarray(i * pixels, (i + 1) * pixels),
        set.targets[start + i] ?? new Float32Array(pixels),
      );
    });
  }
  return sum / Math.max(1, set.inputs.length);
}

/**
 * The lung card's metrics, measured as the model is used: loaded from disk, full-size masks
 * through `segment` (post-processing included), Dice and IoU per split and source.
 */
export async function measureLungModel(
  modelDir: string,
  valSamples: readonly LungSample[],
  testSamples: readonly LungSample[],
  backendName?: BackendName | undefined,
): Promise<NonNullable<LungCard['metrics']> & { val: LungSplitMetrics }> {
  const segmenter = await createSegmenter({ modelDir, backend: backendName });
  try {
    const valScores = await scoreSegmenter(segmenter, valSamples);
    const testScores = testSamples.length > 0 ? await scoreSegmenter(segmenter, testSamples) : undefined;
    return {
      val: toSplitMetrics(valScores.rows),
      ...(testScores === undefined ? {} : { test: toSplitMetrics(testScores.rows) }),
      inferenceMs: round(valScores.medianInferenceMs, 1),
      backend: segmenter.backend,
    };
  } finally {
    segmenter.dispose();
  }
}

export interface SegmenterScores {
  rows: (ScoredMask & { image: string; plausibility: number })[];
  /** Median time of the forward pass alone, ms. */
  medianInferenceMs: number;
}

/** Dice and IoU of `segment` (full-size masks, post-processing included) per image. */
export async function scoreSegmenter(
  segmenter: Segmenter,
  samples: readonly LungSample[],
  onProgress?: (done: number, total: number) => void,
): Promise<SegmenterScores> {
  const rows: SegmenterScores['rows'] = [];
  const times: number[] = [];
  for (const sample of samples) {
    const decoded = await decodeImage(await fs.readFile(sample.image), {
      maxBytes: 64 * 1024 * 1024,
      maxPixels: 100_000_000,
    });
    const truth = await readTruthMask(sample, decoded);
    const input = await toModelInput(decoded, segmenter.card.preprocessing);
    const t0 = performance.now();
    await segmenter.predict(input);
    times.push(performance.now() - t0);
    const mask = await segmenter.segment(decoded);
    rows.push({
      image: path.basename(sample.image),
      source: sample.source,
      dice: dice(mask.data, truth),
      iou: iou(mask.data, truth),
      plausibility: mask.plausibility,
    });
    onProgress?.(rows.length, samples.length);
  }
  times.sort((a, b) => a - b);
  return { rows, medianInferenceMs: times[Math.floor(times.length / 2)] ?? Number.NaN };
}

function toSplitMetrics(rows: readonly ScoredMask[]): LungSplitMetrics {
  const { overall, bySource } = summariseOverlap(rows);
  const clean = (s: typeof overall) => ({
    n: s.n,
    dice: finite(s.dice),
    iou: finite(s.iou),
    minDice: finite(s.minDice),
  });
  return {
    overall: clean(overall),
    bySource: Object.fromEntries(Object.entries(bySource).map(([k, v]) => [k, clean(v)])),
  };
}

function finite(v: number): number | null {
  return Number.isFinite(v) ? round(v, 4) : null;
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function fmt(v: number): string {
  return Number.isFinite(v) ? v.toFixed(4) : 'n/a';
}

function dataSummary(samples: readonly LungSample[]): NonNullable<LungCard['data']> {
  const sources = [...new Set(samples.map((s) => s.source))].sort();
  const known = sources.every((s) => LUNGMASKS_SOURCES[s] !== undefined);
  return {
    description: known
      ? 'lungmasks v1 (../shared/data/lungmasks): real frontal chest X-rays with hand-drawn lung masks, split by patient'
      : 'image/mask pairs from a manifest.csv (image,mask,source,patient_id,split)',
    sources: sources.map((name) => {
      const count = (split: string) => samples.filter((s) => s.source === name && s.split === split).length;
      return {
        name,
        images: { train: count('train'), val: count('val'), test: count('test') },
        origin: LUNGMASKS_SOURCES[name]?.origin ?? 'not stated',
        license: LUNGMASKS_SOURCES[name]?.license ?? 'not stated',
      };
    }),
    ...(known ? { redistribution: LUNGMASKS_REDISTRIBUTION, citations: [...LUNGMASKS_CITATIONS] } : {}),
  };
}

/** The current model's validation Dice on the same images, each prepared as its own card says. */
async function currentModelValDice(
  modelDir: string,
  val: readonly LungSample[],
  req: LungTrainingRequest,
): Promise<{ dice: number; version: string } | undefined> {
  let card: LungCard;
  try {
    card = await readLungCard(modelDir);
  } catch {
    return undefined;
  }
  try {
    const segmenter = await createSegmenter({ modelDir, backend: req.backend });
    const scores = await scoreSegmenter(segmenter, val);
    segmenter.dispose();
    const dice = summariseOverlap(scores.rows).overall.dice;
    return { dice, version: card.version };
  } catch (error) {
    req.log(
      `The current lung model in ${modelDir} could not be evaluated (${(error as Error).message}); it will be replaced.`,
    );
    return undefined;
  }
}
