/**
 * INTERACTION_CREATE payloads shaped like Discord's (API v10), for the fake gateway to dispatch.
 */
import { snowflake } from './fake-discord.js';

export interface AttachmentSpec {
  url: string;
  filename: string;
  /** Omitted when Discord did not detect a type. */
  contentType?: string;
  size: number;
}

export interface SentInteraction {
  id: string;
  token: string;
  payload: Record<string, unknown>;
}

interface Common {
  applicationId: string;
  locale?: string;
  userId?: string;
}

function attachmentJson(a: AttachmentSpec, id: string): Record<string, unknown> {
  return {
    id,
    filename: a.filename,
    size: a.size,
    url: a.url,
    proxy_url: a.url,
    ...(a.contentType === undefined ? {} : { content_type: a.contentType }),
  };
}

function user(id: string): Record<string, unknown> {
  return { id, username: `user${id.slice(-4)}`, discriminator: '0', global_name: null, avatar: null };
}

/** The parts every application-command interaction has; `guild` puts it in a server channel, else a DM. */
function base(common: Common, guild: boolean): Record<string, unknown> & { id: string; token: string } {
  const id = snowflake();
  const userId = common.userId ?? snowflake();
  const guildId = snowflake();
  const channelId = snowflake();
  const where = guild
    ? {
        guild_id: guildId,
        guild_locale: 'en-US',
        channel: {
          id: channelId,
          type: 0,
          guild_id: guildId,
          name: 'x-rays',
          position: 0,
          permission_overwrites: [],
        },
        member: {
          user: user(userId),
          roles: [],
          permissions: '2248473465835073',
          joined_at: new Date().toISOString(),
          deaf: false,
          mute: false,
          flags: 0,
        },
        context: 0,
        authorizing_integration_owners: { '0': guildId },
      }
    : {
        channel: { id: channelId, type: 1, recipients: [user(userId)] },
        user: user(userId),
        context: 1,
        authorizing_integration_owners: { '0': snowflake() },
      };
  return {
    id,
    // Shaped like Discord's (long, opaque); it must never be logged either.
    token: `aW50ZXJhY3Rpb246${id}OnRva2Vu${'x'.repeat(40)}`,
    application_id: common.applicationId,
    type: 2,
    version: 1,
    channel_id: channelId,
    locale: common.locale ?? 'en-US',
    app_permissions: '0',
    entitlements: [],
    attachment_size_limit: 10 * 1024 * 1024,
    ...where,
  };
}

export function slashXray(
  common: Common & { attachment: AttachmentSpec; public?: boolean },
): SentInteraction {
  const payload = base(common, true);
  const attachmentId = snowflake();
  payload['data'] = {
    id: snowflake(),
    name: 'xray',
    type: 1,
    options: [
      { name: 'image', type: 11, value: attachmentId },
      ...(common.public === undefined ? [] : [{ name: 'public', type: 5, value: common.public }]),
    ],
    resolved: { attachments: { [attachmentId]: attachmentJson(common.attachment, attachmentId) } },
  };
  return { id: payload.id, token: payload.token, payload };
}

export function analyzeMessage(
  common: Common & { attachments: AttachmentSpec[]; content?: string },
): SentInteraction {
  const payload = base(common, false);
  const messageId = snowflake();
  const channelId = payload['channel_id'];
  const author = user(snowflake());
  payload['data'] = {
    id: snowflake(),
    name: 'Analyze X-ray',
    type: 3,
    target_id: messageId,
    resolved: {
      messages: {
        [messageId]: {
          id: messageId,
          channel_id: channelId,
          type: 0,
          content: common.content ?? '',
          author,
          attachments: common.attachments.map((a) => attachmentJson(a, snowflake())),
          embeds: [],
          components: [],
          mentions: [],
          mention_roles: [],
          mention_everyone: false,
          pinned: false,
          tts: false,
          timestamp: new Date().toISOString(),
          edited_timestamp: null,
          flags: 0,
        },
      },
    },
  };
  return { id: payload.id, token: payload.token, payload };
}
