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

  it('crops to the lungs with the lung model it was trained with, from model/lungs', () => {
    expect(engine.card.preprocessing.lungs?.crop).toBe(true);
    expect(engine.lungs?.card.version).toBe(engine.card.preprocessing.lungs?.model);
  });

  it('puts the lung box of a real X-ray, not its corners, in front of the model', async () => {
    const row = rows.find((r) => r.split === 'test');
    if (row === undefined) throw new Error('no test image');
    const prepared = await engine.prepare(readFileSync(path.join(DATA, row.file)));
    const { width, height } = prepared.decoded;
    const r = prepared.input.region;
    // Lungs fill a good part of a frontal film, and the box stays inside the image.
    expect(r.width * r.height).toBeGreaterThan(0.2 * width * height);
    expect(r.width * r.height).toBeLessThan(width * height);
    expect(r.left + r.width).toBeLessThanOrEqual(width);
    expect(r.top + r.height).toBeLessThanOrEqual(height);
  });

  // The gate's head was fitted on these negatives: this checks the shipped behaviour, not how
  // well it generalises (the card's metrics.gateHead holds the cross-validated figures).
  it('refuses most CT slices, photos, lateral views and knee X-rays', async () => {
    for (const [kind, floor] of [['ct', 0.7], ['photo', 0.85], ['lateral', 0.5], ['other_xray', 0.7]] as const) {
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
