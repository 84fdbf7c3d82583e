import sharp from 'sharp';
import type { PreprocessingSpec } from '../model/card.js';
import { XrayError } from '../core/errors.js';
import { lungBox, lungsFound, type LungBox, type LungMask } from '../lungs/mask.js';
import { decodeImage, type DecodeLimits, type DecodedImage } from './decode.js';
import { cutOutFilm } from './film.js';

/** The model's input for one image: `size * size` floats, row-major, one grey channel. */
export interface ModelInput {
  data: Float32Array;
  size: number;
  /** The region of the working copy the input was made from (for mapping heatmaps back). */
  region: { left: number; top: number; width: number; height: number };
}

export interface Prepared {
  /** The image the input was made from: the film cut out of a phone photo of one, or the image. */
  decoded: DecodedImage;
  input: ModelInput;
  /** True when the image looked like a phone photo of a film or screen and was cut to it. */
  film: boolean;
  /** The lung mask, when a lung finder was given. */
  lungs?: LungMask;
}

/** The lung segmenter as preprocessing sees it (see `src/lungs/segment.ts`). */
export interface LungFinder {
  /** Below this plausibility the lungs count as not found (from the lung model's card). */
  readonly minPlausibility: number;
  segment(image: DecodedImage): Promise<LungMask>;
}

export interface PreprocessOptions {
  limits?: DecodeLimits | undefined;
  /** Required when the spec has a lung step; when given, the mask is returned either way. */
  lungs?: LungFinder | undefined;
}

/**
 * THE preprocessing path: image bytes -> model input, as the model card says. Training,
 * evaluation, the CLI and every adapter go through here (training may augment the decoded image
 * in between, see `toModelInput`).
 */
export async function preprocess(
  bytes: Uint8Array,
  spec: PreprocessingSpec,
  options: PreprocessOptions = {},
): Promise<Prepared> {
  return prepareDecoded(await decodeImage(bytes, options.limits), spec, options.lungs);
}

/** `preprocess` after decoding (training augments or simulates photos on decoded images). */
export async function prepareDecoded(
  image: DecodedImage,
  spec: PreprocessingSpec,
  finder?: LungFinder,
): Promise<Prepared> {
  // A phone photo of a film or screen: the X-ray, not the light box or the room, goes on.
  const film = spec.film === true ? cutOutFilm(image) : null;
  const decoded = film ?? image;
  if (spec.lungs !== undefined && finder === undefined)
    throw new XrayError('model_invalid', 'This model needs its lung model (lungs/ in the model folder).');
  const lungs =
    finder === undefined
      ? undefined
      : { mask: await finder.segment(decoded), minPlausibility: finder.minPlausibility };
  const input = await toModelInput(decoded, spec, lungs);
  return { decoded, input, film: film !== null, ...(lungs === undefined ? {} : { lungs: lungs.mask }) };
}

