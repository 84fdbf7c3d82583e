import { readFile } from 'node:fs/promises';
import { preprocess } from '../image/preprocess.js';
import type { PreprocessingSpec } from '../model/card.js';
import { toXrayError } from '../core/errors.js';
import { mapWithConcurrency, type Sample } from './datasets.js';

export interface PreparedSet {
  samples: Sample[];
  /** One model input per sample, made by the one preprocessing path. */
  inputs: Float32Array[];
  /** Files the preprocessing refused, with the reason code (never silently dropped). */
  skipped: { file: string; code: string }[];
}

/**
 * Runs every sample through `preprocess` (the same function the bots use) once, so epochs reuse
 * the result; augmentation happens later, on tensors.
 */
export async function prepareInputs(
  samples: readonly Sample[],
  spec: PreprocessingSpec,
  options: { concurrency?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<PreparedSet> {
  let done = 0;
  const results = await mapWithConcurrency(samples, options.concurrency ?? 4, async (sample) => {
    try {
      const { input } = await preprocess(await readFile(sample.file), spec, {
        maxBytes: 64 * 1024 * 1024,
        maxPixels: 100_000_000,
      });
      return { ok: true as const, data: input.data };
    } catch (error) {
      return { ok: false as const, code: toXrayError(error).code };
    } finally {
      options.onProgress?.(++done, samples.length);
    }
  });
  const kept: PreparedSet = { samples: [], inputs: [], skipped: [] };
  results.forEach((r, i) => {
    const sample = samples[i];
    if (sample === undefined) return;
    if (r.ok) {
      kept.samples.push(sample);
      kept.inputs.push(r.data);
    } else {
      kept.skipped.push({ file: sample.file, code: r.code });
    }
  });
  return kept;
}
