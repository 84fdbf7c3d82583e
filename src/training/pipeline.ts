import type * as tfTypes from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { initBackend, tf, type BackendName } from '../tf/backend.js';
import { buildArchitecture, type Architecture } from '../model/architectures.js';
import { modelVersion } from '../model/version.js';
import {
  photoConsistency,
  readCard,
  type ConsistencySpace,
  type ConsistencyTarget,
  type ModelCard,
  type PreprocessingSpec,
} from '../model/card.js';
import { draftCard, newStagingDir, switchModelDir, writeModelDir } from '../model/store.js';
import { loadModelForCard } from '../model/io.js';
import { createEngine } from '../classifier/engine.js';
import { fitPlatt, logit } from '../evaluation/calibration.js';
import { auc, thresholdForSensitivity, thresholdMetrics } from '../evaluation/metrics.js';
import { calibrate } from '../model/calibration.js';
import { loadDataset, mapWithConcurrency, type Sample } from './datasets.js';
import { removeCrossSplitDuplicates, splitByPatient, splitCounts } from './split.js';
import { cachedInput, DATASET_LIMITS, prepareInputs } from './inputs.js';
import { inputCache, type InputCache } from './input-cache.js';
import { preprocess, stretchesOverLungs, type LungFinder } from '../image/preprocess.js';
import { extractFeatures, fitGate } from '../gate/fit.js';
import { writeGateStats } from '../gate/gate.js';
import {
  DEFAULT_TRAIN_OPTIONS,
  trainModel,
  type EpochStats,
  type LearningRateSchedule,
  type TrainOptions,
} from './trainer.js';
import { DEFAULT_AUGMENT, type AugmentOptions } from './augment.js';
import type { SourceBalance } from './sampler.js';
import { createSegmenter, LUNG_MODEL_DIR } from '../lungs/segment.js';
import { fitHeadForModel } from '../gate/fit-head.js';
import { deriveSeed, mulberry32, shuffle } from './random.js';

/** The preprocessing of our default model; `--seed-baseline` uses the seed's 64 px instead. */
export const DEFAULT_PREPROCESSING: PreprocessingSpec = {
  size: 96,
  channels: 1,
  crop: 0.9,
  fit: 'fill',
  contrast: 'normalise',
  scale: 'unit',
  film: true,
};

/** Share of training draws that use a simulated phone photo of the image (`--photo-augment`). */
export const DEFAULT_PHOTO_AUGMENT = 0.3;
/** Photo seeds for training lie in [this, 2x this), away from evaluate's (seed = image index). */
const TRAIN_PHOTO_SEED = 1_000_000;

/**
 * The seed of an image's training photo number `view` (0, 1, ...), from its bytes: the same photos
 * whatever else is in the split, so a run that leaves sources out (loso, --exclude-pediatric)
 * trains on the same photos and finds them in the input cache. View 0 keeps the seed runs with
 * one photo per image used, so their cached photos still serve.
 */
export function trainPhotoSeed(bytes: Uint8Array, view = 0): number {
  const digest = createHash('sha256').update(bytes).digest('hex');
  return TRAIN_PHOTO_SEED + (deriveSeed(0, view === 0 ? digest : `${digest}:${view}`) % TRAIN_PHOTO_SEED);
}

/** Simulated photos per training image (`--photo-views`). */
export const DEFAULT_PHOTO_VIEWS = 1;

/**
 * The lung step (`--lungs`): off, a check only, a crop to the lung box, or that crop with only the
 * lung fields kept.
 */
export const LUNG_MODES = ['off', 'check', 'crop', 'mask'] as const;
export type LungMode = (typeof LUNG_MODES)[number];

/** The lung step of the default model (`--lungs`, `--lung-margin`): chosen by measurement, see the card. */
export const DEFAULT_LUNGS = { mode: 'crop', margin: 0.1 } as const satisfies {
  mode: LungMode;
  margin: number;
};

