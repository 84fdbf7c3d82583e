/**
 * Two models side by side on the same test split and the same left-out collections, so the
 * card can say why the shipped one was chosen (issue: ship the way that generalises better
 * across sources, not the one with the higher internal AUC).
 */
import { photoConsistencySchema, type ModelCard } from '../model/card.js';
import type { FullEvaluation } from './evaluate.js';
import { fmt, summary } from './figures.js';

const COMPARISON_START = 'Compared with model ';

export interface ModelSummary {
  version: string;
  /** Architecture and input size, e.g. "default CNN, 96 px". */
  network?: string | undefined;
  /** The data path in words: central crop or lung crop. */
  crop: string;
  test: ReturnType<typeof summary>;
  covidVsPneumonia: number | null;
  withoutPediatric: number | null;
  heatmapOutsideLungs: number | null;
  /** Mean |change in probability| on simulated phone photos of the test images (absent: not measured). */
  photoChange?: number | null | undefined;
  /** Share of training draws that were simulated phone photos ('none' when off), and lit unevenly. */
  photoAugment: string;
  /** AUC on each collection left out of training (from the card's `metrics.loso`). */
  unseen: Record<string, number | null>;
  /** How far that AUC moved across seeds of this recipe, per collection (absent: one seed). */
  unseenSpread?: Record<string, number> | undefined;
  /** That AUC per collection and seed, where the recipe was run with several (absent: one seed). */
  unseenBySeed?: Record<string, Record<string, number>> | undefined;
}

/** What the model sees: the crop, and the contrast stretch when it is taken over the lungs only. */
export function describeCrop(card: ModelCard): string {
  const p = card.preprocessing;
  const contrast =
    p.contrast === 'normalise-lungs'
      ? ', contrast stretched over the lungs'
      : p.contrast === 'normalise-lungs-gamma'
        ? ', contrast stretched over the lungs, their median at mid-grey'
        : '';
  if (p.lungs?.crop === true)
    return `lung box + ${p.lungs.margin * 100}% margin${p.lungs.mask === true ? ', lung fields only' : ''}${contrast}`;
  return `central ${p.crop * 100}%${p.lungs === undefined ? '' : ' + lung check'}${contrast}`;
}

function networkOf(card: ModelCard): string {
  return `${card.architecture} CNN, ${card.preprocessing.size} px`;
}

/**
 * The photo augmentation in a few words, from a card's description ("0.3 of draws ...",
 * "paired: ...") or a share, and its consistency loss (`training.photoConsistency`) when
 * recorded: "none", "0.3 of draws", or the consistency pairing.
 */
function photoAugmentOf(value: unknown, consistency?: unknown): string {
  const first =
    typeof value === 'number' ? String(value) : typeof value === 'string' ? value.split(' ')[0] : undefined;
  if (first === undefined || first === 'none' || first === '0') return 'none';
  const views = typeof value === 'string' ? /\((\d+) photos per image/.exec(value)?.[1] : undefined;
  const perImage = views === undefined ? '' : `, ${views} photos per image`;
  if (first === 'paired:')
    return `each draw paired with its photo, ${consistencyOf(String(value), consistency)}${perImage}`;
  return `${first} of draws${perImage}`;
}

/**
 * The consistency loss in a few words: its weight, space and target. From the recorded fields;
 * cards from before them only describe it, so their description is read instead.
 */
function consistencyOf(description: string, recorded: unknown): string {
  const fields = photoConsistencySchema.safeParse(recorded);
  const { weight, space, target } = fields.success
    ? { ...fields.data, weight: String(fields.data.weight) }
    : {
        weight: /consistency loss \(weight ([^)]+)\)/.exec(description)?.[1],
        space: description.includes('between their probabilities') ? 'probability' : 'logit',
        target: description.includes("moving only the photo's") ? 'image' : 'pair',
      };
  return [
    weight === undefined ? 'consistency loss' : `consistency loss ${weight}`,
    ...(space === 'probability' ? ['on probabilities'] : []),
    ...(target === 'image' ? ["moving only the photo's answer"] : []),
  ].join(', ');
}

