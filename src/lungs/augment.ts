import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from '../tf/backend.js';
import { randomUniform, type Random } from '../training/random.js';
import { photometric } from '../training/augment.js';

export interface LungAugmentOptions {
  /** Max rotation, degrees. */
  rotate: number;
  /** Scale in [1 - scale, 1 + scale]. */
  scale: number;
  /** Max shift, fraction of the side. */
  shift: number;
  /** Contrast factor in [1 - contrast, 1 + contrast]; brightness shift in [-brightness, brightness]. */
  contrast: number;
  brightness: number;
  /** Gamma in [1 - gamma, 1 + gamma]. */
  gamma: number;
  /** Share of images blurred (3x3 box). */
  blurProbability: number;
  /** Max standard deviation of added Gaussian noise. */
  noise: number;
}

/** Film and framing differences between hospitals; never flipped (the heart is on one side). */
export const DEFAULT_LUNG_AUGMENT: LungAugmentOptions = {
  rotate: 10,
  scale: 0.12,
  shift: 0.06,
  contrast: 0.3,
  brightness: 0.1,
  gamma: 0.35,
  blurProbability: 0.25,
  noise: 0.03,
};

/**
 * Augments image/mask batches [B, S, S, 1] (images 0..1, masks 0/1) and returns new tensors.
 * One affine warp per pair moves image and mask together (they are warped as two channels of
 * one tensor); contrast, gamma, blur and noise touch the image only. Parameters come from the
 * seeded `random`.
 */
export function augmentPairs(
  images: tfTypes.Tensor4D,
  masks: tfTypes.Tensor4D,
  random: Random,
  o: LungAugmentOptions = DEFAULT_LUNG_AUGMENT,
): { images: tfTypes.Tensor4D; masks: tfTypes.Tensor4D } {
  const [b, size] = images.shape;
  const perImage = (f: () => number) => tf.tensor4d(Array.from({ length: b }, f), [b, 1, 1, 1]);
  return tf.tidy(() => {
    const matrices: number[] = [];
    for (let i = 0; i < b; i++) matrices.push(...affine(random, o, size));
    const pair = tf.concat([images, masks], 3);
    // Constant 0 outside: black film border for the image, background for the mask.
    const warped = tf.image.transform(pair, tf.tensor2d(matrices, [b, 8]), 'bilinear', 'constant', 0);
    const [warpedImages, warpedMasks] = tf.split(warped, 2, 3) as [tfTypes.Tensor4D, tfTypes.Tensor4D];
    const outMasks = tf.cast(tf.greaterEqual(warpedMasks, 0.5), 'float32') as tfTypes.Tensor4D;

    let y: tfTypes.Tensor = warpedImages;
    const blurred = tf.avgPool(warpedImages, 3, 1, 'same');
    const blur = perImage(() => (random() < o.blurProbability ? 1 : 0));
    y = tf.add(tf.mul(blurred, blur), tf.mul(y, tf.sub(1, blur)));
    const outImages = photometric(y, random, o);
    return { images: outImages, masks: outMasks };
  });
}

/** Rotation and scale about the centre plus a shift, as tf.image.transform's 8 numbers. */
function affine(random: Random, o: LungAugmentOptions, size: number): number[] {
  const angle = (randomUniform(random, -o.rotate, o.rotate) * Math.PI) / 180;
  const inverseScale = 1 / randomUniform(random, 1 - o.scale, 1 + o.scale);
  const tx = randomUniform(random, -o.shift, o.shift) * size;
  const ty = randomUniform(random, -o.shift, o.shift) * size;
  const c = size / 2;
  const cos = Math.cos(angle) * inverseScale;
  const sin = Math.sin(angle) * inverseScale;
  // Output pixel (x, y) samples the input at (a0 x + a1 y + a2, b0 x + b1 y + b2).
  return [cos, -sin, c - cos * c + sin * c + tx, sin, cos, c - sin * c - cos * c + ty, 0, 0];
}
