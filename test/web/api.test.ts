import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderAbout } from '../../adapters/web/about.js';
import { toResultJson } from '../../adapters/web/result-json.js';
import { createWebServer, CONTENT_SECURITY_POLICY, type WebServer } from '../../adapters/web/index.js';
import {
  createClassifier,
  createLogger,
  loadConfig,
  messages,
  type Classifier,
  type Config,
} from '../../src/index.js';
import { makeChestLikeJpeg } from '../helpers/images.js';
import { makeTestModel } from '../helpers/model.js';

/** Tests run the real server on a random port and talk to it with Node's fetch, like a client would. */
let classifier: Classifier;
let jpeg: Buffer;
const logLines: string[] = [];
const servers: WebServer[] = [];

async function serve(overrides: Partial<Config> = {}): Promise<string> {
  const base = loadConfig({ WEB_PORT: '0', RATE_LIMIT_PER_MINUTE: '1000', MAX_IMAGE_MB: '10' });
  const config: Config = { ...base, ...overrides };
  const logger = createLogger({ level: 'debug', write: (line) => logLines.push(line) });
  const server = createWebServer({ config, classifier, logger });
  servers.push(server);
  return server.start();
}

let url: string;
let smallUrl: string; // 64 KiB upload limit
const SMALL_LIMIT = 64 * 1024;

beforeAll(async () => {
  classifier = await createClassifier({ modelDir: await makeTestModel(), workers: 1 });
  jpeg = await makeChestLikeJpeg(256, 256);
  url = await serve();
  smallUrl = await serve({ maxImageBytes: SMALL_LIMIT });
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await classifier?.close();
});

type Json = Record<string, unknown> & { parts?: Record<string, string> };

async function post(
  base: string,
  body: BodyInit | Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Json; headers: Headers }> {
  // A Buffer may sit on a SharedArrayBuffer as far as the DOM types know: send a plain copy.
  const payload = Buffer.isBuffer(body) ? new Uint8Array(body) : body;
  const response = await fetch(`${base}/api/classify`, { method: 'POST', body: payload, headers });
  return { status: response.status, json: (await response.json()) as Json, headers: response.headers };
}

function form(bytes: Uint8Array, name = 'xray.jpg', type = 'image/jpeg'): FormData {
  const data = new FormData();
  data.append('file', new Blob([new Uint8Array(bytes)], { type }), name);
  return data;
}

async function animatedGif(): Promise<Buffer> {
  const side = 64;
  const frames = 3;
  const raw = Buffer.alloc(side * side * frames * 3);
  for (let f = 0; f < frames; f++) raw.fill(40 + f * 80, f * side * side * 3, (f + 1) * side * side * 3);
  return sharp(raw, { raw: { width: side, height: side * frames, channels: 3, pageHeight: side } })
    .gif()
    .toBuffer();
}

const en = messages('en');

