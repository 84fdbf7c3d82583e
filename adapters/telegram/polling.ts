/**
 * Long polling. Our own small loop instead of telegraf's `launch()`: that one gives up for good
 * on a 409 (a second instance, or a webhook still set) and has a window at start where `stop()`
 * throws and polling starts anyway. This loop retries with a bounded backoff, stops at once on
 * `stop()`, and confirms the last offset so handled updates are not delivered again.
 */
import { TelegramError, type Telegraf } from 'telegraf';
import type { Types } from 'telegraf';
import type { Update } from 'telegraf/types';
import type { Logger } from '../../src/logger.js';

export interface PollingOptions {
  allowedUpdates: readonly Types.UpdateType[];
  /** Long-poll timeout in seconds (Telegram allows up to 50). */
  timeoutSeconds?: number;
  log: Logger;
}

export interface Poller {
  /** Ends the current long poll and resolves once in-flight update handlers have returned. */
  stop(): Promise<void>;
}

export function startPolling(bot: Telegraf, options: PollingOptions): Poller {
  const controller = new AbortController();
  const signal = controller.signal;
  const timeout = options.timeoutSeconds ?? 50;
  const getUpdates = (
    payload: {
      offset: number;
      timeout: number;
      limit?: number;
      allowed_updates?: readonly Types.UpdateType[];
    },
    s?: AbortSignal,
  ): Promise<Update[]> => bot.telegram.callApi('getUpdates', payload, s === undefined ? {} : withSignal(s));
  let offset = 0;

  const done = (async () => {
    let failures = 0;
    while (!signal.aborted) {
      let updates: Update[];
      try {
        updates = await getUpdates({ offset, timeout, allowed_updates: options.allowedUpdates }, signal);
        failures = 0;
      } catch (error) {
        if (signal.aborted) break;
        failures += 1;
        if (error instanceof TelegramError && (error.code === 401 || error.code === 404)) {
          options.log.error('Long polling stopped: the bot token was refused', { status: error.code });
          return;
        }
        const seconds = retrySeconds(error, failures);
        options.log.warn('getUpdates failed; retrying', { error, retryInSeconds: seconds });
        await sleep(seconds * 1000, signal);
        continue;
      }
      const last = updates.at(-1);
      if (last !== undefined) offset = last.update_id + 1;
      // Errors are answered and logged by the bot's catch path; handleUpdate does not throw.
      await Promise.all(updates.map((update) => bot.handleUpdate(update).catch(() => undefined)));
    }
    if (offset > 0) await getUpdates({ offset, timeout: 0, limit: 1 }).catch(() => undefined);
  })();

  return {
    async stop() {
      controller.abort();
      await done;
    },
  };
}

type CallApiOptions = Parameters<Telegraf['telegram']['callApi']>[2];

/**
 * telegraf types the signal with the old abort-controller shim; node-fetch accepts Node's own
 * AbortSignal, which lets `stop()` end a 50-second long poll at once.
 */
function withSignal(signal: AbortSignal): CallApiOptions {
  return { signal } as unknown as CallApiOptions;
}

function retrySeconds(error: unknown, failures: number): number {
  if (error instanceof TelegramError && error.code === 429)
    return Math.max(1, error.parameters?.retry_after ?? 5);
  return Math.min(60, 2 ** Math.min(failures, 6));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
