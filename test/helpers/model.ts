import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { initBackend, tf } from '../../src/tf/backend.js';
import { defaultCnn } from '../../src/model/architectures.js';
import { draftCard, writeModelDir } from '../../src/model/store.js';
import type { ModelCard, PreprocessingSpec } from '../../src/model/card.js';
import { preprocess } from '../../src/image/preprocess.js';
import { extractFeatures, fitGate } from '../../src/gate/fit.js';
import { writeGateStats } from '../../src/gate/gate.js';
import { makeChestLikeJpeg } from './images.js';

export const TEST_PREPROCESSING: PreprocessingSpec = {
  size: 32,
  channels: 1,
  crop: 0.9,
  fit: 'fill',
  contrast: 'normalise',
  scale: 'standardize',
};

/**
 * A real, small, untrained model directory made by the project's own code (architecture, save,
 * card, and a gate fitted on generated chest-like images). Its outputs are real probabilities
 * from a real forward pass, just not meaningful ones.
 */
export async function makeTestModel(
  options: { dir?: string; version?: string; card?: Partial<ModelCard>; seed?: number; gate?: boolean } = {},
): Promise<string> {
  await initBackend('wasm');
  const dir = options.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'xray-model-')));
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
  await writeModelDir(dir, model, card);
  if (gateStats !== undefined) await writeGateStats(dir, gateStats);
  model.dispose();
  tf.disposeVariables();
  return dir;
}
