/**
 * The gate's second head: a logistic regression that tells frontal chest X-rays from other
 * images, on what the pipeline already computes for every image (the classifier's penultimate
 * features, their distance from the training X-rays, the lung mask's figures and the image's
 * colour, shape and mirror symmetry). Distance and image rules alone let lateral views and other
 * radiographs through; a head fitted on real negatives learns what separates them.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { DecodedImage } from '../image/decode.js';
import type { LungMask } from '../lungs/mask.js';
import { mirrorSymmetry } from './symmetry.js';

export const HEAD_FILE = 'gate-head.json';

/** Everything the head looks at for one image. */
export interface HeadSignals {
  features: ArrayLike<number>;
  /** Mahalanobis distance of the features from the training X-rays. */
  distance: number;
  lungs?: Pick<LungMask, 'plausibility' | 'area' | 'components'> | undefined;
  image: Pick<DecodedImage, 'colourfulness' | 'sourceWidth' | 'sourceHeight' | 'data' | 'width' | 'height'>;
}

/** The head's input vector: features, then the scalar signals (log-scaled where they span decades). */
export function headInput(s: HeadSignals): number[] {
  return [
    ...Array.from(s.features),
    Math.log1p(Math.max(0, s.distance)),
    s.lungs?.plausibility ?? 0,
    s.lungs?.area ?? 0,
    s.lungs?.components ?? 0,
    s.image.colourfulness,
    Math.log(s.image.sourceWidth / s.image.sourceHeight),
    // Last: a head fitted before it existed has one weight fewer and leaves it out. (The lung
    // mask's own symmetry was tried too and added nothing: 226 against 227 of 241 negatives.)
    mirrorSymmetry(s.image),
  ];
}

export const headParamsSchema = z.object({
  /** Per-input standardisation, from the fitting data. */
  mean: z.array(z.number()),
  scale: z.array(z.number()),
  weights: z.array(z.number()),
  bias: z.number(),
});
export type HeadParams = z.infer<typeof headParamsSchema>;

/** Probability that the image is NOT a frontal chest X-ray. */
export function headScore(params: HeadParams, x: readonly number[]): number {
  let z = params.bias;
  for (let i = 0; i < params.weights.length; i++) {
    const v = ((x[i] ?? 0) - (params.mean[i] ?? 0)) / (params.scale[i] ?? 1);
    z += (params.weights[i] ?? 0) * v;
  }
  return 1 / (1 + Math.exp(-z));
}

/**
 * L2 penalty on the standardised weights, by the cross-validated rejection of the real negatives
 * (npm run fit-gate's sample): on model 20261127-1053-default 231 of 241 at every value from
 * 0.002 to 0.02, 227 at 0.05, 216 at 0.2, so the plateau's middle. On 20261127-1633-default the
 * choice matters less (217 at 0.002, 222 at 0.01, 223 at 0.05): the figure moves about as much
 * with the sample of training X-rays.
 */
export const HEAD_L2 = 0.01;

export interface FitOptions {
  /** L2 penalty on the weights (default HEAD_L2). */
  l2?: number;
  iterations?: number;
  learningRate?: number;
}

/**
 * Full-batch gradient descent on the class-balanced logistic loss (both classes weigh the same
 * in total) with an L2 penalty; inputs are standardised first. `y` is 1 for "not a chest X-ray".
 */
export function fitHead(
  x: readonly (readonly number[])[],
  y: readonly (0 | 1)[],
  options: FitOptions = {},
): HeadParams {
  const l2 = options.l2 ?? HEAD_L2;
  const iterations = options.iterations ?? 600;
  const rate = options.learningRate ?? 0.5;
  const n = x.length;
  const d = x[0]?.length ?? 0;
  if (n === 0 || d === 0) throw new Error('The gate head needs examples.');
  const positives = y.filter((v) => v === 1).length;
  if (positives === 0 || positives === n) throw new Error('The gate head needs both X-rays and negatives.');
  const mean = new Array<number>(d).fill(0);
  const scale = new Array<number>(d).fill(0);
  for (const row of x) row.forEach((v, j) => (mean[j] = (mean[j] ?? 0) + v / n));
  for (const row of x) row.forEach((v, j) => (scale[j] = (scale[j] ?? 0) + (v - (mean[j] ?? 0)) ** 2 / n));
  for (let j = 0; j < d; j++) scale[j] = Math.sqrt(scale[j] ?? 0) || 1;
  const z = x.map((row) => row.map((v, j) => (v - (mean[j] ?? 0)) / (scale[j] ?? 1)));
  const sampleWeight = y.map((v) => (v === 1 ? 0.5 / positives : 0.5 / (n - positives)));
  const weights = new Array<number>(d).fill(0);
  let bias = 0;
  for (let it = 0; it < iterations; it++) {
    const grad = weights.map((w) => l2 * w);
    let gradBias = 0;
    for (let i = 0; i < n; i++) {
      const row = z[i] ?? [];
      let s = bias;
      for (let j = 0; j < d; j++) s += (weights[j] ?? 0) * (row[j] ?? 0);
      const err = (1 / (1 + Math.exp(-s)) - (y[i] ?? 0)) * (sampleWeight[i] ?? 0);
      for (let j = 0; j < d; j++) grad[j] = (grad[j] ?? 0) + err * (row[j] ?? 0);
      gradBias += err;
    }
    for (let j = 0; j < d; j++) weights[j] = (weights[j] ?? 0) - rate * (grad[j] ?? 0);
    bias -= rate * gradBias;
  }
  return { mean, scale, weights, bias };
}

/** The score below which `acceptance` of the given X-rays' scores lie (they must pass). */
export function acceptanceThreshold(xrayScores: readonly number[], acceptance: number): number {
  const sorted = [...xrayScores].sort((a, b) => a - b);
  const at = sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(acceptance * sorted.length) - 1))];
  // Never below 0.5: a head unsure either way lets the image through.
  return Math.min(0.999, Math.max(0.5, at ?? 0.5));
}

export async function writeHead(modelDir: string, params: HeadParams): Promise<void> {
  const round = (v: number) => Number(v.toPrecision(7));
  await fs.writeFile(
    path.join(modelDir, HEAD_FILE),
    JSON.stringify({
      mean: params.mean.map(round),
      scale: params.scale.map(round),
      weights: params.weights.map(round),
      bias: round(params.bias),
    }),
  );
}

export async function readHead(modelDir: string, file: string): Promise<HeadParams> {
  const raw = JSON.parse(await fs.readFile(path.join(modelDir, path.basename(file)), 'utf8')) as unknown;
  const params = headParamsSchema.parse(raw);
  if (params.mean.length !== params.weights.length || params.scale.length !== params.weights.length)
    throw new Error(`${file}: the head's vectors differ in length.`);
  return params;
}
