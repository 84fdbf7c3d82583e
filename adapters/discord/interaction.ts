/**
 * One interaction, start to finish: check (rate limit, attachment), defer within Discord's
 * 3-second deadline, download, classify, and edit the deferred reply. Every path ends in an
 * answer the user can see; nothing here throws.
 */
import {
  MessageFlags,
  type ChatInputCommandInteraction,
  type Interaction,
  type MessageContextMenuCommandInteraction,
} from 'discord.js';
import type { Classifier } from '../../src/classifier/classifier.js';
import { downloadBytes } from '../../src/core/download.js';
import { toXrayError, XrayError } from '../../src/core/errors.js';
import type { RateLimiter } from '../../src/core/rate-limit.js';
import type { ClassifyResult } from '../../src/core/result.js';
import type { Logger } from '../../src/logger.js';
import { formatError, messages } from '../../src/messages/index.js';
import {
  checkAttachment,
  firstImageAttachment,
  type AttachmentInfo,
  type AttachmentPolicy,
} from './attachment.js';
import { CONTEXT_MENU_COMMAND, XRAY_COMMAND, XRAY_IMAGE_OPTION, XRAY_PUBLIC_OPTION } from './commands.js';
import { resultReply, textMessage, textReply } from './reply.js';

type CommandInteraction = ChatInputCommandInteraction | MessageContextMenuCommandInteraction;

export interface InteractionDeps {
  classifier: Pick<Classifier, 'classify'>;
  logger: Logger;
  limiter: RateLimiter;
  policy: AttachmentPolicy;
  downloadTimeoutMs: number;
  /** True once stop() began: new requests are told to come back later. */
  isStopping: () => boolean;
}

/** What the user asked for, read from either command. */
interface Request {
  command: 'slash' | 'context_menu';
  interaction: CommandInteraction;
  attachment: AttachmentInfo | undefined;
  public: boolean;
}

/** How an interaction ended: a classifier answer, or a sentence explaining why there is none. */
type Outcome = { kind: 'result'; result: ClassifyResult } | { kind: 'failure'; text: string; code: string };

export function readRequest(interaction: Interaction): Request | undefined {
  if (interaction.isChatInputCommand() && interaction.commandName === XRAY_COMMAND) {
    return {
      command: 'slash',
      interaction,
      attachment: interaction.options.getAttachment(XRAY_IMAGE_OPTION) ?? undefined,
      public: interaction.options.getBoolean(XRAY_PUBLIC_OPTION) ?? false,
    };
  }
  if (interaction.isMessageContextMenuCommand() && interaction.commandName === CONTEXT_MENU_COMMAND) {
    return {
      command: 'context_menu',
      interaction,
      attachment: firstImageAttachment(interaction.targetMessage.attachments.values()),
      public: false,
    };
  }
  return undefined;
}

export function createInteractionHandler(deps: InteractionDeps): (interaction: Interaction) => Promise<void> {
  const { logger } = deps;

  /** The attachment to fetch, or a reason to answer without downloading anything (checked before deferring). */
  function precheck(request: Request): Outcome | { kind: 'fetch'; attachment: AttachmentInfo } {
    const locale = request.interaction.locale;
    const fail = (error: XrayError): Outcome => ({
      kind: 'failure',
      text: formatError(error, locale),
      code: error.code,
    });
    if (deps.isStopping()) return fail(new XrayError('busy', 'Shutting down.'));
    const rate = deps.limiter.take(request.interaction.user.id);
    if (!rate.ok) {
      return fail(
        new XrayError('rate_limited', 'Too many requests.', { details: { seconds: rate.retryAfterSeconds } }),
      );
    }
    if (request.attachment === undefined) {
      return { kind: 'failure', text: messages(locale).bot.noImageInMessage, code: 'no_image' };
    }
    const refusal = checkAttachment(request.attachment, deps.policy);
    return refusal === undefined ? { kind: 'fetch', attachment: request.attachment } : fail(refusal);
  }

  async function analyse(attachment: AttachmentInfo, locale: string): Promise<Outcome> {
    try {
      const bytes = await downloadBytes(attachment.url, {
        maxBytes: deps.policy.maxBytes,
        timeoutMs: deps.downloadTimeoutMs,
        allowedHosts: deps.policy.allowedHosts,
      });
      return { kind: 'result', result: await deps.classifier.classify(bytes) };
    } catch (error) {
      const e = toXrayError(error);
      if (e.code === 'internal') logger.error('Classification failed', { error: e.cause ?? e });
      return { kind: 'failure', text: formatError(e, locale), code: e.code };
    }
  }

  /**
   * Edits the deferred reply. A failure after a public deferral is moved to an ephemeral
   * follow-up, so an error about one user's file is not shown to the whole channel.
   */
  async function deliver(
    interaction: CommandInteraction,
    outcome: Outcome,
    ephemeral: boolean,
  ): Promise<void> {
    const locale = interaction.locale;
    if (outcome.kind === 'result') {
      try {
        await interaction.editReply(resultReply(outcome.result, locale));
        return;
      } catch (error) {
        logger.warn('Could not send the result; sending a short error instead', { error });
        outcome = { kind: 'failure', text: formatError(error, locale), code: 'internal' };
      }
    }
    if (ephemeral) {
      await interaction.editReply(textReply(outcome.text));
      return;
    }
    try {
      await interaction.deleteReply();
    } catch (error) {
      // Better a public error than a placeholder that spins forever.
      logger.warn('Could not remove the public placeholder; editing it instead', { error });
      await interaction.editReply(textReply(outcome.text));
      return;
    }
    await interaction.followUp({ ...textMessage(outcome.text), flags: MessageFlags.Ephemeral });
  }

  return async function handleInteraction(interaction: Interaction): Promise<void> {
    const request = readRequest(interaction);
    if (request === undefined) return;
    const started = Date.now();
    const target = request.interaction;
    const checked = precheck(request);
    // Results are only for the caller unless they asked otherwise; early refusals always are.
    const ephemeral = checked.kind === 'failure' || !request.public;
    try {
      await target.deferReply(ephemeral ? { flags: MessageFlags.Ephemeral } : {});
    } catch (error) {
      // Usually "Unknown interaction": we missed the 3-second deadline and Discord dropped it.
      logger.warn('Could not acknowledge an interaction', { command: request.command, error });
      return;
    }
    const outcome = checked.kind === 'fetch' ? await analyse(checked.attachment, target.locale) : checked;
    try {
      await deliver(target, outcome, ephemeral);
    } catch (error) {
      logger.warn('Could not deliver a reply', { command: request.command, error });
      return;
    }
    logger.info('Interaction answered', {
      command: request.command,
      public: !ephemeral,
      outcome:
        outcome.kind === 'result'
          ? outcome.result.accepted
            ? 'accepted'
            : `refused:${outcome.result.reason}`
          : outcome.code,
      ms: Date.now() - started,
    });
  };
}
