/**
 * Fits the gate's head (head.ts) for a trained model and measures it honestly: the head learns
 * from real negatives, so its rejection rate on those same images says nothing. It is measured
 * by cross-validation over the negatives (folds keep near-copies together) and by leaving one
 * kind of negative out entirely (a kind of image it never saw).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import sharp from 'sharp';
import { createEngine, type Engine } from '../classifier/engine.js';
import { readCard, writeCard } from '../model/card.js';
import type { BackendName } from '../tf/backend.js';
import { gateAnswer, gateSignals } from './verdict.js';
import { mulberry32, shuffle } from '../training/random.js';
import { mapWithConcurrency } from '../training/datasets.js';
import { DATASET_LIMITS } from '../training/inputs.js';
import { VAL_ACCEPTANCE } from './fit.js';
import {
  acceptanceThreshold,
  fitHead,
  HEAD_L2,
  headInput,
  headScore,
  HEAD_FILE,
  writeHead,
  type HeadParams,
  type HeadSignals,
} from './head.js';

/** One image as the gate sees it, with the earlier stages' verdict. */
export interface GateExample {
  input: number[];
  /** Refused before the head (colour, shape, lungs in use, feature distance). */
  refusedBefore: boolean;
}

export interface NegativeExample extends GateExample {
  kind: string;
  /** Images of one group (e.g. panels of one figure) stay in one fold. */
  group: string;
  /**
   * A made variant of another negative (its mirror image, or a simulated phone photo of it), in
   * the same group: fitted on, never counted with the real images, so their figures stay theirs.
   * Photos are scored apart (`crossValidated.photos`).
   */
  variant?: 'mirror' | 'photo';
}

/** An image file, or a maker of image bytes (a simulated phone photo of a training X-ray). */
export type ImageSource = string | (() => Promise<Uint8Array>);

/**
 * The image's mirror image (left and right swapped): still a frontal chest X-ray, or still not one.
 * Fitting on both halves the chance that the head learns which way a lateral view faces.
 */
export function mirrored(file: string): ImageSource {
  return async () =>
    sharp(await readFile(file))
      .flop()
      .png()
      .toBuffer();
}

/** Runs each image through the engine's preprocessing and forward pass and collects the gate's signals. */
export async function gateExamples(
  engine: Engine,
  sources: readonly ImageSource[],
): Promise<(GateExample | undefined)[]> {
  const gate = engine.gate;
  if (gate === undefined) throw new Error('The model has no gate to add a head to (train it again).');
  return mapWithConcurrency(sources, 2, async (source) => {
    try {
      const bytes = typeof source === 'string' ? await readFile(source) : await source();
      const prepared = await engine.prepare(bytes, DATASET_LIMITS);
      const { features } = await engine.analyse(prepared.input, false);
      const signals: HeadSignals = {
        features,
        distance: gate.distance(features),
        lungs: prepared.lungs,
        image: prepared.decoded,
      };
      // The earlier stages' verdict: the head's own signal left out.
      const { head: _head, ...before } = gateSignals(gate, prepared, features, prepared.lungs, engine.lungs);
      return {
        input: headInput(signals),
        refusedBefore: gateAnswer(before, engine.lungs !== undefined) !== 'accepted',
      };
    } catch {
      // Unreadable files get a clear error from the bot; they are not gate examples.
      return undefined;
    }
  });
}

export interface Rejection {
  n: number;
  rejected: number;
  /** Rejected by the earlier stages alone, for comparison. */
  rejectedWithoutHead: number;
}

export interface HeadFit {
  params: HeadParams;
  threshold: number;
  /** Validation X-rays accepted by the whole gate with the head. */
  valAcceptance: { n: number; accepted: number };
  /**
   * Each negative scored by a head fitted without its fold (5 folds, stratified by kind); with
   * photo variants, those photos too, apart (a head fitted without the photo's image and its
   * variants).
   */
  crossValidated: {
    overall: Rejection;
    perKind: Record<string, Rejection>;
    photos?: { overall: Rejection; perKind: Record<string, Rejection> };
  };
  /** Each kind scored by a head fitted without any image of that kind. */
  leaveOneKindOut: Record<string, Rejection>;
  /** The cost of other operating points: one per validation acceptance of TRADE_OFF_ACCEPTANCES. */
  tradeOff: TradeOffPoint[];
}

/** One operating point of the head: validation X-rays accepted, negatives rejected (cross-validated). */
export interface TradeOffPoint {
  acceptance: number;
  valAccepted: number;
  negativesRejected: number;
}

