import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { XrayError } from '../core/errors.js';
import { preprocessingSchema, type PreprocessingSpec } from '../model/card.js';

/**
 * The card of the lung segmenter (`model/lungs/card.json`). Its `preprocessing` is the same
 * spec the classifier's card uses, read by the same `toModelInput`, so both models see images
 * prepared by one path; the segmenter stretches (`fill`) so the mask maps back to every pixel.
 */
export const LUNG_CARD_FILE = 'card.json';

/** Grey, whole image, stretched to a square, contrast normalised (1st-99th percentile), 0..1. */
export function lungPreprocessing(size: number): PreprocessingSpec & { fit: 'fill' } {
  return { size, channels: 1, crop: 1, fit: 'fill', contrast: 'normalise', scale: 'unit' };
}

const overlapSummarySchema = z.object({
  n: z.number().int().nonnegative(),
  dice: z.number().nullable(),
  iou: z.number().nullable(),
  minDice: z.number().nullable(),
});

const splitMetricsSchema = z.object({
  overall: overlapSummarySchema,
  bySource: z.record(z.string(), overlapSummarySchema),
});
export type LungSplitMetrics = z.infer<typeof splitMetricsSchema>;

const dataSourceSchema = z.object({
  name: z.string(),
  images: z.record(z.string(), z.number().int()),
  origin: z.string(),
  license: z.string(),
});

export const lungCardSchema = z.looseObject({
  schemaVersion: z.literal(1),
  name: z.literal('lung-unet'),
  version: z.string().min(1),
  createdAt: z.string(),
  architecture: z.object({
    name: z.literal('unet'),
    /** Encoder filters per level; the bottleneck has twice the last. */
    filters: z.array(z.number().int().positive()).min(1),
    parameters: z.number().int().positive(),
    /** Size of weights.bin (float32). */
    weightBytes: z.number().int().positive().optional(),
  }),
  input: z.object({ height: z.number().int(), width: z.number().int(), channels: z.literal(1) }),
  // A stretched whole image is what makes the mask map back onto every input pixel.
  preprocessing: preprocessingSchema.extend({ fit: z.literal('fill') }),
  /** Lung where the up-sampled probability is >= threshold. */
  threshold: z.number().gt(0).lt(1),
  /** Below this plausibility the answer is "couldn't find the lungs" (refusal.lungs_not_found). */
  minPlausibility: z.number().min(0).max(1),
  postprocessing: z.string(),
  intendedUse: z.string(),
  limitations: z.array(z.string()),
  data: z
    .looseObject({
      description: z.string(),
      sources: z.array(dataSourceSchema),
      redistribution: z.string().optional(),
      citations: z.array(z.string()).optional(),
    })
    .optional(),
  training: z.record(z.string(), z.unknown()).optional(),
  metrics: z
    .looseObject({
      /** Measured on the full-size masks through `segment` (post-processing included). */
      val: splitMetricsSchema.optional(),
      test: splitMetricsSchema.optional(),
      /** Median forward pass of one image, ms, and the backend it was measured on. */
      inferenceMs: z.number().optional(),
      backend: z.string().optional(),
    })
    .optional(),
});
export type LungCard = z.infer<typeof lungCardSchema>;

export async function readLungCard(modelDir: string): Promise<LungCard> {
  const file = path.join(modelDir, LUNG_CARD_FILE);
  let raw: string;
  try {
    raw = await fs.readFile(file, 'utf8');
  } catch (cause) {
    throw new XrayError(
      'model_missing',
      `No lung model card at ${file}. Train one with: npm run train:lungs`,
      {
        cause,
      },
    );
  }
  return parseLungCard(raw, file);
}

export function parseLungCard(raw: string, where = LUNG_CARD_FILE): LungCard {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (cause) {
    throw new XrayError('model_invalid', `${where} is not valid JSON.`, { cause });
  }
  const parsed = lungCardSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new XrayError('model_invalid', `${where} is not a valid lung model card (${problems}).`);
  }
  const card = parsed.data;
  if (card.input.width !== card.preprocessing.size || card.input.height !== card.preprocessing.size) {
    throw new XrayError('model_invalid', `${where}: input size and preprocessing size disagree.`);
  }
  return card;
}

export async function writeLungCard(modelDir: string, card: LungCard): Promise<void> {
  const checked = lungCardSchema.parse(card);
  await fs.writeFile(path.join(modelDir, LUNG_CARD_FILE), `${JSON.stringify(checked, null, 2)}\n`);
}

export const LUNG_INTENDED_USE =
  'Finds the lung fields on a frontal chest X-ray, so that the COVID-19 classifier can be cropped to ' +
  'the lungs and its heatmaps checked against them. Research and education only; not a diagnostic device.';

export const LUNG_LIMITATIONS: readonly string[] = [
  'Trained on adult frontal (PA/AP) chest X-rays only; lateral views, children and CT slices are out of scope.',
  'Mask conventions differ between sources: Montgomery and Shenzhen exclude the lung behind the heart, the ' +
    'V7 COVID-19 masks include most of it, so the border near the heart is uncertain.',
  'Severe consolidation ("white lung") can make a lung hard to see; a low plausibility then refuses the image.',
  'Montgomery and Shenzhen have no test split here (their test parts are held back); they are measured on val.',
];

/**
 * The data behind `../shared/data/lungmasks` (from its README): where each source comes from and
 * under which terms. Cards of models trained on that set carry it; other data gets "not stated".
 */
export const LUNGMASKS_SOURCES: Readonly<Record<string, { origin: string; license: string }>> = {
  montgomery: {
    origin:
      'Montgomery County TB screening set, U.S. National Library of Medicine (NLM); masks drawn at NLM under radiologist supervision',
    license:
      'NLM research data: no open license; do not share outside the research group, credit NLM, cite Candemir et al. 2014 and Jaeger et al. 2014',
  },
  shenzhen: {
    origin:
      "Shenzhen No.3 People's Hospital with NLM (images); masks by Stirenko, Kochura, Gordienko et al. (arXiv:1803.01199)",
    license: 'images: NLM research data (as Montgomery); masks: CC BY-NC-SA 4.0',
  },
  v7covid: {
    origin:
      'V7 Labs lung polygons (v7labs/covid-19-xray-dataset) on images of the COVID-19 image data collection (Cohen et al., arXiv:2003.11597)',
    license:
      'masks: CC BY 4.0; images: per-image licenses, mixed (many CC BY-NC-SA / CC BY-NC-ND or not stated)',
  },
};

export const LUNGMASKS_REDISTRIBUTION =
  'None of the sources is public domain; the data stays internal to the project. The trained weights are ' +
  'shipped for research and education only, with the citations below.';

export const LUNGMASKS_CITATIONS: readonly string[] = [
  'Candemir S. et al., Lung segmentation in chest radiographs using anatomical atlases with nonrigid registration, IEEE TMI 2014, doi:10.1109/TMI.2013.2290491',
  'Jaeger S. et al., Automatic tuberculosis screening using chest radiographs, IEEE TMI 2014, doi:10.1109/TMI.2013.2284099',
  'Jaeger S. et al., Two public chest X-ray datasets for computer-aided screening of pulmonary diseases, Quant. Imaging Med. Surg. 2014',
  'Stirenko S. et al., Chest X-Ray Analysis of Tuberculosis by Deep Learning with Segmentation and Augmentation, arXiv:1803.01199',
  'Cohen J. P. et al., COVID-19 image data collection, arXiv:2003.11597',
  'V7 Labs, COVID-19 X-ray dataset lung annotations (CC BY 4.0)',
];
