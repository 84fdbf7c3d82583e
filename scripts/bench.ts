/**
 * `npm run bench`: speed figures (not tests). For a generated 2048x2048 JPEG (or `--image`, e.g. a
 * real X-ray, which the gate lets through so the pool times the whole path): decode+preprocess
 * and inference ms (median, p95) on the default backend and on the pure-JS cpu backend, film
 * detection on a simulated phone photo, images/s through the worker pool, heatmap cost, the
 * cross-split duplicate check, and training throughput (wasm vs cpu).
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Command } from 'commander';
import sharp from 'sharp';
import { initBackend, tf, type BackendName } from '../src/tf/backend.js';
import { createClassifier } from '../src/classifier/classifier.js';
import { toModelInput } from '../src/image/preprocess.js';
import { decodeImage } from '../src/image/decode.js';
import { cutOutFilm } from '../src/image/film.js';
import { findDuplicates, type ImageHash } from '../src/training/split.js';
import { mulberry32 } from '../src/training/random.js';
import { simulatePhoto } from './lib/simulate-photo.js';
import { createEngine } from '../src/classifier/engine.js';
import { renderOverlay } from '../src/explain/overlay.js';
import { loadModel } from '../src/model/io.js';
import { readCard, type ModelCard } from '../src/model/card.js';
import { defaultCnn } from '../src/model/architectures.js';
import { draftCard, writeModelDir } from '../src/model/store.js';
import { DEFAULT_PREPROCESSING } from '../src/training/pipeline.js';
import type * as tfTypes from '@tensorflow/tfjs';

interface Options {
  model?: string;
  image?: string;
  runs: number;
  poolImages: number;
  cpu: boolean;
  train: boolean;
}

const program = new Command()
  .name('npm run bench --')
  .option(
    '--model <dir>',
    'model directory (default: model/ if it holds a model, else a generated untrained one)',
  )
  .option(
    '--image <file>',
    'time this image instead of the generated one (the gate refuses the generated picture, so with it the pool stops at the gate; a real X-ray times the whole path)',
  )
  .option('--runs <n>', 'timed runs per figure', (v) => Number(v), 20)
  .option('--pool-images <n>', 'images pushed through the worker pool', (v) => Number(v), 40)
  .option('--no-cpu', 'skip the slow cpu-backend comparison')
  .option('--no-train', 'skip the training throughput figures')
  .action(run);

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * (s.length - 1) + 0.5))] ?? Number.NaN;
  return { median: q(0.5), p95: q(0.95) };
};
const ms = (v: number) => `${v.toFixed(1)} ms`;

async function timeIt(runs: number, f: () => Promise<unknown>): Promise<{ median: number; p95: number }> {
  await f(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await f();
    times.push(performance.now() - t0);
  }
  return stats(times);
}

async function benchImage(): Promise<Buffer> {
  // A 2048x2048 chest-like picture with film grain, as a phone or scanner would send it.
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="2048" height="2048"><rect width="2048" height="2048" fill="#151515"/>
    <ellipse cx="1024" cy="1120" rx="900" ry="940" fill="#9a9a9a"/><ellipse cx="660" cy="980" rx="270" ry="610" fill="#3c3c3c"/>
    <ellipse cx="1390" cy="980" rx="270" ry="610" fill="#3c3c3c"/><rect x="960" y="160" width="128" height="1800" fill="#d0d0d0"/></svg>`;
  const base = await sharp(Buffer.from(svg)).greyscale().raw().toBuffer();
  for (let i = 0; i < base.length; i++)
    base[i] = Math.max(0, Math.min(255, (base[i] ?? 0) + ((i * 2654435761) >>> 28) - 8));
  return sharp(base, { raw: { width: 2048, height: 2048, channels: 1 } })
    .jpeg({ quality: 90 })
    .toBuffer();
}

async function modelDirFor(o: Options): Promise<string> {
  if (o.model !== undefined) return path.resolve(o.model);
  if (existsSync(path.resolve('model/card.json'))) return path.resolve('model');
  await initBackend();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-model-'));
  const model = defaultCnn(DEFAULT_PREPROCESSING.size);
  await writeModelDir(
    dir,
    model,
    draftCard({ version: 'bench-untrained', architecture: 'default', preprocessing: DEFAULT_PREPROCESSING }),
  );
  model.dispose();
  console.log('(no model in model/: using an untrained default-architecture model of the same size)');
  return dir;
}

async function inferenceFigures(
  backend: BackendName,
  model: tfTypes.LayersModel,
  card: ModelCard,
  runs: number,
) {
  await tf.setBackend(backend === 'node' ? 'tensorflow' : backend);
  const size = card.preprocessing.size;
  const x = tf.randomUniform([1, size, size, 1]);
  const inference = await timeIt(runs, async () => {
    const y = model.predict(x) as tfTypes.Tensor;
    await y.data();
    y.dispose();
  });
  x.dispose();
  return inference;
}

async function trainingFigures(backend: BackendName, steps: number, batch = 16) {
  await tf.setBackend(backend === 'node' ? 'tensorflow' : backend);
  const size = DEFAULT_PREPROCESSING.size;
  const model = defaultCnn(size);
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'binaryCrossentropy' });
  const x = tf.randomUniform([batch, size, size, 1]);
  const y = tf.randomUniform([batch, 1]).round();
  const step = await timeIt(steps, () => model.trainOnBatch(x, y));
  tf.dispose([x, y]);
  model.dispose();
  return { msPerStep: step.median, imagesPerSecond: (batch * 1000) / step.median };
}

/** The pairwise pHash comparison that training runs before it trusts the splits. */
async function duplicateCheckFigure() {
  const random = mulberry32(9);
  const word = () =>
    Math.floor(random() * 2 ** 32)
      .toString(16)
      .padStart(8, '0');
  const hashes: ImageHash[] = Array.from({ length: 4000 }, (_, i) => ({
    sha256: `sha${i}`,
    phash: word() + word(),
  }));
  const samples = hashes.map((_, i) => ({
    file: `/bench/${i}.png`,
    label: 'normal' as const,
    covid: 0 as const,
    source: 'bench',
    patientId: `p${i}`,
    split: 'train' as const,
  }));
  return timeIt(3, () => findDuplicates(samples, { hashes }));
}

