import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, tf } from '../../src/tf/backend.js';
import { augmentBatch, DEFAULT_AUGMENT, unevenLight } from '../../src/training/augment.js';
import { mulberry32 } from '../../src/training/random.js';

const SIZE = 24;

/** A batch of a smooth test picture: brighter towards the middle, like a chest on film. */
function batch(n: number): ReturnType<typeof tf.tensor4d> {
  const one = Array.from({ length: SIZE * SIZE }, (_, i) => {
    const x = ((i % SIZE) + 0.5) / SIZE - 0.5;
    const y = (Math.floor(i / SIZE) + 0.5) / SIZE - 0.5;
    return 0.2 + 0.6 * Math.exp(-4 * (x * x + y * y));
  });
  return tf.tensor4d(Array.from({ length: n }, () => one).flat(), [n, SIZE, SIZE, 1]);
}

beforeAll(async () => {
  await initBackend('wasm');
});

describe('unevenLight', () => {
  it('leaves every image alone when the share is 0', async () => {
    const x = batch(4);
    const y = unevenLight(x, mulberry32(1), 0);
    expect(Array.from(await y.data())).toEqual(Array.from(await x.data()));
  });

  it('lights each image unevenly, then stretches it back to 0..1, the same way for the same seed', async () => {
    const x = batch(6);
    const a = await unevenLight(x, mulberry32(2), 1).data();
    const b = await unevenLight(x, mulberry32(2), 1).data();
    expect(Array.from(a)).toEqual(Array.from(b));
    const clean = await x.data();
    for (let i = 0; i < 6; i++) {
      const img = a.slice(i * SIZE * SIZE, (i + 1) * SIZE * SIZE);
      expect(Math.min(...img)).toBeCloseTo(0, 5);
      expect(Math.max(...img)).toBeCloseTo(1, 5);
      // The picture is symmetric; a gradient or an off-centre spot makes its halves differ.
      const half = (from: number) => {
        let s = 0;
        for (let r = 0; r < SIZE; r++)
          for (let c = from; c < from + SIZE / 2; c++) s += img[r * SIZE + c] ?? 0;
        return s;
      };
      const rows = (from: number) => {
        let s = 0;
        for (let r = from; r < from + SIZE / 2; r++)
          for (let c = 0; c < SIZE; c++) s += img[r * SIZE + c] ?? 0;
        return s;
      };
      const asymmetry = Math.abs(half(0) - half(SIZE / 2)) + Math.abs(rows(0) - rows(SIZE / 2));
      expect(asymmetry, `image ${i}`).toBeGreaterThan(1);
    }
    // The clean picture is symmetric, so the test above measures the light, not the picture.
    expect(clean[0]).toBeCloseTo(clean[SIZE - 1] ?? Number.NaN, 6);
  });

  it('is part of augmentBatch only when the options ask for it', async () => {
    const x = batch(4);
    const without = await augmentBatch(x, mulberry32(3), DEFAULT_AUGMENT).data();
    const repeat = await augmentBatch(x, mulberry32(3), { ...DEFAULT_AUGMENT, shading: 0 }).data();
    const shaded = await augmentBatch(x, mulberry32(3), { ...DEFAULT_AUGMENT, shading: 1 }).data();
    expect(Array.from(repeat)).toEqual(Array.from(without));
    expect(Array.from(shaded)).not.toEqual(Array.from(without));
  });
});
