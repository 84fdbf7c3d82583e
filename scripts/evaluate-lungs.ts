/**
 * `npm run evaluate:lungs -- [--model model/lungs] [--data ../shared/data/lungmasks] [--update-card]`:
 * measures the lung segmenter as it is used (full-size masks through `segment`, post-processing
 * included) on the val and test splits, per source, and with --update-card rewrites the card's
 * metrics and its description of the post-processing from the code that does it.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { loadConfig } from '../src/config.js';
import { initBackend } from '../src/tf/backend.js';
import { loadLungManifest } from '../src/lungs/data.js';
import { LUNG_INTENDED_USE, LUNG_LIMITATIONS, readLungCard, writeLungCard } from '../src/lungs/card.js';
import { measureLungModel, POSTPROCESSING } from '../src/lungs/train.js';
import { LUNG_MODEL_DIR } from '../src/lungs/segment.js';

interface Options {
  model?: string;
  data: string;
  updateCard: boolean;
}

const program = new Command()
  .name('npm run evaluate:lungs --')
  .description('Dice and IoU of the lung segmenter on the val and test splits, per source.')
  .option('--model <dir>', 'lung model directory (default: <MODEL_DIR>/lungs)')
  .option(
    '--data <dir>',
    'lung mask data set (manifest.csv with image,mask,source,patient_id,split)',
    path.resolve('../shared/data/lungmasks'),
  )
  .option('--update-card', "write the figures into the lung model's card.json", false)
  .action(run);

async function run(o: Options): Promise<void> {
  const config = loadConfig();
  const modelDir = path.resolve(o.model ?? path.join(config.modelDir, LUNG_MODEL_DIR));
  if (!existsSync(o.data)) program.error(`No lung mask data at ${o.data}. Pass --data <dir>.`);
  await initBackend(config.backend);
  const samples = await loadLungManifest(o.data);
  const metrics = await measureLungModel(
    modelDir,
    samples.filter((s) => s.split === 'val'),
    samples.filter((s) => s.split === 'test'),
    config.backend,
  );
  const f = (v: number | null | undefined) => (v == null ? 'n/a' : v.toFixed(4));
  for (const [split, m] of [
    ['val', metrics.val],
    ['test', metrics.test],
  ] as const) {
    if (m === undefined) continue;
    console.log(
      `${split}: Dice ${f(m.overall.dice)}, IoU ${f(m.overall.iou)}, min Dice ${f(m.overall.minDice)} (n ${m.overall.n})`,
    );
    for (const [source, s] of Object.entries(m.bySource))
      console.log(`  ${source}: Dice ${f(s.dice)}, IoU ${f(s.iou)} (n ${s.n})`);
  }
  console.log(`forward pass: median ${metrics.inferenceMs ?? 'n/a'} ms (${metrics.backend ?? '?'})`);
  if (!o.updateCard) return;
  const card = await readLungCard(modelDir);
  await writeLungCard(modelDir, {
    ...card,
    postprocessing: POSTPROCESSING,
    intendedUse: LUNG_INTENDED_USE,
    limitations: [...LUNG_LIMITATIONS],
    metrics,
  });
  console.log(`Card updated: ${path.join(modelDir, 'card.json')}`);
}

await program.parseAsync();
