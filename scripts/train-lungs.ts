/**
 * `npm run train:lungs -- [--data ../shared/data/lungmasks] [--model model/lungs]`: trains the
 * lung-segmentation U-Net on the train split (early stopping on val Dice), measures Dice/IoU per
 * source on val and test through `segment`, and switches the model directory atomically unless
 * the current model's validation Dice on the same images is higher (quality gate; --force).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { trainingProgress } from './lib/training-progress.js';
import { loadConfig } from '../src/config.js';
import { DEFAULT_LUNG_AUGMENT } from '../src/lungs/augment.js';
import { runLungTraining } from '../src/lungs/train.js';
import { DEFAULT_UNET } from '../src/lungs/unet.js';

interface Options {
  data: string;
  model?: string;
  size: number;
  filters: number[];
  epochs: number;
  warmupEpochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  patience: number;
  augment: boolean;
  force: boolean;
  maxMinutes?: number;
  quiet: boolean;
}

const whole = (min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`not a whole number >= ${min}: ${v}`);
  return n;
};
const positive = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`not a positive number: ${v}`);
  return n;
};
const filterList = (v: string) => v.split(',').map(whole(1));

const program = new Command()
  .name('npm run train:lungs --')
  .description('Train the lung-segmentation U-Net and update model/lungs (atomic switch, quality gate).')
  .option(
    '--data <dir>',
    'folder with manifest.csv and images/ + masks/',
    path.resolve('../shared/data/lungmasks'),
  )
  .option('--model <dir>', 'lung model directory to update (default: <MODEL_DIR>/lungs)')
  .option(
    '--size <px>',
    'input side in pixels (divisible by 2^levels, 2^(levels + 1) with warm-up)',
    whole(16),
    DEFAULT_UNET.size,
  )
  .option('--filters <list>', 'encoder filters per level', filterList, [...DEFAULT_UNET.filters])
  .option('--epochs <n>', 'maximum epochs at the full size', whole(1), 30)
  .option('--warmup-epochs <n>', 'epochs at half the size first (0: none)', whole(0), 0)
  .option('--batch-size <n>', 'pairs per step', whole(1), 8)
  .option('--lr <rate>', 'Adam learning rate (cosine decay at the full size)', positive, 3e-3)
  .option('--seed <n>', 'random seed (init, order, augmentation)', whole(0), 42)
  .option('--patience <n>', 'early stopping: epochs without a better validation Dice', whole(1), 6)
  .option('--no-augment', 'train without augmentation')
  .option('--max-minutes <n>', 'wall-time budget for the epochs (the best epoch so far is kept)', positive)
  .option('--force', 'replace the current model even if its validation Dice is higher', false)
  .option('--quiet', 'plain log lines instead of progress bars', false)
  .action(run);

async function run(o: Options): Promise<void> {
  const config = loadConfig();
  if (!existsSync(o.data)) program.error(`No lung mask data at ${o.data}. Pass --data <dir>.`);
  const progress = trainingProgress(o.quiet);
  const log = progress.log;
  try {
    const outcome = await runLungTraining({
      data: o.data,
      modelDir: path.resolve(o.model ?? path.join(config.modelDir, 'lungs')),
      size: o.size,
      filters: o.filters,
      epochs: o.epochs,
      warmupEpochs: o.warmupEpochs,
      batchSize: o.batchSize,
      learningRate: o.lr,
      seed: o.seed,
      patience: o.patience,
      augment: o.augment ? DEFAULT_LUNG_AUGMENT : false,
      force: o.force,
      maxMinutes: o.maxMinutes,
      backend: config.backend,
      log,
      onPrepare: progress.onPrepare,
      onBatch: progress.onBatch,
      onEpoch: (s) => {
        progress.endEpoch(
          `epoch ${s.epoch} (${s.size} px): loss ${s.loss.toFixed(4)}, val Dice ${s.valDice.toFixed(4)}, ` +
            `lr ${s.learningRate.toExponential(2)} (${s.seconds.toFixed(0)} s)`,
        );
      },
    });
    progress.stop();
    const m = outcome.card.metrics;
    const perSource = (split: 'val' | 'test') =>
      Object.entries(m?.[split]?.bySource ?? {})
        .map(([source, s]) => `${source} ${s.dice?.toFixed(4) ?? 'n/a'}`)
        .join(', ');
    console.log(
      `${outcome.replaced ? 'Lung model updated' : 'Lung model NOT updated'}: ${outcome.version}, ` +
        `val Dice ${outcome.valDice.toFixed(4)} (${perSource('val')}); test Dice ${m?.test?.overall.dice?.toFixed(4) ?? 'n/a'}; ` +
        `${m?.inferenceMs ?? 'n/a'} ms per image; ${outcome.seconds.toFixed(0)} s in all. Model in ${outcome.dir}`,
    );
    if (!outcome.replaced) process.exitCode = 3;
  } catch (error) {
    progress.stop();
    console.error(`Training failed: ${(error as Error).message}`);
    if (process.env['DEBUG']) console.error(error);
    process.exitCode = 1;
  }
}

await program.parseAsync();
