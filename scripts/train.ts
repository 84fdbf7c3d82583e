/**
 * `npm run train -- --data <dir>`: trains a model, calibrates it and picks its threshold on the
 * validation split, and switches the bot's model directory to it atomically, unless its
 * validation AUC is below the current model's on the same images (quality gate; --force).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_CACHE_DIR } from '../src/training/input-cache.js';
import { Command, Option } from 'commander';
import {
  finiteNumber,
  positiveInt,
  withArchitectureOption,
  withPhotoTrainingOptions,
  withScheduleOption,
} from './lib/training-options.js';
import { trainingProgress } from './lib/training-progress.js';
import { loadConfig } from '../src/config.js';
import type { Architecture } from '../src/model/architectures.js';
import {
  DEFAULT_LUNGS,
  DEFAULT_PREPROCESSING,
  LUNG_MODES,
  SEED_PREPROCESSING,
  lungStep,
  runTraining,
  type LungMode,
} from '../src/training/pipeline.js';
import { DEFAULT_TRAIN_OPTIONS, type LearningRateSchedule } from '../src/training/trainer.js';
import {
  preprocessingSchema,
  type ConsistencySpace,
  type ConsistencyTarget,
  type PreprocessingSpec,
} from '../src/model/card.js';
import type { SourceBalance } from '../src/training/sampler.js';
import { LUNG_MODEL_DIR } from '../src/lungs/segment.js';

interface Options {
  data: string;
  model?: string;
  architecture: Architecture;
  seedBaseline: boolean;
  size?: number;
  crop?: number;
  fit?: PreprocessingSpec['fit'];
  contrast?: PreprocessingSpec['contrast'];
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  patience: number;
  augment: boolean;
  balance: SourceBalance;
  excludeSource: string[];
  excludePediatric: boolean;
  dedupe: boolean;
  epochSize?: number;
  lungs: LungMode;
  lungMargin: number;
  lungsDir?: string;
  initFrom?: string;
  negatives: string | false;
  photoAugment: number;
  photoViews: number;
  lrSchedule: LearningRateSchedule;
  shading: number;
  photoConsistency: number;
  consistencyTarget: ConsistencyTarget;
  consistencySpace: ConsistencySpace;
  cache: string | false;
  force: boolean;
  quiet: boolean;
}

const DEFAULT_DATA = path.resolve('../shared/data');

const program = new Command()
  .name('npm run train --')
  .description(
    "Train the COVID-19 X-ray classifier and update the bot's model (atomic switch, quality gate).",
  )
  .option('--data <dir>', 'dataset: class folders, metadata.csv + images/, or a manifest CSV', DEFAULT_DATA)
  .option('--model <dir>', 'model directory to update (default: MODEL_DIR or model/)')
  .option('--seed-baseline', "the seed project's CNN at 64 px without augmentation (for comparison)", false)
  .option('--size <px>', 'input side in pixels', positiveInt)
  .option('--crop <fraction>', 'central fraction kept before resizing', finiteNumber)
  .addOption(new Option('--fit <mode>', 'how images become square').choices(['fill', 'contain', 'cover']))
  .addOption(
    new Option('--contrast <mode>', 'per-image contrast equalisation').choices(
      preprocessingSchema.shape.contrast.options,
    ),
  )
  .option('--epochs <n>', 'maximum epochs', positiveInt, DEFAULT_TRAIN_OPTIONS.epochs)
  .option('--batch-size <n>', 'images per step', positiveInt, DEFAULT_TRAIN_OPTIONS.batchSize)
  .option('--lr <rate>', 'Adam learning rate', finiteNumber, DEFAULT_TRAIN_OPTIONS.learningRate)
  .option(
    '--seed <n>',
    'random seed (split, init, sampling, augmentation)',
    positiveInt,
    DEFAULT_TRAIN_OPTIONS.seed,
  )
  .option(
    '--patience <n>',
    'early stopping: epochs without a better validation AUC',
    positiveInt,
    DEFAULT_TRAIN_OPTIONS.patience,
  )
  .option('--no-augment', 'train without augmentation')
  .addOption(
    new Option('--balance <mode>', 'balance sources within each label when sampling')
      .choices(['none', 'sqrt', 'full'])
      .default('sqrt'),
  )
  .option(
    '--exclude-source <names>',
    'leave these sources out (comma-separated), e.g. for leave-one-source-out',
    (v: string, prev: string[]) => [...prev, ...v.split(',').filter(Boolean)],
    [],
  )
  .option('--exclude-pediatric', 'leave out images whose age group is pediatric', false)
  .option('--no-dedupe', 'skip the cross-split duplicate check (perceptual hashes)')
  .option('--epoch-size <n>', 'images drawn per epoch (default: the training split size)', positiveInt)
  .addOption(
    new Option(
      '--lungs <mode>',
      'lung step: crop to the lungs, crop and black out all but the lung fields (mask), only check they are there (refuse otherwise), or off',
    )
      .choices(LUNG_MODES)
      .default(DEFAULT_LUNGS.mode),
  )
  .option(
    '--lung-margin <fraction>',
    'margin around the lung box, per side',
    finiteNumber,
    DEFAULT_LUNGS.margin,
  )
  .option('--lungs-dir <dir>', 'lung model to use (default: lungs/ in the model directory)')
  .option(
    '--init-from <dir>',
    "start from this model's weights (same network and input size) instead of fresh ones: fine-tune it",
  )
  .option(
    '--negatives <dir>',
    "real non-chest-X-ray images (manifest.csv: file,kind) to fit the gate's head on; skipped when absent",
    path.resolve('../shared/data/negatives'),
  )
  .option('--no-negatives', "train without the gate's head")
  .option(
    '--cache <dir>',
    'reuse prepared inputs of earlier runs (keyed by image, spec and preprocessing code)',
    DEFAULT_CACHE_DIR,
  )
  .option('--no-cache', 'prepare every image afresh')
  .option('--force', 'replace the current model even if its validation AUC is higher', false)
  .option('--quiet', 'plain log lines instead of progress bars', false)
  .action(run);

async function run(o: Options): Promise<void> {
  const config = loadConfig();
  if (!existsSync(o.data)) {
    program.error(`No dataset at ${o.data}. Pass --data <dir> (see README, "Training").`);
  }
  const base = o.seedBaseline ? SEED_PREPROCESSING : DEFAULT_PREPROCESSING;
  const preprocessing: PreprocessingSpec = {
    ...base,
    ...(o.size === undefined ? {} : { size: o.size }),
    ...(o.crop === undefined ? {} : { crop: o.crop }),
    ...(o.fit === undefined ? {} : { fit: o.fit }),
    ...(o.contrast === undefined ? {} : { contrast: o.contrast }),
  };
  const progress = trainingProgress(o.quiet);
  const log = progress.log;
  const started = Date.now();

  const modelDir = path.resolve(o.model ?? config.modelDir);
  // The seed baseline stays the seed's pipeline: no lung step unless asked for.
  const lungMode =
    o.seedBaseline && !program.getOptionValueSource('lungs')?.startsWith('cli') ? 'off' : o.lungs;
  try {
    const outcome = await runTraining({
      data: o.data,
      modelDir,
      ...(o.negatives !== false && existsSync(path.join(o.negatives, 'manifest.csv'))
        ? { negatives: path.resolve(o.negatives) }
        : {}),
      lungs: lungStep(
        lungMode,
        path.resolve(o.lungsDir ?? path.join(modelDir, LUNG_MODEL_DIR)),
        o.lungMargin,
      ),
      architecture: o.seedBaseline ? 'seed' : o.architecture,
      ...(o.initFrom === undefined ? {} : { initFrom: path.resolve(o.initFrom) }),
      preprocessing,
      epochs: o.epochs,
      batchSize: o.batchSize,
      learningRate: o.lr,
      seed: o.seed,
      patience: o.patience,
      augment: o.seedBaseline ? false : o.augment,
      photoAugment: o.seedBaseline ? 0 : o.photoAugment,
      photoViews: o.photoViews,
      learningRateSchedule: o.lrSchedule,
      photoConsistency: o.seedBaseline ? 0 : o.photoConsistency,
      consistencyTarget: o.consistencyTarget,
      consistencySpace: o.consistencySpace,
      shading: o.seedBaseline ? 0 : o.shading,
      cache: o.cache === false ? undefined : path.resolve(o.cache),
      balance: o.seedBaseline ? 'none' : o.balance,
      excludeSources: o.excludeSource,
      excludePediatric: o.excludePediatric,
      dedupe: o.dedupe,
      force: o.force,
      backend: config.backend,
      ...(o.epochSize === undefined ? {} : { epochSize: o.epochSize }),
      log,
      onPrepare: progress.onPrepare,
      onBatch: progress.onBatch,
      onEpoch: (s, total) => {
        progress.endEpoch(
          `epoch ${s.epoch}/${total}: loss ${s.loss.toFixed(4)}, val loss ${s.val_loss.toFixed(4)}, val AUC ${s.val_auc.toFixed(4)} (${s.seconds.toFixed(0)} s)`,
        );
      },
    });
    progress.stop();
    console.log(
      `${outcome.replaced ? 'Model updated' : 'Model NOT updated'}: ${outcome.version}, validation AUC ${outcome.newValAuc.toFixed(4)}, ` +
        `${outcome.history.length} epochs, ${((Date.now() - started) / 1000).toFixed(0)} s in all. Next: npm run evaluate -- --model ${outcome.dir} --update-card`,
    );
    if (!outcome.replaced) process.exitCode = 3;
  } catch (error) {
    progress.stop();
    console.error(`Training failed: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}

withArchitectureOption(program);
withPhotoTrainingOptions(program);
withScheduleOption(program);
await program.parseAsync();
