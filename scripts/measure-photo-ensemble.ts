/**
 * `npx tsx scripts/measure-photo-ensemble.ts --model <dir> <dir> ... [--split test] [--limit n]`:
 * would answering with several models at once (their logits averaged) change less on a phone
 * photo than one model does?
 *
 * Only if the models misread different photos. Per image (photo seed = index, as `evaluate
 * --simulate-photo`), the original and its simulated photo go through the one preprocessing path
 * and every model. Printed: each model's and the averaged answer's AUC on the photos, AUC drop and
 * mean |change in probability| (as `evaluate` computes them), and how closely the models' changes in logit agree
 * (Pearson correlation; near 1: the photo moves every model the same way, and averaging cannot help).
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Command } from 'commander';
import { createEngine, type Engine } from '../src/classifier/engine.js';
import { calibrate } from '../src/model/calibration.js';
import { logit, sigmoid } from '../src/evaluation/calibration.js';
import { pairedPhotoFigures, type PhotoFigures } from '../src/evaluation/evaluate.js';
import type { Prepared } from '../src/image/preprocess.js';
import { covidTarget } from '../src/training/datasets.js';
import { parseBackendName } from '../src/tf/backend.js';
import {
  figure as f,
  mean,
  measureEach,
  splitSamples,
  withSplitOptions,
  type SplitOptions,
} from './lib/measure-cli.js';
import { simulatePhoto } from './lib/simulate-photo.js';

interface Options extends SplitOptions {
  model: string[];
}

/** One image: its label and each model's calibrated probability on the original and on the photo. */
export interface EnsembleRow {
  file: string;
  covid: 0 | 1;
  original: number[];
  photo: number[];
}

const program = withSplitOptions(
  new Command()
    .name('npx tsx scripts/measure-photo-ensemble.ts')
    .description('Measure whether averaging several models makes phone photos change the answer less.')
    .requiredOption('--model <dirs...>', 'two or more model directories (card.json, model.json, weights)'),
).action(run);

async function run(o: Options): Promise<void> {
  if (o.model.length < 2) program.error('Give at least two model directories.');
  const backend = parseBackendName(process.env['TFJS_BACKEND']);
  const engines: Engine[] = [];
  for (const dir of o.model) engines.push(await createEngine({ modelDir: path.resolve(dir), backend }));
  let rows: EnsembleRow[];
  try {
    rows = await measureEach(await splitSamples(o), o.quiet, async (sample, index) => {
      const bytes = await readFile(sample.file);
      return {
        file: path.relative(process.cwd(), sample.file),
        covid: covidTarget(sample.label),
        original: await answers(engines, bytes),
        photo: await answers(engines, await simulatePhoto(bytes, index)),
      };
    });
  } finally {
    for (const engine of engines) engine.dispose();
  }
  const versions = engines.map((e) => e.card.version);
  console.log(`${o.split} split, n ${rows.length}`);
  for (const line of report(rows, versions)) console.log(line);
  if (o.out !== undefined) {
    await writeFile(o.out, `${JSON.stringify({ models: versions, split: o.split, rows }, null, 2)}\n`);
    console.log(`Rows: ${o.out}`);
  }
}

/**
 * Each engine's calibrated probability for `bytes`. Models whose preprocessing is the same share
 * one prepared input (preparing costs far more than a forward pass).
 */
async function answers(engines: readonly Engine[], bytes: Uint8Array): Promise<number[]> {
  const prepared = new Map<string, Prepared>();
  const out: number[] = [];
  for (const engine of engines) {
    const key = JSON.stringify(engine.card.preprocessing);
    const input = prepared.get(key) ?? (await engine.prepare(bytes));
    prepared.set(key, input);
    const { rawProbability } = await engine.analyse(input.input, false);
    out.push(calibrate(rawProbability, engine.card.calibration));
  }
  return out;
}

/** The answer of several models together: the mean of their logits, as a probability. */
function averaged(probabilities: readonly number[]): number {
  return sigmoid(mean(probabilities.map((p) => logit(p))));
}

function pearson(a: readonly number[], b: readonly number[]): number {
  const ma = mean(a);
  const mb = mean(b);
  let ab = 0;
  let aa = 0;
  let bb = 0;
  a.forEach((x, i) => {
    const y = b[i] ?? mb;
    ab += (x - ma) * (y - mb);
    aa += (x - ma) ** 2;
    bb += (y - mb) ** 2;
  });
  return ab / Math.sqrt(aa * bb);
}

function report(rows: readonly EnsembleRow[], versions: readonly string[]): string[] {
  const covid = rows.map((r) => r.covid);
  const line = (name: string, fig: PhotoFigures) =>
    `  ${name.padEnd(34)} AUC on photos ${f(fig.auc)}  drop ${f(fig.aucDrop)}  mean |dp| ${f(fig.meanAbsDelta)}`;
  const lines = versions.map((v, m) =>
    line(
      v,
      pairedPhotoFigures(
        covid,
        rows.map((r) => r.original[m] ?? NaN),
        rows.map((r) => r.photo[m] ?? NaN),
      ),
    ),
  );
  lines.push(
    line(
      `logits of all ${versions.length} averaged`,
      pairedPhotoFigures(
        covid,
        rows.map((r) => averaged(r.original)),
        rows.map((r) => averaged(r.photo)),
      ),
    ),
  );
  const changes = versions.map((_, m) =>
    rows.map((r) => logit(r.photo[m] ?? NaN) - logit(r.original[m] ?? NaN)),
  );
  lines.push('  correlation of the changes in logit a photo makes, model by model:');
  for (const [m, v] of versions.entries())
    lines.push(`    ${v.padEnd(32)} ${changes.map((c) => f(pearson(changes[m] ?? [], c))).join(' ')}`);
  return lines;
}

await program.parseAsync();
