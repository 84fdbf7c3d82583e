/**
 * A trained model's version: when it was made (UTC, to the second) and what it is, e.g.
 * `20261204-204612-default`. Seconds, because two runs can end in the same minute (two
 * trainings side by side, tests, retries) and must not share a name.
 */
export function modelVersion(kind: string, now: Date = new Date()): string {
  return `${now.toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-')}-${kind}`;
}
