import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { simulatePhoto } from '../../scripts/lib/simulate-photo.js';

/**
 * A synthetic chest-X-ray-like picture: dark lung fields on a brighter body, a bright spine and
 * heart shadow. Not a real X-ray; good enough for the preprocessing path and for plumbing tests.
 */
export async function makeChestLikeJpeg(
  width = 256,
  height = 256,
  options: { seed?: number } = {},
): Promise<Buffer> {
  const seed = options.seed ?? 0;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 100 100" preserveAspectRatio="none">
    <rect width="100" height="100" fill="rgb(20,20,20)"/>
    <ellipse cx="50" cy="55" rx="44" ry="46" fill="rgb(${150 + (seed % 20)},${150 + (seed % 20)},${150 + (seed % 20)})"/>
    <ellipse cx="32" cy="48" rx="13" ry="30" fill="rgb(60,60,60)"/>
    <ellipse cx="68" cy="48" rx="13" ry="30" fill="rgb(60,60,60)"/>
    <rect x="47" y="8" width="6" height="88" fill="rgb(210,210,210)"/>
    <ellipse cx="56" cy="66" rx="12" ry="10" fill="rgb(190,190,190)"/>
  </svg>`;
  return sharp(Buffer.from(svg)).greyscale().jpeg({ quality: 90 }).toBuffer();
}

/**
 * A folder-layout data set with only a test split: `perLabel` chest-like JPEGs each in test/covid
 * and test/normal, `width` px wide and 10 px wider for each next one, seeds 0.. and 10...
 */
export async function makeChestTestSplit(
  root: string,
  perLabel: number,
  size: { width: number; height: number },
): Promise<string> {
  for (const [label, offset] of [
    ['covid', 0],
    ['normal', 10],
  ] as const) {
    await mkdir(path.join(root, 'test', label), { recursive: true });
    for (let i = 0; i < perLabel; i++) {
      const bytes = await makeChestLikeJpeg(size.width + 10 * i, size.height, { seed: offset + i });
      await writeFile(path.join(root, 'test', label, `${label}-${i}.jpg`), bytes);
    }
  }
  return root;
}

export async function makeColourPhotoJpeg(width = 200, height = 150): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <rect width="100%" height="60%" fill="rgb(90,160,230)"/>
    <rect y="60%" width="100%" height="40%" fill="rgb(60,170,60)"/>
    <circle cx="70%" cy="25%" r="12%" fill="rgb(250,220,40)"/>
  </svg>`;
  return sharp(Buffer.from(svg)).jpeg().toBuffer();
}

/**
 * A phone photo of a chest-like X-ray on a light box (the project's photo simulator),
 * white-balanced so that the gate's colour check lets it through.
 */
export async function makeFilmPhotoJpeg(): Promise<Buffer> {
  const xray = await makeChestLikeJpeg(300, 340, { seed: 5 });
  return simulatePhoto(xray, 1, { size: 768, variant: 'film', without: ['cast'] });
}
