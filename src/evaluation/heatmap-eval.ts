import { readFile } from 'node:fs/promises';
import type { Engine } from '../classifier/engine.js';
import { preprocess } from '../image/preprocess.js';
import { massOutside } from '../explain/overlay.js';
import { mapWithConcurrency, type Sample } from '../training/datasets.js';

/**
 * A fixed central thorax box in the model's input frame (fractions of the side). Lungs sit inside
 * it on a frontal film; corners, borders and burnt-in markers sit outside. A per-image lung mask is
 * better (see the lung segmentation work); this box needs no model and is stated in the card.
 */
export const THORAX_BOX = { left: 0.12, right: 0.88, top: 0.08, bottom: 0.9 } as const;

export interface HeatmapShortcutReport {
  method: string;
  n: number;
  /** Mean share of Grad-CAM mass outside the thorax box (0 = all on the thorax). */
  meanOutside: number;
  perSource: Record<string, { n: number; meanOutside: number }>;
}

function insideBox(h: number, w: number): (index: number) => boolean {
  return (i) => {
    const y = (Math.floor(i / w) + 0.5) / h;
    const x = ((i % w) + 0.5) / w;
    return x >= THORAX_BOX.left && x <= THORAX_BOX.right && y >= THORAX_BOX.top && y <= THORAX_BOX.bottom;
  };
}

/** How much of the model's attention falls outside the thorax: a model that reads corners shows it here. */
export async function heatmapShortcut(
  engine: Engine,
  samples: readonly Sample[],
): Promise<HeatmapShortcutReport | null> {
  if (engine.card.explainLayer === undefined) return null;
  const shares = await mapWithConcurrency(samples, 2, async (sample) => {
    try {
      const prepared = await preprocess(await readFile(sample.file), engine.card.preprocessing, {
        maxBytes: 64 * 1024 * 1024,
        maxPixels: 100_000_000,
      });
      const a = await engine.analyse(prepared.input, true);
      return massOutside(a.cam, insideBox(a.camSize[0], a.camSize[1]));
    } catch {
      return undefined;
    }
  });
  const mean = (xs: number[]) => (xs.length === 0 ? Number.NaN : xs.reduce((s, v) => s + v, 0) / xs.length);
  const all = shares.filter((v): v is number => v !== undefined);
  const perSource: Record<string, { n: number; meanOutside: number }> = {};
  for (const source of [...new Set(samples.map((s) => s.source))].sort()) {
    const xs = shares.filter((v, i): v is number => v !== undefined && samples[i]?.source === source);
    perSource[source] = { n: xs.length, meanOutside: mean(xs) };
  }
  return {
    method: `Grad-CAM on ${engine.card.explainLayer}; outside = outside the central box x ${THORAX_BOX.left}-${THORAX_BOX.right}, y ${THORAX_BOX.top}-${THORAX_BOX.bottom} of the model input (a fixed thorax box, not a lung mask)`,
    n: all.length,
    meanOutside: mean(all),
    perSource,
  };
}
