/**
 * Turns a classifier answer (or a failure) into the body of an interaction reply. Wording comes
 * from the message module only; this file decides the layout (embed, heatmap attachment).
 */
import { AttachmentBuilder, EmbedBuilder, type InteractionEditReplyOptions } from 'discord.js';
import type { ClassifyResult } from '../../src/core/result.js';
import { formatError, replyText, resultParts } from '../../src/messages/index.js';

export const HEATMAP_FILE_NAME = 'heatmap.png';

// Discord's limits (characters); our texts are far below them, the cut only guards translations.
const LIMITS = { title: 256, description: 4096, footer: 2048, content: 2000 } as const;
// Neutral grey: no red/green that could read as a diagnosis.
const EMBED_COLOUR = 0x99aab5;

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Probability (or refusal text), what it means, the heatmap when present, disclaimer, model version. */
export function resultReply(result: ClassifyResult, locale: string | null): InteractionEditReplyOptions {
  const parts = resultParts(result, locale);
  const description = replyText(parts, { withVersion: false });
  const embed = new EmbedBuilder()
    .setColor(EMBED_COLOUR)
    .setTitle(truncate(parts.title, LIMITS.title))
    .setDescription(truncate(description, LIMITS.description))
    .setFooter({ text: truncate(parts.modelVersion, LIMITS.footer) });

  const files: AttachmentBuilder[] = [];
  if (result.accepted && result.heatmap !== undefined) {
    const png = Buffer.from(
      result.heatmap.png.buffer,
      result.heatmap.png.byteOffset,
      result.heatmap.png.byteLength,
    );
    files.push(new AttachmentBuilder(png, { name: HEATMAP_FILE_NAME }));
    embed.setImage(`attachment://${HEATMAP_FILE_NAME}`);
  }
  return { content: '', embeds: [embed], files, allowedMentions: { parse: [] } };
}

/** A plain sentence for the user (errors, hints), for a new message such as a follow-up. */
export function textMessage(text: string): { content: string; allowedMentions: { parse: [] } } {
  return { content: truncate(text, LIMITS.content), allowedMentions: { parse: [] } };
}

/** A plain sentence replacing the deferred reply; clears anything an earlier edit put there. */
export function textReply(text: string): InteractionEditReplyOptions {
  return { ...textMessage(text), embeds: [], files: [] };
}

export function errorReply(error: unknown, locale: string | null): InteractionEditReplyOptions {
  return textReply(formatError(error, locale));
}
