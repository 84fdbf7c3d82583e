import os from 'node:os';
import { Piscina } from 'piscina';
import { BusyError, TimeoutError, XrayError } from '../core/errors.js';
import type { ClassifyResult } from '../core/result.js';
import { readCard, type ModelCard } from '../model/card.js';
import { DEFAULT_LIMITS, type DecodeLimits } from '../image/decode.js';
import type { BackendName } from '../tf/backend.js';
import type { WorkerReply, WorkerSetup, WorkerTask } from './worker.js';

export interface ClassifierOptions {
  modelDir: string;
  /** Worker threads; default: the number of cores (at most 4). */
  workers?: number;
  /** Tasks allowed to wait when every worker is busy; beyond that `classify` rejects with BusyError. */
  queueLimit?: number;
  /** Per-image limit; a task over it is stopped and rejected with TimeoutError. */
  timeoutMs?: number;
  limits?: DecodeLimits;
  /** Grad-CAM heatmap with every accepted result (EXPLAIN). */
  explain?: boolean;
  backend?: BackendName | undefined;
}

export interface Classifier {
  readonly card: ModelCard;
  /** Backend the workers run on. */
  readonly backend: BackendName;
  readonly limits: DecodeLimits;
  classify(
    bytes: Uint8Array,
    options?: { explain?: boolean; signal?: AbortSignal; timeoutMs?: number },
  ): Promise<ClassifyResult>;
  /** Waits for running tasks, then stops the workers. */
  close(): Promise<void>;
}

// tsx's loader in each worker lets the worker be TypeScript, under `npm start` and vitest alike.
const WORKER_URL = new URL('./worker.ts', import.meta.url).href;

/**
 * Loads the model in a small pool of worker threads (so inference never blocks the event loop
 * that answers chat heartbeats), warms every worker up, and returns the classifier.
 */
export async function createClassifier(options: ClassifierOptions): Promise<Classifier> {
  const card = await readCard(options.modelDir);
  const workers = options.workers ?? Math.max(1, Math.min(4, os.availableParallelism()));
  const limits = options.limits ?? DEFAULT_LIMITS;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const setup: WorkerSetup = {
    modelDir: options.modelDir,
    backend: options.backend,
    limits,
    explain: options.explain ?? true,
  };
  const pool = new Piscina<WorkerTask, WorkerReply>({
    filename: WORKER_URL,
    execArgv: ['--import', 'tsx'],
    workerData: setup,
    minThreads: workers,
    maxThreads: workers,
    // Each worker owns a whole model; idle workers are kept so no user waits for a reload.
    idleTimeout: Number.POSITIVE_INFINITY,
  });

  const warm = await Promise.all(Array.from({ length: workers }, () => pool.run({ kind: 'warmup' })));
  const first = warm.find((r) => !r.ok) ?? warm[0];
  if (first === undefined || !first.ok) {
    await pool.destroy();
    throw first === undefined ? new XrayError('internal', 'No worker started.') : replyError(first.error);
  }
  const backend = first.backend;
  // The bound is ours, not piscina's: its balancer may hand several tasks to one worker, so its
  // maxQueue does not reliably cap the waiting line.
  const capacity = workers + (options.queueLimit ?? 16);
  let inFlight = 0;

  return {
    card,
    backend,
    limits,
    async classify(bytes, opts = {}) {
      if (bytes.length > limits.maxBytes) {
        // Checked here too so an oversized buffer is never copied to a worker.
        throw new XrayError('image_too_large', 'File over the limit.', {
          details: { limitMb: Number((limits.maxBytes / (1024 * 1024)).toFixed(1)) },
        });
      }
      if (inFlight >= capacity) throw new BusyError();
      const task: WorkerTask = {
        kind: 'classify',
        bytes,
        ...(opts.explain === undefined ? {} : { explain: opts.explain }),
      };
      // The caller stops waiting at the deadline, but the worker finishes its (bounded) task: killing
      // it would force a model reload, and a reload slower than the deadline would never recover.
      // `inFlight` drops only when the worker is free again, so the busy bound stays honest.
      inFlight++;
      const running = pool.run(task).finally(() => inFlight--);
      const limitMs = opts.timeoutMs ?? timeoutMs;
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new TimeoutError(limitMs)), limitMs);
      });
      let onAbort: (() => void) | undefined;
      const aborted =
        opts.signal === undefined
          ? undefined
          : new Promise<never>((_resolve, reject) => {
              onAbort = () => reject(new XrayError('cancelled', 'Cancelled by the caller.'));
              if (opts.signal?.aborted === true) onAbort();
              else opts.signal?.addEventListener('abort', onAbort, { once: true });
            });
      let reply: WorkerReply;
      try {
        reply = await Promise.race([running, deadline, ...(aborted === undefined ? [] : [aborted])]);
      } catch (error) {
        if (error instanceof XrayError) throw error;
        throw new XrayError('internal', 'The classifier worker failed.', { cause: error });
      } finally {
        clearTimeout(timer);
        if (onAbort !== undefined) opts.signal?.removeEventListener('abort', onAbort);
        running.catch(() => undefined); // a late failure after the deadline is not unhandled
      }
      if (!reply.ok) throw replyError(reply.error);
      if (reply.result === undefined) throw new XrayError('internal', 'Worker returned no result.');
      return reply.result;
    },
    async close() {
      await pool.close();
    },
  };
}

function replyError(e: {
  code: XrayError['code'];
  message: string;
  details: Record<string, string | number>;
}): XrayError {
  return new XrayError(e.code, e.message, { details: e.details });
}
