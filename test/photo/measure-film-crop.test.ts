import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createEngine, type Engine } from '../../src/classifier/engine.js';
import { decodeImage } from '../../src/image/decode.js';
import { prepareDecoded } from '../../src/image/preprocess.js';
import { simulatePhoto } from '../../scripts/lib/simulate-photo.js';
import { makeTestModel } from '../helpers/model.js';
import { makeChestTestSplit } from '../helpers/images.js';

const run = promisify(execFile);
const TSX = path.resolve('node_modules/.bin/tsx');
const SCRIPT = path.resolve('scripts/measure-film-crop.ts');

interface Row {
  file: string;
  photo: number;
  photoFound: boolean;
  photoWhole: number;
  photoTrueCrop: number;
  photoTrueGrown: number;
}

let work: string;
let modelDir: string;
let data: string;
let engine: Engine;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'xray-film-crop-'));
  modelDir = await makeTestModel({ dir: path.join(work, 'model') });
  engine = await createEngine({ modelDir });
  data = path.join(work, 'data');
  await makeChestTestSplit(data, 2, { width: 260, height: 300 });
});

afterAll(async () => {
  engine.dispose();
  await rm(work, { recursive: true, force: true });
});

describe('scripts/measure-film-crop.ts', () => {
  it('scores each photo as served and with the film step replaced by the regions it names', async () => {
    const out = path.join(work, 'rows.json');
    const { stdout } = await run(
      TSX,
      [SCRIPT, '--model', modelDir, '--data', data, '--out', out, '--quiet'],
      { timeout: 120_000 },
    );
    expect(stdout).toContain('photos as served (film step)');
    const { rows, summary } = JSON.parse(await readFile(out, 'utf8')) as {
      rows: Row[];
      summary: { n: number };
    };
    expect(summary.n).toBe(4);
    expect(rows).toHaveLength(4);

    const spec = engine.card.preprocessing;
    const score = async (image: Awaited<ReturnType<typeof decodeImage>>, film: boolean) =>
      (await engine.predict([(await prepareDecoded(image, { ...spec, film })).input]))[0];
    // The split is read in file order; the photo's seed is the row's index.
    for (const [index, row] of rows.entries()) {
      const photo = await decodeImage(await simulatePhoto(await readFile(path.resolve(row.file)), index));
      // "As served" is the bots' path, film step included; "whole" is the photo without it.
      expect(row.photo).toBeCloseTo((await score(photo, true)) ?? Number.NaN, 6);
      expect(row.photoWhole).toBeCloseTo((await score(photo, false)) ?? Number.NaN, 6);
    }
    // The film is found in these photos, and cutting to it changes what the model sees.
    expect(rows.filter((r) => r.photoFound).length).toBeGreaterThanOrEqual(3);
    expect(rows.some((r) => r.photoFound && Math.abs(r.photo - r.photoWhole) > 1e-6)).toBe(true);
    // Growing the true box takes in surroundings, so the model sees something else than the true crop.
    expect(rows.some((r) => Math.abs(r.photoTrueGrown - r.photoTrueCrop) > 1e-6)).toBe(true);
  });
});
