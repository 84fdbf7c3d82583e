import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  evaluateModel,
  markdownReport,
  pairedPhotoFigures,
  updateCardWithEvaluation,
} from '../../src/evaluation/evaluate.js';
import { readCard } from '../../src/model/card.js';
import { makeTestModel } from '../helpers/model.js';
import { makeChestTestSplit } from '../helpers/images.js';

let work: string;
let modelDir: string;
let data: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'xray-photo-eval-'));
  modelDir = await makeTestModel({ dir: path.join(work, 'model') });
  data = path.join(work, 'data');
  // A tiny folder-layout dataset: test/covid and test/normal, three images each.
  await makeChestTestSplit(data, 3, { width: 180, height: 200 });
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('evaluate --simulate-photo', () => {
  it('scores a simulated phone photo of every image and reports AUC drop and mean |change in probability|', async () => {
    const r = await evaluateModel({ modelDir, data, split: 'test', simulatePhoto: true });
    const photo = r.photo;
    expect(photo).toBeDefined();
    if (photo === undefined) return;
    expect(photo.n).toBe(6);
    expect(photo.meanAbsDelta).toBeGreaterThanOrEqual(0);
    expect(photo.meanAbsDelta).toBeLessThanOrEqual(1);
    // The gate's verdict on every photo is counted (the test model's gate refuses only colour and shape).
    expect(photo.gate?.n).toBe(6);
    expect(
      (photo.gate?.accepted ?? 0) + Object.values(photo.gate?.reasons ?? {}).reduce((a, b) => a + b, 0),
    ).toBe(6);
    // The figures over the photos the gate lets through: as many as it accepts.
    expect(photo.acceptedByGate?.n).toBe(photo.gate?.accepted);
    // Films and monitors apart: each photo is one of them, and so is each one the gate lets through.
    const kinds = Object.values(photo.byKind ?? {});
    expect(kinds.reduce((a, k) => a + k.all.n, 0)).toBe(6);
    expect(kinds.reduce((a, k) => a + (k.acceptedByGate?.n ?? 0), 0)).toBe(photo.gate?.accepted);
    expect(Object.keys(photo.byKind ?? {}).every((k) => k === 'film' || k === 'monitor')).toBe(true);
    // Both classes are present, so both AUCs exist and the drop is their difference.
    expect(photo.auc).not.toBeNull();
    expect(photo.aucDrop).toBeCloseTo((r.overall.auc ?? Number.NaN) - (photo.auc ?? Number.NaN), 9);

    expect(photo.ece).not.toBeNull();
    expect(markdownReport(r, [])).toContain('Phone photos of the film or screen');
    expect(markdownReport(r, [])).toContain(`calibration error (ECE) ${photo.ece?.toFixed(3)}`);
    await updateCardWithEvaluation(modelDir, r);
    const card = await readCard(modelDir);
    expect(card.metrics?.['phonePhoto']).toEqual(photo);
    expect(card.limitations.some((l) => l.includes('simulated phone photos'))).toBe(true);
  });
});

describe('pairedPhotoFigures', () => {
  it("gives the photos' AUC and its drop, the changes in probability, and the photos' calibration error", () => {
    const labels = [0, 0, 1, 1];
    const f = pairedPhotoFigures(labels, [0.1, 0.3, 0.6, 0.9], [0.2, 0.7, 0.6, 0.95]);
    expect(f.n).toBe(4);
    // Originals rank perfectly; on the photos the 0.7 negative outranks the 0.6 positive.
    expect(f.auc).toBeCloseTo(0.75, 9);
    expect(f.aucDrop).toBeCloseTo(0.25, 9);
    // Changes 0.1, 0.4, 0, 0.05.
    expect(f.meanAbsDelta).toBeCloseTo(0.1375, 9);
    expect(f.medianAbsDelta).toBeCloseTo(0.05, 9);
    // One photo per bin: |0 - 0.2|, |0 - 0.7|, |1 - 0.6|, |1 - 0.95|, each a quarter of the photos.
    expect(f.ece).toBeCloseTo((0.2 + 0.7 + 0.4 + 0.05) / 4, 9);
    expect(pairedPhotoFigures([], [], []).ece).toBeNull();
  });
});
