import { describe, expect, it } from 'vitest';
import {
  auc,
  bootstrapAucCi,
  brier,
  confusion,
  ece,
  evaluateAll,
  quantileSorted,
  reliabilityBins,
  rocCurve,
  thresholdForSensitivity,
  thresholdMetrics,
} from '../../src/evaluation/metrics.js';
import { mulberry32 } from '../../src/training/random.js';

describe('auc', () => {
  it('counts ties as 1/2 (hand-computed)', () => {
    // Positives 0.9, 0.5, 0.3 vs negatives 0.5, 0.1, 0.3 (9 pairs):
    //   0.9 beats all three                     -> 3
    //   0.5 ties 0.5 (1/2), beats 0.1 and 0.3   -> 2.5
    //   0.3 loses to 0.5, beats 0.1, ties 0.3   -> 1.5
    // AUC = 7 / 9.
    expect(auc([1, 1, 0, 0, 1, 0], [0.9, 0.5, 0.5, 0.1, 0.3, 0.3])).toBeCloseTo(7 / 9, 12);
  });

  it('is 1 for perfect ranking, 0 for reversed, 0.5 for all ties, NaN for one class', () => {
    expect(auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4])).toBe(1);
    expect(auc([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4])).toBe(0);
    expect(auc([1, 0, 1, 0], [0.5, 0.5, 0.5, 0.5])).toBe(0.5);
    expect(auc([1, 1], [0.2, 0.3])).toBeNaN();
    expect(auc([], [])).toBeNaN();
  });

  it('matches the brute-force pair count on random data', () => {
    const random = mulberry32(3);
    const labels = Array.from({ length: 300 }, () => (random() < 0.4 ? 1 : 0));
    const scores = Array.from({ length: 300 }, () => Math.round(random() * 20) / 20); // many ties
    let won = 0;
    let pairs = 0;
    for (let i = 0; i < 300; i++) {
      for (let j = 0; j < 300; j++) {
        if (labels[i] !== 1 || labels[j] !== 0) continue;
        pairs++;
        const si = scores[i] as number;
        const sj = scores[j] as number;
        won += si > sj ? 1 : si === sj ? 0.5 : 0;
      }
    }
    expect(auc(labels, scores)).toBeCloseTo(won / pairs, 12);
  });

  it('rejects bad input', () => {
    expect(() => auc([0, 1], [0.5])).toThrow(RangeError);
    expect(() => auc([0, 2], [0.5, 0.5])).toThrow(/expected 0 or 1/);
    expect(() => auc([0, 1], [0.5, Number.NaN])).toThrow(/NaN/);
  });
});

describe('rocCurve', () => {
  it('has one point per distinct score, from (0,0) to (1,1)', () => {
    // Sorted descending: 0.9(P) 0.7(N) 0.5(P, N tie) 0.1(N); 2 positives, 3 negatives.
    const points = rocCurve([1, 0, 1, 0, 0], [0.9, 0.7, 0.5, 0.5, 0.1]);
    expect(points).toEqual([
      { fpr: 0, tpr: 0, threshold: Number.POSITIVE_INFINITY },
      { fpr: 0, tpr: 0.5, threshold: 0.9 },
      { fpr: 1 / 3, tpr: 0.5, threshold: 0.7 },
      { fpr: 2 / 3, tpr: 1, threshold: 0.5 },
      { fpr: 1, tpr: 1, threshold: 0.1 },
    ]);
    expect(rocCurve([1, 1], [0.1, 0.2])).toEqual([]);
  });
});

