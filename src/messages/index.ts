import type { ClassifyResult, Prediction, Refusal } from '../core/result.js';
import { toXrayError } from '../core/errors.js';
import type { ModelCard } from '../model/card.js';
import type { AboutFacts, Catalog } from './catalog.js';
import { en } from './en.js';
import { es } from './es.js';
import { ru } from './ru.js';

export type { Catalog, AboutFacts } from './catalog.js';

const CATALOGS: Readonly<Record<string, Catalog>> = { en, es, ru };
export const LOCALES = Object.keys(CATALOGS);

/**
 * The catalog for a language tag from a platform ("es", "es-419", "pt-BR", "ru_RU",
 * "en-US,en;q=0.9"); anything we have no translation for gets English.
 */
export function messages(locale?: string | null): Catalog {
  return CATALOGS[resolveLocale(locale)] ?? en;
}

export function resolveLocale(locale?: string | null): string {
  if (locale === undefined || locale === null) return 'en';
  for (const part of locale.split(',')) {
    const base = part.trim().split(/[-_;]/)[0]?.toLowerCase() ?? '';
    if (base in CATALOGS) return base;
  }
  return 'en';
}

export function formatPercent(value: number, locale?: string | null): string {
  const c = messages(locale);
  const pct = value * 100;
  const fmt = new Intl.NumberFormat(c.locale, { maximumFractionDigits: pct < 10 && pct > 0 ? 1 : 0 });
  if (pct > 0 && pct < 0.1) return `<${fmt.format(0.1)}%`;
  if (pct < 100 && pct > 99.9) return `>${fmt.format(99.9)}%`;
  return `${fmt.format(pct)}%`;
}

/** A difference of probabilities (0..1) in percentage points, "11" or "0.4". */
export function formatPoints(value: number, locale?: string | null): string {
  const points = Math.abs(value) * 100;
  const fmt = new Intl.NumberFormat(messages(locale).locale, { maximumFractionDigits: points < 1 ? 1 : 0 });
  return fmt.format(points);
}

/** The parts of a reply, for adapters that lay them out (embeds, HTML). */
export interface ResultParts {
  title: string;
  /** Probability line, or the refusal text. */
  headline: string;
  /** What it means against the threshold (empty for refusals). */
  meaning: string;
  /** For phone photos of a film or screen: answers on them are less certain. */
  photoNote?: string;
  modelVersion: string;
  heatmapCaption?: string;
  disclaimer: string;
}

export function resultParts(result: ClassifyResult, locale?: string | null): ResultParts {
  const c = messages(locale);
  return result.accepted ? predictionParts(result, c, locale) : refusalParts(result, c);
}

function predictionParts(result: Prediction, c: Catalog, locale?: string | null): ResultParts {
  const threshold = formatPercent(result.threshold, locale);
  return {
    title: c.result.title,
    headline: c.result.probability(formatPercent(result.probability, locale)),
    meaning: result.probability >= result.threshold ? c.result.above(threshold) : c.result.below(threshold),
    ...(result.photo
      ? {
          photoNote: c.result.photoNote(
            result.photoChange === undefined ? undefined : formatPoints(result.photoChange, locale),
          ),
        }
      : {}),
    modelVersion: c.result.modelVersion(result.modelVersion),
    ...(result.heatmap === undefined ? {} : { heatmapCaption: c.result.heatmapCaption }),
    disclaimer: c.disclaimer,
  };
}

function refusalParts(result: Refusal, c: Catalog): ResultParts {
  return {
    title: c.refusal.title,
    headline: c.refusal[result.reason],
    meaning: '',
    modelVersion: c.result.modelVersion(result.modelVersion),
    disclaimer: c.disclaimer,
  };
}

/** A whole reply as plain text: probability, meaning, model version, disclaimer. */
export function formatResult(result: ClassifyResult, locale?: string | null): string {
  return replyText(resultParts(result, locale));
}

/**
 * The parts of a reply as paragraphs, in the one order every reply uses: probability, meaning,
 * photo note, heatmap caption, model version, disclaimer. `withVersion: false` leaves the model
 * version out, for layouts that show it elsewhere (a Discord embed's footer).
 */
export function replyText(p: ResultParts, options: { withVersion: boolean } = { withVersion: true }): string {
  return [
    p.headline,
    p.meaning,
    p.photoNote,
    p.heatmapCaption,
    options.withVersion ? p.modelVersion : undefined,
    `⚠️ ${p.disclaimer}`,
  ]
    .filter((s): s is string => s !== undefined && s !== '')
    .join('\n\n');
}

/** What the user reads for any failure; unknown errors get the generic sentence. */
export function formatError(error: unknown, locale?: string | null): string {
  const e = toXrayError(error);
  return messages(locale).errors[e.code](e.details);
}

/** The /about facts from a model card, formatted for one language. */
export function aboutFacts(card: ModelCard, locale?: string | null): AboutFacts {
  const pct = (v: number | null | undefined) =>
    v === null || v === undefined ? undefined : formatPercent(v, locale);
  const num = (v: number | null | undefined) =>
    v === null || v === undefined
      ? undefined
      : new Intl.NumberFormat(messages(locale).locale, { maximumFractionDigits: 2 }).format(v);
  const test = card.metrics?.test;
  const unseen = card.metrics?.unseenSource;
  const facts: AboutFacts = {
    modelVersion: card.version,
    trainedOn: card.createdAt.slice(0, 10),
    images: card.data?.trainImages ?? 0,
    sources: (card.data?.sources ?? []).join(', '),
    threshold: formatPercent(card.threshold, locale),
  };
  const auc = num(test?.auc);
  const sensitivity = pct(test?.sensitivity);
  const specificity = pct(test?.specificity);
  const unseenAuc = num(unseen?.auc);
  return {
    ...facts,
    ...(auc === undefined ? {} : { auc }),
    ...(sensitivity === undefined ? {} : { sensitivity }),
    ...(specificity === undefined ? {} : { specificity }),
    ...(unseenAuc === undefined ? {} : { unseenHospitalAuc: unseenAuc }),
  };
}

export function formatAbout(card: ModelCard, locale?: string | null): string {
  const c = messages(locale);
  return `${c.bot.about(aboutFacts(card, locale))}\n\n⚠️ ${c.disclaimer}`;
}
