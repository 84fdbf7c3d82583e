import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { DecodedImage } from '../image/decode.js';
import type { RefusalReason } from '../core/result.js';
import { mahalanobis, type FeatureStats } from './mahalanobis.js';
import { headInput, headScore, readHead, type HeadParams, type HeadSignals } from './head.js';

/**
 * "Is this a frontal chest X-ray?" Two stages: cheap image statistics first (colour, shape), then
 * the distance of the image's CNN features from the training X-rays'. Its settings are written
 * by training into the card (`gate`) and `gate.json` (the feature statistics).
 */
export const gateSettingsSchema = z.object({
  /** Mean chroma above this is a colour picture, not an X-ray (a film photo's colour cast stays below). */
  maxColourfulness: z.number().positive(),
  /** Width / height outside this range is not a chest film. */
  aspectRatio: z.tuple([z.number().positive(), z.number().positive()]),
  /** Feature distance above this is "unlike every training X-ray"; chosen on validation X-rays. */
  maxDistance: z.number().positive(),
  /** The rule that chose `maxDistance`, for the card's reader. */
  rule: z.string(),
  file: z.string(),
  /** The second head (see head.ts), fitted by `npm run fit-gate`; absent before it. */
  head: z
    .object({
      file: z.string(),
      /** Head score above this is "not a frontal chest X-ray"; chosen on validation X-rays. */
      threshold: z.number().gt(0).lt(1),
      rule: z.string(),
    })
    .optional(),
});
export type GateSettings = z.infer<typeof gateSettingsSchema>;

export const GATE_FILE = 'gate.json';

export interface Gate {
  readonly settings: GateSettings;
  /** Stage 1, before the model runs. */
  checkImage(image: DecodedImage): RefusalReason | undefined;
  /** Stage 2, on the features of the same forward pass that gives the probability. */
  checkFeatures(features: ArrayLike<number>): RefusalReason | undefined;
  distance(features: ArrayLike<number>): number;
  /** Stage 3: the head on everything above (undefined without a head). */
  checkHead(signals: Omit<HeadSignals, 'distance'>): RefusalReason | undefined;
  headScore(signals: Omit<HeadSignals, 'distance'>): number | undefined;
}

export function createGate(settings: GateSettings, stats: FeatureStats, head?: HeadParams): Gate {
  const score = (signals: Omit<HeadSignals, 'distance'>) =>
    head === undefined
      ? undefined
      : headScore(head, headInput({ ...signals, distance: mahalanobis(stats, signals.features) }));
  return {
    headScore: score,
    checkHead(signals) {
      const p = score(signals);
      return p !== undefined && settings.head !== undefined && p > settings.head.threshold
        ? 'not_chest_xray'
        : undefined;
    },
    settings,
    checkImage(image) {
      if (image.colourfulness > settings.maxColourfulness) return 'colour_image';
      const ratio = image.sourceWidth / image.sourceHeight;
      if (ratio < settings.aspectRatio[0] || ratio > settings.aspectRatio[1]) return 'not_chest_xray';
      return undefined;
    },
    checkFeatures(features) {
      return mahalanobis(stats, features) > settings.maxDistance ? 'not_chest_xray' : undefined;
    },
    distance: (features) => mahalanobis(stats, features),
  };
}

const statsSchema = z.object({ mean: z.array(z.number()), precision: z.array(z.number()) });

export async function loadGate(modelDir: string, settings: GateSettings): Promise<Gate> {
  const raw = JSON.parse(
    await fs.readFile(path.join(modelDir, path.basename(settings.file)), 'utf8'),
  ) as unknown;
  const stats = statsSchema.parse(raw);
  if (stats.precision.length !== stats.mean.length ** 2)
    throw new Error(`${settings.file}: precision matrix has the wrong size.`);
  const head = settings.head === undefined ? undefined : await readHead(modelDir, settings.head.file);
  return createGate(settings, stats, head);
}

export async function writeGateStats(modelDir: string, stats: FeatureStats): Promise<void> {
  await fs.writeFile(
    path.join(modelDir, GATE_FILE),
    JSON.stringify({ mean: stats.mean.map(round), precision: stats.precision.map(round) }),
  );
}

function round(v: number): number {
  return Number(v.toPrecision(7));
}