/** The photo figure of both models, when both were measured (older summaries did not record it). */
function photoClause(shipped: ModelSummary, other: ModelSummary): string {
  const a = shipped.photoChange;
  const b = other.photoChange;
  if (a === undefined || a === null || b === undefined || b === null) return '';
  return `, mean change in probability on simulated phone photos ${fmt(a)} vs ${fmt(b)}`;
}

/** What a card's training did for phone photos, in a few words (photo draws, uneven light). */
function photoTrainingOf(card: ModelCard): string {
  const shading = shadingOf(card);
  const photos = photoAugmentOf(card.training?.['photoAugment'], card.training?.['photoConsistency']);
  return shading > 0 ? `${photos}, uneven light on ${shading} of draws` : photos;
}

export function modelSummary(r: FullEvaluation, card: ModelCard): ModelSummary {
  return {
    version: r.modelVersion,
    network: networkOf(card),
    crop: describeCrop(card),
    photoAugment: photoTrainingOf(card),
    test: summary(r.overall),
    covidVsPneumonia: r.covidVsPneumonia?.auc ?? null,
    withoutPediatric: r.withoutPediatric?.auc ?? null,
    heatmapOutsideLungs: r.heatmap?.mask === 'lungs' ? r.heatmap.meanOutside : null,
    photoChange: r.photo?.meanAbsDelta ?? null,
    unseen: unseenOf(card),
    unseenSpread: seedSpreadOf(card),
    unseenBySeed: unseenBySeedOf(card),
  };
}

interface LosoEntry extends Recipe {
  auc?: number | null;
  n?: number;
  positives?: number;
}

/**
 * The collections left out of training (`metrics.loso`), counting only entries trained with this
 * card's recipe (see sameRecipe): a figure of another recipe says nothing about this model.
 */
function ownRecipeLoso(card: ModelCard): [string, LosoEntry][] {
  const loso = (card.metrics?.['loso'] ?? {}) as Record<string, LosoEntry>;
  return Object.entries(loso).filter(([, v]) => ofOwnRecipe(v, card));
}

/** What tells training recipes apart in the card's figures. */
export interface Recipe {
  photoAugment?: unknown;
  /** The consistency loss's weight, space and target; absent in figures from before it was recorded. */
  photoConsistency?: unknown;
  epochs?: unknown;
  /** Share of draws lit unevenly (augment.ts); absent in figures from before it existed, which had none. */
  shading?: unknown;
  /** The contrast step; absent in figures from before it was recorded, all of which were 'normalise'. */
  contrast?: unknown;
  /** The learning-rate schedule; absent in figures from before it existed, all of which were 'constant'. */
  learningRateSchedule?: unknown;
  /** The network; absent in figures from before it was recorded, all of which were 'default'. */
  architecture?: unknown;
  /**
   * Whether the run fine-tuned a model (`--init-from`); absent in figures from before it
   * existed, none of which did. A fine-tuned model's left-out figure must come from a
   * left-out model fine-tuned the same way.
   */
  fineTuned?: unknown;
}

/**
 * Whether a figure's recipe is `reference`'s: the same photo augmentation (in short, so a
 * reworded description still matches), epochs, uneven-light share, contrast step, learning-rate
 * schedule, network and whether it fine-tuned a model. A photo augmentation or epochs the
 * figure does not name (older cards) count as the same; an unnamed share is 0.
 */
