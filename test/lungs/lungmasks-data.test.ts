import { describe, expect, it } from 'vitest';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { decodeImage } from '../../src/image/decode.js';
import { lungPreprocessing } from '../../src/lungs/card.js';
import { loadLungManifest, preparePairs, readTruthMask, type LungSample } from '../../src/lungs/data.js';
import { dice } from '../../src/lungs/metrics.js';
import { createSegmenter, lungsFound } from '../../src/lungs/segment.js';

const data = path.resolve('../shared/data/lungmasks');
const shipped = path.resolve('model/lungs');

/** Two pairs per source from a split, in manifest order (deterministic and quick). */
function pick(samples: readonly LungSample[], split: LungSample['split'], perSource = 2): LungSample[] {
  const sources = [...new Set(samples.map((s) => s.source))].sort();
  return sources.flatMap((source) =>
    samples.filter((s) => s.split === split && s.source === source).slice(0, perSource),
  );
}

describe.skipIf(!existsSync(data))('lung masks (needs ../shared/data/lungmasks)', () => {
  it('reads the manifest: 853 pairs, splits as in the README, every file there', async () => {
    const samples = await loadLungManifest(data);
    expect(samples).toHaveLength(853);
    const count = (split: string) => samples.filter((s) => s.split === split).length;
    expect([count('train'), count('val'), count('test')]).toEqual([692, 104, 57]);
    expect([...new Set(samples.map((s) => s.source))].sort()).toEqual(['montgomery', 'shenzhen', 'v7covid']);
    expect(samples.every((s) => existsSync(s.image) && existsSync(s.mask))).toBe(true);
  });

  it('prepares pairs through the one preprocessing path, masks aligned with their images', async () => {
    const samples = pick(await loadLungManifest(data), 'train', 1);
    const prepared = await preparePairs(samples, lungPreprocessing(64));
    for (const [i, sample] of samples.entries()) {
      expect(prepared.inputs[i]).toHaveLength(64 * 64);
      const target = prepared.targets[i]!;
      expect(target.every((v) => v === 0 || v === 1)).toBe(true);
      const share = target.reduce((s, v) => s + v, 0) / target.length;
      expect(share).toBeGreaterThan(0.1);
      expect(share).toBeLessThan(0.6);
      const decoded = await decodeImage(await fs.readFile(sample.image));
      expect(await readTruthMask(sample, decoded)).toHaveLength(decoded.width * decoded.height);
      // Lungs are darker than the rest of the image on every source.
      const input = prepared.inputs[i]!;
      let [lung, rest] = [0, 0];
      target.forEach((v, j) => (v === 1 ? (lung += input[j]!) : (rest += input[j]!)));
      expect(lung / (share * target.length)).toBeLessThan(rest / ((1 - share) * target.length));
    }
  });

  it.skipIf(!existsSync(path.join(shipped, 'card.json')))(
    'the shipped model (model/lungs) finds the lungs of val images of every source',
    async () => {
      const segmenter = await createSegmenter({ modelDir: shipped });
      try {
        const samples = pick(await loadLungManifest(data), 'val');
        for (const sample of samples) {
          const decoded = await decodeImage(await fs.readFile(sample.image));
          const mask = await segmenter.segment(decoded);
          expect([mask.width, mask.height]).toEqual([decoded.width, decoded.height]);
          const score = dice(mask.data, await readTruthMask(sample, decoded));
          expect(score, `${path.basename(sample.image)}: Dice ${score.toFixed(3)}`).toBeGreaterThan(0.85);
          expect(lungsFound(mask, segmenter.card.minPlausibility)).toBe(true);
        }
      } finally {
        segmenter.dispose();
      }
    },
  );
});