const FOLDS = 5;

/**
 * Validation acceptances the trade-off is measured at (HeadFit.tradeOff): what the gate would
 * reject at each, so the card shows what the chosen point costs on either side.
 */
export const TRADE_OFF_ACCEPTANCES = [0.98, 0.985, 0.99, 0.995, 0.998] as const;

interface FittedHead {
  params: HeadParams;
  /** The head's threshold at which the whole gate lets `acceptance` of the validation X-rays through. */
  thresholdFor: (acceptance: number) => number;
}

function fitWith(
  trainXrays: readonly GateExample[],
  valXrays: readonly GateExample[],
  negatives: readonly GateExample[],
): FittedHead {
  const x = [...trainXrays.map((e) => e.input), ...negatives.map((e) => e.input)];
  const y = [...trainXrays.map(() => 0 as const), ...negatives.map(() => 1 as const)];
  const params = fitHead(x, y);
  // Only the X-rays the earlier stages let through reach the head. The whole gate, not the head
  // alone, must let `acceptance` of the validation X-rays through: those refused before count.
  const passing = valXrays.filter((e) => !e.refusedBefore).map((e) => headScore(params, e.input));
  return {
    params,
    thresholdFor: (acceptance) =>
      acceptanceThreshold(
        passing,
        passing.length === 0 ? 1 : Math.min(1, (acceptance * valXrays.length) / passing.length),
      ),
  };
}

function rejection(examples: readonly NegativeExample[], verdicts: readonly boolean[]): Rejection {
  return {
    n: examples.length,
    rejected: verdicts.filter(Boolean).length,
    rejectedWithoutHead: examples.filter((e) => e.refusedBefore).length,
  };
}

function perKind(
  examples: readonly NegativeExample[],
  verdicts: readonly boolean[],
): Record<string, Rejection> {
  const out: Record<string, Rejection> = {};
  for (const kind of [...new Set(examples.map((e) => e.kind))].sort()) {
    const idx = examples.flatMap((e, i) => (e.kind === kind ? [i] : []));
    out[kind] = rejection(
      idx.map((i) => examples[i] as NegativeExample),
      idx.map((i) => verdicts[i] ?? false),
    );
  }
  return out;
}

export function fitGateHead(
  trainXrays: readonly GateExample[],
  valXrays: readonly GateExample[],
  negatives: readonly NegativeExample[],
  seed = 1,
): HeadFit {
  const rejects = (params: HeadParams, threshold: number, e: GateExample) =>
    e.refusedBefore || headScore(params, e.input) > threshold;

  // Folds: groups shuffled within each kind, dealt round-robin.
  const fold = new Map<string, number>();
  const random = mulberry32(seed);
  for (const kind of [...new Set(negatives.map((e) => e.kind))].sort()) {
    const groups = [...new Set(negatives.filter((e) => e.kind === kind).map((e) => e.group))].sort();
    shuffle(groups, random);
    groups.forEach((g, i) => fold.set(g, i % FOLDS));
  }
  // Cross-validated verdicts at VAL_ACCEPTANCE and at each trade-off point, one fit per fold.
  // The real images, by index: only they are held out and counted; variants are only fitted on.
  const real = negatives.flatMap((e, i) => (e.variant === undefined ? [i] : []));
  const photos = negatives.flatMap((e, i) => (e.variant === 'photo' ? [i] : []));
  const acceptances = [VAL_ACCEPTANCE, ...TRADE_OFF_ACCEPTANCES];
  const cv = acceptances.map(() => new Array<boolean>(negatives.length).fill(false));
  for (let k = 0; k < FOLDS; k++) {
    const inFold = (i: number) => fold.get((negatives[i] as NegativeExample).group) === k;
    const held = [...real.filter(inFold), ...photos.filter(inFold)];
    if (held.length === 0) continue;
    const fit = fitWith(
      trainXrays,
      valXrays,
      negatives.filter((e) => fold.get(e.group) !== k),
    );
    acceptances.forEach((acceptance, a) => {
      const threshold = fit.thresholdFor(acceptance);
      for (const i of held)
        (cv[a] as boolean[])[i] = rejects(fit.params, threshold, negatives[i] as NegativeExample);
    });
  }
  const counted = (verdicts: readonly boolean[]) => real.map((i) => verdicts[i] ?? false);
  const realNegatives = real.map((i) => negatives[i] as NegativeExample);
  const chosen = counted(cv[0] as boolean[]);
  const photoNegatives = photos.map((i) => negatives[i] as NegativeExample);
  const photoVerdicts = photos.map((i) => cv[0]?.[i] ?? false);

  const leaveOneKindOut: Record<string, Rejection> = {};
  for (const kind of [...new Set(negatives.map((e) => e.kind))].sort()) {
    const held = realNegatives.filter((e) => e.kind === kind);
    const fit = fitWith(
      trainXrays,
      valXrays,
      negatives.filter((e) => e.kind !== kind),
    );
    const threshold = fit.thresholdFor(VAL_ACCEPTANCE);
    leaveOneKindOut[kind] = rejection(
      held,
      held.map((e) => rejects(fit.params, threshold, e)),
    );
  }

  const final = fitWith(trainXrays, valXrays, negatives);
  const valAccepted = (threshold: number) =>
    valXrays.filter((e) => !rejects(final.params, threshold, e)).length;
  const threshold = final.thresholdFor(VAL_ACCEPTANCE);
  return {
    params: final.params,
    threshold,
    valAcceptance: { n: valXrays.length, accepted: valAccepted(threshold) },
    crossValidated: {
      overall: rejection(realNegatives, chosen),
      perKind: perKind(realNegatives, chosen),
      ...(photos.length === 0
        ? {}
        : {
            photos: {
              overall: rejection(photoNegatives, photoVerdicts),
              perKind: perKind(photoNegatives, photoVerdicts),
            },
          }),
    },
    leaveOneKindOut,
    tradeOff: TRADE_OFF_ACCEPTANCES.map((acceptance, a) => ({
      acceptance,
      valAccepted: valAccepted(final.thresholdFor(acceptance)),
      negativesRejected: counted(cv[a + 1] ?? []).filter(Boolean).length,
    })),
  };
}

