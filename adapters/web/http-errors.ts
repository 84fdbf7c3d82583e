import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { formatError, isXrayError, XrayError, type Logger } from '../../src/index.js';
import { limitMb, requestLocale } from './i18n.js';

/** What every failed request gets: a stable code and a sentence in the request's language. */
export interface ErrorBody {
  code: XrayError['code'];
  message: string;
}

const TOO_LARGE = new Set(['FST_ERR_CTP_BODY_TOO_LARGE', 'FST_REQ_FILE_TOO_LARGE']);
// Not an image upload we take: wrong content type, or a form that is not "one file".
const NOT_AN_UPLOAD = new Set([
  'FST_ERR_CTP_INVALID_MEDIA_TYPE',
  'FST_INVALID_MULTIPART_CONTENT_TYPE',
  'FST_FILES_LIMIT',
  'FST_PARTS_LIMIT',
  'FST_FIELDS_LIMIT',
]);

/** Fastify's and its plugins' errors as the core's typed errors, so the web answers like the bots. */
export function toWebError(error: unknown, maxBytes: number): XrayError {
  if (isXrayError(error)) return error;
  const { code, statusCode } = error as Partial<FastifyError>;
  if ((code !== undefined && TOO_LARGE.has(code)) || statusCode === 413) {
    return new XrayError('image_too_large', 'Upload over the limit.', {
      details: { limitMb: limitMb(maxBytes) },
    });
  }
  if ((code !== undefined && NOT_AN_UPLOAD.has(code)) || statusCode === 415) {
    return new XrayError('unsupported_format', 'Not an image upload.', {
      details: { reason: code ?? 'media' },
    });
  }
  if (statusCode === 429) return new XrayError('rate_limited', 'Too many requests.');
  // Other client errors are malformed requests (bad Content-Length, broken multipart, aborted upload).
  if (statusCode !== undefined && statusCode >= 400 && statusCode < 500) {
    return new XrayError('unreadable_image', 'Malformed request.', {
      details: { reason: code ?? String(statusCode) },
    });
  }
  return new XrayError('internal', 'Unexpected failure.', { cause: error });
}

const EXPECTED_SERVER_ERRORS = new Set<XrayError['code']>(['busy', 'timeout']);

export function createErrorHandler(options: { maxBytes: number; logger: Logger }) {
  return (error: unknown, request: FastifyRequest, reply: FastifyReply): void => {
    const xray = toWebError(error, options.maxBytes);
    if (xray.httpStatus >= 500 && !EXPECTED_SERVER_ERRORS.has(xray.code)) {
      // The cause tells the operator what broke; the user gets only the generic sentence.
      options.logger.error('request failed', {
        route: request.routeOptions.url ?? 'unmatched',
        code: xray.code,
        error: xray.cause instanceof Error ? xray.cause : xray,
      });
    }
    // After a too-large upload, close the connection rather than read the rest of it.
    if (xray.code === 'image_too_large') reply.header('connection', 'close');
    const body: ErrorBody = { code: xray.code, message: formatError(xray, requestLocale(request)) };
    void reply.code(xray.httpStatus).header('cache-control', 'no-store').send(body);
  };
}
