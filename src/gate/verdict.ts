/**
 * Every gate signal of one image, computed independently, and the verdict they give in the
 * engine's order (image statistics, lungs when the model has a lung step, feature distance,
 * head). Evaluation uses it to say what each signal adds; fitting the head uses it to know
 * which images reach the head at all.
 */
import type { RefusalReason } from '../core/result.js';
import type { LungFinder, Prepared } from '../image/preprocess.js';
import { lungsFound, type LungMask } from '../lungs/mask.js';
import type { Gate } from './gate.js';

export interface GateSignals {
  image?: RefusalReason | undefined;
  /** Undefined when no lung model was at hand. */
  lungsFound?: boolean | undefined;
  features?: RefusalReason | undefined;
  head?: RefusalReason | undefined;
  error?: true;
}

/** The gate's signals for one prepared image and its forward pass (features). */
export function gateSignals(
  gate: Gate | undefined,
  prepared: Prepared,
  features: Float32Array,
  mask: LungMask | undefined,
  finder: LungFinder | undefined,
): GateSignals {
  return {
    image: gate?.checkImage(prepared.decoded),
    lungsFound:
      mask === undefined || finder === undefined ? undefined : lungsFound(mask, finder.minPlausibility),
    features: gate?.checkFeatures(features),
    head: gate?.checkHead({ features, lungs: prepared.lungs, image: prepared.decoded }),
  };
}

/** The answer the engine gives (`classify` checks image, then lungs if it has a lung step, then features, then the head). */
export function gateAnswer(s: GateSignals, useLungs: boolean): RefusalReason | 'accepted' | 'error' {
  if (s.error === true) return 'error';
  if (s.image !== undefined) return s.image;
  if (useLungs && s.lungsFound === false) return 'lungs_not_found';
  return s.features ?? s.head ?? 'accepted';
}
