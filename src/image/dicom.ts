/**
 * Uncompressed DICOM (Part 10) → 8-bit grey. Parsing is done by dicom-parser; the grey-scale
 * pipeline (Modality LUT → VOI LUT → 0..255, MONOCHROME1 inverted) is done here.
 *
 * Privacy: only the tags needed to render pixels are read. No tag value other than the transfer
 * syntax (as a fixed name from our own table) ever goes into a message, `details` or the result,
 * and parser exceptions are not attached as `cause` (they can carry the parsed data set).
 */
import { inflateRawSync } from 'node:zlib';
import dicomParser from 'dicom-parser';
import type { DataSet } from 'dicom-parser';
import { XrayError } from '../core/errors.js';

export type DicomPhotometric = 'MONOCHROME1' | 'MONOCHROME2' | 'RGB';

export interface DicomImage {
  width: number;
  height: number;
  /** 8-bit grey, row-major, 0 = black (air dark, bone bright), length width * height. */
  data: Uint8Array;
  bitsStored: number;
  photometric: DicomPhotometric;
}

export interface DicomLimits {
  maxPixels: number;
}

const MIN_SIDE = 16;
const PREAMBLE_LENGTH = 128;
const MAGIC = [0x44, 0x49, 0x43, 0x4d]; // 'DICM'
const ADVICE = 'export it as uncompressed DICOM, PNG or JPEG';

const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const DEFLATED_LE = '1.2.840.10008.1.2.1.99';
const EXPLICIT_BE = '1.2.840.10008.1.2.2';
const NATIVE_SYNTAXES = new Set([IMPLICIT_LE, EXPLICIT_LE, DEFLATED_LE, EXPLICIT_BE]);

/** Transfer syntaxes we recognise but cannot decode: the short name and how it reads in a sentence. */
const UNSUPPORTED_SYNTAXES: ReadonlyMap<string, { syntax: string; words: string }> = new Map(
  (
    [
      ['1.2.840.10008.1.2.1.98', 'Encapsulated uncompressed', 'Encapsulated uncompressed'],
      ['1.2.840.10008.1.2.4.50', 'JPEG baseline', 'JPEG baseline compressed'],
      ['1.2.840.10008.1.2.4.51', 'JPEG extended', 'JPEG extended compressed'],
      ['1.2.840.10008.1.2.4.57', 'JPEG lossless', 'JPEG lossless compressed'],
      ['1.2.840.10008.1.2.4.70', 'JPEG lossless', 'JPEG lossless compressed'],
      ['1.2.840.10008.1.2.4.80', 'JPEG-LS', 'JPEG-LS compressed'],
      ['1.2.840.10008.1.2.4.81', 'JPEG-LS', 'JPEG-LS compressed'],
      ['1.2.840.10008.1.2.4.90', 'JPEG 2000', 'JPEG 2000 compressed'],
      ['1.2.840.10008.1.2.4.91', 'JPEG 2000', 'JPEG 2000 compressed'],
      ['1.2.840.10008.1.2.4.92', 'JPEG 2000', 'JPEG 2000 compressed'],
      ['1.2.840.10008.1.2.4.93', 'JPEG 2000', 'JPEG 2000 compressed'],
      ['1.2.840.10008.1.2.4.94', 'JPIP', 'JPIP referenced'],
      ['1.2.840.10008.1.2.4.95', 'JPIP', 'JPIP referenced'],
      ['1.2.840.10008.1.2.4.100', 'MPEG-2', 'MPEG-2 video'],
      ['1.2.840.10008.1.2.4.101', 'MPEG-2', 'MPEG-2 video'],
      ['1.2.840.10008.1.2.4.102', 'MPEG-4', 'MPEG-4 video'],
      ['1.2.840.10008.1.2.4.103', 'MPEG-4', 'MPEG-4 video'],
      ['1.2.840.10008.1.2.4.104', 'MPEG-4', 'MPEG-4 video'],
      ['1.2.840.10008.1.2.4.105', 'MPEG-4', 'MPEG-4 video'],
      ['1.2.840.10008.1.2.4.106', 'MPEG-4', 'MPEG-4 video'],
      ['1.2.840.10008.1.2.4.107', 'HEVC', 'HEVC video'],
      ['1.2.840.10008.1.2.4.108', 'HEVC', 'HEVC video'],
      ['1.2.840.10008.1.2.4.110', 'JPEG XL', 'JPEG XL compressed'],
      ['1.2.840.10008.1.2.4.111', 'JPEG XL', 'JPEG XL compressed'],
      ['1.2.840.10008.1.2.4.112', 'JPEG XL', 'JPEG XL compressed'],
      ['1.2.840.10008.1.2.4.201', 'HTJ2K', 'High-Throughput JPEG 2000 compressed'],
      ['1.2.840.10008.1.2.4.202', 'HTJ2K', 'High-Throughput JPEG 2000 compressed'],
      ['1.2.840.10008.1.2.4.203', 'HTJ2K', 'High-Throughput JPEG 2000 compressed'],
      ['1.2.840.10008.1.2.4.204', 'HTJ2K', 'High-Throughput JPEG 2000 compressed'],
      ['1.2.840.10008.1.2.5', 'RLE', 'RLE compressed'],
    ] as const
  ).map(([uid, syntax, words]) => [uid, { syntax, words }]),
);

