import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { XrayError } from '../core/errors.js';
import { gateSettingsSchema } from '../gate/gate.js';

/** How image bytes become the model's input. The one preprocessing function reads only this. */
export const preprocessingSchema = z.object({
  /** Side of the square model input, px. */
  size: z.number().int().min(16).max(1024),
  channels: z.literal(1),
  /** Central fraction of each side kept before resizing: cuts borders and burnt-in edge markers. */
  crop: z.number().min(0.5).max(1),
  /** How a non-square image becomes square: stretch (`fill`), pad (`contain`) or centre-crop (`cover`). */
  fit: z.enum(['fill', 'contain', 'cover']),
  /**
   * Per-image contrast equalisation before scaling. `normalise` stretches the 1st-99th
   * percentile of the model's crop to the full range; `normalise-lungs` takes those percentiles
   * over the lung pixels only, so strips of light box, room or labels in the crop do not set the
   * range (needs the lung step; with no lungs found it falls back to `normalise`).
   * `normalise-lungs-gamma` then bends the stretched range with the gamma that puts the lungs'
   * median grey at mid-grey (`LUNG_MEDIAN_TARGET`): a screen's or film's tone curve, which a
   * linear stretch leaves in, moves every image's median alike.
   */
  contrast: z.enum(['none', 'normalise', 'normalise-lungs', 'normalise-lungs-gamma', 'clahe']),
  /** `unit`: grey / 255; `standardize`: per-image zero mean, unit variance. */
  scale: z.enum(['unit', 'standardize']),
  /**
   * Phone photos of a film or screen are cut to the film first: found, undistorted and trimmed
   * (film.ts, `cutOutFilm`; on an ordinary X-ray it finds nothing and the image stays as it is).
   * Absent: no film step.
   */
  film: z.boolean().optional(),
  /**
   * The lung segmenter (`lungs/` inside the model folder) runs first. An image whose lungs it
   * cannot find is refused; with `crop` the model sees the lung box grown by `margin` on each
   * side instead of the central `crop` fraction. Absent: no lung step (models before it).
   */
  lungs: z
    .object({
      /** Version of the lung model the classifier was trained with; the engine checks it. */
      model: z.string().min(1),
      crop: z.boolean(),
      margin: z.number().min(0).max(0.5),
      /**
       * Everything but the lung fields (and a soft edge around them) turned black, so the model
       * cannot use what lies outside them. Absent: the whole crop is seen (models before it).
       */
      mask: z.literal(true).optional(),
    })
    .optional(),
});
export type PreprocessingSpec = z.infer<typeof preprocessingSchema>;

export const calibrationSchema = z.discriminatedUnion('method', [
  z.object({ method: z.literal('none') }),
  z.object({ method: z.literal('platt'), a: z.number(), b: z.number() }),
  z.object({ method: z.literal('temperature'), temperature: z.number().positive() }),
]);
export type Calibration = z.infer<typeof calibrationSchema>;

/** What the photo consistency loss moves: both answers, or only the photo's towards the image's. */
export const CONSISTENCY_TARGETS = ['pair', 'image'] as const;
export type ConsistencyTarget = (typeof CONSISTENCY_TARGETS)[number];
/** Where it weighs the gap between an image's answer and its photo's. */
export const CONSISTENCY_SPACES = ['logit', 'probability'] as const;
export type ConsistencySpace = (typeof CONSISTENCY_SPACES)[number];
/** What a run that names neither gets (the trainer, the card and `--help` all read these). */
export const DEFAULT_CONSISTENCY_SPACE: ConsistencySpace = 'logit';
export const DEFAULT_CONSISTENCY_TARGET: ConsistencyTarget = 'pair';

/** The photo consistency loss a model was trained with (`training.photoConsistency`; absent: none). */
export const photoConsistencySchema = z.object({
  weight: z.number().positive(),
  space: z.enum(CONSISTENCY_SPACES),
  target: z.enum(CONSISTENCY_TARGETS),
});
export type PhotoConsistency = z.infer<typeof photoConsistencySchema>;

