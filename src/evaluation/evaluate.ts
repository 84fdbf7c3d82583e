import { promises as fs } from 'node:fs';
import path from 'node:path';
import { createEngine, type Engine } from '../classifier/engine.js';
import type { BackendName } from '../tf/backend.js';
import { loadDataset, mapWithConcurrency, type Sample, type Split } from '../training/datasets.js';
import { prepareInputs } from '../training/inputs.js';
import { inputCache, type InputCache } from '../training/input-cache.js';
import { refreshLosoSentences } from './compare.js';
import { fmt, summary } from './figures.js';
import { auc, ece, evaluateAll, reliabilityBins, rocCurve, type EvaluationReport } from './metrics.js';
import { reliabilityPlot, rocPlot, trainingCurvesPlot, type TrainingHistoryEntry } from './plots.js';
import { readCard, writeCard } from '../model/card.js';
import { BASE_LIMITATIONS } from '../model/card-text.js';
import { evaluateGate, NEGATIVE_PHOTO_SEED, type GateEvaluation, type Rejections } from './gate-eval.js';
import { gateAnswer, gateSignals } from '../gate/verdict.js';
import { calibrate } from '../model/calibration.js';
import type { ModelSummary } from './compare.js';
import { heatmapShortcut, type HeatmapShortcutReport } from './heatmap-eval.js';
import { createSegmenter, LUNG_MODEL_DIR, type Segmenter } from '../lungs/segment.js';
import { readHandMaskIndex } from '../lungs/data.js';
import { isXrayError } from '../core/errors.js';

export interface EvaluationRequest {
  modelDir: string;
  data: string;
  /** Which split to score when the data has splits; `all` scores every image. */
  split: Split | 'all';
  outDir?: string | undefined;
  seed?: number;
  backend?: BackendName | undefined;
  onProgress?: (done: number, total: number) => void;
  /** Only these sources (e.g. the collection left out of training). */
  sources?: readonly string[] | undefined;
  /** Folder of non-chest-X-ray images (manifest.csv with file,kind) to measure the gate on. */
  negatives?: string | undefined;
  /** Also score a simulated phone photo of each image (film on a light box or a monitor). */
  simulatePhoto?: boolean | undefined;
  /**
   * Lung model for the heatmap metric when the classifier has no lung step (default: `lungs/`
   * in the model folder; without one the fixed thorax box is used).
   */
  lungsDir?: string | undefined;
  /** Only the probabilities' metrics: no heatmap or gate measurement (e.g. for leave-one-source-out). */
  metricsOnly?: boolean | undefined;
  /** The lung-mask data set (`classifier_overlap.csv`): checks the heatmap metric against hand-drawn masks. */
  handMasks?: string | undefined;
  /** Folder of the prepared-input cache shared with training (see training/input-cache.ts). */
  cache?: string | undefined;
}

// Type aliases, not interfaces: the card's loose metrics schema takes them as they are.
export type PhotoFigures = {
  /** AUC on the photos, and how far below the originals' AUC (same images) it lies. */
  auc: number | null;
  aucDrop: number | null;
  /** Mean and median |probability on the photo - probability on the original|. */
  meanAbsDelta: number;
  medianAbsDelta: number;
  /**
   * Expected calibration error of the photos' answers against the labels (10 bins): whether a
   * photo's probability still means what it says. Null with no photos.
   */
  ece: number | null;
  n: number;
};

/** How much phone photos of the film or screen change the answers (simulated, seed = image index). */
export type PhotoRobustness = PhotoFigures & {
  /** How many photos the gate lets through (a refusal here is a real user turned away). */
  gate?: { accepted: number; n: number; reasons: Record<string, number> };
  /** The figures over the photos the gate lets through: the answers users actually get. */
  acceptedByGate?: PhotoFigures;
  /**
   * The same figures for each kind of photo apart: a film on a light box, a monitor (the generator
   * draws one of the two for each image). They differ: a monitor adds a viewer's background,
   * raised black levels and moiré.
   */
  byKind?: Record<string, { all: PhotoFigures; acceptedByGate?: PhotoFigures }>;
};

