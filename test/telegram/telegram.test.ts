/**
 * End to end, offline: the real telegraf and the real classifier (a small untrained model) talk
 * to our fake Bot API server on 127.0.0.1.
 */
import { createServer } from 'node:net';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from 'telegraf/types';
import { createTelegramBot, type TelegramBot } from '../../adapters/telegram/index.js';
import { sendResult } from '../../adapters/telegram/send.js';
import { createClassifier, type Classifier } from '../../src/classifier/classifier.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { Prediction } from '../../src/core/result.js';
import { createLogger } from '../../src/logger.js';
import { formatAbout, formatError, formatResult, messages } from '../../src/messages/index.js';
import { makeChestLikeJpeg, makeColourPhotoJpeg, makeFilmPhotoJpeg } from '../helpers/images.js';
import { makeTestModel } from '../helpers/model.js';
import {
  FakeBotApi,
  replyToOf,
  textOf,
  type FakeUser,
  type PhotoVariant,
  type RecordedCall,
} from './fake-bot-api.js';

// test/helpers/dicom.ts is written by another engineer; the DICOM case runs once it exists.
type MakeDicom = (options: { width: number; height: number; pixels: Uint8Array }) => Uint8Array;
const dicomHelperPath = '../helpers/dicom.js';
const makeDicom = await import(/* @vite-ignore */ dicomHelperPath)
  .then((m: { makeDicom?: MakeDicom }) => m.makeDicom)
  .catch(() => undefined);

let nextUserId = 5000;
function newUser(language_code?: string): FakeUser {
  return { id: nextUserId++, first_name: 'Test', ...(language_code === undefined ? {} : { language_code }) };
}

async function variant(side: number, seed = 0): Promise<PhotoVariant> {
  return { bytes: await makeChestLikeJpeg(side, side, { seed }), width: side, height: side };
}