describe('bootstrapAucCi', () => {
  it('is [1, 1] for perfectly separated classes and [0.5, 0.5] for all ties', () => {
    expect(bootstrapAucCi([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], { seed: 1 })).toEqual([1, 1]);
    expect(bootstrapAucCi([0, 1, 0, 1], [0.3, 0.3, 0.3, 0.3], { seed: 1 })).toEqual([0.5, 0.5]);
  });

  it('matches the hand-computed resampling distribution', () => {
    // One positive (0.5) and two negatives (0.2, 0.8); AUC = 0.5. A stratified resample keeps the
    // positive and draws two negatives with replacement:
    //   {0.2, 0.2} p = 1/4 -> AUC 1;  {0.8, 0.8} p = 1/4 -> AUC 0;  mixed p = 1/2 -> AUC 0.5.
    // So the 2.5% / 97.5% quantiles are 0 and 1, and the 30% / 70% quantiles (level 0.4) both
    // fall inside the 0.5 mass (25%..75%).
    const labels = [1, 0, 0];
    const scores = [0.5, 0.2, 0.8];
    expect(bootstrapAucCi(labels, scores, { samples: 2000, seed: 5 })).toEqual([0, 1]);
    expect(bootstrapAucCi(labels, scores, { samples: 2000, seed: 5, level: 0.4 })).toEqual([0.5, 0.5]);
  });

  it('is reproducible from the seed, contains the AUC and narrows with more data', () => {
    const random = mulberry32(11);
    const make = (n: number): [number[], number[]] => {
      const labels = Array.from({ length: n }, (_, i) => i % 2);
      return [labels, labels.map((y) => y * 0.6 + random())];
    };
    const [labels, scores] = make(200);
    const ci = bootstrapAucCi(labels, scores, { seed: 2 });
    expect(bootstrapAucCi(labels, scores, { seed: 2 })).toEqual(ci);
    const point = auc(labels, scores);
    expect(ci[0]).toBeLessThan(point);
    expect(ci[1]).toBeGreaterThan(point);
    const [bigLabels, bigScores] = make(2000);
    const wide = ci[1] - ci[0];
    const [lo, hi] = bootstrapAucCi(bigLabels, bigScores, { seed: 2 });
    expect(hi - lo).toBeLessThan(wide / 2);
  });

  it('is [NaN, NaN] when a class is absent', () => {
    expect(bootstrapAucCi([1, 1], [0.2, 0.4])).toEqual([Number.NaN, Number.NaN]);
  });
});

describe('threshold metrics', () => {
  const labels = [1, 1, 1, 0, 0, 0, 0];
  const scores = [0.9, 0.6, 0.2, 0.7, 0.3, 0.1, 0.05];

  it('counts score >= threshold as positive', () => {
    // threshold 0.6: predicted positive 0.9(P) 0.6(P) 0.7(N) -> tp 2, fp 1; fn 1 (0.2), tn 3.
    expect(confusion(labels, scores, 0.6)).toEqual({ tp: 2, fp: 1, tn: 3, fn: 1 });
    const m = thresholdMetrics(labels, scores, 0.6);
    expect(m.sensitivity).toBeCloseTo(2 / 3);
    expect(m.specificity).toBeCloseTo(3 / 4);
    expect(m.accuracy).toBeCloseTo(5 / 7);
    expect(m.ppv).toBeCloseTo(2 / 3);
    expect(m.npv).toBeCloseTo(3 / 4);
    expect(m.f1).toBeCloseTo(4 / 6); // 2tp / (2tp + fp + fn)
  });

  it('gives null, not NaN, for 0/0', () => {
    // Nothing predicted positive: ppv = 0/0.
    const m = thresholdMetrics(labels, scores, 2);
    expect(m.ppv).toBeNull();
    expect(m.sensitivity).toBe(0);
    expect(thresholdMetrics([0, 0], [0.1, 0.2], 0.5).sensitivity).toBeNull();
  });

  it('finds the highest threshold reaching a sensitivity', () => {
    // Positive scores descending: 0.9, 0.6, 0.2. Sensitivity >= 0.6 needs 2 of 3 -> 0.6;
    // >= 0.67 needs 3 -> 0.2; >= 1/3 needs 1 -> 0.9.
    expect(thresholdForSensitivity(labels, scores, 0.6)).toBe(0.6);
    expect(thresholdForSensitivity(labels, scores, 0.67)).toBe(0.2);
    expect(thresholdForSensitivity(labels, scores, 1 / 3)).toBe(0.9);
    // 0.95 * 20 is 19.000000000000004 in floating point; 19 of 20 must be enough.
    const twenty = Array.from({ length: 20 }, (_, i) => (i + 1) / 20);
    expect(
      thresholdForSensitivity(
        twenty.map(() => 1),
        twenty,
        0.95,
      ),
    ).toBe(0.1);
    expect(thresholdForSensitivity([0, 0], [0.1, 0.2], 0.9)).toBeNaN();
    expect(() => thresholdForSensitivity(labels, scores, 0)).toThrow(RangeError);
  });
});