export interface SubsetReport extends EvaluationReport {
  /** What the subset is, in words, for the report. */
  description: string;
}

export interface FullEvaluation {
  modelVersion: string;
  data: string;
  split: string;
  overall: EvaluationReport;
  perSource: Record<string, SubsetReport>;
  /** COVID-19 vs other pneumonia only: the clinically relevant question, and the hard one. */
  covidVsPneumonia: SubsetReport | null;
  /** Without the pediatric images (all of them are non-COVID, from one collection). */
  withoutPediatric: SubsetReport | null;
  skipped: { file: string; code: string }[];
  /** The chest-X-ray gate: acceptance of these X-rays, rejection of the negatives per kind. */
  gate?: GateEvaluation;
  /** Share of heatmap mass outside the thorax: the shortcut made visible. */
  heatmap?: HeatmapShortcutReport;
  /** Simulated phone photos of the films and screens (with `simulatePhoto`). */
  photo?: PhotoRobustness;
  /** Every scored image with its calibrated probability (left out of the JSON file). */
  scored: { sample: Sample; probability: number }[];
  files?: { report: string; json: string; plots: string[] };
}

/**
 * Scores a model on a dataset with the model's own preprocessing (through the same engine the
 * bots use) and reports overall, per-source and the hard subsets, at the card's threshold.
 */
export async function evaluateModel(req: EvaluationRequest): Promise<FullEvaluation> {
  const engine = await createEngine({ modelDir: req.modelDir, backend: req.backend });
  try {
    const dataset = await loadDataset(req.data);
    const hasSplits = dataset.samples.some((s) => s.split !== undefined);
    const inSources = dataset.samples.filter(
      (s) => req.sources === undefined || req.sources.includes(s.source),
    );
    const samples =
      req.split === 'all' || !hasSplits ? inSources : inSources.filter((s) => s.split === req.split);
    if (samples.length === 0) throw new Error(`No images in the ${req.split} split of ${req.data}.`);
    const cache = req.cache === undefined ? undefined : inputCache(req.cache);
    const { probs, kept, skipped } = await scoreSamples(engine, samples, req.onProgress, cache);
    const threshold = engine.card.threshold;
    const seed = req.seed ?? 1;
    const subset = (description: string, keep: (s: Sample) => boolean): SubsetReport | null => {
      const idx = kept.flatMap((s, i) => (keep(s) ? [i] : []));
      if (idx.length === 0) return null;
      const labels = idx.map((i) => kept[i]?.covid ?? 0);
      const p = idx.map((i) => probs[i] ?? 0);
      return { description, ...evaluateAll(labels, p, threshold, { seed, bootstrapSamples: 500 }) };
    };
    const labels = kept.map((s) => s.covid);
    const perSource: Record<string, SubsetReport> = {};
    for (const source of [...new Set(kept.map((s) => s.source))].sort()) {
      const r = subset(`images from ${source}`, (s) => s.source === source);
      if (r !== null) perSource[source] = r;
    }
    const result: FullEvaluation = {
      modelVersion: engine.card.version,
      data: req.data,
      split: hasSplits ? req.split : 'all',
      overall: evaluateAll(labels, probs, threshold, { seed }),
      perSource,
      covidVsPneumonia: subset('COVID-19 vs other pneumonia (normals left out)', (s) => s.label !== 'normal'),
      withoutPediatric: subset('all images except pediatric ones', (s) => s.ageGroup !== 'pediatric'),
      skipped,
      scored: kept.map((sample, i) => ({ sample, probability: probs[i] ?? Number.NaN })),
    };
    if (req.simulatePhoto === true) result.photo = await scorePhotos(engine, kept, probs, req.onProgress);
    if (req.metricsOnly === true) {
      if (req.outDir !== undefined)
        result.files = await writeEvaluationFiles(req.outDir, result, req.modelDir);
      return result;
    }
    const segmenter =
      engine.lungs === undefined
        ? await optionalSegmenter(req.lungsDir ?? path.join(req.modelDir, LUNG_MODEL_DIR), req.backend)
        : undefined;
    try {
      const handMasks =
        req.handMasks === undefined ? undefined : await readHandMaskIndex(req.handMasks, dataset.root);
      const heatmap = await heatmapShortcut(engine, kept, { segmenter, handMasks });
      if (heatmap !== null) result.heatmap = heatmap;
      if (engine.gate !== undefined)
        result.gate = await evaluateGate(
          engine,
          kept.map((s) => s.file),
          req.negatives,
          segmenter,
          { photos: req.simulatePhoto === true },
        );
    } finally {
      segmenter?.dispose();
    }
    if (req.outDir !== undefined) result.files = await writeEvaluationFiles(req.outDir, result, req.modelDir);
    return result;
  } finally {
    engine.dispose();
  }
}

