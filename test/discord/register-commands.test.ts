/**
 * Command registration against the fake Discord: the function (global) and the real CLI
 * (`--guild`), both through @discordjs/rest.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandDefinitions } from '../../adapters/discord/commands.js';
import { registerCommands } from '../../scripts/register-commands.js';
import { loadConfig } from '../../src/config.js';
import { messages } from '../../src/messages/index.js';
import { startFakeDiscord, type FakeDiscord } from './fake-discord.js';

const TOKEN = 'fake-discord-register-token-0123456789';
const APPLICATION_ID = '223456789012345678';
const GUILD_ID = '323456789012345678';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface CommandBody {
  name: string;
  type: number;
  description: string;
  name_localizations?: Record<string, string>;
  description_localizations?: Record<string, string>;
  options?: {
    name: string;
    type: number;
    required?: boolean;
    description_localizations?: Record<string, string>;
  }[];
}

let fake: FakeDiscord;

beforeAll(async () => {
  fake = await startFakeDiscord({ applicationId: APPLICATION_ID });
});

afterAll(async () => {
  await fake?.close();
});

function expectBothCommands(body: unknown): void {
  const commands = body as CommandBody[];
  expect(commands).toHaveLength(2);
  const [xray, menu] = commands;
  const es = messages('es');
  const ru = messages('ru');

  expect(xray?.name).toBe('xray');
  expect(xray?.type).toBe(1);
  expect(xray?.description).toBe(messages('en').bot.commands.xray);
  expect(xray?.description_localizations).toEqual({
    'es-ES': es.bot.commands.xray,
    'es-419': es.bot.commands.xray,
    ru: ru.bot.commands.xray,
  });
  const [image, isPublic] = xray?.options ?? [];
  expect(image).toMatchObject({ name: 'image', type: 11, required: true });
  expect(image?.description_localizations?.['es-419']).toBe(es.bot.xrayOption.image);
  expect(isPublic).toMatchObject({ name: 'public', type: 5, required: false });
  expect(isPublic?.description_localizations?.['ru']).toBe(ru.bot.xrayOption.public);

  expect(menu?.name).toBe(messages('en').bot.contextMenu);
  expect(menu?.type).toBe(3);
  expect(menu?.name_localizations).toEqual({
    'es-ES': es.bot.contextMenu,
    'es-419': es.bot.contextMenu,
    ru: ru.bot.contextMenu,
  });
}

describe('register-commands', () => {
  it('commandDefinitions() builds both commands with localizations', () => {
    expectBothCommands(commandDefinitions());
  });

  it('overwrites the global commands', async () => {
    const config = loadConfig({
      DISCORD_TOKEN: TOKEN,
      DISCORD_APPLICATION_ID: APPLICATION_ID,
      DISCORD_API_URL: fake.apiUrl,
    });
    const outcome = await registerCommands({ config });
    expect(outcome).toEqual({ scope: 'global', names: ['xray', 'Analyze X-ray'] });

    const put = await fake.waitForRequest(
      (r) => r.method === 'PUT' && r.path === `/api/v10/applications/${APPLICATION_ID}/commands`,
    );
    expect(put.headers.authorization).toBe(`Bot ${TOKEN}`);
    expectBothCommands(put.json);
  });

  it('the CLI registers for one guild with --guild, without printing the token', async () => {
    const run = promisify(execFile);
    const { stdout, stderr } = await run(
      process.execPath,
      ['--import', 'tsx', 'scripts/register-commands.ts', '--guild', GUILD_ID],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          DISCORD_TOKEN: TOKEN,
          DISCORD_APPLICATION_ID: APPLICATION_ID,
          DISCORD_API_URL: fake.apiUrl,
          LOG_LEVEL: 'info',
        },
        timeout: 50_000,
      },
    );
    const put = await fake.waitForRequest(
      (r) =>
        r.method === 'PUT' &&
        r.path === `/api/v10/applications/${APPLICATION_ID}/guilds/${GUILD_ID}/commands`,
    );
    expectBothCommands(put.json);
    const output = stdout + stderr;
    expect(output).toContain(`Registered 2 commands in guild ${GUILD_ID}`);
    expect(output).not.toContain(TOKEN);
  });

  it('refuses a guild id that is not a Discord id', async () => {
    const config = loadConfig({
      DISCORD_TOKEN: TOKEN,
      DISCORD_APPLICATION_ID: APPLICATION_ID,
      DISCORD_API_URL: fake.apiUrl,
    });
    await expect(registerCommands({ config, guildId: '../../users/@me' })).rejects.toThrow(/numeric/);
  });
});
