import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { initBackend, tf } from '../../src/tf/backend.js';
import { defaultCnn } from '../../src/model/architectures.js';
import { draftCard, writeModelDir } from '../../src/model/store.js';
import type { ModelCard, PreprocessingSpec } from '../../src/model/card.js';

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
 * card). Its outputs are real probabilities from a real forward pass, just not meaningful ones.
 */
export async function makeTestModel(
  options: { dir?: string; version?: string; card?: Partial<ModelCard>; seed?: number } = {},
): Promise<string> {
  await initBackend('wasm');
  const dir = options.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'xray-model-')));
  const model = defaultCnn(TEST_PREPROCESSING.size, { filters: [4, 8], seed: options.seed ?? 7 });
  const card = {
    ...draftCard({
      version: options.version ?? 'test-0.1',
      architecture: 'default',
      preprocessing: TEST_PREPROCESSING,
    }),
    ...options.card,
  };
  await writeModelDir(dir, model, card);
  model.dispose();
  tf.disposeVariables();
  return dir;
}
