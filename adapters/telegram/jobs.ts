/**
 * Image work runs beside the update loop rather than inside it: telegraf's long polling waits
 * for every handler of a batch before fetching the next one, so one slow X-ray would otherwise
 * hold up every other user. Jobs are tracked so a graceful stop can wait for them.
 */
export interface Jobs {
  /** Starts `work`; a failure goes to `onError`, never to an unhandled rejection. */
  run(work: (signal: AbortSignal) => Promise<void>, onError: (error: unknown) => Promise<void>): void;
  readonly size: number;
  /** Waits up to `graceMs` for running jobs, then aborts the rest and waits for them to settle. */
  drain(graceMs: number): Promise<void>;
}

export function createJobs(): Jobs {
  const running = new Set<Promise<void>>();
  const controller = new AbortController();

  return {
    run(work, onError) {
      // Each job gets its own signal, linked to the stop signal only while it runs: callees may
      // leave listeners on the signal they are given, and a shared long-lived one would collect them.
      const own = new AbortController();
      const abort = () => own.abort();
      controller.signal.addEventListener('abort', abort, { once: true });
      const job: Promise<void> = work(own.signal)
        .catch(onError)
        .catch(() => undefined)
        .finally(() => {
          controller.signal.removeEventListener('abort', abort);
          running.delete(job);
        });
      running.add(job);
    },
    get size() {
      return running.size;
    },
    async drain(graceMs) {
      if (running.size === 0) return;
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      });
      await Promise.race([Promise.allSettled([...running]), graceOver]);
      clearTimeout(timer);
      controller.abort();
      await Promise.allSettled([...running]);
    },
  };
}