export function sameRecipe(figure: Recipe, reference: Recipe): boolean {
  const unnamed = (v: unknown) => v === undefined || v === null;
  return (
    (unnamed(figure.photoAugment) ||
      photoAugmentOf(figure.photoAugment, figure.photoConsistency) ===
        photoAugmentOf(reference.photoAugment, reference.photoConsistency)) &&
    (unnamed(figure.epochs) || figure.epochs === reference.epochs) &&
    (figure.shading ?? 0) === (reference.shading ?? 0) &&
    (figure.contrast ?? 'normalise') === (reference.contrast ?? 'normalise') &&
    (figure.learningRateSchedule ?? 'constant') === (reference.learningRateSchedule ?? 'constant') &&
    (figure.architecture ?? 'default') === (reference.architecture ?? 'default') &&
    (figure.fineTuned ?? false) === (reference.fineTuned ?? false)
  );
}

/** The card's share of unevenly lit draws (0 when its augmentation does not name one). */
export function shadingOf(card: ModelCard): number {
  const augmentation = card.training?.['augmentation'];
  const shading =
    typeof augmentation === 'object' && augmentation !== null
      ? (augmentation as { shading?: unknown }).shading
      : 0;
  return typeof shading === 'number' ? shading : 0;
}

/** The recipe a card was trained with, as left-out figures record it (null: not named). */
export function recipeOf(card: ModelCard): Recipe {
  return {
    photoAugment: card.training?.['photoAugment'] ?? null,
    photoConsistency: card.training?.['photoConsistency'] ?? null,
    // The maximum, not the epochs run: early stopping ends runs of one recipe at different epochs.
    // Cards from before maxEpochs ran every epoch they were given.
    epochs: card.training?.['maxEpochs'] ?? card.training?.['epochs'] ?? null,
    shading: shadingOf(card),
    contrast: card.preprocessing.contrast,
    learningRateSchedule: card.training?.['learningRateSchedule'] ?? 'constant',
    architecture: card.architecture,
    fineTuned: card.training?.['initFrom'] !== undefined,
  };
}

/** Whether a left-out figure was trained with this card's recipe (see sameRecipe). */
function ofOwnRecipe(figure: Recipe, card: ModelCard): boolean {
  return sameRecipe(figure, recipeOf(card));
}

/** AUC on each collection left out of training, of this card's recipe. */
function unseenOf(card: ModelCard): Record<string, number | null> {
  return Object.fromEntries(ownRecipeLoso(card).map(([k, v]) => [k, v.auc ?? null]));
}

/**
 * The headline "unseen collection" figure (`metrics.unseenSource`): of the left-out collections
 * with both labels, trained with this card's recipe, the one with the lowest AUC.
 */
export function unseenHeadline(card: ModelCard): { source: string; auc: number } | undefined {
  let worst: { source: string; auc: number } | undefined;
  for (const [source, v] of ownRecipeLoso(card)) {
    const bothLabels = v.n !== undefined && v.positives !== undefined && v.positives > 0 && v.positives < v.n;
    if (!bothLabels || typeof v.auc !== 'number') continue;
    if (worst === undefined || v.auc < worst.auc) worst = { source, auc: v.auc };
  }
  return worst;
}

/**
 * The same summary from a card's recorded metrics (written by evaluate on the same split), so
 * earlier candidates can be compared without scoring them again.
 */
export function summaryFromCard(card: ModelCard): ModelSummary {
  const m = (card.metrics ?? {}) as Record<string, unknown>;
  const auc = (key: string) => (m[key] as { auc?: number | null } | null | undefined)?.auc ?? null;
  const test = (m['test'] ?? {}) as Partial<ReturnType<typeof summary>>;
  const heatmap = m['heatmapOutsideLungs'] as { meanOutside?: number } | undefined;
  return {
    version: card.version,
    network: networkOf(card),
    crop: describeCrop(card),
    photoAugment: photoTrainingOf(card),
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
    photoChange: card.metrics?.phonePhoto?.meanAbsDelta ?? null,
    unseen: unseenOf(card),
    unseenSpread: seedSpreadOf(card),
    unseenBySeed: unseenBySeedOf(card),
  };
}