/** The lung model in `dir`, or undefined when there is none (the heatmap metric then uses a box). */
async function optionalSegmenter(
  dir: string,
  backend: BackendName | undefined,
): Promise<Segmenter | undefined> {
  try {
    return await createSegmenter({ modelDir: dir, backend });
  } catch (error) {
    if (isXrayError(error) && error.code === 'model_missing') return undefined;
    throw error;
  }
}

export async function scoreSamples(
  engine: Engine,
  samples: readonly Sample[],
  onProgress?: (done: number, total: number) => void,
  cache?: InputCache,
): Promise<{ probs: number[]; kept: Sample[]; skipped: { file: string; code: string }[] }> {
  const prepared = await prepareInputs(samples, engine.card.preprocessing, {
    lungs: engine.lungs,
    cache,
    ...(onProgress === undefined ? {} : { onProgress }),
  });
  const size = engine.card.preprocessing.size;
  const probs: number[] = [];
  for (let i = 0; i < prepared.inputs.length; i += 64) {
    const chunk = prepared.inputs
      .slice(i, i + 64)
      .map((data) => ({ data, size, region: { left: 0, top: 0, width: 1, height: 1 } }));
    probs.push(...(await engine.predict(chunk)));
  }
  return { probs, kept: prepared.samples, skipped: prepared.skipped };
}

/**
 * Scores a simulated phone photo of each image through the same path as the bots (decode, the
 * one preprocessing, the engine) and compares with the originals' probabilities `probs`.
 */
export async function scorePhotos(
  engine: Engine,
  samples: readonly Sample[],
  probs: readonly number[],
  onProgress?: (done: number, total: number) => void,
): Promise<PhotoRobustness> {
  // The generator is measurement tooling (scripts/), loaded only when asked for.
  const { simulatePhotoDetailed } = await import('../../scripts/lib/simulate-photo.js');
  let done = 0;
  const scored = await mapWithConcurrency(samples, 2, async (sample, index) => {
    let kind: string | undefined;
    try {
      const photo = await simulatePhotoDetailed(await fs.readFile(sample.file), index);
      kind = photo.variant;
      const prepared = await engine.prepare(photo.jpeg);
      // One forward pass gives the probability and the features the gate judges.
      const a = await engine.analyse(prepared.input, false);
      const verdict =
        engine.gate === undefined
          ? undefined
          : gateAnswer(
              gateSignals(engine.gate, prepared, a.features, prepared.lungs, engine.lungs),
              engine.lungs !== undefined,
            );
      return { p: calibrate(a.rawProbability, engine.card.calibration), verdict, kind };
    } catch {
      return { p: Number.NaN, verdict: undefined, kind };
    } finally {
      onProgress?.(++done, samples.length);
    }
  });
  const kept = samples.flatMap((_, i) => (Number.isFinite(scored[i]?.p) ? [i] : []));
  const verdicts = scored.flatMap((s) => (s.verdict === undefined ? [] : [s.verdict]));
  const accepted = kept.filter((i) => scored[i]?.verdict === 'accepted');
  const gated = verdicts.length > 0;
  const kinds = [...new Set(kept.flatMap((i) => scored[i]?.kind ?? []))].sort();
  const ofKind = (idx: readonly number[], kind: string) =>
    photoFigures(
      samples,
      scored,
      probs,
      idx.filter((i) => scored[i]?.kind === kind),
    );
  return {
    ...photoFigures(samples, scored, probs, kept),
    byKind: Object.fromEntries(
      kinds.map((kind) => [
        kind,
        { all: ofKind(kept, kind), ...(gated ? { acceptedByGate: ofKind(accepted, kind) } : {}) },
      ]),
    ),
    ...(!gated
      ? {}
      : {
          gate: {
            accepted: verdicts.filter((v) => v === 'accepted').length,
            n: verdicts.length,
            reasons: verdicts.reduce<Record<string, number>>((acc, v) => {
              if (v !== 'accepted') acc[v] = (acc[v] ?? 0) + 1;
              return acc;
            }, {}),
          },
          acceptedByGate: photoFigures(samples, scored, probs, accepted),
        }),
  };
}