/** A training request's lung step for `mode`, with the lung model in `dir` (none when off). */
export function lungStep(mode: LungMode, dir: string, margin: number): TrainingRequest['lungs'] {
  if (mode === 'off') return undefined;
  return { dir, crop: mode === 'crop' || mode === 'mask', mask: mode === 'mask', margin };
}

/** Training X-rays the gate's head is fitted on (a seeded sample: plenty for a linear head). */
const HEAD_TRAIN_XRAYS = 800;
/** Of those, this many also as a simulated phone photo, when the model trains on photos. */
export const HEAD_TRAIN_PHOTOS = 300;
/** Seeds of those photos: apart from training's and evaluation's. */
export const HEAD_PHOTO_SEED = 2_000_000;
/** Seeds of the negatives' photos the head fits on: apart from those and from evaluate's (3,000,000). */
export const HEAD_NEGATIVE_PHOTO_SEED = 4_000_000;

export const SEED_PREPROCESSING: PreprocessingSpec = {
  size: 64,
  channels: 1,
  crop: 1,
  fit: 'fill',
  contrast: 'none',
  scale: 'unit',
};

/** Rule for the decision threshold, chosen on the validation split after calibration. */
export const TARGET_SENSITIVITY = 0.9;

export interface TrainingRequest {
  data: string;
  /** Model directory to update (switched atomically), e.g. `model/`. */
  modelDir: string;
  architecture: Architecture;
  preprocessing: PreprocessingSpec;
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** How the rate moves over the run (default constant). */
  learningRateSchedule?: LearningRateSchedule | undefined;
  seed: number;
  patience: number;
  augment: boolean;
  balance: SourceBalance;
  excludeSources: readonly string[];
  excludePediatric: boolean;
  dedupe: boolean;
  /**
   * The lung step: the segmenter in `dir` runs first; with `crop` the classifier sees the lung
   * box grown by `margin`, and with `mask` only the lung fields in it. Its model is copied into
   * the new model folder (`lungs/`).
   */
  lungs?: { dir: string; crop: boolean; mask?: boolean | undefined; margin: number } | undefined;
  /** Real non-chest-X-ray images (manifest.csv: file,kind): fits the gate's head (see gate/fit-head.ts). */
  negatives?: string | undefined;
  /**
   * Start from the weights of the model in this folder (same architecture and input size)
   * instead of fresh ones: fine-tuning it, e.g. under a new preprocessing step. The card records
   * its version (`training.initFrom`).
   */
  initFrom?: string | undefined;
  /**
   * Share of training draws that use a simulated phone photo of the image (film on a light box
   * or a monitor, scripts/lib/simulate-photo.ts, seeds apart from the evaluation's) instead of
   * the image itself. 0 or absent: off.
   */
  photoAugment?: number | undefined;
  /**
   * Simulated photos made of each training image (each its own seed; a draw that uses a photo
   * picks one of them). More views, more kinds of tilt, light and glare per image. Default 1.
   */
  photoViews?: number | undefined;
  /**
   * Weight of the photo consistency loss (see TrainOptions.photoConsistency); 0 or absent: off.
   * When on, every draw is the image and its photo, and `photoAugment` is unused.
   */
  photoConsistency?: number | undefined;
  /** What the consistency loss moves (see TrainOptions.consistencyTarget; default 'pair'). */
  consistencyTarget?: ConsistencyTarget | undefined;
  /** Where the consistency loss weighs the gap (see TrainOptions.consistencySpace; default 'logit'). */
  consistencySpace?: ConsistencySpace | undefined;
  /** Share of draws lit unevenly (gradient, vignetting, glare; see augment.ts); 0 or absent: off. */
  shading?: number | undefined;
  /** Folder of the prepared-input cache (see input-cache.ts); none when undefined. */
  cache?: string | undefined;
  /** Replace the current model even when its validation AUC is higher. */
  force: boolean;
  backend?: BackendName | undefined;
  /** Images drawn per epoch (default: the training split's size). */
  epochSize?: number;
  log: (line: string) => void;
  onBatch?: TrainOptions['onBatch'];
  onEpoch?: (stats: EpochStats, totalEpochs: number) => void;
  onPrepare?: (done: number, total: number) => void;
}

