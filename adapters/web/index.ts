import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyInstance } from 'fastify';
import { XrayError, type Classifier, type Config, type Logger } from '../../src/index.js';
import { createErrorHandler } from './http-errors.js';
import { apiRoutes } from './routes/api.js';
import { pageRoutes } from './routes/page.js';
import { addSecurityHeaders } from './security-headers.js';

export { CONTENT_SECURITY_POLICY } from './security-headers.js';
export type { ErrorBody } from './http-errors.js';
export type { ResultJson, HeatmapJson } from './result-json.js';

export interface WebServerOptions {
  config: Config;
  /** A loaded classifier; the caller owns it (`stop()` does not close it). */
  classifier: Classifier;
  logger: Logger;
  /**
   * Fastify's `trustProxy`: set it to the reverse proxy's address (e.g. '127.0.0.1') so the rate
   * limit counts real clients from X-Forwarded-For instead of one proxy. Off by default: trusting
   * the header without a proxy would let anyone pick their own rate-limit key.
   */
  trustProxy?: boolean | string | string[];
  /** Longest time a client may take to send one request, ms (slow uploads hold memory). Default 60 s. */
  requestTimeoutMs?: number;
}

export interface WebServer {
  app: FastifyInstance;
  /** Listens on `config.web.host:port` and resolves to the address, e.g. `http://127.0.0.1:3000`. */
  start(): Promise<string>;
  stop(): Promise<void>;
}

/** The web adapter: one page, its two static files, and a JSON API, all on the core classifier. */
export function createWebServer(options: WebServerOptions): WebServer {
  const { config, classifier } = options;
  const logger = options.logger.child('web');
  let stopping = false;

  const app = Fastify({
    // Fastify's own logger is off (it would log URLs and error objects); we log one safe line per request.
    logger: false,
    trustProxy: options.trustProxy ?? false,
    requestTimeout: options.requestTimeoutMs ?? 60_000,
    bodyLimit: config.maxImageBytes,
    return503OnClosing: true,
  });

  addSecurityHeaders(app);
  app.setErrorHandler(createErrorHandler({ maxBytes: config.maxImageBytes, logger }));
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const line = {
      method: request.method,
      route,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime),
    };
    if (route === '/healthz') logger.debug('request', line);
    else logger.info('request', line);
  });

  void app.register(rateLimit, {
    global: false,
    errorResponseBuilder: (_request, context) =>
      new XrayError('rate_limited', 'Too many uploads from this client.', {
        details: { seconds: Math.max(1, Math.ceil(context.ttl / 1000)) },
      }),
  });
  void app.register(apiRoutes, {
    config,
    classifier,
    // Twice what the worker pool can hold, so uploads still arriving don't starve the queue,
    // while memory stays bounded by this many bodies of at most maxImageBytes.
    maxInFlight: Math.max(4, 2 * (config.workers + config.queueLimit)),
    stopping: () => stopping,
  });
  void app.register(pageRoutes, { config, card: classifier.card });

  return {
    app,
    async start() {
      const address = await app.listen({ host: config.web.host, port: config.web.port });
      logger.info('web adapter listening', { address });
      return address;
    },
    async stop() {
      stopping = true;
      await app.close();
    },
  };
}
