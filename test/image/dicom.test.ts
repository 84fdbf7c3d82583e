import { deflateRawSync, inflateRawSync } from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { XrayError } from '../../src/core/errors.js';
import { decodeDicom, isDicom } from '../../src/image/dicom.js';
import type { DicomImage } from '../../src/image/dicom.js';
import { makeDicom, TRANSFER_SYNTAX } from '../helpers/dicom.js';

const LIMITS = { maxPixels: 4096 * 4096 };
const SIDE = 16;
const N = SIDE * SIDE; // 256 pixels: pixel i of the gradient holds step i

/** 0, 1, ..., 255 in row-major order. */
const RAMP = Uint8Array.from({ length: N }, (_, i) => i);

function decode(file: Uint8Array, limits = LIMITS): DicomImage {
  return decodeDicom(file, limits);
}

function list(image: DicomImage): number[] {
  return Array.from(image.data);
}

function caught(fn: () => unknown): XrayError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(XrayError);
    return error as XrayError;
  }
  throw new Error('expected an XrayError');
}

/** The DICOM linear window (PS3.3 C.11.2.1.2.1) written out for the expectations, output 0..255. */
function linearWindow(x: number, c: number, w: number): number {
  if (x <= c - 0.5 - (w - 1) / 2) return 0;
  if (x > c - 0.5 + (w - 1) / 2) return 255;
  return Math.round(((x - (c - 0.5)) / (w - 1) + 0.5) * 255);
}

describe('isDicom', () => {
  it('recognises the DICM magic at byte 128', () => {
    expect(isDicom(makeDicom({ width: SIDE, height: SIDE, pixels: RAMP }))).toBe(true);
  });

  it('recognises a file whose preamble was stripped, and decodes it the same', () => {
    const file = makeDicom({ width: SIDE, height: SIDE, pixels: RAMP });
    const bare = file.slice(132);
    expect(isDicom(bare)).toBe(true);
    expect(list(decode(bare))).toEqual(list(decode(file)));
  });

  it('says no to PNG, JPEG, empty and short input', async () => {
    const raw = { raw: { width: SIDE, height: SIDE, channels: 1 as const } };
    const png = new Uint8Array(await sharp(Buffer.from(RAMP), raw).png().toBuffer());
    const jpeg = new Uint8Array(await sharp(Buffer.from(RAMP), raw).jpeg().toBuffer());
    expect(isDicom(png)).toBe(false);
    expect(isDicom(jpeg)).toBe(false);
    expect(isDicom(new Uint8Array(0))).toBe(false);
    expect(isDicom(new TextEncoder().encode('DICM'))).toBe(false);
    expect(caught(() => decode(png)).code).toBe('unreadable_image');
  });
});