/** Colour models we refuse, in our own words (the tag value itself never reaches a message). */
const UNSUPPORTED_PHOTOMETRIC: ReadonlyMap<string, string> = new Map([
  ['PALETTE COLOR', 'Palette colour'],
  ['YBR_FULL', 'YBR colour'],
  ['YBR_FULL_422', 'YBR colour'],
  ['YBR_PARTIAL_422', 'YBR colour'],
  ['YBR_PARTIAL_420', 'YBR colour'],
  ['YBR_ICT', 'YBR colour'],
  ['YBR_RCT', 'YBR colour'],
]);

const TAG = {
  transferSyntax: 'x00020010',
  samplesPerPixel: 'x00280002',
  photometric: 'x00280004',
  planarConfiguration: 'x00280006',
  rows: 'x00280010',
  columns: 'x00280011',
  bitsAllocated: 'x00280100',
  bitsStored: 'x00280101',
  highBit: 'x00280102',
  pixelRepresentation: 'x00280103',
  windowCenter: 'x00281050',
  windowWidth: 'x00281051',
  rescaleIntercept: 'x00281052',
  rescaleSlope: 'x00281053',
  voiLutFunction: 'x00281056',
  pixelData: 'x7fe00010',
} as const;

function hasMagicAt128(bytes: Uint8Array): boolean {
  if (bytes.length < PREAMBLE_LENGTH + MAGIC.length) return false;
  return MAGIC.every((b, i) => bytes[PREAMBLE_LENGTH + i] === b);
}

/**
 * A Part 10 file whose 128-byte preamble and 'DICM' were stripped: it starts straight with the
 * explicit-VR file meta group, i.e. (0002,0000) UL or (0002,0001) OB. Six fixed bytes, so this
 * does not fire on PNG/JPEG/WebP/etc. Bare data sets without a meta header are not accepted:
 * their transfer syntax would have to be guessed.
 */
function hasBareMetaHeader(bytes: Uint8Array): boolean {
  if (bytes.length < 8 || bytes[0] !== 0x02 || bytes[1] !== 0x00 || bytes[3] !== 0x00) return false;
  const vr = String.fromCharCode(bytes[4] ?? 0, bytes[5] ?? 0);
  return (bytes[2] === 0x00 && vr === 'UL') || (bytes[2] === 0x01 && vr === 'OB');
}

/** True for a DICOM Part 10 file: 'DICM' at byte 128, or a meta header at byte 0 with no preamble. */
export function isDicom(bytes: Uint8Array): boolean {
  return hasMagicAt128(bytes) || hasBareMetaHeader(bytes);
}

function unreadable(message: string): XrayError {
  return new XrayError('unreadable_image', message);
}

function unsupported(message: string, details?: Record<string, string | number>): XrayError {
  return new XrayError('dicom_unsupported', message, details === undefined ? {} : { details });
}

/** dicom-parser throws strings, or `{ exception, dataSet }` wrappers around our own errors. */
function unwrapParserError(error: unknown): XrayError | undefined {
  if (error instanceof XrayError) return error;
  if (typeof error === 'object' && error !== null && 'exception' in error) {
    const inner: unknown = error.exception;
    if (inner instanceof XrayError) return inner;
  }
  return undefined;
}

