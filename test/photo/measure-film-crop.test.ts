import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createEngine, type Engine } from '../../src/classifier/engine.js';
import { decodeImage } from '../../src/image/decode.js';
import { prepareDecoded } from '../../src/image/preprocess.js';
import { simulatePhoto } from '../../scripts/lib/simulate-photo.js';
import { makeTestModel } from '../helpers/model.js';
import { measureWorkspace, type MeasureWorkspace } from '../helpers/measure-script.js';

interface Row {
  file: string;
  photo: number;
  photoFound: boolean;
  photoWhole: number;
  photoTrueCrop: number;
  photoTrueRectified: number;
  photoTrueGrown: number;
}

let ws: MeasureWorkspace;
let modelDir: string;
let engine: Engine;

beforeAll(async () => {
  ws = await measureWorkspace('xray-film-crop-');
  modelDir = await makeTestModel({ dir: path.join(ws.work, 'model') });
  engine = await createEngine({ modelDir });
});

afterAll(async () => {
  engine.dispose();
  await ws.remove();
});

describe('scripts/measure-film-crop.ts', () => {
  it('scores each photo as served and with the film step replaced by the regions it names', async () => {
    const { stdout, json } = await ws.measure('measure-film-crop.ts', ['--model', modelDir]);
    expect(stdout).toContain('photos as served (film step)');
    const { rows, summary } = json as {
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
    // Undoing the slant from the true corners is not the upright box inside them.
    expect(rows.some((r) => Math.abs(r.photoTrueRectified - r.photoTrueCrop) > 1e-6)).toBe(true);
  });
});
