import os from 'node:os';
import path from 'node:path';
import dotenv from 'dotenv';
import { z } from 'zod';

/** Env values arrive as strings; "" means "not set" so a blank line in .env does not count as a value. */
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const intIn = (min: number, max: number, fallback: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return fallback;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `must be a whole number from ${min} to ${max}` });
        return z.NEVER;
      }
      return n;
    });

const boolean = (fallback: boolean) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return fallback;
      const s = v.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(s)) return true;
      if (['0', 'false', 'no', 'off'].includes(s)) return false;
      ctx.addIssue({ code: 'custom', message: 'must be true or false (on/off, 1/0 also work)' });
      return z.NEVER;
    });

const url = (fallback: string | undefined) =>
  optionalString
    .pipe(z.url({ message: 'must be a full URL such as https://example.org' }).optional())
    .transform((v) => (v ?? fallback)?.replace(/\/+$/, ''));

const MB = 1024 * 1024;

/** The one configuration schema. Every variable is documented in .env.example. */
export const configSchema = z
  .object({
    MODEL_DIR: optionalString.transform((v) => path.resolve(v ?? 'model')),
    TFJS_BACKEND: z
      .enum(['node', 'wasm', 'cpu'])
      .optional()
      .or(z.literal('').transform(() => undefined)),
    LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).optional().default('info'),
    WORKERS: intIn(1, 64, Math.max(1, Math.min(4, os.availableParallelism()))),
    QUEUE_LIMIT: intIn(0, 10_000, 16),
    CLASSIFY_TIMEOUT_MS: intIn(1_000, 600_000, 30_000),
    MAX_IMAGE_MB: intIn(1, 20, 10),
    MAX_IMAGE_MEGAPIXELS: intIn(1, 268, 50),
    DOWNLOAD_TIMEOUT_MS: intIn(1_000, 600_000, 20_000),
    RATE_LIMIT_PER_MINUTE: intIn(1, 10_000, 10),
    EXPLAIN: boolean(true),

    TELEGRAM_BOT_TOKEN: optionalString,
    TELEGRAM_API_ROOT: url('https://api.telegram.org'),
    TELEGRAM_WEBHOOK_URL: url(undefined),
    TELEGRAM_WEBHOOK_SECRET: optionalString.pipe(
      z
        .string()
        .regex(/^[A-Za-z0-9_-]{16,256}$/, 'must be 16-256 characters of A-Z, a-z, 0-9, _ and -')
        .optional(),
    ),
    TELEGRAM_WEBHOOK_HOST: optionalString.transform((v) => v ?? '127.0.0.1'),
    TELEGRAM_WEBHOOK_PORT: intIn(1, 65_535, 8443),

    DISCORD_TOKEN: optionalString,
    DISCORD_APPLICATION_ID: optionalString.pipe(
      z
        .string()
        .regex(/^\d{5,25}$/, 'must be a numeric id')
        .optional(),
    ),
    DISCORD_API_URL: url('https://discord.com/api'),
    DISCORD_ATTACHMENT_HOSTS: optionalString.transform((v) =>
      (v ?? 'cdn.discordapp.com,media.discordapp.net')
        .split(',')
        .map((h) => h.trim().toLowerCase())
        .filter((h) => h !== ''),
    ),

    WEB_ENABLED: boolean(false),
    WEB_HOST: optionalString.transform((v) => v ?? '127.0.0.1'),
    WEB_PORT: intIn(0, 65_535, 3000),
    WEB_TRUST_PROXY: optionalString,
  })
  .superRefine((c, ctx) => {
    if (c.TELEGRAM_WEBHOOK_URL !== undefined && c.TELEGRAM_WEBHOOK_SECRET === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['TELEGRAM_WEBHOOK_SECRET'],
        message: 'is required when TELEGRAM_WEBHOOK_URL is set (Telegram signs every webhook call with it)',
      });
    }
    if ((c.DISCORD_TOKEN === undefined) !== (c.DISCORD_APPLICATION_ID === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [c.DISCORD_TOKEN === undefined ? 'DISCORD_TOKEN' : 'DISCORD_APPLICATION_ID'],
        message: 'DISCORD_TOKEN and DISCORD_APPLICATION_ID must be set together',
      });
    }
  })
  .transform((c) => ({
    modelDir: c.MODEL_DIR,
    backend: c.TFJS_BACKEND,
    logLevel: c.LOG_LEVEL,
    workers: c.WORKERS,
    queueLimit: c.QUEUE_LIMIT,
    classifyTimeoutMs: c.CLASSIFY_TIMEOUT_MS,
    maxImageBytes: c.MAX_IMAGE_MB * MB,
    maxImagePixels: c.MAX_IMAGE_MEGAPIXELS * 1_000_000,
    downloadTimeoutMs: c.DOWNLOAD_TIMEOUT_MS,
    rateLimitPerMinute: c.RATE_LIMIT_PER_MINUTE,
    explain: c.EXPLAIN,
    telegram:
      c.TELEGRAM_BOT_TOKEN === undefined
        ? undefined
        : {
            token: c.TELEGRAM_BOT_TOKEN,
            apiRoot: c.TELEGRAM_API_ROOT ?? 'https://api.telegram.org',
            webhook:
              c.TELEGRAM_WEBHOOK_URL === undefined || c.TELEGRAM_WEBHOOK_SECRET === undefined
                ? undefined
                : {
                    url: c.TELEGRAM_WEBHOOK_URL,
                    secret: c.TELEGRAM_WEBHOOK_SECRET,
                    host: c.TELEGRAM_WEBHOOK_HOST,
                    port: c.TELEGRAM_WEBHOOK_PORT,
                  },
          },
    discord:
      c.DISCORD_TOKEN === undefined || c.DISCORD_APPLICATION_ID === undefined
        ? undefined
        : {
            token: c.DISCORD_TOKEN,
            applicationId: c.DISCORD_APPLICATION_ID,
            apiUrl: c.DISCORD_API_URL ?? 'https://discord.com/api',
            attachmentHosts: c.DISCORD_ATTACHMENT_HOSTS,
          },
    web: {
      enabled: c.WEB_ENABLED,
      host: c.WEB_HOST,
      port: c.WEB_PORT,
      /** Addresses of trusted reverse proxies (comma-separated), for client IPs in X-Forwarded-For. */
      trustProxy: c.WEB_TRUST_PROXY,
    },
  }));

type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

export type Config = DeepReadonly<z.output<typeof configSchema>>;
export type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}\nSee .env.example.`);
  }
}

/**
 * Reads the configuration. Without an argument it first loads `.env` (dotenv never overrides
 * variables already set in the environment). Values are validated by one zod schema; errors name
 * the variable, never its value (it may be a token).
 */
export function loadConfig(env?: Env): Config {
  if (env === undefined) {
    dotenv.config({ quiet: true });
  }
  const parsed = configSchema.safeParse(env ?? process.env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`));
  }
  return deepFreeze(parsed.data);
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
