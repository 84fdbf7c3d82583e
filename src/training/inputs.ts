import { readFile } from 'node:fs/promises';
import { preprocess, type LungFinder } from '../image/preprocess.js';
import type { DecodeLimits } from '../image/decode.js';
import { lungsFound } from '../lungs/mask.js';
import type { PreprocessingSpec } from '../model/card.js';
import { toXrayError } from '../core/errors.js';
import { mapWithConcurrency, type Sample } from './datasets.js';
import type { CachedInput, InputCache } from './input-cache.js';

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
    cache?: InputCache | undefined;
  } = {},
): Promise<PreparedSet> {
  let done = 0;
  const finder = options.lungs;
  const results = await mapWithConcurrency(samples, options.concurrency ?? 4, async (sample) => {
    try {
      const bytes = await readFile(sample.file);
      const input = await cachedInput(options.cache, bytes, spec, '', async () => {
        const prepared = await preprocess(bytes, spec, { limits: DATASET_LIMITS, lungs: finder });
        const found =
          finder === undefined ||
          prepared.lungs === undefined ||
          lungsFound(prepared.lungs, finder.minPlausibility);
        return { data: prepared.input.data, found };
      });
      return { ok: true as const, ...input };
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

/**
 * `make()`'s input for these bytes, spec and variant, from the cache when it has it (and into
 * the cache when it did not). Refusals are not cached: they are cheap to find again.
 */
export async function cachedInput(
  cache: InputCache | undefined,
  bytes: Uint8Array,
  spec: PreprocessingSpec,
  variant: string,
  make: () => Promise<CachedInput>,
): Promise<CachedInput> {
  if (cache === undefined) return make();
  const key = cache.key(bytes, spec, variant);
  const hit = await cache.get(key);
  if (hit !== undefined) return hit;
  const made = await make();
  try {
    await cache.set(key, made);
  } catch {
    // A cache that cannot be written (disk full, folder gone) only makes the next run slower; the
    // input itself is good, and dropping it would quietly change what the model trains on.
  }
  return made;
}
