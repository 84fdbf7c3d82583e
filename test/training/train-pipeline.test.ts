import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { lungStep, runTraining, trainPhotoSeed, type TrainingRequest } from '../../src/training/pipeline.js';
import {
  evaluateModel,
  measuredLimitations,
  updateCardWithEvaluation,
} from '../../src/evaluation/evaluate.js';
import { readCard } from '../../src/model/card.js';
import { loadModel } from '../../src/model/io.js';
import { recipeOf, summaryFromCard } from '../../src/evaluation/compare.js';
import { createClassifier } from '../../src/classifier/classifier.js';
import { mulberry32 } from '../../src/training/random.js';
import { makeTempDir, removeDir } from './fixtures.js';
import { makeTestLungModel } from '../helpers/model.js';
import { makeChestLikeJpeg } from '../helpers/images.js';

/**
 * A synthetic two-class problem the network can learn in a few steps: "covid" images carry a
 * bright disc near the centre, "normal" ones do not; both have random smooth backgrounds.
 */
async function writeImage(file: string, bright: boolean, seed: number): Promise<void> {
  const random = mulberry32(seed);
  const size = 48;
  const data = Buffer.alloc(size * size);
  const cx = 24 + Math.floor(random() * 6) - 3;
  const cy = 24 + Math.floor(random() * 6) - 3;
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const base = 60 + 40 * Math.sin((x + seed) / 7) * Math.cos((y - seed) / 9) + random() * 30;
      const disc = bright && (x - cx) ** 2 + (y - cy) ** 2 < 100 ? 110 : 0;
      data[y * size + x] = Math.max(0, Math.min(255, Math.round(base + disc)));
    }
  await fs.mkdir(path.dirname(file), { recursive: true });
  await sharp(data, { raw: { width: size, height: size, channels: 1 } })
    .png()
    .toFile(file);
}

/** Folder layout with train/ and val/; `flipped` swaps which class carries the disc in train only. */
async function makeDataset(
  root: string,
  flipped: boolean,
  perLabel: Record<'train' | 'val' | 'test', number> = { train: 48, val: 16, test: 16 },
): Promise<string> {
  let seed = 1;
  for (const [split, n] of Object.entries(perLabel) as ['train' | 'val' | 'test', number][]) {
    for (const label of ['covid', 'normal'] as const) {
      for (let i = 0; i < n; i++) {
        const bright = (label === 'covid') !== (flipped && split === 'train');
        await writeImage(path.join(root, split, label, `${label}-${i}.png`), bright, seed++);
      }
    }
  }
  return root;
}

let work: string;
let good: string;
let flipped: string;
const logs: string[] = [];

const request = (data: string, modelDir: string, extra: Partial<TrainingRequest> = {}): TrainingRequest => ({
  data,
  modelDir,
  architecture: 'default',
  preprocessing: { size: 32, channels: 1, crop: 1, fit: 'fill', contrast: 'none', scale: 'unit' },
  epochs: 6,
  batchSize: 16,
  learningRate: 5e-3,
  seed: 3,
  patience: 6,
  augment: false,
  balance: 'sqrt',
  excludeSources: [],
  excludePediatric: false,
  dedupe: true,
  force: false,
  log: (line) => logs.push(line),
  ...extra,
});

beforeAll(async () => {
  work = await makeTempDir('xray-train');
  good = await makeDataset(path.join(work, 'good'), false);
  flipped = await makeDataset(path.join(work, 'flipped'), true);
});
afterAll(async () => {
  await removeDir(work);
});

