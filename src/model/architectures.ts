import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from '../tf/backend.js';

export const ARCHITECTURES = ['seed', 'default', 'wide', 'smooth', 'antialiased', 'deep'] as const;
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
export function defaultCnn(
  size = 128,
  options: { filters?: number[]; dropout?: number; seed?: number; inputBlur?: number; antialias?: boolean } = {},
): tfTypes.LayersModel {
  const filters = options.filters ?? [16, 32, 64, 96];
  const seed = options.seed ?? 1;
  const input = tf.input({ shape: [size, size, 1] });
  let x: tfTypes.SymbolicTensor = input;
  const sigma = options.inputBlur;
  const blur = sigma === undefined ? undefined : gaussianBlurLayer(sigma);
  if (blur !== undefined) x = blur.apply(x) as tfTypes.SymbolicTensor;
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
    if (!last) x = downsample(x, options.antialias === true);
  });
  x = tf.layers.globalAveragePooling2d({}).apply(x) as tfTypes.SymbolicTensor;
  x = tf.layers.dropout({ rate: options.dropout ?? 0.3, seed }).apply(x) as tfTypes.SymbolicTensor;
  const output = tf.layers
    .dense({ units: 1, activation: 'sigmoid', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 99 }) })
    .apply(x) as tfTypes.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: output, name: 'xray_cnn' });
  if (blur !== undefined && sigma !== undefined) {
    // Built now, so its fixed kernel can be set; it is saved with the model like any weight.
    const kernel = gaussianKernel(sigma);
    blur.setWeights([kernel]);
    kernel.dispose();
  }
  return model;
}

/**
 * Halves the feature map. Plain: a 2x2 max-pool, whose stride-2 sampling aliases, so a shift of
 * one input pixel can change what comes out. Anti-aliased (Zhang, "Making convolutional networks
 * shift-invariant again", ICML 2019): the max taken densely (stride 1), then a [1 2 1] triangle
 * blur before keeping every other pixel; the blur is two 2x2 average pools, so no kernel is
 * needed that the wasm backend cannot train through. Measured with the shipped recipe
 * (`antialiased`): steadier on phone photos, worse on the collection left out of training (see
 * reports/phone-photos.md), so it is an option, not the default.
 */
export function downsample(x: tfTypes.SymbolicTensor, antialias: boolean): tfTypes.SymbolicTensor {
  if (!antialias) return tf.layers.maxPooling2d({ poolSize: 2 }).apply(x) as tfTypes.SymbolicTensor;
  let y = tf.layers.maxPooling2d({ poolSize: 2, strides: 1, padding: 'same' }).apply(x) as tfTypes.SymbolicTensor;
  y = tf.layers.averagePooling2d({ poolSize: 2, strides: 1, padding: 'same' }).apply(y) as tfTypes.SymbolicTensor;
  return tf.layers.averagePooling2d({ poolSize: 2, strides: 2 }).apply(y) as tfTypes.SymbolicTensor;
}

/**
 * Standard deviation, in input pixels, of the `smooth` network's fixed blur. Measured with the
 * shipped recipe, it made answers on phone photos less steady, not more (1 px and 2 px, see
 * reports/phone-photos.md), so it is an option, not the default.
 */
export const SMOOTH_SIGMA = 1;

/**
 * A fixed (untrained) Gaussian blur as the network's first layer: detail finer than about
 * `sigma` px, where sensor noise, JPEG blocks and screen moiré live, never reaches the filters.
 */
function gaussianBlurLayer(sigma: number): tfTypes.layers.Layer {
  return tf.layers.conv2d({
    filters: 1,
    kernelSize: 2 * Math.ceil(3 * sigma) + 1,
    padding: 'same',
    useBias: false,
    trainable: false,
    name: 'input_blur',
  });
}

function gaussianKernel(sigma: number): tfTypes.Tensor4D {
  const radius = Math.ceil(3 * sigma);
  const side = 2 * radius + 1;
  const values: number[] = [];
  for (let y = -radius; y <= radius; y++)
    for (let x = -radius; x <= radius; x++) values.push(Math.exp(-(x * x + y * y) / (2 * sigma * sigma)));
  const sum = values.reduce((a, b) => a + b, 0);
  return tf.tensor4d(
    values.map((v) => v / sum),
    [side, side, 1, 1],
  );
}

/**
 * `default` with 1.5x the filters in every block (about 2.25x the compute and weights): the
 * default's training loss stays high under the photo augmentation, a sign it lacks capacity.
 * Measured with the shipped recipe, it did not make answers on photos steadier (see
 * reports/phone-photos.md), so it is an option, not the default.
 */
export const WIDE_FILTERS = [24, 48, 96, 144];

/**
 * `default` with a fifth block: each last-block feature sees about 78 of the 96 input pixels
 * instead of 38, enough to see a lung field whole, so that a glare spot, which runs across the
 * lungs' borders, can be told from an opacity, which stays inside them. Measured with the shipped
 * recipe: better on the X-rays and on the collection left out, and on glare, but less steady on
 * phone photos overall; with the photo consistency loss the steadiest on photos measured, and
 * at weight 0.1 the shipped network (see reports/phone-photos.md). `npm run train`'s default stays `default`,
 * quicker to train.
 */
export const DEEP_FILTERS = [16, 32, 64, 96, 128];

export function buildArchitecture(name: Architecture, size: number, seed = 1): tfTypes.LayersModel {
  if (name === 'seed') return seedCnn(size, seed);
  if (name === 'smooth') return defaultCnn(size, { seed, inputBlur: SMOOTH_SIGMA });
  if (name === 'antialiased') return defaultCnn(size, { seed, antialias: true });
  if (name === 'wide') return defaultCnn(size, { seed, filters: WIDE_FILTERS });
  if (name === 'deep') return defaultCnn(size, { seed, filters: DEEP_FILTERS });
  return defaultCnn(size, { seed });
}
