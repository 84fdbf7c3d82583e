import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from '../tf/backend.js';
import { fitFeatureStats, mahalanobis, type FeatureStats } from './mahalanobis.js';
import { GATE_FILE, type GateSettings } from './gate.js';

/** Chest X-rays in our data are grey (colourfulness 0); colour photos and fundus images score 0.05-0.3. */
export const MAX_COLOURFULNESS = 0.06;
/** Width / height of the training X-rays spans 0.81-1.55; beyond this range is not a chest film. */
export const ASPECT_RATIO: [number, number] = [0.6, 1.8];
/** Share of validation X-rays the feature distance must accept. */
export const VAL_ACCEPTANCE = 0.995;

/** The input of the classifier's last layer, for a batch of model inputs. */
export async function extractFeatures(
  model: tfTypes.LayersModel,
  inputs: readonly Float32Array[],
  size: number,
  batchSize = 64,
): Promise<Float32Array[]> {
  const last = model.layers.at(-1);
  if (last === undefined) throw new Error('Model has no layers.');
  const trunk = tf.model({ inputs: model.inputs, outputs: last.input as tfTypes.SymbolicTensor });
  const out: Float32Array[] = [];
  for (let start = 0; start < inputs.length; start += batchSize) {
    const chunk = inputs.slice(start, start + batchSize);
    const data = new Float32Array(chunk.length * size * size);
    chunk.forEach((x, i) => data.set(x, i * size * size));
    const y = tf.tidy(
      () => trunk.predict(tf.tensor4d(data, [chunk.length, size, size, 1])) as tfTypes.Tensor,
    );
    const values = (await y.data()) as Float32Array;
    const d = values.length / chunk.length;
    for (let i = 0; i < chunk.length; i++) out.push(values.slice(i * d, (i + 1) * d));
    y.dispose();
  }
  return out;
}

export interface FittedGate {
  settings: GateSettings;
  stats: FeatureStats;
  valDistances: number[];
}

/**
 * Fits the feature statistics on the training X-rays and sets the distance threshold so that
 * VAL_ACCEPTANCE of the validation X-rays pass (a gate that turns real X-rays away is worse than none).
 */
export function fitGate(
  trainFeatures: readonly Float32Array[],
  valFeatures: readonly Float32Array[],
): FittedGate {
  const stats = fitFeatureStats(trainFeatures);
  const valDistances = valFeatures.map((f) => mahalanobis(stats, f));
  const sorted = [...valDistances].sort((a, b) => a - b);
  const maxDistance =
    sorted[Math.min(sorted.length - 1, Math.ceil(VAL_ACCEPTANCE * sorted.length) - 1)] ??
    Number.POSITIVE_INFINITY;
  return {
    stats,
    valDistances,
    settings: {
      maxColourfulness: MAX_COLOURFULNESS,
      aspectRatio: ASPECT_RATIO,
      maxDistance: Math.max(maxDistance, 1e-6),
      rule: `colourfulness <= ${MAX_COLOURFULNESS}; width/height in [${ASPECT_RATIO.join(', ')}]; Mahalanobis distance of the penultimate features (fitted on the training X-rays, covariance shrunk 10% to identity) <= the ${VAL_ACCEPTANCE * 100}th percentile of the validation X-rays' distances`,
      file: GATE_FILE,
    },
  };
}