describe('decodeDicom: grey levels', () => {
  it('8-bit unsigned MONOCHROME2 without a window spans min..max', () => {
    const image = decode(makeDicom({ width: SIDE, height: SIDE, pixels: RAMP, bitsAllocated: 8 }));
    expect(image).toMatchObject({ width: SIDE, height: SIDE, bitsStored: 8, photometric: 'MONOCHROME2' });
    expect(list(image)).toEqual(Array.from(RAMP));
  });

  it('8-bit MONOCHROME1 is inverted so that 0 stays black', () => {
    const pixels = RAMP;
    const image = decode(
      makeDicom({ width: SIDE, height: SIDE, pixels, bitsAllocated: 8, photometric: 'MONOCHROME1' }),
    );
    expect(image.photometric).toBe('MONOCHROME1');
    expect(list(image)).toEqual(Array.from(RAMP, (v) => 255 - v));
    expect(image.data[0]).toBe(255);
    expect(image.data[255]).toBe(0);
  });

  it('8-bit signed: -128..127 maps onto 0..255', () => {
    const pixels = Int8Array.from(RAMP, (v) => v - 128);
    expect(list(decode(makeDicom({ width: SIDE, height: SIDE, pixels })))).toEqual(Array.from(RAMP));
    const mono1 = decode(makeDicom({ width: SIDE, height: SIDE, pixels, photometric: 'MONOCHROME1' }));
    expect(list(mono1)).toEqual(Array.from(RAMP, (v) => 255 - v));
  });

  it('16-bit unsigned without a window: i * 257 → i', () => {
    const pixels = Uint16Array.from(RAMP, (v) => v * 257); // 0..65535
    const image = decode(makeDicom({ width: SIDE, height: SIDE, pixels }));
    expect(image.bitsStored).toBe(16);
    expect(list(image)).toEqual(Array.from(RAMP));
  });

  it('12 bits stored in 16 with a linear window (centre 1001.5, width 501)', () => {
    // Window runs from 751 to 1251: y = (x - 751) * 255 / 500 = (x - 751) * 0.51, x = 16 * i (no x.5 ties).
    const pixels = Uint16Array.from(RAMP, (v) => v * 16);
    const file = makeDicom({
      width: SIDE,
      height: SIDE,
      pixels,
      bitsStored: 12,
      window: { center: 1001.5, width: 501 },
    });
    const out = decode(file).data;
    expect(out[0]).toBe(0);
    expect(out[46]).toBe(0); // x = 736 <= 751
    expect(out[47]).toBe(1); // x = 752: 1 * 0.51 = 0.51
    expect(out[60]).toBe(107); // x = 960: 209 * 0.51 = 106.59
    expect(out[78]).toBe(253); // x = 1248: 497 * 0.51 = 253.47
    expect(out[79]).toBe(255); // x = 1264 > 1251
    expect(out[255]).toBe(255);
    expect(Array.from(out)).toEqual(
      Array.from(pixels, (x) => (x <= 751 ? 0 : x > 1251 ? 255 : Math.round((x - 751) * 0.51))),
    );
    expect(Array.from(out)).toEqual(Array.from(pixels, (x) => linearWindow(x, 1001.5, 501)));
  });

  it('ignores bits above BitsStored (overlay garbage in the high nibble)', () => {
    const clean = Uint16Array.from(RAMP, (v) => v * 16);
    const dirty = Uint16Array.from(clean, (x, i) => x | ((i % 16) << 12));
    const opts = { width: SIDE, height: SIDE, bitsStored: 12, window: { center: 1001.5, width: 501 } };
    expect(list(decode(makeDicom({ ...opts, pixels: dirty })))).toEqual(
      list(decode(makeDicom({ ...opts, pixels: clean }))),
    );
  });

  it('honours a HighBit that is not BitsStored - 1', () => {
    // 12 bits stored in bits 4..15: stored value = (16 * i) << 4.
    const pixels = Uint16Array.from(RAMP, (v) => (v * 16) << 4);
    const file = makeDicom({ width: SIDE, height: SIDE, pixels, bitsStored: 12, highBit: 15, window: null });
    expect(list(decode(file))).toEqual(Array.from(RAMP)); // min..max of 0..4080
  });

  it('12-bit signed, sign-extended or not, without a window', () => {
    const values = Array.from(RAMP, (v) => -2048 + 16 * v); // -2048..2032
    const extended = Int16Array.from(values);
    const masked = Uint16Array.from(values, (x) => (x & 0x0fff) | 0xa000); // garbage above bit 11
    for (const pixels of [extended, masked]) {
      const file = makeDicom({ width: SIDE, height: SIDE, pixels, bitsStored: 12, signed: true });
      expect(list(decode(file))).toEqual(Array.from(RAMP));
    }
  });

  it('signed 16-bit with rescale slope 2, intercept 100 and window 0.5/2001', () => {
    // raw = -1024 + 8i, value = 2 * raw + 100 = 16i - 1948; window -1000..1000: y = (v + 1000) * 0.1275.
    const pixels = Int16Array.from(RAMP, (v) => -1024 + 8 * v);
    const file = makeDicom({
      width: SIDE,
      height: SIDE,
      pixels,
      rescale: { slope: 2, intercept: 100 },
      window: { center: 0.5, width: 2001 },
    });
    const out = decode(file).data;
    expect(out[59]).toBe(0); // -1004
    expect(out[60]).toBe(2); // -988: 12 * 0.1275 = 1.53
    expect(out[128]).toBe(140); // 100: 1100 * 0.1275 = 140.25
    expect(out[184]).toBe(254); // 996: 1996 * 0.1275 = 254.49
    expect(out[185]).toBe(255); // 1012 > 1000
    expect(Array.from(out)).toEqual(Array.from(RAMP, (i) => linearWindow(16 * i - 1948, 0.5, 2001)));
  });

  it('without a window uses min..max of the rescaled values', () => {
    // value = 16i - 1948 spans -1948..2132 (range 4080), so y = 16i * 255 / 4080 = i.
    const pixels = Int16Array.from(RAMP, (v) => -1024 + 8 * v);
    const file = makeDicom({ width: SIDE, height: SIDE, pixels, rescale: { slope: 2, intercept: 100 } });
    expect(list(decode(file))).toEqual(Array.from(RAMP));
  });

  it('a negative slope flips the grey scale', () => {
    const pixels = Uint16Array.from(RAMP, (v) => v * 16);
    const file = makeDicom({ width: SIDE, height: SIDE, pixels, rescale: { slope: -1, intercept: 0 } });
    expect(list(decode(file))).toEqual(Array.from(RAMP, (v) => 255 - v));
  });

  it('MONOCHROME1 with a window inverts after windowing', () => {
    const pixels = Uint16Array.from(RAMP, (v) => v * 16);
    const window = { center: 1001.5, width: 501 };
    const file = makeDicom({
      width: SIDE,
      height: SIDE,
      pixels,
      bitsStored: 12,
      window,
      photometric: 'MONOCHROME1',
    });
    expect(list(decode(file))).toEqual(Array.from(pixels, (x) => 255 - linearWindow(x, 1001.5, 501)));
  });

  it('takes the first of several windows', () => {
    const pixels = Uint16Array.from(RAMP, (v) => v * 16);
    const window = { center: [1001.5, 40], width: [501, 400] };
    const file = makeDicom({ width: SIDE, height: SIDE, pixels, bitsStored: 12, window });
    expect(list(decode(file))).toEqual(Array.from(pixels, (x) => linearWindow(x, 1001.5, 501)));
  });

  it('falls back to min..max when the window width is invalid', () => {
    const pixels = Uint16Array.from(RAMP, (v) => v * 16);
    const file = makeDicom({
      width: SIDE,
      height: SIDE,
      pixels,
      bitsStored: 12,
      window: { center: 100, width: 0 },
    });
    expect(list(decode(file))).toEqual(Array.from(RAMP));
  });

  it('supports VOI LUT Function LINEAR_EXACT', () => {
    // y = ((x - 128) / 256 + 0.5) * 255 = x * 255 / 256.
    const file = makeDicom({
      width: SIDE,
      height: SIDE,
      pixels: RAMP,
      bitsAllocated: 8,
      window: { center: 128, width: 256 },
      voiLutFunction: 'LINEAR_EXACT',
    });
    const out = decode(file).data;
    expect([out[0], out[100], out[128], out[255]]).toEqual([0, 100, 128, 254]); // 99.6, 127.5, 254.0
  });

  it('keeps row-major order for a non-square image', () => {
    const width = 24;
    const height = 16;
    const pixels = Uint8Array.from(
      { length: width * height },
      (_, i) => (i % width) * 10 + Math.floor(i / width),
    );
    const image = decode(
      makeDicom({ width, height, pixels, bitsAllocated: 8, window: { center: 128, width: 256 } }),
    );
    expect(image.width).toBe(24);
    expect(image.height).toBe(16);
    // Window 128/256 on 8-bit data: y = round((x - 127.5) / 255 * 255 + 127.5) = x.
    expect(image.data[3 * width + 5]).toBe(53); // column 5, row 3
    expect(image.data[15 * width + 23]).toBe(245);
  });

  it('uses the first frame of a multi-frame file', () => {
    const frame2 = Uint8Array.from(RAMP, (v) => 255 - v);
    const pixels = new Uint8Array(2 * N);
    pixels.set(RAMP, 0);
    pixels.set(frame2, N);
    const file = makeDicom({ width: SIDE, height: SIDE, pixels, bitsAllocated: 8, numberOfFrames: 2 });
    expect(list(decode(file))).toEqual(Array.from(RAMP));
  });

  it('converts 8-bit RGB (interleaved and planar) to grey with Rec. 601 luma', () => {
    // Pixel 0 red, 1 green, 2 blue, 3 white, the rest grey ramp.
    const rgb = new Uint8Array(N * 3);
    for (let i = 0; i < N; i++) rgb.set([i, i, i], 3 * i);
    rgb.set([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255], 0);
    const planar = new Uint8Array(N * 3);
    for (let i = 0; i < N; i++) {
      for (let c = 0; c < 3; c++) planar[c * N + i] = rgb[3 * i + c] ?? 0;
    }
    const expected = Array.from(RAMP);
    expected.splice(0, 4, 76, 150, 29, 255); // 0.299 * 255 = 76.2, 0.587 * 255 = 149.7, 0.114 * 255 = 29.1
    for (const [pixels, planarConfiguration] of [
      [rgb, 0],
      [planar, 1],
    ] as const) {
      const file = makeDicom({
        width: SIDE,
        height: SIDE,
        pixels,
        bitsAllocated: 8,
        photometric: 'RGB',
        planarConfiguration,
      });
      const image = decode(file);
      expect(image.photometric).toBe('RGB');
      expect(list(image)).toEqual(expected);
    }
  });

  it.each(['MONOCHROME2', 'MONOCHROME1'])('makeDicom grey mode round-trips exactly (%s)', (photometric) => {
    const grey = Uint8Array.from({ length: 40 * 32 }, (_, i) => (i * 37) % 256);
    const image = decode(makeDicom({ width: 40, height: 32, pixels: grey, photometric }));
    expect(image).toMatchObject({ width: 40, height: 32, bitsStored: 12, photometric });
    expect(list(image)).toEqual(Array.from(grey));
  });
});

