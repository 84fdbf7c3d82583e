/**
 * `npm run loso -- --exclude <sources>`: leave-one-source-out. Trains a model (`--architecture`,
 * default `default`) without the given collection(s), scores it on every image of them (a
 * collection the model never saw), and writes the figures into the shipped model's card
 * (`metrics.loso`, and `metrics.unseenSource` for the collection holding both labels).
 * `--trained <dir>` reuses a model trained that way.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mkdtemp } from 'node:fs/promises';
import { Command, Option } from 'commander';
import {
  positiveInt,
  withArchitectureOption,
  withPhotoTrainingOptions,
  withScheduleOption,
} from './lib/training-options.js';
import { loadConfig } from '../src/config.js';
import { evaluateModel } from '../src/evaluation/evaluate.js';
import { fmt, summary } from '../src/evaluation/figures.js';
import {
  preprocessingSchema,
  readCard,
  writeCard,
  type ConsistencySpace,
  type ConsistencyTarget,
  type ModelCard,
  type PreprocessingSpec,
} from '../src/model/card.js';
import type { Architecture } from '../src/model/architectures.js';
import {
  DEFAULT_LUNGS,
  DEFAULT_PREPROCESSING,
  LUNG_MODES,
  lungStep,
  runTraining,
  type LungMode,
} from '../src/training/pipeline.js';
import { DEFAULT_TRAIN_OPTIONS, type LearningRateSchedule } from '../src/training/trainer.js';
import { LUNG_MODEL_DIR } from '../src/lungs/segment.js';
import { DEFAULT_CACHE_DIR } from '../src/training/input-cache.js';
import { recipeOf, refreshLosoSentences, sameRecipe, unseenHeadline } from '../src/evaluation/compare.js';

interface Options {
  exclude: string[];
  architecture: Architecture;
  data: string;
  trained?: string;
  card?: string;
  epochs: number;
  epochSize: number;
  patience: number;
  contrast: PreprocessingSpec['contrast'];
  seed: number;
  lungs: LungMode;
  photoAugment: number;
  photoViews: number;
  lrSchedule: LearningRateSchedule;
  photoConsistency: number;
  consistencyTarget: ConsistencyTarget;
  consistencySpace: ConsistencySpace;
  shading: number;
  ablate?: Ablation[];
  cache: string | false;
}

/** Steps of the data path that can be left out, to measure what each one does on an unseen collection. */
const ABLATIONS = ['none', 'augmentation', 'source-balance', 'contrast', 'pediatric'] as const;
type Ablation = (typeof ABLATIONS)[number];

const program = new Command()
  .name('npm run loso --')
  .requiredOption('--exclude <sources>', 'collection(s) to leave out, comma-separated', (v: string) =>
    v.split(',').filter(Boolean),
  )
  .option('--data <dir>', 'dataset (manifest layout with a source column)', path.resolve('../shared/data'))
  .option('--trained <dir>', 'a model already trained without these sources (skips training)')
  .option('--card <dir>', 'model whose card receives the figures (default: MODEL_DIR or model/)')
  .option('--epochs <n>', 'maximum epochs', positiveInt, 14)
  .option('--epoch-size <n>', 'images drawn per epoch', positiveInt, 1280)
  .option(
    '--patience <n>',
    'early stopping: epochs without a better validation AUC',
    positiveInt,
    DEFAULT_TRAIN_OPTIONS.patience,
  )
  .option(
    '--seed <n>',
    'seed of the split and the training: another seed measures how much the figure varies',
    positiveInt,
    DEFAULT_TRAIN_OPTIONS.seed,
  )
  .addOption(
    new Option('--lungs <mode>', 'lung step of the model trained')
      .choices(LUNG_MODES)
      .default(DEFAULT_LUNGS.mode),
  )
  .addOption(
    new Option(
      '--ablate <steps...>',
      "leave these steps out (or 'none': the full recipe) and record the figure in the card's metrics.ablations instead of metrics.loso",
    ).choices([...ABLATIONS]),
  )
  .addOption(
    new Option('--contrast <mode>', 'contrast step of the model trained')
      .choices(preprocessingSchema.shape.contrast.options)
      .default(DEFAULT_PREPROCESSING.contrast),
  )
  .option('--cache <dir>', 'prepared-input cache shared with npm run train', DEFAULT_CACHE_DIR)
  .option('--no-cache', 'prepare every image afresh')
  .action(run);

