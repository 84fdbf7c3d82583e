import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import {
  formatError,
  LOCALES,
  messages,
  XrayError,
  type Config,
  type ModelCard,
} from '../../../src/index.js';
import { renderAbout } from '../about.js';
import { escapeHtml, fillTemplate, jsonForHtml } from '../html.js';
import { limitMb, requestLocale } from '../i18n.js';
import { etagOf, loadAsset, type Asset } from '../static-assets.js';

export interface PageDeps {
  config: Config;
  card: ModelCard;
}

/** The strings the page's script needs, rendered here so the script holds no wording. */
export interface PageData {
  maxBytes: number;
  strings: {
    working: string;
    errorTitle: string;
    networkError: string;
    tooLarge: string;
    yourImage: string;
    heatmapAlt: string;
  };
}

export function renderPage(template: string, locale: string, deps: PageDeps): string {
  const c = messages(locale);
  const w = c.web;
  const mb = limitMb(deps.config.maxImageBytes);
  const data: PageData = {
    maxBytes: deps.config.maxImageBytes,
    strings: {
      working: c.bot.working,
      errorTitle: w.errorTitle,
      networkError: w.networkError,
      tooLarge: formatError(
        new XrayError('image_too_large', 'Upload over the limit.', { details: { limitMb: mb } }),
        locale,
      ),
      yourImage: w.yourImage,
      heatmapAlt: w.heatmapAlt,
    },
  };
  const languageLinks = LOCALES.map((l) => {
    const name = escapeHtml(messages(l).web.languageName);
    const current = l === locale ? ' aria-current="true"' : '';
    return `<a href="/?lang=${l}" hreflang="${l}" lang="${l}"${current}>${name}</a>`;
  }).join('\n');
  return fillTemplate(
    template,
    {
      lang: locale,
      title: w.title,
      intro: w.intro,
      languageLabel: w.languageLabel,
      pick: w.pick,
      dropHint: w.dropHint,
      formats: w.formats(new Intl.NumberFormat(c.locale).format(mb)),
      noscript: w.noscript,
      disclaimer: c.disclaimer,
      privacyHeading: w.privacyHeading,
      privacy: c.bot.privacy,
      aboutHeading: w.aboutHeading,
      apiNote: w.apiNote,
    },
    { languageLinks, about: renderAbout(deps.card, locale), pageData: jsonForHtml(data) },
  );
}

function sendAsset(request: FastifyRequest, reply: FastifyReply, asset: Asset, body = asset.body) {
  // Revalidated on every load, so a redeploy never mixes an old script with a new page.
  void reply.header('cache-control', 'no-cache').header('etag', asset.etag).type(asset.type);
  if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
  return reply.send(body);
}

export const pageRoutes: FastifyPluginAsync<PageDeps> = async (app, deps) => {
  const [page, script, style] = await Promise.all([
    loadAsset('index.html'),
    loadAsset('app.js'),
    loadAsset('style.css'),
  ]);
  // The card does not change while the server runs: render each language once.
  const rendered = new Map<string, Asset>();
  const pageFor = (locale: string): Asset => {
    let asset = rendered.get(locale);
    if (asset === undefined) {
      const body = renderPage(page.body, locale, deps);
      asset = { ...page, body, etag: etagOf(body) };
      rendered.set(locale, asset);
    }
    return asset;
  };

  app.get('/', (request, reply) => {
    const locale = requestLocale(request);
    void reply.header('vary', 'accept-language').header('content-language', locale);
    return sendAsset(request, reply, pageFor(locale));
  });
  app.get('/about', (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const lang =
      typeof query['lang'] === 'string' && LOCALES.includes(query['lang']) ? `?lang=${query['lang']}` : '';
    return reply.redirect(`/${lang}#about`);
  });
  app.get('/app.js', (request, reply) => sendAsset(request, reply, script));
  app.get('/style.css', (request, reply) => sendAsset(request, reply, style));
};
