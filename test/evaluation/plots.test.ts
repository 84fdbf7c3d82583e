import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reliabilityBins, rocCurve } from '../../src/evaluation/metrics.js';
import { reliabilityPlot, renderSvg, rocPlot, trainingCurvesPlot } from '../../src/evaluation/plots.js';
import { makeTempDir, removeDir } from '../training/fixtures.js';

let tmp: string;
beforeAll(async () => {
  tmp = await makeTempDir('plots-test');
});
afterAll(async () => {
  await removeDir(tmp);
});

async function expectPng(file: string, minWidth = 100): Promise<void> {
  const meta = await sharp(file).metadata();
  expect(meta.format).toBe('png');
  expect(meta.width).toBeGreaterThan(minWidth);
  expect(meta.height).toBeGreaterThan(100);
}

const labels = [0, 0, 0, 1, 1, 1, 0, 1, 1, 0, 1, 0];
const scores = [0.1, 0.4, 0.35, 0.8, 0.7, 0.9, 0.6, 0.3, 0.95, 0.05, 0.55, 0.2];

describe('plots', () => {
  it('writes a ROC curve PNG (nested folders created)', async () => {
    const file = path.join(tmp, 'nested', 'roc.png');
    const result = await rocPlot(
      [
        { name: 'val (AUC 0.86)', points: rocCurve(labels, scores) },
        {
          name: 'test',
          points: rocCurve(
            labels,
            scores.map((s) => s * s),
          ),
        },
      ],
      file,
    );
    expect(result).toBe(file);
    await expectPng(file, 300);
  });

  it('writes a reliability diagram PNG', async () => {
    const file = await reliabilityPlot(reliabilityBins(labels, scores), path.join(tmp, 'reliability.png'));
    await expectPng(file, 300);
  });

  it('writes training curves with and without validation AUC', async () => {
    const history = [
      { epoch: 1, loss: 0.7, val_loss: 0.66, val_auc: 0.71 },
      { epoch: 2, loss: 0.5, val_loss: 0.58, val_auc: 0.8 },
      { epoch: 3, loss: 0.42, val_loss: 0.55, val_auc: 0.83 },
    ];
    await expectPng(await trainingCurvesPlot(history, path.join(tmp, 'curves.png')), 600);
    await expectPng(await trainingCurvesPlot([{ epoch: 1, loss: 0.6 }], path.join(tmp, 'loss-only.png')));
  });

  it('uses DejaVu Sans and refuses external data', async () => {
    const svg = await renderSvg({
      data: { values: [{ x: 1 }] },
      mark: 'point',
      encoding: { x: { field: 'x', type: 'quantitative' } },
      config: { font: 'DejaVu Sans' },
    });
    expect(svg).toContain('DejaVu Sans');
    await expect(
      renderSvg({ data: { url: 'https://example.com/data.json' }, mark: 'point' }),
    ).rejects.toThrow(/refusing to load "https:\/\/example.com\/data.json"/);
  });
});
