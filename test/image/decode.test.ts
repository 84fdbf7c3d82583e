import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { colourfulnessIn, decodeImage, WORKING_SIDE } from '../../src/image/decode.js';
import { cropDecoded } from '../../src/image/film.js';
import { XrayError } from '../../src/core/errors.js';
import { makeChestLikeJpeg } from '../helpers/images.js';

async function codeOf(bytes: Uint8Array, limits?: { maxBytes: number; maxPixels: number }): Promise<string> {
  try {
    await decodeImage(bytes, limits);
    return 'accepted';
  } catch (error) {
    expect(error).toBeInstanceOf(XrayError);
    return (error as XrayError).code;
  }
}

describe('decodeImage refuses bad input with a typed error', () => {
  it('accepts JPEG, PNG, WebP and TIFF', async () => {
    const jpeg = await makeChestLikeJpeg(64, 64);
    for (const format of ['png', 'webp', 'tiff'] as const) {
      expect(await codeOf(await sharp(jpeg).toFormat(format).toBuffer())).toBe('accepted');
    }
    expect(await codeOf(jpeg)).toBe('accepted');
  });

  it('refuses text, empty files and PDFs', async () => {
    expect(await codeOf(Buffer.from('just some text, not an image'))).toBe('unsupported_format');
    expect(await codeOf(new Uint8Array())).toBe('unreadable_image');
    expect(await codeOf(Buffer.from('%PDF-1.4\n%âãÏÓ\n1 0 obj'))).toBe('unsupported_format');
  });

  it('never renders SVG, with or without an XML prolog', async () => {
    expect(
      await codeOf(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>')),
    ).toBe('vector_image');
    expect(
      await codeOf(Buffer.from('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>')),
    ).toBe('vector_image');
  });

  it('refuses a truncated JPEG as unreadable', async () => {
    const jpeg = await makeChestLikeJpeg(128, 128);
    expect(await codeOf(jpeg.subarray(0, Math.floor(jpeg.length / 2)))).toBe('unreadable_image');
  });

  it('refuses animated GIF and WebP', async () => {
    const frame = (background: string) =>
      sharp({ create: { width: 32, height: 32, channels: 3, background } })
        .png()
        .toBuffer();
    const frames = [await frame('#808080'), await frame('#202020')];
    for (const format of ['gif', 'webp'] as const) {
      const animated = await sharp(frames, { join: { animated: true } })
        .toFormat(format)
        .toBuffer();
      expect((await sharp(animated, { animated: true }).metadata()).pages).toBe(2);
      expect(await codeOf(animated)).toBe('animated_image');
    }
  });

  it('refuses files over the byte limit and images over the pixel limit before decoding', async () => {
    const jpeg = await makeChestLikeJpeg(300, 300);
    expect(await codeOf(jpeg, { maxBytes: 100, maxPixels: 1e9 })).toBe('image_too_large');
    expect(await codeOf(jpeg, { maxBytes: 1e9, maxPixels: 299 * 299 })).toBe('image_too_large');
    // A decompression bomb: a tiny PNG that claims 20000 x 20000 pixels.
    const bomb = await sharp({ create: { width: 20000, height: 20000, channels: 3, background: '#000' } })
      .png({ compressionLevel: 9 })
      .toBuffer()
      .catch(() => undefined);
    if (bomb !== undefined)
      expect(await codeOf(bomb, { maxBytes: 1e9, maxPixels: 50_000_000 })).toBe('image_too_large');
  });

  it('refuses images smaller than 16 px', async () => {
    const tiny = await sharp({ create: { width: 8, height: 40, channels: 3, background: '#777' } })
      .png()
      .toBuffer();
    expect(await codeOf(tiny)).toBe('image_too_small');
  });

  it('makes a working copy no larger than WORKING_SIDE and remembers the source size', async () => {
    const big = await sharp({ create: { width: 2400, height: 1200, channels: 3, background: '#444' } })
      .jpeg()
      .toBuffer();
    const decoded = await decodeImage(big);
    expect(decoded.width).toBe(WORKING_SIDE);
    expect(decoded.height).toBe(WORKING_SIDE / 2);
    expect([decoded.sourceWidth, decoded.sourceHeight]).toEqual([2400, 1200]);
    expect(decoded.data).toHaveLength(decoded.width * decoded.height);
  });
});

describe('colourfulnessIn', () => {
  it('tells the colour of a part of the picture: a grey film inside a colourful room', async () => {
    // Left half: grey; right half: red, green and blue stripes.
    const width = 128;
    const height = 64;
    const rgb = Buffer.alloc(width * height * 3);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        const i = (y * width + x) * 3;
        const stripe = [
          [220, 30, 30],
          [30, 220, 30],
          [30, 30, 220],
        ][Math.floor(y / 4) % 3] ?? [0, 0, 0];
        const [r = 0, g = 0, b = 0] = x < 64 ? [120, 120, 120] : stripe;
        rgb[i] = r;
        rgb[i + 1] = g;
        rgb[i + 2] = b;
      }
    const png = await sharp(rgb, { raw: { width, height, channels: 3 } })
      .png()
      .toBuffer();
    const decoded = await decodeImage(png);
    expect(decoded.colourfulness).toBeGreaterThan(0.2);
    const grey = colourfulnessIn(decoded, { left: 0, top: 0, width: 60, height: 64 });
    expect(grey).toBeLessThan(0.01);
    // Cutting the picture to the grey part (as the film step does) carries that figure.
    expect(cropDecoded(decoded, { left: 0, top: 0, width: 60, height: 64 }).colourfulness).toBeCloseTo(
      grey,
      9,
    );
    expect(colourfulnessIn(decoded, { left: 64, top: 0, width: 64, height: 64 })).toBeGreaterThan(0.3);
  });

  it('does not count a colour cast on a grey film: its colour follows its brightness', async () => {
    // A chest-like grey image under a warm lamp: red up, blue down, in proportion to brightness.
    const { data, info } = await sharp(await makeChestLikeJpeg(96, 96))
      .greyscale()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const warm = Buffer.alloc(info.width * info.height * 3);
    for (let i = 0; i < info.width * info.height; i++) {
      const v = data[i * info.channels] ?? 0;
      warm[i * 3] = Math.min(255, Math.round(v * 1.15));
      warm[i * 3 + 1] = v;
      warm[i * 3 + 2] = Math.round(v * 0.78);
    }
    const png = await sharp(warm, { raw: { width: info.width, height: info.height, channels: 3 } })
      .png()
      .toBuffer();
    expect((await decodeImage(png)).colourfulness).toBeLessThan(0.01);
  });
});