export interface TrainingOutcome {
  replaced: boolean;
  version: string;
  newValAuc: number;
  currentValAuc?: number;
  /** Where the new model is: `modelDir` when replaced, else the kept staging folder. */
  dir: string;
  backup?: string | undefined;
  history: EpochStats[];
  seconds: number;
}

export class QualityGateError extends Error {
  override readonly name = 'QualityGateError';
}

/** The model to fine-tune, checked against what this run would build. */
async function startingModel(
  dir: string,
  architecture: Architecture,
  size: number,
): Promise<{ model: tfTypes.LayersModel; version: string }> {
  const card = await readCard(dir);
  if (card.architecture !== architecture || card.input.width !== size)
    throw new Error(
      `--init-from ${dir}: its network is ${card.architecture} at ${card.input.width} px, this run's ${architecture} at ${size} px.`,
    );
  // The card's sizes were checked above; the weights must agree with the card too.
  return { model: await loadModelForCard(dir, card), version: card.version };
}

export async function runTraining(req: TrainingRequest): Promise<TrainingOutcome> {
  if (stretchesOverLungs(req.preprocessing.contrast) && req.lungs === undefined)
    throw new Error(`Contrast '${req.preprocessing.contrast}' needs the lung step (--lungs check or crop).`);
  const backend = await initBackend(req.backend);
  req.log(`TensorFlow.js backend: ${backend}`);
  const dataset = await loadDataset(req.data);
  for (const w of dataset.warnings ?? []) req.log(`warning: ${w}`);
  let samples = dataset.samples.filter(
    (s) => !req.excludeSources.includes(s.source) && !(req.excludePediatric && s.ageGroup === 'pediatric'),
  );
  samples = splitByPatient(samples, {
    seed: req.seed,
    ratios: { train: 0.7, val: 0.15, test: 0.15 },
    stratify: 'source_label',
  });
  if (req.dedupe) {
    const dedup = await removeCrossSplitDuplicates(samples);
    if (dedup.removed.length > 0) req.log(`Removed ${dedup.removed.length} cross-split duplicate(s).`);
    samples = dedup.samples;
  }
  const counts = splitCounts(samples);
  const train = samples.filter((s) => s.split === 'train');
  const val = samples.filter((s) => s.split === 'val');
  if (train.length === 0 || val.length === 0)
    throw new Error('Training needs images in both the train and the val split.');
  if (new Set(val.map((s) => s.covid)).size < 2)
    throw new Error('The val split needs both COVID-19 and non-COVID images.');
  req.log(
    `Layout: ${dataset.layout}. Train ${train.length}, val ${val.length} images (test split untouched).`,
  );

  const segmenter =
    req.lungs === undefined ? undefined : await createSegmenter({ modelDir: req.lungs.dir, backend });
  const preprocessing: PreprocessingSpec =
    req.lungs === undefined || segmenter === undefined
      ? req.preprocessing
      : {
          ...req.preprocessing,
          lungs: {
            model: segmenter.card.version,
            crop: req.lungs.crop,
            margin: req.lungs.margin,
            // Only when on: earlier specs, and the input cache's keys made from them, stay the same.
            ...(req.lungs.mask === true ? { mask: true as const } : {}),
          },
        };
  const cache = req.cache === undefined ? undefined : inputCache(req.cache);
  const progress = {
    lungs: segmenter,
    cache,
    ...(req.onPrepare === undefined ? {} : { onProgress: req.onPrepare }),
  };
  const preparedTrain = await prepareInputs(train, preprocessing, progress);
  const preparedVal = await prepareInputs(val, preprocessing, progress);
  const consistency = req.photoConsistency ?? 0;
  // Recorded in the card as fields (what comparisons read) and described in its sentence.
  const paired =
    consistency > 0 ? photoConsistency(consistency, req.consistencySpace, req.consistencyTarget) : undefined;
  // The card names the shading only when it is on, so earlier cards' recipes still read the same.
  const shading = req.shading ?? 0;
  const augmentation: AugmentOptions | 'none' = !req.augment
    ? 'none'
    : shading > 0
      ? { ...DEFAULT_AUGMENT, shading }
      : DEFAULT_AUGMENT;
  const photoCount = req.photoViews ?? DEFAULT_PHOTO_VIEWS;
  if (!Number.isInteger(photoCount) || photoCount < 1)
    throw new Error(`photoViews must be a whole number of at least 1, not ${photoCount}.`);
  const photos =
    (req.photoAugment ?? 0) > 0 || consistency > 0
      ? await photoViews(preparedTrain.samples, photoCount, preprocessing, segmenter, cache, req.onPrepare)
      : undefined;
  segmenter?.dispose();
  for (const s of [...preparedTrain.skipped, ...preparedVal.skipped])
    req.log(`skipped ${path.basename(s.file)}: ${s.code}`);
  const lungsNotFound = {
    train: preparedTrain.lungsNotFound.length,
    val: preparedVal.lungsNotFound.length,
  };
  if (segmenter !== undefined)
    req.log(
      `Lungs not found in ${lungsNotFound.train} training and ${lungsNotFound.val} validation image(s) ` +
        `(kept with the central crop; the bots refuse such images).`,
    );

  const start =
    req.initFrom === undefined
      ? undefined
      : await startingModel(req.initFrom, req.architecture, preprocessing.size);
  const model = start?.model ?? buildArchitecture(req.architecture, preprocessing.size, req.seed);
  const result = await trainModel(
    model,
    { ...preparedTrain, ...(photos === undefined ? {} : { photos }) },
    preparedVal,
    {
      ...DEFAULT_TRAIN_OPTIONS,
      size: preprocessing.size,
      epochs: req.epochs,
      batchSize: req.batchSize,
      learningRate: req.learningRate,
      learningRateSchedule: req.learningRateSchedule ?? 'constant',
      seed: req.seed,
      patience: req.patience,
      augment: augmentation === 'none' ? false : augmentation,
      balance: req.balance,
      ...(photos === undefined
        ? {}
        : {
            photoProbability: req.photoAugment ?? 0,
            photoConsistency: consistency,
            consistencyTarget: req.consistencyTarget,
            consistencySpace: req.consistencySpace,
          }),
      ...(req.epochSize === undefined ? {} : { epochSize: req.epochSize }),
      ...(req.onBatch === undefined ? {} : { onBatch: req.onBatch }),
      onEpoch: (stats) => req.onEpoch?.(stats, req.epochs),
    },
  );

  // Calibration and threshold on the validation split.
  const valLabels = preparedVal.samples.map((s) => s.covid);
  const platt = fitPlatt(
    result.valProbabilities.map((p) => logit(p)),
    valLabels,
  );
  // A negative slope would silently invert a model that ranks backwards; such a model gets no
  // calibration (and its AUC below 0.5 says what it is).
  const calibration: ModelCard['calibration'] =
    platt.a > 0 ? { method: 'platt', a: platt.a, b: platt.b } : { method: 'none' };
  if (calibration.method === 'none')
    req.log('warning: the model ranks validation images backwards; left uncalibrated.');
  const calibrated = result.valProbabilities.map((p) => calibrate(p, calibration));
  const threshold = clampThreshold(thresholdForSensitivity(valLabels, calibrated, TARGET_SENSITIVITY));
  const newValAuc = auc(valLabels, result.valProbabilities);
  const valAtThreshold = thresholdMetrics(valLabels, calibrated, threshold);

  // The "is this a chest X-ray?" gate, on the same model's features.
  const gate = fitGate(
    await extractFeatures(model, preparedTrain.inputs, preprocessing.size),
    await extractFeatures(model, preparedVal.inputs, preprocessing.size),
  );

  const version = modelVersion(req.architecture);
  const card: ModelCard = {
    ...draftCard({
      version,
      architecture: req.architecture,
      preprocessing,
      threshold,
      thresholdRule: `highest threshold with sensitivity >= ${TARGET_SENSITIVITY} on the calibrated validation split`,
      calibration,
    }),
    gate: gate.settings,
    data: {
      description: `${dataset.layout} layout; split by patient (seed ${req.seed}), stratified by source and label`,
      sources: [...new Set(samples.map((s) => s.source))].sort(),
      trainImages: preparedTrain.samples.length,
      counts: counts as unknown as Record<string, unknown>,
      excludedSources: [...req.excludeSources],
      excludedPediatric: req.excludePediatric,
      ...(segmenter === undefined ? {} : { lungsNotFound }),
    },
    training: {
      backend,
      // Epochs run; early stopping may end before maxEpochs.
      epochs: result.history.length,
      maxEpochs: req.epochs,
      drawsPerEpoch: req.epochSize ?? preparedTrain.samples.length,
      bestEpoch: result.bestEpoch,
      batchSize: req.batchSize,
      learningRate: req.learningRate,
      learningRateSchedule: req.learningRateSchedule ?? 'constant',
      ...(start === undefined ? {} : { initFrom: start.version }),
      seed: req.seed,
      augmentation,
      sourceBalance: req.balance,
      ...(paired === undefined ? {} : { photoConsistency: paired }),
      photoAugment:
        photos === undefined
          ? 'none'
          : `${
              paired !== undefined
                ? `paired: every draw is the image and a simulated phone photo of it, with a consistency loss (weight ${paired.weight}) on the gap between their ${paired.space === 'probability' ? 'probabilities' : 'logits'}${paired.target === 'image' ? ", moving only the photo's" : ''}`
                : `${req.photoAugment} of draws use a simulated phone photo of the image`
            } (${photoCount === 1 ? 'one photo' : `${photoCount} photos`} per image, seeded by its bytes in ${TRAIN_PHOTO_SEED}-${2 * TRAIN_PHOTO_SEED - 1}; evaluate --simulate-photo uses the same generator with other seeds, so its figure is optimistic for real photos)`,
      earlyStopping: `validation AUC, patience ${req.patience}`,
      seconds: Math.round(result.seconds),
      msPerStep: Math.round(result.msPerStep),
      history: result.history,
    },
    metrics: { validation: { n: valLabels.length, auc: newValAuc, ...valAtThreshold } },
  };

  const staged = await newStagingDir(req.modelDir, version);
  await writeModelDir(staged, model, card);
  await writeGateStats(staged, gate.stats);
  // The classifier's folder carries the lung model it was trained with (the engine checks it).
  if (req.lungs !== undefined)
    await fs.cp(req.lungs.dir, path.join(staged, LUNG_MODEL_DIR), { recursive: true });
  model.dispose();
  tf.disposeVariables();

  if (req.negatives !== undefined) {
    const sample = shuffle([...preparedTrain.samples], mulberry32(req.seed)).slice(0, HEAD_TRAIN_XRAYS);
    // A model that reads photos gets a head fitted on photos: of training X-rays and of negatives.
    const photoLib = photos === undefined ? undefined : await import('../../scripts/lib/simulate-photo.js');
    await fitHeadForModel({
      modelDir: staged,
      trainFiles: sample.map((s) => s.file),
      trainPhotos: photoLib?.photoMakers(
        sample.slice(0, HEAD_TRAIN_PHOTOS).map((s) => s.file),
        HEAD_PHOTO_SEED,
      ),
      negativePhotos:
        photoLib === undefined
          ? undefined
          : (file, i) => photoLib.photoOfEachVariant(file, HEAD_NEGATIVE_PHOTO_SEED + i),
      valFiles: preparedVal.samples.map((s) => s.file),
      negatives: req.negatives,
      seed: req.seed,
      backend,
      log: req.log,
    });
  }

  const currentValAuc = await currentModelValAuc(req.modelDir, val, req.log);
  if (currentValAuc !== undefined && newValAuc < currentValAuc && !req.force) {
    req.log(
      `Quality gate: the new model's validation AUC ${newValAuc.toFixed(4)} is lower than the current model's ${currentValAuc.toFixed(4)} on the same images. ` +
        `The current model stays; the new one is in ${staged}. Use --force to replace it anyway.`,
    );
    return {
      replaced: false,
      version,
      newValAuc,
      currentValAuc,
      dir: staged,
      history: result.history,
      seconds: result.seconds,
    };
  }
  const backup = await switchModelDir(staged, req.modelDir, await currentVersion(req.modelDir));
  req.log(
    `Model ${version} is now in ${req.modelDir} (validation AUC ${newValAuc.toFixed(4)}` +
      `${currentValAuc === undefined ? '' : `, previous ${currentValAuc.toFixed(4)}`}).` +
      `${backup === undefined ? '' : ` Previous model kept in ${backup}.`}`,
  );
  return {
    replaced: true,
    version,
    newValAuc,
    ...(currentValAuc === undefined ? {} : { currentValAuc }),
    dir: req.modelDir,
    backup,
    history: result.history,
    seconds: result.seconds,
  };
}