describe('POST /api/classify', () => {
  it('answers a raw JPEG with the result and its formatted parts', async () => {
    const { status, json, headers } = await post(url, jpeg, { 'content-type': 'image/jpeg' });
    expect(status).toBe(200);
    expect(headers.get('cache-control')).toBe('no-store');
    expect(json['modelVersion']).toBe('test-0.1');
    expect(json['locale']).toBe('en');
    expect(json.parts?.['disclaimer']).toBe(en.disclaimer);
    if (json['accepted'] === true) {
      expect(json['probability']).toBeGreaterThanOrEqual(0);
      expect(json['probability']).toBeLessThanOrEqual(1);
      expect(json.parts?.['headline']).toMatch(/%/);
      expect(json.parts?.['meaning']).not.toBe('');
    } else {
      expect(typeof json['reason']).toBe('string');
    }
    const heatmap = json['heatmap'] as { dataUrl?: unknown } | undefined;
    if (heatmap !== undefined) expect(heatmap.dataUrl).toMatch(/^data:image\/png;base64,[A-Za-z0-9+/]+=*$/);
    expect(JSON.stringify(json)).not.toMatch(/"png"/);
  });

  it('answers a multipart upload with one file and a DICOM-typed raw body', async () => {
    const multipart = await post(url, form(jpeg));
    expect(multipart.status).toBe(200);
    expect(multipart.json['modelVersion']).toBe('test-0.1');
    const dicomTyped = await post(url, jpeg, { 'content-type': 'application/dicom' });
    expect(dicomTyped.status).toBe(200);
  });

  it('refuses a text file with 415 unsupported_format, raw or multipart', async () => {
    const text = Buffer.from('Patient notes: nothing to see here.\n'.repeat(20));
    const asText = await post(url, text, { 'content-type': 'text/plain' });
    expect([asText.status, asText.json['code']]).toEqual([415, 'unsupported_format']);
    expect(asText.json['message']).toBe(en.errors.unsupported_format({}));
    const asBytes = await post(url, text, { 'content-type': 'application/octet-stream' });
    expect([asBytes.status, asBytes.json['code']]).toEqual([415, 'unsupported_format']);
    const asForm = await post(url, form(text, 'notes.txt', 'text/plain'));
    expect([asForm.status, asForm.json['code']]).toEqual([415, 'unsupported_format']);
    const json = await post(url, '{"a":1}', { 'content-type': 'application/json' });
    expect([json.status, json.json['code']]).toEqual([415, 'unsupported_format']);
  });

  it('answers a corrupt or empty JPEG with 400 unreadable_image', async () => {
    const truncated = await post(url, jpeg.subarray(0, Math.floor(jpeg.length / 2)), {
      'content-type': 'image/jpeg',
    });
    expect([truncated.status, truncated.json['code']]).toEqual([400, 'unreadable_image']);
    const garbage = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(4000, 7)]);
    const bad = await post(url, garbage, { 'content-type': 'image/jpeg' });
    expect([bad.status, bad.json['code']]).toEqual([400, 'unreadable_image']);
    const empty = await post(url, Buffer.alloc(0), { 'content-type': 'image/jpeg' });
    expect([empty.status, empty.json['code']]).toEqual([400, 'unreadable_image']);
  });

  it('answers a cut-off multipart form with 400 and a form without a file with 415', async () => {
    const cut = await post(
      url,
      '--XX\r\nContent-Disposition: form-data; name="f"; filename="a.jpg"\r\n\r\nabc',
      {
        'content-type': 'multipart/form-data; boundary=XX',
      },
    );
    expect([cut.status, cut.json['code']]).toEqual([400, 'unreadable_image']);
    const fields = new FormData();
    fields.append('note', 'no file here');
    const noFile = await post(url, fields);
    expect([noFile.status, noFile.json['code']]).toEqual([415, 'unsupported_format']);
  });

  it('refuses SVG (415 vector_image) and an animated GIF (415 animated_image)', async () => {
    const svg = Buffer.from(
      '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64"/></svg>',
    );
    const vector = await post(url, svg, { 'content-type': 'image/svg+xml' });
    expect([vector.status, vector.json['code']]).toEqual([415, 'vector_image']);
    const animated = await post(url, await animatedGif(), { 'content-type': 'image/gif' });
    expect([animated.status, animated.json['code']]).toEqual([415, 'animated_image']);
  });

  it('stops a raw upload over the limit early with 413 image_too_large', async () => {
    // Declared too large: refused from the Content-Length alone.
    const declared = await post(smallUrl, Buffer.alloc(SMALL_LIMIT * 4, 1), { 'content-type': 'image/jpeg' });
    expect([declared.status, declared.json['code']]).toEqual([413, 'image_too_large']);
    expect(declared.json['message']).toBe(en.errors.image_too_large({ limitMb: 0.1 }));

    // Streamed without a length (chunked): the server must stop reading long before the end.
    const total = 64 * 1024 * 1024;
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= total) {
          controller.close();
          return;
        }
        sent += 64 * 1024;
        controller.enqueue(new Uint8Array(64 * 1024));
      },
    });
    const response = await fetch(`${smallUrl}/api/classify`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/octet-stream' },
      duplex: 'half',
    } as RequestInit & { duplex: 'half' });
    expect(response.status).toBe(413);
    expect(((await response.json()) as Json)['code']).toBe('image_too_large');
    expect(sent).toBeLessThan(total / 4);
  });

  it('stops a multipart file over the limit with 413 image_too_large', async () => {
    const big = await post(smallUrl, form(Buffer.alloc(SMALL_LIMIT * 3, 1)));
    expect([big.status, big.json['code']]).toEqual([413, 'image_too_large']);
    // The server keeps serving after refusing.
    expect((await post(smallUrl, jpeg.subarray(0, 100), { 'content-type': 'image/jpeg' })).status).toBe(400);
  });

  it('answers in the request language (Accept-Language es)', async () => {
    const text = Buffer.from('hola');
    const { status, json } = await post(url, text, {
      'content-type': 'text/plain',
      'accept-language': 'es-ES,es;q=0.9,en;q=0.5',
    });
    expect(status).toBe(415);
    expect(json['message']).toBe(messages('es').errors.unsupported_format({}));
    const ok = await post(url, jpeg, { 'content-type': 'image/jpeg', 'accept-language': 'es' });
    expect(ok.json.parts?.['disclaimer']).toBe(messages('es').disclaimer);
  });

  it('answers busy (503) once too many uploads are in flight, and recovers', async () => {
    // workers 1 + queue 0: the cap is its minimum of 4 uploads in flight.
    const tight = await serve({ workers: 1, queueLimit: 0 });
    const releases: (() => void)[] = [];
    const slow = Array.from({ length: 4 }, () => {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new Uint8Array(jpeg.subarray(0, 100)));
          releases.push(() => controller.close());
        },
      });
      return fetch(`${tight}/api/classify`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'image/jpeg' },
        duplex: 'half',
      } as RequestInit & { duplex: 'half' });
    });
    // The four slow uploads register as their headers arrive; poll rather than guess how long that takes.
    let refused = await post(tight, jpeg, { 'content-type': 'image/jpeg' });
    for (let i = 0; i < 50 && refused.status !== 503; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      refused = await post(tight, jpeg, { 'content-type': 'image/jpeg' });
    }
    expect([refused.status, refused.json['code']]).toEqual([503, 'busy']);
    for (const release of releases) release();
    // The cut-off JPEGs are answered (400) and the slots are free again.
    expect((await Promise.all(slow)).map((r) => r.status)).toEqual([400, 400, 400, 400]);
    expect((await post(tight, jpeg, { 'content-type': 'image/jpeg' })).status).toBe(200);
  });

  it('rate-limits each client with 429 rate_limited and Retry-After', async () => {
    const strict = await serve({ rateLimitPerMinute: 2 });
    const statuses: number[] = [];
    let last: Awaited<ReturnType<typeof post>> | undefined;
    for (let i = 0; i < 4; i++) {
      last = await post(strict, jpeg, { 'content-type': 'image/jpeg' });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 429, 429]);
    expect(last?.json['code']).toBe('rate_limited');
    expect(last?.json['message']).toMatch(/seconds/);
    expect(Number(last?.headers.get('retry-after'))).toBeGreaterThan(0);
    // Other routes are not limited.
    expect((await fetch(`${strict}/healthz`)).status).toBe(200);
  });
});

