/**
 * One classifier worker thread (run by piscina). It owns an Engine and answers tasks; errors
 * come back as plain data because class identity does not survive the thread boundary.
 */
import { workerData } from 'node:worker_threads';
import { createEngine, type Engine } from './engine.js';
import { toXrayError } from '../core/errors.js';
import type { BackendName } from '../tf/backend.js';
import type { DecodeLimits } from '../image/decode.js';
import type { ClassifyResult } from '../core/result.js';
import type { ErrorCode } from '../core/errors.js';

export interface WorkerSetup {
  modelDir: string;
  backend: BackendName | undefined;
  limits: DecodeLimits;
  explain: boolean;
}

export type WorkerTask = { kind: 'warmup' } | { kind: 'classify'; bytes: Uint8Array; explain?: boolean };

export type WorkerReply =
  | { ok: true; result: ClassifyResult | undefined; backend: BackendName }
  | { ok: false; error: { code: ErrorCode; message: string; details: Record<string, string | number> } };

const setup = workerData as WorkerSetup;
// Start loading at thread start, so a worker replaced after a timeout is ready sooner.
let engine: Promise<Engine> | undefined = createEngine({ modelDir: setup.modelDir, backend: setup.backend });
engine.catch(() => undefined); // reported to the first task instead

export default async function run(task: WorkerTask): Promise<WorkerReply> {
  try {
    engine ??= createEngine({ modelDir: setup.modelDir, backend: setup.backend });
    const ready = await engine;
    if (task.kind === 'warmup') return { ok: true, result: undefined, backend: ready.backend };
    const result = await ready.classify(task.bytes, {
      limits: setup.limits,
      explain: task.explain ?? setup.explain,
    });
    return { ok: true, result, backend: ready.backend };
  } catch (error) {
    const e = toXrayError(error);
    if (e.code === 'internal' || e.code === 'model_invalid' || e.code === 'model_missing') {
      // Keep the worker usable after a failed model load: the next task retries it.
      if (e.code !== 'internal') engine = undefined;
    }
    return { ok: false, error: { code: e.code, message: e.message, details: e.details } };
  }
}
