/**
 * `npx tsx scripts/measure-film-crop.ts --model <dir> [--split test] [--limit n]`: how much phone
 * photos of the film or screen change the model's answers, and how much of that the film step
 * accounts for; and how often the film finder (`detectFilm`) fires on real (unsimulated) X-rays.
 *
 * Per image (seed = index, as `evaluate --simulate-photo`), each through the model's one
 * preprocessing path: the original, and its simulated photo as served (film step included: the
 * film found, undistorted and trimmed, `cutOutFilm`). Then the photo with the film step replaced
 * by a given region (the step off for these): the whole photo; undistorted from the found
 * quadrilateral without the trim (`rectifyFilm`); cropped to the true X-ray box; undistorted from
 * the true X-ray corners (the best the step's geometry can do); the true box grown 5% per side
 * into the surroundings; and the found box cut to the true box.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import { createEngine } from '../src/classifier/engine.js';
import { decodeImage, type DecodedImage } from '../src/image/decode.js';
import { cropDecoded, detectFilm, innerBox, rectifyFilm, type FilmBox } from '../src/image/film.js';
import { prepareDecoded } from '../src/image/preprocess.js';
import { growBox } from '../src/lungs/mask.js';
import { auc } from '../src/evaluation/metrics.js';
import { loadDataset, type Sample, type Split } from '../src/training/datasets.js';
import { parseBackendName } from '../src/tf/backend.js';
import { positiveInt } from './lib/training-options.js';
import {
  PHOTO_EFFECTS,
  simulatePhotoDetailed,
  type PhotoEffect,
  type PhotoVariant,
  type Quad,
} from './lib/simulate-photo.js';

interface Options {
  model: string;
  data: string;
  split: Split | 'all';
  limit?: number;
  without: PhotoEffect[];
  out?: string;
  quiet: boolean;
}

interface Row {
  file: string;
  source: string;
  covid: 0 | 1;
  variant: PhotoVariant;
  /** The original as served (the film step fires on it only by mistake: `cleanFired`). */
  clean: number;
  cleanFired: boolean;
  /** The photo as served: the film step cuts the film out (`cutOutFilm`) when it finds one. */
  photo: number;
  photoFound: boolean;
  /** Outlines followed inwards by `detectFilm` (0: none found; 1: the outermost). */
  photoDepth: number;
  /** Intersection over union of the found box with the true X-ray box in the photo. */
  photoIou: number;
  /** The whole photo, no film step. */
  photoWhole: number;
  /** The photo with the found quadrilateral undistorted (rectifyFilm), not trimmed. */
  photoRectified: number;
  photoTrueCrop: number;
  /** The photo undistorted from the true X-ray corners: the best the film step's geometry can do. */
  photoTrueRectified: number;
  /** The true box grown by GROWN per side: what a film box slightly too large gives. */
  photoTrueGrown: number;
  /** The found box cut to the true box: the old crop without its strips of surroundings. */
  photoFoundInTrue: number;
  findMs: number;
}

const program = new Command()
  .name('npx tsx scripts/measure-film-crop.ts')
  .description(
    'Measure phone-photo robustness with and without the film step, and with regions given instead.',
  )
  .requiredOption('--model <dir>', 'model directory (card.json, model.json, weights)')
  .option('--data <dir>', 'dataset with splits', path.resolve('../shared/data'))
  .addOption(
    new Option('--split <name>', 'split to measure').choices(['train', 'val', 'test', 'all']).default('test'),
  )
  .option('--limit <n>', 'only n images, evenly spread over the split (quick look)', positiveInt)
  .addOption(
    new Option('--without <effects...>', 'simulate photos without these effects (ablation)')
      .choices([...PHOTO_EFFECTS])
      .default([]),
  )
  .option('--out <file>', 'also write every row and the summary as JSON')
  .option('--quiet', 'no progress bar', false)
  .action(run);

