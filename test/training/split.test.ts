import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLASS_LABELS, DatasetError } from '../../src/training/datasets.js';
import type { ClassLabel, Sample, Split } from '../../src/training/datasets.js';
import { mulberry32, randomInt } from '../../src/training/random.js';
import {
  computeImageHashes,
  findDuplicates,
  formatSplitCounts,
  hammingDistance,
  perceptualHash,
  removeCrossSplitDuplicates,
  splitByPatient,
  splitCounts,
} from '../../src/training/split.js';
import type { ImageHash } from '../../src/training/split.js';
import { makeTempDir, removeDir, smoothImage, writeImage } from './fixtures.js';

function sample(patientId: string, label: ClassLabel, extra: Partial<Sample> = {}): Sample {
  return {
    file: `/data/${patientId}-${Math.random()}.png`,
    label,
    covid: label === 'covid' ? 1 : 0,
    source: 'test',
    patientId,
    ...extra,
  };
}

/** A random dataset: patients with 1-6 images, one label each, some images pre-assigned. */
function randomDataset(seed: number): Sample[] {
  const random = mulberry32(seed);
  const patients = randomInt(random, 30, 250);
  const samples: Sample[] = [];
  for (let p = 0; p < patients; p++) {
    const label = CLASS_LABELS[random() < 0.5 ? 0 : random() < 0.6 ? 1 : 2] as ClassLabel;
    const images = random() < 0.7 ? 1 : randomInt(random, 2, 7);
    const preassigned: Split | undefined = random() < 0.1 ? 'test' : undefined;
    for (let i = 0; i < images; i++) {
      samples.push(sample(`p${p}`, label, preassigned === undefined ? {} : { split: preassigned }));
    }
  }
  return samples;
}

const RATIOS = { train: 0.7, val: 0.15, test: 0.15 };

describe('splitByPatient', () => {
  it('never puts a patient in two splits, assigns everything and keeps ratios (100 random datasets)', () => {
    // Violations are collected as strings and checked once per dataset: 100 datasets x ~500
    // samples would make one expect() per sample slow.
    for (let seed = 0; seed < 100; seed++) {
      const input = randomDataset(seed);
      const output = splitByPatient(input, { seed, ratios: RATIOS });
      const problems: string[] = [];

      if (output.length !== input.length) problems.push(`length ${output.length} != ${input.length}`);
      const splitOfPatient = new Map<string, Split>();
      output.forEach((s, i) => {
        if (s.split === undefined) problems.push(`sample ${i} unassigned`);
        const before = input[i]?.split;
        if (before !== undefined && s.split !== before) problems.push(`sample ${i} moved from ${before}`);
        const seen = splitOfPatient.get(s.patientId);
        if (seen !== undefined && seen !== s.split)
          problems.push(`patient ${s.patientId} in ${seen} and ${s.split}`);
        splitOfPatient.set(s.patientId, s.split as Split);
      });

      // Ratios among the newly assigned images, overall and per label (stratification). Whole
      // patients of up to 6 images move at once, so small strata get a looser bound.
      const fresh = output.filter((_, i) => input[i]?.split === undefined);
      for (const label of [undefined, ...CLASS_LABELS]) {
        const stratum = fresh.filter((s) => label === undefined || s.label === label);
        if (stratum.length < 40) continue;
        const tolerance = 6 / stratum.length + 0.03;
        for (const split of ['train', 'val', 'test'] as const) {
          const share = stratum.filter((s) => s.split === split).length / stratum.length;
          if (Math.abs(share - RATIOS[split]) >= tolerance) {
            problems.push(`${label ?? 'all'} ${split} share ${share.toFixed(3)} (n=${stratum.length})`);
          }
        }
      }
      expect(problems, `seed ${seed}`).toEqual([]);
    }
  });

  it('is reproducible from the seed and independent of input order', () => {
    const input = randomDataset(7);
    const a = splitByPatient(input, { seed: 42, ratios: RATIOS });
    const b = splitByPatient(input, { seed: 42, ratios: RATIOS });
    const reversed = splitByPatient([...input].reverse(), { seed: 42, ratios: RATIOS }).reverse();
    const other = splitByPatient(input, { seed: 43, ratios: RATIOS });
    expect(b.map((s) => s.split)).toEqual(a.map((s) => s.split));
    expect(reversed.map((s) => s.split)).toEqual(a.map((s) => s.split));
    expect(other.map((s) => s.split)).not.toEqual(a.map((s) => s.split));
    expect(input.every((s, i) => s !== a[i])).toBe(true); // copies, input untouched
  });

  it("puts a patient's unassigned images into the split the patient already has", () => {
    const input = [sample('p1', 'covid', { split: 'val' }), sample('p1', 'covid'), sample('p2', 'normal')];
    const output = splitByPatient(input, { seed: 1, ratios: RATIOS });
    expect(output.map((s) => s.split)).toEqual(['val', 'val', 'train']);
  });

  it('leaves out splits with ratio 0 and rejects bad ratios', () => {
    const input = Array.from({ length: 50 }, (_, i) => sample(`p${i}`, i % 2 ? 'covid' : 'normal'));
    const output = splitByPatient(input, { seed: 3, ratios: { train: 0.8, val: 0, test: 0.2 } });
    expect(output.filter((s) => s.split === 'val')).toHaveLength(0);
    expect(output.filter((s) => s.split === 'test')).toHaveLength(10);
    expect(() => splitByPatient(input, { seed: 3, ratios: { train: -1, val: 1, test: 1 } })).toThrow(
      RangeError,
    );
    expect(() => splitByPatient(input, { seed: 3, ratios: { train: 0, val: 0, test: 0 } })).toThrow(
      RangeError,
    );
  });

  it('can stratify by source and label', () => {
    const input = [
      ...Array.from({ length: 20 }, (_, i) => sample(`a${i}`, 'covid', { source: 'a' })),
      ...Array.from({ length: 20 }, (_, i) => sample(`b${i}`, 'covid', { source: 'b' })),
    ];
    const output = splitByPatient(input, {
      seed: 5,
      ratios: { train: 0.5, val: 0, test: 0.5 },
      stratify: 'source_label',
    });
    for (const source of ['a', 'b']) {
      expect(output.filter((s) => s.source === source && s.split === 'train')).toHaveLength(10);
    }
  });
});

