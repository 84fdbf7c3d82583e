import { formatPercent, messages, type ModelCard } from '../../src/index.js';
import { escapeHtml } from './html.js';

/** One row of the metrics table, read defensively: cards are loose JSON and may miss any field. */
interface MetricsRow {
  label: string;
  n?: number;
  auc?: number;
  aucCi?: [number, number];
  sensitivity?: number;
  specificity?: number;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const finite = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isFinite(v) ? v : undefined;

function readRow(label: string, value: unknown): MetricsRow | undefined {
  if (!isRecord(value)) return undefined;
  const ci = Array.isArray(value['auc_ci']) ? value['auc_ci'].map(finite) : [];
  const row: MetricsRow = { label };
  const n = finite(value['n']);
  const auc = finite(value['auc']);
  const sensitivity = finite(value['sensitivity']);
  const specificity = finite(value['specificity']);
  if (n !== undefined) row.n = n;
  if (auc !== undefined) row.auc = auc;
  if (ci.length === 2 && ci[0] !== undefined && ci[1] !== undefined) row.aucCi = [ci[0], ci[1]];
  if (sensitivity !== undefined) row.sensitivity = sensitivity;
  if (specificity !== undefined) row.specificity = specificity;
  const hasNumbers =
    n !== undefined || auc !== undefined || sensitivity !== undefined || specificity !== undefined;
  return hasNumbers ? row : undefined;
}

/** `{ a: {...}, b: {...} }` or `[{ source: 'a', ... }]`: both shapes appear in evaluation output. */
function bySource(value: unknown, label: (source: string) => string): MetricsRow[] {
  const entries: [string, unknown][] = Array.isArray(value)
    ? value.map((item, i) => [
        isRecord(item) && typeof item['source'] === 'string' ? item['source'] : String(i + 1),
        item,
      ])
    : isRecord(value)
      ? Object.entries(value)
      : [];
  return entries
    .map(([source, v]) => readRow(label(source), v))
    .filter((r): r is MetricsRow => r !== undefined);
}

export function metricsRows(card: ModelCard, locale: string): MetricsRow[] {
  const sets = messages(locale).web.metricsSets;
  const metrics: Record<string, unknown> = isRecord(card.metrics) ? card.metrics : {};
  const rows: (MetricsRow | undefined)[] = [
    readRow(sets.validation, metrics['validation']),
    readRow(sets.test, metrics['test']),
  ];
  const unseen = metrics['unseenSource'];
  if (isRecord(unseen) && typeof unseen['source'] === 'string') {
    rows.push(readRow(sets.unseenSource(unseen['source']), unseen));
  } else {
    rows.push(...bySource(unseen, sets.unseenSource));
  }
  rows.push(...bySource(metrics['perSource'], sets.perSource));
  return rows.filter((r): r is MetricsRow => r !== undefined);
}

/** The model card's summary as an HTML fragment; every card string is escaped. */
export function renderAbout(card: ModelCard, locale: string): string {
  const c = messages(locale);
  const w = c.web;
  const number = new Intl.NumberFormat(c.locale, { maximumFractionDigits: 2, minimumFractionDigits: 2 });
  const count = new Intl.NumberFormat(c.locale);
  const dash = '—';
  // The card's own texts are written in English; `lang` lets screen readers pronounce them right.
  const english = (text: string, tag = 'p') => `<${tag} lang="en">${escapeHtml(text)}</${tag}>`;
  const out: string[] = [];

  const created = typeof card.createdAt === 'string' ? card.createdAt.slice(0, 10) : '';
  const date = created === '' ? '' : ` · <span class="nowrap">${escapeHtml(w.createdAt(created))}</span>`;
  out.push(`<p>${escapeHtml(c.result.modelVersion(card.version))}${date}</p>`);
  if (w.cardInEnglish !== '') out.push(`<p class="hint">${escapeHtml(w.cardInEnglish)}</p>`);

  if (typeof card.intendedUse === 'string' && card.intendedUse !== '') {
    out.push(`<h3>${escapeHtml(w.intendedUseHeading)}</h3>`, english(card.intendedUse));
  }

  const data = isRecord(card.data) ? card.data : {};
  const dataLines: string[] = [];
  if (typeof data['description'] === 'string' && data['description'] !== '')
    dataLines.push(english(data['description']));
  const images = finite(data['trainImages']);
  if (images !== undefined && images > 0)
    dataLines.push(`<p>${escapeHtml(w.trainImages(count.format(images)))}</p>`);
  const sources = Array.isArray(data['sources'])
    ? data['sources'].filter((s): s is string => typeof s === 'string')
    : [];
  if (sources.length > 0) dataLines.push(`<p>${escapeHtml(w.sources(sources.join(', ')))}</p>`);
  if (dataLines.length > 0) out.push(`<h3>${escapeHtml(w.dataHeading)}</h3>`, ...dataLines);

  out.push(`<h3>${escapeHtml(w.metricsHeading)}</h3>`);
  const rows = metricsRows(card, locale);
  if (rows.length === 0) {
    out.push(`<p>${escapeHtml(w.noMetrics)}</p>`);
  } else {
    const col = w.metricsColumns;
    const pct = (v: number | undefined) => (v === undefined ? dash : formatPercent(v, locale));
    // HTML: the confidence interval may move to its own line but never breaks inside.
    const aucHtml = (r: MetricsRow) =>
      r.auc === undefined
        ? dash
        : escapeHtml(number.format(r.auc)) +
          (r.aucCi === undefined
            ? ''
            : ` <span class="nowrap">(${escapeHtml(number.format(r.aucCi[0]))}–${escapeHtml(number.format(r.aucCi[1]))})</span>`);
    // `data-label` names each cell when a phone-width screen stacks the rows (see style.css).
    const cellHtml = (label: string, html: string) => `<td data-label="${escapeHtml(label)}">${html}</td>`;
    const cell = (label: string, value: string) => cellHtml(label, escapeHtml(value));
    const body = rows
      .map(
        (r) =>
          `<tr><th scope="row">${escapeHtml(r.label)}</th>` +
          cell(col.images, r.n === undefined ? dash : count.format(r.n)) +
          cellHtml(col.auc, aucHtml(r)) +
          cell(col.sensitivity, pct(r.sensitivity)) +
          cell(col.specificity, pct(r.specificity)) +
          '</tr>',
      )
      .join('');
    out.push(
      // Focusable so a keyboard user can scroll a wide table on a phone.
      `<div class="table-scroll" role="region" aria-label="${escapeHtml(w.metricsHeading)}" tabindex="0">`,
      `<table class="metrics"><thead><tr><th scope="col">${escapeHtml(col.set)}</th><th scope="col">${escapeHtml(col.images)}</th>` +
        `<th scope="col">${escapeHtml(col.auc)}</th><th scope="col">${escapeHtml(col.sensitivity)}</th>` +
        `<th scope="col">${escapeHtml(col.specificity)}</th></tr></thead><tbody>${body}</tbody></table>`,
      '</div>',
    );
    if (typeof card.threshold === 'number') {
      out.push(`<p class="hint">${escapeHtml(w.metricsNote(formatPercent(card.threshold, locale)))}</p>`);
    }
  }

  const limits = Array.isArray(card.limitations)
    ? card.limitations.filter((s) => typeof s === 'string' && s !== '')
    : [];
  if (limits.length > 0) {
    out.push(
      `<h3>${escapeHtml(w.limitationsHeading)}</h3>`,
      `<ul lang="en">${limits.map((l) => `<li>${escapeHtml(l)}</li>`).join('')}</ul>`,
    );
  }
  return out.join('\n');
}
