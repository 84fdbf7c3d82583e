/** The adapter's small parts on their own: no model, no bot, fast. */
import { TelegramError } from 'telegraf';
import { describe, expect, it } from 'vitest';
import { isAddressed, mentionsBot, parseCommand } from '../../adapters/telegram/addressing.js';
import { findImage, isImageDocument, largestPhoto } from '../../adapters/telegram/files.js';
import { createJobs } from '../../adapters/telegram/jobs.js';
import { CAPTION_LIMIT, chunkText, splitText, withRetryAfter } from '../../adapters/telegram/send.js';
import { createWebhookServer, secretMatches } from '../../adapters/telegram/webhook.js';
import { createLogger } from '../../src/logger.js';

const me = { username: 'xray_test_bot' };
const photo = (id: string, width: number, height: number, file_size?: number) => ({
  file_id: id,
  file_unique_id: id,
  width,
  height,
  ...(file_size === undefined ? {} : { file_size }),
});

describe('picking the file', () => {
  it('takes the largest photo size wherever it is in the list', () => {
    expect(largestPhoto([photo('m', 320, 320), photo('l', 1280, 960), photo('s', 90, 90)])?.file_id).toBe(
      'l',
    );
    expect(largestPhoto([photo('a', 100, 100, 10), photo('b', 100, 100, 20)])?.file_id).toBe('b');
    expect(largestPhoto([])).toBeUndefined();
  });

  it('accepts image and DICOM documents, and untyped files that may be DICOM', () => {
    expect(isImageDocument({ mime_type: 'image/jpeg', file_name: 'x.jpg' })).toBe(true);
    expect(isImageDocument({ mime_type: 'image/tiff' })).toBe(true);
    expect(isImageDocument({ mime_type: 'application/dicom', file_name: 'IM0001' })).toBe(true);
    expect(isImageDocument({ mime_type: 'application/x-whatever', file_name: 'scan.DCM' })).toBe(true);
    expect(isImageDocument({ mime_type: 'application/octet-stream', file_name: 'IM0001' })).toBe(true);
    expect(isImageDocument({ mime_type: 'application/octet-stream', file_name: 'chest.png' })).toBe(true);
    expect(isImageDocument({ mime_type: 'application/octet-stream', file_name: 'archive.zip' })).toBe(false);
    expect(isImageDocument({ mime_type: 'application/pdf', file_name: 'report.pdf' })).toBe(false);
    expect(isImageDocument({ mime_type: 'text/plain', file_name: 'notes.txt' })).toBe(false);
  });

  it('tells images, other files and plain messages apart', () => {
    expect(findImage({ photo: [photo('s', 90, 90), photo('l', 800, 600)] })).toEqual({
      kind: 'image',
      file: { source: 'photo', fileId: 'l', fileSize: undefined },
    });
    const doc = { file_id: 'd', file_unique_id: 'd', mime_type: 'image/png', file_size: 5 };
    expect(findImage({ document: doc })).toEqual({
      kind: 'image',
      file: { source: 'document', fileId: 'd', fileSize: 5 },
    });
    expect(findImage({ document: { ...doc, mime_type: 'image/gif' }, animation: {} })).toEqual({
      kind: 'not_image',
    });
    expect(findImage({ video: {} })).toEqual({ kind: 'not_image' });
    expect(findImage({ sticker: {} })).toEqual({ kind: 'not_image' });
    expect(findImage({})).toEqual({ kind: 'none' });
  });
});

describe('addressing in groups', () => {
  it('parses commands for us and for other bots', () => {
    expect(parseCommand('/xray', me)).toEqual({ name: 'xray', forAnotherBot: false });
    expect(parseCommand('/XRay@XRAY_TEST_BOT please', me)).toEqual({ name: 'xray', forAnotherBot: false });
    expect(parseCommand('/start@other_bot', me)).toEqual({ name: 'start', forAnotherBot: true });
    expect(parseCommand('/xrays', me)?.name).toBe('xrays');
    expect(parseCommand('see /xray', me)).toBeUndefined();
    expect(parseCommand(undefined, me)).toBeUndefined();
  });

  it('recognises a mention or a leading /xray, and nothing else', () => {
    expect(mentionsBot('hey @Xray_Test_Bot look', me)).toBe(true);
    expect(mentionsBot('@xray_test_bot_fan look', me)).toBe(false);
    expect(mentionsBot('mail@xray_test_bot.org', me)).toBe(false);
    expect(isAddressed('/xray', me)).toBe(true);
    expect(isAddressed('/xray@other_bot', me)).toBe(false);
    expect(isAddressed('my x-ray', me)).toBe(false);
    expect(isAddressed(undefined, me)).toBe(false);
  });
});