describe('duplicates', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await makeTempDir('split-test');
  });
  afterAll(async () => {
    await removeDir(tmp);
  });

  async function imageSample(name: string, seed: number, split: Split, patientId: string): Promise<Sample> {
    const file = await writeImage(path.join(tmp, name), seed, 64);
    return sample(patientId, 'covid', { file, split });
  }

  it('gives re-encoded copies a near pHash and different images a far one', async () => {
    const original = await smoothImage(11, 64).png().toBuffer();
    const reencoded = await sharp(original).resize(57, 57).jpeg({ quality: 60 }).toBuffer();
    const other = await smoothImage(12, 64).png().toBuffer();
    const [a, b, c] = await Promise.all([original, reencoded, other].map((buffer) => perceptualHash(buffer)));
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(hammingDistance(a as string, b as string)).toBeLessThanOrEqual(2);
    expect(hammingDistance(a as string, c as string)).toBeGreaterThan(10);
  });

  it('keeps exact and near copies in one split: the later-split twin is dropped', async () => {
    const trainOriginal = await imageSample('orig.png', 100, 'train', 'p1');
    const exactCopyFile = path.join(tmp, 'copy.png');
    await copyFile(trainOriginal.file, exactCopyFile);
    const exactCopyInTest = sample('p2', 'covid', { file: exactCopyFile, split: 'test' });

    const valOriginal = await imageSample('val-orig.png', 200, 'val', 'p3');
    const nearCopyFile = path.join(tmp, 'near.jpg');
    await sharp(valOriginal.file).resize(60, 60).jpeg({ quality: 70 }).toFile(nearCopyFile);
    const nearCopyInTest = sample('p4', 'normal', { file: nearCopyFile, split: 'test' });

    const sameSplitTwinFile = path.join(tmp, 'twin.png');
    const unrelated = await imageSample('unrelated.png', 300, 'train', 'p5');
    await copyFile(unrelated.file, sameSplitTwinFile);
    const sameSplitTwin = sample('p6', 'covid', { file: sameSplitTwinFile, split: 'train' });
    const distinct = await Promise.all(
      [400, 401, 402, 403].map((seed, i) =>
        imageSample(`d${i}.png`, seed, i % 2 ? 'test' : 'train', `q${i}`),
      ),
    );

    const samples = [
      trainOriginal,
      exactCopyInTest,
      valOriginal,
      nearCopyInTest,
      unrelated,
      sameSplitTwin,
      ...distinct,
    ];
    const groups = await findDuplicates(samples);
    expect(groups.map((g) => g.indices)).toEqual([
      [0, 1],
      [2, 3],
      [4, 5],
    ]);
    expect(groups.map((g) => g.exact)).toEqual([true, false, true]);

    const result = await removeCrossSplitDuplicates(samples);
    expect(result.removed.map((r) => [r.sample, r.keptTwin])).toEqual([
      [exactCopyInTest, trainOriginal],
      [nearCopyInTest, valOriginal],
    ]);
    expect(result.samples).toEqual(samples.filter((s) => s !== exactCopyInTest && s !== nearCopyInTest));
    const remainingGroups = await findDuplicates(result.samples);
    for (const group of remainingGroups) {
      expect(new Set(group.indices.map((i) => result.samples[i]?.split)).size).toBe(1);
    }
  });

  it('requires splits before removing cross-split duplicates', async () => {
    await expect(removeCrossSplitDuplicates([sample('p1', 'covid')])).rejects.toThrow(DatasetError);
  });

  it('finds the one planted duplicate among 4,000 precomputed hashes', async () => {
    const random = mulberry32(9);
    const hex = (): string =>
      Array.from({ length: 2 }, () =>
        Math.floor(random() * 2 ** 32)
          .toString(16)
          .padStart(8, '0'),
      ).join('');
    const hashes: ImageHash[] = Array.from({ length: 4000 }, (_, i) => ({ sha256: `sha${i}`, phash: hex() }));
    hashes[3999] = { sha256: 'sha0', phash: hex() }; // an exact duplicate of #0
    const samples = hashes.map((_, i) => sample(`p${i}`, 'normal', { split: 'train' }));
    // How long this takes is a benchmark figure (npm run bench), not a test.
    const groups = await findDuplicates(samples, { hashes });
    // Random 64-bit hashes are ~32 bits apart; only the planted exact pair is a duplicate.
    expect(groups).toEqual([{ indices: [0, 3999], exact: true }]);
  });

  it('hashes files with SHA-256 and pHash', async () => {
    const file = await writeImage(path.join(tmp, 'hash-me.png'), 77);
    const [hash] = await computeImageHashes([file]);
    expect(hash?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(hash?.phash).toMatch(/^[0-9a-f]{16}$/);
    const [broken] = await computeImageHashes([await writeImage(path.join(tmp, 'broken.bmp'), 1)]);
    expect(broken?.phash).toBeUndefined();
  });

  it('computes Hamming distances', () => {
    expect(hammingDistance('0000000000000000', 'ffffffffffffffff')).toBe(64);
    expect(hammingDistance('8000000000000001', '0000000000000000')).toBe(2);
    expect(hammingDistance('0123456789abcdef', '0123456789abcdef')).toBe(0);
  });
});

describe('splitCounts', () => {
  it('counts split x label and source x split x label', () => {
    const samples = [
      sample('a', 'covid', { split: 'train', source: 's1' }),
      sample('a', 'covid', { split: 'train', source: 's1' }),
      sample('b', 'normal', { split: 'test', source: 's2' }),
      sample('c', 'pneumonia_other', { source: 's2' }),
    ];
    const counts = splitCounts(samples);
    expect(counts.total).toBe(4);
    expect(counts.patients).toBe(3);
    expect(counts.bySplit.train).toEqual({ covid: 2, normal: 0, pneumonia_other: 0, total: 2 });
    expect(counts.bySplit.unassigned.pneumonia_other).toBe(1);
    expect(counts.bySource.s2?.test).toEqual({ covid: 0, normal: 1, pneumonia_other: 0, total: 1 });
    const table = formatSplitCounts(counts);
    expect(table.split('\n')[0]).toMatch(/^source\s+split\s+covid\s+normal\s+pneumonia_other\s+total$/);
    expect(table).toMatch(/all\s+train\s+2\s+0\s+0\s+2/);
  });
});
