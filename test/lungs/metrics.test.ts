import { describe, expect, it } from 'vitest';
import { dice, iou, overlap, summariseOverlap } from '../../src/lungs/metrics.js';

describe('dice and iou', () => {
  // prediction 1 1 0 0 / truth 0 1 1 0: |P|=2, |T|=2, |P∩T|=1, |P∪T|=3.
  const prediction = [1, 1, 0, 0];
  const truth = [0, 1, 1, 0];

  it('match hand-computed values', () => {
    expect(overlap(prediction, truth)).toEqual({ both: 1, predicted: 2, truth: 2 });
    expect(dice(prediction, truth)).toBeCloseTo(0.5, 12); // 2*1 / (2+2)
    expect(iou(prediction, truth)).toBeCloseTo(1 / 3, 12); // 1 / 3
  });

  it('treat any non-zero value as lung (0/255 masks)', () => {
    const a = Uint8Array.from([255, 255, 255, 0, 0, 0]);
    const b = Uint8Array.from([255, 255, 0, 0, 0, 255]);
    // |A|=3, |B|=3, |A∩B|=2 -> Dice 4/6, IoU 2/4.
    expect(dice(a, b)).toBeCloseTo(2 / 3, 12);
    expect(iou(a, b)).toBeCloseTo(0.5, 12);
  });

  it('are 1 for identical masks, 0 for disjoint ones, 1 for two empty ones', () => {
    expect(dice([1, 0, 1], [1, 0, 1])).toBe(1);
    expect(iou([1, 0, 1], [1, 0, 1])).toBe(1);
    expect(dice([1, 0], [0, 1])).toBe(0);
    expect(iou([1, 0], [0, 1])).toBe(0);
    expect(dice([0, 0], [0, 0])).toBe(1);
    expect(iou([0, 0], [0, 0])).toBe(1);
  });

  it('keep Dice = 2 IoU / (1 + IoU)', () => {
    const p = [1, 1, 1, 0, 0, 1, 0, 1];
    const t = [1, 0, 1, 1, 0, 1, 1, 0];
    const j = iou(p, t);
    expect(dice(p, t)).toBeCloseTo((2 * j) / (1 + j), 12);
  });

  it('refuse masks of different sizes', () => {
    expect(() => dice([1, 0], [1, 0, 0])).toThrow(RangeError);
  });
});

describe('summariseOverlap', () => {
  it('averages per image, overall and per source', () => {
    const s = summariseOverlap([
      { source: 'b', dice: 0.9, iou: 0.8 },
      { source: 'a', dice: 0.7, iou: 0.6 },
      { source: 'b', dice: 0.5, iou: 0.4 },
    ]);
    expect(s.overall.n).toBe(3);
    expect(s.overall.dice).toBeCloseTo(0.7, 12);
    expect(s.overall.minDice).toBe(0.5);
    expect(Object.keys(s.bySource)).toEqual(['a', 'b']);
    expect(s.bySource['b']?.dice).toBeCloseTo(0.7, 12);
    expect(s.bySource['b']?.iou).toBeCloseTo(0.6, 12);
    expect(s.bySource['a']).toEqual({ n: 1, dice: 0.7, iou: 0.6, minDice: 0.7 });
  });
});