/** Crop (central, or to the lungs), square fit, contrast equalisation and scaling of a decoded image. */
export async function toModelInput(
  image: DecodedImage,
  spec: PreprocessingSpec,
  lungs?: { mask: LungMask; minPlausibility: number },
): Promise<ModelInput> {
  const region = modelRegion(image, spec, lungs);
  const overLungs = stretchesOverLungs(spec.contrast);
  if (overLungs && lungs === undefined)
    throw new XrayError('model_invalid', 'A contrast stretch over the lungs needs the lung mask.');
  // Over the lungs when found; otherwise the crop's own percentiles, as `normalise`.
  const lungRange =
    overLungs && lungs !== undefined && lungsFound(lungs.mask, lungs.minPlausibility)
      ? percentileRange(image.data, lungs.mask.data)
      : undefined;
  let pipeline = sharp(image.data, { raw: { width: image.width, height: image.height, channels: 1 } })
    .extract(region)
    .resize({
      width: spec.size,
      height: spec.size,
      fit: spec.fit,
      background: '#000000',
      kernel: 'lanczos3',
    });
  const keep =
    spec.lungs?.mask === true && lungs !== undefined && lungsFound(lungs.mask, lungs.minPlausibility)
      ? await lungWeights(lungs.mask, region, spec)
      : undefined;
  const finish = (grey: Uint8Array): ModelInput => ({
    data: scale(keep === undefined ? grey : blankOutside(grey, keep), spec.scale),
    size: spec.size,
    region,
  });
  // Equalise after resizing so the statistics come from the same pixels the model sees.
  // (Over the lungs, the range comes from the lung pixels of the decoded image instead.)
  if (spec.contrast !== 'none') {
    // extractChannel: sharp writes 1-band raw input back out as 3 bands unless told otherwise.
    const resized = await pipeline.extractChannel(0).raw().toBuffer();
    if (lungRange !== undefined) {
      const gamma = spec.contrast === 'normalise-lungs-gamma' ? midGreyGamma(lungRange) : 1;
      return finish(stretch(resized, lungRange, gamma));
    }
    pipeline = sharp(resized, { raw: { width: spec.size, height: spec.size, channels: 1 } });
    pipeline =
      spec.contrast === 'normalise' || overLungs
        ? pipeline.normalise({ lower: 1, upper: 99 })
        : pipeline.clahe({
            width: Math.max(2, Math.round(spec.size / 8)),
            height: Math.max(2, Math.round(spec.size / 8)),
            maxSlope: 3,
          });
  }
  return finish(await pipeline.extractChannel(0).raw().toBuffer());
}

/**
 * How much of each input pixel a lung-masked model sees (0..255): the lung mask cut to the model's
 * region and sized like the input, with a soft edge that reaches a few pixels past the lungs, so
 * the lung borders stay and no hard outline is there for the network to key on.
 */
async function lungWeights(mask: LungMask, region: LungBox, spec: PreprocessingSpec): Promise<Uint8Array> {
  const sized = await maskInRegion(mask, region, spec.size, {
    fit: spec.fit,
    blur: Math.max(0.5, spec.size / 48),
  });
  // Doubling turns the blur's half-way line (the mask's edge) into full weight: the edge moves out.
  return Uint8Array.from(sized, (w) => Math.min(255, w * 2));
}

/**
 * A lung mask (or any 0..255 mask at the decoded image's size) cut to `region` and resized to
 * `size` x `size`, optionally blurred: the mask in the frame the model sees.
 */
export async function maskInRegion(
  mask: { width: number; height: number; data: Uint8Array },
  region: LungBox,
  size: number,
  options: { fit?: PreprocessingSpec['fit']; kernel?: 'linear'; blur?: number } = {},
): Promise<Uint8Array> {
  let pipeline = sharp(mask.data, { raw: { width: mask.width, height: mask.height, channels: 1 } })
    .extract(region)
    .resize({
      width: size,
      height: size,
      fit: options.fit ?? 'fill',
      background: '#000000',
      ...(options.kernel === undefined ? {} : { kernel: options.kernel }),
    });
  if (options.blur !== undefined) pipeline = pipeline.blur(options.blur);
  return pipeline.extractChannel(0).raw().toBuffer();
}

/** `grey` kept where `weights` is 255, faded to black where it falls to 0. */
function blankOutside(grey: Uint8Array, weights: Uint8Array): Uint8Array {
  return Uint8Array.from(grey, (v, i) => Math.round((v * (weights[i] ?? 0)) / 255));
}

/**
 * The part of the image the model sees: the lung box plus margin when the spec crops to the
 * lungs and they were found, else the central fraction. (Serving refuses images whose lungs
 * are not found; training and evaluation keep them with the central crop and count them.)
 */
export function modelRegion(
  image: { width: number; height: number },
  spec: PreprocessingSpec,
  lungs?: { mask: LungMask; minPlausibility: number },
): LungBox {
  if (spec.lungs?.crop === true) {
    if (lungs === undefined) throw new XrayError('model_invalid', 'A lung crop needs the lung mask.');
    const box = lungsFound(lungs.mask, lungs.minPlausibility) ? lungBox(lungs.mask, spec.lungs.margin) : null;
    if (box !== null && box.width > 0 && box.height > 0) return box;
  }
  return centralRegion(image.width, image.height, spec.crop);
}