/** The kinds of simulated photo (`PhotoVariant`) as the report names them. */
const PHOTO_KIND_NAMES: Record<string, string> = { film: 'films on a light box', monitor: 'monitors' };

/** The phone-photo figures in one sentence (report, card, console). */
export function describePhotos(p: PhotoRobustness): string {
  const figures = (f: PhotoFigures) =>
    `AUC ${fmt(f.auc)} (${fmt(f.aucDrop)} below the originals), mean |change in probability| ${fmt(f.meanAbsDelta)} (median ${fmt(f.medianAbsDelta)}), calibration error (ECE) ${fmt(f.ece)}`;
  const gate =
    p.gate === undefined
      ? ''
      : `; the gate lets ${p.gate.accepted} of ${p.gate.n} photos through (refused: ${
          Object.entries(p.gate.reasons)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ') || 'none'
        })` + (p.acceptedByGate === undefined ? '' : `, and on those: ${figures(p.acceptedByGate)}`);
  const kinds = Object.entries(p.byKind ?? {})
    .map(
      ([kind, f]) =>
        `${PHOTO_KIND_NAMES[kind] ?? kind}: mean change ${fmt(f.all.meanAbsDelta)} over ${f.all.n}` +
        (f.acceptedByGate === undefined
          ? ''
          : `, ${fmt(f.acceptedByGate.meanAbsDelta)} over the ${f.acceptedByGate.n} the gate lets through`),
    )
    .join('; ');
  return `${figures(p)}, n ${p.n} (targets: drop <= 0.03, mean change <= 0.05)${gate}.${kinds === '' ? '' : ` By kind of photo: ${kinds}.`}`;
}

/** AUC, AUC drop and changes in probability over the photos `idx`. */
function photoFigures(
  samples: readonly Sample[],
  scored: readonly { p: number }[],
  probs: readonly number[],
  idx: readonly number[],
): PhotoFigures {
  return pairedPhotoFigures(
    idx.map((i) => samples[i]?.covid ?? 0),
    idx.map((i) => probs[i] ?? 0),
    idx.map((i) => scored[i]?.p ?? 0),
  );
}

/**
 * The phone-photo figures of paired answers (the same image as itself and as a photo): AUC on the
 * photos, its drop from the originals' AUC, the changes in probability, and the photos' ECE.
 */
export function pairedPhotoFigures(
  labels: readonly number[],
  onOriginals: readonly number[],
  onPhotos: readonly number[],
): PhotoFigures {
  const n = labels.length;
  const finite = (v: number) => (Number.isFinite(v) ? v : null);
  const photoAuc = n === 0 ? null : finite(auc(labels, onPhotos));
  const cleanAuc = n === 0 ? null : finite(auc(labels, onOriginals));
  const deltas = onPhotos.map((p, j) => Math.abs(p - (onOriginals[j] ?? 0))).sort((a, b) => a - b);
  return {
    auc: photoAuc,
    aucDrop: photoAuc === null || cleanAuc === null ? null : cleanAuc - photoAuc,
    meanAbsDelta: deltas.length === 0 ? Number.NaN : deltas.reduce((a, b) => a + b, 0) / deltas.length,
    medianAbsDelta: deltas.length === 0 ? Number.NaN : (deltas[Math.floor((deltas.length - 1) / 2)] ?? 0),
    ece: n === 0 ? null : finite(ece(labels, onPhotos)),
    n,
  };
}

