import sharp from 'sharp';
import type { PreprocessingSpec } from '../model/card.js';
import { decodeImage, type DecodeLimits, type DecodedImage } from './decode.js';

/** The model's input for one image: `size * size` floats, row-major, one grey channel. */
export interface ModelInput {
  data: Float32Array;
  size: number;
  /** The region of the working copy the input was made from (for mapping heatmaps back). */
  region: { left: number; top: number; width: number; height: number };
}

export interface Prepared {
  decoded: DecodedImage;
  input: ModelInput;
}

/**
 * THE preprocessing path: image bytes -> model input, as the model card says. Training,
 * evaluation, the CLI and every adapter go through here (training may augment the decoded image
 * in between, see `toModelInput`).
 */
export async function preprocess(
  bytes: Uint8Array,
  spec: PreprocessingSpec,
  limits?: DecodeLimits,
): Promise<Prepared> {
  const decoded = await decodeImage(bytes, limits);
  return { decoded, input: await toModelInput(decoded, spec) };
}

/** Central crop, square fit, contrast equalisation and scaling of a decoded image. */
export async function toModelInput(image: DecodedImage, spec: PreprocessingSpec): Promise<ModelInput> {
  const region = centralRegion(image.width, image.height, spec.crop);
  let pipeline = sharp(image.data, { raw: { width: image.width, height: image.height, channels: 1 } })
    .extract(region)
    .resize({
      width: spec.size,
      height: spec.size,
      fit: spec.fit,
      background: '#000000',
      kernel: 'lanczos3',
    });
  // Equalise after resizing so the statistics come from the same pixels the model sees.
  if (spec.contrast !== 'none') {
    // extractChannel: sharp writes 1-band raw input back out as 3 bands unless told otherwise.
    pipeline = sharp(await pipeline.extractChannel(0).raw().toBuffer(), {
      raw: { width: spec.size, height: spec.size, channels: 1 },
    });
    pipeline =
      spec.contrast === 'normalise'
        ? pipeline.normalise({ lower: 1, upper: 99 })
        : pipeline.clahe({
            width: Math.max(2, Math.round(spec.size / 8)),
            height: Math.max(2, Math.round(spec.size / 8)),
            maxSlope: 3,
          });
  }
  const grey = await pipeline.extractChannel(0).raw().toBuffer();
  return { data: scale(grey, spec.scale), size: spec.size, region };
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
