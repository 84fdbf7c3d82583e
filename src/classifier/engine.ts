import { performance } from 'node:perf_hooks';
import type * as tfTypes from '@tensorflow/tfjs';
import { initBackend, tf, type BackendName } from '../tf/backend.js';
import { readCard, type ModelCard } from '../model/card.js';
import { loadModelForCard } from '../model/io.js';
import { calibrate } from '../model/calibration.js';
import { preprocess, type ModelInput, type Prepared } from '../image/preprocess.js';
import type { DecodeLimits } from '../image/decode.js';
import { lungsFound, segmenterFor, type Segmenter } from '../lungs/segment.js';
import type { ClassifyResult, Heatmap, RefusalReason, Timings } from '../core/result.js';
import { createExplainer, type Explainer } from '../explain/gradcam.js';
import { renderOverlay } from '../explain/overlay.js';
import { loadGate, type Gate } from '../gate/gate.js';

export interface EngineOptions {
  modelDir: string;
  backend?: BackendName | undefined;
}

export interface ClassifyOptions {
  limits?: DecodeLimits;
  explain?: boolean;
}

/** One image's model outputs: raw probability, penultimate features, and the Grad-CAM map. */
export interface Analysis {
  rawProbability: number;
  features: Float32Array;
  cam: Float32Array;
  camSize: [number, number];
}

/**
 * The model in this thread: loads once, warms up once, and answers per call. The classifier runs
 * one engine per worker thread; training and evaluation use one directly.
 */
export interface Engine {
  readonly card: ModelCard;
  readonly backend: BackendName;
  readonly gate: Gate | undefined;
  /** The lung segmenter, when the card's preprocessing has a lung step. */
  readonly lungs: Segmenter | undefined;
  /** The one preprocessing path with this model's spec (and its lung model). */
  prepare(bytes: Uint8Array, limits?: DecodeLimits): Promise<Prepared>;
  /** Calibrated probabilities for ready-made inputs (one forward pass per batch). */
  predict(inputs: readonly ModelInput[]): Promise<number[]>;
  /** Raw probability, features and (optionally) the map for one input. */
  analyse(input: ModelInput, withMap: boolean): Promise<Analysis>;
  classify(bytes: Uint8Array, options?: ClassifyOptions): Promise<ClassifyResult>;
  dispose(): void;
}

export async function createEngine(options: EngineOptions): Promise<Engine> {
  const backend = await initBackend(options.backend);
  const card = await readCard(options.modelDir);
  const model = await loadModelForCard(options.modelDir, card);
  const size = card.preprocessing.size;
  const explainer: Explainer | undefined =
    card.explainLayer === undefined ? undefined : createExplainer(model, card.explainLayer);
  const gate = card.gate === undefined ? undefined : await loadGate(options.modelDir, card.gate);
  const lungs = await segmenterFor(card.preprocessing, options.modelDir, { backend });
  const prepare = (bytes: Uint8Array, limits?: DecodeLimits) =>
    preprocess(bytes, card.preprocessing, { limits, lungs });

  const toTensor = (inputs: readonly ModelInput[]) => {
    const batch = new Float32Array(inputs.length * size * size);
    inputs.forEach((input, i) => batch.set(input.data, i * size * size));
    return tf.tensor4d(batch, [inputs.length, size, size, 1]);
  };

  const predict = async (inputs: readonly ModelInput[]): Promise<number[]> => {
    const output = tf.tidy(() => model.predict(toTensor(inputs)) as tfTypes.Tensor);
    const values = await output.data();
    output.dispose();
    return Array.from(values, (p) => calibrate(p, card.calibration));
  };

  const analyse = async (input: ModelInput, withMap: boolean): Promise<Analysis> => {
    if (explainer === undefined) {
      const [p = Number.NaN] = await predict([input]);
      return { rawProbability: p, features: new Float32Array(), cam: new Float32Array(), camSize: [0, 0] };
    }
    const x = toTensor([input]);
    try {
      const r = await explainer.run(x, withMap);
      return { rawProbability: r.probability, features: r.features, cam: r.cam, camSize: r.camSize };
    } finally {
      x.dispose();
    }
  };

  // Warm-up: the first call compiles kernels and allocates; do it before any user waits on it.
  const blank: ModelInput = {
    data: new Float32Array(size * size),
    size,
    region: { left: 0, top: 0, width: 1, height: 1 },
  };
  await predict([blank]);
  if (explainer !== undefined) await analyse(blank, true);

  const photoChange = measuredPhotoChange(card);

  return {
    card,
    backend,
    gate,
    lungs,
    prepare,
    predict,
    analyse,
    async classify(bytes, opts = {}) {
      const t0 = performance.now();
      const prepared = await prepare(bytes, opts.limits);
      const t1 = performance.now();
      const timings = (t2: number, t3: number): Timings => ({
        preprocessMs: t1 - t0,
        inferenceMs: t2 - t1,
        explainMs: t3 - t2,
        totalMs: t3 - t0,
      });
      const refuse = (reason: RefusalReason, t2: number): ClassifyResult => ({
        accepted: false,
        reason,
        modelVersion: card.version,
        timings: timings(t2, t2),
      });

      const imageRefusal = gate?.checkImage(prepared.decoded);
      if (imageRefusal !== undefined) return refuse(imageRefusal, t1);
      // No lungs, no answer: a crop or a probability from elsewhere would be a guess.
      if (
        lungs !== undefined &&
        prepared.lungs !== undefined &&
        !lungsFound(prepared.lungs, lungs.minPlausibility)
      )
        return refuse('lungs_not_found', t1);

      const explain = (opts.explain ?? false) && explainer !== undefined;
      const analysis = await analyse(prepared.input, explain);
      const t2 = performance.now();
      const featureRefusal =
        gate?.checkFeatures(analysis.features) ??
        gate?.checkHead({ features: analysis.features, lungs: prepared.lungs, image: prepared.decoded });
      if (featureRefusal !== undefined) return refuse(featureRefusal, t2);

      const probability = calibrate(analysis.rawProbability, card.calibration);
      let heatmap: Heatmap | undefined;
      if (explain && analysis.cam.length > 0) {
        heatmap = await renderOverlay(
          prepared.decoded,
          analysis.cam,
          analysis.camSize,
          prepared.input.region,
        );
      }
      const t3 = performance.now();
      return {
        accepted: true,
        probability,
        label: probability >= card.threshold ? 'covid' : 'not_covid',
        threshold: card.threshold,
        modelVersion: card.version,
        photo: prepared.film,
        ...(prepared.film && photoChange !== undefined ? { photoChange } : {}),
        ...(heatmap === undefined ? {} : { heatmap }),
        timings: timings(t2, t3),
      };
    },
    dispose() {
      model.dispose();
      lungs?.dispose();
    },
  };
}

/** The card's mean change in probability on simulated photos the gate accepts (else on all of them). */
function measuredPhotoChange(card: ModelCard): number | undefined {
  const photo = card.metrics?.phonePhoto;
  const change = photo?.acceptedByGate?.meanAbsDelta ?? photo?.meanAbsDelta;
  return change === null || change === undefined || !Number.isFinite(change) ? undefined : change;
}
