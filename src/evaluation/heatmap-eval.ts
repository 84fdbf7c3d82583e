import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import type { Engine } from '../classifier/engine.js';
import { upsample } from '../explain/overlay.js';
import type { LungBox } from '../lungs/mask.js';
import { maskInRegion } from '../image/preprocess.js';
import type { Segmenter } from '../lungs/segment.js';
import { dice } from '../lungs/metrics.js';
import { mapWithConcurrency, type Sample } from '../training/datasets.js';
import { DATASET_LIMITS } from '../training/inputs.js';

/**
 * A fixed central thorax box in the model's input frame (fractions of the side), used when no
 * lung model is at hand. Lungs sit inside it on a frontal film; corners, borders and burnt-in
 * markers sit outside.
 */
export const THORAX_BOX = { left: 0.12, right: 0.88, top: 0.08, bottom: 0.9 } as const;

/** Side of the square grid the map and the mask are compared on (the map is bilinear up to it). */
const GRID = 48;

export interface OutsideShare {
  n: number;
  /** Mean share of Grad-CAM mass outside the lungs (0 = all on the lungs). */
  meanOutside: number;
  /** What a map spread evenly over the model's input would score: the figure to beat. */
  uniformOutside: number;
}

export interface HeatmapShortcutReport extends OutsideShare {
  method: string;
  /** `lungs`: each image's predicted lung mask; `box`: the fixed thorax box. */
  mask: 'lungs' | 'box';
  perSource: Record<string, OutsideShare>;
  /** The same figure with hand-drawn lung masks, on the images that have one. */
  handMasks?: {
    n: number;
    meanOutsidePredicted: number;
    meanOutsideHand: number;
    meanAbsDifference: number;
    /** Dice of the predicted lung mask against the hand-drawn one on these images. */
    meanDice: number;
  };
}

export interface HeatmapShortcutOptions {
  /** Lung model for the masks when the classifier has no lung step of its own. */
  segmenter?: Segmenter | undefined;
  /** Image file -> hand-drawn lung mask file (same framing) for the check. */
  handMasks?: ReadonlyMap<string, string> | undefined;
}

/**
 * How much of the model's attention falls outside the lungs: a model that reads corners,
 * markers and borders shows it here. Uses each image's predicted lung mask (the classifier's
 * own lung step, or `segmenter`), else the fixed thorax box.
 */
export async function heatmapShortcut(
  engine: Engine,
  samples: readonly Sample[],
  options: HeatmapShortcutOptions = {},
): Promise<HeatmapShortcutReport | null> {
  if (engine.card.explainLayer === undefined) return null;
  const segmenter = engine.lungs ?? options.segmenter;
  interface Row {
    outside: number;
    uniform: number;
    hand?: { outside: number; dice: number };
  }
  const rows = await mapWithConcurrency(samples, 2, async (sample): Promise<Row | undefined> => {
    try {
      const prepared = await engine.prepare(await readFile(sample.file), DATASET_LIMITS);
      const a = await engine.analyse(prepared.input, true);
      const map = upsample(a.cam, a.camSize, GRID, GRID);
      const lungs = prepared.lungs ?? (await segmenter?.segment(prepared.decoded));
      const inFrame = lungs === undefined ? boxGrid() : await maskInFrame(lungs, prepared.input.region);
      const row: Row = { outside: outsideShare(map, inFrame), uniform: outsideShare(null, inFrame) };
      const handFile = options.handMasks?.get(sample.file);
      if (handFile === undefined || lungs === undefined) return row;
      const hand = await readHandMask(handFile, lungs.width, lungs.height);
      return {
        ...row,
        hand: {
          outside: outsideShare(map, await maskInFrame(hand, prepared.input.region)),
          dice: dice(lungs.data, hand.data),
        },
      };
    } catch {
      return undefined;
    }
  });
  const summarise = (keep: (i: number) => boolean): OutsideShare => {
    const kept = rows.filter((r, i): r is Row => r !== undefined && keep(i));
    return {
      n: kept.length,
      meanOutside: mean(kept.map((r) => r.outside)),
      uniformOutside: mean(kept.map((r) => r.uniform)),
    };
  };
  const perSource: Record<string, OutsideShare> = {};
  for (const source of [...new Set(samples.map((s) => s.source))].sort())
    perSource[source] = summarise((i) => samples[i]?.source === source);
  const withHand = rows.flatMap((r) => (r?.hand === undefined ? [] : [{ ...r, hand: r.hand }]));
  const report: HeatmapShortcutReport = {
    method:
      segmenter === undefined
        ? `Grad-CAM on ${engine.card.explainLayer}; outside = outside the central box x ${THORAX_BOX.left}-${THORAX_BOX.right}, y ${THORAX_BOX.top}-${THORAX_BOX.bottom} of the model input (a fixed thorax box, not a lung mask)`
        : `Grad-CAM on ${engine.card.explainLayer}, up-sampled to ${GRID}x${GRID}; outside = weighted by the share of each cell not covered by the image's predicted lung mask (lung model ${segmenter.card.version})`,
    mask: segmenter === undefined ? 'box' : 'lungs',
    ...summarise(() => true),
    perSource,
  };
  if (withHand.length > 0)
    report.handMasks = {
      n: withHand.length,
      meanOutsidePredicted: mean(withHand.map((r) => r.outside)),
      meanOutsideHand: mean(withHand.map((r) => r.hand.outside)),
      meanAbsDifference: mean(withHand.map((r) => Math.abs(r.outside - r.hand.outside))),
      meanDice: mean(withHand.map((r) => r.hand.dice)),
    };
  return report;
}

function mean(xs: readonly number[]): number {
  return xs.length === 0 ? Number.NaN : xs.reduce((s, v) => s + v, 0) / xs.length;
}

/** Share of `map` (0..255, GRID x GRID; null = uniform) on cells not covered by `lung` (0..1). */
export function outsideShare(map: Uint8Array | null, lung: Float32Array): number {
  let total = 0;
  let outside = 0;
  for (let i = 0; i < lung.length; i++) {
    const v = map === null ? 1 : (map[i] ?? 0);
    total += v;
    outside += v * (1 - (lung[i] ?? 0));
  }
  return total === 0 ? 0 : outside / total;
}

/** The lung mask cut to the region the model saw, as lung coverage 0..1 per grid cell. */
export async function maskInFrame(
  mask: { width: number; height: number; data: Uint8Array },
  region: LungBox,
): Promise<Float32Array> {
  const cells = await maskInRegion(mask, region, GRID, { kernel: 'linear' });
  return Float32Array.from(cells, (v) => v / 255);
}

function boxGrid(): Float32Array {
  const grid = new Float32Array(GRID * GRID);
  for (let i = 0; i < grid.length; i++) {
    const y = (Math.floor(i / GRID) + 0.5) / GRID;
    const x = ((i % GRID) + 0.5) / GRID;
    const inside =
      x >= THORAX_BOX.left && x <= THORAX_BOX.right && y >= THORAX_BOX.top && y <= THORAX_BOX.bottom;
    grid[i] = inside ? 1 : 0;
  }
  return grid;
}

/** A hand-drawn mask (any grey PNG/JPEG, lung > 127) resized to the decoded image's size. */
async function readHandMask(
  file: string,
  width: number,
  height: number,
): Promise<{ width: number; height: number; data: Uint8Array }> {
  const grey = await sharp(file)
    .greyscale()
    .resize({ width, height, fit: 'fill', kernel: 'nearest' })
    .extractChannel(0)
    .raw()
    .toBuffer();
  return { width, height, data: Uint8Array.from(grey, (v) => (v > 127 ? 255 : 0)) };
}
