/**
 * Checks on a Discord attachment that need no download: is it an image, is it small enough, is it
 * on Discord's own file hosts. Running them first means a 50 MB video or a crafted URL in an
 * interaction payload never makes us fetch anything.
 */
import { XrayError } from '../../src/core/errors.js';

/** The attachment fields we use (discord.js `Attachment` has them all). */
export interface AttachmentInfo {
  url: string;
  name: string;
  contentType: string | null;
  size: number;
}

export interface AttachmentPolicy {
  maxBytes: number;
  /** Lower-case host names, or host:port (the fake Discord in tests). */
  allowedHosts: readonly string[];
}

// Used only when Discord sent no content type; the core sniffs the real format anyway.
const IMAGE_EXTENSIONS = /\.(jpe?g|png|webp|gif|tiff?|avif|heic|heif|jp2|bmp)$/i;
const DICOM_TYPES = new Set(['application/dicom', 'application/dicom+octet-stream']);

function mediaType(contentType: string | null): string | undefined {
  const base = contentType?.split(';')[0]?.trim().toLowerCase();
  return base === undefined || base === '' ? undefined : base;
}

export function isDicomAttachment(a: Pick<AttachmentInfo, 'name' | 'contentType'>): boolean {
  const type = mediaType(a.contentType);
  return (type !== undefined && DICOM_TYPES.has(type)) || /\.dcm$/i.test(a.name);
}

/** image/* or DICOM; with no content type at all, judged by the file name. */
export function isImageAttachment(a: Pick<AttachmentInfo, 'name' | 'contentType'>): boolean {
  const type = mediaType(a.contentType);
  if (isDicomAttachment(a)) return true;
  if (type === undefined) return IMAGE_EXTENSIONS.test(a.name);
  return type.startsWith('image/');
}

/** The first attachment worth analysing in a message (the context-menu command). */
export function firstImageAttachment<T extends AttachmentInfo>(attachments: Iterable<T>): T | undefined {
  for (const a of attachments) if (isImageAttachment(a)) return a;
  return undefined;
}

export function isAllowedHost(url: string, allowedHosts: readonly string[]): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return false;
  return (
    allowedHosts.includes(parsed.host.toLowerCase()) || allowedHosts.includes(parsed.hostname.toLowerCase())
  );
}

/** The reason to refuse this attachment without downloading it, or undefined when it may be fetched. */
export function checkAttachment(a: AttachmentInfo, policy: AttachmentPolicy): XrayError | undefined {
  if (mediaType(a.contentType) === 'image/svg+xml' || /\.svgz?$/i.test(a.name)) {
    return new XrayError('vector_image', 'SVG attachment.');
  }
  if (!isImageAttachment(a)) {
    return new XrayError('unsupported_format', 'The attachment is not an image.', {
      details: { reason: 'type' },
    });
  }
  if (a.size > policy.maxBytes) {
    return new XrayError('image_too_large', 'Attachment over the limit.', {
      details: { limitMb: Math.floor(policy.maxBytes / (1024 * 1024)) },
    });
  }
  if (!isAllowedHost(a.url, policy.allowedHosts)) {
    return new XrayError('unsupported_format', 'The attachment is not on an allowed host.', {
      details: { reason: 'host' },
    });
  }
  return undefined;
}