export async function writeEvaluationFiles(
  outDir: string,
  r: FullEvaluation,
  modelDir: string,
): Promise<{ report: string; json: string; plots: string[] }> {
  await fs.mkdir(outDir, { recursive: true });
  const kept = r.scored.map((s) => s.sample);
  const probs = r.scored.map((s) => s.probability);
  const labels = kept.map((s) => s.covid);
  const plots: string[] = [];
  const curves = [{ name: `all (AUC ${fmt(r.overall.auc)})`, points: rocCurve(labels, probs) }];
  const cvp = kept.flatMap((s, i) => (s.label === 'normal' ? [] : [i]));
  if (new Set(cvp.map((i) => labels[i])).size === 2) {
    curves.push({
      name: `COVID-19 vs other pneumonia (AUC ${fmt(
        auc(
          cvp.map((i) => labels[i] ?? 0),
          cvp.map((i) => probs[i] ?? 0),
        ),
      )})`,
      points: rocCurve(
        cvp.map((i) => labels[i] ?? 0),
        cvp.map((i) => probs[i] ?? 0),
      ),
    });
  }
  plots.push(await rocPlot(curves, path.join(outDir, 'roc.png'), { title: `ROC, ${r.split} split` }));
  plots.push(
    await reliabilityPlot(reliabilityBins(labels, probs), path.join(outDir, 'reliability.png'), {
      title: 'Reliability (calibrated probabilities)',
    }),
  );
  const card = await readCard(modelDir);
  const history = card.training?.['history'];
  if (Array.isArray(history) && history.length > 0) {
    plots.push(
      await trainingCurvesPlot(history as TrainingHistoryEntry[], path.join(outDir, 'training.png'), {
        title: 'Training',
      }),
    );
  }
  const json = path.join(outDir, 'evaluation.json');
  await fs.writeFile(json, `${JSON.stringify({ ...r, scored: undefined, files: undefined }, null, 2)}\n`);
  const report = path.join(outDir, 'evaluation.md');
  await fs.writeFile(
    report,
    markdownReport(
      r,
      plots.map((p) => path.basename(p)),
    ),
  );
  return { report, json, plots };
}

function row(name: string, m: EvaluationReport): string {
  return `| ${name} | ${m.n} | ${m.positives} | ${fmt(m.auc)} | ${fmt(m.auc_ci[0])}–${fmt(m.auc_ci[1])} | ${fmt(m.sensitivity)} | ${fmt(m.specificity)} | ${fmt(m.accuracy)} | ${fmt(m.ece)} |`;
}

