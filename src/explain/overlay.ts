import sharp from 'sharp';
import type { DecodedImage } from '../image/decode.js';
import type { Heatmap } from '../core/result.js';

/** Longest side of the picture sent back to the user. */
const OVERLAY_SIDE = 512;
const LEGEND_HEIGHT = 22;

/** Turbo-like colour map (Mikhailov 2019), sampled at 8 stops and interpolated. */
const STOPS: readonly [number, number, number][] = [
  [48, 18, 59],
  [65, 105, 226],
  [28, 186, 229],
  [70, 247, 131],
  [190, 244, 52],
  [250, 186, 57],
  [232, 83, 20],
  [122, 4, 3],
];

/** 256-entry lookup tables: colour per map value, and how opaque the colour is laid on. */
const LUT = new Uint8Array(256 * 3);
const ALPHA = new Float32Array(256);
for (let i = 0; i < 256; i++) {
  const [r, g, b] = colour(i / 255);
  LUT.set([Math.round(r), Math.round(g), Math.round(b)], i * 3);
  // Low values leave the X-ray visible.
  ALPHA[i] = 0.55 * Math.min(1, Math.max(0, (i / 255 - 0.15) / 0.85));
}

function colour(v: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, v)) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(x));
  const f = x - i;
  const a = STOPS[i] ?? [0, 0, 0];
  const b = STOPS[i + 1] ?? a;
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

/**
 * The user's image (grey) with the map laid over the region the model saw, transparent where the
 * map is low, and a colour bar (low → high) under it. The words are in the reply's caption.
 */
export async function renderOverlay(
  image: DecodedImage,
  cam: Float32Array,
  camSize: [number, number],
  region: { left: number; top: number; width: number; height: number },
): Promise<Heatmap> {
  const scale = Math.min(1, OVERLAY_SIDE / Math.max(image.width, image.height));
  const width = Math.max(1, Math.round(image.width * scale));
  const height = Math.max(1, Math.round(image.height * scale));
  const r = {
    left: Math.round(region.left * scale),
    top: Math.round(region.top * scale),
    width: Math.max(1, Math.min(width, Math.round(region.width * scale))),
    height: Math.max(1, Math.min(height, Math.round(region.height * scale))),
  };
  r.left = Math.min(r.left, width - r.width);
  r.top = Math.min(r.top, height - r.height);

  const base = shrink(image, width, height);
  const heat = upsample(cam, camSize, r.width, r.height);

  const out = Buffer.alloc(width * (height + LEGEND_HEIGHT) * 3, 255);
  for (let y = 0; y < height; y++) {
    const inRows = y >= r.top && y < r.top + r.height;
    for (let x = 0; x < width; x++) {
      const g = base[y * width + x] ?? 0;
      const o = (y * width + x) * 3;
      const v =
        inRows && x >= r.left && x < r.left + r.width ? (heat[(y - r.top) * r.width + (x - r.left)] ?? 0) : 0;
      const alpha = ALPHA[v] ?? 0;
      out[o] = g + ((LUT[v * 3] ?? 0) - g) * alpha;
      out[o + 1] = g + ((LUT[v * 3 + 1] ?? 0) - g) * alpha;
      out[o + 2] = g + ((LUT[v * 3 + 2] ?? 0) - g) * alpha;
    }
  }
  // Colour bar: low (left) → high (right), with a thin white margin.
  for (let y = height + 4; y < height + LEGEND_HEIGHT - 4; y++) {
    for (let x = 4; x < width - 4; x++) {
      const v = Math.round(((x - 4) / Math.max(1, width - 9)) * 255);
      out.set(LUT.subarray(v * 3, v * 3 + 3), (y * width + x) * 3);
    }
  }
  const png = await sharp(out, { raw: { width, height: height + LEGEND_HEIGHT, channels: 3 } })
    .png({ compressionLevel: 3, adaptiveFiltering: false })
    .toBuffer();
  return {
    png: new Uint8Array(png.buffer, png.byteOffset, png.byteLength),
    width,
    height: height + LEGEND_HEIGHT,
  };
}

/**
 * The working copy (longest side <= 1024) shrunk to the overlay (<= 512): each output pixel is the
 * mean of the source pixels it covers. At most 2x, so this is exact box filtering, without a sharp
 * round trip.
 */
function shrink(image: DecodedImage, width: number, height: number): Uint8Array {
  if (width === image.width && height === image.height) return image.data;
  const out = new Uint8Array(width * height);
  const sx = image.width / width;
  const sy = image.height / height;
  for (let y = 0; y < height; y++) {
    const y0 = Math.floor(y * sy);
    const y1 = Math.max(y0 + 1, Math.min(image.height, Math.floor((y + 1) * sy)));
    for (let x = 0; x < width; x++) {
      const x0 = Math.floor(x * sx);
      const x1 = Math.max(x0 + 1, Math.min(image.width, Math.floor((x + 1) * sx)));
      let sum = 0;
      for (let yy = y0; yy < y1; yy++)
        for (let xx = x0; xx < x1; xx++) sum += image.data[yy * image.width + xx] ?? 0;
      out[y * width + x] = Math.round(sum / ((y1 - y0) * (x1 - x0)));
    }
  }
  return out;
}

/**
 * Bilinear upsampling of the small map (e.g. 12x12) to the region's size, in JS: cheaper than a
 * round trip through sharp for a map this small. Values 0..255.
 */
export function upsample(
  cam: Float32Array,
  [ch, cw]: [number, number],
  width: number,
  height: number,
): Uint8Array {
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const fy = Math.min(ch - 1, Math.max(0, ((y + 0.5) * ch) / height - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(ch - 1, y0 + 1);
    const wy = fy - y0;
    for (let x = 0; x < width; x++) {
      const fx = Math.min(cw - 1, Math.max(0, ((x + 0.5) * cw) / width - 0.5));
      const x0 = Math.floor(fx);
      const x1 = Math.min(cw - 1, x0 + 1);
      const wx = fx - x0;
      const top = (cam[y0 * cw + x0] ?? 0) * (1 - wx) + (cam[y0 * cw + x1] ?? 0) * wx;
      const bottom = (cam[y1 * cw + x0] ?? 0) * (1 - wx) + (cam[y1 * cw + x1] ?? 0) * wx;
      out[y * width + x] = Math.round(Math.min(1, Math.max(0, top * (1 - wy) + bottom * wy)) * 255);
    }
  }
  return out;
}
