/**
 * The HTTP endpoint Telegram posts updates to in webhook mode. Our own small server rather than
 * telegraf's: it checks the secret header in constant time, caps the body size, and answers
 * 404/405/403/413/400 for anything that is not a well-formed update for us.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Update } from 'telegraf/types';
import type { Logger } from '../../src/logger.js';

export const SECRET_HEADER = 'x-telegram-bot-api-secret-token';
/** Updates are small JSON objects; anything much larger is not from Telegram. */
const MAX_BODY_BYTES = 1024 * 1024;

export interface WebhookServerOptions {
  host: string;
  port: number;
  /** Path of the webhook URL, e.g. "/telegram". */
  path: string;
  secret: string;
  onUpdate: (update: Update) => Promise<void>;
  log: Logger;
}

export interface WebhookServer {
  listen(): Promise<AddressInfo>;
  close(): Promise<void>;
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Compares digests so neither the length nor a prefix of the secret leaks through timing. */
export function secretMatches(given: string | string[] | undefined, secret: string): boolean {
  return typeof given === 'string' && timingSafeEqual(digest(given), digest(secret));
}

export function createWebhookServer(options: WebhookServerOptions): WebhookServer {
  const server = http.createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      options.log.error('Webhook request failed', { error });
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  server.requestTimeout = 30_000;

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const pathname = new URL(req.url ?? '/', 'http://webhook.invalid').pathname;
    if (pathname !== options.path) return answer(res, 404);
    if (req.method !== 'POST') return answer(res, 405);
    if (!secretMatches(req.headers[SECRET_HEADER], options.secret)) {
      options.log.warn('Webhook call with a wrong or missing secret token was refused');
      return answer(res, 403);
    }
    const body = await readBody(req, MAX_BODY_BYTES);
    if (body === undefined) return answer(res, 413);
    let update: Update;
    try {
      update = JSON.parse(body.toString('utf8')) as Update;
    } catch {
      return answer(res, 400);
    }
    if (typeof update !== 'object' || update === null || typeof update.update_id !== 'number')
      return answer(res, 400);
    // Errors are answered to the user and logged by the bot's own error path.
    await options.onUpdate(update);
    answer(res, 200);
  }

  return {
    listen: () =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port, options.host, () => {
          server.off('error', reject);
          resolve(server.address() as AddressInfo);
        });
      }),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

function answer(res: http.ServerResponse, status: number): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    // A refused caller may still be sending; do not keep its connection.
    ...(status === 200 ? {} : { connection: 'close' }),
  });
  res.end(status === 200 ? 'ok' : '');
}

/** The request body, or undefined once it passes `limit` (the rest is drained, not kept). */
function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total <= limit) {
        chunks.push(chunk);
        return;
      }
      req.off('data', onData);
      req.off('end', onEnd);
      req.resume();
      resolve(undefined);
    };
    const onEnd = () => resolve(Buffer.concat(chunks));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', reject);
  });
}
