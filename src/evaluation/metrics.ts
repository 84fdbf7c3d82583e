/**
 * Binary classification metrics on (labels, scores). Labels are 0/1 (1 = COVID-19); scores are any
 * real numbers where higher means "more likely positive" (probabilities for brier/ece). A sample
 * counts as predicted positive when `score >= threshold`.
 *
 * Undefined quantities (AUC with one class only, 0/0 rates) are NaN in the numeric functions and
 * null in the JSON report from `evaluateAll`.
 */
import { mulberry32 } from '../training/random.js';

export type Labels = ArrayLike<number>;
export type Scores = ArrayLike<number>;

export interface Confusion {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

export interface RocPoint {
  fpr: number;
  tpr: number;
  /** Scores >= threshold are positive; the first point (0, 0) has threshold Infinity. */
  threshold: number;
}

export interface ThresholdMetrics {
  sensitivity: number | null;
  specificity: number | null;
  accuracy: number | null;
  ppv: number | null;
  npv: number | null;
  f1: number | null;
}

export interface ReliabilityBin {
  lower: number;
  upper: number;
  count: number;
  /** Mean predicted probability in the bin; null when empty. */
  meanProbability: number | null;
  /** Fraction of positives in the bin; null when empty. */
  observedRate: number | null;
}

export interface BootstrapOptions {
  /** Resamples. Default 1000. */
  samples?: number;
  /** Default 1. */
  seed?: number;
  /** Confidence level. Default 0.95. */
  level?: number;
}

export interface EvaluationReport {
  n: number;
  positives: number;
  negatives: number;
  threshold: number;
  auc: number | null;
  auc_ci: [number | null, number | null];
  accuracy: number | null;
  sensitivity: number | null;
  specificity: number | null;
  ppv: number | null;
  npv: number | null;
  f1: number | null;
  brier: number | null;
  ece: number | null;
  confusion: Confusion;
}

export interface EvaluateOptions {
  seed?: number;
  bootstrapSamples?: number;
  level?: number;
  bins?: number;
}

// ---------------------------------------------------------------------------------------------
// Input checks
// ---------------------------------------------------------------------------------------------

function checkPairs(labels: Labels, scores: Scores, what: string): void {
  if (labels.length !== scores.length) {
    throw new RangeError(`${what}: ${labels.length} labels but ${scores.length} scores.`);
  }
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    if (label !== 0 && label !== 1) throw new RangeError(`${what}: label ${i} is ${label}, expected 0 or 1.`);
    if (Number.isNaN(scores[i])) throw new RangeError(`${what}: score ${i} is NaN.`);
  }
}

function checkProbabilities(probs: Scores, what: string): void {
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i] as number;
    if (!(p >= 0 && p <= 1)) throw new RangeError(`${what}: probability ${i} is ${p}, expected [0, 1].`);
  }
}

function countPositives(labels: Labels): number {
  let positives = 0;
  for (let i = 0; i < labels.length; i++) positives += labels[i] as number;
  return positives;
}

// ---------------------------------------------------------------------------------------------
// AUC
// ---------------------------------------------------------------------------------------------

/** Indices sorted by ascending score. */
function ascendingOrder(scores: Scores): Uint32Array {
  const order = Uint32Array.from({ length: scores.length }, (_, i) => i);
  return order.sort((a, b) => (scores[a] as number) - (scores[b] as number));
}

/**
 * Mann–Whitney AUC with per-sample weights (1 for the plain AUC, resample multiplicities for the
 * bootstrap): P(score_pos > score_neg) + 1/2 P(tie), over all weighted positive/negative pairs.
 * One pass over the sorted scores: each positive scores the negatives strictly below it plus half
 * of the negatives tied with it.
 */
function weightedAuc(order: Uint32Array, labels: Labels, scores: Scores, weights?: Float64Array): number {
  let negativesBelow = 0;
  let totalPositive = 0;
  let pairsWon = 0;
  let i = 0;
  while (i < order.length) {
    const score = scores[order[i] as number] as number;
    let positiveInTie = 0;
    let negativeInTie = 0;
    for (; i < order.length && scores[order[i] as number] === score; i++) {
      const index = order[i] as number;
      const weight = weights === undefined ? 1 : (weights[index] as number);
      if (labels[index] === 1) positiveInTie += weight;
      else negativeInTie += weight;
    }
    pairsWon += positiveInTie * (negativesBelow + negativeInTie / 2);
    negativesBelow += negativeInTie;
    totalPositive += positiveInTie;
  }
  const pairs = totalPositive * negativesBelow;
  return pairs === 0 ? Number.NaN : pairsWon / pairs;
}

/** ROC AUC (ties count 1/2); NaN when either class is absent. */
export function auc(labels: Labels, scores: Scores): number {
  checkPairs(labels, scores, 'auc');
  return weightedAuc(ascendingOrder(scores), labels, scores);
}

