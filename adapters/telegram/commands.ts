/** The command menu Telegram clients show, in every language we have a translation for. */
import type { Telegram } from 'telegraf';
import type { BotCommand } from 'telegraf/types';
import { LOCALES, messages } from '../../src/messages/index.js';

export const COMMAND_NAMES = ['start', 'help', 'about', 'privacy', 'xray'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

export function commandList(locale: string): BotCommand[] {
  const descriptions = messages(locale).bot.commands;
  return COMMAND_NAMES.map((command) => ({ command, description: descriptions[command] }));
}

/** English is the default list; other languages are registered for their `language_code`. */
export async function registerCommands(telegram: Telegram): Promise<void> {
  await telegram.setMyCommands(commandList('en'));
  for (const locale of LOCALES) {
    if (locale === 'en') continue;
    await telegram.setMyCommands(commandList(locale), { language_code: locale });
  }
}
