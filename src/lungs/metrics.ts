/**
 * Overlap metrics for binary masks. A pixel is "lung" when its value is non-zero, so 0/1 and
 * 0/255 masks both work. Two empty masks agree perfectly (1), by convention.
 */

export interface Overlap {
  /** Pixels lung in both. */
  both: number;
  /** Lung pixels in the prediction and in the truth. */
  predicted: number;
  truth: number;
}

export function overlap(prediction: ArrayLike<number>, truth: ArrayLike<number>): Overlap {
  if (prediction.length !== truth.length) {
    throw new RangeError(`Mask sizes differ: ${prediction.length} vs ${truth.length} pixels.`);
  }
  let both = 0;
  let predicted = 0;
  let actual = 0;
  for (let i = 0; i < truth.length; i++) {
    const p = prediction[i] !== 0;
    const t = truth[i] !== 0;
    if (p) predicted++;
    if (t) actual++;
    if (p && t) both++;
  }
  return { both, predicted, truth: actual };
}

/** Dice = 2 |P ∩ T| / (|P| + |T|). */
export function dice(prediction: ArrayLike<number>, truth: ArrayLike<number>): number {
  return diceOf(overlap(prediction, truth));
}

/** IoU (Jaccard) = |P ∩ T| / |P ∪ T|. */
export function iou(prediction: ArrayLike<number>, truth: ArrayLike<number>): number {
  return iouOf(overlap(prediction, truth));
}

export function diceOf({ both, predicted, truth }: Overlap): number {
  const sum = predicted + truth;
  return sum === 0 ? 1 : (2 * both) / sum;
}

export function iouOf({ both, predicted, truth }: Overlap): number {
  const union = predicted + truth - both;
  return union === 0 ? 1 : both / union;
}

export interface OverlapSummary {
  n: number;
  /** Means over images (each image counts once, whatever its size). */
  dice: number;
  iou: number;
  /** The worst image's Dice: one bad mask is what a user would see. */
  minDice: number;
}

export interface ScoredMask {
  source: string;
  dice: number;
  iou: number;
}

/** Per-image scores -> overall and per-source means (sources sorted by name). */
export function summariseOverlap(rows: readonly ScoredMask[]): {
  overall: OverlapSummary;
  bySource: Record<string, OverlapSummary>;
} {
  const bySource: Record<string, OverlapSummary> = {};
  for (const source of [...new Set(rows.map((r) => r.source))].sort()) {
    bySource[source] = summary(rows.filter((r) => r.source === source));
  }
  return { overall: summary(rows), bySource };
}

function summary(rows: readonly ScoredMask[]): OverlapSummary {
  const n = rows.length;
  const mean = (f: (r: ScoredMask) => number) =>
    n === 0 ? Number.NaN : rows.reduce((s, r) => s + f(r), 0) / n;
  return {
    n,
    dice: mean((r) => r.dice),
    iou: mean((r) => r.iou),
    minDice: n === 0 ? Number.NaN : Math.min(...rows.map((r) => r.dice)),
  };
}
