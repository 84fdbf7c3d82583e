import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import type { Sharp } from 'sharp';
import { mulberry32 } from '../../src/training/random.js';

export async function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `${prefix}-`));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/**
 * A greyscale image made of a random 6x6 grid upscaled smoothly: every seed gives a visibly
 * different picture with rich low-frequency content (like an X-ray, unlike flat or noisy images),
 * so its perceptual hash is distinctive and stable under re-encoding.
 */
export function smoothImage(seed: number, size = 48): Sharp {
  const random = mulberry32(seed);
  const grid = Buffer.from(Array.from({ length: 36 }, () => Math.floor(random() * 256)));
  return sharp(grid, { raw: { width: 6, height: 6, channels: 1 } }).resize(size, size, { kernel: 'cubic' });
}

/** Writes a smooth test image; the format follows the extension (.png, .jpg, .webp, .bmp bytes). */
export async function writeImage(file: string, seed: number, size = 48): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  const extension = path.extname(file).toLowerCase();
  const image = smoothImage(seed, size);
  if (extension === '.jpg' || extension === '.jpeg') await image.jpeg({ quality: 90 }).toFile(file);
  else if (extension === '.webp') await image.webp().toFile(file);
  else if (extension === '.png') await image.png().toFile(file);
  else await writeFile(file, 'not really an image'); // e.g. .bmp, which the loaders skip anyway
  return file;
}

export async function writeText(file: string, text: string): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
  return file;
}
