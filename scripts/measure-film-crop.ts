/**
 * `npx tsx scripts/measure-film-crop.ts --model <dir> [--split test] [--limit n]`: how much phone
 * photos of the film or screen change the model's answers, with and without cropping to the film
 * that `findFilm` finds, and how often `findFilm` fires on real (unsimulated) X-rays.
 *
 * Per image (seed = index, as `evaluate --simulate-photo`): the original; its simulated photo as
 * is; the photo cropped to `findFilm`'s box; the photo undistorted from `findFilm`'s quadrilateral
 * (`rectifyFilm`); the photo cropped to the true X-ray box (the best a box crop can do); and the original cropped when `findFilm` fires on it (what wiring the crop into
 * preprocessing would do to ordinary X-rays).
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
import { auc } from '../src/evaluation/metrics.js';
import { loadDataset, type Sample, type Split } from '../src/training/datasets.js';
import { parseBackendName } from '../src/tf/backend.js';
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
  clean: number;
  /** findFilm on the original: fired, and the probability with its crop applied. */
  cleanFired: boolean;
  cleanCropped: number;
  photo: number;
  photoFound: boolean;
  /** Intersection over union of findFilm's box with the true X-ray box in the photo. */
  photoIou: number;
  photoCropped: number;
  /** The photo with findFilm's quadrilateral undistorted (rectifyFilm) instead of cropped. */
  photoRectified: number;
  photoTrueCrop: number;
  findMs: number;
}

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`not a positive whole number: ${v}`);
  return n;
};

const program = new Command()
  .name('npx tsx scripts/measure-film-crop.ts')
  .description('Measure phone-photo robustness with and without cropping to the film (findFilm).')
  .requiredOption('--model <dir>', 'model directory (card.json, model.json, weights)')
  .option('--data <dir>', 'dataset with splits', path.resolve('../shared/data'))
  .addOption(
    new Option('--split <name>', 'split to measure').choices(['train', 'val', 'test', 'all']).default('test'),
  )
  .option('--limit <n>', 'only n images, evenly spread over the split (quick look)', int)
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
  const spec = engine.card.preprocessing;
  const score = async (image: DecodedImage): Promise<number> => {
    const [p = Number.NaN] = await engine.predict([(await prepareDecoded(image, spec, engine.lungs)).input]);
    return p;
  };
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
      rows.push(await measure(sample, index, score, o.without));
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
  const pClean = await score(clean);
  const pPhoto = await score(photoImage);
  return {
    file: path.relative(process.cwd(), sample.file),
    source: sample.source,
    covid: sample.covid,
    variant: photo.variant,
    clean: pClean,
    cleanFired: onClean !== null,
    cleanCropped: onClean === null ? pClean : await score(cropDecoded(clean, onClean.box)),
    photo: pPhoto,
    photoFound: onPhoto !== null,
    photoIou: onPhoto === null ? 0 : iou(onPhoto.box, truth),
    photoCropped: onPhoto === null ? pPhoto : await score(cropDecoded(photoImage, onPhoto.box)),
    photoRectified: onPhoto === null ? pPhoto : await score(rectifyFilm(photoImage, onPhoto.quad)),
    photoTrueCrop: await score(cropDecoded(photoImage, truth)),
    findMs,
  };
}

/** The largest upright box inside the true X-ray corners (scaled), as findFilm would crop. */
function trueBox(quad: Quad, scale: number): FilmBox {
  return innerBox(quad.map((p) => ({ x: p.x * scale, y: p.y * scale })) as Quad);
}

function iou(a: FilmBox, b: FilmBox): number {
  const w = Math.min(a.left + a.width, b.left + b.width) - Math.max(a.left, b.left);
  const h = Math.min(a.top + a.height, b.top + b.height) - Math.max(a.top, b.top);
  const inter = Math.max(0, w) * Math.max(0, h);
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
  photoCropped: Condition;
  photoRectified: Condition;
  photoTrueCrop: Condition;
  /** Originals with findFilm's crop applied wherever it fires (production if wired). */
  cleanCropped: Condition;
  falseCropRate: number;
  photoFoundRate: number;
  /** Share of photos where the found box overlaps the true X-ray box with IoU >= 0.5. */
  photoGoodRate: number;
  perVariant: Record<string, { n: number; photo: Condition; photoCropped: Condition; foundRate: number }>;
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
      photoCropped: condition(subset, (r) => r.photoCropped),
      foundRate: share((r) => r.photoFound, subset),
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
    photoCropped: condition(rows, (r) => r.photoCropped),
    photoRectified: condition(rows, (r) => r.photoRectified),
    photoTrueCrop: condition(rows, (r) => r.photoTrueCrop),
    cleanCropped: condition(rows, (r) => r.cleanCropped),
    falseCropRate: share((r) => r.cleanFired),
    photoFoundRate: share((r) => r.photoFound),
    photoGoodRate: share((r) => r.photoIou >= 0.5),
    perVariant,
    findMsMedian: times[Math.floor(times.length / 2)] ?? Number.NaN,
  };
}

function printSummary(s: Summary): void {
  const f = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : '–');
  const line = (name: string, c: Condition) =>
    console.log(`  ${name.padEnd(34)} AUC ${f(c.auc)}  drop ${f(c.aucDrop)}  mean |dp| ${f(c.meanAbsDelta)}`);
  console.log(`  originals                          AUC ${f(s.cleanAuc)}`);
  line('photos, no crop', s.photo);
  line('photos, cropped by findFilm', s.photoCropped);
  line('photos, undistorted by findFilm', s.photoRectified);
  line('photos, cropped to the true X-ray', s.photoTrueCrop);
  line('originals, cropped where it fires', s.cleanCropped);
  for (const [variant, v] of Object.entries(s.perVariant)) {
    console.log(
      `  ${variant} (n ${v.n}): no crop drop ${f(v.photo.aucDrop)}, |dp| ${f(v.photo.meanAbsDelta)}; ` +
        `findFilm crop drop ${f(v.photoCropped.aucDrop)}, |dp| ${f(v.photoCropped.meanAbsDelta)}; found ${f(v.foundRate)}`,
    );
  }
  console.log(
    `  findFilm: fires on ${f(s.falseCropRate)} of the originals (should be ~0), finds ${f(s.photoFoundRate)} of the photos ` +
      `(${f(s.photoGoodRate)} with IoU >= 0.5 to the true X-ray box); median ${s.findMsMedian.toFixed(1)} ms per original`,
  );
}

await program.parseAsync();
