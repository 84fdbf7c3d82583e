/**
 * End to end and offline: the real discord.js client, the real classifier (a small untrained
 * model), and a fake Discord (REST + gateway + CDN) on localhost.
 */
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDiscordBot, type DiscordBot } from '../../adapters/discord/index.js';
import { createClassifier, type Classifier } from '../../src/classifier/classifier.js';
import { loadConfig } from '../../src/config.js';
import { BusyError, TimeoutError, type XrayError } from '../../src/core/errors.js';
import type { ClassifyResult } from '../../src/core/result.js';
import { createLogger } from '../../src/logger.js';
import { messages } from '../../src/messages/index.js';
import { makeChestLikeJpeg, makeColourPhotoJpeg, makeFilmPhotoJpeg } from '../helpers/images.js';
import { makeTestModel } from '../helpers/model.js';
import { startFakeDiscord, type FakeDiscord, type RecordedRequest } from './fake-discord.js';
import { analyzeMessage, slashXray, type SentInteraction } from './interactions.js';

// Not shaped like a real token, and the logger gets no secrets: so the check below proves the
// adapter never prints it, rather than that the logger scrubbed it.
const TOKEN = 'fake-discord-bot-token-never-logged-0123456789';
const APPLICATION_ID = '123456789012345678';
const EPHEMERAL = 64;
const en = messages('en');
const es = messages('es');

interface Embed {
  title?: string;
  description?: string;
  footer?: { text: string };
  image?: { url: string };
}
interface MessageBody {
  content?: string;
  embeds?: Embed[];
  flags?: number;
}

let fake: FakeDiscord;
let foreign: { server: http.Server; host: string; hits: number };
let real: Classifier;
let bot: DiscordBot;
let stopped = false;
let forceHeatmap = false;
let failNext: XrayError | undefined;
let heatmapPng: Uint8Array;
let chest: Buffer;
const logLines: string[] = [];

