/**
 * The Telegram adapter: `createTelegramBot({ config, classifier, logger })` and then `start()`
 * (long polling, or a webhook when TELEGRAM_WEBHOOK_URL is set) and `stop()` on SIGINT/SIGTERM.
 */
import { Telegraf, TelegramError, type Types } from 'telegraf';
import type { Classifier } from '../../src/classifier/classifier.js';
import type { Config } from '../../src/config.js';
import { createRateLimiter } from '../../src/core/rate-limit.js';
import type { Logger } from '../../src/logger.js';
import { registerHandlers } from './bot.js';
import { registerCommands } from './commands.js';
import { createJobs } from './jobs.js';
import { startPolling, type Poller } from './polling.js';
import { createWebhookServer, type WebhookServer } from './webhook.js';

export { registerCommands } from './commands.js';
export { findImage, largestPhoto, isImageDocument } from './files.js';
export { withRetryAfter, sendResult, splitText } from './send.js';

export interface TelegramBotOptions {
  config: Config;
  classifier: Classifier;
  logger: Logger;
  /** How long `stop()` lets images in progress finish before aborting them (default 10 s). */
  stopGraceMs?: number;
}

export interface TelegramBot {
  /** The telegraf instance, for callers that add middleware or inspect it. */
  readonly bot: Telegraf;
  /** Connects (getMe), registers the command menu, then polls or serves the webhook. */
  start(): Promise<void>;
  /** Stops taking updates, lets running images finish (bounded), and returns. Safe to call twice. */
  stop(reason?: string): Promise<void>;
}

const ALLOWED_UPDATES: Types.UpdateType[] = ['message'];

export function createTelegramBot(options: TelegramBotOptions): TelegramBot {
  const { config, classifier } = options;
  const telegram = config.telegram;
  if (telegram === undefined) throw new Error('The Telegram adapter needs TELEGRAM_BOT_TOKEN.');
  const log = options.logger.child('telegram');
  // webhookReply off: every call is a real Bot API request whose result and errors we see.
  const bot = new Telegraf(telegram.token, { telegram: { apiRoot: telegram.apiRoot, webhookReply: false } });
  const jobs = createJobs();
  registerHandlers(bot, {
    config,
    classifier,
    log,
    jobs,
    limits: {
      images: createRateLimiter({ limit: config.rateLimitPerMinute }),
      notices: createRateLimiter({ limit: 1, windowMs: 10_000 }),
      chatter: createRateLimiter({ limit: 20 }),
    },
  });

  let state: 'idle' | 'starting' | 'running' | 'stopping' | 'stopped' = 'idle';
  let poller: Poller | undefined;
  let starting: Promise<void> | undefined;
  let webhookServer: WebhookServer | undefined;

  function start(): Promise<void> {
    if (state !== 'idle') return Promise.reject(new Error(`The Telegram bot cannot start: it is ${state}.`));
    state = 'starting';
    starting = connect();
    return starting;
  }

  async function connect(): Promise<void> {
    try {
      bot.botInfo = await bot.telegram.getMe().catch((error: unknown) => {
        if (error instanceof TelegramError && (error.code === 401 || error.code === 404)) {
          throw new Error(
            `Telegram refused TELEGRAM_BOT_TOKEN (${error.code}). Check the token BotFather gave you.`,
          );
        }
        throw error;
      });
      await registerCommands(bot.telegram).catch((error: unknown) =>
        log.warn('Could not register the command menu', { error }),
      );
      const webhook = telegram?.webhook;
      if (webhook === undefined) {
        // getUpdates answers 409 while a webhook is set.
        await bot.telegram.deleteWebhook();
        poller = startPolling(bot, { allowedUpdates: ALLOWED_UPDATES, log });
        log.info('Telegram bot started (long polling)', { bot: bot.botInfo.username });
      } else {
        const path = new URL(webhook.url).pathname || '/';
        webhookServer = createWebhookServer({
          host: webhook.host,
          port: webhook.port,
          path,
          secret: webhook.secret,
          log,
          onUpdate: (update) => bot.handleUpdate(update),
        });
        const address = await webhookServer.listen();
        try {
          await bot.telegram.setWebhook(webhook.url, {
            secret_token: webhook.secret,
            allowed_updates: ALLOWED_UPDATES,
          });
        } catch (error) {
          await webhookServer.close();
          webhookServer = undefined;
          throw error;
        }
        log.info('Telegram bot started (webhook)', {
          bot: bot.botInfo.username,
          host: address.address,
          port: address.port,
          path,
        });
      }
      state = 'running';
    } catch (error) {
      state = 'stopped';
      throw error;
    }
  }

  async function stop(reason = 'stop'): Promise<void> {
    // A stop during start waits for the start to finish (or fail) first.
    if (state === 'starting') await starting?.catch(() => undefined);
    if (state !== 'running') return;
    state = 'stopping';
    await poller?.stop();
    await webhookServer?.close();
    await jobs.drain(options.stopGraceMs ?? 10_000);
    state = 'stopped';
    log.info('Telegram bot stopped', { reason });
  }

  return { bot, start, stop };
}
