import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createEngine, type Engine } from '../../src/classifier/engine.js';
import { simulatePhoto } from '../../scripts/lib/simulate-photo.js';
import type { Reading } from '../../scripts/measure-photo-signals.js';
import { makeTestModel } from '../helpers/model.js';
import { measureWorkspace, type MeasureWorkspace } from '../helpers/measure-script.js';

let ws: MeasureWorkspace;
let modelDir: string;
let engine: Engine;

beforeAll(async () => {
  ws = await measureWorkspace('xray-photo-signals-');
  modelDir = await makeTestModel({ dir: path.join(ws.work, 'model'), gate: true });
  engine = await createEngine({ modelDir });
});

afterAll(async () => {
  engine.dispose();
  await ws.remove();
});

describe('scripts/measure-photo-signals.ts', () => {
  it('reads each X-ray and its photo as the bots would, with every signal a retake check could use', async () => {
    const { stdout, json } = await ws.measure('measure-photo-signals.ts', ['--model', modelDir]);
    expect(stdout).toContain('refusing the 20% / 40% of photos that score worst');
    expect(stdout).toContain('feature distance');
    const { rows } = json as {
      rows: { file: string; original: Reading; photo: Reading }[];
    };
    expect(rows).toHaveLength(4);
    // The split is read in file order; the photo's seed is the row's index, as evaluate's.
    for (const [index, row] of rows.entries()) {
      const bytes = await readFile(path.resolve(row.file));
      for (const [reading, image] of [
        [row.original, bytes],
        [row.photo, await simulatePhoto(bytes, index)],
      ] as const) {
        const answer = await engine.classify(image);
        expect(reading.accepted).toBe(answer.accepted);
        if (answer.accepted) expect(reading.p).toBeCloseTo(answer.probability, 6);
        // The test model's gate has no head: its score is absent, not made up.
        expect(reading.head).toBeNull();
        expect(reading.distance).toBeGreaterThan(0);
        expect(reading.cropSpread).toBeGreaterThanOrEqual(0);
        expect(reading.cropSpread).toBeLessThanOrEqual(1);
        expect(Number.isFinite(reading.cropMeanLogit)).toBe(true);
        expect(reading.glare).toBeGreaterThanOrEqual(0);
        expect(reading.glare).toBeLessThanOrEqual(1);
      }
    }
    // Shifted and zoomed crops of an image do not all give the same answer.
    expect(rows.some((r) => r.original.cropSpread > 1e-6)).toBe(true);
  });
});
