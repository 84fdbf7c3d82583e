import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from '../tf/backend.js';
import { randomUniform, type Random } from './random.js';

export interface AugmentOptions {
  /** Max rotation, degrees. */
  rotate: number;
  /** Max shift, fraction of the side. */
  shift: number;
  /** Zoom range: scale in [1 - zoom, 1 + zoom]. */
  zoom: number;
  /** Contrast factor range [1 - contrast, 1 + contrast]; brightness shift in [-brightness, brightness]. */
  contrast: number;
  brightness: number;
  /** Gamma in [1 - gamma, 1 + gamma]. */
  gamma: number;
  /** Max standard deviation of added Gaussian noise. */
  noise: number;
  /** Share of images blurred (3x3 box) and share scaled down and up again (lost detail). */
  blurProbability: number;
  rescaleProbability: number;
}

/** What differs between hospitals and machines, kept mild: X-rays are not flipped (the heart is on one side). */
export const DEFAULT_AUGMENT: AugmentOptions = {
  rotate: 7,
  shift: 0.06,
  zoom: 0.08,
  contrast: 0.25,
  brightness: 0.08,
  gamma: 0.3,
  noise: 0.03,
  blurProbability: 0.25,
  rescaleProbability: 0.25,
};

/**
 * Augments a batch [B, S, S, 1] with values in 0..1 (the `unit` scale) and returns a new tensor;
 * the input is left alone. Per-image parameters come from the seeded `random`.
 */
export function augmentBatch(
  x: tfTypes.Tensor4D,
  random: Random,
  o: AugmentOptions = DEFAULT_AUGMENT,
): tfTypes.Tensor4D {
  const [b, size] = x.shape;
  const perImage = (f: () => number) => tf.tensor4d(Array.from({ length: b }, f), [b, 1, 1, 1]);
  const coin = (p: number) => perImage(() => (random() < p ? 1 : 0));
  return tf.tidy(() => {
    // One affine transform per image: rotation, zoom and shift around the centre.
    const matrices: number[] = [];
    for (let i = 0; i < b; i++) {
      const angle = (randomUniform(random, -o.rotate, o.rotate) * Math.PI) / 180;
      const scale = 1 / randomUniform(random, 1 - o.zoom, 1 + o.zoom);
      const tx = randomUniform(random, -o.shift, o.shift) * size;
      const ty = randomUniform(random, -o.shift, o.shift) * size;
      const c = size / 2;
      const cos = Math.cos(angle) * scale;
      const sin = Math.sin(angle) * scale;
      // Output pixel (x, y) samples input at (a0 x + a1 y + a2, b0 x + b1 y + b2).
      matrices.push(cos, -sin, c - cos * c + sin * c + tx, sin, cos, c - sin * c - cos * c + ty, 0, 0);
    }
    let y: tfTypes.Tensor = tf.image.transform(x, tf.tensor2d(matrices, [b, 8]), 'bilinear', 'nearest');

    const blurred = tf.avgPool(y as tfTypes.Tensor4D, 3, 1, 'same');
    y = tf.where(tf.cast(tf.broadcastTo(coin(o.blurProbability), y.shape), 'bool'), blurred, y);
    const small = Math.max(8, Math.round(size * randomUniform(random, 0.4, 0.7)));
    const rescaled = tf.image.resizeBilinear(tf.image.resizeBilinear(y as tfTypes.Tensor4D, [small, small]), [
      size,
      size,
    ]);
    y = tf.where(tf.cast(tf.broadcastTo(coin(o.rescaleProbability), y.shape), 'bool'), rescaled, y);

    return photometric(y, random, o);
  });
}

/**
 * Per-image contrast, brightness, gamma and sensor noise on values 0..1: what differs between
 * machines and hospitals. Shared with the lung segmenter's augmentation; call inside `tf.tidy`.
 */
export function photometric(
  x: tfTypes.Tensor,
  random: Random,
  o: Pick<AugmentOptions, 'contrast' | 'brightness' | 'gamma' | 'noise'>,
): tfTypes.Tensor4D {
  const b = x.shape[0] ?? 1;
  const perImage = (f: () => number) => tf.tensor4d(Array.from({ length: b }, f), [b, 1, 1, 1]);
  const mean = tf.mean(x, [1, 2, 3], true);
  const contrast = perImage(() => randomUniform(random, 1 - o.contrast, 1 + o.contrast));
  const brightness = perImage(() => randomUniform(random, -o.brightness, o.brightness));
  let y = tf.clipByValue(tf.add(tf.add(tf.mul(tf.sub(x, mean), contrast), mean), brightness), 0, 1);
  const gamma = perImage(() => randomUniform(random, 1 - o.gamma, 1 + o.gamma));
  y = tf.pow(tf.add(y, 1e-6), gamma);
  const sigma = perImage(() => randomUniform(random, 0, o.noise));
  const noise = tf.mul(tf.randomNormal(y.shape, 0, 1, 'float32', Math.floor(random() * 2 ** 31)), sigma);
  return tf.clipByValue(tf.add(y, noise), 0, 1) as tfTypes.Tensor4D;
}
