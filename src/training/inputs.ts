import { readFile } from 'node:fs/promises';
import { preprocess, type LungFinder } from '../image/preprocess.js';
import type { DecodeLimits } from '../image/decode.js';
import { lungsFound } from '../lungs/mask.js';
import type { PreprocessingSpec } from '../model/card.js';
import { toXrayError } from '../core/errors.js';
import { mapWithConcurrency, type Sample } from './datasets.js';

export interface PreparedSet {
  samples: Sample[];
  /** One model input per sample, made by the one preprocessing path. */
  inputs: Float32Array[];
  /** Files the preprocessing refused, with the reason code (never silently dropped). */
  skipped: { file: string; code: string }[];
  /** Kept images whose lungs the lung model did not find (the bots refuse these), when it ran. */
  lungsNotFound: string[];
}

/** Data sets hold big originals (16-bit PNGs, DICOM); users' uploads get the tighter defaults. */
export const DATASET_LIMITS: DecodeLimits = { maxBytes: 64 * 1024 * 1024, maxPixels: 100_000_000 };

/**
 * Runs every sample through `preprocess` (the same function the bots use) once, so epochs reuse
 * the result; augmentation happens later, on tensors.
 */
export async function prepareInputs(
  samples: readonly Sample[],
  spec: PreprocessingSpec,
  options: {
    concurrency?: number;
    onProgress?: (done: number, total: number) => void;
    /** Required when the spec has a lung step. */
    lungs?: LungFinder | undefined;
  } = {},
): Promise<PreparedSet> {
  let done = 0;
  const finder = options.lungs;
  const results = await mapWithConcurrency(samples, options.concurrency ?? 4, async (sample) => {
    try {
      const prepared = await preprocess(await readFile(sample.file), spec, {
        limits: DATASET_LIMITS,
        lungs: finder,
      });
      const found =
        finder === undefined ||
        prepared.lungs === undefined ||
        lungsFound(prepared.lungs, finder.minPlausibility);
      return { ok: true as const, data: prepared.input.data, found };
    } catch (error) {
      return { ok: false as const, code: toXrayError(error).code };
    } finally {
      options.onProgress?.(++done, samples.length);
    }
  });
  const kept: PreparedSet = { samples: [], inputs: [], skipped: [], lungsNotFound: [] };
  results.forEach((r, i) => {
    const sample = samples[i];
    if (sample === undefined) return;
    if (r.ok) {
      kept.samples.push(sample);
      kept.inputs.push(r.data);
      if (!r.found) kept.lungsNotFound.push(sample.file);
    } else {
      kept.skipped.push({ file: sample.file, code: r.code });
    }
  });
  return kept;
}
