import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import {
  preprocess,
  centralRegion,
  LUNG_MEDIAN_TARGET,
  midGreyGamma,
  percentileRange,
  toModelInput,
} from '../../src/image/preprocess.js';
import type { LungMask } from '../../src/lungs/mask.js';
import { decodeImage } from '../../src/image/decode.js';
import { makeDicom } from '../helpers/dicom.js';
import type { PreprocessingSpec } from '../../src/model/card.js';

const RAW: PreprocessingSpec = {
  size: 8,
  channels: 1,
  crop: 1,
  fit: 'fill',
  contrast: 'none',
  scale: 'unit',
};

/** A grey image from a function of (x, y), as PNG bytes (lossless, so values are exact). */
async function png(
  width: number,
  height: number,
  f: (x: number, y: number) => number,
  channels: 1 | 3 = 1,
): Promise<Buffer> {
  const data = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < channels; c++) data[(y * width + x) * channels + c] = f(x, y);
  return sharp(data, { raw: { width, height, channels } }).png().toBuffer();
}

describe('preprocess (golden values)', () => {
  it('a flat grey image becomes a flat input of value/255', async () => {
    const { input } = await preprocess(await png(40, 30, () => 51), RAW);
    expect(input.size).toBe(8);
    expect(input.data).toHaveLength(64);
    for (const v of input.data) expect(v).toBeCloseTo(0.2, 5);
  });

  it('left black / right white stays left black / right white after a fill resize', async () => {
    const { input } = await preprocess(await png(64, 32, (x) => (x < 32 ? 0 : 255)), RAW);
    for (let y = 0; y < 8; y++) {
      expect(input.data[y * 8]).toBeCloseTo(0, 2);
      expect(input.data[y * 8 + 1]).toBeCloseTo(0, 1);
      expect(input.data[y * 8 + 6]).toBeCloseTo(1, 1);
      expect(input.data[y * 8 + 7]).toBeCloseTo(1, 2);
    }
  });

  it('the central crop removes a bright border (burnt-in frame)', async () => {
    const border = (x: number, y: number) => (x < 10 || y < 10 || x >= 90 || y >= 90 ? 255 : 100);
    const { input } = await preprocess(await png(100, 100, border), { ...RAW, crop: 0.75 });
    for (const v of input.data) expect(v).toBeCloseTo(100 / 255, 5);
    const uncropped = await preprocess(await png(100, 100, border), RAW);
    expect(Math.max(...uncropped.input.data)).toBeGreaterThan(0.6);
  });

  it('standardize gives zero mean and unit variance; a flat image gives zeros, not NaN', async () => {
    const { input } = await preprocess(await png(50, 50, (x, y) => (x * 3 + y) % 256), {
      ...RAW,
      scale: 'standardize',
    });
    const mean = input.data.reduce((a, b) => a + b, 0) / input.data.length;
    const variance = input.data.reduce((a, b) => a + (b - mean) ** 2, 0) / input.data.length;
    expect(mean).toBeCloseTo(0, 5);
    expect(variance).toBeCloseTo(1, 4);
    const flat = await preprocess(await png(20, 20, () => 77), { ...RAW, scale: 'standardize' });
    for (const v of flat.input.data) expect(v).toBe(0);
  });

  it('normalise stretches a low-contrast image to the full range', async () => {
    const { input } = await preprocess(await png(128, 128, (x) => 100 + Math.floor(x / 4)), {
      ...RAW,
      size: 64,
      contrast: 'normalise',
    });
    expect(Math.min(...input.data)).toBeLessThan(0.05);
    expect(Math.max(...input.data)).toBeGreaterThan(0.95);
  });

  it('clahe equalises locally and keeps the value range', async () => {
    const { input } = await preprocess(await png(64, 64, (x, y) => 90 + ((x + y) % 20)), {
      ...RAW,
      size: 32,
      contrast: 'clahe',
    });
    for (const v of input.data) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
    expect(Math.max(...input.data) - Math.min(...input.data)).toBeGreaterThan(20 / 255);
  });

  it('contain pads a wide image with black rows; cover crops it to the centre', async () => {
    const wide = await png(80, 40, () => 200);
    const contain = await preprocess(wide, { ...RAW, fit: 'contain' });
    expect(contain.input.data[0]).toBeCloseTo(0, 5); // padding row
    expect(contain.input.data[4 * 8 + 4]).toBeCloseTo(200 / 255, 2);
    const cover = await preprocess(wide, { ...RAW, fit: 'cover' });
    for (const v of cover.input.data) expect(v).toBeCloseTo(200 / 255, 5);
  });

  it('colour becomes luma; alpha is flattened onto black', async () => {
    const red = await png(20, 20, () => 0, 3).then(() =>
      sharp({ create: { width: 20, height: 20, channels: 3, background: { r: 255, g: 0, b: 0 } } })
        .png()
        .toBuffer(),
    );
    const { input, decoded } = await preprocess(red, RAW);
    expect(input.data[0]).toBeCloseTo(Math.round(0.2126 * 255) / 255, 2);
    // A uniform colour (like a light box's cast) is not "colourful"; varied colours are.
    expect(decoded.colourfulness).toBeCloseTo(0, 5);
    const px = Buffer.alloc(21 * 21 * 3);
    const primaries = [
      [255, 0, 0],
      [0, 255, 0],
      [0, 0, 255],
    ];
    for (let k = 0; k < 21 * 21; k++) px.set(primaries[Math.floor((k % 21) / 7)] ?? [0, 0, 0], k * 3);
    const stripes = await sharp(px, { raw: { width: 21, height: 21, channels: 3 } })
      .png()
      .toBuffer();
    expect((await preprocess(stripes, RAW)).decoded.colourfulness).toBeGreaterThan(0.4);
    const halfTransparentWhite = await sharp({
      create: { width: 20, height: 20, channels: 4, background: { r: 255, g: 255, b: 255, alpha: 0.5 } },
    })
      .png()
      .toBuffer();
    const flattened = await preprocess(halfTransparentWhite, RAW);
    expect(flattened.input.data[0]).toBeCloseTo(128 / 255, 1);
  });

  it('honours EXIF orientation (6 = rotate 90° clockwise)', async () => {
    const topWhite = await sharp(await png(40, 20, (_x, y) => (y < 10 ? 255 : 0)))
      .jpeg({ quality: 100 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const decoded = await decodeImage(topWhite);
    expect([decoded.width, decoded.height]).toEqual([20, 40]);
    // After rotating clockwise the white top half is on the right.
    expect(decoded.data[5 * 20 + 18]).toBeGreaterThan(200);
    expect(decoded.data[5 * 20 + 1]).toBeLessThan(50);
  });

  it('16-bit PNG is read as 8-bit grey', async () => {
    const data = new Uint16Array(32 * 32).fill(32767);
    const png16 = await sharp(data, { raw: { width: 32, height: 32, channels: 1 } })
      .toColourspace('grey16')
      .png()
      .toBuffer();
    const { input } = await preprocess(png16, RAW);
    expect(input.data[0]).toBeCloseTo(0.5, 1);
  });

  it('keeps the geometry of a non-symmetric image through crop, resize and equalisation', async () => {
    // Brightness grows left to right and does not change top to bottom.
    const gradient = await png(120, 90, (x) => 40 + x);
    for (const contrast of ['none', 'normalise', 'clahe'] as const) {
      const { input } = await preprocess(gradient, { ...RAW, size: 16, crop: 0.9, contrast });
      for (let y = 1; y < 16; y++) {
        for (let x = 0; x < 16; x++)
          expect(input.data[y * 16 + x]).toBeCloseTo(input.data[x] ?? Number.NaN, 1);
      }
      expect(input.data[15]).toBeGreaterThan((input.data[0] ?? 1) + 0.1);
    }
  });

  it('reads a DICOM file into a working copy of the right size and pixels', async () => {
    const width = 40;
    const height = 30;
    const grey = Uint8Array.from({ length: width * height }, (_, i) => (i % width) * 5);
    const decoded = await decodeImage(makeDicom({ width, height, pixels: grey }));
    expect([decoded.width, decoded.height, decoded.format]).toEqual([width, height, 'dicom']);
    expect(decoded.data).toHaveLength(width * height);
    expect(decoded.data[10 * width + 7]).toBe(35);
  });

  it('centralRegion keeps the centre', () => {
    expect(centralRegion(100, 50, 0.8)).toEqual({ left: 10, top: 5, width: 80, height: 40 });
    expect(centralRegion(10, 10, 1)).toEqual({ left: 0, top: 0, width: 10, height: 10 });
  });
});

// The contrast steps over the lungs: 64 x 64 pictures with "lungs" in the middle square.
const SIDE = 64;
const lungsAt = (x: number, y: number) => x >= 16 && x < 48 && y >= 16 && y < 48;
const mask = (plausibility = 1): LungMask => {
  const data = new Uint8Array(SIDE * SIDE);
  for (let y = 0; y < SIDE; y++) for (let x = 0; x < SIDE; x++) if (lungsAt(x, y)) data[y * SIDE + x] = 255;
  const box = { left: 16, top: 16, width: 32, height: 32 };
  return { width: SIDE, height: SIDE, data, area: 0.25, box, plausibility, components: 2 };
};
// The lung box + 50% per side: the whole picture.
const spec = (contrast: PreprocessingSpec['contrast']): PreprocessingSpec => ({
  ...RAW,
  size: SIDE,
  contrast,
  lungs: { model: 'test', crop: true, margin: 0.5 },
});

describe("contrast 'normalise-lungs'", () => {
  // The lungs' grey 80..120, a bright strip of light box at the left.
  const pixel = (strip: boolean) => (x: number, y: number) =>
    lungsAt(x, y) ? 80 + Math.floor(((x - 16) * 40) / 31) : strip && x < 8 ? 250 : 20;
  const input = async (contrast: PreprocessingSpec['contrast'], strip: boolean, plausibility = 1) =>
    (
      await toModelInput(await decodeImage(await png(SIDE, SIDE, pixel(strip))), spec(contrast), {
        mask: mask(plausibility),
        minPlausibility: 0.5,
      })
    ).data;
  const lungValues = (data: Float32Array) =>
    Array.from(data).filter((_, i) => lungsAt(i % SIDE, Math.floor(i / SIDE)));

  it('stretches the lungs to the full range whatever surrounds them', async () => {
    const lungs = lungValues(await input('normalise-lungs', true));
    expect(Math.min(...lungs)).toBeLessThan(0.02);
    expect(Math.max(...lungs)).toBeGreaterThan(0.98);
    // The strip of light box does not move the lungs' values; it does under 'normalise'.
    expect(lungValues(await input('normalise-lungs', false))).toEqual(lungs);
    const crop = lungValues(await input('normalise', true));
    expect(Math.max(...crop)).toBeLessThan(0.5);
    expect(lungValues(await input('normalise', false))).not.toEqual(crop);
  });

  it("falls back to 'normalise' when the lungs are not found, and needs the lung mask", async () => {
    expect(await input('normalise-lungs', true, 0.1)).toEqual(await input('normalise', true, 0.1));
    const decoded = await decodeImage(await png(SIDE, SIDE, pixel(true)));
    await expect(toModelInput(decoded, spec('normalise-lungs'))).rejects.toMatchObject({
      code: 'model_invalid',
    });
  });

  it('with the lung mask on, blacks out all but the lung fields and a soft edge around them', async () => {
    const decoded = await decodeImage(await png(SIDE, SIDE, pixel(true)));
    const masked = async (
      plausibility: number,
      contrast: PreprocessingSpec['contrast'] = 'normalise-lungs',
    ) => {
      const base = spec(contrast);
      const lungs = { model: 'test', crop: true, margin: 0.5, mask: true as const };
      return (
        await toModelInput(decoded, { ...base, lungs }, { mask: mask(plausibility), minPlausibility: 0.5 })
      ).data;
    };
    const plain = await input('normalise-lungs', true);
    const data = await masked(1);
    const at = (d: Float32Array, x: number, y: number) => d[y * SIDE + x] ?? NaN;
    // Inside the lungs the values are the unmasked ones; the strip of light box (white unmasked) is black.
    for (let y = 18; y < 46; y++) for (let x = 18; x < 46; x++) expect(at(data, x, y)).toBe(at(plain, x, y));
    for (let y = 0; y < SIDE; y += 7)
      for (let x = 0; x < 8; x++) {
        expect(at(plain, x, y)).toBe(1);
        expect(at(data, x, y)).toBe(0);
      }
    // Unstretched (the background is 20, not black): the edge reaches a pixel past the lungs, faded.
    const raw = await masked(1, 'none');
    expect(at(raw, 15, 32)).toBeGreaterThan(0);
    expect(at(raw, 15, 32)).toBeLessThan(20 / 255);
    expect(at(raw, 9, 32)).toBe(0);
    // Lungs not found: nothing to mask by, the crop is seen whole (serving refuses such images).
    expect(await masked(0.1)).toEqual(await input('normalise-lungs', true, 0.1));
  });

  it('takes the percentiles over the masked pixels only', () => {
    const grey = Uint8Array.from([0, 10, 20, 30, 40, 255]);
    expect(percentileRange(grey, Uint8Array.from([0, 255, 255, 255, 255, 0]))).toEqual({
      low: 10,
      high: 40,
      median: 20,
    });
  });
});

describe("contrast 'normalise-lungs-gamma'", () => {
  // "Lungs" in the middle whose grey rises across them (t = 0..1 left to right) through a tone
  // curve t^tone, as a screen's or film's gamma would bend it; dark surroundings.
  const picture = (tone: number) => (x: number, y: number) =>
    lungsAt(x, y) ? Math.round(40 + 180 * ((x - 16) / 31) ** tone) : 10;
  const input = async (contrast: PreprocessingSpec['contrast'], tone: number, plausibility = 1) =>
    (
      await toModelInput(await decodeImage(await png(SIDE, SIDE, picture(tone))), spec(contrast), {
        mask: mask(plausibility),
        minPlausibility: 0.5,
      })
    ).data;
  const lungRow = (data: Float32Array) => Array.from(data.subarray(32 * SIDE + 16, 32 * SIDE + 48));
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1] ?? NaN;
  const maxGap = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - (b[i] ?? NaN))));

  it("puts the lungs' median at mid-grey, so a tone curve on the picture hardly moves the input", async () => {
    for (const tone of [0.6, 1, 1.6]) {
      const row = lungRow(await input('normalise-lungs-gamma', tone));
      expect(median(row)).toBeCloseTo(LUNG_MEDIAN_TARGET, 1);
      expect(Math.min(...row)).toBe(0);
      expect(Math.max(...row)).toBe(1);
    }
    const bent = maxGap(
      lungRow(await input('normalise-lungs-gamma', 1.6)),
      lungRow(await input('normalise-lungs-gamma', 1)),
    );
    const linear = maxGap(
      lungRow(await input('normalise-lungs', 1.6)),
      lungRow(await input('normalise-lungs', 1)),
    );
    expect(bent).toBeLessThan(0.05);
    expect(linear).toBeGreaterThan(0.15);
  });

  it("falls back to 'normalise' when the lungs are not found, and needs the lung mask", async () => {
    expect(await input('normalise-lungs-gamma', 1.6, 0.1)).toEqual(await input('normalise', 1.6, 0.1));
    const decoded = await decodeImage(await png(SIDE, SIDE, picture(1)));
    await expect(toModelInput(decoded, spec('normalise-lungs-gamma'))).rejects.toMatchObject({
      code: 'model_invalid',
    });
  });

  it('bends a squeezed or lopsided range no further than 0.4..2.5', () => {
    expect(midGreyGamma({ low: 50, high: 50, median: 50 })).toBe(1);
    expect(midGreyGamma({ low: 0, high: 200, median: 100 })).toBeCloseTo(1, 5);
    expect(midGreyGamma({ low: 0, high: 200, median: 1 })).toBe(0.4);
    expect(midGreyGamma({ low: 0, high: 200, median: 199 })).toBe(2.5);
  });
});
