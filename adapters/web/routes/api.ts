import multipart from '@fastify/multipart';
import type { FastifyPluginAsync, onRequestHookHandler } from 'fastify';
import { BusyError, type Classifier, type Config } from '../../../src/index.js';
import { requestLocale } from '../i18n.js';
import { toResultJson } from '../result-json.js';
import { readUpload } from '../upload.js';

export interface ApiDeps {
  config: Config;
  classifier: Classifier;
  /** Uploads being received or classified at once; beyond it new uploads get `busy` before any byte is read. */
  maxInFlight: number;
  /** True once the server is stopping: health checks then fail so a proxy stops sending traffic. */
  stopping: () => boolean;
}

/** Raw uploads: any image type, DICOM, or "just bytes"; the core sniffs the real format itself. */
const RAW_TYPES: readonly (string | RegExp)[] = [
  /^image\//i,
  'application/octet-stream',
  'application/dicom',
];

export const apiRoutes: FastifyPluginAsync<ApiDeps> = async (app, deps) => {
  const { config, classifier } = deps;
  // Only image bodies are parsed in this scope (no JSON, no text): anything else is a 415 up front.
  app.removeAllContentTypeParsers();
  for (const type of RAW_TYPES) {
    app.addContentTypeParser(
      type,
      { parseAs: 'buffer', bodyLimit: config.maxImageBytes },
      (_request, body, done) => {
        done(null, body);
      },
    );
  }
  await app.register(multipart, { throwFileSizeLimit: true });

  let inFlight = 0;
  const limitInFlight: onRequestHookHandler = (_request, reply, done) => {
    if (inFlight >= deps.maxInFlight) {
      done(new BusyError());
      return;
    }
    inFlight += 1;
    // 'close' fires once per response, finished or cut off, so the count never leaks.
    reply.raw.once('close', () => {
      inFlight -= 1;
    });
    done();
  };

  app.post(
    '/api/classify',
    {
      onRequest: limitInFlight,
      config: { rateLimit: { max: config.rateLimitPerMinute, timeWindow: 60_000 } },
    },
    async (request, reply) => {
      const bytes = await readUpload(request, config.maxImageBytes);
      const result = await classifier.classify(bytes, { explain: config.explain });
      void reply.header('cache-control', 'no-store');
      return toResultJson(result, requestLocale(request));
    },
  );

  app.get('/api/model', async (_request, reply) => {
    void reply.header('cache-control', 'no-cache');
    return classifier.card;
  });

  app.get('/healthz', async (_request, reply) => {
    void reply.header('cache-control', 'no-store');
    if (deps.stopping()) return reply.code(503).send({ status: 'stopping' });
    return { status: 'ok', modelVersion: classifier.card.version, backend: classifier.backend };
  });
};
