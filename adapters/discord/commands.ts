/**
 * The bot's two application commands, as the JSON bodies Discord's bulk-overwrite endpoint takes.
 * Shared by the bot (to route interactions) and scripts/register-commands.ts (to register them).
 * Every description and the context-menu name come from the message module, so translators edit
 * one place.
 */
import {
  ApplicationCommandType,
  ApplicationIntegrationType,
  ContextMenuCommandBuilder,
  InteractionContextType,
  Locale,
  SlashCommandBuilder,
  type LocalizationMap,
  type RESTPutAPIApplicationCommandsJSONBody,
} from 'discord.js';
import { messages, type Catalog } from '../../src/messages/index.js';

/** Slash command name; not localized so help texts and docs can name it. */
export const XRAY_COMMAND = 'xray';
export const XRAY_IMAGE_OPTION = 'image';
export const XRAY_PUBLIC_OPTION = 'public';
/** Discord sends the default (English) name of a context-menu command, whatever the user's language. */
export const CONTEXT_MENU_COMMAND = messages('en').bot.contextMenu;

/** Discord locales we have a catalog for (English is the default name/description). */
const LOCALIZED: ReadonlyArray<readonly [Locale, string]> = [
  [Locale.SpanishES, 'es'],
  [Locale.SpanishLATAM, 'es'],
  [Locale.Russian, 'ru'],
];

function localized(pick: (c: Catalog) => string): LocalizationMap {
  return Object.fromEntries(LOCALIZED.map(([discordLocale, ours]) => [discordLocale, pick(messages(ours))]));
}

export function commandDefinitions(): RESTPutAPIApplicationCommandsJSONBody {
  const en = messages('en');
  // Guild channels and the bot's DMs; interactions need no privileged intent in either.
  const contexts = [InteractionContextType.Guild, InteractionContextType.BotDM];

  const xray = new SlashCommandBuilder()
    .setName(XRAY_COMMAND)
    .setDescription(en.bot.commands.xray)
    .setDescriptionLocalizations(localized((c) => c.bot.commands.xray))
    .setContexts(contexts)
    .setIntegrationTypes(ApplicationIntegrationType.GuildInstall)
    .addAttachmentOption((o) =>
      o
        .setName(XRAY_IMAGE_OPTION)
        .setDescription(en.bot.xrayOption.image)
        .setDescriptionLocalizations(localized((c) => c.bot.xrayOption.image))
        .setRequired(true),
    )
    .addBooleanOption((o) =>
      o
        .setName(XRAY_PUBLIC_OPTION)
        .setDescription(en.bot.xrayOption.public)
        .setDescriptionLocalizations(localized((c) => c.bot.xrayOption.public))
        .setRequired(false),
    );

  const analyze = new ContextMenuCommandBuilder()
    .setName(CONTEXT_MENU_COMMAND)
    .setNameLocalizations(localized((c) => c.bot.contextMenu))
    .setType(ApplicationCommandType.Message)
    .setContexts(contexts)
    .setIntegrationTypes(ApplicationIntegrationType.GuildInstall);

  return [xray.toJSON(), analyze.toJSON()];
}
