/**
 * Everything the bot sends goes through here: replies that honour Bot API 429 `retry_after`
 * (bounded), long texts split at Telegram's limits, and results with or without a heatmap photo.
 */
import { TelegramError, type Telegram } from 'telegraf';
import type { ReplyParameters } from 'telegraf/types';
import type { ClassifyResult } from '../../src/core/result.js';
import { formatResult } from '../../src/messages/index.js';
import type { Logger } from '../../src/logger.js';

export const MESSAGE_LIMIT = 4096;
export const CAPTION_LIMIT = 1024;

/** Where a reply goes: the chat, the message it answers, and the forum topic if any. */
export interface ReplyTarget {
  chatId: number;
  replyTo?: number;
  threadId?: number;
}

export interface RetryOptions {
  /** Retries after a 429 (default 2). */
  retries?: number;
  /** A longer `retry_after` is not waited for: the send fails instead (default 30 s). */
  maxWaitSeconds?: number;
  signal?: AbortSignal;
  onRetry?: (seconds: number, attempt: number) => void;
}

/** Runs a Bot API call, waiting out 429 answers a bounded number of times. */
export async function withRetryAfter<T>(call: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const retries = options.retries ?? 2;
  const maxWaitSeconds = options.maxWaitSeconds ?? 30;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const seconds = retryAfterSeconds(error);
      if (
        seconds === undefined ||
        attempt > retries ||
        seconds > maxWaitSeconds ||
        options.signal?.aborted === true
      ) {
        throw error;
      }
      options.onRetry?.(seconds, attempt);
      await sleep(seconds * 1000, options.signal);
    }
  }
}

function retryAfterSeconds(error: unknown): number | undefined {
  if (!(error instanceof TelegramError) || error.code !== 429) return undefined;
  const after = error.parameters?.retry_after;
  return typeof after === 'number' && Number.isFinite(after) ? Math.max(1, after) : 1;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Splits `text` into a head of at most `limit` UTF-16 units (what Telegram counts) and the rest,
 * preferring a paragraph break, then a line break, then a space.
 */
export function splitText(text: string, limit: number): [string, string] {
  if (text.length <= limit) return [text, ''];
  const window = text.slice(0, limit + 1);
  let cut = -1;
  for (const separator of ['\n\n', '\n', ' ']) {
    const at = window.lastIndexOf(separator);
    if (at > limit / 2) {
      cut = at;
      break;
    }
  }
  if (cut === -1) {
    cut = limit;
    // Never cut an emoji or other astral character in half.
    const code = text.charCodeAt(cut - 1);
    if (code >= 0xd800 && code <= 0xdbff) cut -= 1;
  }
  return [text.slice(0, cut).trimEnd(), text.slice(cut).trimStart()];
}

export function chunkText(text: string, limit = MESSAGE_LIMIT): string[] {
  const chunks: string[] = [];
  let rest = text;
  while (rest !== '') {
    const [head, tail] = splitText(rest, limit);
    chunks.push(head);
    rest = tail;
  }
  return chunks;
}

function replyParameters(target: ReplyTarget): ReplyParameters | undefined {
  // Still delivered if the user deleted their message meanwhile.
  return target.replyTo === undefined
    ? undefined
    : { message_id: target.replyTo, allow_sending_without_reply: true };
}

/** Sends text as one or more messages; only the first is marked as the reply. */
export async function sendText(
  telegram: Telegram,
  target: ReplyTarget,
  text: string,
  retry?: RetryOptions,
): Promise<void> {
  let first = true;
  for (const chunk of chunkText(text)) {
    const reply = first ? replyParameters(target) : undefined;
    first = false;
    await withRetryAfter(
      () =>
        telegram.sendMessage(target.chatId, chunk, {
          ...(reply === undefined ? {} : { reply_parameters: reply }),
          ...(target.threadId === undefined ? {} : { message_thread_id: target.threadId }),
        }),
      retry,
    );
  }
}

export interface SendResultOptions {
  log: Logger;
  retry?: RetryOptions;
  /** Shows "sending a photo" before the upload. */
  onPhoto?: () => void;
}

/**
 * The reply to an image: with a heatmap, a photo whose caption is the text (cut at 1024 with the
 * rest as a follow-up message); without one, plain text.
 */
export async function sendResult(
  telegram: Telegram,
  target: ReplyTarget,
  result: ClassifyResult,
  locale: string,
  options: SendResultOptions,
): Promise<void> {
  const text = formatResult(result, locale);
  const heatmap = result.accepted ? result.heatmap : undefined;
  if (heatmap === undefined) return sendText(telegram, target, text, options.retry);

  const [caption, rest] = splitText(text, CAPTION_LIMIT);
  const reply = replyParameters(target);
  const png = Buffer.from(heatmap.png.buffer, heatmap.png.byteOffset, heatmap.png.byteLength);
  options.onPhoto?.();
  try {
    await withRetryAfter(
      () =>
        telegram.sendPhoto(
          target.chatId,
          { source: png, filename: 'heatmap.png' },
          {
            caption,
            // telegraf 4.16 drops object fields it does not know from multipart uploads (telegraf
            // issues #1970, #2094), so reply_parameters must travel as a JSON string here.
            ...(reply === undefined
              ? {}
              : { reply_parameters: JSON.stringify(reply) as unknown as ReplyParameters }),
            ...(target.threadId === undefined ? {} : { message_thread_id: target.threadId }),
          },
        ),
      options.retry,
    );
  } catch (error) {
    // Blocked, or still rate limited: a text reply would fail the same way.
    if (error instanceof TelegramError && (error.code === 403 || error.code === 429)) throw error;
    options.log.warn('Heatmap photo was refused; sending the text alone', { error });
    return sendText(telegram, target, text, options.retry);
  }
  if (rest !== '')
    await sendText(telegram, { chatId: target.chatId, ...threadOf(target) }, rest, options.retry);
}

function threadOf(target: ReplyTarget): { threadId?: number } {
  return target.threadId === undefined ? {} : { threadId: target.threadId };
}

/** Keeps a chat action ("typing", "upload_photo") visible until the returned function is called. */
export function keepChatAction(
  telegram: Telegram,
  target: ReplyTarget,
  action: 'typing' | 'upload_photo',
  log: Logger,
): { change(next: 'typing' | 'upload_photo'): void; stop(): void } {
  let current = action;
  const send = () => {
    telegram
      .sendChatAction(
        target.chatId,
        current,
        target.threadId === undefined ? {} : { message_thread_id: target.threadId },
      )
      .catch((error: unknown) => log.debug('sendChatAction failed', { error }));
  };
  send();
  // Telegram shows an action for about 5 s.
  const timer = setInterval(send, 4_500);
  timer.unref();
  return {
    change(next) {
      if (next === current) return;
      current = next;
      send();
    },
    stop: () => clearInterval(timer),
  };
}