/**
 * `of`'s network as the sentence names it: "same network; ", "network: seed CNN, 64 px; " (each
 * model its own when they differ; for this model only then), or nothing when a summary predates the field.
 */
function networkClause(of: 'other' | 'this', shipped: ModelSummary, other: ModelSummary): string {
  if (shipped.network === undefined || other.network === undefined) return '';
  if (shipped.network === other.network) return of === 'other' ? 'same network; ' : '';
  return `network: ${of === 'other' ? other.network : shipped.network}; `;
}

/** A collection left out by both recipes with at least two of the same seeds: the AUCs seed by seed. */
interface SeedPairs {
  collection: string;
  seeds: string[];
  mine: number[];
  theirs: number[];
}

function seedPairs(shipped: ModelSummary, other: ModelSummary, collections: string[]): SeedPairs[] {
  return collections.flatMap((collection) => {
    const a = shipped.unseenBySeed?.[collection] ?? {};
    const b = other.unseenBySeed?.[collection] ?? {};
    const seeds = Object.keys(a).filter((seed) => seed !== '?' && b[seed] !== undefined);
    if (seeds.length < 2) return [];
    return [{ collection, seeds, mine: seeds.map((x) => a[x] ?? 0), theirs: seeds.map((x) => b[x] ?? 0) }];
  });
}

const average = (xs: number[]) => xs.reduce((acc, x) => acc + x, 0) / Math.max(1, xs.length);

/**
 * The verdict from seeds both recipes were run with: one recipe ahead with every shared seed is
 * evidence even when each gap is inside one recipe's spread across seeds; a lead that changes
 * with the seed is not.
 */
function seedPairVerdict(pairs: SeedPairs[]): string {
  const ahead = pairs.every((p) => p.mine.every((x, i) => x > (p.theirs[i] ?? x)));
  const behind = pairs.every((p) => p.mine.every((x, i) => x < (p.theirs[i] ?? x)));
  const figures = pairs
    .map(
      (p) =>
        `${p.collection} averages ${fmt(average(p.mine))} with this model's recipe and ${fmt(average(p.theirs))} with that one's over seeds ${p.seeds.join(', ')}`,
    )
    .join('; ');
  const verdict = ahead
    ? 'higher with every seed, so this model was kept for its figures on collections left out of training, not for its internal AUC.'
    : behind
      ? 'lower with every seed: the other model does better on collections left out of training.'
      : 'neither is ahead with every seed, so those figures do not tell the two apart.';
  return `Trained with the same seeds, ${figures}: ${verdict}`;
}

/**
 * Which of the two does better on the collections both left out of training. Seeds both recipes
 * were run with decide when there are such; otherwise a gap inside the range this model's recipe
 * shows across seeds does not tell the two apart.
 */
function unseenVerdict(shipped: ModelSummary, other: ModelSummary, shared: string[]): string {
  if (shared.length === 0)
    return 'No collection was left out of both, so generalisation across sources was not compared.';
  const pairs = seedPairs(shipped, other, shared);
  if (pairs.length === shared.length) return seedPairVerdict(pairs);
  const withinSeedSpread = shared.every((k) => {
    const spread = shipped.unseenSpread?.[k];
    return spread !== undefined && Math.abs((shipped.unseen[k] ?? 0) - (other.unseen[k] ?? 0)) <= spread;
  });
  if (withinSeedSpread)
    return "The gap on collections left out of training is inside the range this model's recipe shows across seeds, so those figures do not tell the two apart.";
  const mean = (s: ModelSummary) => average(shared.map((k) => s.unseen[k] ?? 0));
  return mean(shipped) >= mean(other)
    ? 'This model was kept for its figures on collections left out of training, not for its internal AUC.'
    : 'Note: the other model does better on collections left out of training.';
}

