import { describe, expect, it } from 'vitest';
import {
  cleanLungMask,
  describeMask,
  lungBox,
  lungsFound,
  maskFromProbabilities,
  maskOutline,
  plausibility,
  labelComponents,
} from '../../src/lungs/segment.js';
import { boxOf, DEFAULT_LAYOUT, lungMask } from './fixtures.js';

/** A mask at model resolution turned into probabilities, as the U-Net would give them. */
function probabilities(mask: Uint8Array): Float32Array {
  return Float32Array.from(mask, (v) => (v === 0 ? 0.05 : 0.95));
}

const full = (width: number, height: number) => ({ left: 0, top: 0, width, height });

describe('maskFromProbabilities', () => {
  it('returns a mask of the image size, whatever the model size', async () => {
    const size = 64;
    for (const [width, height] of [
      [301, 217],
      [40, 90],
      [64, 64],
    ] as const) {
      const mask = await maskFromProbabilities(
        probabilities(lungMask(size, size)),
        size,
        full(width, height),
        { width, height },
        0.5,
      );
      expect([mask.width, mask.height, mask.data.length]).toEqual([width, height, width * height]);
      expect(new Set(mask.data)).toEqual(new Set([0, 255]));
    }
  });

  it('finds the known lung box of a generated image (the crop region)', async () => {
    const [width, height, size] = [400, 300, 64];
    const truth = lungMask(width, height);
    const known = boxOf(truth, width);
    const mask = await maskFromProbabilities(
      probabilities(lungMask(size, size)),
      size,
      full(width, height),
      { width, height },
      0.5,
    );
    expect(mask.components).toBe(2);
    const box = lungBox(mask, 0);
    expect(box).not.toBeNull();
    // Up-sampling from 64 px: within about one model pixel (400/64 = 6 px).
    expect(Math.abs(box!.left - known.left)).toBeLessThanOrEqual(7);
    expect(Math.abs(box!.top - known.top)).toBeLessThanOrEqual(6);
    expect(Math.abs(box!.left + box!.width - (known.left + known.width))).toBeLessThanOrEqual(7);
    expect(Math.abs(box!.top + box!.height - (known.top + known.height))).toBeLessThanOrEqual(6);
    expect(mask.area).toBeCloseTo(truth.filter((v) => v !== 0).length / (width * height), 1);
    expect(mask.plausibility).toBeGreaterThan(0.9);
    expect(lungsFound(mask, 0.5)).toBe(true);
  });

  it('maps back into the region the input was cut from', async () => {
    const size = 32;
    const region = { left: 10, top: 20, width: 80, height: 60 };
    const mask = await maskFromProbabilities(
      probabilities(lungMask(size, size)),
      size,
      region,
      { width: 100, height: 100 },
      0.5,
    );
    const box = mask.box!;
    expect(box.left).toBeGreaterThanOrEqual(region.left);
    expect(box.top).toBeGreaterThanOrEqual(region.top);
    expect(box.left + box.width).toBeLessThanOrEqual(region.left + region.width);
    expect(box.top + box.height).toBeLessThanOrEqual(region.top + region.height);
  });

  it('finds no lungs in a flat background', async () => {
    const mask = await maskFromProbabilities(
      new Float32Array(64 * 64).fill(0.1),
      64,
      full(90, 70),
      {
        width: 90,
        height: 70,
      },
      0.5,
    );
    expect(mask.box).toBeNull();
    expect(mask.area).toBe(0);
    expect(mask.plausibility).toBe(0);
    expect(lungsFound(mask, 0.2)).toBe(false);
    expect(lungBox(mask, 0.1)).toBeNull();
  });
});

describe('cleanLungMask', () => {
  it('keeps the two lungs, drops specks and fills holes', () => {
    const [w, h] = [100, 80];
    const mask = lungMask(w, h);
    mask[2 * w + 2] = 255; // a speck in a corner
    mask[3 * w + 95] = 255;
    const holeAt = 36 * w + 30; // inside the left lung
    mask[holeAt] = 0;
    const cleaned = cleanLungMask(mask, w, h);
    expect(cleaned.components).toHaveLength(2);
    expect(cleaned.data[2 * w + 2]).toBe(0);
    expect(cleaned.data[3 * w + 95]).toBe(0);
    expect(cleaned.data[holeAt]).toBe(255);
    expect(cleaned.data).toEqual(lungMask(w, h));
  });

  it('keeps a second component only when it is at least a tenth of the first', () => {
    const [w, h] = [60, 40];
    const mask = new Uint8Array(w * h);
    for (let y = 5; y < 35; y++) for (let x = 5; x < 25; x++) mask[y * w + x] = 255; // 600 px
    for (let y = 5; y < 10; y++) for (let x = 40; x < 45; x++) mask[y * w + x] = 255; // 25 px
    expect(cleanLungMask(mask, w, h).components).toHaveLength(1);
    for (let y = 10; y < 20; y++) for (let x = 40; x < 50; x++) mask[y * w + x] = 255; // now 125 px, joined
    expect(cleanLungMask(mask, w, h).components).toHaveLength(2);
  });
});

