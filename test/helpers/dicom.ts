/**
 * Builds DICOM Part 10 files for tests with dcmjs (a devDependency used only here).
 *
 * Quick use: `makeDicom({ width, height, pixels: grey })` with an 8-bit grey Uint8Array (0 = black)
 * gives a chest-like 16-bit DX file (12 bits stored) whose window makes `decodeDicom` return exactly
 * `grey` again, for MONOCHROME2 and MONOCHROME1 alike.
 */
import { deflateRawSync } from 'node:zlib';
import dcmjs from 'dcmjs';

export const TRANSFER_SYNTAX = {
  implicitLittleEndian: '1.2.840.10008.1.2',
  explicitLittleEndian: '1.2.840.10008.1.2.1',
  deflatedLittleEndian: '1.2.840.10008.1.2.1.99',
  explicitBigEndian: '1.2.840.10008.1.2.2',
  jpegBaseline: '1.2.840.10008.1.2.4.50',
  jpegLossless: '1.2.840.10008.1.2.4.70',
  jpegLs: '1.2.840.10008.1.2.4.80',
  jpeg2000: '1.2.840.10008.1.2.4.90',
  rle: '1.2.840.10008.1.2.5',
} as const;

const NATIVE: ReadonlySet<string> = new Set([
  TRANSFER_SYNTAX.implicitLittleEndian,
  TRANSFER_SYNTAX.explicitLittleEndian,
  TRANSFER_SYNTAX.deflatedLittleEndian,
  TRANSFER_SYNTAX.explicitBigEndian,
]);

/** Window of the grey mode: maps stored 16 * v (0..4080) linearly onto v (PS3.3 C.11.2.1.2). */
export const GREY_WINDOW = { center: 2040.5, width: 4081 } as const;

const DX_SOP_CLASS = '1.2.840.10008.5.1.4.1.1.1.1'; // Digital X-Ray Image Storage - For Presentation

export interface MakeDicomOptions {
  width: number;
  height: number;
  /**
   * - Uint8Array with bitsAllocated 16 (the default): grey 0..255, 0 = black, stored as 16 * v in
   *   12 of 16 bits (4080 - 16 * v for MONOCHROME1) with {@link GREY_WINDOW}.
   * - Uint8Array with bitsAllocated 8, Int8Array, Uint16Array, Int16Array: raw stored values,
   *   written as they are (several frames or RGB samples simply follow each other).
   */
  pixels: Uint8Array | Int8Array | Uint16Array | Int16Array;
  /** Any string, so tests can write unsupported models; default MONOCHROME2. */
  photometric?: string;
  bitsAllocated?: number;
  bitsStored?: number;
  highBit?: number;
  /** PixelRepresentation 1; defaults to true for Int8Array/Int16Array. */
  signed?: boolean;
  samplesPerPixel?: number;
  planarConfiguration?: 0 | 1;
  /** First values are the ones a viewer uses; `null` omits the window (also in grey mode). */
  window?: { center: number | number[]; width: number | number[] } | null;
  voiLutFunction?: string;
  /** Default OW for 16-bit native data, else OB. */
  pixelVr?: 'OB' | 'OW';
  rescale?: { slope: number; intercept: number };
  transferSyntax?: string;
  numberOfFrames?: number;
  patientName?: string;
  patientId?: string;
  /** Naturalized keywords applied last, e.g. `{ Rows: 65535 }`. */
  overrides?: Record<string, unknown>;
  /** Naturalized keywords to leave out, e.g. `['PixelData']`. */
  omit?: readonly string[];
}

function swapBytePairs(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + (bytes.length % 2)); // OW values have even length
  for (let i = 0; i < bytes.length; i += 2) {
    out[i] = bytes[i + 1] ?? 0;
    out[i + 1] = bytes[i] ?? 0;
  }
  return out;
}

/** Moves everything after the file meta group through raw deflate, as 1.2.840.10008.1.2.1.99 requires. */
export function deflateBody(file: Uint8Array): Uint8Array {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  // 128 preamble + 'DICM' + (0002,0000) UL element of 12 bytes whose value is the group length.
  const bodyStart = 132 + 12 + view.getUint32(132 + 8, true);
  const body = deflateRawSync(file.subarray(bodyStart));
  const out = new Uint8Array(bodyStart + body.length);
  out.set(file.subarray(0, bodyStart), 0);
  out.set(body, bodyStart);
  return out;
}

