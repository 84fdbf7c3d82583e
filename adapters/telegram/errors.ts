/**
 * The one place failures end up (telegraf's `bot.catch` and the image jobs alike): it logs what
 * happened without personal data or tokens, and tells the user in their language.
 */
import { TelegramError, type Context } from 'telegraf';
import type { Message } from 'telegraf/types';
import { toXrayError, type ErrorCode } from '../../src/core/errors.js';
import type { Logger } from '../../src/logger.js';
import { formatError, resolveLocale } from '../../src/messages/index.js';
import { sendText, type ReplyTarget, type RetryOptions } from './send.js';

/** Failures on our side; everything else is an answer about the user's input. */
const OUR_FAULT: ReadonlySet<ErrorCode> = new Set(['internal', 'model_missing', 'model_invalid']);

export type ErrorAnswer = (error: unknown, ctx: Context) => Promise<void>;

export function replyTarget(message: Message): ReplyTarget {
  return {
    chatId: message.chat.id,
    replyTo: message.message_id,
    ...(message.is_topic_message === true && message.message_thread_id !== undefined
      ? { threadId: message.message_thread_id }
      : {}),
  };
}

export function createErrorAnswer(log: Logger, retry?: RetryOptions): ErrorAnswer {
  return async (error, ctx) => {
    const where = { update: ctx.update.update_id, chat: ctx.chat?.type };
    if (error instanceof TelegramError) {
      const method = (error.on as { method?: unknown }).method;
      log.warn('A Bot API call failed', { ...where, status: error.code, method });
      // Blocked by the user, or still rate limited: another message would fail the same way.
      if (error.code === 403 || error.code === 429) return;
    } else {
      const e = toXrayError(error);
      if (OUR_FAULT.has(e.code))
        log.error('Could not answer an update', { ...where, code: e.code, error: e.cause ?? e });
      else log.info('Answered with a refusal', { ...where, code: e.code });
    }

    const message = 'message' in ctx.update ? ctx.update.message : undefined;
    if (message === undefined) return;
    try {
      await sendText(
        ctx.telegram,
        replyTarget(message),
        formatError(error, resolveLocale(message.from?.language_code)),
        retry,
      );
    } catch (sendError) {
      log.warn('Could not send the error reply', { ...where, error: sendError });
    }
  };
}