/** One plain sentence for the card: both models' figures and which generalises better. */
export function comparisonSentence(shipped: ModelSummary, other: ModelSummary): string {
  const shared = Object.keys(shipped.unseen).filter(
    (k) => shipped.unseen[k] != null && other.unseen[k] != null,
  );
  const unseen = shared
    .map((k) => `${k} ${fmt(shipped.unseen[k] ?? null)} vs ${fmt(other.unseen[k] ?? null)}`)
    .join(', ');
  const verdict = unseenVerdict(shipped, other, shared);
  return (
    `${COMPARISON_START}${other.version} (${networkClause('other', shipped, other)}crop: ${other.crop}${other.photoAugment === undefined ? '' : `; photo augmentation: ${other.photoAugment}`}), this model (${networkClause('this', shipped, other)}crop: ${shipped.crop}; photo augmentation: ${shipped.photoAugment}) scores, this vs that: ` +
    `test AUC ${fmt(shipped.test.auc)} vs ${fmt(other.test.auc)}, COVID-19 vs other pneumonia ${fmt(shipped.covidVsPneumonia)} vs ${fmt(other.covidVsPneumonia)}, ` +
    `without pediatric images ${fmt(shipped.withoutPediatric)} vs ${fmt(other.withoutPediatric)}, heatmap mass outside the lungs ${fmt(shipped.heatmapOutsideLungs)} vs ${fmt(other.heatmapOutsideLungs)}` +
    photoClause(shipped, other) +
    `${shared.length === 0 ? '' : `; AUC on collections left out of training: ${unseen}`}. ${verdict}`
  );
}

/**
 * The card's comparison sentences made again from its own recorded figures and the compared
 * models' summaries (`metrics.comparedWith`), e.g. after leave-one-source-out added a figure.
 */
export function refreshComparisons(card: ModelCard): ModelCard {
  const others = card.metrics?.['comparedWith'] as ModelSummary[] | undefined;
  if (others === undefined || others.length === 0) return card;
  const mine = summaryFromCard(card);
  return {
    ...card,
    limitations: [
      ...card.limitations.filter((l) => !l.startsWith(COMPARISON_START)),
      ...others.map((o) => comparisonSentence(mine, o)),
    ],
  };
}

const ABLATION_START = 'What each data-path step does on ';

export interface AblationRow {
  /** Steps left out ([] = the full recipe). */
  without: string[];
  auc: number | null;
  auc_ci?: [number | null, number | null] | undefined;
  epochs?: number | null | undefined;
  /** The card's description of the photo augmentation ("none" or "0.5 of draws ..."). */
  photoAugment?: unknown;
  /** Its consistency loss (`training.photoConsistency`), where recorded. */
  photoConsistency?: unknown;
}

/**
 * One sentence for the card from `metrics.ablations[collection]`: the full recipe's AUC on the
 * left-out collection, then the same with each step left out.
 */
export function ablationSentence(collection: string, rows: readonly AblationRow[]): string {
  const figure = (r: AblationRow) =>
    `${fmt(r.auc)}${r.auc_ci === undefined ? '' : ` (${fmt(r.auc_ci[0])}-${fmt(r.auc_ci[1])})`}`;
  const full = rows.find((r) => r.without.length === 0);
  const others = rows
    .filter((r) => r.without.length > 0)
    .map((r) => `without ${r.without.join(' + ')} ${figure(r)}`);
  const first = rows[0];
  const recipe =
    first === undefined
      ? ''
      : ` (each model trained ${first.epochs ?? '?'} epochs, photo augmentation ${photoAugmentOf(first.photoAugment, first.photoConsistency)})`;
  return (
    `${ABLATION_START}${collection} left out of training${recipe}, AUC there: ` +
    [full === undefined ? 'full recipe not measured' : `full recipe ${figure(full)}`, ...others].join(', ') +
    '.'
  );
}

