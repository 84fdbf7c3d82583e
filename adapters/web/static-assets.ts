import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';

/** A file from `public/`, read once at start: three small files, so no static-file plugin and no disk reads per request. */
export interface Asset {
  body: string;
  type: string;
  etag: string;
}

const PUBLIC_DIR = new URL('./public/', import.meta.url);

const TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

export async function loadAsset(name: string): Promise<Asset> {
  const body = await readFile(new URL(name, PUBLIC_DIR), 'utf8');
  const ext = name.slice(name.lastIndexOf('.') + 1);
  return { body, type: TYPES[ext] ?? 'application/octet-stream', etag: etagOf(body) };
}

export function etagOf(body: string): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"`;
}
