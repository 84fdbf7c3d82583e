import { describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import {
  photoOfEachVariant,
  simulatePhoto,
  simulatePhotoDetailed,
} from '../../scripts/lib/simulate-photo.js';
import { makeChestLikeJpeg } from '../helpers/images.js';
import { makeTempDir, removeDir } from '../training/fixtures.js';

/** Mean of each RGB channel over the whole picture. */
async function channelMeans(jpeg: Buffer): Promise<number[]> {
  const stats = await sharp(jpeg).stats();
  return stats.channels.slice(0, 3).map((c) => c.mean);
}

describe('simulatePhoto (phone photo of a film or screen)', () => {
  it('is deterministic per seed and differs between seeds', async () => {
    const xray = await makeChestLikeJpeg(200, 240);
    const a = await simulatePhoto(xray, 7, { size: 400 });
    const b = await simulatePhoto(xray, 7, { size: 400 });
    const c = await simulatePhoto(xray, 8, { size: 400 });
    expect(Buffer.compare(a, b)).toBe(0);
    expect(Buffer.compare(a, c)).not.toBe(0);
  });

  it("photoOfEachVariant makes the file's photo on a light box and on a monitor, with one seed", async () => {
    const dir = await makeTempDir('xray-photo-variants');
    try {
      const file = path.join(dir, 'knee.jpg');
      const bytes = await makeChestLikeJpeg(200, 240);
      await writeFile(file, bytes);
      const made = await Promise.all(photoOfEachVariant(file, 11).map((make) => make()));
      const expected = await Promise.all(
        (['film', 'monitor'] as const).map(async (variant) => simulatePhotoDetailed(bytes, 11, { variant })),
      );
      expect(expected.map((p) => p.variant)).toEqual(['film', 'monitor']);
      expect(made).toEqual(expected.map((p) => p.jpeg));
    } finally {
      await removeDir(dir);
    }
  });

  it('writes a JPEG on a bigger canvas, in colour, with the X-ray inside a smaller quadrilateral', async () => {
    const xray = await makeChestLikeJpeg(200, 240);
    for (const variant of ['film', 'monitor'] as const) {
      const photo = await simulatePhotoDetailed(xray, 3, { variant, size: 512, quality: 70 });
      expect(photo.variant).toBe(variant);
      expect([...photo.jpeg.subarray(0, 2)]).toEqual([0xff, 0xd8]);
      const meta = await sharp(photo.jpeg).metadata();
      expect(meta.format).toBe('jpeg');
      expect(meta.channels).toBe(3);
      expect(Math.max(meta.width ?? 0, meta.height ?? 0)).toBe(512);
      expect((meta.width ?? 0) * (meta.height ?? 0)).toBeGreaterThan(200 * 240);
      // The input is grey; a colour cast and coloured surroundings make the channels differ.
      const [r = 0, g = 0, b = 0] = await channelMeans(photo.jpeg);
      expect(Math.max(Math.abs(r - g), Math.abs(g - b), Math.abs(r - b))).toBeGreaterThan(2);
      // Corners in the picture, and the X-ray covers clearly less than all of it.
      for (const p of photo.xray) {
        expect(p.x).toBeGreaterThanOrEqual(0);
        expect(p.y).toBeGreaterThanOrEqual(0);
        expect(p.x).toBeLessThanOrEqual(photo.width);
        expect(p.y).toBeLessThanOrEqual(photo.height);
      }
      const [tl, tr, br, bl] = photo.xray;
      const area =
        Math.abs(
          tl.x * tr.y -
            tr.x * tl.y +
            (tr.x * br.y - br.x * tr.y) +
            (br.x * bl.y - bl.x * br.y) +
            (bl.x * tl.y - tl.x * bl.y),
        ) / 2;
      expect(area / (photo.width * photo.height)).toBeGreaterThan(0.15);
      expect(area / (photo.width * photo.height)).toBeLessThan(0.8);
      // A perspective tilt: the X-ray is no longer an upright rectangle.
      expect(Math.abs(tl.x - bl.x) + Math.abs(tl.y - tr.y) + Math.abs(tr.x - br.x)).toBeGreaterThan(1);
    }
  });

  it('re-compresses at the requested quality (lower quality, fewer bytes)', async () => {
    const xray = await makeChestLikeJpeg(200, 240);
    const low = await simulatePhoto(xray, 5, { size: 400, quality: 60, variant: 'film' });
    const high = await simulatePhoto(xray, 5, { size: 400, quality: 85, variant: 'film' });
    expect(low.length).toBeLessThan(high.length);
  });
});
