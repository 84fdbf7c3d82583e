import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createEngine, type Engine } from '../../src/classifier/engine.js';
import { logit, sigmoid } from '../../src/evaluation/calibration.js';
import { calibrate } from '../../src/model/calibration.js';
import { simulatePhoto } from '../../scripts/lib/simulate-photo.js';
import type { EnsembleRow } from '../../scripts/measure-photo-ensemble.js';
import { makeTestModel } from '../helpers/model.js';
import { measureWorkspace, type MeasureWorkspace } from '../helpers/measure-script.js';

let ws: MeasureWorkspace;
let dirs: string[];
let engines: Engine[];

beforeAll(async () => {
  ws = await measureWorkspace('xray-photo-ensemble-');
  dirs = [
    await makeTestModel({ dir: path.join(ws.work, 'a'), version: 'model-a', seed: 7 }),
    await makeTestModel({ dir: path.join(ws.work, 'b'), version: 'model-b', seed: 8 }),
  ];
  engines = await Promise.all(dirs.map((modelDir) => createEngine({ modelDir })));
});

afterAll(async () => {
  for (const engine of engines) engine.dispose();
  await ws.remove();
});

describe('scripts/measure-photo-ensemble.ts', () => {
  it("scores every X-ray and its photo with each model, and the models' averaged logits", async () => {
    const { stdout, json } = await ws.measure('measure-photo-ensemble.ts', ['--model', ...dirs]);
    const { models, rows } = json as {
      models: string[];
      rows: EnsembleRow[];
    };
    expect(models).toEqual(['model-a', 'model-b']);
    expect(rows).toHaveLength(4);
    // The photo's seed is the row's index, as evaluate's; each probability is the bot's answer.
    for (const [index, row] of rows.entries()) {
      const bytes = await readFile(path.resolve(row.file));
      const photo = await simulatePhoto(bytes, index);
      for (const [m, engine] of engines.entries()) {
        for (const [p, image] of [
          [row.original[m], bytes],
          [row.photo[m], photo],
        ] as const) {
          const prepared = await engine.prepare(image);
          const { rawProbability } = await engine.analyse(prepared.input, false);
          expect(p).toBeCloseTo(calibrate(rawProbability, engine.card.calibration), 6);
        }
      }
    }
    // The two networks differ (other seeds), so averaging is not a copy of either.
    expect(rows.some((r) => Math.abs((r.original[0] ?? 0) - (r.original[1] ?? 0)) > 1e-4)).toBe(true);
    const both = (ps: number[]) => sigmoid((logit(ps[0] ?? NaN) + logit(ps[1] ?? NaN)) / 2);
    const change = rows.reduce((s, r) => s + Math.abs(both(r.photo) - both(r.original)), 0) / rows.length;
    expect(stdout).toMatch(new RegExp(`logits of all 2 averaged .* mean \\|dp\\| ${change.toFixed(3)}`));
    expect(stdout).toContain('correlation of the changes in logit');
    // A model's changes agree perfectly with themselves.
    expect(stdout).toMatch(/model-a\s+1\.000 /);
  });
});