describe('npm run train pipeline on generated images', () => {
  const modelDir = () => path.join(work, 'model');

  it('trains, lowers the loss, writes model + card, and the classifier loads it', async () => {
    const outcome = await runTraining(request(good, modelDir()));
    expect(outcome.replaced).toBe(true);
    const first = outcome.history[0];
    const last = outcome.history.at(-1);
    expect(first && last && last.loss < first.loss).toBe(true);
    expect(outcome.newValAuc).toBeGreaterThan(0.9);
    for (const f of ['model.json', 'weights.bin', 'card.json']) await fs.access(path.join(modelDir(), f));
    const card = await readCard(modelDir());
    expect(card.version).toBe(outcome.version);
    expect(card.calibration.method).toBe('platt');
    expect(card.threshold).toBeGreaterThan(0);
    expect(card.threshold).toBeLessThan(1);
    expect(card.data?.trainImages).toBe(96);
    expect(card.metrics?.validation?.auc).toBeCloseTo(outcome.newValAuc, 6);

    const classifier = await createClassifier({ modelDir: modelDir(), workers: 1 });
    try {
      const covid = path.join(good, 'test', 'covid', 'covid-0.png');
      const result = await classifier.classify(await fs.readFile(covid));
      expect(result.accepted && result.modelVersion === outcome.version).toBe(true);
    } finally {
      await classifier.close();
    }
  });

  it('fine-tunes a model from its weights (--init-from) and records where it started', async () => {
    const start = await readCard(modelDir());
    const tuned = path.join(work, 'model-tuned');
    // At a learning rate of 0 the convolutions keep the starting model's weights exactly.
    const outcome = await runTraining(
      request(good, tuned, { initFrom: modelDir(), epochs: 1, learningRate: 0 }),
    );
    const card = await readCard(tuned);
    expect(card.training?.['initFrom']).toBe(start.version);
    expect(outcome.newValAuc).toBeGreaterThan(0.9);
    const kernels = async (dir: string) => {
      const model = await loadModel(dir);
      const values = model.layers
        .filter((l) => l.getClassName() === 'Conv2D')
        .map((l) => Array.from(l.getWeights()[0]?.dataSync() ?? []));
      model.dispose();
      return values;
    };
    const [before, after] = [await kernels(modelDir()), await kernels(tuned)];
    expect(before.length).toBeGreaterThan(0);
    expect(after).toEqual(before);
    // A network of another input size cannot start from it.
    await expect(
      runTraining(
        request(good, path.join(work, 'model-other'), {
          initFrom: modelDir(),
          preprocessing: { size: 24, channels: 1, crop: 1, fit: 'fill', contrast: 'none', scale: 'unit' },
        }),
      ),
    ).rejects.toThrow(/default at 32 px, this run's default at 24 px/);
    // Nor can a model whose card was edited to claim another size than its weights have.
    const edited = path.join(work, 'model-edited');
    await fs.cp(modelDir(), edited, { recursive: true });
    const claimed = JSON.parse(await fs.readFile(path.join(edited, 'card.json'), 'utf8')) as {
      input: { width: number; height: number };
      preprocessing: { size: number };
    };
    claimed.input = { ...claimed.input, width: 24, height: 24 };
    claimed.preprocessing = { ...claimed.preprocessing, size: 24 };
    await fs.writeFile(path.join(edited, 'card.json'), JSON.stringify(claimed));
    await expect(
      runTraining(
        request(good, path.join(work, 'model-from-edited'), {
          initFrom: edited,
          preprocessing: { size: 24, channels: 1, crop: 1, fit: 'fill', contrast: 'none', scale: 'unit' },
        }),
      ),
    ).rejects.toThrow(/input shape .* does not match its card/);
  });

  it('evaluate reads the model and the data, writes a report, plots and the card', async () => {
    const out = path.join(work, 'report');
    const r = await evaluateModel({ modelDir: modelDir(), data: good, split: 'test', outDir: out });
    expect(r.overall.n).toBe(32);
    expect(r.overall.auc).toBeGreaterThan(0.9);
    expect(r.overall.auc_ci[0]).not.toBeNull();
    expect(Object.keys(r.perSource)).toHaveLength(1);
    for (const f of ['evaluation.md', 'evaluation.json', 'roc.png', 'reliability.png', 'training.png']) {
      expect((await fs.stat(path.join(out, f))).size).toBeGreaterThan(100);
    }
    await updateCardWithEvaluation(modelDir(), r);
    const card = await readCard(modelDir());
    expect(card.metrics?.test?.auc).toBeCloseTo(r.overall.auc ?? Number.NaN, 6);
  });

  it('the quality gate keeps the current model when the new one is worse, and --force overrides it', async () => {
    const before = (await readCard(modelDir())).version;
    // Trained on flipped labels, the new model ranks the (unflipped) validation images backwards.
    const refused = await runTraining(request(flipped, modelDir(), { epochs: 3, seed: 4 }));
    expect(refused.replaced).toBe(false);
    expect(refused.newValAuc).toBeLessThan(refused.currentValAuc ?? 0);
    expect((await readCard(modelDir())).version).toBe(before);
    expect(logs.some((l) => l.includes('Quality gate'))).toBe(true);

    // A nested model (the lung segmenter lives in model/lungs/) survives the classifier's switch.
    await fs.mkdir(path.join(modelDir(), 'lungs'), { recursive: true });
    await fs.writeFile(path.join(modelDir(), 'lungs', 'card.json'), '{"nested":true}');
    const forced = await runTraining(request(flipped, modelDir(), { epochs: 1, seed: 5, force: true }));
    expect(await fs.readFile(path.join(modelDir(), 'lungs', 'card.json'), 'utf8')).toBe('{"nested":true}');
    expect(forced.replaced).toBe(true);
    expect((await readCard(modelDir())).version).toBe(forced.version);
    // The previous model is kept for rollback.
    expect(forced.backup).toBeDefined();
    await fs.access(path.join(forced.backup ?? '', 'card.json'));
  });
});

describe('npm run train with the lung step', () => {
  it('refuses a contrast stretch over the lungs without the lung step, before preparing anything', async () => {
    const modelDir = path.join(work, 'model-no-lungs');
    const base = request(good, modelDir);
    await expect(
      runTraining({ ...base, preprocessing: { ...base.preprocessing, contrast: 'normalise-lungs' } }),
    ).rejects.toThrow(/needs the lung step/);
    await expect(fs.access(modelDir)).rejects.toThrow();
  });

  it('records the lung model in the card, carries it in lungs/, and evaluation measures with it', async () => {
    // The untrained test lung model with threshold 0.01 finds "lungs" over the whole image.
    const lungsDir = path.join(work, 'lung-model');
    const lungVersion = await makeTestLungModel(lungsDir, 0.01);
    const modelDir = path.join(work, 'model-lungs');
    // Few images: every training image also gets a simulated phone photo, which takes time.
    const small = await makeDataset(path.join(work, 'small'), false, { train: 8, val: 8, test: 8 });
    const cache = path.join(work, 'input-cache');
    const cachedEntries = async () =>
      (await fs.readdir(cache, { recursive: true })).filter((f) => f.endsWith('.f32')).length;
    const outcome = await runTraining(
      request(small, modelDir, {
        epochs: 2,
        lungs: { dir: lungsDir, crop: true, margin: 0.1 },
        photoAugment: 0.5,
        photoViews: 2,
        learningRateSchedule: 'cosine',
        preprocessing: { ...request(small, modelDir).preprocessing, film: true },
        cache,
      }),
    );
    expect(outcome.replaced).toBe(true);
    // Prepared inputs went to the cache: 16 training and 16 validation images, 2 x 16 photos.
    expect(await cachedEntries()).toBe(64);
    const card = await readCard(modelDir);
    expect(card.preprocessing.lungs).toEqual({ model: lungVersion, crop: true, margin: 0.1 });
    expect(card.data?.['lungsNotFound']).toEqual({ train: 0, val: 0 });
    expect(card.data?.trainImages).toBe(16);
    expect(card.training).toMatchObject({
      epochs: 2,
      maxEpochs: 2,
      drawsPerEpoch: 16,
      learningRateSchedule: 'cosine',
    });
    expect(card.preprocessing.film).toBe(true);
    expect(String(card.training?.['photoAugment'])).toMatch(/^0\.5 of draws use a simulated phone photo/);
    expect(String(card.training?.['photoAugment'])).toContain('2 photos per image, seeded by its bytes');
    // No consistency loss, so no record of one.
    expect(card.training?.photoConsistency).toBeUndefined();
    expect(JSON.parse(await fs.readFile(path.join(modelDir, 'lungs', 'card.json'), 'utf8'))).toMatchObject({
      version: lungVersion,
    });
    expect(logs.some((l) => l.startsWith('Lungs not found in 0 training and 0 validation'))).toBe(true);

    const r = await evaluateModel({ modelDir, data: small, split: 'test', cache });
    expect(r.overall.n).toBe(16);
    expect(await cachedEntries()).toBe(80);
    // Lungs cover every cell here, so no heatmap mass can fall outside them.
    expect(r.heatmap).toMatchObject({ mask: 'lungs', n: 16, meanOutside: 0, uniformOutside: 0 });
    expect(r.gate?.lungSignal).toMatchObject({
      inUse: true,
      xraysAccepted: { n: 16 },
    });
    // The card says what the lung check changed, and says so plainly when it changed nothing.
    const accepted = r.gate?.lungSignal?.xraysAccepted ?? { with: -1, without: -1, n: -1 };
    expect(measuredLimitations(r).find((s) => s.startsWith('Measured: the lung check'))).toContain(
      accepted.with === accepted.without
        ? `leaves the accepted X-rays at ${accepted.with} of 16`
        : `the accepted X-rays from ${accepted.without} to ${accepted.with} of 16`,
    );
  }, 120_000);

  it('records the photo consistency loss in the card as fields the comparison reads', async () => {
    const modelDir = path.join(work, 'model-consistency');
    const small = await makeDataset(path.join(work, 'small-consistency'), false, {
      train: 4,
      val: 4,
      test: 4,
    });
    const outcome = await runTraining(
      request(small, modelDir, {
        epochs: 1,
        photoConsistency: 0.3,
        consistencySpace: 'probability',
        force: true,
      }),
    );
    expect(outcome.replaced).toBe(true);
    const card = await readCard(modelDir);
    expect(card.training?.photoConsistency).toEqual({ weight: 0.3, space: 'probability', target: 'pair' });
    expect(String(card.training?.['photoAugment'])).toMatch(/^paired: /);
    expect(recipeOf(card).photoConsistency).toEqual({ weight: 0.3, space: 'probability', target: 'pair' });
    expect(summaryFromCard(card).photoAugment).toBe(
      'each draw paired with its photo, consistency loss 0.3, on probabilities',
    );
  }, 120_000);

  it('turns each --lungs mode into its lung step', () => {
    expect(lungStep('off', '/l', 0.1)).toBeUndefined();
    expect(lungStep('check', '/l', 0.1)).toEqual({ dir: '/l', crop: false, mask: false, margin: 0.1 });
    expect(lungStep('crop', '/l', 0.1)).toEqual({ dir: '/l', crop: true, mask: false, margin: 0.1 });
    expect(lungStep('mask', '/l', 0.2)).toEqual({ dir: '/l', crop: true, mask: true, margin: 0.2 });
  });

  it('records the lung mask in the card when asked for, and the model it trains serves', async () => {
    const lungsDir = path.join(work, 'lung-model-mask');
    const lungVersion = await makeTestLungModel(lungsDir, 0.01);
    const modelDir = path.join(work, 'model-lung-mask');
    const small = await makeDataset(path.join(work, 'small-mask'), false, { train: 8, val: 8, test: 8 });
    const outcome = await runTraining(
      request(small, modelDir, { epochs: 1, lungs: { dir: lungsDir, crop: true, mask: true, margin: 0.1 } }),
    );
    expect(outcome.replaced).toBe(true);
    expect((await readCard(modelDir)).preprocessing.lungs).toEqual({
      model: lungVersion,
      crop: true,
      margin: 0.1,
      mask: true,
    });
    const r = await evaluateModel({ modelDir, data: small, split: 'test' });
    expect(r.overall.n).toBe(16);
  }, 120_000);
});

describe('trainPhotoSeed', () => {
  it("depends on the image's bytes only, in training's own range, apart from evaluation's seeds", async () => {
    const images = await Promise.all(
      Array.from({ length: 20 }, (_, i) => makeChestLikeJpeg(120, 130, { seed: i })),
    );
    const seeds = images.map((bytes) => trainPhotoSeed(bytes));
    // The same bytes, read again (another run, a split that leaves others out): the same photo.
    expect(images.map((bytes) => trainPhotoSeed(Uint8Array.from(bytes)))).toEqual(seeds);
    for (const seed of seeds) {
      expect(Number.isInteger(seed)).toBe(true);
      // evaluate --simulate-photo seeds by index (< 1,000,000); the gate's head from 2,000,000.
      expect(seed).toBeGreaterThanOrEqual(1_000_000);
      expect(seed).toBeLessThan(2_000_000);
    }
    expect(new Set(seeds).size).toBe(seeds.length);
  });

  it('gives each photo view of an image its own seed, view 0 being the one-photo seed', async () => {
    const bytes = await makeChestLikeJpeg(120, 130, { seed: 1 });
    const views = [0, 1, 2].map((view) => trainPhotoSeed(bytes, view));
    expect(views[0]).toBe(trainPhotoSeed(bytes));
    expect(new Set(views).size).toBe(3);
    for (const seed of views) expect(seed >= 1_000_000 && seed < 2_000_000).toBe(true);
  });
});
