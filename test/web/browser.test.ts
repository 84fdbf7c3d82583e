import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebServer, type WebServer } from '../../adapters/web/index.js';
import { toResultJson } from '../../adapters/web/result-json.js';
import { createClassifier, createLogger, loadConfig, messages, type Classifier } from '../../src/index.js';
import { makeChestLikeJpeg } from '../helpers/images.js';
import { makeTestModel } from '../helpers/model.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const SHOTS = path.resolve('test-output/web');

if (!HAVE_CHROMIUM)
  console.warn(`Skipping the web browser test: ${CHROMIUM} is not installed (apt-get install chromium).`);

/** The page in real headless Chromium: upload, result, refusal, language, and no request leaves 127.0.0.1. */
describe.skipIf(!HAVE_CHROMIUM)('web page in headless Chromium', () => {
  let classifier: Classifier;
  let server: WebServer;
  let browser: Browser;
  let origin: string;

  beforeAll(async () => {
    classifier = await createClassifier({ modelDir: await makeTestModel(), workers: 1 });
    const config = loadConfig({ WEB_PORT: '0', RATE_LIMIT_PER_MINUTE: '1000' });
    server = createWebServer({ config, classifier, logger: createLogger({ level: 'silent' }) });
    origin = await server.start();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    await mkdir(SHOTS, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await classifier?.close();
  });

  /** A page that records every request and every console error or page error. */
  async function openPage(options: {
    width: number;
    height: number;
    locale: string;
    colorScheme?: 'light' | 'dark';
  }) {
    const context = await browser.newContext({
      viewport: { width: options.width, height: options.height },
      locale: options.locale,
      colorScheme: options.colorScheme ?? 'light',
    });
    const page = await context.newPage();
    const requests: string[] = [];
    const problems: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    page.on('console', (message) => {
      if (message.type() !== 'error' && message.type() !== 'warning') return;
      // Chromium logs every 4xx answer to fetch as "Failed to load resource"; for the API that
      // status is the designed answer (e.g. 415 for a text file), so only that one is allowed.
      const expectedApiAnswer =
        /^Failed to load resource: the server responded with a status of 4\d\d/.test(message.text()) &&
        message.location().url === `${origin}/api/classify`;
      if (!expectedApiAnswer)
        problems.push(`${message.type()}: ${message.text()} (${message.location().url})`);
    });
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    await page.goto(`${origin}/`);
    return { page, requests, problems, close: () => context.close() };
  }

  function expectOnlyLocalRequests(requests: string[]) {
    expect(requests.length).toBeGreaterThan(0);
    for (const url of requests) {
      if (url.startsWith('data:') || url.startsWith('blob:')) continue;
      expect(new URL(url).hostname).toBe('127.0.0.1');
    }
  }

  async function resultText(page: Page, selector: string): Promise<string> {
    const card = page.locator(`#result ${selector}`);
    await card.waitFor({ timeout: 20_000 });
    return card.innerText();
  }

  it('reads an uploaded X-ray on a phone-sized screen, then shows a non-image refusal', async () => {
    const en = messages('en');
    const { page, requests, problems, close } = await openPage({ width: 390, height: 844, locale: 'en-US' });
    await expect(page.locator('h1').innerText()).resolves.toBe(en.web.title);
    // The file input has an accessible name (its label), and the result area is a live region.
    const input = page.getByLabel(en.web.pick);
    await expect(page.locator('#result').getAttribute('aria-live')).resolves.toBe('polite');

    await input.setInputFiles({
      name: 'chest.jpg',
      mimeType: 'image/jpeg',
      buffer: await makeChestLikeJpeg(512, 512),
    });
    const text = await resultText(page, '.card.accepted, .card.refused');
    expect(text).toContain(en.disclaimer);
    if (await page.locator('#result .card.accepted').count()) {
      expect(text).toMatch(/Estimated probability of COVID-19: [<>]?\d+(\.\d)?%/);
      expect(text).toContain('Model version: test-0.1');
    }
    await page.screenshot({ path: path.join(SHOTS, 'result-390.png'), fullPage: true });

    // A second file replaces the first answer.
    await input.setInputFiles({
      name: 'notes.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from('Not an image at all.'),
    });
    const refusal = await resultText(page, '.card.failed');
    expect(refusal).toContain(en.errors.unsupported_format({}));
    await expect(page.locator('#result .card').count()).resolves.toBe(1);
    await page.screenshot({ path: path.join(SHOTS, 'refusal-390.png') });

    // Nothing wider than the phone screen.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);

    expect(problems).toEqual([]);
    expectOnlyLocalRequests(requests);
    await close();
  });

  it('renders in Spanish for a Spanish browser, and the file input is reachable by keyboard', async () => {
    const es = messages('es');
    const { page, requests, problems, close } = await openPage({
      width: 1280,
      height: 900,
      locale: 'es-ES',
      colorScheme: 'dark',
    });
    await expect(page.locator('html').getAttribute('lang')).resolves.toBe('es');
    await expect(page.locator('h1').innerText()).resolves.toBe(es.web.title);

    let reached = false;
    for (let i = 0; i < 10 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement?.id === 'file');
    }
    expect(reached).toBe(true);

    await page.getByLabel(es.web.pick).setInputFiles({
      name: 'chest.jpg',
      mimeType: 'image/jpeg',
      buffer: await makeChestLikeJpeg(300, 360),
    });
    const text = await resultText(page, '.card.accepted, .card.refused');
    expect(text).toContain(es.disclaimer);
    await page.screenshot({ path: path.join(SHOTS, 'result-desktop-es-dark.png'), fullPage: true });

    expect(problems).toEqual([]);
    expectOnlyLocalRequests(requests);
    await close();
  });

  it('shows the heatmap (a data URL, allowed by the CSP) and the note on phone photos when a result has them', async () => {
    // The core's heatmap is still being built: the API answer is made by the real toResultJson
    // with a real PNG, and handed to the real page in place of the server's answer.
    const png = await sharp(await makeChestLikeJpeg(200, 200))
      .composite([
        {
          input: { create: { width: 80, height: 80, channels: 4, background: '#ff000088' } },
          left: 40,
          top: 50,
        },
      ])
      .png()
      .toBuffer();
    const body = toResultJson(
      {
        accepted: true,
        probability: 0.07,
        label: 'not_covid',
        threshold: 0.5,
        modelVersion: 'test-0.1',
        photo: true,
        photoChange: 0.11,
        heatmap: { png: new Uint8Array(png), width: 200, height: 200 },
        timings: { preprocessMs: 1, inferenceMs: 1, explainMs: 1, totalMs: 3 },
      },
      'en',
    );
    const { page, requests, problems, close } = await openPage({ width: 390, height: 844, locale: 'en-US' });
    await page.route(`${origin}/api/classify`, (route) => route.fulfill({ json: body }));
    await page
      .getByLabel(messages('en').web.pick)
      .setInputFiles({ name: 'x.png', mimeType: 'image/png', buffer: png });
    const figure = page.locator('#result figure');
    await figure.waitFor();
    await expect(figure.locator('img').getAttribute('alt')).resolves.toBe(messages('en').web.heatmapAlt);
    await expect(figure.innerText()).resolves.toBe(messages('en').result.heatmapCaption);
    await expect(page.locator('#result .photo-note').innerText()).resolves.toBe(
      messages('en').result.photoNote('11'),
    );
    await expect(
      figure.locator('img').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth),
    ).resolves.toBe(200);
    await page.locator('#result').screenshot({ path: path.join(SHOTS, 'heatmap-390.png') });
    expect(problems).toEqual([]);
    expectOnlyLocalRequests(requests);
    await close();
  });

  it('shows a full model card (metrics per source) readably at phone width', async () => {
    const card = {
      ...classifier.card,
      data: {
        description: 'Public chest X-ray collections.',
        sources: ['cohen', 'kermany', 'bimcv'],
        trainImages: 12345,
      },
      metrics: {
        validation: { n: 1200, auc: 0.94, sensitivity: 0.88, specificity: 0.9 },
        test: { n: 1500, auc: 0.93, auc_ci: [0.91, 0.95], sensitivity: 0.86, specificity: 0.91 },
        unseenSource: { source: 'bimcv', auc: 0.71 },
        perSource: {
          cohen: { n: 300, auc: 0.9, sensitivity: 0.85, specificity: null },
          kermany: { n: 900, auc: 0.95 },
        },
      },
    };
    const richServer = createWebServer({
      config: loadConfig({ WEB_PORT: '0' }),
      classifier: { ...classifier, card },
      logger: createLogger({ level: 'silent' }),
    });
    const richOrigin = await richServer.start();
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'ru-RU' });
    const page = await context.newPage();
    await page.goto(`${richOrigin}/about`);
    const ru = messages('ru');
    const table = page.locator('#about table');
    await expect(table.locator('tbody tr').count()).resolves.toBe(5);
    await expect(table.innerText()).resolves.toContain(ru.web.metricsSets.unseenSource('bimcv'));
    await expect(page.locator('#about').innerText()).resolves.toContain(ru.web.trainImages('12\u00a0345'));
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.locator('#about').screenshot({ path: path.join(SHOTS, 'about-390-ru.png') });
    await page.setViewportSize({ width: 1024, height: 800 });
    await page
      .locator('#about .table-scroll')
      .screenshot({ path: path.join(SHOTS, 'about-table-desktop-ru.png') });
    const tableOverflow = await page
      .locator('#about .table-scroll')
      .evaluate((el) => el.scrollWidth - el.clientWidth);
    expect(tableOverflow).toBeLessThanOrEqual(0);
    await context.close();
    await richServer.stop();
  });
});
