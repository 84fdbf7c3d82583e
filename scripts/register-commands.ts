/**
 * Registers the Discord bot's commands (bulk overwrite): globally, or for one guild with
 * `--guild <id>` (applies instantly; global changes can take a while to reach every client).
 * A separate step, never part of `npm start`:
 *
 *   npm run register-commands [-- --guild <id>]
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
// discord.js re-exports @discordjs/rest and the API route helpers.
import { REST, Routes, type RESTPutAPIApplicationCommandsResult } from 'discord.js';
import { commandDefinitions } from '../adapters/discord/commands.js';
import { loadConfig, type Config } from '../src/config.js';
import { createLogger } from '../src/logger.js';

export interface RegisterOptions {
  config: Config;
  /** Register for this guild only (development); global when absent. */
  guildId?: string;
}

export interface RegisterOutcome {
  scope: 'global' | 'guild';
  /** Names of the commands Discord now has, as it answered. */
  names: string[];
}

const SNOWFLAKE = /^\d{5,25}$/;

export async function registerCommands({ config, guildId }: RegisterOptions): Promise<RegisterOutcome> {
  const discord = config.discord;
  if (discord === undefined) {
    throw new Error('Discord is not configured: set DISCORD_TOKEN and DISCORD_APPLICATION_ID.');
  }
  if (guildId !== undefined && !SNOWFLAKE.test(guildId)) {
    throw new Error('The guild id must be a numeric Discord id.');
  }
  const rest = new REST({ api: discord.apiUrl }).setToken(discord.token);
  try {
    const route =
      guildId === undefined
        ? Routes.applicationCommands(discord.applicationId)
        : Routes.applicationGuildCommands(discord.applicationId, guildId);
    const answer = (await rest.put(route, {
      body: commandDefinitions(),
    })) as RESTPutAPIApplicationCommandsResult;
    return { scope: guildId === undefined ? 'global' : 'guild', names: answer.map((c) => c.name) };
  } finally {
    // Its sweeper timers would otherwise outlive a one-shot script.
    rest.clearHashSweeper();
    rest.clearHandlerSweeper();
  }
}

async function main(argv: readonly string[]): Promise<void> {
  const program = new Command()
    .name('register-commands')
    .description('Register the Discord slash and context-menu commands (bulk overwrite).')
    .option('--guild <id>', 'register for one guild only (instant; for development)')
    .parse(argv);
  const { guild } = program.opts<{ guild?: string }>();
  if (guild !== undefined && !SNOWFLAKE.test(guild))
    program.error('error: --guild must be a numeric Discord id');

  const config = loadConfig();
  const logger = createLogger({ level: config.logLevel, secrets: [config.discord?.token] });
  if (config.discord === undefined) {
    logger.error('Set DISCORD_TOKEN and DISCORD_APPLICATION_ID (see adapters/discord/README.md).');
    process.exitCode = 1;
    return;
  }
  try {
    const outcome = await registerCommands({ config, ...(guild === undefined ? {} : { guildId: guild }) });
    const where =
      outcome.scope === 'global' ? 'globally (may take up to an hour to appear)' : `in guild ${guild}`;
    logger.info(`Registered ${outcome.names.length} commands ${where}: ${outcome.names.join(', ')}`);
  } catch (error) {
    logger.error('Registration failed', { error });
    process.exitCode = 1;
  }
}

const invokedPath = process.argv[1];
if (invokedPath !== undefined && import.meta.url === pathToFileURL(path.resolve(invokedPath)).href) {
  main(process.argv).catch((error: unknown) => {
    // ConfigError names variables, never their values.
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
