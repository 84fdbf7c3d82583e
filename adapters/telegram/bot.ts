/**
 * The bot's behaviour: which messages it answers and how. It fetches bytes, asks the core, and
 * sends what the core's message module words; it holds no model or image logic of its own.
 */
import type { Context, Telegraf } from 'telegraf';
import { message } from 'telegraf/filters';
import type { Message } from 'telegraf/types';
import type { Classifier } from '../../src/classifier/classifier.js';
import type { Config } from '../../src/config.js';
import { XrayError } from '../../src/core/errors.js';
import type { RateLimiter } from '../../src/core/rate-limit.js';
import type { Logger } from '../../src/logger.js';
import { formatAbout, messages, resolveLocale } from '../../src/messages/index.js';
import { isAddressed, mentionsBot, parseCommand, type BotIdentity } from './addressing.js';
import { createErrorAnswer, replyTarget } from './errors.js';
import { downloadFile, findImage, type FileCarrier, type ImageFile } from './files.js';
import type { Jobs } from './jobs.js';
import { keepChatAction, sendResult, sendText, type ReplyTarget, type RetryOptions } from './send.js';

export interface BotDeps {
  config: Config;
  classifier: Classifier;
  log: Logger;
  jobs: Jobs;
  limits: {
    /** Images per user per minute (RATE_LIMIT_PER_MINUTE). */
    images: RateLimiter;
    /** "Slow down" notices per user, so a flood of images is not answered by a flood of notices. */
    notices: RateLimiter;
    /** Hints and command answers per user. */
    chatter: RateLimiter;
  };
}

/** Messages in a private chat that deserve the "send me an X-ray" hint (not service messages). */
const USER_CONTENT_KEYS = ['text', 'location', 'contact', 'poll', 'dice', 'venue'] as const;

export function registerHandlers(bot: Telegraf, deps: BotDeps): void {
  const { config, classifier, log, jobs, limits } = deps;
  if (config.telegram === undefined) throw new Error('The Telegram adapter needs TELEGRAM_BOT_TOKEN.');
  const apiRoot = config.telegram.apiRoot;
  const retry: RetryOptions = {
    onRetry: (seconds, attempt) =>
      log.warn('Bot API rate limit: waiting before a retry', { seconds, attempt }),
  };
  const answerError = createErrorAnswer(log, retry);

  bot.catch((error, ctx) => answerError(error, ctx));
  bot.on(message(), (ctx) => route(ctx, ctx.message));

  async function route(ctx: Context, msg: Message): Promise<void> {
    const me: BotIdentity = { username: ctx.botInfo.username };
    const locale = resolveLocale(msg.from?.language_code);
    const isPrivate = msg.chat.type === 'private';
    const text = 'text' in msg ? msg.text : undefined;

    if (text !== undefined) {
      const command = parseCommand(text, me);
      if (command?.forAnotherBot === true) return;
      if (command !== undefined) return runCommand(ctx, msg, command.name, locale);
      if (isPrivate) return say(ctx, msg, messages(locale).bot.textHint);
      // In a group, "@bot" in a reply to an image works like /xray.
      if (mentionsBot(text, me)) return readRepliedImage(ctx, msg, locale);
      return;
    }

    if (!isPrivate && !isAddressed('caption' in msg ? msg.caption : undefined, me)) return;
    // Message is a union of message kinds; FileCarrier names the fields any of them may carry.
    const found = findImage(msg as FileCarrier);
    if (found.kind === 'image') return startImage(ctx, msg, found.file, locale);
    if (found.kind === 'not_image') throw new XrayError('unsupported_format', 'Not an image message.');
    if (isPrivate && USER_CONTENT_KEYS.some((key) => key in msg))
      return say(ctx, msg, messages(locale).bot.textHint);
  }

  async function runCommand(ctx: Context, msg: Message, name: string, locale: string): Promise<void> {
    const c = messages(locale);
    switch (name) {
      case 'start':
        return say(ctx, msg, `${c.bot.start}\n\n⚠️ ${c.disclaimer}`);
      case 'help':
        return say(ctx, msg, c.bot.help);
      case 'about':
        return say(ctx, msg, formatAbout(classifier.card, locale));
      case 'privacy':
        return say(ctx, msg, c.bot.privacy);
      case 'xray':
        return readRepliedImage(ctx, msg, locale);
      default:
        if (msg.chat.type === 'private') return say(ctx, msg, c.bot.textHint);
    }
  }

  /** `/xray` (or a mention) sent as a reply: read the image of the message replied to. */
  async function readRepliedImage(ctx: Context, msg: Message, locale: string): Promise<void> {
    const replied = 'reply_to_message' in msg ? msg.reply_to_message : undefined;
    if (replied === undefined) return say(ctx, msg, messages(locale).bot.textHint);
    const found = findImage(replied as FileCarrier);
    if (found.kind === 'image') return startImage(ctx, msg, found.file, locale);
    if (found.kind === 'not_image')
      throw new XrayError('unsupported_format', 'The replied-to message is not an image.');
    return say(ctx, msg, messages(locale).bot.noImageInMessage);
  }

  /** Short answers: in groups as replies, so it is clear whom they answer. */
  async function say(ctx: Context, msg: Message, text: string): Promise<void> {
    if (!limits.chatter.take(userKey(msg)).ok) return;
    const target = replyTarget(msg);
    await sendText(
      ctx.telegram,
      msg.chat.type === 'private' ? { chatId: target.chatId } : target,
      text,
      retry,
    );
  }

  function startImage(ctx: Context, msg: Message, file: ImageFile, locale: string): void {
    const key = userKey(msg);
    const allowed = limits.images.take(key);
    if (!allowed.ok) {
      if (!limits.notices.take(key).ok) return;
      throw new XrayError('rate_limited', 'Too many images from one user.', {
        details: { seconds: allowed.retryAfterSeconds },
      });
    }
    const target = replyTarget(msg);
    jobs.run(
      (signal) => readImage(ctx, target, file, locale, signal),
      (error) => answerError(error, ctx),
    );
  }

  async function readImage(
    ctx: Context,
    target: ReplyTarget,
    file: ImageFile,
    locale: string,
    signal: AbortSignal,
  ) {
    const started = performance.now();
    const action = keepChatAction(ctx.telegram, target, 'typing', log);
    try {
      const bytes = await downloadFile(ctx.telegram, file, {
        maxBytes: config.maxImageBytes,
        timeoutMs: config.downloadTimeoutMs,
        apiRoot,
        signal,
      });
      const result = await classifier.classify(bytes, { signal });
      await sendResult(ctx.telegram, target, result, locale, {
        log,
        retry: { ...retry, signal },
        onPhoto: () => action.change('upload_photo'),
      });
      log.info('Answered an image', {
        source: file.source,
        accepted: result.accepted,
        heatmap: result.accepted && result.heatmap !== undefined,
        ms: Math.round(performance.now() - started),
      });
    } finally {
      action.stop();
    }
  }
}

/** Rate limits are per person; anonymous group admins share their group's key. */
function userKey(msg: Message): string {
  return msg.from === undefined ? `chat:${msg.chat.id}` : `user:${msg.from.id}`;
}
