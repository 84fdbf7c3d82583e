import { describe, expect, it } from 'vitest';
import { mirrorSymmetry } from '../../src/gate/symmetry.js';

/** A picture from a function of (x, y) in 0..1. */
function picture(width: number, height: number, f: (x: number, y: number) => number) {
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      data[y * width + x] = Math.round(255 * f(x / (width - 1), y / (height - 1)));
  return { data, width, height };
}

/** Two dark ovals either side of a bright centre line: a frontal chest X-ray's layout. */
const frontal = (x: number, y: number) => {
  const lung = (cx: number) => ((x - cx) / 0.17) ** 2 + ((y - 0.5) / 0.32) ** 2 < 1;
  return lung(0.3) || lung(0.7) ? 0.2 : 0.8;
};

describe('mirrorSymmetry', () => {
  it('is high for a picture that is its own mirror image, also off the centre line', () => {
    expect(mirrorSymmetry(picture(300, 360, frontal))).toBeGreaterThan(0.95);
    // Shifted sideways by 5% of the width (the mirror axis by 3 of 64 cells): the axis search finds it.
    expect(mirrorSymmetry(picture(300, 360, (x, y) => frontal(Math.min(1, x + 0.05), y)))).toBeGreaterThan(
      0.9,
    );
  });

  it('is low for a picture with one side only (a lateral view has one lung field, off-centre)', () => {
    const oneSided = (x: number, y: number) =>
      ((x - 0.3) / 0.2) ** 2 + ((y - 0.5) / 0.3) ** 2 < 1 ? 0.2 : 0.8;
    expect(mirrorSymmetry(picture(300, 360, oneSided))).toBeLessThan(0.5);
    // A left-to-right gradient is its own mirror image reversed.
    expect(mirrorSymmetry(picture(200, 200, (x) => x))).toBe(0);
  });

  it('is 0 for a flat picture, and works on pictures smaller than its coarse copy', () => {
    expect(mirrorSymmetry(picture(100, 100, () => 0.5))).toBe(0);
    expect(mirrorSymmetry(picture(20, 12, frontal))).toBeGreaterThan(0.9);
    expect(mirrorSymmetry({ data: new Uint8Array(0), width: 0, height: 0 })).toBe(0);
  });
});