async function run(o: Options): Promise<void> {
  const engine = await createEngine({
    modelDir: path.resolve(o.model),
    backend: parseBackendName(process.env['TFJS_BACKEND']),
  });
  const served = engine.card.preprocessing;
  // A region given by hand replaces the film step, which would otherwise look for a film in it.
  const given = { ...served, film: false };
  const score = async (image: DecodedImage, spec = served): Promise<number> => {
    const [p = Number.NaN] = await engine.predict([(await prepareDecoded(image, spec, engine.lungs)).input]);
    return p;
  };
  const scoreGiven = (image: DecodedImage) => score(image, given);
  const dataset = await loadDataset(o.data);
  const all = o.split === 'all' ? dataset.samples : dataset.samples.filter((s) => s.split === o.split);
  // Evenly spread, so that every collection is in a quick look (the split is sorted by source).
  const step = o.limit === undefined ? 1 : Math.max(1, Math.floor(all.length / o.limit));
  const samples = all.filter((_, i) => i % step === 0).slice(0, o.limit ?? all.length);
  const bar = o.quiet
    ? undefined
    : new cliProgress.SingleBar(
        { format: 'measuring |{bar}| {value}/{total} ETA {eta_formatted}' },
        cliProgress.Presets.shades_classic,
      );
  bar?.start(samples.length, 0);
  const rows: Row[] = [];
  try {
    for (const [index, sample] of samples.entries()) {
      rows.push(await measure(sample, index, score, scoreGiven, o.without));
      bar?.update(index + 1);
    }
  } finally {
    bar?.stop();
    engine.dispose();
  }
  const summary = summarise(rows);
  console.log(
    `Model ${engine.card.version} (${path.resolve(o.model)}), ${o.split} split, n ${rows.length}` +
      (o.without.length > 0 ? `, photos without ${o.without.join(', ')}` : ''),
  );
  printSummary(summary);
  if (o.out !== undefined) {
    await writeFile(
      o.out,
      `${JSON.stringify({ model: engine.card.version, split: o.split, summary, rows }, null, 2)}\n`,
    );
    console.log(`Rows: ${o.out}`);
  }
}

async function measure(
  sample: Sample,
  index: number,
  score: (image: DecodedImage) => Promise<number>,
  scoreGiven: (image: DecodedImage) => Promise<number>,
  without: readonly PhotoEffect[],
): Promise<Row> {
  const bytes = await readFile(sample.file);
  const clean = await decodeImage(bytes);
  const t0 = performance.now();
  const onClean = detectFilm(clean);
  const findMs = performance.now() - t0;
  const photo = await simulatePhotoDetailed(bytes, index, { without });
  const photoImage = await decodeImage(photo.jpeg);
  const onPhoto = detectFilm(photoImage);
  // The photo's working copy may be smaller than the photo: scale the true corners with it.
  const truth = trueBox(photo.xray, photoImage.width / photo.width);
  const cut = (box: FilmBox) => scoreGiven(cropDecoded(photoImage, box));
  const whole = await scoreGiven(photoImage);
  return {
    file: path.relative(process.cwd(), sample.file),
    source: sample.source,
    covid: sample.covid,
    variant: photo.variant,
    clean: await score(clean),
    cleanFired: onClean !== null,
    photo: await score(photoImage),
    photoFound: onPhoto !== null,
    photoDepth: onPhoto?.depth ?? 0,
    photoIou: onPhoto === null ? 0 : iou(onPhoto.box, truth),
    photoWhole: whole,
    photoRectified: onPhoto === null ? whole : await scoreGiven(rectifyFilm(photoImage, onPhoto.quad)),
    photoTrueCrop: await cut(truth),
    photoTrueRectified: await scoreGiven(
      rectifyFilm(photoImage, trueQuad(photo.xray, photoImage.width / photo.width)),
    ),
    photoTrueGrown: await cut(growBox(truth, GROWN, photoImage)),
    photoFoundInTrue: await cut((onPhoto === null ? null : overlap(onPhoto.box, truth)) ?? truth),
    findMs,
  };
}

/** Per side, as a share of the box's width and height. */
const GROWN = 0.05;

/** The overlap of two boxes, or null when they do not overlap. */
function overlap(a: FilmBox, b: FilmBox): FilmBox | null {
  const left = Math.max(a.left, b.left);
  const top = Math.max(a.top, b.top);
  const width = Math.min(a.left + a.width, b.left + b.width) - left;
  const height = Math.min(a.top + a.height, b.top + b.height) - top;
  return width > 0 && height > 0 ? { left, top, width, height } : null;
}

/** The true X-ray corners in the working copy's pixels. */
function trueQuad(quad: Quad, scale: number): Quad {
  return quad.map((p) => ({ x: p.x * scale, y: p.y * scale })) as Quad;
}

/** The largest upright box inside the true X-ray corners (scaled). */
function trueBox(quad: Quad, scale: number): FilmBox {
  return innerBox(trueQuad(quad, scale));
}

function iou(a: FilmBox, b: FilmBox): number {
  const both = overlap(a, b);
  const inter = both === null ? 0 : both.width * both.height;
  return inter / (a.width * a.height + b.width * b.height - inter);
}

interface Condition {
  auc: number;
  aucDrop: number;
  meanAbsDelta: number;
}

interface Summary {
  n: number;
  cleanAuc: number;
  photo: Condition;
  photoWhole: Condition;
  photoRectified: Condition;
  photoTrueCrop: Condition;
  photoTrueRectified: Condition;
  photoTrueGrown: Condition;
  photoFoundInTrue: Condition;
  falseCropRate: number;
  photoFoundRate: number;
  /** Share of photos where the found box overlaps the true X-ray box with IoU >= 0.5. */
  photoGoodRate: number;
  perVariant: Record<string, { n: number; photo: Condition; photoWhole: Condition; foundRate: number }>;
  /** Served photos by how deep `detectFilm` followed the outlines (0: no film found). */
  perDepth: Record<string, { n: number; photo: Condition; photoTrueCrop: Condition }>;
  findMsMedian: number;
}

