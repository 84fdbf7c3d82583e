import sharp, { type Metadata } from 'sharp';
import { XrayError } from '../core/errors.js';
import { decodeDicom, isDicom } from './dicom.js';

export interface DecodeLimits {
  /** Largest accepted file, bytes. */
  maxBytes: number;
  /** Largest accepted image, width x height pixels (checked before decoding). */
  maxPixels: number;
}

export const DEFAULT_LIMITS: DecodeLimits = { maxBytes: 10 * 1024 * 1024, maxPixels: 50_000_000 };

/** Longest side of the working copy that preprocessing, the gate and overlays start from. */
export const WORKING_SIDE = 1024;
const MIN_SIDE = 16;
const ACCEPTED_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif', 'avif', 'jp2']);

/** An upright, alpha-free, 8-bit greyscale copy of the user's image, longest side <= WORKING_SIDE. */
export interface DecodedImage {
  data: Uint8Array;
  width: number;
  height: number;
  /** Size of the image as sent, before the working copy was made. */
  sourceWidth: number;
  sourceHeight: number;
  format: string;
  /**
   * Colour that brightness does not explain, / 255: the spread of the two opponent channels
   * (Hasler & Süsstrunk's) left after fitting each as a straight line in luma. 0 for grey, high
   * for colour photos. A grey film under a coloured light (a warm lamp, a blue screen) scores
   * near 0: its colour is a fixed multiple of its brightness, however bright the film is there.
   */
  colourfulness: number;
  /**
   * The same colour statistics per cell of a coarse grid over the working copy, so that the
   * colourfulness of a part (the film in a phone photo of one) can be told: see `colourfulnessIn`.
   */
  colourCells?: ColourCells;
}

/**
 * Per cell, {@link CELL_STATS} sums: pixels; luma, opponent channels rg and yb; their squares;
 * luma times rg and times yb.
 */
export interface ColourCells {
  columns: number;
  rows: number;
  stats: Float64Array;
}

const COLOUR_GRID = 32;
const CELL_STATS = 9;

/**
 * Colourfulness of the pixels inside `box` (working-copy pixels), from the cells whose centre
 * lies in it; the whole picture's figure when there are no cells.
 */
export function colourfulnessIn(
  image: Pick<DecodedImage, 'width' | 'height' | 'colourfulness' | 'colourCells'>,
  box: { left: number; top: number; width: number; height: number },
): number {
  const cells = image.colourCells;
  if (cells === undefined) return image.colourfulness;
  const sums = new Float64Array(CELL_STATS);
  for (let row = 0; row < cells.rows; row++) {
    const cy = ((row + 0.5) * image.height) / cells.rows;
    if (cy < box.top || cy >= box.top + box.height) continue;
    for (let col = 0; col < cells.columns; col++) {
      const cx = ((col + 0.5) * image.width) / cells.columns;
      if (cx < box.left || cx >= box.left + box.width) continue;
      const k = (row * cells.columns + col) * CELL_STATS;
      for (let j = 0; j < CELL_STATS; j++) sums[j] = (sums[j] ?? 0) + (cells.stats[k + j] ?? 0);
    }
  }
  return (sums[0] ?? 0) === 0 ? image.colourfulness : unexplainedColour(sums);
}

/** The opponent channels' spread left after a least-squares line in luma, / 255 (see above). */
function unexplainedColour(sums: Float64Array): number {
  const [n = 0, sL = 0, sRg = 0, sYb = 0, qL = 0, qRg = 0, qYb = 0, lRg = 0, lYb = 0] = sums;
  const varL = qL / n - (sL / n) ** 2;
  const residual = (square: number, sum: number, withLuma: number): number => {
    const variance = square / n - (sum / n) ** 2;
    // A flat patch has no brightness to explain colour with: its whole spread counts.
    if (varL < 1e-6) return Math.max(0, variance);
    const covariance = withLuma / n - (sL / n) * (sum / n);
    return Math.max(0, variance - (covariance * covariance) / varL);
  };
  return Math.sqrt(residual(qRg, sRg, lRg) + residual(qYb, sYb, lYb)) / 255;
}

/**
 * Bytes -> upright 8-bit grey working copy. Refuses, with a typed error, anything that is not a
 * still raster image within the limits. SVG is never rendered: it is detected before sharp sees it.
 */
export async function decodeImage(
  bytes: Uint8Array,
  limits: DecodeLimits = DEFAULT_LIMITS,
): Promise<DecodedImage> {
  if (bytes.length > limits.maxBytes) {
    throw new XrayError('image_too_large', `File of ${bytes.length} bytes is over the limit.`, {
      details: { limitMb: Number((limits.maxBytes / (1024 * 1024)).toFixed(1)) },
    });
  }
  if (bytes.length === 0) throw new XrayError('unreadable_image', 'Empty file.');
  if (isDicom(bytes)) {
    const dicom = decodeDicom(bytes, { maxPixels: limits.maxPixels });
    return fromRaw(dicom.data, dicom.width, dicom.height, 'dicom');
  }
  if (looksLikeVector(bytes)) throw new XrayError('vector_image', 'SVG/XML input is not rendered.');
  if (looksLikePdf(bytes)) throw new XrayError('unsupported_format', 'PDF input.');

  const metadata = await readMetadata(bytes, limits);
  const { width, height } = orientedSize(metadata);
  checkMinimumSize(width, height);

  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: limits.maxPixels, failOn: 'error' })
      .rotate() // honour EXIF orientation
      .flatten({ background: '#000000' })
      .resize({ width: WORKING_SIDE, height: WORKING_SIDE, fit: 'inside', withoutEnlargement: true })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    const grey = toGrey(data, info.width, info.height, info.channels);
    return {
      data: grey.data,
      width: info.width,
      height: info.height,
      sourceWidth: width,
      sourceHeight: height,
      format: metadata.format ?? 'unknown',
      colourfulness: grey.colourfulness,
      colourCells: grey.cells,
    };
  } catch (cause) {
    throw sharpError(cause);
  }
}