function configFor(fake: FakeBotApi, modelDir: string, extra: Record<string, string> = {}): Config {
  return loadConfig({
    TELEGRAM_BOT_TOKEN: fake.token,
    TELEGRAM_API_ROOT: fake.apiRoot,
    MODEL_DIR: modelDir,
    RATE_LIMIT_PER_MINUTE: '2',
    MAX_IMAGE_MB: '10',
    LOG_LEVEL: 'debug',
    ...extra,
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** A successful sendMessage to the user's private chat. */
const sentTo = (call: RecordedCall, user: FakeUser) =>
  call.method === 'sendMessage' && call.status === 200 && Number(call.params['chat_id']) === user.id;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const en = messages('en');

let classifier: Classifier;
let modelDir: string;
const logLines: string[] = [];
const tokens: string[] = [];

beforeAll(async () => {
  modelDir = await makeTestModel();
  classifier = await createClassifier({ modelDir, workers: 1 });
});

afterAll(async () => {
  await classifier?.close();
});

describe('Telegram bot with long polling', () => {
  let fake: FakeBotApi;
  let bot: TelegramBot;
  let expectedFor: (bytes: Uint8Array, locale?: string) => Promise<string>;

  beforeAll(async () => {
    fake = await FakeBotApi.start();
    tokens.push(fake.token);
    const logger = createLogger({
      level: 'debug',
      secrets: [fake.token],
      write: (line) => logLines.push(line),
    });
    bot = createTelegramBot({ config: configFor(fake, modelDir), classifier, logger });
    await bot.start();
    // What the core itself answers for these bytes: the reply must be exactly this.
    expectedFor = async (bytes, locale = 'en') =>
      classifier.classify(bytes).then(
        (result) => formatResult(result, locale),
        (error: unknown) => formatError(error, locale),
      );
  });

  afterAll(async () => {
    await bot?.stop('tests done');
    await fake?.close();
  });

  it('registers the command menu in English (default), Spanish and Russian', () => {
    const calls = fake.callsTo('setMyCommands');
    expect(calls.map((c) => c.params['language_code'])).toEqual([undefined, 'es', 'ru']);
    const commands = calls[1]?.params['commands'] as { command: string; description: string }[];
    expect(commands.map((c) => c.command)).toEqual(['start', 'help', 'about', 'privacy', 'xray']);
    expect(commands[0]?.description).toBe(messages('es').bot.commands.start);
  });

  it('answers a photo with the probability and disclaimer, as a reply, reading the largest size', async () => {
    const user = newUser();
    const sizes = [await variant(64), await variant(160), await variant(400)];
    const msg = (await fake.sendPhoto(user, sizes)) as Message.PhotoMessage;
    const reply = await fake.waitForReply(msg);

    expect(textOf(reply)).toBe(await expectedFor(sizes[2]!.bytes));
    expect(textOf(reply)).toContain(en.disclaimer);
    expect(replyToOf(reply)).toBe(msg.message_id);

    const ids = new Set(msg.photo.map((p) => p.file_id));
    const downloaded = fake.downloads.filter((d) => ids.has(d.fileId)).map((d) => d.fileId);
    expect(downloaded).toEqual([msg.photo.at(-1)?.file_id]);
    const actions = fake.callsTo('sendChatAction').filter((c) => Number(c.params['chat_id']) === user.id);
    expect(actions.map((c) => c.params['action'])).toContain('typing');
  });

  it('answers an image sent as a file', async () => {
    const bytes = await sharp(await makeChestLikeJpeg(300, 300, { seed: 3 }))
      .png()
      .toBuffer();
    const msg = await fake.sendDocument(newUser(), bytes, { mimeType: 'image/png', fileName: 'chest.png' });
    const reply = await fake.waitForReply(msg);
    expect(textOf(reply)).toBe(await expectedFor(bytes));
    expect(textOf(reply)).toMatch(/probability of COVID-19: [\d.,<>]+%/);
  });

  it.skipIf(makeDicom === undefined)('answers a DICOM file', async () => {
    const { data, info } = await sharp(await makeChestLikeJpeg(128, 128))
      .greyscale()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const dicom = Buffer.from(
      makeDicom!({ width: info.width, height: info.height, pixels: new Uint8Array(data) }),
    );
    const msg = await fake.sendDocument(newUser(), dicom, {
      mimeType: 'application/dicom',
      fileName: 'IM0001.dcm',
    });
    const reply = await fake.waitForReply(msg);
    expect(textOf(reply)).toBe(await expectedFor(dicom));
    expect(textOf(reply)).toContain(en.result.modelVersion('test-0.1'));
  });

  it('reads a file straight from disk when a local Bot API server gives an absolute path', async () => {
    const bytes = await makeChestLikeJpeg(200, 200, { seed: 5 });
    const msg = await fake.sendDocument(newUser(), bytes, {
      mimeType: 'image/jpeg',
      fileName: 'x.jpg',
      absolute: true,
    });
    const reply = await fake.waitForReply(msg);
    expect(textOf(reply)).toBe(await expectedFor(bytes));
    expect(fake.downloads.some((d) => d.fileId === (msg as Message.DocumentMessage).document.file_id)).toBe(
      false,
    );
  });

  it('refuses an oversized file politely, without downloading it', async () => {
    const user = newUser();
    const msg = await fake.sendPhoto(user, [await variant(64)], { size: 25 * 1024 * 1024 });
    const reply = await fake.waitForReply(msg);
    expect(textOf(reply)).toBe(en.errors.image_too_large({ limitMb: 10 }));
    const fileId = (msg as Message.PhotoMessage).photo[0]?.file_id;
    expect(fake.downloads.some((d) => d.fileId === fileId)).toBe(false);
    expect(fake.callsTo('getFile').some((c) => c.params['file_id'] === fileId)).toBe(false);
  });

  it('answers PDF and text documents with a clear message, without downloading them', async () => {
    const pdf = await fake.sendDocument(newUser(), Buffer.from('%PDF-1.4 ...'), {
      mimeType: 'application/pdf',
      fileName: 'report.pdf',
    });
    const txt = await fake.sendDocument(newUser(), Buffer.from('hello'), {
      mimeType: 'text/plain',
      fileName: 'notes.txt',
    });
    for (const msg of [pdf, txt]) {
      const reply = await fake.waitForReply(msg);
      expect(textOf(reply)).toBe(en.errors.unsupported_format({}));
      const fileId = (msg as Message.DocumentMessage).document.file_id;
      expect(fake.downloads.some((d) => d.fileId === fileId)).toBe(false);
    }
  });

  it('answers a corrupt JPEG clearly and keeps serving the next photo', async () => {
    const user = newUser();
    const good = await makeChestLikeJpeg(240, 240, { seed: 9 });
    const corrupt = Buffer.concat([good.subarray(0, 200), Buffer.alloc(400, 0x41)]);
    const bad = await fake.sendDocument(user, corrupt, { mimeType: 'image/jpeg', fileName: 'broken.jpg' });
    const badReply = await fake.waitForReply(bad);
    expect(textOf(badReply)).toBe(await expectedFor(corrupt));
    expect([en.errors.unreadable_image({}), en.errors.unsupported_format({})]).toContain(textOf(badReply));

    const next = await fake.sendPhoto(user, [{ bytes: good, width: 240, height: 240 }]);
    expect(textOf(await fake.waitForReply(next))).toBe(await expectedFor(good));
  });

  it('answers a colour photo (not an X-ray) with the gate refusal and no probability', async () => {
    const user = newUser();
    const selfie = await makeColourPhotoJpeg(320, 240);
    const msg = await fake.sendPhoto(user, [{ bytes: selfie, width: 320, height: 240 }]);
    const reply = await fake.waitForReply(msg);
    expect(textOf(reply)).toContain(en.refusal.colour_image);
    expect(textOf(reply)).not.toMatch(/probability of COVID-19: \d/);
    expect(reply.method).toBe('sendMessage');
  });

  it('says in the reply when the image is a phone photo of a film', async () => {
    const user = newUser();
    const photo = await makeFilmPhotoJpeg();
    const { width = 0, height = 0 } = await sharp(photo).metadata();
    const msg = await fake.sendPhoto(user, [{ bytes: photo, width, height }]);
    const text = textOf(await fake.waitForReply(msg));
    expect(text).toContain('Estimated probability of COVID-19:');
    expect(text).toContain(en.result.photoNote());
  });

  it('stays quiet in groups unless addressed with /xray, a mention, or a /xray reply', async () => {
    const group = fake.groupChat(-100200300);
    const photo = await variant(150, 2);
    const quiet = await fake.sendPhoto(newUser(), [photo], { chat: group });
    const byCaption = await fake.sendPhoto(newUser(), [photo], { chat: group, caption: '/xray' });
    const byMention = await fake.sendPhoto(newUser(), [photo], {
      chat: group,
      caption: 'what do you think @XRay_Test_Bot?',
    });
    const chatter = fake.sendText(newUser(), 'nice weather today', { chat: group });
    const askLater = fake.sendText(newUser(), '/xray@xray_test_bot', { chat: group, replyTo: quiet });

    const expected = await expectedFor(photo.bytes);
    for (const msg of [byCaption, byMention, askLater])
      expect(textOf(await fake.waitForReply(msg))).toBe(expected);
    expect(fake.repliesTo(quiet)).toEqual([]);
    expect(fake.repliesTo(chatter)).toEqual([]);
    // The quiet photo was read once, for the /xray reply, and not on its own.
    const quietFile = (quiet as Message.PhotoMessage).photo[0]?.file_id;
    expect(fake.downloads.filter((d) => d.fileId === quietFile)).toHaveLength(1);
  });

  it('answers /start, /help, /privacy and /about; /about shows the model version', async () => {
    const user = newUser();
    const answers: [string, string][] = [
      ['/start', `${en.bot.start}\n\n⚠️ ${en.disclaimer}`],
      ['/help', en.bot.help],
      ['/privacy', en.bot.privacy],
      ['/about', formatAbout(classifier.card, 'en')],
    ];
    for (const [command, expected] of answers) {
      fake.sendText(user, command);
      const reply = await fake.waitForCall((c) => sentTo(c, user) && textOf(c) === expected);
      if (command === '/about') expect(textOf(reply)).toContain('Model version: test-0.1');
    }
    expect(fake.callsTo('sendMessage').filter((c) => sentTo(c, user))).toHaveLength(4);
  });

  it('replies in Spanish to a user whose Telegram is in Spanish', async () => {
    const user = newUser('es');
    fake.sendText(user, '/start');
    const es = messages('es');
    const reply = await fake.waitForCall((c) => sentTo(c, user));
    expect(textOf(reply)).toBe(`${es.bot.start}\n\n⚠️ ${es.disclaimer}`);
  });

  it('gives a short hint for text without an image', async () => {
    const user = newUser('ru');
    fake.sendText(user, 'hello?');
    const reply = await fake.waitForCall((c) => sentTo(c, user));
    expect(textOf(reply)).toBe(messages('ru').bot.textHint);
  });

  it('rate-limits images per user (2 per minute here): the third gets the slow-down reply', async () => {
    const user = newUser();
    const photo = await variant(120, 4);
    const sent = [];
    for (let i = 0; i < 3; i++) sent.push(await fake.sendPhoto(user, [photo]));
    const third = await fake.waitForReply(sent[2]!);
    const slowDown = Array.from({ length: 60 }, (_, i) => en.errors.rate_limited({ seconds: i + 1 }));
    expect(slowDown).toContain(textOf(third));
    for (const msg of sent.slice(0, 2))
      expect(textOf(await fake.waitForReply(msg))).toBe(await expectedFor(photo.bytes));
  });

  it('waits out a 429 retry_after on sendMessage and delivers the reply', async () => {
    const user = newUser();
    fake.failNext('sendMessage', {
      error_code: 429,
      description: 'Too Many Requests: retry after 1',
      parameters: { retry_after: 1 },
    });
    fake.sendText(user, '/help');
    await fake.waitForCall((c) => sentTo(c, user));
    const attempts = fake.callsTo('sendMessage').filter((c) => Number(c.params['chat_id']) === user.id);
    expect(attempts.map((c) => c.status)).toEqual([429, 200]);
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(900);
    expect(textOf(attempts[1]!)).toBe(en.bot.help);
  });

  it('sends a heatmap as a photo reply with the text as caption, and falls back to text', async () => {
    const user = newUser();
    fake.privateChat(user);
    const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#f00' } })
      .png()
      .toBuffer();
    const prediction: Prediction = {
      accepted: true,
      probability: 0.72,
      label: 'covid',
      threshold: 0.5,
      modelVersion: 'test-0.1',
      // A photo of a film: the longest reply, which still fits in one caption.
      photo: true,
      photoChange: 0.11,
      heatmap: { png: new Uint8Array(png), width: 64, height: 64 },
      timings: { preprocessMs: 1, inferenceMs: 1, explainMs: 1, totalMs: 3 },
    };
    const log = createLogger({ level: 'silent' });
    await sendResult(bot.bot.telegram, { chatId: user.id, replyTo: 42 }, prediction, 'en', { log });
    const photo = fake.callsTo('sendPhoto').find((c) => Number(c.params['chat_id']) === user.id);
    expect(photo?.uploads['photo']?.bytes.subarray(1, 4).toString()).toBe('PNG');
    expect(textOf(photo!)).toBe(formatResult(prediction, 'en'));
    expect(textOf(photo!)).toContain(en.result.heatmapCaption);
    expect(textOf(photo!)).toContain(en.result.photoNote('11'));
    expect(replyToOf(photo!)).toBe(42);

    fake.failNext('sendPhoto', { error_code: 400, description: 'Bad Request: PHOTO_INVALID_DIMENSIONS' });
    await sendResult(bot.bot.telegram, { chatId: user.id, replyTo: 43 }, prediction, 'en', { log });
    const text = fake.callsTo('sendMessage').find((c) => Number(c.params['chat_id']) === user.id);
    expect(textOf(text!)).toBe(formatResult(prediction, 'en'));
    expect(replyToOf(text!)).toBe(43);
  });
});

describe('Telegram bot with a webhook', () => {
  let fake: FakeBotApi;
  let bot: TelegramBot;
  let hook: string;
  const secret = 'test_webhook_secret-0123456789';

  beforeAll(async () => {
    fake = await FakeBotApi.start({ token: '987654321:AAWebhookTokenForTests_zyxwvutsrqpo' });
    tokens.push(fake.token);
    const port = await freePort();
    const config = configFor(fake, modelDir, {
      TELEGRAM_WEBHOOK_URL: 'https://bot.example.org/telegram/hook',
      TELEGRAM_WEBHOOK_SECRET: secret,
      TELEGRAM_WEBHOOK_HOST: '127.0.0.1',
      TELEGRAM_WEBHOOK_PORT: String(port),
    });
    const logger = createLogger({
      level: 'debug',
      secrets: [fake.token],
      write: (line) => logLines.push(line),
    });
    bot = createTelegramBot({ config, classifier, logger });
    await bot.start();
    hook = `http://127.0.0.1:${port}/telegram/hook`;
  });

  afterAll(async () => {
    await bot?.stop('tests done');
    await fake?.close();
  });

  const post = (body: unknown, secretToken?: string) =>
    fetch(hook, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(secretToken === undefined ? {} : { 'x-telegram-bot-api-secret-token': secretToken }),
      },
      body: JSON.stringify(body),
    });

  it('registers the webhook URL with its secret token', () => {
    expect(fake.webhook).toEqual({ url: 'https://bot.example.org/telegram/hook', secret });
    expect(fake.callsTo('getUpdates')).toEqual([]);
  });

  it('refuses a wrong or missing secret with 403 and does not process the update', async () => {
    const user = newUser();
    const wrong = fake.sendText(user, '/help', { queue: false });
    expect((await post(fake.updateFor(wrong), 'not-the-secret-at-all-123')).status).toBe(403);
    expect((await post(fake.updateFor(wrong))).status).toBe(403);
    expect((await fetch(hook)).status).toBe(405);

    const right = fake.sendText(user, '/about', { queue: false });
    expect((await post(fake.updateFor(right), secret)).status).toBe(200);
    await fake.waitForCall((c) => sentTo(c, user));
    await sleep(100);
    const sent = fake.callsTo('sendMessage').filter((c) => Number(c.params['chat_id']) === user.id);
    expect(sent.map(textOf)).toEqual([formatAbout(classifier.card, 'en')]);
  });

  it('answers a photo delivered by webhook', async () => {
    const photo = await variant(180, 6);
    const msg = await fake.sendPhoto(newUser(), [photo], { queue: false });
    expect((await post(fake.updateFor(msg), secret)).status).toBe(200);
    const reply = await fake.waitForReply(msg);
    expect(textOf(reply)).toBe(formatResult(await classifier.classify(photo.bytes), 'en'));
  });

  it('answers 404 off the webhook path and 400 for a body that is not an update', async () => {
    expect((await fetch(hook.replace('/hook', '/other'), { method: 'POST', body: '{}' })).status).toBe(404);
    expect(
      (
        await fetch(hook, {
          method: 'POST',
          headers: { 'x-telegram-bot-api-secret-token': secret },
          body: 'not json',
        })
      ).status,
    ).toBe(400);
  });
});

describe('start-up and the fake Bot API itself', () => {
  it('fails to start with a clear message when Telegram refuses the token', async () => {
    const fake = await FakeBotApi.start();
    const wrong = '111111111:AAWrongTokenWrongTokenWrongToken_x';
    tokens.push(wrong);
    try {
      const config = loadConfig({
        TELEGRAM_BOT_TOKEN: wrong,
        TELEGRAM_API_ROOT: fake.apiRoot,
        MODEL_DIR: modelDir,
      });
      const logger = createLogger({ level: 'debug', secrets: [wrong], write: (line) => logLines.push(line) });
      const bot = createTelegramBot({ config, classifier, logger });
      const failure = await bot.start().catch((error: unknown) => error);
      expect(String(failure)).toMatch(/Telegram refused TELEGRAM_BOT_TOKEN \(401\)/);
      expect(String(failure)).not.toContain(wrong);
      expect(fake.callsTo('getMe').map((c) => c.status)).toEqual([401]);
      await bot.stop();
      expect((await fetch(`${fake.apiRoot}/bot${fake.token}/noSuchMethod`, { method: 'POST' })).status).toBe(
        404,
      );
      expect((await fetch(`${fake.apiRoot}/bot${fake.token}/getMe`)).status).toBe(200);
    } finally {
      await fake.close();
    }
  });
});

describe('logs', () => {
  it('never contain a bot token', () => {
    expect(logLines.length).toBeGreaterThan(5);
    for (const token of tokens) {
      const [id = '', secretPart = ''] = token.split(':');
      for (const line of logLines) {
        expect(line).not.toContain(token);
        expect(line).not.toContain(secretPart);
        expect(id.length).toBeGreaterThan(0);
      }
    }
  });
});
