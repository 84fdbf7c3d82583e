/**
 * Two models side by side on the same test split and the same left-out collections, so the
 * card can say why the shipped one was chosen (issue: ship the way that generalises better
 * across sources, not the one with the higher internal AUC).
 */
import type { ModelCard } from '../model/card.js';
import { fmt, summary, type FullEvaluation } from './evaluate.js';

export interface ModelSummary {
  version: string;
  /** The data path in words: central crop or lung crop. */
  crop: string;
  test: ReturnType<typeof summary>;
  covidVsPneumonia: number | null;
  withoutPediatric: number | null;
  heatmapOutsideLungs: number | null;
  /** Share of training draws that were simulated phone photos ('none' when off). */
  photoAugment: string;
  /** AUC on each collection left out of training (from the card's `metrics.loso`). */
  unseen: Record<string, number | null>;
}

export function describeCrop(card: ModelCard): string {
  const p = card.preprocessing;
  if (p.lungs?.crop === true) return `lung box + ${p.lungs.margin * 100}% margin`;
  return `central ${p.crop * 100}%${p.lungs === undefined ? '' : ' + lung check'}`;
}

function photoAugmentOf(card: ModelCard): string {
  const value = card.training?.['photoAugment'];
  if (typeof value !== 'string' || value === 'none') return 'none';
  return `${value.split(' ')[0] ?? '?'} of draws`;
}

export function modelSummary(r: FullEvaluation, card: ModelCard): ModelSummary {
  const loso = (card.metrics?.['loso'] ?? {}) as Record<string, { auc?: number | null }>;
  return {
    version: r.modelVersion,
    crop: describeCrop(card),
    photoAugment: photoAugmentOf(card),
    test: summary(r.overall),
    covidVsPneumonia: r.covidVsPneumonia?.auc ?? null,
    withoutPediatric: r.withoutPediatric?.auc ?? null,
    heatmapOutsideLungs: r.heatmap?.mask === 'lungs' ? r.heatmap.meanOutside : null,
    unseen: Object.fromEntries(Object.entries(loso).map(([k, v]) => [k, v.auc ?? null])),
  };
}

/**
 * The same summary from a card's recorded metrics (written by evaluate on the same split), so
 * earlier candidates can be compared without scoring them again.
 */
export function summaryFromCard(card: ModelCard): ModelSummary {
  const m = (card.metrics ?? {}) as Record<string, unknown>;
  const auc = (key: string) => (m[key] as { auc?: number | null } | null | undefined)?.auc ?? null;
  const test = (m['test'] ?? {}) as Partial<ReturnType<typeof summary>>;
  const loso = (m['loso'] ?? {}) as Record<string, { auc?: number | null }>;
  const heatmap = m['heatmapOutsideLungs'] as { meanOutside?: number } | undefined;
  return {
    version: card.version,
    crop: describeCrop(card),
    photoAugment: photoAugmentOf(card),
    test: {
      n: test.n ?? 0,
      positives: test.positives ?? 0,
      auc: test.auc ?? null,
      auc_ci: test.auc_ci ?? [null, null],
      sensitivity: test.sensitivity ?? null,
      specificity: test.specificity ?? null,
      accuracy: test.accuracy ?? null,
      ppv: test.ppv ?? null,
      npv: test.npv ?? null,
      brier: test.brier ?? null,
      ece: test.ece ?? null,
    },
    covidVsPneumonia: auc('covidVsPneumonia'),
    withoutPediatric: auc('withoutPediatric'),
    heatmapOutsideLungs: heatmap?.meanOutside ?? null,
    unseen: Object.fromEntries(Object.entries(loso).map(([k, v]) => [k, v.auc ?? null])),
  };
}

/** One plain sentence for the card: both models' figures and which generalises better. */
export function comparisonSentence(shipped: ModelSummary, other: ModelSummary): string {
  const shared = Object.keys(shipped.unseen).filter(
    (k) => shipped.unseen[k] != null && other.unseen[k] != null,
  );
  const unseen = shared
    .map((k) => `${k} ${fmt(shipped.unseen[k] ?? null)} vs ${fmt(other.unseen[k] ?? null)}`)
    .join(', ');
  const mean = (s: ModelSummary) =>
    shared.reduce((acc, k) => acc + (s.unseen[k] ?? 0), 0) / Math.max(1, shared.length);
  const verdict =
    shared.length === 0
      ? 'No collection was left out of both, so generalisation across sources was not compared.'
      : mean(shipped) >= mean(other)
        ? 'This model was kept for its figures on collections left out of training, not for its internal AUC.'
        : 'Note: the other model does better on collections left out of training.';
  return (
    `Compared with model ${other.version} (same network; crop: ${other.crop}${other.photoAugment === undefined ? '' : `; photo augmentation: ${other.photoAugment}`}), this model (crop: ${shipped.crop}; photo augmentation: ${shipped.photoAugment}) scores, this vs that: ` +
    `test AUC ${fmt(shipped.test.auc)} vs ${fmt(other.test.auc)}, COVID-19 vs other pneumonia ${fmt(shipped.covidVsPneumonia)} vs ${fmt(other.covidVsPneumonia)}, ` +
    `without pediatric images ${fmt(shipped.withoutPediatric)} vs ${fmt(other.withoutPediatric)}, heatmap mass outside the lungs ${fmt(shipped.heatmapOutsideLungs)} vs ${fmt(other.heatmapOutsideLungs)}` +
    `${shared.length === 0 ? '' : `; AUC on collections left out of training: ${unseen}`}. ${verdict}`
  );
}
