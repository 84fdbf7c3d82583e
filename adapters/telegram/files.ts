/**
 * Which file of a Telegram message we read, and fetching its bytes. Sizes are checked against
 * what Telegram declares before anything is downloaded; the download itself is capped again.
 */
import { open } from 'node:fs/promises';
import path from 'node:path';
import { TelegramError, type Telegram } from 'telegraf';
import type { Document, PhotoSize } from 'telegraf/types';
import { XrayError } from '../../src/core/errors.js';
import { downloadBytes } from '../../src/core/download.js';

/** The cloud Bot API's getFile refuses files over 20 MB. */
export const BOT_API_DOWNLOAD_LIMIT = 20 * 1024 * 1024;

export interface ImageFile {
  source: 'photo' | 'document';
  fileId: string;
  /** As declared by Telegram; may be missing for documents. */
  fileSize: number | undefined;
}

/** What a message holds: an image to read, a file we cannot read, or no file at all. */
export type MessageFile = { kind: 'image'; file: ImageFile } | { kind: 'not_image' } | { kind: 'none' };

/** The message fields that can carry a file (a message, or the message a reply points to). */
export interface FileCarrier {
  photo?: readonly PhotoSize[];
  document?: Document;
  video?: unknown;
  animation?: unknown;
  audio?: unknown;
  voice?: unknown;
  video_note?: unknown;
  sticker?: unknown;
}

const NOT_IMAGE_KEYS = ['video', 'animation', 'audio', 'voice', 'video_note', 'sticker'] as const;
const IMAGE_NAME = /\.(jpe?g|jfif|png|webp|tiff?|gif|bmp|heic|heif|avif|jp2|dcm|dicom)$/i;
const DICOM_MIME = new Set(['application/dicom', 'application/dicom+file', 'application/x-dicom']);
const UNTYPED_MIME = new Set(['', 'application/octet-stream', 'binary/octet-stream']);

export function findImage(message: FileCarrier): MessageFile {
  if (message.photo !== undefined) {
    const largest = largestPhoto(message.photo);
    if (largest !== undefined)
      return {
        kind: 'image',
        file: { source: 'photo', fileId: largest.file_id, fileSize: largest.file_size },
      };
  }
  // An animation also arrives with a `document`; it is still not a still image.
  if (message.animation === undefined && message.document !== undefined) {
    const doc = message.document;
    return isImageDocument(doc)
      ? { kind: 'image', file: { source: 'document', fileId: doc.file_id, fileSize: doc.file_size } }
      : { kind: 'not_image' };
  }
  if (NOT_IMAGE_KEYS.some((key) => message[key] !== undefined)) return { kind: 'not_image' };
  return { kind: 'none' };
}

/** Telegram lists a photo in several sizes; the largest one is the only one worth reading. */
export function largestPhoto(sizes: readonly PhotoSize[]): PhotoSize | undefined {
  let best: PhotoSize | undefined;
  for (const size of sizes) {
    const area = size.width * size.height;
    const bestArea = best === undefined ? -1 : best.width * best.height;
    if (area > bestArea || (area === bestArea && (size.file_size ?? 0) > (best?.file_size ?? 0))) best = size;
  }
  return best;
}

/**
 * Image MIME types, DICOM (by type or file name), and untyped files whose name does not say
 * otherwise: DICOM files often travel as application/octet-stream without an extension, and the
 * core recognises them by content.
 */
export function isImageDocument(doc: { mime_type?: string; file_name?: string }): boolean {
  const mime = (doc.mime_type ?? '').toLowerCase().trim();
  const name = doc.file_name ?? '';
  if (mime.startsWith('image/') || DICOM_MIME.has(mime)) return true;
  if (/\.(dcm|dicom)$/i.test(name)) return true;
  if (UNTYPED_MIME.has(mime)) return IMAGE_NAME.test(name) || path.extname(name) === '';
  return false;
}

export interface DownloadFileOptions {
  maxBytes: number;
  timeoutMs: number;
  /** Bot API root; file downloads are only allowed from its host. */
  apiRoot: string;
  signal?: AbortSignal;
}

function tooLarge(maxBytes: number): XrayError {
  return new XrayError('image_too_large', 'File over the limit.', {
    details: { limitMb: Math.floor(maxBytes / (1024 * 1024)) },
  });
}

/** Bytes of a Telegram file, refusing (without downloading) anything declared over the limit. */
export async function downloadFile(
  telegram: Telegram,
  file: ImageFile,
  options: DownloadFileOptions,
): Promise<Uint8Array> {
  const maxBytes = Math.min(options.maxBytes, BOT_API_DOWNLOAD_LIMIT);
  if (file.fileSize !== undefined && file.fileSize > maxBytes) throw tooLarge(options.maxBytes);

  let info: Awaited<ReturnType<Telegram['getFile']>>;
  try {
    info = await telegram.getFile(file.fileId);
  } catch (error) {
    if (error instanceof TelegramError && /too big/i.test(error.description))
      throw tooLarge(options.maxBytes);
    throw new XrayError('internal', 'getFile failed.', { cause: error });
  }
  if (info.file_size !== undefined && info.file_size > maxBytes) throw tooLarge(options.maxBytes);
  if (info.file_path === undefined) throw new XrayError('internal', 'getFile returned no file path.');

  // A self-hosted Bot API server in --local mode answers with a path on its own disk.
  if (path.isAbsolute(info.file_path)) return readLocalFile(info.file_path, maxBytes, options.maxBytes);

  const link = await telegram.getFileLink(info);
  return downloadBytes(link.href, {
    maxBytes,
    timeoutMs: options.timeoutMs,
    allowedHosts: [new URL(options.apiRoot).host.toLowerCase()],
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
}

async function readLocalFile(
  filePath: string,
  maxBytes: number,
  limitForMessage: number,
): Promise<Uint8Array> {
  let handle;
  try {
    handle = await open(filePath, 'r');
  } catch (error) {
    throw new XrayError('internal', 'The local Bot API file could not be opened.', { cause: error });
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new XrayError('internal', 'The local Bot API path is not a file.');
    if (stat.size > maxBytes) throw tooLarge(limitForMessage);
    const buffer = Buffer.alloc(stat.size);
    const { bytesRead } = await handle.read(buffer, 0, stat.size, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
