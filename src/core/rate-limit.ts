/**
 * Per-key sliding-window rate limit (e.g. 10 images per minute per user), in memory. Keys are
 * opaque ids; nothing about the user is kept beyond the timestamps of their last requests.
 */
export interface RateLimiter {
  /** Records a request; `ok: false` with the seconds to wait when over the limit. */
  take(key: string): { ok: true } | { ok: false; retryAfterSeconds: number };
}

export function createRateLimiter(options: {
  limit: number;
  windowMs?: number;
  now?: () => number;
  maxKeys?: number;
}): RateLimiter {
  const windowMs = options.windowMs ?? 60_000;
  const now = options.now ?? Date.now;
  const maxKeys = options.maxKeys ?? 100_000;
  const hits = new Map<string, number[]>();

  const prune = (t: number) => {
    // Bounded memory under a flood of distinct keys: drop keys whose window has passed.
    if (hits.size < maxKeys) return;
    for (const [key, times] of hits) if ((times.at(-1) ?? 0) <= t - windowMs) hits.delete(key);
    if (hits.size >= maxKeys) hits.clear();
  };

  return {
    take(key) {
      const t = now();
      prune(t);
      const recent = (hits.get(key) ?? []).filter((h) => h > t - windowMs);
      if (recent.length >= options.limit) {
        hits.set(key, recent);
        const oldest = recent[0] ?? t;
        return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((oldest + windowMs - t) / 1000)) };
      }
      recent.push(t);
      hits.set(key, recent);
      return { ok: true };
    },
  };
}
