import type * as tfTypes from '@tensorflow/tfjs';
import path from 'node:path';
import sharp from 'sharp';
import { initBackend, tf, type BackendName } from '../tf/backend.js';
import { XrayError } from '../core/errors.js';
import type { DecodedImage } from '../image/decode.js';
import { toModelInput, type LungFinder, type ModelInput } from '../image/preprocess.js';
import type { PreprocessingSpec } from '../model/card.js';
import { loadModel } from '../model/io.js';
import { readLungCard, type LungCard } from './card.js';
import { foldBatchNorm } from './unet.js';
import type { LungBox, LungMask } from './mask.js';

export { lungBox, lungsFound, LUNGS_NOT_FOUND, type LungBox, type LungMask } from './mask.js';

export interface Segmenter extends LungFinder {
  readonly card: LungCard;
  readonly backend: BackendName;
  /** Per-pixel lung probabilities (size * size) for a ready-made input. */
  predict(input: ModelInput): Promise<Float32Array>;
  /** Decoded image -> lung mask of the same size. */
  segment(decoded: DecodedImage): Promise<LungMask>;
  dispose(): void;
}

export interface SegmenterOptions {
  modelDir: string;
  backend?: BackendName | undefined;
}

export async function createSegmenter(options: SegmenterOptions): Promise<Segmenter> {
  const backend = await initBackend(options.backend);
  const card = await readLungCard(options.modelDir);
  const trained = await loadModel(options.modelDir);
  checkShapes(trained, card);
  const size = card.preprocessing.size;
  const model = foldBatchNorm(trained, { size, filters: card.architecture.filters, seed: 1 });
  trained.dispose();

  const predict = async (input: ModelInput): Promise<Float32Array> => {
    if (input.size !== size) throw new Error(`Input of ${input.size} px for a ${size} px segmenter.`);
    const output = tf.tidy(
      () => model.predict(tf.tensor4d(input.data, [1, size, size, 1])) as tfTypes.Tensor,
    );
    const values = (await output.data()) as Float32Array;
    output.dispose();
    return values;
  };

  return {
    card,
    backend,
    minPlausibility: card.minPlausibility,
    predict,
    async segment(decoded) {
      const input = await toModelInput(decoded, card.preprocessing);
      const probabilities = await predict(input);
      return maskFromProbabilities(probabilities, size, input.region, decoded, card.threshold);
    },
    dispose: () => model.dispose(),
  };
}

/** Where a classifier keeps the lung model its card's `preprocessing.lungs` names. */
export const LUNG_MODEL_DIR = 'lungs';

/**
 * The lung model a classifier's preprocessing asks for, from `lungs/` in its folder (or
 * `lungsDir`), checked against the version the classifier was trained with: a different
 * segmenter would crop differently from what the classifier learnt. Undefined when the
 * spec has no lung step.
 */
export async function segmenterFor(
  spec: PreprocessingSpec,
  modelDir: string,
  options: { backend?: BackendName | undefined; lungsDir?: string | undefined } = {},
): Promise<Segmenter | undefined> {
  if (spec.lungs === undefined) return undefined;
  const dir = options.lungsDir ?? path.join(modelDir, LUNG_MODEL_DIR);
  const segmenter = await createSegmenter({ modelDir: dir, backend: options.backend });
  if (segmenter.card.version !== spec.lungs.model) {
    segmenter.dispose();
    throw new XrayError(
      'model_invalid',
      `The classifier was trained with lung model ${spec.lungs.model}; ${dir} holds ${segmenter.card.version}.`,
    );
  }
  return segmenter;
}

function checkShapes(model: tfTypes.LayersModel, card: LungCard): void {
  const expected = JSON.stringify([null, card.input.height, card.input.width, 1]);
  const input = JSON.stringify(model.inputs[0]?.shape);
  const output = JSON.stringify(model.outputs[0]?.shape);
  if (model.inputs.length !== 1 || model.outputs.length !== 1 || input !== expected || output !== expected) {
    throw new XrayError(
      'model_invalid',
      `The lung model maps ${input} to ${output}; its card says ${expected} to the same.`,
    );
  }
}

/**
 * Model output -> mask at the image's size. The components are cleaned at the model's
 * resolution (see `cleanLungMask`; cheap there, costly on a 1024 px image), then the cleaned
 * probabilities are up-sampled bilinearly onto the region the input was made from and
 * thresholded, which gives smooth edges at full resolution.
 */
