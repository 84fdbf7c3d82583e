import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { inputCache, preprocessingCodeFiles } from '../../src/training/input-cache.js';
import { prepareInputs } from '../../src/training/inputs.js';
import type { Sample } from '../../src/training/datasets.js';
import { makeChestLikeJpeg } from '../helpers/images.js';
import { TEST_PREPROCESSING } from '../helpers/model.js';
import { makeTempDir, removeDir } from './fixtures.js';

describe('the prepared-input cache', () => {
  let dir: string;
  let samples: Sample[];

  beforeAll(async () => {
    dir = await makeTempDir('input-cache');
    samples = [];
    for (let i = 0; i < 3; i++) {
      const file = path.join(dir, `x${i}.jpg`);
      await fs.writeFile(file, await makeChestLikeJpeg(120, 130, { seed: i }));
      samples.push({ file, label: 'normal', covid: 0, source: 'gen', patientId: `p${i}` });
    }
  });
  afterAll(async () => removeDir(dir));

  it('keys on the bytes, the spec and the variant', async () => {
    const cache = inputCache(path.join(dir, 'keys'));
    const bytes = await fs.readFile(samples[0]?.file ?? '');
    const key = cache.key(bytes, TEST_PREPROCESSING);
    expect(cache.key(Buffer.from(bytes), TEST_PREPROCESSING)).toBe(key);
    expect(cache.key(bytes, { ...TEST_PREPROCESSING, size: 48 })).not.toBe(key);
    expect(cache.key(bytes, TEST_PREPROCESSING, 'photo:1')).not.toBe(key);
    expect(cache.key(bytes.subarray(1), TEST_PREPROCESSING)).not.toBe(key);
  });

  it("hashes the code that makes an input or a photo, and not the scripts' option parsing", () => {
    const names = preprocessingCodeFiles().map((f) =>
      path.relative(process.cwd(), f).split(path.sep).join('/'),
    );
    expect(names).toEqual(
      expect.arrayContaining([
        'src/image/preprocess.ts',
        'src/image/film.ts',
        'src/lungs/mask.ts',
        'scripts/lib/simulate-photo.ts',
        'src/training/random.ts',
      ]),
    );
    expect(names).not.toContain('scripts/lib/training-options.ts');
    expect(names).not.toContain('src/training/pipeline.ts');
  });

  it('a cache that cannot be written still gives the input, and every image is kept', async () => {
    // The cache folder's place is taken by a file: every write fails.
    const blocked = path.join(dir, 'blocked');
    await fs.writeFile(blocked, 'not a folder');
    const cache = inputCache(path.join(blocked, 'inputs'));
    const prepared = await prepareInputs(samples, TEST_PREPROCESSING, { cache });
    expect(prepared.inputs).toHaveLength(samples.length);
    expect(prepared.skipped).toEqual([]);
    expect(prepared.inputs).toEqual((await prepareInputs(samples, TEST_PREPROCESSING)).inputs);
  });

  it('gives back exactly what was stored, and nothing for an unknown key', async () => {
    const cache = inputCache(path.join(dir, 'roundtrip'));
    const data = Float32Array.from([0, -1.5, 3.25, 1e-7]);
    await cache.set('ab12', { data, found: false });
    expect(await cache.get('ab12')).toEqual({ data, found: false });
    expect(await cache.get('cd34')).toBeUndefined();
  });

  it('prepareInputs fills it and then reads from it', async () => {
    const cacheDir = path.join(dir, 'prepare');
    const cache = inputCache(cacheDir);
    const fresh = await prepareInputs(samples, TEST_PREPROCESSING, { cache });
    const again = await prepareInputs(samples, TEST_PREPROCESSING, { cache });
    expect(again.inputs).toEqual(fresh.inputs);
    // Proof that the second run read the cache: an entry changed on disk comes back changed.
    const first = samples[0];
    if (first === undefined) throw new Error('no sample');
    const key = cache.key(await fs.readFile(first.file), TEST_PREPROCESSING);
    const size = TEST_PREPROCESSING.size * TEST_PREPROCESSING.size;
    await cache.set(key, { data: new Float32Array(size).fill(7), found: true });
    const edited = await prepareInputs(samples, TEST_PREPROCESSING, { cache });
    expect(edited.inputs[0]?.every((v) => v === 7)).toBe(true);
    expect(edited.inputs[1]).toEqual(fresh.inputs[1]);
    // Without the cache, preprocessing runs again.
    expect((await prepareInputs(samples, TEST_PREPROCESSING)).inputs[0]).toEqual(fresh.inputs[0]);
  });
});
