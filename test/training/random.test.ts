import { describe, expect, it } from 'vitest';
import {
  deriveSeed,
  mulberry32,
  randomInt,
  randomNormal,
  randomUniform,
  shuffle,
} from '../../src/training/random.js';

describe('seeded random', () => {
  it('repeats the same sequence for the same seed', () => {
    const a = mulberry32(123);
    const b = mulberry32(123);
    const c = mulberry32(124);
    const first = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(first);
    expect(Array.from({ length: 5 }, () => c())).not.toEqual(first);
    expect(first.every((x) => x >= 0 && x < 1)).toBe(true);
  });

  it('draws integers, uniforms and normals with the right range and moments', () => {
    const random = mulberry32(1);
    const ints = Array.from({ length: 10_000 }, () => randomInt(random, -2, 3));
    expect(new Set(ints)).toEqual(new Set([-2, -1, 0, 1, 2]));
    const uniforms = Array.from({ length: 10_000 }, () => randomUniform(random, 2, 4));
    expect(Math.min(...uniforms)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...uniforms)).toBeLessThan(4);
    const normals = Array.from({ length: 20_000 }, () => randomNormal(random, 1, 2));
    const mean = normals.reduce((s, x) => s + x, 0) / normals.length;
    const sd = Math.sqrt(normals.reduce((s, x) => s + (x - mean) ** 2, 0) / normals.length);
    expect(mean).toBeCloseTo(1, 1);
    expect(sd).toBeCloseTo(2, 1);
    expect(() => randomInt(random, 3, 3)).toThrow(RangeError);
  });

  it('shuffles in place into a permutation', () => {
    const items = Array.from({ length: 50 }, (_, i) => i);
    const result = shuffle(items, mulberry32(5));
    expect(result).toBe(items);
    expect([...items].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(items).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('derives distinct, stable seeds per label', () => {
    expect(deriveSeed(1, 'augment')).toBe(deriveSeed(1, 'augment'));
    expect(deriveSeed(1, 'augment')).not.toBe(deriveSeed(1, 'split'));
    expect(deriveSeed(1, 'augment')).not.toBe(deriveSeed(2, 'augment'));
  });
});