/** ROC points from (0, 0) to (1, 1), one per distinct score; empty when a class is absent. */
export function rocCurve(labels: Labels, scores: Scores): RocPoint[] {
  checkPairs(labels, scores, 'rocCurve');
  const positives = countPositives(labels);
  const negatives = labels.length - positives;
  if (positives === 0 || negatives === 0) return [];
  const order = ascendingOrder(scores).reverse();
  const points: RocPoint[] = [{ fpr: 0, tpr: 0, threshold: Number.POSITIVE_INFINITY }];
  let tp = 0;
  let fp = 0;
  let i = 0;
  while (i < order.length) {
    const threshold = scores[order[i] as number] as number;
    for (; i < order.length && scores[order[i] as number] === threshold; i++) {
      if (labels[order[i] as number] === 1) tp++;
      else fp++;
    }
    points.push({ fpr: fp / negatives, tpr: tp / positives, threshold });
  }
  return points;
}

/**
 * Stratified bootstrap percentile CI of the AUC: each resample draws the positives and the
 * negatives separately with replacement (so both classes keep their size), then the
 * (1-level)/2 and (1+level)/2 quantiles of the resampled AUCs are returned. [NaN, NaN] when a
 * class is absent.
 */
export function bootstrapAucCi(
  labels: Labels,
  scores: Scores,
  options: BootstrapOptions = {},
): [number, number] {
  checkPairs(labels, scores, 'bootstrapAucCi');
  const replicates = options.samples ?? 1000;
  const level = options.level ?? 0.95;
  if (!(level > 0 && level < 1))
    throw new RangeError(`bootstrapAucCi: level must be in (0, 1), got ${level}.`);
  const positiveIndices: number[] = [];
  const negativeIndices: number[] = [];
  for (let i = 0; i < labels.length; i++) (labels[i] === 1 ? positiveIndices : negativeIndices).push(i);
  if (positiveIndices.length === 0 || negativeIndices.length === 0 || replicates < 1) {
    return [Number.NaN, Number.NaN];
  }

  const random = mulberry32(options.seed ?? 1);
  const order = ascendingOrder(scores);
  const weights = new Float64Array(labels.length);
  const aucs = new Float64Array(replicates);
  const drawInto = (indices: number[]): void => {
    for (let k = 0; k < indices.length; k++) {
      const index = indices[Math.floor(random() * indices.length)] as number;
      weights[index] = (weights[index] as number) + 1;
    }
  };
  for (let r = 0; r < replicates; r++) {
    weights.fill(0);
    drawInto(positiveIndices);
    drawInto(negativeIndices);
    aucs[r] = weightedAuc(order, labels, scores, weights);
  }
  aucs.sort();
  return [quantileSorted(aucs, (1 - level) / 2), quantileSorted(aucs, (1 + level) / 2)];
}

/** Linear-interpolation quantile (R type 7, numpy default) of an ascending array. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const above = Math.min(below + 1, sorted.length - 1);
  const lower = sorted[below] as number;
  return lower + ((sorted[above] as number) - lower) * (position - below);
}

// ---------------------------------------------------------------------------------------------
// Threshold metrics
// ---------------------------------------------------------------------------------------------

export function confusion(labels: Labels, scores: Scores, threshold: number): Confusion {
  checkPairs(labels, scores, 'confusion');
  const counts: Confusion = { tp: 0, fp: 0, tn: 0, fn: 0 };
  for (let i = 0; i < labels.length; i++) {
    const predictedPositive = (scores[i] as number) >= threshold;
    if (labels[i] === 1) {
      if (predictedPositive) counts.tp++;
      else counts.fn++;
    } else if (predictedPositive) counts.fp++;
    else counts.tn++;
  }
  return counts;
}

/** a / b, or null for a zero denominator (0/0 is undefined, not 0). */
function ratioOrNull(numerator: number, denominator: number): number | null {
  return denominator === 0 ? null : numerator / denominator;
}

export function metricsFromConfusion({ tp, fp, tn, fn }: Confusion): ThresholdMetrics {
  return {
    sensitivity: ratioOrNull(tp, tp + fn),
    specificity: ratioOrNull(tn, tn + fp),
    accuracy: ratioOrNull(tp + tn, tp + fp + tn + fn),
    ppv: ratioOrNull(tp, tp + fp),
    npv: ratioOrNull(tn, tn + fn),
    f1: ratioOrNull(2 * tp, 2 * tp + fp + fn),
  };
}

export function thresholdMetrics(labels: Labels, scores: Scores, threshold: number): ThresholdMetrics {
  return metricsFromConfusion(confusion(labels, scores, threshold));
}

/**
 * The highest threshold whose sensitivity is >= target: the k-th highest positive score with
 * k = ceil(target * positives). NaN without positives. `target` must be in (0, 1].
 */