function condition(rows: readonly Row[], pick: (r: Row) => number): Condition {
  const labels = rows.map((r) => r.covid);
  const cleanAuc = auc(
    labels,
    rows.map((r) => r.clean),
  );
  const value = auc(labels, rows.map(pick));
  const delta = rows.reduce((sum, r) => sum + Math.abs(pick(r) - r.clean), 0) / Math.max(1, rows.length);
  return { auc: value, aucDrop: cleanAuc - value, meanAbsDelta: delta };
}

function summarise(rows: readonly Row[]): Summary {
  const share = (keep: (r: Row) => boolean, of: readonly Row[] = rows) =>
    of.filter(keep).length / Math.max(1, of.length);
  const perVariant: Summary['perVariant'] = {};
  for (const variant of ['film', 'monitor'] as const) {
    const subset = rows.filter((r) => r.variant === variant);
    perVariant[variant] = {
      n: subset.length,
      photo: condition(subset, (r) => r.photo),
      photoWhole: condition(subset, (r) => r.photoWhole),
      foundRate: share((r) => r.photoFound, subset),
    };
  }
  const perDepth: Summary['perDepth'] = {};
  for (const depth of [...new Set(rows.map((r) => r.photoDepth))].sort((a, b) => a - b)) {
    const subset = rows.filter((r) => r.photoDepth === depth);
    perDepth[String(depth)] = {
      n: subset.length,
      photo: condition(subset, (r) => r.photo),
      photoTrueCrop: condition(subset, (r) => r.photoTrueCrop),
    };
  }
  const times = rows.map((r) => r.findMs).sort((a, b) => a - b);
  return {
    n: rows.length,
    cleanAuc: auc(
      rows.map((r) => r.covid),
      rows.map((r) => r.clean),
    ),
    photo: condition(rows, (r) => r.photo),
    photoWhole: condition(rows, (r) => r.photoWhole),
    photoRectified: condition(rows, (r) => r.photoRectified),
    photoTrueCrop: condition(rows, (r) => r.photoTrueCrop),
    photoTrueRectified: condition(rows, (r) => r.photoTrueRectified),
    photoTrueGrown: condition(rows, (r) => r.photoTrueGrown),
    photoFoundInTrue: condition(rows, (r) => r.photoFoundInTrue),
    falseCropRate: share((r) => r.cleanFired),
    photoFoundRate: share((r) => r.photoFound),
    photoGoodRate: share((r) => r.photoIou >= 0.5),
    perVariant,
    perDepth,
    findMsMedian: times[Math.floor(times.length / 2)] ?? Number.NaN,
  };
}

function printSummary(s: Summary): void {
  const f = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : '–');
  const line = (name: string, c: Condition) =>
    console.log(`  ${name.padEnd(34)} AUC ${f(c.auc)}  drop ${f(c.aucDrop)}  mean |dp| ${f(c.meanAbsDelta)}`);
  console.log(`  originals                          AUC ${f(s.cleanAuc)}`);
  line('photos as served (film step)', s.photo);
  line('photos whole (no film step)', s.photoWhole);
  line('photos undistorted, found outline', s.photoRectified);
  line('photos cut to the true X-ray', s.photoTrueCrop);
  line('photos undistorted from the true corners', s.photoTrueRectified);
  line(`true X-ray box + ${GROWN * 100}% per side`, s.photoTrueGrown);
  line('found box cut to the true box', s.photoFoundInTrue);
  for (const [variant, v] of Object.entries(s.perVariant)) {
    console.log(
      `  ${variant} (n ${v.n}): as served drop ${f(v.photo.aucDrop)}, |dp| ${f(v.photo.meanAbsDelta)}; ` +
        `whole photo drop ${f(v.photoWhole.aucDrop)}, |dp| ${f(v.photoWhole.meanAbsDelta)}; found ${f(v.foundRate)}`,
    );
  }
  for (const [depth, v] of Object.entries(s.perDepth)) {
    console.log(
      `  ${depth === '0' ? 'no film found' : `outline depth ${depth}`} (n ${v.n}): as served |dp| ${f(v.photo.meanAbsDelta)}, ` +
        `cut to the true X-ray |dp| ${f(v.photoTrueCrop.meanAbsDelta)}`,
    );
  }
  console.log(
    `  film finder: fires on ${f(s.falseCropRate)} of the originals (should be ~0), finds ${f(s.photoFoundRate)} of the photos ` +
      `(${f(s.photoGoodRate)} with IoU >= 0.5 to the true X-ray box); median ${s.findMsMedian.toFixed(1)} ms per original`,
  );
}

await program.parseAsync();