export function makeDicom(opts: MakeDicomOptions): Uint8Array {
  const { width, height, pixels } = opts;
  const greyMode = pixels instanceof Uint8Array && (opts.bitsAllocated ?? 16) === 16;
  const photometric = opts.photometric ?? 'MONOCHROME2';
  const samplesPerPixel = opts.samplesPerPixel ?? (photometric === 'RGB' ? 3 : 1);
  const syntax = opts.transferSyntax ?? TRANSFER_SYNTAX.explicitLittleEndian;
  if (pixels.length < width * height * samplesPerPixel) throw new Error('makeDicom: too few pixels');

  let stored: Uint8Array | Int8Array | Uint16Array | Int16Array = pixels;
  if (greyMode) {
    const invert = photometric === 'MONOCHROME1';
    stored = Uint16Array.from(pixels, (v) => (invert ? 4080 - 16 * v : 16 * v));
  }
  const bitsAllocated = opts.bitsAllocated ?? (stored.BYTES_PER_ELEMENT === 1 ? 8 : 16);
  const bitsStored = opts.bitsStored ?? (greyMode ? 12 : bitsAllocated);
  const signed = opts.signed ?? (pixels instanceof Int8Array || pixels instanceof Int16Array);
  const window = opts.window === undefined ? (greyMode ? GREY_WINDOW : null) : opts.window;

  // Native pixel data is OB for 8-bit, OW for 16-bit; encapsulated data is always OB.
  const pixelVr = opts.pixelVr ?? (NATIVE.has(syntax) && bitsAllocated > 8 ? 'OW' : 'OB');
  let pixelBytes = new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength);
  // dcmjs writes OW/OB values as given; OW is a run of 16-bit words, so big endian swaps each pair.
  if (syntax === TRANSFER_SYNTAX.explicitBigEndian && pixelVr === 'OW') {
    pixelBytes = swapBytePairs(pixelBytes);
  }
  const pixelBuffer = pixelBytes.slice().buffer;

  const dataset: Record<string, unknown> = {
    SpecificCharacterSet: 'ISO_IR 100',
    SOPClassUID: DX_SOP_CLASS,
    SOPInstanceUID: '1.2.826.0.1.3680043.8.498.1',
    Modality: 'DX',
    PatientName: opts.patientName ?? 'Anonymous',
    PatientID: opts.patientId ?? 'TEST',
    SamplesPerPixel: samplesPerPixel,
    PhotometricInterpretation: photometric,
    Rows: height,
    Columns: width,
    BitsAllocated: bitsAllocated,
    BitsStored: bitsStored,
    HighBit: opts.highBit ?? bitsStored - 1,
    PixelRepresentation: signed ? 1 : 0,
    PixelData: [pixelBuffer],
    _vrMap: { PixelData: pixelVr },
  };
  if (samplesPerPixel > 1) dataset.PlanarConfiguration = opts.planarConfiguration ?? 0;
  if (window !== null) {
    dataset.WindowCenter = window.center;
    dataset.WindowWidth = window.width;
  }
  if (opts.voiLutFunction !== undefined) dataset.VOILUTFunction = opts.voiLutFunction;
  if (opts.rescale !== undefined) {
    dataset.RescaleSlope = opts.rescale.slope;
    dataset.RescaleIntercept = opts.rescale.intercept;
    dataset.RescaleType = 'US';
  }
  if (opts.numberOfFrames !== undefined) dataset.NumberOfFrames = opts.numberOfFrames;
  Object.assign(dataset, opts.overrides);
  for (const keyword of opts.omit ?? []) delete dataset[keyword];

  const { DicomDict, DicomMetaDictionary } = dcmjs.data;
  const meta = DicomMetaDictionary.denaturalizeDataset({
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: DX_SOP_CLASS,
    MediaStorageSOPInstanceUID: '1.2.826.0.1.3680043.8.498.1',
    TransferSyntaxUID: syntax,
    ImplementationClassUID: '1.2.826.0.1.3680043.8.498.2',
  });
  const dict = new DicomDict(meta);
  dict.dict = DicomMetaDictionary.denaturalizeDataset(dataset);
  const file = new Uint8Array(dict.write());
  // dcmjs declares the deflated syntax but writes the body plain.
  return syntax === TRANSFER_SYNTAX.deflatedLittleEndian ? deflateBody(file) : file;
}