function checkTransferSyntax(uid: string | undefined): string {
  if (uid === undefined || uid === '') throw unreadable('The DICOM file has no transfer syntax.');
  if (NATIVE_SYNTAXES.has(uid)) return uid;
  const known = UNSUPPORTED_SYNTAXES.get(uid);
  if (known !== undefined) {
    throw unsupported(`${known.words} DICOM is not supported; ${ADVICE}.`, { syntax: known.syntax });
  }
  throw unsupported(`This DICOM file uses an unknown transfer syntax; ${ADVICE}.`, { syntax: 'unknown' });
}

function parse(bytes: Uint8Array, maxPixels: number): { dataSet: DataSet; syntax: string } {
  // Inflated data can at most hold one 8-bit RGB frame of maxPixels plus headers; anything larger
  // is refused instead of letting a deflate bomb allocate gigabytes.
  const maxInflated = Math.min(Math.max(0, maxPixels) * 4 + 32 * 1024 * 1024, 2 ** 31 - 1);
  const inflater = (arr: Uint8Array, position: number): Uint8Array => {
    let inflated: Buffer;
    try {
      inflated = inflateRawSync(arr.subarray(position), { maxOutputLength: maxInflated });
    } catch (error) {
      if (error instanceof RangeError) {
        throw new XrayError('image_too_large', 'The deflated DICOM data set is too large.', {
          details: { maxPixels },
        });
      }
      throw unreadable('The deflated DICOM data set is corrupt.');
    }
    const full = new Uint8Array(position + inflated.length);
    full.set(arr.subarray(0, position), 0);
    full.set(inflated, position);
    return full;
  };

  let syntax: string;
  try {
    // Read the meta header alone first so compressed files are refused before a full parse.
    const meta = dicomParser.readPart10Header(bytes);
    syntax = checkTransferSyntax(meta.string(TAG.transferSyntax));
  } catch (error) {
    throw unwrapParserError(error) ?? unreadable('The DICOM file header is corrupt.');
  }
  try {
    return { dataSet: dicomParser.parseDicom(bytes, { inflater }), syntax };
  } catch (error) {
    throw unwrapParserError(error) ?? unreadable('The DICOM file is corrupt or truncated.');
  }
}

function finiteOr(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) ? value : fallback;
}

type VoiFunction = (x: number) => number;

/**
 * VOI LUT function from the first Window Center/Width pair (PS3.3 C.11.2.1.2), output 0..255.
 * Undefined when the window is absent or invalid, so the caller falls back to min–max.
 */
function windowFunction(dataSet: DataSet): VoiFunction | undefined {
  const c = dataSet.floatString(TAG.windowCenter, 0);
  const w = dataSet.floatString(TAG.windowWidth, 0);
  if (c === undefined || w === undefined || !Number.isFinite(c) || !Number.isFinite(w)) return undefined;
  const kind = dataSet.string(TAG.voiLutFunction)?.toUpperCase() ?? 'LINEAR';
  if (kind === 'LINEAR_EXACT') {
    if (w <= 0) return undefined;
    return (x) => (x <= c - w / 2 ? 0 : x > c + w / 2 ? 255 : ((x - c) / w + 0.5) * 255);
  }
  if (kind === 'SIGMOID') {
    if (w <= 0) return undefined;
    return (x) => 255 / (1 + Math.exp((-4 * (x - c)) / w));
  }
  // LINEAR (also the default for unknown values). Width must be >= 1; with width 1 the middle
  // branch is empty, so there is no division by zero.
  if (w < 1) return undefined;
  const lo = c - 0.5 - (w - 1) / 2;
  const hi = c - 0.5 + (w - 1) / 2;
  return (x) => (x <= lo ? 0 : x > hi ? 255 : ((x - (c - 0.5)) / (w - 1) + 0.5) * 255);
}

function toByte(y: number): number {
  return y <= 0 ? 0 : y >= 255 ? 255 : Math.round(y);
}

interface PixelLayout {
  rows: number;
  columns: number;
  bitsAllocated: 8 | 16;
  bitsStored: number;
  highBit: number;
  signed: boolean;
  bigEndian: boolean;
  /** Explicit big endian 8-bit data in an OW element: bytes are swapped within each 16-bit word. */
  swapBytePairs: boolean;
  offset: number;
}

