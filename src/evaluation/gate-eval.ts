import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import type { Engine } from '../classifier/engine.js';
import { gateAnswer, gateSignals, type GateSignals } from '../gate/verdict.js';
import type { Rejection, TradeOffPoint } from '../gate/fit-head.js';
import type { Segmenter } from '../lungs/segment.js';
import { mapWithConcurrency } from '../training/datasets.js';
import { DATASET_LIMITS } from '../training/inputs.js';

export interface GateRate {
  n: number;
  /** Accepted (X-rays) or rejected (negatives), as a count and a share. */
  count: number;
  rate: number | null;
  /** Why inputs were refused, by reason code. */
  reasons: Record<string, number>;
}

/** Negatives rejected, over all and per kind. */
export interface Rejections {
  overall: GateRate;
  perKind: Record<string, GateRate>;
}

/** Seeds of the negatives' simulated photos: apart from training's, the gate head's and the test photos'. */
export const NEGATIVE_PHOTO_SEED = 3_000_000;

export interface GateEvaluation {
  xrayAcceptance: GateRate;
  negativeRejection?: Rejections;
  /**
   * The same negatives, each as a simulated phone photo of it on a light box or a monitor (with
   * `photos`): a user with a knee X-ray or a CT slice photographs it as they would a chest film.
   */
  negativePhotoRejection?: Rejections;
  /**
   * What the lung check adds: the same figures with and without it (each signal is computed
   * for every image, so the counts do not depend on the order the engine checks them in).
   */
  lungSignal?: {
    minPlausibility: number;
    /** Whether the model refuses on it (its preprocessing has a lung step), or it is only measured. */
    inUse: boolean;
    xraysAccepted: { without: number; with: number; n: number };
    negativesRejected: { without: number; with: number; n: number };
    negativesRejectedPerKind: Record<string, { without: number; with: number; n: number }>;
  };
  /**
   * With a gate head fitted on real negatives (`npm run fit-gate`): rejection of those same
   * negatives is in-sample; the card's cross-validated figure is the honest one.
   */
  head?: {
    threshold: number;
    crossValidated: { n: number; rejected: number } | null;
    /** The negatives' simulated phone photos the head was fitted on, cross-validated; null if not fitted on photos. */
    crossValidatedPhotos: { n: number; rejected: number } | null;
    /** Other operating points, as fit-gate measured them (metrics.gateHead.tradeOff); empty if not recorded. */
    tradeOff: TradeOffPoint[];
    /** Per kind, rejection by a head fitted without any image of that kind (metrics.gateHead); empty if not recorded. */
    leaveOneKindOut: Record<string, Pick<Rejection, 'n' | 'rejected'>>;
  };
}

async function signalsOf(
  engine: Engine,
  segmenter: Segmenter | undefined,
  images: readonly (() => Promise<Uint8Array>)[],
): Promise<GateSignals[]> {
  return mapWithConcurrency(images, 2, async (image) => {
    try {
      const prepared = await engine.prepare(await image(), DATASET_LIMITS);
      const mask = prepared.lungs ?? (await segmenter?.segment(prepared.decoded));
      const analysis = await engine.analyse(prepared.input, false);
      return gateSignals(engine.gate, prepared, analysis.features, mask, engine.lungs ?? segmenter);
    } catch {
      return { error: true as const };
    }
  });
}

function rate(results: readonly string[], counted: (r: string) => boolean): GateRate {
  const reasons: Record<string, number> = {};
  for (const r of results) if (r !== 'accepted') reasons[r] = (reasons[r] ?? 0) + 1;
  const count = results.filter(counted).length;
  return { n: results.length, count, rate: results.length === 0 ? null : count / results.length, reasons };
}

/** Over all and per kind (`kinds[i]` is result i's). */
function rejections(results: readonly string[], kinds: readonly string[]): Rejections {
  const refused = (r: string) => r !== 'accepted';
  const perKind: Record<string, GateRate> = {};
  for (const kind of [...new Set(kinds)].sort())
    perKind[kind] = rate(
      results.filter((_, i) => kinds[i] === kind),
      refused,
    );
  return { overall: rate(results, refused), perKind };
}

const fromFile = (file: string) => () => readFile(file);