describe('labelComponents', () => {
  it('labels 4-connected regions with their boxes and centroids', () => {
    // 1 1 0 0
    // 0 0 0 1
    // 0 0 1 1   (diagonal neighbours are not connected)
    const mask = Uint8Array.from([1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 1]);
    const { components, labels } = labelComponents(mask, 4, 3, true);
    expect(components).toHaveLength(2);
    expect(components[0]).toMatchObject({ area: 2, left: 0, top: 0, right: 2, bottom: 1, cx: 0.5, cy: 0 });
    expect(components[1]).toMatchObject({ area: 3, left: 2, top: 1, right: 4, bottom: 3 });
    expect(Array.from(labels)).toEqual([1, 1, 0, 0, 0, 0, 0, 2, 0, 0, 2, 2]);
  });
});

describe('plausibility', () => {
  const describeOf = (mask: Uint8Array, w: number, h: number) =>
    describeMask(cleanLungMask(mask, w, h), w, h);

  it('is high for two lungs side by side and low for implausible shapes', () => {
    const [w, h] = [120, 100];
    expect(describeOf(lungMask(w, h), w, h).plausibility).toBeGreaterThan(0.9);
    // Both "lungs" at the same side, one above the other.
    const stacked = lungMask(w, h, {
      centres: [
        [0.25, 0.25],
        [0.25, 0.75],
      ],
      radii: [0.1, 0.2],
    });
    expect(describeOf(stacked, w, h).plausibility).toBeLessThan(0.2);
    // One tiny blob in a corner.
    const tiny = lungMask(w, h, {
      centres: [
        [0.08, 0.08],
        [0.08, 0.08],
      ],
      radii: [0.05, 0.05],
    });
    expect(describeOf(tiny, w, h).plausibility).toBeLessThan(0.1);
    // Everything is "lung".
    expect(describeOf(new Uint8Array(w * h).fill(255), w, h).plausibility).toBe(0);
  });

  it('scores one merged component at most 0.5', () => {
    const [w, h] = [100, 100];
    const mask = lungMask(w, h, { ...DEFAULT_LAYOUT, radii: [0.25, 0.3] }); // the ellipses overlap
    const d = describeOf(mask, w, h);
    expect(d.components).toBe(1);
    expect(d.plausibility).toBeGreaterThan(0.2);
    expect(d.plausibility).toBeLessThanOrEqual(0.5);
  });

  it('is 0 without components', () => {
    expect(plausibility([], 10, 10)).toBe(0);
  });
});

describe('lungBox', () => {
  it('grows the box by the margin and clips it to the image', () => {
    const mask = describeMask(cleanLungMask(lungMask(100, 100), 100, 100), 100, 100);
    const tight = lungBox(mask, 0)!;
    expect(tight).toEqual(mask.box);
    const grown = lungBox(mask, 0.1)!;
    expect(grown.left).toBe(tight.left - Math.round(tight.width * 0.1));
    expect(grown.width).toBe(tight.width + 2 * Math.round(tight.width * 0.1));
    const huge = lungBox(mask, 2)!;
    expect(huge).toEqual({ left: 0, top: 0, width: 100, height: 100 });
  });
});

describe('maskOutline', () => {
  it('marks the border pixels of the lungs only', () => {
    const mask = describeMask(cleanLungMask(lungMask(60, 50), 60, 50), 60, 50);
    const outline = maskOutline(mask);
    const count = (a: Uint8Array) => a.filter((v) => v !== 0).length;
    expect(count(outline)).toBeGreaterThan(0);
    expect(count(outline)).toBeLessThan(count(mask.data) / 2);
    outline.forEach((v, i) => {
      if (v !== 0) expect(mask.data[i]).toBe(255);
    });
  });
});