/**
 * `count` simulated phone photos of each training image, through the same preprocessing (film
 * crop, lungs): the model learns to give a photo of a film the answer it gives the film. A photo
 * that cannot be made is left out of its image's list.
 */
async function photoViews(
  samples: readonly Sample[],
  count: number,
  spec: PreprocessingSpec,
  lungs: LungFinder | undefined,
  cache: InputCache | undefined,
  onProgress?: (done: number, total: number) => void,
): Promise<Float32Array[][]> {
  // The generator is measurement tooling (scripts/), loaded only when asked for.
  const { simulatePhoto } = await import('../../scripts/lib/simulate-photo.js');
  const photoInput = async (bytes: Uint8Array, view: number): Promise<Float32Array> => {
    const seed = trainPhotoSeed(bytes, view);
    const made = await cachedInput(cache, bytes, spec, `photo:${seed}`, async () => {
      const photo = await simulatePhoto(bytes, seed);
      return {
        data: (await preprocess(photo, spec, { limits: DATASET_LIMITS, lungs })).input.data,
        found: true,
      };
    });
    return made.data;
  };
  let done = 0;
  // One read of each image for all its views, made in view order (a seeded run draws the same photos).
  return mapWithConcurrency(samples, 2, async (sample) => {
    const views: Float32Array[] = [];
    const bytes = await fs.readFile(sample.file).catch(() => undefined);
    for (let view = 0; view < count; view++) {
      try {
        if (bytes !== undefined) views.push(await photoInput(bytes, view));
      } catch {
        // Left out: the image still trains as itself and through its other photos.
      } finally {
        onProgress?.(++done, samples.length * count);
      }
    }
    return views;
  });
}