/** Panels of one figure ("...-a.jpg", "...-b.jpg") and copies share a group. */
export function negativeGroup(origin: string): string {
  return origin.replace(/\.[a-z0-9]+$/i, '').replace(/[-_][a-z]$/i, '');
}

export interface HeadRequest {
  modelDir: string;
  /** Training X-rays to fit on (a sample is plenty) and validation X-rays for the threshold. */
  trainFiles: readonly string[];
  valFiles: readonly string[];
  /**
   * Phone photos of training X-rays (simulated), fitted as X-rays too: the gate should accept a
   * photo of a film as readily as the film.
   */
  trainPhotos?: readonly ImageSource[] | undefined;
  /**
   * Simulated phone photos of the negative in `file` (the `index`th in the manifest), fitted on
   * as variants of it: a knee X-ray photographed on a monitor should be refused as the knee
   * X-ray is. Their cross-validated rejection is reported apart.
   */
  negativePhotos?: ((file: string, index: number) => readonly ImageSource[]) | undefined;
  /** Folder of real negatives with manifest.csv (file,kind[,origin]). */
  negatives: string;
  seed?: number;
  backend?: BackendName | undefined;
  log?: (line: string) => void;
}

/**
 * Fits the head for the model in `modelDir` and writes gate-head.json, the card's `gate.head`
 * and `metrics.gateHead` (the cross-validated figures). Used by `npm run fit-gate` and by
 * `npm run train` when negatives are at hand.
 */
