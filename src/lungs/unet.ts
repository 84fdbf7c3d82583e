import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from '../tf/backend.js';

export interface UNetOptions {
  /** Side of the square grey input, px; must be divisible by 2^(levels). */
  size: number;
  /** Filters of the encoder levels, top to bottom; the bottleneck gets twice the last. */
  filters: readonly number[];
  /** Seed of the weight initialisers, so that a training run is reproducible. */
  seed: number;
}

/**
 * The shipped model's shape. 64 px: masks up-sampled from 64 px keep Dice ~0.98 against the
 * hand-drawn 256 px masks (0.984 from 96 or 128 px), and a forward pass costs ~10 ms on wasm.
 */
export const DEFAULT_UNET: UNetOptions = { size: 64, filters: [8, 16, 32, 64], seed: 1 };

/** Name of the output layer: per-pixel lung probability, [batch, size, size, 1]. */
export const UNET_OUTPUT = 'lung_probability';

type Symbolic = tfTypes.SymbolicTensor;

/**
 * A small U-Net: per level two [conv 3x3 + batch norm + ReLU], max-pool down; a 1x1 conv,
 * nearest up-sampling and concatenation with the skip connection up; a 1x1 sigmoid head.
 * Only ops that our wasm backend trains (see src/tf/wasm-kernels.ts): conv2d, batch norm,
 * relu, maxPool, resizeNearestNeighbor, concat, sigmoid.
 *
 * `folded: true` builds the inference twin: the same layers with batch norm folded into each
 * conv (bias + ReLU fused into one wasm kernel); fill it with `foldBatchNorm`.
 */
export function buildUNet(options: Partial<UNetOptions> = {}, folded = false): tfTypes.LayersModel {
  const { size, filters, seed } = { ...DEFAULT_UNET, ...options };
  const depth = filters.length;
  if (filters.length === 0) throw new Error('A U-Net needs at least one level.');
  if (size % 2 ** depth !== 0) {
    throw new Error(`U-Net input ${size} px is not divisible by 2^${depth} (one halving per level).`);
  }
  let layerSeed = seed;
  const conv = (x: Symbolic, f: number, name: string): Symbolic => {
    const y = tf.layers
      .conv2d({
        filters: f,
        kernelSize: 3,
        padding: 'same',
        useBias: folded, // batch norm's beta does the bias's job while training
        ...(folded ? { activation: 'relu' as const } : {}),
        kernelInitializer: tf.initializers.heNormal({ seed: layerSeed++ }),
        name: `${name}_conv`,
      })
      .apply(x) as Symbolic;
    if (folded) return y;
    const normed = tf.layers.batchNormalization({ name: `${name}_bn` }).apply(y) as Symbolic;
    return tf.layers.activation({ activation: 'relu', name: `${name}_relu` }).apply(normed) as Symbolic;
  };
  const block = (x: Symbolic, f: number, name: string): Symbolic =>
    conv(conv(x, f, `${name}a`), f, `${name}b`);

  const input = tf.input({ shape: [size, size, 1], name: 'xray' });
  const skips: Symbolic[] = [];
  let x: Symbolic = input;
  filters.forEach((f, level) => {
    x = block(x, f, `down${level}`);
    skips.push(x);
    x = tf.layers.maxPooling2d({ poolSize: 2, name: `pool${level}` }).apply(x) as Symbolic;
  });
  x = block(x, 2 * (filters[depth - 1] ?? 1), 'bottleneck');
  for (let level = depth - 1; level >= 0; level--) {
    // A 1x1 conv at the coarse level first halves the channels that reach the costly
    // full-resolution convolutions (concat of f + f instead of 2f + f).
    x = tf.layers
      .conv2d({
        filters: filters[level] ?? 1,
        kernelSize: 1,
        kernelInitializer: tf.initializers.glorotUniform({ seed: layerSeed++ }),
        name: `reduce${level}`,
      })
      .apply(x) as Symbolic;
    x = tf.layers.upSampling2d({ size: [2, 2], name: `up${level}` }).apply(x) as Symbolic;
    const skip = skips[level] as Symbolic;
    x = tf.layers.concatenate({ axis: -1, name: `join${level}` }).apply([x, skip]) as Symbolic;
    x = block(x, filters[level] ?? 1, `dec${level}`);
  }
  const output = tf.layers
    .conv2d({
      filters: 1,
      kernelSize: 1,
      activation: 'sigmoid',
      kernelInitializer: tf.initializers.glorotUniform({ seed: layerSeed++ }),
      name: UNET_OUTPUT,
    })
    .apply(x) as Symbolic;
  return tf.model({ inputs: input, outputs: output, name: 'lung_unet' });
}

/**
 * The inference twin of a trained U-Net: each conv's kernel and bias absorb its batch norm's
 * moving statistics (w' = w * g / sqrt(v + eps), b' = beta - m * g / sqrt(v + eps)), which
 * gives the same output in inference mode with a third of the kernels.
 */
export function foldBatchNorm(trained: tfTypes.LayersModel, options: UNetOptions): tfTypes.LayersModel {
  const twin = buildUNet(options, true);
  for (const layer of twin.layers) {
    if (layer.getWeights().length === 0) continue;
    const source = trained.getLayer(layer.name);
    if (!layer.name.endsWith('_conv')) {
      layer.setWeights(source.getWeights());
      continue;
    }
    const bn = trained.getLayer(layer.name.replace(/_conv$/, '_bn'));
    const [gamma, beta, mean, variance] = bn.getWeights() as [
      tfTypes.Tensor,
      tfTypes.Tensor,
      tfTypes.Tensor,
      tfTypes.Tensor,
    ];
    const epsilon = (bn.getConfig()['epsilon'] as number | undefined) ?? 1e-3;
    const [kernel] = source.getWeights() as [tfTypes.Tensor];
    const weights = tf.tidy(() => {
      const scale = tf.div(gamma, tf.sqrt(tf.add(variance, epsilon)));
      return [tf.mul(kernel, scale), tf.sub(beta, tf.mul(mean, scale))];
    });
    layer.setWeights(weights);
    tf.dispose(weights);
  }
  return twin;
}

/** Float32 weights in bytes, i.e. the size of weights.bin. */
export function weightBytes(model: tfTypes.LayersModel): number {
  return model.countParams() * 4;
}
