import type { FastifyRequest } from 'fastify';
import { LOCALES, resolveLocale } from '../../src/index.js';

/**
 * The request's language: an explicit `?lang=` (the page's language switcher) when we have that
 * language, else the browser's Accept-Language, else English.
 */
export function requestLocale(request: FastifyRequest): string {
  const query = request.query as Record<string, unknown> | undefined;
  const chosen = query?.['lang'];
  if (typeof chosen === 'string') {
    const base = chosen.trim().split(/[-_]/)[0]?.toLowerCase() ?? '';
    if (LOCALES.includes(base)) return base;
  }
  return resolveLocale(request.headers['accept-language']);
}

/** Size limit in MB for the messages: whole numbers normally, one decimal for tiny test limits. */
export function limitMb(maxBytes: number): number {
  return Math.round((maxBytes / (1024 * 1024)) * 10) / 10;
}