describe('sending', () => {
  it('cuts captions at 1024 UTF-16 units at a paragraph break, keeping the rest', () => {
    const text = `${'a'.repeat(700)}\n\n${'b'.repeat(500)}\n\n${'c'.repeat(100)}`;
    const [head, rest] = splitText(text, CAPTION_LIMIT);
    expect(head).toBe('a'.repeat(700));
    expect(rest).toBe(`${'b'.repeat(500)}\n\n${'c'.repeat(100)}`);
    expect(splitText('short', CAPTION_LIMIT)).toEqual(['short', '']);
  });

  it('never splits an emoji and covers the whole text in chunks', () => {
    const text = `${'x'.repeat(1023)}😀${'y'.repeat(10)}`;
    const [head, rest] = splitText(text, 1024);
    expect(head).toBe('x'.repeat(1023));
    expect(rest.startsWith('😀')).toBe(true);
    const long = 'word '.repeat(2000).trim();
    const chunks = chunkText(long);
    expect(chunks.every((c) => c.length <= 4096)).toBe(true);
    expect(chunks.join(' ')).toBe(long);
  });

  it('does not wait out a 429 that asks for too long, nor retry other errors', async () => {
    let calls = 0;
    const tooLong = new TelegramError({
      error_code: 429,
      description: 'Too Many Requests',
      parameters: { retry_after: 300 },
    });
    await expect(
      withRetryAfter(() => {
        calls++;
        return Promise.reject(tooLong);
      }),
    ).rejects.toBe(tooLong);
    const forbidden = new TelegramError({
      error_code: 403,
      description: 'Forbidden: bot was blocked by the user',
    });
    await expect(
      withRetryAfter(() => {
        calls++;
        return Promise.reject(forbidden);
      }),
    ).rejects.toBe(forbidden);
    expect(calls).toBe(2);
  });
});

describe('jobs', () => {
  it('lets running jobs finish within the grace period, then aborts the rest', async () => {
    const jobs = createJobs();
    const seen: string[] = [];
    jobs.run(
      () => new Promise<void>((resolve) => setTimeout(() => (seen.push('quick'), resolve()), 20)),
      async () => undefined,
    );
    jobs.run(
      (signal) =>
        new Promise<void>((_resolve, reject) => {
          signal.addEventListener('abort', () => reject(new Error('aborted')));
        }),
      async (error) => {
        seen.push(error instanceof Error ? error.message : 'error');
      },
    );
    expect(jobs.size).toBe(2);
    await jobs.drain(100);
    expect(seen).toEqual(['quick', 'aborted']);
    expect(jobs.size).toBe(0);
  });
});

describe('webhook endpoint', () => {
  it('compares the secret exactly', () => {
    expect(secretMatches('s3cret-token-0123456789', 's3cret-token-0123456789')).toBe(true);
    expect(secretMatches('s3cret-token-012345678', 's3cret-token-0123456789')).toBe(false);
    expect(secretMatches(undefined, 's3cret-token-0123456789')).toBe(false);
    expect(secretMatches(['a', 'b'], 's3cret-token-0123456789')).toBe(false);
  });

  it('refuses an oversized body with 413 and hands well-formed updates on', async () => {
    const received: number[] = [];
    const server = createWebhookServer({
      host: '127.0.0.1',
      port: 0,
      path: '/hook',
      secret: 'the-secret-0123456789',
      log: createLogger({ level: 'silent' }),
      onUpdate: async (update) => {
        received.push(update.update_id);
      },
    });
    const { port } = await server.listen();
    try {
      const headers = {
        'x-telegram-bot-api-secret-token': 'the-secret-0123456789',
        'content-type': 'application/json',
      };
      const url = `http://127.0.0.1:${port}/hook`;
      const big = await fetch(url, {
        method: 'POST',
        headers,
        body: JSON.stringify({ update_id: 1, pad: 'x'.repeat(2 * 1024 * 1024) }),
      });
      expect(big.status).toBe(413);
      expect((await fetch(url, { method: 'POST', headers, body: '{"no_update_id":true}' })).status).toBe(400);
      expect((await fetch(url, { method: 'POST', headers, body: '{"update_id":7}' })).status).toBe(200);
      expect(received).toEqual([7]);
    } finally {
      await server.close();
    }
  });
});
