/**
 * `npx tsx scripts/measure-photo-signals.ts --model <dir> [--split test] [--limit n]`: could the
 * bot tell which phone photos it will misread, and ask for another photo instead of answering?
 *
 * Per image (photo seed = index, as `evaluate --simulate-photo`), the original and its simulated
 * photo go through the model's one preprocessing path and the gate, and each gets the signals a
 * "please take the photo again" check could use. For every signal: the mean change in probability
 * left on the photos the gate lets through once the worst-scoring 20% / 40% of them are refused,
 * and how many real X-rays the same threshold would turn away. Also: how far the change is a shift
 * (signed) rather than per image, how much a tail carries, and what averaging over shifted and
 * zoomed crops (test-time augmentation) gives.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Command } from 'commander';
import { createEngine, type Engine } from '../src/classifier/engine.js';
import { gateAnswer, gateSignals } from '../src/gate/verdict.js';
import { calibrate } from '../src/model/calibration.js';
import { logit, sigmoid } from '../src/evaluation/calibration.js';
import type { ModelInput, Prepared } from '../src/image/preprocess.js';
import { parseBackendName, tf } from '../src/tf/backend.js';
import {
  figure as f,
  mean,
  measureEach,
  splitSamples,
  withSplitOptions,
  type SplitOptions,
} from './lib/measure-cli.js';
import { simulatePhotoDetailed, type PhotoVariant } from './lib/simulate-photo.js';

interface Options extends SplitOptions {
  model: string;
}

/** What one image (original or photo) gives. */
export interface Reading {
  p: number;
  accepted: boolean;
  /** The gate head's score (null without a head) and the feature distance. */
  head: number | null;
  distance: number | null;
  film: boolean;
  /** Highest minus lowest probability over the shifted and zoomed crops. */
  cropSpread: number;
  /** Mean logit over those crops (test-time augmentation). */
  cropMeanLogit: number;
  /** Share of the lung pixels that are near white (a glare spot over the lungs). */
  glare: number;
}

interface Row {
  file: string;
  source: string;
  variant: PhotoVariant;
  original: Reading;
  photo: Reading;
}

/** Crops [y1, x1, y2, x2] of the input, resized back: itself, zoomed in, and four shifted. */
const CROPS = [
  [0, 0, 1, 1],
  [0.05, 0.05, 0.95, 0.95],
  [0, 0, 0.9, 0.9],
  [0, 0.1, 0.9, 1],
  [0.1, 0, 1, 0.9],
  [0.1, 0.1, 1, 1],
];
/** Grey values at or above this count as glare (0..255, the working copy). */
const NEAR_WHITE = 245;

const program = withSplitOptions(
  new Command()
    .name('npx tsx scripts/measure-photo-signals.ts')
    .description('Measure whether any signal picks out the phone photos whose answer changes most.')
    .requiredOption('--model <dir>', 'model directory (card.json, model.json, weights)'),
).action(run);

async function run(o: Options): Promise<void> {
  const engine = await createEngine({
    modelDir: path.resolve(o.model),
    backend: parseBackendName(process.env['TFJS_BACKEND']),
  });
  let rows: Row[];
  try {
    rows = await measureEach(await splitSamples(o), o.quiet, async (sample, index) => {
      const bytes = await readFile(sample.file);
      const photo = await simulatePhotoDetailed(bytes, index);
      return {
        file: path.relative(process.cwd(), sample.file),
        source: sample.source,
        variant: photo.variant,
        original: await read(engine, await engine.prepare(bytes)),
        photo: await read(engine, await engine.prepare(photo.jpeg)),
      };
    });
  } finally {
    engine.dispose();
  }
  console.log(`Model ${engine.card.version}, ${o.split} split, n ${rows.length}`);
  report(rows);
  if (o.out !== undefined) {
    await writeFile(
      o.out,
      `${JSON.stringify({ model: engine.card.version, split: o.split, rows }, null, 2)}\n`,
    );
    console.log(`Rows: ${o.out}`);
  }
}

async function read(engine: Engine, prepared: Prepared): Promise<Reading> {
  const a = await engine.analyse(prepared.input, false);
  const gate = engine.gate;
  const signals = { features: a.features, lungs: prepared.lungs, image: prepared.decoded };
  const verdict =
    gate === undefined
      ? 'accepted'
      : gateAnswer(
          gateSignals(gate, prepared, a.features, prepared.lungs, engine.lungs),
          engine.lungs !== undefined,
        );
  const crops = await engine.predict(cropsOf(prepared.input));
  return {
    p: calibrate(a.rawProbability, engine.card.calibration),
    accepted: verdict === 'accepted',
    head: gate?.headScore(signals) ?? null,
    distance: gate?.distance(a.features) ?? null,
    film: prepared.film,
    cropSpread: Math.max(...crops) - Math.min(...crops),
    cropMeanLogit: mean(crops.map((p) => logit(p))),
    glare: glareShare(prepared),
  };
}