export async function maskFromProbabilities(
  probabilities: Float32Array,
  size: number,
  region: LungBox,
  image: { width: number; height: number },
  threshold: number,
): Promise<LungMask> {
  const coarse = Uint8Array.from(probabilities, (p) => (p >= threshold ? 255 : 0));
  const cleaned = cleanLungMask(coarse, size, size);
  // Kept pixels stay above the threshold (filled holes are lifted), dropped specks go to 0.
  const lifted = Math.min(1, threshold + 0.05);
  const grey = new Uint8Array(size * size);
  for (let i = 0; i < grey.length; i++) {
    const p = Math.min(1, Math.max(0, probabilities[i] ?? 0));
    const q = cleaned.data[i] !== 0 ? Math.max(p, lifted) : p >= threshold ? 0 : p;
    grey[i] = Math.round(q * 255);
  }
  const resized = await sharp(grey, { raw: { width: size, height: size, channels: 1 } })
    .resize({ width: region.width, height: region.height, fit: 'fill', kernel: 'linear' })
    .extractChannel(0)
    .raw()
    .toBuffer();
  const { width, height } = image;
  const data = new Uint8Array(width * height);
  const cut = threshold * 255;
  let [area, left, top, right, bottom] = [0, width, height, 0, 0];
  for (let y = 0; y < region.height; y++) {
    for (let x = 0; x < region.width; x++) {
      if ((resized[y * region.width + x] ?? 0) < cut) continue;
      const [ix, iy] = [x + region.left, y + region.top];
      data[iy * width + ix] = 255;
      area++;
      if (ix < left) left = ix;
      if (iy < top) top = iy;
      if (ix >= right) right = ix + 1;
      if (iy >= bottom) bottom = iy + 1;
    }
  }
  // The components' shape figures, moved from model pixels into image pixels.
  const [sx, sy] = [region.width / size, region.height / size];
  const components = cleaned.components.map((c) => ({
    area: c.area * sx * sy,
    left: region.left + c.left * sx,
    top: region.top + c.top * sy,
    right: region.left + c.right * sx,
    bottom: region.top + c.bottom * sy,
    cx: region.left + (c.cx + 0.5) * sx,
    cy: region.top + (c.cy + 0.5) * sy,
  }));
  return {
    width,
    height,
    data,
    area: area / (width * height),
    box: area === 0 ? null : { left, top, width: right - left, height: bottom - top },
    plausibility: plausibility(components, width, height),
    components: components.length,
  };
}

export interface Component {
  area: number;
  left: number;
  top: number;
  /** Exclusive. */
  right: number;
  bottom: number;
  cx: number;
  cy: number;
}

/** A component smaller than this share of the largest is noise, not a lung. */
const MIN_COMPONENT_SHARE = 0.1;

/**
 * Keeps the two largest components (a second one only if it is at least a tenth of the first)
 * and fills holes: hand-drawn lung masks are two solid regions, so anything else is noise.
 */
export function cleanLungMask(
  mask: Uint8Array,
  width: number,
  height: number,
): { data: Uint8Array; components: Component[] } {
  const { labels, components } = labelComponents(mask, width, height, true);
  const ranked = components.map((c, i) => ({ c, label: i + 1 })).sort((a, b) => b.c.area - a.c.area);
  const largest = ranked[0]?.c.area ?? 0;
  const kept = ranked.slice(0, 2).filter((r) => r.c.area >= MIN_COMPONENT_SHARE * largest);
  const keep = new Set(kept.map((r) => r.label));
  const data = new Uint8Array(width * height);
  for (let i = 0; i < data.length; i++) if (keep.has(labels[i] ?? 0)) data[i] = 255;
  fillHoles(data, width, height);
  // Recount after filling: the holes add to the areas.
  return { data, components: labelComponents(data, width, height, true).components };
}

/** Background regions that do not touch the border become lung. */
function fillHoles(mask: Uint8Array, width: number, height: number): void {
  const { labels, components } = labelComponents(mask, width, height, false);
  const enclosed = components.map((c) => c.left > 0 && c.top > 0 && c.right < width && c.bottom < height);
  for (let i = 0; i < mask.length; i++) {
    const label = labels[i] ?? 0;
    if (label > 0 && enclosed[label - 1]) mask[i] = 255;
  }
}

/**
 * 4-connected components of the pixels that are non-zero (`foreground`) or zero; `labels`
 * holds 1..n per pixel (0 for the other kind), `components[k - 1]` describes label k.
 */