describe('decodeDicom: transfer syntaxes', () => {
  const syntaxes = [
    ['implicit VR little endian', TRANSFER_SYNTAX.implicitLittleEndian],
    ['explicit VR little endian', TRANSFER_SYNTAX.explicitLittleEndian],
    ['deflated explicit VR little endian', TRANSFER_SYNTAX.deflatedLittleEndian],
    ['explicit VR big endian', TRANSFER_SYNTAX.explicitBigEndian],
  ] as const;

  it.each(syntaxes)('%s: 16-bit and 8-bit', (_name, transferSyntax) => {
    const sixteen = Uint16Array.from(RAMP, (v) => v * 257);
    expect(list(decode(makeDicom({ width: SIDE, height: SIDE, pixels: sixteen, transferSyntax })))).toEqual(
      Array.from(RAMP),
    );
    const eight = makeDicom({ width: SIDE, height: SIDE, pixels: RAMP, bitsAllocated: 8, transferSyntax });
    expect(list(decode(eight))).toEqual(Array.from(RAMP));
    const grey = makeDicom({
      width: SIDE,
      height: SIDE,
      pixels: RAMP,
      photometric: 'MONOCHROME1',
      transferSyntax,
    });
    expect(list(decode(grey))).toEqual(Array.from(RAMP));
  });

  it('explicit big endian 8-bit data in an OW element (byte pairs swapped), odd pixel count', () => {
    const side = 17;
    const pixels = Uint8Array.from({ length: side * side }, (_, i) => i % 256);
    const file = makeDicom({
      width: side,
      height: side,
      pixels,
      bitsAllocated: 8,
      pixelVr: 'OW',
      window: { center: 128, width: 256 },
      transferSyntax: TRANSFER_SYNTAX.explicitBigEndian,
    });
    expect(list(decode(file))).toEqual(Array.from(pixels));
  });

  it.each([
    ['JPEG baseline', TRANSFER_SYNTAX.jpegBaseline],
    ['JPEG lossless', TRANSFER_SYNTAX.jpegLossless],
    ['JPEG-LS', TRANSFER_SYNTAX.jpegLs],
    ['JPEG 2000', TRANSFER_SYNTAX.jpeg2000],
    ['RLE', TRANSFER_SYNTAX.rle],
  ])('%s → dicom_unsupported naming it', (syntax, transferSyntax) => {
    const error = caught(() =>
      decode(makeDicom({ width: SIDE, height: SIDE, pixels: RAMP, transferSyntax })),
    );
    expect(error.code).toBe('dicom_unsupported');
    expect(error.details).toEqual({ syntax });
    expect(error.message).toBe(
      `${syntax} compressed DICOM is not supported; export it as uncompressed DICOM, PNG or JPEG.`,
    );
  });

  it('an unknown transfer syntax → dicom_unsupported without echoing the UID', () => {
    const file = makeDicom({ width: SIDE, height: SIDE, pixels: RAMP, transferSyntax: '1.2.3.999' });
    const error = caught(() => decode(file));
    expect(error.code).toBe('dicom_unsupported');
    expect(error.details).toEqual({ syntax: 'unknown' });
    expect(error.message).not.toContain('1.2.3.999');
  });
});