async function run(o: Options): Promise<void> {
  const backend = await initBackend();
  const modelDir = await modelDirFor(o);
  const card = await readCard(modelDir);
  const image = o.image === undefined ? await benchImage() : await readFile(o.image);
  // The serving path's own decoder, so that any file the bots accept (DICOM too) can be timed.
  const { sourceWidth, sourceHeight, format } = await decodeImage(image);
  console.log(
    `Backend: ${backend}. Model ${card.version} (${card.preprocessing.size} px). Image: ${o.image === undefined ? 'generated, ' : ''}${sourceWidth}x${sourceHeight} ${format}, ${(image.length / 1024).toFixed(0)} KiB.`,
  );

  // The engine's own preprocessing: decode, the lung segmenter when the card has a lung step, crop.
  const engine = await createEngine({ modelDir });
  const pre = await timeIt(o.runs, () => engine.prepare(image));
  console.log(
    `decode + preprocess${engine.lungs === undefined ? '' : ' (incl. lung segmentation)'}: median ${ms(pre.median)}, p95 ${ms(pre.p95)}`,
  );

  // The film step runs on every image; on a phone photo it also finds, undistorts and trims the film.
  const photo = await decodeImage(await simulatePhoto(image, 1));
  const film = await timeIt(o.runs, async () => cutOutFilm(photo));
  console.log(
    `film detection on a ${photo.width}x${photo.height} simulated phone photo: median ${ms(film.median)}, p95 ${ms(film.p95)} (${cutOutFilm(photo) === null ? 'no film found' : 'film found, undistorted and trimmed'})`,
  );

  const model = await loadModel(modelDir);
  const inf = await inferenceFigures(backend, model, card, o.runs);
  console.log(`inference (${backend}): median ${ms(inf.median)}, p95 ${ms(inf.p95)}`);
  if (o.cpu) {
    const cpu = await inferenceFigures('cpu', model, card, Math.max(3, Math.floor(o.runs / 4)));
    console.log(
      `inference (cpu): median ${ms(cpu.median)}, p95 ${ms(cpu.p95)}; ${backend} is ${(cpu.median / inf.median).toFixed(1)}x faster`,
    );
    await tf.setBackend(backend === 'node' ? 'tensorflow' : backend);
  }
  model.dispose();

  // Heatmap cost, measured on the engine directly so that a gate refusal of the image does not
  // hide it: forward pass alone vs forward + Grad-CAM + rendering the overlay.
  const prepared = await engine.prepare(image);
  if (engine.lungs !== undefined) {
    const lungs = engine.lungs;
    const lungInput = await toModelInput(prepared.decoded, lungs.card.preprocessing);
    const forward = await timeIt(o.runs, () => lungs.predict(lungInput));
    const whole = await timeIt(o.runs, () => lungs.segment(prepared.decoded));
    console.log(
      `lung segmenter (${lungs.card.preprocessing.size} px, ${backend}): forward pass median ${ms(forward.median)} (p95 ${ms(forward.p95)}); ` +
        `with its preprocessing and the full-size mask ${ms(whole.median)}`,
    );
  }
  const plain = await timeIt(o.runs, () => engine.analyse(prepared.input, false));
  const explained = await timeIt(o.runs, async () => {
    const a = await engine.analyse(prepared.input, true);
    await renderOverlay(prepared.decoded, a.cam, a.camSize, prepared.input.region);
  });
  const perImage = pre.median + plain.median;
  console.log(
    `heatmap: ${ms(explained.median - plain.median)} extra per image (forward alone ${ms(plain.median)}, with Grad-CAM + overlay ${ms(explained.median)}); ` +
      `${(explained.median / plain.median).toFixed(2)}x the forward pass, ${((perImage + explained.median - plain.median) / perImage).toFixed(2)}x the whole classification`,
  );
  const verdict = await engine.classify(image);
  console.log(
    `(the gate ${verdict.accepted ? 'accepts' : `refuses (${verdict.reason})`} the image${verdict.accepted ? '' : ': the pool figures below stop at the gate; --image <an X-ray> times the whole path'})`,
  );
  engine.dispose();

  for (const explain of [false, true]) {
    const classifier = await createClassifier({ modelDir, explain, queueLimit: o.poolImages });
    const t0 = performance.now();
    await Promise.all(Array.from({ length: o.poolImages }, () => classifier.classify(image)));
    const seconds = (performance.now() - t0) / 1000;
    console.log(
      `worker pool (${Math.min(4, os.availableParallelism())} workers, EXPLAIN=${explain ? 'on' : 'off'}): ${(o.poolImages / seconds).toFixed(1)} images/s`,
    );
    await classifier.close();
  }

  const dedupe = await duplicateCheckFigure();
  console.log(`cross-split duplicate check, 4,000 precomputed hashes: median ${ms(dedupe.median)}`);

  if (o.train) {
    const wasm = await trainingFigures(backend, 5);
    console.log(
      `training (${backend}, batch 16, ${DEFAULT_PREPROCESSING.size} px): ${ms(wasm.msPerStep)} per step, ${wasm.imagesPerSecond.toFixed(1)} images/s`,
    );
    if (o.cpu) {
      // The pure-JS backend is very slow at training: one step of 4 images is enough to compare.
      const cpu = await trainingFigures('cpu', 1, 4);
      console.log(
        `training (cpu, batch 4): ${ms(cpu.msPerStep)} per step, ${cpu.imagesPerSecond.toFixed(2)} images/s; ` +
          `${backend} trains ${(wasm.imagesPerSecond / cpu.imagesPerSecond).toFixed(0)}x more images per second`,
      );
    }
  }
}

await program.parseAsync();