async function run(o: Options): Promise<void> {
  const config = loadConfig();
  const without = new Set((o.ablate ?? []).filter((a) => a !== 'none'));
  const cache = o.cache === false ? undefined : path.resolve(o.cache);
  let modelDir = o.trained;
  if (modelDir === undefined) {
    modelDir = path.join(await mkdtemp(path.join(os.tmpdir(), 'loso-')), 'model');
    const outcome = await runTraining({
      data: o.data,
      modelDir,
      architecture: o.architecture,
      preprocessing: { ...DEFAULT_PREPROCESSING, contrast: without.has('contrast') ? 'none' : o.contrast },
      lungs: lungStep(o.lungs, path.resolve(config.modelDir, LUNG_MODEL_DIR), DEFAULT_LUNGS.margin),
      ...DEFAULT_TRAIN_OPTIONS,
      epochs: o.epochs,
      epochSize: o.epochSize,
      patience: o.patience,
      seed: o.seed,
      augment: !without.has('augmentation'),
      balance: without.has('source-balance') ? 'none' : DEFAULT_TRAIN_OPTIONS.balance,
      photoAugment: o.photoAugment,
      photoViews: o.photoViews,
      learningRateSchedule: o.lrSchedule,
      photoConsistency: o.photoConsistency,
      consistencyTarget: o.consistencyTarget,
      consistencySpace: o.consistencySpace,
      shading: o.shading,
      excludeSources: o.exclude,
      excludePediatric: without.has('pediatric'),
      cache,
      dedupe: true,
      force: true,
      backend: config.backend,
      log: (line) => console.log(line),
    });
    console.log(
      `Trained ${outcome.version} without ${o.exclude.join(', ')} in ${outcome.seconds.toFixed(0)} s (${modelDir}; --trained reuses it).`,
    );
  }
  const r = await evaluateModel({
    modelDir,
    data: o.data,
    split: 'all',
    sources: o.exclude,
    backend: config.backend,
    metricsOnly: true,
    cache,
  });
  const m = r.overall;
  console.log(
    `Unseen ${o.exclude.join(' + ')}: n ${m.n} (${m.positives} COVID-19), AUC ${fmt(m.auc)} (${fmt(m.auc_ci[0])}-${fmt(m.auc_ci[1])}), ` +
      `sensitivity ${fmt(m.sensitivity)}, specificity ${fmt(m.specificity)}`,
  );
  const target = path.resolve(o.card ?? config.modelDir);
  if (!existsSync(path.join(target, 'card.json'))) return;
  const card = await readCard(target);
  const trainedCard = await readCard(modelDir);
  const key = o.exclude.join('+');
  const entry = {
    source: key,
    ...summary(m),
    lungs: trainedCard.preprocessing.lungs ?? null,
    // The recipe, so that figures from different runs can be told apart.
    ...recipeOf(trainedCard),
    seed: trainedCard.training?.['seed'] ?? null,
    note: `${trainedCard.architecture} architecture${trainedCard.preprocessing.lungs?.mask === true ? ' with the lung mask' : trainedCard.preprocessing.lungs?.crop === true ? ' with the lung crop' : ''} trained without ${key} (model ${trainedCard.version}), scored on all ${m.n} images of it at its own threshold`,
  };
  if (o.ablate !== undefined) {
    // One row per recipe (the steps left out), replacing a row of the same recipe.
    const row = { without: [...without], ...entry };
    const sameSteps = (r: typeof row) => [...r.without].sort().join() === [...row.without].sort().join();
    await recordRow(target, card, 'ablations', key, row, sameSteps);
    return;
  }
  // Another seed than the card's own measures the spread: kept beside the main figure, not instead of it.
  if (entry.seed !== null && entry.seed !== (card.training?.['seed'] ?? DEFAULT_TRAIN_OPTIONS.seed)) {
    const sameRun = (r: typeof entry) => r.seed === entry.seed && sameRecipe(r, entry);
    await recordRow(target, card, 'losoSeeds', key, entry, sameRun);
    return;
  }
  const loso = { ...((card.metrics?.['loso'] as Record<string, unknown> | undefined) ?? {}), [key]: entry };
  card.metrics = { ...card.metrics, loso };
  card.metrics.unseenSource = unseenHeadline(card);
  // The comparison, ablation and seed sentences name the left-out collections' figures: make them again.
  await writeCard(target, refreshLosoSentences(card));
  console.log(`Card updated: ${path.join(target, 'card.json')}`);
}

/** Adds `row` under `metrics[field][key]`, replacing the row that `same` matches, and writes the card. */
async function recordRow<T>(
  target: string,
  card: ModelCard,
  field: 'ablations' | 'losoSeeds',
  key: string,
  row: T,
  same: (r: T) => boolean,
): Promise<void> {
  const table = (card.metrics?.[field] as Record<string, T[]> | undefined) ?? {};
  table[key] = [...(table[key] ?? []).filter((r) => !same(r)), row];
  card.metrics = { ...card.metrics, [field]: table };
  await writeCard(target, refreshLosoSentences(card));
  console.log(`Card updated (metrics.${field}): ${path.join(target, 'card.json')}`);
}

withArchitectureOption(program);
withPhotoTrainingOptions(program);
withScheduleOption(program);
await program.parseAsync();