/**
 * The gate's figures: how many real X-rays it lets through, and how many non-X-rays it stops
 * (per kind, from a negatives folder with `manifest.csv`: file,kind,...), with `photos` also as
 * simulated phone photos, and what the lung check adds (with `segmenter` for a model without a
 * lung step of its own).
 */
export async function evaluateGate(
  engine: Engine,
  xrayFiles: readonly string[],
  negativesDir?: string,
  segmenter?: Segmenter,
  options: { photos?: boolean } = {},
): Promise<GateEvaluation> {
  const inUse = engine.lungs !== undefined;
  const xraySignals = await signalsOf(engine, segmenter, xrayFiles.map(fromFile));
  const accepted = (r: string) => r === 'accepted';
  const refused = (r: string) => r !== 'accepted';
  const xray = rate(
    xraySignals.map((s) => gateAnswer(s, inUse)),
    accepted,
  );
  const rows =
    negativesDir === undefined || !existsSync(path.join(negativesDir, 'manifest.csv'))
      ? []
      : (parse(await readFile(path.join(negativesDir, 'manifest.csv')), { columns: true }) as {
          file: string;
          kind: string;
        }[]);
  const negFiles = rows.map((r) => path.join(negativesDir ?? '', r.file));
  const negSignals = await signalsOf(engine, segmenter, negFiles.map(fromFile));
  const result: GateEvaluation = { xrayAcceptance: xray };
  const head = engine.gate?.settings.head;
  if (head !== undefined) {
    const recorded = engine.card.metrics?.['gateHead'] as
      | {
          crossValidated?: {
            overall?: { n: number; rejected: number };
            photos?: { overall?: { n: number; rejected: number } };
          };
          tradeOff?: TradeOffPoint[];
          leaveOneKindOut?: Record<string, Rejection>;
        }
      | undefined;
    const cv = recorded?.crossValidated?.overall;
    const cvPhotos = recorded?.crossValidated?.photos?.overall;
    result.head = {
      threshold: head.threshold,
      crossValidated: cv === undefined ? null : { n: cv.n, rejected: cv.rejected },
      crossValidatedPhotos: cvPhotos === undefined ? null : { n: cvPhotos.n, rejected: cvPhotos.rejected },
      tradeOff: recorded?.tradeOff ?? [],
      leaveOneKindOut: Object.fromEntries(
        Object.entries(recorded?.leaveOneKindOut ?? {}).map(([kind, r]) => [
          kind,
          { n: r.n, rejected: r.rejected },
        ]),
      ),
    };
  }
  const kinds = rows.map((r) => r.kind);
  if (rows.length > 0)
    result.negativeRejection = rejections(
      negSignals.map((s) => gateAnswer(s, inUse)),
      kinds,
    );
  if (rows.length > 0 && options.photos === true) {
    // The generator is measurement tooling (scripts/), loaded only when asked for.
    const { photoMaker } = await import('../../scripts/lib/simulate-photo.js');
    const photoSignals = await signalsOf(
      engine,
      segmenter,
      negFiles.map((file, i) => photoMaker(file, NEGATIVE_PHOTO_SEED + i)),
    );
    result.negativePhotoRejection = rejections(
      photoSignals.map((s) => gateAnswer(s, inUse)),
      kinds,
    );
  }
  const finder = engine.lungs ?? segmenter;
  if (finder !== undefined) {
    const compare = (signals: readonly GateSignals[], counted: (r: string) => boolean) => ({
      without: signals.filter((s) => counted(gateAnswer(s, false))).length,
      with: signals.filter((s) => counted(gateAnswer(s, true))).length,
      n: signals.length,
    });
    const perKind: Record<string, { without: number; with: number; n: number }> = {};
    for (const kind of [...new Set(kinds)].sort())
      perKind[kind] = compare(
        negSignals.filter((_, i) => kinds[i] === kind),
        refused,
      );
    result.lungSignal = {
      minPlausibility: finder.minPlausibility,
      inUse,
      xraysAccepted: compare(xraySignals, accepted),
      negativesRejected: compare(negSignals, refused),
      negativesRejectedPerKind: perKind,
    };
  }
  return result;
}