/** The consistency loss of a given weight, with the space and target a run leaves unset (the defaults). */
export function photoConsistency(
  weight: number,
  space: ConsistencySpace = DEFAULT_CONSISTENCY_SPACE,
  target: ConsistencyTarget = DEFAULT_CONSISTENCY_TARGET,
): PhotoConsistency {
  return { weight, space, target };
}

const metricsSummary = z.looseObject({
  n: z.number().optional(),
  auc: z.number().nullable().optional(),
  sensitivity: z.number().nullable().optional(),
  specificity: z.number().nullable().optional(),
});

export const cardSchema = z.looseObject({
  schemaVersion: z.literal(1),
  name: z.string().min(1),
  version: z.string().min(1),
  createdAt: z.string(),
  architecture: z.string(),
  /** Output index 0 is the probability of `labels[1]`. */
  labels: z.tuple([z.literal('not_covid'), z.literal('covid')]),
  input: z.object({ height: z.number().int(), width: z.number().int(), channels: z.literal(1) }),
  preprocessing: preprocessingSchema,
  calibration: calibrationSchema,
  threshold: z.number().gt(0).lt(1),
  thresholdRule: z.string(),
  /** Layer whose activations Grad-CAM explains (the last convolutional block). */
  explainLayer: z.string().optional(),
  /** The "is this a frontal chest X-ray?" gate; absent in models trained before it existed. */
  gate: gateSettingsSchema.optional(),
  intendedUse: z.string(),
  limitations: z.array(z.string()),
  disclaimer: z.string(),
  data: z
    .looseObject({
      description: z.string().optional(),
      sources: z.array(z.string()).optional(),
      counts: z.record(z.string(), z.unknown()).optional(),
      trainImages: z.number().int().optional(),
    })
    .optional(),
  /** How the model was trained, as the training script wrote it (free-form but for the fields named). */
  training: z.looseObject({ photoConsistency: photoConsistencySchema.optional() }).optional(),
  metrics: z
    .looseObject({
      validation: metricsSummary.optional(),
      test: metricsSummary.optional(),
      /** Leave-one-source-out: AUC on a collection the model never saw. */
      unseenSource: z.looseObject({ source: z.string(), auc: z.number().nullable() }).optional(),
      /** `evaluate --simulate-photo`: test X-rays against simulated phone photos of them. */
      phonePhoto: z
        .looseObject({
          meanAbsDelta: z.number().nullable(),
          /** The same figures on the photos the gate lets through. */
          acceptedByGate: z.looseObject({ meanAbsDelta: z.number().nullable() }).optional(),
        })
        .optional(),
    })
    .optional(),
});
export type ModelCard = z.infer<typeof cardSchema>;

export const CARD_FILE = 'card.json';

export async function readCard(modelDir: string): Promise<ModelCard> {
  const file = path.join(modelDir, CARD_FILE);
  let raw: string;
  try {
    raw = await fs.readFile(file, 'utf8');
  } catch (cause) {
    throw new XrayError('model_missing', `No model card at ${file}. Train a model with: npm run train`, { cause });
  }
  return parseCard(raw, file);
}

export function parseCard(raw: string, where = CARD_FILE): ModelCard {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (cause) {
    throw new XrayError('model_invalid', `${where} is not valid JSON.`, { cause });
  }
  const parsed = cardSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new XrayError('model_invalid', `${where} is not a valid model card (${problems}).`);
  }
  const card = parsed.data;
  if (card.input.width !== card.preprocessing.size || card.input.height !== card.preprocessing.size) {
    throw new XrayError('model_invalid', `${where}: input size and preprocessing size disagree.`);
  }
  return card;
}

export async function writeCard(modelDir: string, card: ModelCard): Promise<void> {
  const checked = cardSchema.parse(card);
  await fs.writeFile(path.join(modelDir, CARD_FILE), `${JSON.stringify(checked, null, 2)}\n`);
}