/** A threshold of exactly 0 or 1 would make the card invalid and the answer meaningless. */
function clampThreshold(t: number): number {
  return Math.min(0.99, Math.max(0.01, Number.isFinite(t) ? t : 0.5));
}

async function currentVersion(modelDir: string): Promise<string | undefined> {
  try {
    return (await readCard(modelDir)).version;
  } catch {
    return undefined;
  }
}

/** The current model's AUC on the same validation images, each preprocessed as its own card says. */
async function currentModelValAuc(
  modelDir: string,
  val: readonly Sample[],
  log: (line: string) => void,
): Promise<number | undefined> {
  try {
    await fs.access(path.join(modelDir, 'card.json'));
  } catch {
    return undefined;
  }
  try {
    const engine = await createEngine({ modelDir });
    const prepared = await prepareInputs(val, engine.card.preprocessing, { lungs: engine.lungs });
    const probs: number[] = [];
    for (let i = 0; i < prepared.inputs.length; i += 64) {
      const chunk = prepared.inputs.slice(i, i + 64).map((data) => ({
        data,
        size: engine.card.preprocessing.size,
        region: { left: 0, top: 0, width: 1, height: 1 },
      }));
      probs.push(...(await engine.predict(chunk)));
    }
    engine.dispose();
    return auc(
      prepared.samples.map((s) => s.covid),
      probs,
    );
  } catch (error) {
    log(
      `The current model in ${modelDir} could not be evaluated (${(error as Error).message}); it will be replaced.`,
    );
    return undefined;
  }
}
