/**
 * `npm start`: loads the model once, then runs every adapter the configuration enables — the
 * Telegram bot (TELEGRAM_BOT_TOKEN), the Discord bot (DISCORD_TOKEN + DISCORD_APPLICATION_ID) and
 * the web page (always when no bot is configured, else when WEB_ENABLED=true).
 */
import { createClassifier } from '../classifier/classifier.js';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { toXrayError } from '../core/errors.js';
import { createLogger, type Logger } from '../logger.js';
import type { Classifier } from '../classifier/classifier.js';

interface Running {
  name: string;
  stop(): Promise<void>;
}

interface AdapterDeps {
  config: Config;
  classifier: Classifier;
  logger: Logger;
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exitCode = 2;
      return;
    }
    throw error;
  }
  const logger = createLogger({
    level: config.logLevel,
    secrets: [config.telegram?.token, config.telegram?.webhook?.secret, config.discord?.token],
  });
  const runWeb = config.web.enabled || (config.telegram === undefined && config.discord === undefined);

  let classifier: Classifier;
  try {
    classifier = await createClassifier({
      modelDir: config.modelDir,
      workers: config.workers,
      queueLimit: config.queueLimit,
      timeoutMs: config.classifyTimeoutMs,
      limits: { maxBytes: config.maxImageBytes, maxPixels: config.maxImagePixels },
      explain: config.explain,
      backend: config.backend,
    });
  } catch (error) {
    const e = toXrayError(error);
    logger.error(
      e.code === 'model_missing'
        ? `No model in ${config.modelDir}. Train one with: npm run train (or set MODEL_DIR).`
        : `The model in ${config.modelDir} could not be loaded: ${e.message}`,
    );
    process.exitCode = 2;
    return;
  }
  logger.info(
    `Model ${classifier.card.version} loaded on the ${classifier.backend} backend with ${config.workers} worker(s).`,
  );

  const deps: AdapterDeps = { config, classifier, logger };
  const running: Running[] = [];
  try {
    if (config.telegram !== undefined) running.push(await startTelegram(deps));
    if (config.discord !== undefined) running.push(await startDiscord(deps));
    if (runWeb) running.push(await startWeb(deps));
  } catch (error) {
    logger.error('An adapter failed to start.', { error });
    await stopAll(running, classifier, logger);
    process.exitCode = 1;
    return;
  }

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal} received, stopping.`);
    void stopAll(running, classifier, logger).then(() => process.exit(0));
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

async function startTelegram(deps: AdapterDeps): Promise<Running> {
  const { createTelegramBot } = await import('../../adapters/telegram/index.js');
  const bot = createTelegramBot(deps);
  await bot.start();
  deps.logger.info(
    `Telegram bot running (${deps.config.telegram?.webhook === undefined ? 'long polling' : 'webhook'}).`,
  );
  return { name: 'telegram', stop: () => bot.stop('shutdown') };
}

async function startDiscord(deps: AdapterDeps): Promise<Running> {
  const { createDiscordBot } = await import('../../adapters/discord/index.js');
  const bot = createDiscordBot(deps);
  await bot.start();
  deps.logger.info('Discord bot connected. Register its commands once with: npm run register-commands');
  return { name: 'discord', stop: () => bot.stop() };
}

async function startWeb(deps: AdapterDeps): Promise<Running> {
  const { createWebServer } = await import('../../adapters/web/index.js');
  const trustProxy = deps.config.web.trustProxy;
  const web = createWebServer({ ...deps, ...(trustProxy === undefined ? {} : { trustProxy }) });
  const address = await web.start();
  const bots = deps.config.telegram === undefined && deps.config.discord === undefined;
  deps.logger.info(
    `Web page at ${address}${bots ? ' (no bot token set: see .env.example for TELEGRAM_BOT_TOKEN and DISCORD_TOKEN)' : ''}`,
  );
  console.log(`Open ${address} in your browser.`);
  return { name: 'web', stop: () => web.stop() };
}

async function stopAll(running: Running[], classifier: Classifier, logger: Logger): Promise<void> {
  for (const r of running.reverse()) {
    try {
      await r.stop();
    } catch (error) {
      logger.warn(`Stopping ${r.name} failed.`, { error });
    }
  }
  await classifier.close();
}

await main();