describe('decodeDicom: bad and hostile files', () => {
  const good = makeDicom({ width: SIDE, height: SIDE, pixels: RAMP });

  it('truncated anywhere → unreadable_image', () => {
    expect(caught(() => decode(good.subarray(0, good.length - 10))).code).toBe('unreadable_image');
    expect(caught(() => decode(good.subarray(0, 300))).code).toBe('unreadable_image');
    for (let length = 0; length < good.length; length += 3) {
      expect(caught(() => decode(good.subarray(0, length))).code).toBe('unreadable_image');
    }
  });

  it('random corruption only ever yields XrayErrors', () => {
    let seed = 42;
    const random = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    for (const transferSyntax of [TRANSFER_SYNTAX.implicitLittleEndian, TRANSFER_SYNTAX.explicitBigEndian]) {
      const file = makeDicom({ width: SIDE, height: SIDE, pixels: RAMP, transferSyntax });
      for (let k = 0; k < 400; k++) {
        const copy = file.slice();
        for (let j = 0; j < 3; j++) copy[132 + Math.floor(random() * (copy.length - 132))] = random() * 256;
        try {
          decode(copy);
        } catch (error) {
          expect(error).toBeInstanceOf(XrayError);
        }
      }
    }
  });

  it('garbage after the magic → unreadable_image', () => {
    const file = new Uint8Array(1000).fill(0xee);
    file.set(new TextEncoder().encode('DICM'), 128);
    expect(caught(() => decode(file)).code).toBe('unreadable_image');
  });

  it('huge declared Rows x Columns → image_too_large before allocating', () => {
    const overrides = { Rows: 65535, Columns: 65535 };
    const file = makeDicom({ width: SIDE, height: SIDE, pixels: RAMP, overrides });
    const error = caught(() => decode(file));
    expect(error.code).toBe('image_too_large');
    expect(error.details).toEqual({ maxPixels: LIMITS.maxPixels });
    // Even with no pixel limit the 4-gigapixel frame is refused from the buffer size, not allocated.
    expect(caught(() => decode(file, { maxPixels: Number.MAX_SAFE_INTEGER })).code).toBe('unreadable_image');
  });

  it('fewer than 16 px per side → image_too_small; zero → unreadable_image', () => {
    const small = makeDicom({ width: 8, height: 8, pixels: new Uint8Array(64), bitsAllocated: 8 });
    expect(caught(() => decode(small)).code).toBe('image_too_small');
    const thin = makeDicom({ width: 16, height: 15, pixels: new Uint8Array(240), bitsAllocated: 8 });
    expect(caught(() => decode(thin)).code).toBe('image_too_small');
    const zero = makeDicom({ width: SIDE, height: SIDE, pixels: RAMP, overrides: { Rows: 0 } });
    expect(caught(() => decode(zero)).code).toBe('unreadable_image');
  });

  it.each([1, 12, 32])('BitsAllocated %i → dicom_unsupported', (bitsAllocated) => {
    const file = makeDicom({
      width: SIDE,
      height: SIDE,
      pixels: RAMP,
      overrides: { BitsAllocated: bitsAllocated },
    });
    expect(caught(() => decode(file)).code).toBe('dicom_unsupported');
  });

  it('BitsStored above BitsAllocated → unreadable_image', () => {
    const file = makeDicom({
      width: SIDE,
      height: SIDE,
      pixels: RAMP,
      overrides: { BitsStored: 17, HighBit: 16 },
    });
    expect(caught(() => decode(file)).code).toBe('unreadable_image');
  });

  it.each(['PALETTE COLOR', 'YBR_FULL', 'CMYK'])('%s → dicom_unsupported', (photometric) => {
    const file = makeDicom({ width: SIDE, height: SIDE, pixels: RAMP, bitsAllocated: 8, photometric });
    const error = caught(() => decode(file));
    expect(error.code).toBe('dicom_unsupported');
    expect(error.message).not.toContain(photometric);
  });

  it('16-bit RGB → dicom_unsupported', () => {
    const pixels = new Uint16Array(N * 3);
    const file = makeDicom({ width: SIDE, height: SIDE, pixels, photometric: 'RGB' });
    expect(caught(() => decode(file)).code).toBe('dicom_unsupported');
  });

  it('missing pixel data → unreadable_image', () => {
    const file = makeDicom({ width: SIDE, height: SIDE, pixels: RAMP, omit: ['PixelData'] });
    expect(caught(() => decode(file)).code).toBe('unreadable_image');
  });

  it('a deflate bomb → image_too_large; a corrupt deflate stream → unreadable_image', () => {
    const deflated = makeDicom({
      width: SIDE,
      height: SIDE,
      pixels: RAMP,
      transferSyntax: TRANSFER_SYNTAX.deflatedLittleEndian,
    });
    // Re-deflate the body with a 48 MB private OB element of zeros appended (a few kB deflated).
    const bodyStart = 132 + 12 + new DataView(deflated.buffer, deflated.byteOffset).getUint32(140, true);
    const body = inflateRawSync(deflated.subarray(bodyStart));
    const padding = new Uint8Array(12 + 48 * 1024 * 1024);
    padding.set([0xe1, 0x7f, 0x00, 0x10, 0x4f, 0x42, 0, 0], 0); // (7FE1,1000) OB, reserved bytes
    new DataView(padding.buffer).setUint32(8, padding.length - 12, true);
    const bombBody = deflateRawSync(Buffer.concat([body, padding]));
    const bomb = new Uint8Array(bodyStart + bombBody.length);
    bomb.set(deflated.subarray(0, bodyStart), 0);
    bomb.set(bombBody, bodyStart);
    expect(bomb.length).toBeLessThan(200_000);
    expect(caught(() => decode(bomb, { maxPixels: 1024 * 1024 })).code).toBe('image_too_large');
    // The same file is fine when the limit allows that much data.
    expect(list(decode(bomb, { maxPixels: 16 * 1024 * 1024 }))).toEqual(Array.from(RAMP));

    const corrupt = deflated.slice();
    corrupt.fill(0xff, corrupt.length - 40);
    expect(caught(() => decode(corrupt)).code).toBe('unreadable_image');
  });
});

