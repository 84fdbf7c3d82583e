/**
 * Small seeded pseudo-random helpers. Everything that must be reproducible from a seed (splits,
 * bootstrap, augmentation) draws from these instead of `Math.random`.
 */

/** A generator of uniform numbers in [0, 1). */
export type Random = () => number;

/**
 * mulberry32: a 32-bit state PRNG, fast and good enough for shuffling and sampling (not for
 * cryptography). The same seed always gives the same sequence.
 */
export function mulberry32(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [min, maxExclusive). */
export function randomInt(random: Random, min: number, maxExclusive: number): number {
  if (!(maxExclusive > min)) throw new RangeError(`randomInt: empty range [${min}, ${maxExclusive})`);
  return min + Math.floor(random() * (maxExclusive - min));
}

/** A float in [min, max). */
export function randomUniform(random: Random, min: number, max: number): number {
  return min + random() * (max - min);
}

/** A standard normal draw (Box–Muller); `1 - random()` keeps the logarithm away from 0. */
export function randomNormal(random: Random, mean = 0, sd = 1): number {
  const u = 1 - random();
  const v = random();
  return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** Fisher–Yates shuffle, in place; returns the same array for chaining. */
export function shuffle<T>(items: T[], random: Random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomInt(random, 0, i + 1);
    const tmp = items[i] as T;
    items[i] = items[j] as T;
    items[j] = tmp;
  }
  return items;
}

/** A 32-bit seed derived from a base seed and a label, so that sub-tasks get independent streams. */
export function deriveSeed(seed: number, label: string): number {
  // FNV-1a over the label, mixed with the seed.
  let hash = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < label.length; i++) {
    hash ^= label.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}
