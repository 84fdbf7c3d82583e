import { XrayError } from './errors.js';

export interface DownloadOptions {
  maxBytes: number;
  timeoutMs: number;
  /** When set, only these host names (exact, lower case) may be fetched. */
  allowedHosts?: readonly string[];
  signal?: AbortSignal;
}

/**
 * Fetches a file with Node's own fetch, refusing hosts outside the allow-list, and stopping as
 * soon as the body passes `maxBytes` (the declared Content-Length is checked first, then the
 * stream is counted, so a lying server cannot make us buffer more). Errors never include the
 * URL: platform file URLs can carry the bot token.
 */
export async function downloadBytes(url: string, options: DownloadOptions): Promise<Uint8Array> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new XrayError('unreadable_image', 'The file address is not a valid URL.');
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new XrayError('unsupported_format', 'Only http(s) downloads are allowed.');
  }
  if (
    options.allowedHosts !== undefined &&
    !options.allowedHosts.includes(parsed.host.toLowerCase()) &&
    !options.allowedHosts.includes(parsed.hostname.toLowerCase())
  ) {
    throw new XrayError('unsupported_format', 'The file is not on an allowed host.', {
      details: { reason: 'host' },
    });
  }
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal === undefined ? timeout : AbortSignal.any([timeout, options.signal]);
  const tooLarge = () =>
    new XrayError('image_too_large', 'Download over the limit.', {
      details: { limitMb: Number((options.maxBytes / (1024 * 1024)).toFixed(1)) },
    });
  try {
    const response = await fetch(parsed, {
      signal,
      redirect: options.allowedHosts === undefined ? 'follow' : 'error',
    });
    if (!response.ok || response.body === null) {
      await response.body?.cancel();
      throw new XrayError('unreadable_image', `Download failed with HTTP ${response.status}.`);
    }
    const declared = Number(response.headers.get('content-length') ?? Number.NaN);
    if (Number.isFinite(declared) && declared > options.maxBytes) {
      await response.body.cancel();
      throw tooLarge();
    }
    const chunks: Uint8Array[] = [];
    let total = 0;
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > options.maxBytes) {
        await reader.cancel();
        throw tooLarge();
      }
      chunks.push(value);
    }
    return Buffer.concat(chunks);
  } catch (error) {
    if (error instanceof XrayError) throw error;
    if (timeout.aborted)
      throw new XrayError('timeout', 'Download timed out.', {
        details: { seconds: Math.ceil(options.timeoutMs / 1000) },
      });
    // The cause may hold the URL (and so a token): keep only its name.
    throw new XrayError(
      'unreadable_image',
      `Download failed (${error instanceof Error ? error.name : 'error'}).`,
    );
  }
}
