import type { EvaluationReport } from './metrics.js';

/** A figure for reports and sentences: fixed digits, a dash when there is none. */
export function fmt(v: number | null | undefined, digits = 3): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits);
}

/** The headline figures of one evaluated subset, as the card keeps them. */
export const summary = (m: EvaluationReport) => ({
  n: m.n,
  positives: m.positives,
  auc: m.auc,
  auc_ci: m.auc_ci,
  sensitivity: m.sensitivity,
  specificity: m.specificity,
  accuracy: m.accuracy,
  ppv: m.ppv,
  npv: m.npv,
  brier: m.brier,
  ece: m.ece,
});
