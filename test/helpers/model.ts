import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { initBackend } from '../../src/tf/backend.js';
import { defaultCnn } from '../../src/model/architectures.js';
import { draftCard, writeModelDir } from '../../src/model/store.js';
import type { ModelCard, PreprocessingSpec } from '../../src/model/card.js';
import { preprocess } from '../../src/image/preprocess.js';
import { extractFeatures, fitGate } from '../../src/gate/fit.js';
import { writeGateStats } from '../../src/gate/gate.js';
import { makeChestLikeJpeg } from './images.js';
import { saveModel } from '../../src/model/io.js';
import { lungPreprocessing, writeLungCard } from '../../src/lungs/card.js';
import { buildUNet } from '../../src/lungs/unet.js';
import { LUNG_MODEL_DIR } from '../../src/lungs/segment.js';

/** Folders `makeTestModel` made in this test file, removed by `removeTestModels` (test/setup.ts). */
const madeDirs = new Set<string>();

export async function removeTestModels(): Promise<void> {
  await Promise.all([...madeDirs].map((dir) => rm(dir, { recursive: true, force: true })));
  madeDirs.clear();
}

export const TEST_PREPROCESSING: PreprocessingSpec = {
  size: 32,
  channels: 1,
  crop: 0.9,
  fit: 'fill',
  contrast: 'normalise',
  scale: 'standardize',
  // As the shipped model: phone photos of a film or screen are cut to it (and replies say so).
  film: true,
};

/**
 * A real, small, untrained model directory made by the project's own code (architecture, save,
 * card, and a gate fitted on generated chest-like images). Its outputs are real probabilities
 * from a real forward pass, just not meaningful ones.
 */
export async function makeTestModel(
  options: {
    dir?: string;
    version?: string;
    card?: Partial<ModelCard>;
    seed?: number;
    gate?: boolean;
    /** Adds a lung step (an untrained lung model in lungs/, see `makeTestLungModel`). */
    lungs?: { crop: boolean; threshold: number; version?: string };
  } = {},
): Promise<string> {
  await initBackend('wasm');
  let dir = options.dir;
  if (dir === undefined) {
    dir = await mkdtemp(path.join(os.tmpdir(), 'xray-model-'));
    madeDirs.add(dir);
  }
  const model = defaultCnn(TEST_PREPROCESSING.size, { filters: [4, 8], seed: options.seed ?? 7 });
  let card: ModelCard = {
    ...draftCard({
      version: options.version ?? 'test-0.1',
      architecture: 'default',
      preprocessing: TEST_PREPROCESSING,
    }),
    ...options.card,
  };
  let gateStats;
  if (options.gate !== false) {
    const inputs = await Promise.all(
      Array.from({ length: 16 }, async (_, i) => {
        const bytes = await makeChestLikeJpeg(160 + 8 * i, 170 + 4 * i, { seed: i });
        return (await preprocess(bytes, TEST_PREPROCESSING)).input.data;
      }),
    );
    const features = await extractFeatures(model, inputs, TEST_PREPROCESSING.size);
    const fitted = fitGate(features.slice(0, 12), features.slice(12));
    // An untrained model's feature distances mean little, so stage 2 is opened wide here: in
    // plumbing tests only stage 1 (colour, shape) refuses. The real model's gate is tested on real data.
    card = { ...card, gate: { ...fitted.settings, maxDistance: 1e6 } };
    gateStats = fitted.stats;
  }
  if (options.lungs !== undefined) {
    const version = await makeTestLungModel(path.join(dir, LUNG_MODEL_DIR), options.lungs.threshold);
    card = {
      ...card,
      preprocessing: {
        ...card.preprocessing,
        lungs: { model: options.lungs.version ?? version, crop: options.lungs.crop, margin: 0.1 },
      },
    };
  }
  await writeModelDir(dir, model, card);
  if (gateStats !== undefined) await writeGateStats(dir, gateStats);
  model.dispose();
  return dir;
}

/**
 * A real, untrained 32 px lung U-Net. Its outputs sit near 0.5 everywhere, so the card's
 * threshold decides: 0.01 finds "lungs" covering the whole image (the crop keeps it all),
 * 0.99 finds none (the engine refuses). Returns the lung model's version.
 */
export async function makeTestLungModel(dir: string, threshold: number): Promise<string> {
  await initBackend('wasm');
  const size = 32;
  const filters = [4, 8];
  const version = `test-lungs-${threshold}`;
  const model = buildUNet({ size, filters, seed: 3 });
  await saveModel(model, dir);
  model.dispose();
  await writeLungCard(dir, {
    schemaVersion: 1,
    name: 'lung-unet',
    version,
    createdAt: new Date().toISOString(),
    architecture: { name: 'unet', filters, parameters: 1 },
    input: { height: size, width: size, channels: 1 },
    preprocessing: lungPreprocessing(size),
    threshold,
    minPlausibility: 0,
    postprocessing: 'test',
    intendedUse: 'test',
    limitations: [],
  });
  return version;
}
