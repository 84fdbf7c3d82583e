import { describe, expect, it } from 'vitest';
import {
  applyCalibration,
  fitPlatt,
  fitTemperature,
  logit,
  sigmoid,
} from '../../src/evaluation/calibration.js';
import { mulberry32, randomNormal } from '../../src/training/random.js';

/** n logits ~ N(0, 2) with labels drawn from the true probability sigmoid(a*x + b). */
function synthetic(n: number, a: number, b: number, seed: number): { logits: number[]; labels: number[] } {
  const random = mulberry32(seed);
  const logits = Array.from({ length: n }, () => randomNormal(random, 0, 2));
  const labels = logits.map((x) => (random() < sigmoid(a * x + b) ? 1 : 0));
  return { logits, labels };
}

describe('sigmoid and logit', () => {
  it('are inverse and stable at the extremes', () => {
    expect(sigmoid(0)).toBe(0.5);
    expect(sigmoid(1000)).toBe(1);
    expect(sigmoid(-1000)).toBe(0);
    expect(logit(sigmoid(2.5))).toBeCloseTo(2.5, 9);
    expect(Number.isFinite(logit(0))).toBe(true);
    expect(Number.isFinite(logit(1))).toBe(true);
  });
});

describe('fitPlatt', () => {
  it('solves a hand-made case with target smoothing', () => {
    // One negative at -1, one positive at +1. Smoothed targets: t+ = (1+1)/(1+2) = 2/3,
    // t- = 1/(1+2) = 1/3. The optimum hits them exactly: sigmoid(a + b) = 2/3 and
    // sigmoid(-a + b) = 1/3  =>  a + b = ln 2, -a + b = -ln 2  =>  a = ln 2, b = 0.
    const { a, b } = fitPlatt([-1, 1], [0, 1]);
    expect(a).toBeCloseTo(Math.LN2, 6);
    expect(b).toBeCloseTo(0, 6);
  });

  it('solves a hand-made case without smoothing', () => {
    // At x = +1, 3 of 4 positive; at x = -1, 1 of 4: sigmoid(a + b) = 3/4, sigmoid(-a + b) = 1/4
    // => a = ln 3, b = 0.
    const logits = [1, 1, 1, 1, -1, -1, -1, -1];
    const labels = [1, 1, 1, 0, 1, 0, 0, 0];
    const { a, b } = fitPlatt(logits, labels, { targetSmoothing: false });
    expect(a).toBeCloseTo(Math.log(3), 6);
    expect(b).toBeCloseTo(0, 6);
  });

  it('recovers known parameters on synthetic data', () => {
    const { logits, labels } = synthetic(20_000, 1.5, -0.7, 1);
    const { a, b } = fitPlatt(logits, labels);
    expect(Math.abs(a - 1.5)).toBeLessThan(0.1);
    expect(Math.abs(b + 0.7)).toBeLessThan(0.1);
  });

  it('stays finite on separable data and rejects a single class', () => {
    const { a, b } = fitPlatt([-3, -2, 2, 3], [0, 0, 1, 1]);
    expect(Number.isFinite(a) && Number.isFinite(b)).toBe(true);
    expect(a).toBeGreaterThan(0);
    expect(() => fitPlatt([1, 2], [1, 1])).toThrow(/both classes/);
  });
});

describe('fitTemperature', () => {
  it('solves a hand-made case', () => {
    // Same data as the Platt case without smoothing, but b is fixed at 0: sigmoid(1/T) = 3/4
    // => 1/T = ln 3 => T = 1 / ln 3.
    const logits = [1, 1, 1, 1, -1, -1, -1, -1];
    const labels = [1, 1, 1, 0, 1, 0, 0, 0];
    expect(fitTemperature(logits, labels).temperature).toBeCloseTo(1 / Math.log(3), 6);
  });

  it('recovers a known temperature on synthetic data', () => {
    const { logits, labels } = synthetic(20_000, 1 / 2.5, 0, 2);
    expect(Math.abs(fitTemperature(logits, labels).temperature - 2.5)).toBeLessThan(0.15);
  });

  it('stops at the lower bound on separable data', () => {
    const { temperature } = fitTemperature([-3, -2, 2, 3], [0, 0, 1, 1], { minTemperature: 0.05 });
    expect(temperature).toBeCloseTo(0.05, 4);
  });
});

describe('applyCalibration', () => {
  it('applies Platt and temperature parameters', () => {
    expect(applyCalibration(2, { a: 0.5, b: 1 })).toBeCloseTo(sigmoid(2));
    expect(applyCalibration(3, { temperature: 1.5 })).toBeCloseTo(sigmoid(2));
    expect(applyCalibration(0, { temperature: 7 })).toBe(0.5);
  });
});