export function labelComponents(
  mask: Uint8Array,
  width: number,
  height: number,
  foreground: boolean,
): { labels: Int32Array; components: Component[] } {
  const n = width * height;
  const labels = new Int32Array(n);
  // 1 where the pixel is of the kind we label: one flat pass keeps the flood fill branch-light.
  const kind = new Uint8Array(n);
  for (let i = 0; i < n; i++) kind[i] = (mask[i] !== 0) === foreground ? 1 : 0;
  const components: Component[] = [];
  const stack = new Int32Array(n);
  for (let start = 0; start < n; start++) {
    if (kind[start] === 0 || labels[start] !== 0) continue;
    const label = components.length + 1;
    let [area, sumX, sumY, left, top, right, bottom] = [0, 0, 0, width, height, 0, 0];
    let depth = 0;
    stack[depth++] = start;
    labels[start] = label;
    while (depth > 0) {
      const i = stack[--depth]!;
      const x = i % width;
      const y = (i - x) / width;
      area++;
      sumX += x;
      sumY += y;
      if (x < left) left = x;
      if (y < top) top = y;
      if (x >= right) right = x + 1;
      if (y >= bottom) bottom = y + 1;
      // Each pixel is pushed once: it is labelled when pushed.
      if (x > 0 && kind[i - 1] === 1 && labels[i - 1] === 0) {
        labels[i - 1] = label;
        stack[depth++] = i - 1;
      }
      if (x + 1 < width && kind[i + 1] === 1 && labels[i + 1] === 0) {
        labels[i + 1] = label;
        stack[depth++] = i + 1;
      }
      if (y > 0 && kind[i - width] === 1 && labels[i - width] === 0) {
        labels[i - width] = label;
        stack[depth++] = i - width;
      }
      if (y + 1 < height && kind[i + width] === 1 && labels[i + width] === 0) {
        labels[i + width] = label;
        stack[depth++] = i + width;
      }
    }
    components.push({ area, left, top, right, bottom, cx: sumX / area, cy: sumY / area });
  }
  return { labels, components };
}

/** Area, box and plausibility of a cleaned mask. */
export function describeMask(
  cleaned: { data: Uint8Array; components: Component[] },
  width: number,
  height: number,
): LungMask {
  const { data, components } = cleaned;
  const area = components.reduce((s, c) => s + c.area, 0) / (width * height);
  const box =
    components.length === 0
      ? null
      : {
          left: Math.min(...components.map((c) => c.left)),
          top: Math.min(...components.map((c) => c.top)),
          width: Math.max(...components.map((c) => c.right)) - Math.min(...components.map((c) => c.left)),
          height: Math.max(...components.map((c) => c.bottom)) - Math.min(...components.map((c) => c.top)),
        };
  return {
    width,
    height,
    data,
    area,
    box,
    plausibility: plausibility(components, width, height),
    components: components.length,
  };
}

/** 1 inside [lo, hi], falling linearly to 0 at [zeroLo, zeroHi]. */
function ramp(v: number, zeroLo: number, lo: number, hi: number, zeroHi: number): number {
  if (v <= zeroLo || v >= zeroHi) return 0;
  if (v < lo) return (v - zeroLo) / (lo - zeroLo);
  if (v > hi) return (zeroHi - v) / (zeroHi - hi);
  return 1;
}

/**
 * How much the components look like a pair of lungs on a frontal chest X-ray, 0..1: the
 * product of total area (hand-drawn masks cover roughly 15-45 % of the image), the pair's
 * centre not at an edge, and for two components: side by side, at similar heights, of
 * similar size. One component (lungs touching, or one lung not found) scores at most 0.5.
 */
export function plausibility(components: readonly Component[], width: number, height: number): number {
  if (components.length === 0) return 0;
  const total = components.reduce((s, c) => s + c.area, 0);
  const areaScore = ramp(total / (width * height), 0.02, 0.08, 0.6, 0.85);
  const cx = components.reduce((s, c) => s + c.cx * c.area, 0) / total / width;
  const cy = components.reduce((s, c) => s + c.cy * c.area, 0) / total / height;
  const placeScore = ramp(cx, 0.1, 0.3, 0.7, 0.9) * ramp(cy, 0.1, 0.25, 0.75, 0.9);
  const [a, b] = components;
  if (a === undefined || b === undefined) {
    const c = components[0];
    const wide = c === undefined ? 0 : ramp((c.right - c.left) / width, 0.1, 0.4, 1.1, 1.2);
    return 0.5 * areaScore * placeScore * Math.max(0.5, wide);
  }
  const [left, right] = a.cx < b.cx ? [a, b] : [b, a];
  const separation = ramp((right.cx - left.cx) / width, 0.05, 0.2, 0.8, 0.95);
  const level = ramp(Math.abs(right.cy - left.cy) / height, -1, 0, 0.15, 0.4);
  const balance = ramp(Math.min(a.area, b.area) / Math.max(a.area, b.area), 0.05, 0.3, 1, 1.1);
  return areaScore * placeScore * separation * level * balance;
}

/** Lung pixels with a background 4-neighbour (or on the image border): the mask's outline. */
export function maskOutline(mask: LungMask): Uint8Array {
  const { width, height, data } = mask;
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (data[i] === 0) continue;
      const edge =
        x === 0 ||
        y === 0 ||
        x === width - 1 ||
        y === height - 1 ||
        data[i - 1] === 0 ||
        data[i + 1] === 0 ||
        data[i - width] === 0 ||
        data[i + width] === 0;
      if (edge) out[i] = 255;
    }
  }
  return out;
}
