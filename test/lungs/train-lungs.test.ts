import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { readLungCard } from '../../src/lungs/card.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { POSTPROCESSING, runLungTraining, type LungTrainingRequest } from '../../src/lungs/train.js';
import { makeTempDir, removeDir } from '../training/fixtures.js';
import { writeLungDataset } from './fixtures.js';

let work: string;
let good: string;
let inverted: string;
const logs: string[] = [];
const counts = { train: 16, val: 6, test: 4 };

const request = (
  data: string,
  modelDir: string,
  extra: Partial<LungTrainingRequest> = {},
): LungTrainingRequest => ({
  data,
  modelDir,
  size: 32,
  filters: [4, 8],
  epochs: 20,
  warmupEpochs: 0,
  batchSize: 8,
  learningRate: 1e-2,
  seed: 3,
  patience: 20,
  augment: false,
  force: false,
  log: (line) => logs.push(line),
  ...extra,
});

beforeAll(async () => {
  work = await makeTempDir('lung-train');
  good = await writeLungDataset(path.join(work, 'good'), counts);
  // Same val and test pairs, but lung and background swapped in the train masks.
  inverted = await writeLungDataset(path.join(work, 'inverted'), counts, { invertTrain: true });
});

afterAll(async () => {
  await removeDir(work);
});

describe('runLungTraining on generated image/mask pairs', () => {
  it('trains, writes model and card, and its gate refuses a worse model', async () => {
    const modelDir = path.join(work, 'model', 'lungs');
    const epochs: number[] = [];
    const first = await runLungTraining(
      request(good, modelDir, { warmupEpochs: 1, size: 32, onEpoch: (s) => epochs.push(s.size) }),
    );
    expect(first.replaced).toBe(true);
    expect(epochs[0]).toBe(16); // the warm-up epoch runs at half the size
    expect(epochs.slice(1).every((s) => s === 32)).toBe(true);
    for (const file of ['model.json', 'weights.bin', 'card.json']) {
      expect(existsSync(path.join(modelDir, file))).toBe(true);
    }
    const card = await readLungCard(modelDir);
    expect(card.version).toBe(first.version);
    expect(card.input).toEqual({ height: 32, width: 32, channels: 1 });
    expect(card.data?.sources.map((s) => s.name)).toEqual(['alpha', 'beta']);
    expect(card.data?.sources[0]?.license).toBe('not stated');
    expect(card.metrics?.val?.overall.n).toBe(counts.val);
    expect(Object.keys(card.metrics?.val?.bySource ?? {})).toEqual(['alpha', 'beta']);
    expect(card.metrics?.test?.overall.n).toBe(counts.test);
    expect(card.metrics?.inferenceMs).toBeGreaterThan(0);
    // Dark ellipses on a bright body are easy: even this tiny model finds them.
    expect(first.valDice).toBeGreaterThan(0.7);
    expect(card.metrics?.val?.overall.dice).toBeCloseTo(first.valDice, 3);

    // Trained on swapped masks, the second model is worse on the same val pairs: refused.
    logs.length = 0;
    const worse = await runLungTraining(request(inverted, modelDir, { epochs: 4 }));
    expect(worse.replaced).toBe(false);
    expect(worse.valDice).toBeLessThan(first.valDice);
    expect(worse.currentValDice).toBeCloseTo(first.valDice, 3);
    expect(logs.some((l) => l.startsWith('Quality gate'))).toBe(true);
    expect((await readLungCard(modelDir)).version).toBe(first.version);
    expect(existsSync(path.join(worse.dir, 'model.json'))).toBe(true);
    expect(path.basename(worse.dir).startsWith(`lungs.staging-${worse.version}`)).toBe(true);

    // --force replaces it and keeps the previous model beside it.
    const forced = await runLungTraining(request(inverted, modelDir, { epochs: 2, force: true }));
    expect(forced.replaced).toBe(true);
    expect((await readLungCard(modelDir)).version).toBe(forced.version);
    expect(forced.backup).toBeDefined();
    expect(existsSync(path.join(forced.backup ?? '', 'card.json'))).toBe(true);
    expect((await fs.readdir(path.dirname(modelDir))).sort()).toEqual(
      ['lungs', `lungs.previous-${first.version}`, path.basename(worse.dir)].sort(),
    );

    // npm run evaluate:lungs measures the model in place and rewrites the card's figures.
    const before = await readLungCard(modelDir);
    await fs.writeFile(
      path.join(modelDir, 'card.json'),
      JSON.stringify({ ...before, postprocessing: 'edited by hand', metrics: {} }),
    );
    const { stdout } = await promisify(execFile)(
      path.resolve('node_modules/.bin/tsx'),
      ['scripts/evaluate-lungs.ts', '--model', modelDir, '--data', inverted, '--update-card'],
      { timeout: 120_000 },
    );
    expect(stdout).toMatch(/^val: Dice \d\.\d{4}/m);
    const after = await readLungCard(modelDir);
    expect(after.postprocessing).toBe(POSTPROCESSING);
    expect(after.metrics?.val?.overall.dice).toBeCloseTo(before.metrics?.val?.overall.dice ?? Number.NaN, 3);
  });

  it('refuses data without a val split', async () => {
    const dir = path.join(work, 'noval');
    await writeLungDataset(dir, { train: 4, val: 0, test: 0 });
    await expect(runLungTraining(request(dir, path.join(work, 'm2')))).rejects.toThrow(/val split/);
  });
});
