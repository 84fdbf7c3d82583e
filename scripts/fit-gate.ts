/**
 * `npm run fit-gate`: fits the chest X-ray gate's head for a trained model on a sample of its
 * training X-rays and real negatives (../shared/data/negatives), picks its threshold on the
 * validation X-rays, and writes gate-head.json plus the card's `gate.head` and
 * `metrics.gateHead` (cross-validated and leave-one-kind-out rejection: the honest figures,
 * since the head has seen the negatives themselves). `npm run train` does the same when the
 * negatives are at hand.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { loadConfig } from '../src/config.js';
import { loadDataset } from '../src/training/datasets.js';
import { mulberry32, shuffle } from '../src/training/random.js';
import { fitHeadForModel } from '../src/gate/fit-head.js';
import { HEAD_FILE } from '../src/gate/head.js';
import { HEAD_NEGATIVE_PHOTO_SEED, HEAD_PHOTO_SEED, HEAD_TRAIN_PHOTOS } from '../src/training/pipeline.js';
import { photoMakers, photoOfEachVariant } from './lib/simulate-photo.js';

interface Options {
  model?: string;
  data: string;
  negatives: string;
  trainXrays: number;
  photos: number;
  negativePhotos: boolean;
  seed: number;
}

const program = new Command()
  .name('npm run fit-gate --')
  .description("Fit the chest X-ray gate's head on training X-rays and real negatives.")
  .option('--model <dir>', 'model directory (default: MODEL_DIR or model/)')
  .option('--data <dir>', 'the X-ray data set the model was trained on', path.resolve('../shared/data'))
  .option(
    '--negatives <dir>',
    'images that are not frontal chest X-rays (manifest.csv: file,kind[,origin])',
    path.resolve('../shared/data/negatives'),
  )
  .option('--train-xrays <n>', 'training X-rays to fit on (a seeded sample)', (v) => Number(v), 800)
  .option(
    '--photos <n>',
    'of those, how many also as a simulated phone photo (fitted as X-rays too; 0: none)',
    (v) => Number(v),
    HEAD_TRAIN_PHOTOS,
  )
  .option(
    '--no-negative-photos',
    'fit on the negatives without simulated phone photos of each (one on a light box, one on a monitor)',
  )
  .option('--seed <n>', 'seed for the sample and the folds', (v) => Number(v), 1)
  .action(run);

async function run(o: Options): Promise<void> {
  const config = loadConfig();
  const modelDir = path.resolve(o.model ?? config.modelDir);
  if (!existsSync(path.join(o.negatives, 'manifest.csv')))
    program.error(`No negatives at ${o.negatives} (manifest.csv with file,kind). Pass --negatives <dir>.`);
  const dataset = await loadDataset(o.data);
  const train = shuffle(
    dataset.samples.filter((s) => s.split === 'train'),
    mulberry32(o.seed),
  ).slice(0, o.trainXrays);
  const val = dataset.samples.filter((s) => s.split === 'val');
  if (train.length === 0 || val.length === 0) program.error('The data needs train and val splits.');
  await fitHeadForModel({
    modelDir,
    trainFiles: train.map((s) => s.file),
    valFiles: val.map((s) => s.file),
    trainPhotos: photoMakers(
      train.slice(0, o.photos).map((s) => s.file),
      HEAD_PHOTO_SEED,
    ),
    negatives: path.resolve(o.negatives),
    negativePhotos: o.negativePhotos
      ? (file, i) => photoOfEachVariant(file, HEAD_NEGATIVE_PHOTO_SEED + i)
      : undefined,
    seed: o.seed,
    backend: config.backend,
    log: (line) => console.log(line),
  });
  console.log(`Written: ${path.join(modelDir, HEAD_FILE)} and the card's gate.head / metrics.gateHead.`);
}

await program.parseAsync();
