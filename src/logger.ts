/**
 * A small leveled logger with one job beyond printing: no secret reaches a log. Every line is
 * scrubbed of the configured secrets (bot tokens) and of anything shaped like a Telegram token or
 * a token-bearing file URL, wherever it hides (error messages, stacks, URLs).
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(scope: string): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Exact strings that must never be printed (tokens, secrets). */
  secrets?: readonly (string | undefined)[];
  scope?: string;
  write?: (line: string) => void;
}

// Telegram bot tokens (123456:ABC...) and Discord-style tokens (three base64url parts).
const TOKEN_PATTERNS = [
  /\b\d{5,}:[A-Za-z0-9_-]{20,}\b/g,
  /\b[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{20,}\b/g,
];

export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('[redacted]');
  for (const p of TOKEN_PATTERNS) out = out.replace(p, '[redacted]');
  return out;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = ORDER[options.level ?? 'info'];
  const secrets = (options.secrets ?? []).filter((s): s is string => typeof s === 'string' && s.length > 0);
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const emit = (lvl: Exclude<LogLevel, 'silent'>, message: string, fields?: Record<string, unknown>) => {
    if (ORDER[lvl] < level) return;
    const rest = fields === undefined ? '' : ` ${safeJson(fields)}`;
    const scope = options.scope === undefined ? '' : ` [${options.scope}]`;
    write(redact(`${new Date().toISOString()} ${lvl.toUpperCase()}${scope} ${message}${rest}`, secrets));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (scope) =>
      createLogger({ ...options, scope: options.scope === undefined ? scope : `${options.scope}:${scope}` }),
  };
}

function safeJson(fields: Record<string, unknown>): string {
  return JSON.stringify(fields, (_key, value: unknown) => {
    if (value instanceof Error)
      return { name: value.name, message: value.message, code: (value as { code?: unknown }).code };
    if (value instanceof Uint8Array) return `<${value.length} bytes>`;
    return value;
  });
}
