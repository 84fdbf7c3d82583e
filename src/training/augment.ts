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
  /**
   * Share of images lit unevenly, as a phone sees a film on a light box or a screen: a gradient,
   * vignetting and (for 60% of them) a glare spot, then stretched to 0..1 again as preprocessing
   * would. 0 (or absent, in cards before it existed) is off.
   */
  shading?: number;
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
    const shading = o.shading ?? 0;
    if (shading > 0) y = unevenLight(y as tfTypes.Tensor4D, random, shading);

    return photometric(y, random, o);
  });
}

/**
 * Uneven light on a share of the images (values 0..1): x * light + glare, where light is a
 * gradient across the image times lens vignetting and glare a bright spot (a lamp reflected in the
 * film or screen); then stretched back to 0..1, as the contrast step does at serving time. The
 * ranges are those of a hand-held phone photo. Call inside `tf.tidy`.
 */
export function unevenLight(x: tfTypes.Tensor4D, random: Random, share: number): tfTypes.Tensor4D {
  const [b, size] = x.shape;
  // Pixel centres from -0.5 to 0.5 across the image.
  const ramp = tf.sub(tf.div(tf.add(tf.range(0, size, 1, 'float32'), 0.5), size), 0.5);
  const u = tf.reshape(ramp, [1, 1, size, 1]);
  const v = tf.reshape(ramp, [1, size, 1, 1]);
  const draws = Array.from({ length: b }, () => {
    const lit = random() < share;
    const angle = randomUniform(random, 0, 2 * Math.PI);
    return {
      lit,
      cos: Math.cos(angle),
      sin: Math.sin(angle),
      gradient: lit ? randomUniform(random, 0.1, 0.35) : 0,
      vignette: lit ? randomUniform(random, 0.05, 0.25) : 0,
      glare: lit && random() < 0.6 ? randomUniform(random, 0.15, 0.5) : 0,
      gx: randomUniform(random, -0.3, 0.3),
      gy: randomUniform(random, -0.3, 0.3),
      sigma: randomUniform(random, 0.05, 0.25),
    };
  });
  type Draw = (typeof draws)[number];
  const p = (k: keyof Draw) =>
    tf.tensor4d(
      draws.map((d) => Number(d[k])),
      [b, 1, 1, 1],
    );
  const along = tf.add(tf.mul(u, p('cos')), tf.mul(v, p('sin')));
  const r2 = tf.add(tf.square(u), tf.square(v));
  const light = tf.mul(
    tf.add(1, tf.mul(tf.mul(along, p('gradient')), 2)),
    tf.sub(1, tf.mul(tf.mul(r2, p('vignette')), 2)),
  );
  const d2 = tf.add(tf.square(tf.sub(u, p('gx'))), tf.square(tf.sub(v, p('gy'))));
  const spot = tf.mul(p('glare'), tf.exp(tf.div(tf.neg(d2), tf.mul(2, tf.square(p('sigma'))))));
  const y = tf.add(tf.mul(x, light), spot);
  const low = tf.min(y, [1, 2, 3], true);
  const high = tf.max(y, [1, 2, 3], true);
  const stretched = tf.div(tf.sub(y, low), tf.maximum(tf.sub(high, low), 1e-6));
  return tf.where(tf.cast(tf.broadcastTo(p('lit'), x.shape), 'bool'), stretched, x) as tfTypes.Tensor4D;
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