async function readMetadata(bytes: Uint8Array, limits: DecodeLimits): Promise<Metadata> {
  let metadata: Metadata;
  try {
    metadata = await sharp(bytes, { limitInputPixels: limits.maxPixels, animated: true }).metadata();
  } catch (cause) {
    throw sharpError(cause);
  }
  const format = metadata.format ?? 'unknown';
  if (format === 'svg') throw new XrayError('vector_image', 'SVG input is not rendered.');
  if (!ACCEPTED_FORMATS.has(format))
    throw new XrayError('unsupported_format', `Format ${format} is not accepted.`);
  if ((metadata.pages ?? 1) > 1 && format !== 'tiff' && format !== 'heif') {
    throw new XrayError('animated_image', 'Animated image.');
  }
  const frameHeight = metadata.pageHeight ?? metadata.height ?? 0;
  if ((metadata.width ?? 0) * frameHeight > limits.maxPixels) {
    throw new XrayError('image_too_large', 'Image has too many pixels.');
  }
  return metadata;
}

function orientedSize(metadata: Metadata): { width: number; height: number } {
  const w = metadata.width ?? 0;
  const h = metadata.pageHeight ?? metadata.height ?? 0;
  // EXIF orientations 5-8 swap width and height.
  return (metadata.orientation ?? 1) >= 5 ? { width: h, height: w } : { width: w, height: h };
}

function checkMinimumSize(width: number, height: number): void {
  if (width < MIN_SIDE || height < MIN_SIDE) {
    throw new XrayError('image_too_small', `Image of ${width}x${height} px is below ${MIN_SIDE} px.`);
  }
}

/** Raw grey pixels (e.g. from DICOM) -> working copy. */
async function fromRaw(
  data: Uint8Array,
  width: number,
  height: number,
  format: string,
): Promise<DecodedImage> {
  checkMinimumSize(width, height);
  const { data: out, info } = await sharp(data, { raw: { width, height, channels: 1 } })
    .resize({ width: WORKING_SIDE, height: WORKING_SIDE, fit: 'inside', withoutEnlargement: true })
    .extractChannel(0) // 1-band raw input comes back as 3 bands otherwise
    .raw()
    .toBuffer({ resolveWithObject: true });
  return {
    data: new Uint8Array(out.buffer, out.byteOffset, out.byteLength),
    width: info.width,
    height: info.height,
    sourceWidth: width,
    sourceHeight: height,
    format,
    colourfulness: 0,
  };
}

/** Luma (Rec. 709, as libvips' b-w) and the colour statistics in one pass over sRGB pixels. */
function toGrey(
  rgb: Buffer,
  width: number,
  height: number,
  channels: number,
): { data: Uint8Array; colourfulness: number; cells: ColourCells } {
  const n = width * height;
  const out = new Uint8Array(n);
  const columns = Math.min(COLOUR_GRID, width);
  const rows = Math.min(COLOUR_GRID, height);
  const stats = new Float64Array(columns * rows * CELL_STATS);
  for (let i = 0, j = 0; i < n; i++, j += channels) {
    const r = rgb[j] ?? 0;
    const g = channels >= 3 ? (rgb[j + 1] ?? 0) : r;
    const b = channels >= 3 ? (rgb[j + 2] ?? 0) : r;
    const luma = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    out[i] = Math.round(luma);
    const rg = r - g;
    const yb = 0.5 * (r + g) - b;
    const x = i % width;
    const y = (i - x) / width;
    const k = (Math.floor((y * rows) / height) * columns + Math.floor((x * columns) / width)) * CELL_STATS;
    stats[k] = (stats[k] ?? 0) + 1;
    stats[k + 1] = (stats[k + 1] ?? 0) + luma;
    stats[k + 2] = (stats[k + 2] ?? 0) + rg;
    stats[k + 3] = (stats[k + 3] ?? 0) + yb;
    stats[k + 4] = (stats[k + 4] ?? 0) + luma * luma;
    stats[k + 5] = (stats[k + 5] ?? 0) + rg * rg;
    stats[k + 6] = (stats[k + 6] ?? 0) + yb * yb;
    stats[k + 7] = (stats[k + 7] ?? 0) + luma * rg;
    stats[k + 8] = (stats[k + 8] ?? 0) + luma * yb;
  }
  const cells = { columns, rows, stats };
  const whole = { width, height, colourfulness: 0, colourCells: cells };
  return { data: out, colourfulness: colourfulnessIn(whole, { left: 0, top: 0, width, height }), cells };
}

function looksLikeVector(bytes: Uint8Array): boolean {
  const head = Buffer.from(bytes.subarray(0, 1024)).toString('utf8').trimStart().toLowerCase();
  return (
    head.startsWith('<?xml') ||
    head.startsWith('<svg') ||
    head.startsWith('<!doctype svg') ||
    head.includes('<svg')
  );
}

function looksLikePdf(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.subarray(0, 5)).toString('latin1') === '%PDF-';
}

function sharpError(cause: unknown): XrayError {
  if (cause instanceof XrayError) return cause;
  const message = cause instanceof Error ? cause.message : String(cause);
  if (/unsupported image format/i.test(message)) {
    return new XrayError('unsupported_format', 'Not an image format we read.', { cause });
  }
  if (/pixel limit/i.test(message))
    return new XrayError('image_too_large', 'Image has too many pixels.', { cause });
  return new XrayError('unreadable_image', 'The image could not be decoded.', { cause });
}