describe('calibration metrics', () => {
  it('computes the Brier score (hand-computed)', () => {
    // ((0.9-1)^2 + (0.2-0)^2 + (0.6-0)^2) / 3 = (0.01 + 0.04 + 0.36) / 3 = 0.41 / 3.
    expect(brier([1, 0, 0], [0.9, 0.2, 0.6])).toBeCloseTo(0.41 / 3, 12);
    expect(() => brier([1], [1.2])).toThrow(/expected \[0, 1\]/);
  });

  it('computes ECE with count-weighted equal-width bins (hand-computed)', () => {
    // bin [0.0,0.1): p 0.05, y 0          -> n 1, |0    - 0.05| = 0.05
    // bin [0.1,0.2): p 0.15 0.15, y 0 1   -> n 2, |0.5  - 0.15| = 0.35
    // bin [0.9,1.0]: p 0.95 x4, y 1 1 1 0 -> n 4, |0.75 - 0.95| = 0.20
    // ECE = (1*0.05 + 2*0.35 + 4*0.20) / 7 = 1.55 / 7.
    const labels = [0, 0, 1, 1, 1, 1, 0];
    const probs = [0.05, 0.15, 0.15, 0.95, 0.95, 0.95, 0.95];
    expect(ece(labels, probs)).toBeCloseTo(1.55 / 7, 12);
    expect(ece([1, 0], [1, 0])).toBe(0);
  });

  it('bins probabilities for the reliability diagram, p = 1 in the last bin', () => {
    const bins = reliabilityBins([1, 0, 1], [1, 0.55, 0.59], 5);
    expect(bins).toHaveLength(5);
    expect(bins[0]).toEqual({ lower: 0, upper: 0.2, count: 0, meanProbability: null, observedRate: null });
    expect(bins[2]).toMatchObject({ count: 2, observedRate: 0.5 });
    expect(bins[2]?.meanProbability).toBeCloseTo(0.57);
    expect(bins[4]).toMatchObject({ count: 1, meanProbability: 1, observedRate: 1 });
  });

  it('computes type-7 quantiles', () => {
    expect(quantileSorted([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantileSorted([1, 2, 3, 4], 0)).toBe(1);
    expect(quantileSorted([1, 2, 3, 4], 1)).toBe(4);
  });
});

describe('evaluateAll', () => {
  it('returns the --json report with snake_case keys', () => {
    const labels = [1, 1, 1, 0, 0, 0, 0];
    const probs = [0.9, 0.6, 0.2, 0.7, 0.3, 0.1, 0.05];
    const report = evaluateAll(labels, probs, 0.6, { seed: 1 });
    expect(Object.keys(report).sort()).toEqual(
      [
        'n',
        'positives',
        'negatives',
        'threshold',
        'auc',
        'auc_ci',
        'accuracy',
        'sensitivity',
        'specificity',
        'ppv',
        'npv',
        'f1',
        'brier',
        'ece',
        'confusion',
      ].sort(),
    );
    expect(report).toMatchObject({
      n: 7,
      positives: 3,
      negatives: 4,
      confusion: { tp: 2, fp: 1, tn: 3, fn: 1 },
    });
    // 12 pairs: 0.9 beats 4, 0.6 beats 3, 0.2 beats 2 -> 9/12.
    expect(report.auc).toBeCloseTo(0.75);
    expect(report.brier).toBeCloseTo(brier(labels, probs));
    const [lo, hi] = report.auc_ci;
    expect(lo).not.toBeNull();
    expect(lo as number).toBeLessThanOrEqual(0.75);
    expect(hi as number).toBeGreaterThanOrEqual(0.75);
  });

  it('has null instead of NaN where a metric is undefined', () => {
    const report = evaluateAll([0, 0, 0], [0.2, 0.4, 0.9], 0.5, { seed: 1, bootstrapSamples: 50 });
    expect(report.auc).toBeNull();
    expect(report.auc_ci).toEqual([null, null]);
    expect(report.sensitivity).toBeNull();
    expect(report.specificity).toBeCloseTo(2 / 3);
    const json = JSON.parse(JSON.stringify(report)) as Record<string, unknown>;
    expect(json.sensitivity).toBeNull();
  });
});