function cropsOf(input: ModelInput): ModelInput[] {
  const { size } = input;
  const data = tf.tidy(() =>
    tf.image
      .cropAndResize(
        tf.tensor4d(input.data, [1, size, size, 1]),
        CROPS,
        CROPS.map(() => 0),
        [size, size],
      )
      .dataSync(),
  );
  return CROPS.map((_, i) => ({
    ...input,
    data: Float32Array.from(data.subarray(i * size * size, (i + 1) * size * size)),
  }));
}

function glareShare(prepared: Prepared): number {
  const mask = prepared.lungs;
  if (mask === undefined) return 0;
  let lung = 0;
  let white = 0;
  mask.data.forEach((m, i) => {
    if (m === 0) return;
    lung++;
    if ((prepared.decoded.data[i] ?? 0) >= NEAR_WHITE) white++;
  });
  return lung === 0 ? 0 : white / lung;
}

const median = (values: readonly number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

/** Higher is "more likely misread": each signal oriented so that the check refuses the top. */
const SIGNALS: Record<string, (r: Reading) => number | null> = {
  'spread over shifted/zoomed crops': (r) => r.cropSpread,
  "the gate head's score": (r) => r.head,
  'feature distance': (r) => r.distance,
  'near-white share over the lungs': (r) => r.glare,
  'answer near 0.5': (r) => -Math.abs(r.p - 0.5),
};

function report(rows: readonly Row[]): void {
  const change = (r: Row) => Math.abs(r.photo.p - r.original.p);
  const through = rows.filter((r) => r.photo.accepted);
  console.log(
    `  mean |dp|: all photos ${f(mean(rows.map(change)))}; the ${through.length} the gate lets through ` +
      `${f(mean(through.map(change)))} (median ${f(median(through.map(change)))})`,
  );
  console.log(
    `  on those: mean |d logit| ${f(mean(through.map((r) => Math.abs(logit(r.photo.p) - logit(r.original.p)))))}, ` +
      `signed ${f(mean(through.map((r) => logit(r.photo.p) - logit(r.original.p))))} ` +
      `(in probability ${f(mean(through.map((r) => r.photo.p - r.original.p)))})`,
  );
  const sorted = through.map(change).sort((a, b) => b - a);
  const total = sorted.reduce((a, b) => a + b, 0);
  for (const share of [0.1, 0.2]) {
    const top = sorted.slice(0, Math.round(share * sorted.length));
    console.log(
      `  the ${share * 100}% that change most carry ${f(top.reduce((a, b) => a + b, 0) / total)} of the change (each > ${f(top.at(-1) ?? NaN)})`,
    );
  }
  const groups: [string, (r: Row) => boolean][] = [
    ['film photos', (r) => r.variant === 'film'],
    ['monitor photos', (r) => r.variant === 'monitor'],
    ['no film found', (r) => !r.photo.film],
    ...[...new Set(through.map((r) => r.source))]
      .sort()
      .map((s): [string, (r: Row) => boolean] => [s, (r) => r.source === s]),
  ];
  for (const [name, keep] of groups) {
    const subset = through.filter(keep);
    console.log(`  ${name} (n ${subset.length}): mean |dp| ${f(mean(subset.map(change)))}`);
  }
  const averaged = (r: Reading) => sigmoid(r.cropMeanLogit);
  console.log(
    `  averaged over the ${CROPS.length} crops: mean |dp| ${f(mean(rows.map((r) => Math.abs(averaged(r.photo) - averaged(r.original)))))} all, ` +
      `${f(mean(through.map((r) => Math.abs(averaged(r.photo) - averaged(r.original)))))} through the gate`,
  );
  const originals = rows.filter((r) => r.original.accepted);
  console.log(
    `  refusing the 20% / 40% of photos that score worst: mean |dp| left (photos refused; X-rays of ${originals.length} the same threshold refuses)`,
  );
  for (const [name, signal] of Object.entries(SIGNALS)) {
    const scores = through.map((r) => signal(r.photo)).filter((v): v is number => v !== null);
    if (scores.length === 0) continue;
    const descending = [...scores].sort((a, b) => b - a);
    const cells = [0.2, 0.4].map((share) => {
      // Refused: strictly above the score at that rank, so ties there (a signal that is 0 for
      // most photos, say) are kept and fewer than `share` may be refused.
      const threshold = descending[Math.floor(share * descending.length)] ?? Infinity;
      const refuses = (r: Reading) => (signal(r) ?? -Infinity) > threshold;
      const kept = through.filter((r) => !refuses(r.photo));
      const xrays = originals.filter((r) => refuses(r.original)).length;
      return `${f(mean(kept.map(change)))} (photos ${through.length - kept.length}, X-rays ${xrays})`;
    });
    console.log(`    ${name.padEnd(34)} ${cells.join('   ')}`);
  }
}

await program.parseAsync();