function decodeMonochrome(
  dataSet: DataSet,
  layout: PixelLayout,
  photometric: 'MONOCHROME1' | 'MONOCHROME2',
): Uint8Array {
  const { rows, columns, bitsAllocated, bitsStored, highBit, signed } = layout;
  const count = rows * columns;
  const byteArray = dataSet.byteArray;
  const viewBytes = count * (bitsAllocated / 8) + (layout.swapBytePairs ? count % 2 : 0);
  const view = new DataView(byteArray.buffer, byteArray.byteOffset + layout.offset, viewBytes);
  const shift = highBit + 1 - bitsStored;
  const mask = 2 ** bitsStored - 1;
  const signBit = 2 ** (bitsStored - 1);
  // Stored values become LUT indices 0..2^bitsStored-1 (signed values offset by +2^(bitsStored-1)).
  const rawMin = signed ? -signBit : 0;
  const littleEndian = !layout.bigEndian;

  const indices = new Uint16Array(count);
  let minIndex = mask;
  let maxIndex = 0;
  for (let i = 0; i < count; i++) {
    const word =
      bitsAllocated === 16
        ? view.getUint16(i * 2, littleEndian)
        : view.getUint8(layout.swapBytePairs ? i ^ 1 : i);
    let value = (word >>> shift) & mask; // drop bits outside the stored range (e.g. overlay bits)
    if (signed && value >= signBit) value -= 2 * signBit;
    const index = value - rawMin;
    indices[i] = index;
    if (index < minIndex) minIndex = index;
    if (index > maxIndex) maxIndex = index;
  }

  // Modality LUT: rescale slope/intercept (a zero or missing slope means identity).
  const slopeValue = finiteOr(dataSet.floatString(TAG.rescaleSlope), 1);
  const slope = slopeValue === 0 ? 1 : slopeValue;
  const intercept = finiteOr(dataSet.floatString(TAG.rescaleIntercept), 0);
  const modality = (index: number): number => (index + rawMin) * slope + intercept;

  let voi = windowFunction(dataSet);
  if (voi === undefined) {
    const a = modality(minIndex);
    const b = modality(maxIndex);
    const lo = Math.min(a, b);
    const range = Math.max(a, b) - lo;
    voi = range > 0 ? (x) => ((x - lo) / range) * 255 : () => 0;
  }

  const invert = photometric === 'MONOCHROME1';
  const lut = new Uint8Array(mask + 1);
  for (let index = minIndex; index <= maxIndex; index++) {
    const y = toByte(voi(modality(index)));
    lut[index] = invert ? 255 - y : y;
  }

  const out = new Uint8Array(count);
  for (let i = 0; i < count; i++) out[i] = lut[indices[i] ?? 0] ?? 0;
  return out;
}

function decodeRgb(dataSet: DataSet, layout: PixelLayout, planar: boolean): Uint8Array {
  const count = layout.rows * layout.columns;
  const src = dataSet.byteArray.subarray(layout.offset, layout.offset + count * 3 + (count % 2));
  const at = (i: number): number => src[layout.swapBytePairs ? i ^ 1 : i] ?? 0;
  const out = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const [r, g, b] = planar
      ? [at(i), at(count + i), at(2 * count + i)]
      : [at(3 * i), at(3 * i + 1), at(3 * i + 2)];
    // Rec. 601 luma weights.
    out[i] = Math.round(0.299 * r + 0.587 * g + 0.114 * b);
  }
  return out;
}

/**
 * Decodes the first frame of an uncompressed DICOM file to 8-bit grey (0 = black).
 * Throws XrayError: `unreadable_image` (not DICOM, corrupt, truncated, no pixel data),
 * `dicom_unsupported` (compressed syntax, bit depth, colour model), `image_too_large`
 * (Rows x Columns above `limits.maxPixels`, checked before any pixel buffer is allocated),
 * `image_too_small` (a side under 16 px).
 */
