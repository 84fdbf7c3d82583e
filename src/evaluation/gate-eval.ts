import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import type { Engine } from '../classifier/engine.js';
import { mapWithConcurrency } from '../training/datasets.js';

export interface GateRate {
  n: number;
  /** Accepted (X-rays) or rejected (negatives), as a count and a share. */
  count: number;
  rate: number | null;
  /** Why inputs were refused, by reason code. */
  reasons: Record<string, number>;
}

export interface GateEvaluation {
  xrayAcceptance: GateRate;
  negativeRejection?: { overall: GateRate; perKind: Record<string, GateRate> };
}

/** Runs each file through the engine's whole classify path (decode, gate, model) and counts answers. */
async function outcomes(
  engine: Engine,
  files: readonly string[],
): Promise<(string | 'accepted' | 'error')[]> {
  return mapWithConcurrency(files, 2, async (file) => {
    try {
      const r = await engine.classify(await readFile(file), {
        limits: { maxBytes: 64 * 1024 * 1024, maxPixels: 100_000_000 },
      });
      return r.accepted ? 'accepted' : r.reason;
    } catch {
      return 'error';
    }
  });
}

function rate(results: readonly string[], counted: (r: string) => boolean): GateRate {
  const reasons: Record<string, number> = {};
  for (const r of results) if (r !== 'accepted') reasons[r] = (reasons[r] ?? 0) + 1;
  const count = results.filter(counted).length;
  return { n: results.length, count, rate: results.length === 0 ? null : count / results.length, reasons };
}

/**
 * The gate's two figures: how many real X-rays it lets through, and how many non-X-rays it stops
 * (per kind, from a negatives folder with `manifest.csv`: file,kind,...).
 */
export async function evaluateGate(
  engine: Engine,
  xrayFiles: readonly string[],
  negativesDir?: string,
): Promise<GateEvaluation> {
  const xray = rate(await outcomes(engine, xrayFiles), (r) => r === 'accepted');
  if (negativesDir === undefined || !existsSync(path.join(negativesDir, 'manifest.csv')))
    return { xrayAcceptance: xray };
  const rows = parse(await readFile(path.join(negativesDir, 'manifest.csv')), { columns: true }) as {
    file: string;
    kind: string;
  }[];
  const results = await outcomes(
    engine,
    rows.map((r) => path.join(negativesDir, r.file)),
  );
  const refused = (r: string) => r !== 'accepted';
  const perKind: Record<string, GateRate> = {};
  for (const kind of [...new Set(rows.map((r) => r.kind))].sort()) {
    perKind[kind] = rate(
      results.filter((_, i) => rows[i]?.kind === kind),
      refused,
    );
  }
  return { xrayAcceptance: xray, negativeRejection: { overall: rate(results, refused), perKind } };
}