beforeAll(async () => {
  fake = await startFakeDiscord({ applicationId: APPLICATION_ID });
  // Stands in for an arbitrary server an interaction payload might point us to.
  const server = http.createServer((_req, res) => {
    foreign.hits += 1;
    res.end('nope');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.2', resolve));
  foreign = { server, host: `127.0.0.2:${(server.address() as AddressInfo).port}`, hits: 0 };

  const config = loadConfig({
    DISCORD_TOKEN: TOKEN,
    DISCORD_APPLICATION_ID: APPLICATION_ID,
    DISCORD_API_URL: fake.apiUrl,
    DISCORD_ATTACHMENT_HOSTS: fake.host,
    MAX_IMAGE_MB: '1',
    RATE_LIMIT_PER_MINUTE: '3',
    DOWNLOAD_TIMEOUT_MS: '1000',
  });
  real = await createClassifier({
    modelDir: await makeTestModel(),
    workers: 1,
    explain: false,
    limits: { maxBytes: config.maxImageBytes, maxPixels: config.maxImagePixels },
  });
  heatmapPng = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#ff0000' } })
    .png()
    .toBuffer();
  // The real classifier's answer, with a heatmap added when a test asks for one (the adapter's
  // attachment path does not depend on how the heatmap was made), or the core's own busy/timeout
  // error, which a test could not provoke reliably.
  const classifier = {
    async classify(
      bytes: Uint8Array,
      options?: { explain?: boolean; signal?: AbortSignal },
    ): Promise<ClassifyResult> {
      const failure = failNext;
      failNext = undefined;
      if (failure !== undefined) throw failure;
      const result = await real.classify(bytes, options);
      return forceHeatmap && result.accepted
        ? { ...result, heatmap: { png: heatmapPng, width: 32, height: 32 } }
        : result;
    },
  };
  const logger = createLogger({ level: 'debug', write: (line) => logLines.push(line) });
  bot = createDiscordBot({ config, classifier, logger });
  await bot.start();
  chest = await makeChestLikeJpeg(256, 256);
});

afterAll(async () => {
  if (!stopped) await bot?.stop();
  await real?.close();
  await fake?.close();
  await new Promise<void>((resolve) => (foreign?.server ? foreign.server.close(() => resolve()) : resolve()));
});

const isCallback = (i: SentInteraction) => (r: RecordedRequest) =>
  r.method === 'POST' && r.path.endsWith(`/interactions/${i.id}/${i.token}/callback`);
const isEdit = (i: SentInteraction) => (r: RecordedRequest) =>
  r.method === 'PATCH' && r.path.endsWith(`/webhooks/${APPLICATION_ID}/${i.token}/messages/@original`);
const downloads = (name: string) =>
  fake.requests.filter((r) => r.method === 'GET' && r.path === `/files/${name}`);

/** Dispatches an interaction and waits for the deferral and the edited reply. */
async function run(
  i: SentInteraction,
): Promise<{ deferral: MessageBody; edit: RecordedRequest; body: MessageBody }> {
  fake.dispatch('INTERACTION_CREATE', i.payload);
  const callback = await fake.waitForRequest(isCallback(i));
  const edit = await fake.waitForRequest(isEdit(i));
  const deferral = callback.json as { type: number; data: MessageBody };
  expect(deferral.type).toBe(5); // DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
  return { deferral: deferral.data, edit, body: edit.json as MessageBody };
}

function embedText(body: MessageBody): string {
  const e = body.embeds?.[0];
  return [e?.title, e?.description, e?.footer?.text].join('\n');
}

function serve(name: string, bytes: Uint8Array, contentType: string) {
  return { url: fake.serveFile(name, bytes, contentType), filename: name, contentType, size: bytes.length };
}

describe('Discord adapter', () => {
  it('connects with the Guilds intent only', () => {
    const identify = fake.gateway.find((m) => m.op === 2)?.d as { intents: number; token: string };
    expect(identify.intents).toBe(1);
    expect(bot.client.isReady()).toBe(true);
  });

  it('/xray defers ephemerally, downloads, and edits in the probability and disclaimer', async () => {
    const i = slashXray({
      applicationId: APPLICATION_ID,
      attachment: serve('chest.jpg', chest, 'image/jpeg'),
    });
    const { deferral, body } = await run(i);
    expect(deferral.flags).toBe(EPHEMERAL);
    const text = embedText(body);
    expect(text).toContain('Estimated probability of COVID-19:');
    expect(text).toContain(en.disclaimer);
    expect(text).toContain(en.result.modelVersion('test-0.1'));
    expect(body.embeds?.[0]?.image).toBeUndefined();
    expect(downloads('chest.jpg')).toHaveLength(1);
  });

  it('public:true posts the result for everyone', async () => {
    const i = slashXray({
      applicationId: APPLICATION_ID,
      attachment: serve('public.jpg', chest, 'image/jpeg'),
      public: true,
    });
    const { deferral, body } = await run(i);
    expect((deferral.flags ?? 0) & EPHEMERAL).toBe(0);
    expect(embedText(body)).toContain('Estimated probability of COVID-19:');
  });

  it('sends the heatmap as the embed image when the result has one', async () => {
    forceHeatmap = true;
    try {
      const i = slashXray({
        applicationId: APPLICATION_ID,
        attachment: serve('heat.jpg', chest, 'image/jpeg'),
      });
      const { edit, body } = await run(i);
      expect(edit.headers['content-type']).toMatch(/^multipart\/form-data/);
      expect(edit.files).toEqual(['heatmap.png']);
      expect(body.embeds?.[0]?.image?.url).toBe('attachment://heatmap.png');
      expect(embedText(body)).toContain(en.result.heatmapCaption);
    } finally {
      forceHeatmap = false;
    }
  });

  it('the context-menu command reads the first image of the message', async () => {
    const notes = Buffer.from('just some notes');
    const i = analyzeMessage({
      applicationId: APPLICATION_ID,
      attachments: [serve('notes.txt', notes, 'text/plain'), serve('context.png', chest, 'image/jpeg')],
    });
    const { deferral, body } = await run(i);
    expect(deferral.flags).toBe(EPHEMERAL);
    expect(embedText(body)).toContain('Estimated probability of COVID-19:');
    expect(downloads('context.png')).toHaveLength(1);
    expect(downloads('notes.txt')).toHaveLength(0);
  });

  it('the context-menu command on a message without an image says so', async () => {
    const i = analyzeMessage({ applicationId: APPLICATION_ID, attachments: [], content: 'no picture here' });
    const { deferral, body } = await run(i);
    expect(deferral.flags).toBe(EPHEMERAL);
    expect(body.content).toBe(en.bot.noImageInMessage);
    expect(body.embeds).toEqual([]);
  });

  it('refuses a non-image attachment without downloading it', async () => {
    const pdf = Buffer.from('%PDF-1.4 not an x-ray');
    const i = slashXray({
      applicationId: APPLICATION_ID,
      attachment: serve('report.pdf', pdf, 'application/pdf'),
    });
    const { deferral, body } = await run(i);
    expect(deferral.flags).toBe(EPHEMERAL);
    expect(body.content).toBe(en.errors.unsupported_format({}));
    expect(downloads('report.pdf')).toHaveLength(0);
  });

  it('refuses an attachment over the size limit without downloading it, even when asked to be public', async () => {
    const i = slashXray({
      applicationId: APPLICATION_ID,
      attachment: { ...serve('huge.jpg', chest, 'image/jpeg'), size: 5 * 1024 * 1024 },
      public: true,
    });
    const { deferral, body } = await run(i);
    expect(deferral.flags).toBe(EPHEMERAL);
    expect(body.content).toBe(en.errors.image_too_large({ limitMb: 1 }));
    expect(downloads('huge.jpg')).toHaveLength(0);
  });

  it('never fetches an attachment URL outside the allowed hosts', async () => {
    const url = `http://${foreign.host}/files/chest.jpg`;
    const i = slashXray({
      applicationId: APPLICATION_ID,
      attachment: { url, filename: 'chest.jpg', contentType: 'image/jpeg', size: chest.length },
    });
    const { body } = await run(i);
    expect(body.content).toBe(en.errors.unsupported_format({ reason: 'host' }));
    expect(foreign.hits).toBe(0);
  });

  it.skipIf(!existsSync(new URL('../helpers/dicom.ts', import.meta.url)))(
    'reads a DICOM attachment',
    async () => {
      const { makeDicom } = await import('../helpers/dicom.js');
      const { data, info } = await sharp(chest).greyscale().raw().toBuffer({ resolveWithObject: true });
      const dicom = makeDicom({ width: info.width, height: info.height, pixels: new Uint8Array(data) });
      const i = slashXray({
        applicationId: APPLICATION_ID,
        attachment: serve('scan.dcm', dicom, 'application/dicom'),
      });
      const { body } = await run(i);
      expect(embedText(body)).toContain(en.disclaimer);
      expect(embedText(body)).toContain(en.result.modelVersion('test-0.1'));
      expect(downloads('scan.dcm')).toHaveLength(1);
    },
  );

  it("answers in the user's language", async () => {
    const i = slashXray({
      applicationId: APPLICATION_ID,
      locale: 'es-ES',
      attachment: serve('es.jpg', chest, 'image/jpeg'),
    });
    const { body } = await run(i);
    expect(embedText(body)).toContain('Probabilidad estimada de COVID-19:');
    expect(embedText(body)).toContain(es.disclaimer);

    const pdf = analyzeMessage({
      applicationId: APPLICATION_ID,
      locale: 'es-419',
      attachments: [serve('es.pdf', Buffer.from('%PDF'), 'application/pdf')],
    });
    expect((await run(pdf)).body.content).toBe(es.bot.noImageInMessage);
  });

  it('answers a colour photo (not an X-ray) with the gate refusal and no probability', async () => {
    const i = slashXray({
      applicationId: APPLICATION_ID,
      attachment: serve('selfie.jpg', await makeColourPhotoJpeg(320, 240), 'image/jpeg'),
    });
    const { body } = await run(i);
    const text = `${body.content ?? ''}\n${embedText(body)}`;
    expect(text).toContain(en.refusal.colour_image);
    expect(text).not.toContain('Estimated probability of COVID-19:');
  });

  it('says in the reply when the image is a phone photo of a film', async () => {
    const i = slashXray({
      applicationId: APPLICATION_ID,
      attachment: serve('film-photo.jpg', await makeFilmPhotoJpeg(), 'image/jpeg'),
    });
    const text = embedText((await run(i)).body);
    expect(text).toContain('Estimated probability of COVID-19:');
    expect(text).toContain(en.result.photoNote());
  });

  it('explains a corrupt image, and the next interaction still works', async () => {
    const broken = chest.subarray(0, 400);
    const bad = slashXray({
      applicationId: APPLICATION_ID,
      attachment: serve('broken.jpg', broken, 'image/jpeg'),
    });
    expect((await run(bad)).body.content).toBe(en.errors.unreadable_image({}));

    const good = slashXray({
      applicationId: APPLICATION_ID,
      attachment: serve('after.jpg', chest, 'image/jpeg'),
    });
    expect(embedText((await run(good)).body)).toContain('Estimated probability of COVID-19:');
  });

  it('moves a failure after a public deferral to an ephemeral follow-up', async () => {
    const broken = chest.subarray(0, 400);
    const i = slashXray({
      applicationId: APPLICATION_ID,
      attachment: serve('broken-public.jpg', broken, 'image/jpeg'),
      public: true,
    });
    fake.dispatch('INTERACTION_CREATE', i.payload);
    const callback = await fake.waitForRequest(isCallback(i));
    expect(((callback.json as { data: MessageBody }).data.flags ?? 0) & EPHEMERAL).toBe(0);
    await fake.waitForRequest(
      (r) => r.method === 'DELETE' && r.path.endsWith(`/${i.token}/messages/@original`),
    );
    const followUp = await fake.waitForRequest(
      (r) => r.method === 'POST' && r.path.endsWith(`/webhooks/${APPLICATION_ID}/${i.token}`),
    );
    const body = followUp.json as MessageBody;
    expect(body.flags).toBe(EPHEMERAL);
    expect(body.content).toBe(en.errors.unreadable_image({}));
  });

  it('busy, timeout and a stalled download each end in an edited reply', async () => {
    failNext = new BusyError();
    const busy = slashXray({
      applicationId: APPLICATION_ID,
      attachment: serve('busy.jpg', chest, 'image/jpeg'),
    });
    expect((await run(busy)).body.content).toBe(en.errors.busy({}));

    failNext = new TimeoutError(30_000);
    const slow = slashXray({
      applicationId: APPLICATION_ID,
      attachment: serve('slow.jpg', chest, 'image/jpeg'),
    });
    expect((await run(slow)).body.content).toBe(en.errors.timeout({ seconds: 30 }));

    const stalled = slashXray({
      applicationId: APPLICATION_ID,
      attachment: {
        url: fake.stallFile('stalled.jpg'),
        filename: 'stalled.jpg',
        contentType: 'image/jpeg',
        size: 5000,
      },
    });
    expect((await run(stalled)).body.content).toBe(en.errors.timeout({ seconds: 1 }));
  });

  it('rate-limits one user with a friendly reply', async () => {
    const userId = '999999999999999999';
    const replies: (string | undefined)[] = [];
    for (let n = 0; n < 4; n += 1) {
      const i = analyzeMessage({ applicationId: APPLICATION_ID, userId, attachments: [] });
      replies.push((await run(i)).body.content);
    }
    expect(replies.slice(0, 3)).toEqual([
      en.bot.noImageInMessage,
      en.bot.noImageInMessage,
      en.bot.noImageInMessage,
    ]);
    expect(replies[3]).toMatch(
      /^You are sending images faster than I can read them\. Please wait \d+ seconds/,
    );
  });

  it('survives an interaction Discord already expired', async () => {
    const late = slashXray({
      applicationId: APPLICATION_ID,
      attachment: serve('late.jpg', chest, 'image/jpeg'),
    });
    fake.expireInteraction(late.id);
    fake.dispatch('INTERACTION_CREATE', late.payload);
    await fake.waitForRequest(isCallback(late));

    const next = slashXray({
      applicationId: APPLICATION_ID,
      attachment: serve('next.jpg', chest, 'image/jpeg'),
    });
    expect(embedText((await run(next)).body)).toContain('Estimated probability of COVID-19:');
    expect(fake.requests.some(isEdit(late))).toBe(false);
    expect(downloads('late.jpg')).toHaveLength(0);
    expect(logLines.some((l) => l.includes('Could not acknowledge an interaction'))).toBe(true);
  });

  it('stops cleanly, and no log line holds the token, an interaction token or a file URL', async () => {
    await bot.stop();
    stopped = true;
    await expect.poll(() => fake.openSockets()).toBe(0);
    expect(logLines.length).toBeGreaterThan(0);
    const log = logLines.join('\n');
    expect(log).not.toContain(TOKEN);
    expect(log).not.toContain('aW50ZXJhY3Rpb246');
    expect(log).not.toContain('/files/');
    expect(log).toContain('Interaction answered');
  });
});