describe('other routes', () => {
  it('GET /healthz says ok with the model version', async () => {
    const response = await fetch(`${url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ok', modelVersion: 'test-0.1' });
  });

  it('GET /api/model returns the model card', async () => {
    const response = await fetch(`${url}/api/model`);
    expect(response.status).toBe(200);
    const card = (await response.json()) as Record<string, unknown>;
    expect(card['version']).toBe('test-0.1');
    expect(card['disclaimer']).toBe(classifier.card.disclaimer);
    expect(Array.isArray(card['limitations'])).toBe(true);
  });

  it('serves the page in the browser language with the about section, and /about points to it', async () => {
    const es = messages('es');
    const page = await fetch(`${url}/`, { headers: { 'accept-language': 'es-MX,es;q=0.8' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('vary')).toMatch(/accept-language/i);
    const html = await page.text();
    expect(html).toContain('<html lang="es">');
    expect(html).toContain(es.web.title);
    expect(html).toContain(es.web.aboutHeading);
    expect(html).toContain(es.disclaimer);
    expect(html).toContain('test-0.1');
    expect(html).not.toMatch(/\{\{\{?[A-Za-z]/); // every placeholder filled
    // No other host is referenced: every src/href is local, a data: URL or an in-page link.
    for (const [, ref] of html.matchAll(/(?:src|href|action)="([^"]*)"/g))
      expect(ref).toMatch(/^(\/|#|data:|\?)/);
    const english = await (await fetch(`${url}/?lang=en`, { headers: { 'accept-language': 'es' } })).text();
    expect(english).toContain('<html lang="en">');

    const about = await fetch(`${url}/about?lang=ru`, { redirect: 'manual' });
    expect(about.status).toBe(302);
    expect(about.headers.get('location')).toBe('/?lang=ru#about');
  });

  it('serves the script and style with validators', async () => {
    const script = await fetch(`${url}/app.js`);
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    const etag = script.headers.get('etag') ?? '';
    expect(etag).not.toBe('');
    expect((await fetch(`${url}/app.js`, { headers: { 'if-none-match': etag } })).status).toBe(304);
    expect((await fetch(`${url}/style.css`)).headers.get('content-type')).toMatch(/^text\/css/);
  });

  it('sends the security headers on pages, API answers, errors and 404s', async () => {
    const responses = await Promise.all([
      fetch(`${url}/`),
      fetch(`${url}/api/model`),
      fetch(`${url}/api/classify`, { method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } }),
      fetch(`${url}/nope`),
    ]);
    for (const response of responses) {
      expect(response.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
      await response.body?.cancel();
    }
    expect(CONTENT_SECURITY_POLICY).toBe(
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
  });

  it('binds to 127.0.0.1 by default and logs only method, route, status and duration', async () => {
    expect(loadConfig({}).web.host).toBe('127.0.0.1');
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await post(url, form(Buffer.from('secret words'), 'jane-doe-xray.jpg'), { 'accept-language': 'ru' });
    const requestLines = logLines.filter((l) => l.includes(' request {'));
    expect(requestLines.length).toBeGreaterThan(10);
    for (const line of requestLines) {
      const fields = JSON.parse(line.slice(line.indexOf('{'))) as Record<string, unknown>;
      expect(Object.keys(fields).sort()).toEqual(['method', 'ms', 'route', 'status']);
    }
    const all = logLines.join('\n');
    expect(all).not.toContain('jane-doe');
    expect(all).not.toContain('secret words');
    expect(all).not.toContain('Patient notes');
  });
});

describe('result JSON', () => {
  it('carries a heatmap as a PNG data URL and the caption in parts', async () => {
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#f00' } })
      .png()
      .toBuffer();
    const json = toResultJson(
      {
        accepted: true,
        probability: 0.7,
        label: 'covid',
        threshold: 0.5,
        modelVersion: 'v1',
        photo: false,
        heatmap: { png: new Uint8Array(png), width: 8, height: 8 },
        timings: { preprocessMs: 1, inferenceMs: 1, explainMs: 1, totalMs: 3 },
      },
      'ru',
    );
    expect(json.accepted && json.heatmap?.dataUrl).toBe(`data:image/png;base64,${png.toString('base64')}`);
    expect(json.parts.heatmapCaption).toBe(messages('ru').result.heatmapCaption);
    expect(JSON.stringify(json)).not.toContain('"png"');
  });
});

describe('about section', () => {
  it('renders whatever the card holds, escaped, and survives odd shapes', () => {
    const card = {
      ...classifier.card,
      limitations: ['<script>alert(1)</script> & more'],
      data: { sources: ['a<b'], trainImages: 'many' },
      metrics: {
        test: { n: 10, auc: null, sensitivity: 0.5, specificity: 'high' },
        unseenSource: [{ source: 'x', auc: 0.6 }, 'junk'],
        perSource: { y: { auc: 0.7 }, z: 'junk', w: { note: 'no numbers' } },
      },
    } as unknown as Classifier['card'];
    const html = renderAbout(card, 'en');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; more');
    expect(html).not.toContain('<script>');
    expect(html).toContain('Collections: a&lt;b');
    expect(html).not.toContain('Training images');
    expect(html.match(/<tr><th scope="row">/g)).toHaveLength(3); // test, unseen x, source y
    expect(html).toContain('Collection never seen in training (x)');
    expect(
      renderAbout({ ...classifier.card, metrics: undefined } as unknown as Classifier['card'], 'es'),
    ).toContain(messages('es').web.noMetrics);
  });
});
