/**
 * Who a message speaks to. In groups the bot answers only when addressed (a /command for it, or
 * a mention), so it never reads images nobody asked it to read.
 */

export interface BotIdentity {
  username: string;
}

export interface ParsedCommand {
  /** Lower-case command name without the slash. */
  name: string;
  /** True when the command names another bot (`/start@other_bot`). */
  forAnotherBot: boolean;
}

const COMMAND = /^\/([A-Za-z0-9_]{1,64})(?:@([A-Za-z0-9_]{3,64}))?(?=\s|$)/;

/** The leading command of a text or caption, as Telegram clients send it. */
export function parseCommand(text: string | undefined, bot: BotIdentity): ParsedCommand | undefined {
  const match = COMMAND.exec(text ?? '');
  if (match === null || match[1] === undefined) return undefined;
  const target = match[2];
  return {
    name: match[1].toLowerCase(),
    forAnotherBot: target !== undefined && target.toLowerCase() !== bot.username.toLowerCase(),
  };
}

export function mentionsBot(text: string | undefined, bot: BotIdentity): boolean {
  if (text === undefined || bot.username === '') return false;
  const escaped = bot.username.replace(/[^A-Za-z0-9_]/g, '');
  return new RegExp(`(^|[^A-Za-z0-9_])@${escaped}(?![A-Za-z0-9_])`, 'i').test(text);
}

/** A group message is for the bot when its text/caption starts with /xray for us or mentions us. */
export function isAddressed(text: string | undefined, bot: BotIdentity): boolean {
  const command = parseCommand(text, bot);
  if (command !== undefined && command.name === 'xray' && !command.forAnotherBot) return true;
  return mentionsBot(text, bot);
}