export function markdownReport(r: FullEvaluation, plots: string[]): string {
  const lines = [
    `# Evaluation of model ${r.modelVersion}`,
    '',
    `Data: \`${r.data}\`, split: ${r.split}. Threshold from the model card: ${fmt(r.overall.threshold)}.`,
    '',
    '| subset | n | COVID-19 | AUC | 95% CI | sensitivity | specificity | accuracy | ECE |',
    '|---|---:|---:|---:|---|---:|---:|---:|---:|',
    row('all', r.overall),
    ...(r.covidVsPneumonia ? [row('COVID-19 vs other pneumonia', r.covidVsPneumonia)] : []),
    ...(r.withoutPediatric ? [row('without pediatric', r.withoutPediatric)] : []),
    ...Object.entries(r.perSource).map(([source, m]) => row(`source: ${source}`, m)),
    '',
    `Confusion at the threshold: TP ${r.overall.confusion.tp}, FP ${r.overall.confusion.fp}, TN ${r.overall.confusion.tn}, FN ${r.overall.confusion.fn}. ` +
      `PPV ${fmt(r.overall.ppv)}, NPV ${fmt(r.overall.npv)}, Brier ${fmt(r.overall.brier)}.`,
    '',
    'A source that holds one label only has no AUC: its sensitivity (COVID-19 sources) or specificity (others) is what it tells. ' +
      'High figures on mixed-source data can come from recognising the collection rather than the disease; see the leave-one-source-out figures in the model card.',
    '',
    ...plots.map((p) => `![${p}](${p})`),
    '',
  ];
  if (r.heatmap !== undefined) {
    lines.push(
      '## Where the model looks',
      '',
      `Mean share of Grad-CAM mass outside the ${r.heatmap.mask === 'lungs' ? 'lungs' : 'thorax box'}: ${fmt(r.heatmap.meanOutside)} ` +
        `(a map spread evenly would score ${fmt(r.heatmap.uniformOutside)}; n ${r.heatmap.n}; ${r.heatmap.method}).`,
      '',
      ...Object.entries(r.heatmap.perSource).map(
        ([k, v]) => `- ${k}: ${fmt(v.meanOutside)} (even map ${fmt(v.uniformOutside)}, n ${v.n})`,
      ),
      '',
      ...(r.heatmap.handMasks === undefined
        ? []
        : [
            `Checked against hand-drawn lung masks on ${r.heatmap.handMasks.n} of these images: outside share ${fmt(r.heatmap.handMasks.meanOutsideHand)} with the hand masks vs ${fmt(r.heatmap.handMasks.meanOutsidePredicted)} with the predicted ones ` +
              `(mean absolute difference ${fmt(r.heatmap.handMasks.meanAbsDifference)}; predicted vs hand mask Dice ${fmt(r.heatmap.handMasks.meanDice)}).`,
            '',
          ]),
    );
  }
  if (r.photo !== undefined) {
    lines.push(
      '## Phone photos of the film or screen (simulated)',
      '',
      `${describePhotos(r.photo)} ` +
        'Each image is turned into a photo of a film on a light box or of a monitor (perspective, surroundings, colour cast, glare, blur, noise, moiré, JPEG) by scripts/lib/simulate-photo.ts, seed = image index.',
      '',
    );
  }
  if (r.gate !== undefined) lines.push(...gateLines(r.gate));
  if (r.skipped.length > 0) lines.push(`Skipped ${r.skipped.length} unreadable image(s).`, '');
  return lines.join('\n');
}

/** How the head does on a kind of image it never saw: what a new kind of upload would meet. */
function unseenKindSentence(head: NonNullable<GateEvaluation['head']>): string {
  const kinds = Object.entries(head.leaveOneKindOut);
  if (kinds.length === 0) return '';
  const figures = kinds.map(([kind, r]) => `${kind} ${r.rejected}/${r.n}`);
  return ` A kind of image it never saw is refused less often: with each kind left out of its fitting in turn, ${figures.join(', ')}.`;
}

/**
 * The head's cross-validated figure on the negatives' photos it was fitted on, if it was;
 * `negatives` is how many negatives there are (the photos per negative follow from it).
 */
function photosCvSentence(head: NonNullable<GateEvaluation['head']>, negatives: number): string {
  const p = head.crossValidatedPhotos;
  if (p === null) return '';
  const each = negatives > 0 ? Math.round(p.n / negatives) : 1;
  const fitted = each === 1 ? 'a simulated phone photo' : `${each} simulated phone photos`;
  return ` It was also fitted on ${fitted} of each negative (other seeds than the photos above); cross-validated, it rejects ${p.rejected} of ${p.n} of those photos.`;
}

/**
 * The head's other operating points (fit-gate's trade-off), as a sentence: what letting more or
 * fewer validation X-rays through would cost in negatives let through. Empty when not recorded.
 */
function tradeOffSentence(head: NonNullable<GateEvaluation['head']>): string {
  if (head.tradeOff.length === 0 || head.crossValidated === null) return '';
  const n = head.crossValidated.n;
  const points = head.tradeOff.map(
    (t) =>
      `${Number((t.acceptance * 100).toFixed(1))}%: ${t.valAccepted} accepted, ${t.negativesRejected}/${n} rejected`,
  );
  return ` Other operating points (share of validation X-rays the threshold is set to let through: validation X-rays accepted, negatives rejected cross-validated): ${points.join('; ')}.`;
}

