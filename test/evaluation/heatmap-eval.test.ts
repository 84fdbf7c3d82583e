import { describe, expect, it } from 'vitest';
import { maskInFrame, outsideShare } from '../../src/evaluation/heatmap-eval.js';

describe('outsideShare', () => {
  it('weights each cell by the part of it not covered by lung', () => {
    const lung = Float32Array.from([1, 1, 0, 0.5]);
    // All mass on lung cells: 0; all on the background cell: 1; half on a half-lung cell: 0.5.
    expect(outsideShare(Uint8Array.from([100, 50, 0, 0]), lung)).toBe(0);
    expect(outsideShare(Uint8Array.from([0, 0, 200, 0]), lung)).toBe(1);
    expect(outsideShare(Uint8Array.from([0, 0, 0, 80]), lung)).toBe(0.5);
    // 100 on lung, 100 on background: half outside.
    expect(outsideShare(Uint8Array.from([100, 0, 100, 0]), lung)).toBe(0.5);
    // An even map scores the background share: (0 + 0 + 1 + 0.5) / 4.
    expect(outsideShare(null, lung)).toBeCloseTo(0.375, 6);
    expect(outsideShare(Uint8Array.from([0, 0, 0, 0]), lung)).toBe(0);
  });
});

describe('maskInFrame', () => {
  it('cuts the region the model saw out of the mask and gives coverage per grid cell', async () => {
    // 100 x 100 mask, lung in the left half only.
    const data = new Uint8Array(100 * 100);
    for (let y = 0; y < 100; y++) for (let x = 0; x < 50; x++) data[y * 100 + x] = 255;
    const mask = { width: 100, height: 100, data };
    const whole = await maskInFrame(mask, { left: 0, top: 0, width: 100, height: 100 });
    const mean = whole.reduce((s, v) => s + v, 0) / whole.length;
    expect(mean).toBeCloseTo(0.5, 2);
    // The region's left quarter is lung, the rest background.
    const right = await maskInFrame(mask, { left: 40, top: 0, width: 40, height: 100 });
    const rmean = right.reduce((s, v) => s + v, 0) / right.length;
    expect(rmean).toBeCloseTo(0.25, 1);
    expect(right[0]).toBeCloseTo(1, 5);
    expect(right[right.length - 1]).toBe(0);
  });
});