export async function fitHeadForModel(req: HeadRequest): Promise<HeadFit> {
  const rows = parse(await readFile(path.join(req.negatives, 'manifest.csv')), { columns: true }) as {
    file: string;
    kind: string;
    origin?: string;
  }[];
  const engine = await createEngine({ modelDir: req.modelDir, backend: req.backend });
  const photos = req.trainPhotos?.length ?? 0;
  let photosPerNegative = 0;
  let fit: HeadFit;
  try {
    req.log?.(
      `Gate head: scoring ${req.trainFiles.length} training X-rays, ${photos} photos of training X-rays, ${req.valFiles.length} validation X-rays and ${rows.length} negatives (training X-rays and negatives also as mirror images${req.negativePhotos === undefined ? '' : ', negatives also as simulated phone photos'})...`,
    );
    const kept = (xs: (GateExample | undefined)[]) => xs.filter((x): x is GateExample => x !== undefined);
    const trainX = kept(
      await gateExamples(engine, [
        ...req.trainFiles,
        ...req.trainFiles.map(mirrored),
        ...(req.trainPhotos ?? []),
      ]),
    );
    const valX = kept(await gateExamples(engine, req.valFiles));
    const files = rows.map((r) => path.join(req.negatives, r.file));
    const negs = await gateExamples(engine, files);
    const mirrors = await gateExamples(engine, files.map(mirrored));
    const photoNegs: (GateExample | undefined)[][] = [];
    if (req.negativePhotos !== undefined)
      for (const [i, file] of files.entries())
        photoNegs.push(await gateExamples(engine, req.negativePhotos(file, i)));
    photosPerNegative = Math.max(0, ...photoNegs.map((set) => set.length));
    const negatives: NegativeExample[] = rows.flatMap((r, i) => {
      const group = negativeGroup(r.origin ?? r.file);
      const example = (e: GateExample | undefined, variant?: 'mirror' | 'photo'): NegativeExample[] =>
        e === undefined ? [] : [{ ...e, kind: r.kind, group, ...(variant === undefined ? {} : { variant }) }];
      return [
        ...example(negs[i]),
        ...example(mirrors[i], 'mirror'),
        ...(photoNegs[i] ?? []).flatMap((e) => example(e, 'photo')),
      ];
    });
    fit = fitGateHead(trainX, valX, negatives, req.seed ?? 1);
  } finally {
    engine.dispose();
  }
  await writeHead(req.modelDir, fit.params);
  const card = await readCard(req.modelDir);
  if (card.gate === undefined) throw new Error('The card has no gate.');
  card.gate = {
    ...card.gate,
    head: {
      file: HEAD_FILE,
      threshold: fit.threshold,
      rule: `logistic regression (class-balanced, L2 ${HEAD_L2}) on the penultimate features, their log distance, the lung mask's plausibility/area/components, colourfulness, log aspect ratio and left-right mirror symmetry; fitted on ${req.trainFiles.length} training X-rays${photos > 0 ? ` plus simulated phone photos of ${photos} of them` : ''} against ${rows.length} real negatives, each image also as its mirror image${photosPerNegative === 0 ? '' : ` (negatives also as ${photosPerNegative === 1 ? 'a simulated phone photo' : `${photosPerNegative} simulated phone photos each`})`}; refuses above the score that lets ${VAL_ACCEPTANCE * 100}% of the validation X-rays through`,
    },
  };
  card.metrics = {
    ...card.metrics,
    gateHead: {
      valAcceptance: fit.valAcceptance,
      crossValidated: fit.crossValidated,
      leaveOneKindOut: fit.leaveOneKindOut,
      tradeOff: fit.tradeOff,
      note: 'The head was fitted on these negatives, so rejection measured on them afterwards is in-sample; these cross-validated (5 folds, panels of one figure kept together) and leave-one-kind-out figures are the honest ones.',
    },
  };
  await writeCard(req.modelDir, card);
  const pct = (a: number, n: number) => `${a}/${n} (${((100 * a) / Math.max(1, n)).toFixed(1)}%)`;
  const { overall } = fit.crossValidated;
  req.log?.(
    `Gate head: threshold ${fit.threshold.toFixed(3)}; validation X-rays accepted ${pct(fit.valAcceptance.accepted, fit.valAcceptance.n)}.`,
  );
  req.log?.(
    `Gate head: cross-validated negatives rejected ${pct(overall.rejected, overall.n)} (without the head ${pct(overall.rejectedWithoutHead, overall.n)}).`,
  );
  req.log?.(
    `Gate head: other operating points (validation X-rays accepted / negatives rejected, cross-validated): ${fit.tradeOff
      .map(
        (t) =>
          `${t.acceptance * 100}%: ${t.valAccepted}/${fit.valAcceptance.n}, ${t.negativesRejected}/${overall.n}`,
      )
      .join('; ')}.`,
  );
  for (const [kind, r] of Object.entries(fit.crossValidated.perKind))
    req.log?.(
      `  ${kind}: ${pct(r.rejected, r.n)} (without the head ${r.rejectedWithoutHead}; with the kind left out of fitting ${fit.leaveOneKindOut[kind]?.rejected ?? '–'})`,
    );
  const asPhotos = fit.crossValidated.photos;
  if (asPhotos !== undefined)
    req.log?.(
      `Gate head: cross-validated, the negatives as simulated phone photos rejected ${pct(asPhotos.overall.rejected, asPhotos.overall.n)} (${Object.entries(
        asPhotos.perKind,
      )
        .map(([kind, r]) => `${kind} ${r.rejected}/${r.n}`)
        .join(', ')}).`,
    );
  return fit;
}
