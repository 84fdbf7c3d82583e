import type { FastifyRequest } from 'fastify';
import { XrayError } from '../../src/index.js';
import { limitMb } from './i18n.js';

/**
 * The uploaded file's bytes, held in memory only. Both paths stop at `maxBytes` while the body
 * streams in: a raw body through fastify's `bodyLimit` on its content-type parser, a multipart
 * file through busboy's `fileSize` limit (a truncated file is refused, never classified).
 */
export async function readUpload(request: FastifyRequest, maxBytes: number): Promise<Uint8Array> {
  if (request.isMultipart()) return readMultipartFile(request, maxBytes);
  if (request.body instanceof Uint8Array) return request.body;
  throw new XrayError('unsupported_format', 'No image in the request body.');
}

async function readMultipartFile(request: FastifyRequest, maxBytes: number): Promise<Uint8Array> {
  try {
    const file = await request.file({
      limits: { fileSize: maxBytes, files: 1, fields: 10, fieldSize: 1024, parts: 20, headerPairs: 100 },
      throwFileSizeLimit: true,
    });
    if (file === undefined) throw new XrayError('unsupported_format', 'Multipart form without a file.');
    const bytes = await file.toBuffer();
    if (file.file.truncated) {
      throw new XrayError('image_too_large', 'Upload over the limit.', {
        details: { limitMb: limitMb(maxBytes) },
      });
    }
    return bytes;
  } catch (error) {
    // Our own and fastify's coded errors are mapped by the error handler; anything else is busboy
    // failing on a malformed or cut-off form.
    if (error instanceof XrayError || isFastifyCoded(error)) throw error;
    throw new XrayError('unreadable_image', 'Malformed multipart body.', { cause: error });
  }
}

function isFastifyCoded(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('FST_');
}
