import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeImage } from '../../src/image/decode.js';
import { detectFilm, innerBox, type FilmBox } from '../../src/image/film.js';
import { loadDataset } from '../../src/training/datasets.js';
import { simulatePhotoDetailed } from '../../scripts/lib/simulate-photo.js';

const data = path.resolve('../shared/data');

function iou(a: FilmBox, b: FilmBox): number {
  const w = Math.min(a.left + a.width, b.left + b.width) - Math.max(a.left, b.left);
  const h = Math.min(a.top + a.height, b.top + b.height) - Math.max(a.top, b.top);
  const inter = Math.max(0, w) * Math.max(0, h);
  return inter / (a.width * a.height + b.width * b.height - inter);
}

describe.skipIf(!existsSync(path.join(data, 'manifest.csv')))(
  'the film finder on real X-rays (needs ../shared/data)',
  () => {
    it('leaves real X-rays alone and finds them in their simulated phone photos', async () => {
      const test = (await loadDataset(data)).samples.filter((s) => s.split === 'test');
      // Spread over the split, so every collection (and its borders and sizes) is in.
      const step = Math.floor(test.length / 12);
      const samples = test.filter((_, i) => i % step === 0).slice(0, 12);
      let fired = 0;
      let found = 0;
      for (const [i, sample] of samples.entries()) {
        const bytes = await readFile(sample.file);
        if (detectFilm(await decodeImage(bytes)) !== null) fired++;
        const photo = await simulatePhotoDetailed(bytes, i, { size: 640 });
        const box = detectFilm(await decodeImage(photo.jpeg))?.box ?? null;
        const truth = innerBox(photo.xray);
        if (box !== null && iou(box, truth) >= 0.5) found++;
      }
      expect(fired).toBe(0);
      expect(found / samples.length).toBeGreaterThanOrEqual(0.8);
    });
  },
);
