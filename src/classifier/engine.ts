import { performance } from 'node:perf_hooks';
import type * as tfTypes from '@tensorflow/tfjs';
import { initBackend, tf, type BackendName } from '../tf/backend.js';
import { readCard, type ModelCard } from '../model/card.js';
import { checkModelMatchesCard, loadModel } from '../model/io.js';
import { calibrate } from '../model/calibration.js';
import { preprocess, type ModelInput } from '../image/preprocess.js';
import type { DecodeLimits } from '../image/decode.js';
import type { ClassifyResult } from '../core/result.js';

export interface EngineOptions {
  modelDir: string;
  backend?: BackendName | undefined;
}

export interface ClassifyOptions {
  limits?: DecodeLimits;
  explain?: boolean;
}

/**
 * The model in this thread: loads once, warms up once, and answers synchronously per call. The
 * classifier runs one engine per worker thread; evaluation uses one directly.
 */
export interface Engine {
  readonly card: ModelCard;
  readonly backend: BackendName;
  /** Calibrated probabilities for ready-made inputs (one forward pass per batch). */
  predict(inputs: readonly ModelInput[]): Promise<number[]>;
  classify(bytes: Uint8Array, options?: ClassifyOptions): Promise<ClassifyResult>;
  dispose(): void;
}

export async function createEngine(options: EngineOptions): Promise<Engine> {
  const backend = await initBackend(options.backend);
  const card = await readCard(options.modelDir);
  const model = await loadModel(options.modelDir);
  checkModelMatchesCard(model, card);
  const size = card.preprocessing.size;

  const forward = (inputs: readonly ModelInput[]): Promise<number[]> => {
    const batch = new Float32Array(inputs.length * size * size);
    inputs.forEach((input, i) => batch.set(input.data, i * size * size));
    const output = tf.tidy(
      () => model.predict(tf.tensor4d(batch, [inputs.length, size, size, 1])) as tfTypes.Tensor,
    );
    return output.data().then((values) => {
      output.dispose();
      return Array.from(values, (p) => calibrate(p, card.calibration));
    });
  };

  // Warm-up: the first call compiles kernels and allocates; do it before any user waits on it.
  await forward([
    { data: new Float32Array(size * size), size, region: { left: 0, top: 0, width: 1, height: 1 } },
  ]);

  return {
    card,
    backend,
    predict: forward,
    async classify(bytes, opts = {}) {
      const t0 = performance.now();
      const prepared = await preprocess(bytes, card.preprocessing, opts.limits);
      const t1 = performance.now();
      const [probability = Number.NaN] = await forward([prepared.input]);
      const t2 = performance.now();
      return {
        accepted: true,
        probability,
        label: probability >= card.threshold ? 'covid' : 'not_covid',
        threshold: card.threshold,
        modelVersion: card.version,
        timings: { preprocessMs: t1 - t0, inferenceMs: t2 - t1, explainMs: 0, totalMs: t2 - t0 },
      };
    },
    dispose() {
      model.dispose();
    },
  };
}
