import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { mulberry32 } from '../../src/training/random.js';
import type { LungBox } from '../../src/lungs/segment.js';

/** Two lung-like ellipses: centres, radii as fractions of the image size. */
export interface LungLayout {
  centres: [[number, number], [number, number]];
  radii: [number, number];
}

export const DEFAULT_LAYOUT: LungLayout = {
  centres: [
    [0.3, 0.45],
    [0.7, 0.45],
  ],
  radii: [0.13, 0.3],
};

/** 255 inside either ellipse, 0 outside. */
export function lungMask(width: number, height: number, layout: LungLayout = DEFAULT_LAYOUT): Uint8Array {
  const mask = new Uint8Array(width * height);
  const [rx, ry] = [layout.radii[0] * width, layout.radii[1] * height];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inside = layout.centres.some(
        ([cx, cy]) => ((x + 0.5 - cx * width) / rx) ** 2 + ((y + 0.5 - cy * height) / ry) ** 2 <= 1,
      );
      if (inside) mask[y * width + x] = 255;
    }
  }
  return mask;
}

/** The box of the lung pixels of `mask` (the truth the crop must find). */
export function boxOf(mask: Uint8Array, width: number): LungBox {
  let [left, top, right, bottom] = [Infinity, Infinity, -1, -1];
  mask.forEach((v, i) => {
    if (v === 0) return;
    const x = i % width;
    const y = (i - x) / width;
    [left, top, right, bottom] = [
      Math.min(left, x),
      Math.min(top, y),
      Math.max(right, x),
      Math.max(bottom, y),
    ];
  });
  return { left, top, width: right - left + 1, height: bottom - top + 1 };
}

/** A chest-like picture: bright body, dark lungs where the mask is, noise and a bright spine. */
export function chestPixels(width: number, height: number, mask: Uint8Array, seed: number): Uint8Array {
  const random = mulberry32(seed);
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const spine = Math.abs(x - width / 2) < width * 0.03 ? 40 : 0;
      const base = mask[i] !== 0 ? 60 : 150 + spine;
      out[i] = Math.max(0, Math.min(255, Math.round(base + (random() - 0.5) * 40)));
    }
  }
  return out;
}

export async function pngOf(data: Uint8Array, width: number, height: number): Promise<Buffer> {
  return sharp(data, { raw: { width, height, channels: 1 } })
    .png()
    .toBuffer();
}

/** A lung layout jittered by `seed`, so that pairs differ. */
export function jitteredLayout(seed: number): LungLayout {
  const r = mulberry32(seed);
  const j = (v: number, d: number) => v + (r() - 0.5) * 2 * d;
  return {
    centres: [
      [j(0.3, 0.04), j(0.45, 0.05)],
      [j(0.7, 0.04), j(0.45, 0.05)],
    ],
    radii: [j(0.13, 0.02), j(0.3, 0.04)],
  };
}

/**
 * A lungmasks-style folder (manifest.csv, images/, masks/) of generated pairs. `invertTrain`
 * swaps lung and background in the train masks only: a model trained on it must be worse.
 */
export async function writeLungDataset(
  root: string,
  counts: { train: number; val: number; test: number },
  options: { size?: number; invertTrain?: boolean } = {},
): Promise<string> {
  const size = options.size ?? 48;
  await mkdir(path.join(root, 'images'), { recursive: true });
  await mkdir(path.join(root, 'masks'), { recursive: true });
  const rows = ['image,mask,source,patient_id,split'];
  let seed = 1;
  for (const split of ['train', 'val', 'test'] as const) {
    for (let i = 0; i < counts[split]; i++, seed++) {
      const source = i % 2 === 0 ? 'alpha' : 'beta';
      // Non-square on purpose: the segmenter stretches and maps back.
      const [w, h] = [size + (seed % 3) * 4, size];
      const mask = lungMask(w, h, jitteredLayout(seed));
      const image = chestPixels(w, h, mask, seed);
      const stored = options.invertTrain && split === 'train' ? mask.map((v) => 255 - v) : mask;
      const name = `${source}_${seed}`;
      await writeFile(path.join(root, 'images', `${name}.png`), await pngOf(image, w, h));
      await writeFile(path.join(root, 'masks', `${name}.png`), await pngOf(stored, w, h));
      rows.push(`images/${name}.png,masks/${name}.png,${source},${source}_p${seed},${split}`);
    }
  }
  await writeFile(path.join(root, 'manifest.csv'), `${rows.join('\n')}\n`);
  return root;
}