function gateLines(g: GateEvaluation): string[] {
  const pct = (v: number | null) => (v === null ? '–' : `${(v * 100).toFixed(1)}%`);
  const lines = [
    '## Chest X-ray gate',
    '',
    `Accepted ${g.xrayAcceptance.count} of ${g.xrayAcceptance.n} X-rays of this split (${pct(g.xrayAcceptance.rate)}; target >= 99%).`,
    '',
  ];
  if (g.negativeRejection !== undefined) {
    lines.push('| negatives (not frontal chest X-rays) | n | rejected | rate |', '|---|---:|---:|---:|');
    for (const [kind, v] of Object.entries(g.negativeRejection.perKind))
      lines.push(`| ${kind} | ${v.n} | ${v.count} | ${pct(v.rate)} |`);
    const o = g.negativeRejection.overall;
    lines.push(`| **all** | ${o.n} | ${o.count} | ${pct(o.rate)} |`, '', 'Target: >= 95% rejected.', '');
    if (g.negativePhotoRejection !== undefined)
      lines.push(
        `As simulated phone photos (each negative on a light box or a monitor, by the same generator, seed ${NEGATIVE_PHOTO_SEED} + index): rejected ${describeRejections(g.negativePhotoRejection)}.`,
        '',
      );
    if (g.head !== undefined)
      lines.push(
        `The gate's head was fitted on real negatives; if these are the same images, the table above is in-sample. ` +
          (g.head.crossValidated === null
            ? 'No cross-validated figure is recorded.'
            : `Cross-validated (each image scored by a head that never saw it): ${g.head.crossValidated.rejected} of ${g.head.crossValidated.n} rejected (${pct(g.head.crossValidated.rejected / Math.max(1, g.head.crossValidated.n))}).`) +
          photosCvSentence(g.head, g.negativeRejection?.overall.n ?? 0) +
          tradeOffSentence(g.head),
        '',
      );
  }
  const l = g.lungSignal;
  if (l !== undefined) {
    lines.push(
      `### What the lung check adds (plausibility >= ${l.minPlausibility}; ${l.inUse ? 'in use by this model' : 'measured only, this model does not refuse on it'})`,
      '',
      '| | without | with |',
      '|---|---:|---:|',
      `| X-rays accepted (of ${l.xraysAccepted.n}) | ${l.xraysAccepted.without} | ${l.xraysAccepted.with} |`,
      `| negatives rejected (of ${l.negativesRejected.n}) | ${l.negativesRejected.without} | ${l.negativesRejected.with} |`,
      ...Object.entries(l.negativesRejectedPerKind).map(
        ([kind, v]) => `| ${kind} rejected (of ${v.n}) | ${v.without} | ${v.with} |`,
      ),
      '',
    );
  }
  return lines;
}

/** Writes the evaluation's figures into the model's card (the card is never edited by hand). */
export async function updateCardWithEvaluation(
  modelDir: string,
  r: FullEvaluation,
  /** Other candidates measured the same way (evaluate --compare-with); the card gets a sentence for each. */
  others: readonly ModelSummary[] = [],
): Promise<void> {
  const card = await readCard(modelDir);

  card.metrics = {
    ...card.metrics,
    test: { split: r.split, ...summary(r.overall) },
    perSource: Object.fromEntries(Object.entries(r.perSource).map(([k, v]) => [k, summary(v)])),
    covidVsPneumonia: r.covidVsPneumonia === null ? null : summary(r.covidVsPneumonia),
    withoutPediatric: r.withoutPediatric === null ? null : summary(r.withoutPediatric),
    ...(r.gate === undefined ? {} : { gate: r.gate }),
    ...(r.heatmap === undefined
      ? {}
      : r.heatmap.mask === 'lungs'
        ? { heatmapOutsideLungs: r.heatmap, heatmapOutsideThorax: undefined }
        : { heatmapOutsideThorax: r.heatmap }),
    ...(r.photo === undefined ? {} : { phonePhoto: r.photo }),
  };
  if (others.length > 0) card.metrics = { ...card.metrics, comparedWith: [...others] };
  card.limitations = [...BASE_LIMITATIONS, ...measuredLimitations(r)];
  // The comparison sentences come from metrics.comparedWith; ablations and seeds were measured
  // separately (npm run loso): all of them are made from the card's figures here.
  await writeCard(modelDir, refreshLosoSentences(card));
}