export function decodeDicom(bytes: Uint8Array, limits: DicomLimits): DicomImage {
  let input = bytes;
  if (!hasMagicAt128(bytes)) {
    if (!hasBareMetaHeader(bytes)) throw unreadable('This is not a DICOM file.');
    // Restore the missing preamble so dicom-parser can read the file as usual.
    input = new Uint8Array(PREAMBLE_LENGTH + MAGIC.length + bytes.length);
    input.set(MAGIC, PREAMBLE_LENGTH);
    input.set(bytes, PREAMBLE_LENGTH + MAGIC.length);
  }

  const { dataSet, syntax } = parse(input, limits.maxPixels);
  // dicom-parser records declared lengths without checking them against the buffer; an element
  // running past the end would make the typed getters throw plain strings.
  for (const tag of Object.values(TAG)) {
    const element = dataSet.elements[tag];
    if (element !== undefined && element.dataOffset + element.length > dataSet.byteArray.length) {
      throw unreadable('The DICOM file is corrupt or truncated.');
    }
  }

  const rows = dataSet.uint16(TAG.rows);
  const columns = dataSet.uint16(TAG.columns);
  if (rows === undefined || columns === undefined || rows === 0 || columns === 0) {
    throw unreadable('The DICOM file has no valid image size.');
  }
  if (rows < MIN_SIDE || columns < MIN_SIDE) {
    throw new XrayError('image_too_small', 'The DICOM image is too small.', {
      details: { minSide: MIN_SIDE },
    });
  }
  if (rows * columns > limits.maxPixels) {
    throw new XrayError('image_too_large', 'The DICOM image has too many pixels.', {
      details: { maxPixels: limits.maxPixels },
    });
  }

  const samplesPerPixel = dataSet.uint16(TAG.samplesPerPixel) ?? 1;
  const photometricValue =
    dataSet.string(TAG.photometric)?.toUpperCase() ?? (samplesPerPixel === 1 ? 'MONOCHROME2' : '');
  const refused = UNSUPPORTED_PHOTOMETRIC.get(photometricValue);
  if (refused !== undefined) throw unsupported(`${refused} DICOM is not supported; ${ADVICE}.`);
  if (
    photometricValue !== 'MONOCHROME1' &&
    photometricValue !== 'MONOCHROME2' &&
    photometricValue !== 'RGB'
  ) {
    throw unsupported(`This DICOM colour model is not supported; ${ADVICE}.`);
  }
  const photometric: DicomPhotometric = photometricValue;
  if (samplesPerPixel !== (photometric === 'RGB' ? 3 : 1)) {
    throw unreadable('The DICOM samples per pixel do not match its colour model.');
  }

  const bitsAllocated = dataSet.uint16(TAG.bitsAllocated);
  if (bitsAllocated === undefined) throw unreadable('The DICOM file has no bit depth.');
  if (bitsAllocated !== 8 && bitsAllocated !== 16) {
    throw unsupported(`Only 8- and 16-bit DICOM images are supported; ${ADVICE}.`);
  }
  if (photometric === 'RGB' && bitsAllocated !== 8) {
    throw unsupported(`Only 8-bit RGB DICOM images are supported; ${ADVICE}.`);
  }
  const bitsStored = dataSet.uint16(TAG.bitsStored) ?? bitsAllocated;
  const highBit = dataSet.uint16(TAG.highBit) ?? bitsStored - 1;
  if (bitsStored < 1 || bitsStored > bitsAllocated || highBit >= bitsAllocated || highBit + 1 < bitsStored) {
    throw unreadable('The DICOM bit layout is invalid.');
  }
  const pixelRepresentation = dataSet.uint16(TAG.pixelRepresentation) ?? 0;
  if (pixelRepresentation !== 0 && pixelRepresentation !== 1)
    throw unreadable('The DICOM pixel sign is invalid.');

  const element = dataSet.elements[TAG.pixelData];
  if (element === undefined) throw unreadable('The DICOM file has no pixel data.');
  if (element.encapsulatedPixelData === true)
    throw unreadable('The DICOM pixel data is not in its declared form.');
  const bigEndian = syntax === EXPLICIT_BE;
  const swapBytePairs = bigEndian && bitsAllocated === 8 && element.vr === 'OW';
  // Multi-frame files: frame 1 is the first frameBytes of the element. Swapped byte pairs need the
  // (always present) pad byte of an odd-sized frame too.
  const frameBytes = rows * columns * samplesPerPixel * (bitsAllocated / 8);
  const neededBytes = swapBytePairs ? frameBytes + (frameBytes % 2) : frameBytes;
  if (element.length < neededBytes || element.dataOffset + neededBytes > dataSet.byteArray.length) {
    throw unreadable('The DICOM pixel data is truncated.');
  }

  const layout: PixelLayout = {
    rows,
    columns,
    bitsAllocated,
    bitsStored,
    highBit,
    signed: pixelRepresentation === 1,
    bigEndian,
    swapBytePairs,
    offset: element.dataOffset,
  };

  const data =
    photometric === 'RGB'
      ? decodeRgb(dataSet, layout, dataSet.uint16(TAG.planarConfiguration) === 1)
      : decodeMonochrome(dataSet, layout, photometric);
  return { width: columns, height: rows, data, bitsStored, photometric };
}
