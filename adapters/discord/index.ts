/**
 * The Discord adapter: a discord.js client with only the Guilds intent that answers the /xray
 * slash command and the "Analyze X-ray" message context-menu command. It fetches bytes, calls the
 * core, formats and sends; no model or image logic lives here.
 */
import { Client, Events, GatewayIntentBits, type Interaction } from 'discord.js';
import type { Classifier } from '../../src/classifier/classifier.js';
import type { Config } from '../../src/config.js';
import { createRateLimiter } from '../../src/core/rate-limit.js';
import type { Logger } from '../../src/logger.js';
import { createInteractionHandler } from './interaction.js';

export { commandDefinitions, CONTEXT_MENU_COMMAND, XRAY_COMMAND } from './commands.js';

export interface DiscordBotOptions {
  config: Config;
  classifier: Pick<Classifier, 'classify'>;
  logger: Logger;
  /** How long stop() waits for interactions already being answered; default 10 s. */
  drainMs?: number;
}

export interface DiscordBot {
  client: Client;
  /** Logs in and resolves once the gateway session is ready (clientReady). */
  start(): Promise<void>;
  /** Lets running interactions finish (bounded), then closes the gateway connection. */
  stop(): Promise<void>;
}

export function createDiscordBot({
  config,
  classifier,
  logger: parentLogger,
  drainMs = 10_000,
}: DiscordBotOptions): DiscordBot {
  const discord = config.discord;
  if (discord === undefined) {
    throw new Error('Discord is not configured: set DISCORD_TOKEN and DISCORD_APPLICATION_ID.');
  }
  const logger = parentLogger.child('discord');
  const client = new Client({
    // Slash and context-menu commands arrive as interactions, which need no privileged intent.
    intents: [GatewayIntentBits.Guilds],
    rest: { api: discord.apiUrl },
    allowedMentions: { parse: [] },
  });

  let stopping = false;
  const inFlight = new Set<Promise<void>>();
  const handle = createInteractionHandler({
    classifier,
    logger,
    limiter: createRateLimiter({ limit: config.rateLimitPerMinute }),
    policy: { maxBytes: config.maxImageBytes, allowedHosts: discord.attachmentHosts },
    downloadTimeoutMs: config.downloadTimeoutMs,
    isStopping: () => stopping,
  });

  client.on(Events.InteractionCreate, (interaction: Interaction) => {
    const task = handle(interaction).catch((error: unknown) =>
      logger.error('Interaction handler failed', { error }),
    );
    inFlight.add(task);
    void task.finally(() => inFlight.delete(task));
  });
  // Without an 'error' listener an emitted error would crash the process.
  client.on(Events.Error, (error) => logger.error('Discord client error', { error }));
  client.on(Events.Warn, (message) => logger.warn('Discord client warning', { message }));
  client.on(Events.ShardDisconnect, (event, shardId) =>
    logger.warn('Gateway disconnected', { code: event.code, shardId }),
  );
  client.rest.on('rateLimited', (info) =>
    logger.warn('Discord REST rate limit', {
      route: info.route,
      retryAfterMs: info.retryAfter,
      global: info.global,
    }),
  );

  return {
    client,
    async start() {
      const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
      await client.login(discord.token);
      await ready;
      logger.info('Discord bot ready', { user: client.user?.id, applicationId: discord.applicationId });
    },
    async stop() {
      stopping = true;
      if (inFlight.size > 0) {
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, drainMs)));
        await Promise.race([Promise.allSettled([...inFlight]), deadline]);
        clearTimeout(timer);
      }
      await client.destroy();
      logger.info('Discord bot stopped');
    },
  };
}