describe('decodeDicom: privacy', () => {
  const name = 'Doe^Jane';
  const id = 'MRN-424242';
  const secrets = (value: unknown): string =>
    JSON.stringify(value, (_k, v: unknown) => (v instanceof Uint8Array ? [] : v));

  it('never returns patient tags in the result', () => {
    const file = makeDicom({ width: SIDE, height: SIDE, pixels: RAMP, patientName: name, patientId: id });
    const image = decode(file);
    expect(Object.keys(image).sort()).toEqual(['bitsStored', 'data', 'height', 'photometric', 'width']);
    expect(secrets(image)).not.toContain('Doe');
    expect(secrets(image)).not.toContain(id);
  });

  it('never puts patient tags into errors', () => {
    const base = { width: SIDE, height: SIDE, pixels: RAMP, patientName: name, patientId: id };
    const full = makeDicom(base);
    const failures = [
      () => decode(full.subarray(0, full.length - 100)),
      () => decode(full, { maxPixels: 10 }),
      () => decode(makeDicom({ ...base, transferSyntax: TRANSFER_SYNTAX.jpeg2000 })),
      () => decode(makeDicom({ ...base, bitsAllocated: 8, photometric: 'PALETTE COLOR' })),
      () => decode(makeDicom({ ...base, omit: ['PixelData'] })),
      () => decode(makeDicom({ ...base, overrides: { Rows: 8 } })),
      () => decode(makeDicom({ ...base, overrides: { BitsAllocated: 12 } })),
    ];
    for (const fail of failures) {
      const error = caught(fail);
      for (const text of [error.message, secrets(error.details), secrets(error), String(error.stack)]) {
        expect(text).not.toContain('Doe');
        expect(text).not.toContain(id);
      }
      expect(error.cause).toBeUndefined();
    }
  });
});
