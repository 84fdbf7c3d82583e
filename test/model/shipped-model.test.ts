import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { createEngine, type Engine } from '../../src/classifier/engine.js';
import { decodeImage } from '../../src/image/decode.js';
import { makeDicom } from '../helpers/dicom.js';

const MODEL = path.resolve('model');
const DATA = path.resolve('../shared/data');
const ready = existsSync(path.join(MODEL, 'card.json')) && existsSync(path.join(DATA, 'manifest.csv'));

function dirSize(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce(
    (sum, e) => sum + (e.isDirectory() ? dirSize(path.join(dir, e.name)) : statSync(path.join(dir, e.name)).size),
    0,
  );
}

describe.skipIf(!ready)('the shipped model on real images (needs model/ and ../shared/data)', () => {
  let engine: Engine;
  const rows = ready
    ? (parse(readFileSync(path.join(DATA, 'manifest.csv')), { columns: true }) as { file: string; split: string }[])
    : [];
  const negatives = ready
    ? (parse(readFileSync(path.join(DATA, 'negatives/manifest.csv')), { columns: true }) as { file: string; kind: string }[])
    : [];
  const answer = async (file: string) => {
    const r = await engine.classify(readFileSync(file), { explain: false });
    return r.accepted ? 'accepted' : r.reason;
  };

  beforeAll(async () => {
    engine = await createEngine({ modelDir: MODEL });
  });
  afterAll(() => engine.dispose());

  it('stays within the 20 MB model budget, with its card', () => {
    expect(dirSize(MODEL)).toBeLessThan(20 * 1024 * 1024);
    expect(engine.card.gate).toBeDefined();
    expect(engine.card.metrics?.test?.auc).toBeGreaterThan(0.5);
  });

  it('lets real test-split X-rays through the gate', async () => {
    const sample = rows.filter((r) => r.split === 'test').filter((_, i) => i % 8 === 0);
    const answers = await Promise.all(sample.map((r) => answer(path.join(DATA, r.file))));
    expect(answers.filter((a) => a === 'accepted').length / answers.length).toBeGreaterThanOrEqual(0.97);
  });

  it('refuses most CT slices and photos', async () => {
    for (const [kind, floor] of [['ct', 0.7], ['photo', 0.85]] as const) {
      const files = negatives.filter((n) => n.kind === kind).map((n) => path.join(DATA, 'negatives', n.file));
      const answers = await Promise.all(files.map(answer));
      expect(answers.filter((a) => a !== 'accepted').length / answers.length, kind).toBeGreaterThanOrEqual(floor);
    }
  });

  it('reads a DICOM made from a real X-ray like the X-ray itself', async () => {
    const row = rows.find((r) => r.split === 'test');
    if (row === undefined) throw new Error('no test image');
    const decoded = await decodeImage(readFileSync(path.join(DATA, row.file)));
    const dicom = makeDicom({ width: decoded.width, height: decoded.height, pixels: decoded.data });
    const fromDicom = await engine.classify(dicom, { explain: false });
    const fromJpeg = await engine.classify(readFileSync(path.join(DATA, row.file)), { explain: false });
    expect(fromDicom.accepted && fromJpeg.accepted).toBe(true);
    if (fromDicom.accepted && fromJpeg.accepted) expect(fromDicom.probability).toBeCloseTo(fromJpeg.probability, 1);
  });
});
