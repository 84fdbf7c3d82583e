import type { Sample } from './datasets.js';
import type { Random } from './random.js';

export type SourceBalance = 'none' | 'sqrt' | 'full';

/**
 * Sampling weights for one epoch. Both classes (COVID-19 / not) get the same total weight, so
 * batches are balanced without loss weights. Within a class, sources are balanced: `full` gives
 * every source of that class the same weight (small collections are repeated a lot), `sqrt`
 * weights a source by the square root of its size (a compromise), `none` keeps natural counts.
 * Why: when one collection dominates a label, the model learns the collection.
 */
export function samplingWeights(samples: readonly Sample[], balance: SourceBalance): number[] {
  const groupSize = new Map<string, number>();
  const key = (s: Sample) => `${s.covid}|${s.source}`;
  for (const s of samples) groupSize.set(key(s), (groupSize.get(key(s)) ?? 0) + 1);
  const raw = samples.map((s) => {
    const n = groupSize.get(key(s)) ?? 1;
    return balance === 'none' ? 1 : balance === 'full' ? 1 / n : 1 / Math.sqrt(n);
  });
  const classTotal = [0, 0];
  samples.forEach((s, i) => (classTotal[s.covid] = (classTotal[s.covid] ?? 0) + (raw[i] ?? 0)));
  return raw.map((w, i) => w / (classTotal[samples[i]?.covid ?? 0] || 1));
}

/** `count` indices drawn with replacement in proportion to `weights` (seeded). */
export function drawEpoch(weights: readonly number[], count: number, random: Random): number[] {
  const cumulative: number[] = [];
  let total = 0;
  for (const w of weights) cumulative.push((total += w));
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const r = random() * total;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cumulative[mid] ?? 0) < r) lo = mid + 1;
      else hi = mid;
    }
    out.push(lo);
  }
  return out;
}
