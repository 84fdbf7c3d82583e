import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from '../tf/backend.js';

export const ARCHITECTURES = ['seed', 'default', 'wide'] as const;
export type Architecture = (typeof ARCHITECTURES)[number];

/** Name of the layer Grad-CAM explains; written into the card as `explainLayer`. */
export const EXPLAIN_LAYER = 'last_conv_block';

/**
 * The seed project's CNN, kept as the baseline we compare with: 2 x [conv 3x3, 32 + max-pool],
 * dense 128, sigmoid, at 64x64 (grey here; the seed used 3 identical channels).
 */
export function seedCnn(size = 64, seed = 1): tfTypes.LayersModel {
  const init = (i: number) => tf.initializers.glorotUniform({ seed: seed + i });
  return tf.sequential({
    name: 'seed_cnn',
    layers: [
      tf.layers.conv2d({ inputShape: [size, size, 1], filters: 32, kernelSize: 3, activation: 'relu', kernelInitializer: init(1) }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu', kernelInitializer: init(2), name: EXPLAIN_LAYER }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 128, activation: 'relu', kernelInitializer: init(3) }),
      tf.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: init(4) }),
    ],
  });
}

/**
 * Our default: blocks of [conv 3x3 + batch norm + ReLU + max-pool], global average pooling
 * instead of a huge flatten, dropout, one sigmoid unit. Small enough to train in minutes on 2
 * cores with the wasm backend.
 */
export function defaultCnn(size = 128, options: { filters?: number[]; dropout?: number; seed?: number } = {}): tfTypes.LayersModel {
  const filters = options.filters ?? [16, 32, 64, 96];
  const seed = options.seed ?? 1;
  const input = tf.input({ shape: [size, size, 1] });
  let x: tfTypes.SymbolicTensor = input;
  filters.forEach((f, i) => {
    const last = i === filters.length - 1;
    x = tf.layers
      .conv2d({
        filters: f,
        kernelSize: 3,
        padding: 'same',
        useBias: false,
        kernelInitializer: tf.initializers.heNormal({ seed: seed + i }),
      })
      .apply(x) as tfTypes.SymbolicTensor;
    // Momentum 0.9, not 0.99: with a few hundred steps per run the moving statistics must settle fast.
    x = tf.layers.batchNormalization({ momentum: 0.9 }).apply(x) as tfTypes.SymbolicTensor;
    x = tf.layers.activation({ activation: 'relu', ...(last ? { name: EXPLAIN_LAYER } : {}) }).apply(x) as tfTypes.SymbolicTensor;
    if (!last) x = tf.layers.maxPooling2d({ poolSize: 2 }).apply(x) as tfTypes.SymbolicTensor;
  });
  x = tf.layers.globalAveragePooling2d({}).apply(x) as tfTypes.SymbolicTensor;
  x = tf.layers.dropout({ rate: options.dropout ?? 0.3, seed }).apply(x) as tfTypes.SymbolicTensor;
  const output = tf.layers
    .dense({ units: 1, activation: 'sigmoid', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 99 }) })
    .apply(x) as tfTypes.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output, name: 'xray_cnn' });
}

/**
 * `default` with 1.5x the filters in every block (about 2.25x the compute and weights): the
 * default's training loss stays high under the photo augmentation, a sign it lacks capacity.
 * Measured with the shipped recipe, it did not make answers on photos steadier (see
 * reports/phone-photos.md), so it is an option, not the default.
 */
export const WIDE_FILTERS = [24, 48, 96, 144];

export function buildArchitecture(name: Architecture, size: number, seed = 1): tfTypes.LayersModel {
  if (name === 'seed') return seedCnn(size, seed);
  return defaultCnn(size, { seed, ...(name === 'wide' ? { filters: WIDE_FILTERS } : {}) });
}