/** Plain sentences from the measured figures, so the card's limits say what was actually seen. */
export function measuredLimitations(r: FullEvaluation): string[] {
  const out: string[] = [];
  if (r.covidVsPneumonia?.auc != null) {
    out.push(
      `Measured: telling COVID-19 from other pneumonia on the ${r.split} split, AUC ${fmt(r.covidVsPneumonia.auc)} (n ${r.covidVsPneumonia.n}), against ${fmt(r.overall.auc)} for all images.`,
    );
  }
  for (const [source, m] of Object.entries(r.perSource)) {
    if (m.auc !== null && m.positives > 0 && m.positives < m.n) {
      out.push(
        `Measured: within ${source}, where both labels come from the same collection, AUC ${fmt(m.auc)}, specificity ${fmt(m.specificity)} (n ${m.n}).`,
      );
    }
  }
  if (r.heatmap !== undefined) {
    out.push(
      `Measured: on average ${fmt(r.heatmap.meanOutside * 100, 0)}% of the heatmap mass falls outside ${r.heatmap.mask === 'lungs' ? "each image's predicted lung fields" : 'a central thorax box'} (a map spread evenly would put ${fmt(r.heatmap.uniformOutside * 100, 0)}% there).`,
    );
  }
  if (r.photo !== undefined) {
    out.push(`Measured on simulated phone photos of the film or screen: ${describePhotos(r.photo)}`);
  }
  const g = r.gate;
  if (g !== undefined) {
    const neg = g.negativeRejection;
    out.push(
      `Gate trade-off: it accepted ${g.xrayAcceptance.count} of ${g.xrayAcceptance.n} real X-rays` +
        (neg === undefined
          ? ''
          : ` and rejected ${neg.overall.count} of ${neg.overall.n} non-chest-X-ray images`) +
        '; a stricter gate would refuse more real X-rays, which is worse than no gate.',
    );
    if (g.negativePhotoRejection !== undefined)
      out.push(
        `Measured: shown as simulated phone photos (on a light box or a monitor), the non-chest-X-ray images are rejected ${describeRejections(g.negativePhotoRejection)}.`,
      );
    if (g.head?.crossValidated != null)
      out.push(
        `Measured: the gate's head was fitted on the real negatives; cross-validated, it rejects ${g.head.crossValidated.rejected} of ${g.head.crossValidated.n} of them (see metrics.gateHead per kind; lateral chest X-rays are the hardest).${photosCvSentence(g.head, g.negativeRejection?.overall.n ?? 0)}${unseenKindSentence(g.head)}${tradeOffSentence(g.head)}`,
      );
    const l = g.lungSignal;
    if (l !== undefined && l.inUse)
      out.push(
        `Measured: the lung check (refuse when no plausible pair of lungs is found) ${countChange('the rejected non-chest-X-ray images', l.negativesRejected)}, and ${countChange('the accepted X-rays', l.xraysAccepted)}.`,
      );
  }
  return out;
}

/** "229/241 (ct 58/60, lateral 34/41, ...)". */
export function describeRejections(r: Rejections): string {
  const kinds = Object.entries(r.perKind)
    .map(([kind, v]) => `${kind} ${v.count}/${v.n}`)
    .join(', ');
  return `${r.overall.count}/${r.overall.n} (${kinds})`;
}

/** "raises the accepted X-rays from 570 to 576 of 579", or "leaves ... at 576 of 579". */
function countChange(what: string, c: { without: number; with: number; n: number }): string {
  if (c.with === c.without) return `leaves ${what} at ${c.with} of ${c.n}`;
  return `${c.with > c.without ? 'raises' : 'lowers'} ${what} from ${c.without} to ${c.with} of ${c.n}`;
}