export function thresholdForSensitivity(labels: Labels, scores: Scores, target: number): number {
  checkPairs(labels, scores, 'thresholdForSensitivity');
  if (!(target > 0 && target <= 1)) {
    throw new RangeError(`thresholdForSensitivity: target must be in (0, 1], got ${target}.`);
  }
  const positiveScores: number[] = [];
  for (let i = 0; i < labels.length; i++) if (labels[i] === 1) positiveScores.push(scores[i] as number);
  if (positiveScores.length === 0) return Number.NaN;
  positiveScores.sort((a, b) => b - a);
  // The epsilon keeps e.g. 0.95 * 20 = 19.000000000000004 from rounding up to 20.
  const needed = Math.max(1, Math.ceil(target * positiveScores.length - 1e-9));
  return positiveScores[needed - 1] as number;
}

// ---------------------------------------------------------------------------------------------
// Calibration quality
// ---------------------------------------------------------------------------------------------

/** Mean squared difference between probability and label; NaN when empty. */
export function brier(labels: Labels, probs: Scores): number {
  checkPairs(labels, probs, 'brier');
  checkProbabilities(probs, 'brier');
  let sum = 0;
  for (let i = 0; i < labels.length; i++) sum += ((probs[i] as number) - (labels[i] as number)) ** 2;
  return labels.length === 0 ? Number.NaN : sum / labels.length;
}

/**
 * Equal-width bins over [0, 1]; bin b holds p in [b/bins, (b+1)/bins), the last bin also p = 1.
 */
export function reliabilityBins(labels: Labels, probs: Scores, bins = 10): ReliabilityBin[] {
  checkPairs(labels, probs, 'reliabilityBins');
  checkProbabilities(probs, 'reliabilityBins');
  if (!Number.isInteger(bins) || bins < 1)
    throw new RangeError(`reliabilityBins: bins must be >= 1, got ${bins}.`);
  const counts = new Float64Array(bins);
  const probabilitySums = new Float64Array(bins);
  const positiveSums = new Float64Array(bins);
  for (let i = 0; i < labels.length; i++) {
    const p = probs[i] as number;
    const bin = Math.min(Math.floor(p * bins), bins - 1);
    counts[bin] = (counts[bin] as number) + 1;
    probabilitySums[bin] = (probabilitySums[bin] as number) + p;
    positiveSums[bin] = (positiveSums[bin] as number) + (labels[i] as number);
  }
  return Array.from({ length: bins }, (_, bin) => {
    const count = counts[bin] as number;
    return {
      lower: bin / bins,
      upper: (bin + 1) / bins,
      count,
      meanProbability: count === 0 ? null : (probabilitySums[bin] as number) / count,
      observedRate: count === 0 ? null : (positiveSums[bin] as number) / count,
    };
  });
}

/** Expected calibration error: sum over bins of (count/n) * |observed rate - mean probability|. */
export function ece(labels: Labels, probs: Scores, bins = 10): number {
  const table = reliabilityBins(labels, probs, bins);
  if (labels.length === 0) return Number.NaN;
  let sum = 0;
  for (const bin of table) {
    if (bin.count === 0) continue;
    sum += (bin.count / labels.length) * Math.abs((bin.observedRate ?? 0) - (bin.meanProbability ?? 0));
  }
  return sum;
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

/** NaN/Infinity -> null: the report object itself says "undefined" the way its JSON form does. */
export function finiteOrNull(value: number | null): number | null {
  return value !== null && Number.isFinite(value) ? value : null;
}

/** All metrics of `npm run evaluate --json`, at one threshold on the probabilities. */
export function evaluateAll(
  labels: Labels,
  probs: Scores,
  threshold: number,
  options: EvaluateOptions = {},
): EvaluationReport {
  checkPairs(labels, probs, 'evaluateAll');
  checkProbabilities(probs, 'evaluateAll');
  const positives = countPositives(labels);
  const counts = confusion(labels, probs, threshold);
  const rates = metricsFromConfusion(counts);
  const [low, high] = bootstrapAucCi(labels, probs, {
    samples: options.bootstrapSamples ?? 1000,
    seed: options.seed ?? 1,
    level: options.level ?? 0.95,
  });
  return {
    n: labels.length,
    positives,
    negatives: labels.length - positives,
    threshold,
    auc: finiteOrNull(auc(labels, probs)),
    auc_ci: [finiteOrNull(low), finiteOrNull(high)],
    accuracy: rates.accuracy,
    sensitivity: rates.sensitivity,
    specificity: rates.specificity,
    ppv: rates.ppv,
    npv: rates.npv,
    f1: rates.f1,
    brier: finiteOrNull(brier(labels, probs)),
    ece: finiteOrNull(ece(labels, probs, options.bins ?? 10)),
    confusion: counts,
  };
}