/** The card's ablation sentences made again from `metrics.ablations`. */
export function refreshAblations(card: ModelCard): ModelCard {
  const ablations = (card.metrics?.['ablations'] ?? {}) as Record<string, AblationRow[]>;
  return {
    ...card,
    limitations: [
      ...card.limitations.filter((l) => !l.startsWith(ABLATION_START)),
      ...Object.entries(ablations).map(([k, rows]) => ablationSentence(k, rows)),
    ],
  };
}

const SEED_SPREAD_START = 'Leave-one-source-out figures move with the seed ';

/** One left-out figure of a recipe trained with another seed (`metrics.losoSeeds[collection]`). */
export interface SeedRow extends Recipe {
  seed: number | null;
  auc: number | null;
}

interface SeedFigures {
  collection: string;
  rows: { seed: number | null; auc: number }[];
  min: number;
  max: number;
  mean: number;
}

/**
 * Each collection left out with several seeds of this card's recipe: the AUC of every seed (the
 * card's own seed from `metrics.loso`, the others from `metrics.losoSeeds`).
 */
function seedFigures(card: ModelCard): SeedFigures[] {
  const repeats = (card.metrics?.['losoSeeds'] ?? {}) as Record<string, SeedRow[]>;
  const own = new Map(ownRecipeLoso(card));
  const out: SeedFigures[] = [];
  for (const [collection, rows] of Object.entries(repeats)) {
    const main = own.get(collection);
    const all = [
      ...(main === undefined
        ? []
        : [{ seed: (card.training?.['seed'] as number | undefined) ?? null, auc: main.auc ?? null }]),
      ...rows.filter((r) => ofOwnRecipe(r, card)),
    ].flatMap((r) => (typeof r.auc === 'number' ? [{ seed: r.seed, auc: r.auc }] : []));
    if (all.length < 2) continue;
    const aucs = all.map((r) => r.auc);
    out.push({
      collection,
      rows: all,
      min: Math.min(...aucs),
      max: Math.max(...aucs),
      mean: aucs.reduce((a, b) => a + b, 0) / aucs.length,
    });
  }
  return out;
}

/** Left-out AUC per collection and seed, where this card's recipe was run with several seeds. */
function unseenBySeedOf(card: ModelCard): Record<string, Record<string, number>> {
  return Object.fromEntries(
    seedFigures(card).map((f) => [
      f.collection,
      Object.fromEntries(f.rows.map((r) => [String(r.seed ?? '?'), r.auc])),
    ]),
  );
}

/** Width of the range of left-out AUCs across seeds, per collection (see seedFigures). */
function seedSpreadOf(card: ModelCard): Record<string, number> {
  return Object.fromEntries(seedFigures(card).map((f) => [f.collection, f.max - f.min]));
}

/**
 * One sentence per collection that was left out with several seeds of this card's recipe: each
 * seed's AUC there and the range, so that no one reads a smaller gap between recipes as evidence.
 */
export function seedSpreadSentences(card: ModelCard): string[] {
  return seedFigures(card).map(
    (f) =>
      `${SEED_SPREAD_START}of the split and the training: with this model's recipe, trained without ${f.collection}, it scored ` +
      f.rows.map((r) => `${fmt(r.auc)} (seed ${r.seed ?? '?'})`).join(', ') +
      ` there: a range of ${fmt(f.min)}-${fmt(f.max)}, mean ${fmt(f.mean)}. A gap between recipes smaller than this range, in the comparisons and ablations above, is not evidence, unless both recipes were run with the same seeds and one is ahead with every seed.`,
  );
}

/**
 * The card's sentences on left-out collections made again from its metrics: the comparisons
 * (their verdict weighs the seed spread), the ablations and the seed spread itself.
 */
export function refreshLosoSentences(card: ModelCard): ModelCard {
  const withAblations = refreshAblations(refreshComparisons(card));
  return {
    ...withAblations,
    limitations: [
      ...withAblations.limitations.filter((l) => !l.startsWith(SEED_SPREAD_START)),
      ...seedSpreadSentences(card),
    ],
  };
}