export function centralRegion(
  width: number,
  height: number,
  fraction: number,
): { left: number; top: number; width: number; height: number } {
  const w = Math.max(1, Math.round(width * fraction));
  const h = Math.max(1, Math.round(height * fraction));
  return { left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h };
}

/** Whether the contrast step takes its range over the lung pixels (and so needs the lung mask). */
export function stretchesOverLungs(contrast: PreprocessingSpec['contrast']): boolean {
  return contrast === 'normalise-lungs' || contrast === 'normalise-lungs-gamma';
}

/** Where `normalise-lungs-gamma` puts the lungs' median grey, on the stretched 0..1 scale. */
export const LUNG_MEDIAN_TARGET = 0.5;

/**
 * The gamma that takes the lungs' median, once stretched, to `LUNG_MEDIAN_TARGET`; kept within
 * 0.4..2.5 so that a range squeezed onto a few grey levels is not bent beyond recognition.
 */
export function midGreyGamma({ low, high, median }: GreyRange): number {
  if (high <= low) return 1;
  const m = Math.min(0.98, Math.max(0.02, (median - low) / (high - low)));
  return Math.min(2.5, Math.max(0.4, Math.log(LUNG_MEDIAN_TARGET) / Math.log(m)));
}

/** Grey levels of the pixels a contrast step looks at: 1st and 99th percentile, and the median. */
export interface GreyRange {
  low: number;
  high: number;
  median: number;
}

/**
 * The 1st and 99th percentile (the range `normalise` stretches) and the median of the grey
 * values where `mask` is set.
 */
export function percentileRange(grey: Uint8Array, mask: Uint8Array): GreyRange {
  const histogram = new Uint32Array(256);
  let n = 0;
  for (let i = 0; i < grey.length; i++) {
    if ((mask[i] ?? 0) === 0) continue;
    const v = grey[i] ?? 0;
    histogram[v] = (histogram[v] ?? 0) + 1;
    n++;
  }
  const at = (share: number) => {
    let seen = 0;
    for (let v = 0; v < 256; v++) {
      seen += histogram[v] ?? 0;
      if (seen >= share * n) return v;
    }
    return 255;
  };
  return { low: at(0.01), high: at(0.99), median: at(0.5) };
}

/**
 * `low`..`high` stretched to 0..255 (clipped), linearly or bent by `gamma` (the stretched 0..1
 * value raised to it); a flat range leaves the values as they are.
 */
function stretch(grey: Uint8Array, { low, high }: { low: number; high: number }, gamma = 1): Uint8Array {
  if (high <= low) return grey;
  const factor = 255 / (high - low);
  const curve = new Uint8Array(256);
  for (let v = 0; v < 256; v++) {
    // Clipped before rounding, so Uint8Array never wraps a value below 0 or above 255.
    const linear = Math.min(255, Math.max(0, (v - low) * factor));
    curve[v] = Math.round(gamma === 1 ? linear : 255 * (linear / 255) ** gamma);
  }
  return grey.map((v) => curve[v] ?? 0);
}

function scale(grey: Uint8Array, mode: PreprocessingSpec['scale']): Float32Array {
  const out = new Float32Array(grey.length);
  if (mode === 'unit') {
    for (let i = 0; i < grey.length; i++) out[i] = (grey[i] ?? 0) / 255;
    return out;
  }
  let sum = 0;
  for (const v of grey) sum += v;
  const mean = sum / grey.length;
  let sq = 0;
  for (const v of grey) sq += (v - mean) ** 2;
  // A flat image has no variance; the floor keeps it finite (all zeros) instead of NaN.
  const std = Math.max(Math.sqrt(sq / grey.length), 1);
  for (let i = 0; i < grey.length; i++) out[i] = ((grey[i] ?? 0) - mean) / std;
  return out;
}
