/**
 * A disk cache of prepared model inputs for training runs. Preprocessing a data set (decoding
 * big originals, finding the film, segmenting the lungs) takes longer than training on it, and
 * experiments (leave-one-source-out, ablations) prepare the same images with the same spec again
 * and again. Entries are keyed by the image's bytes, the preprocessing spec, what was made of the
 * image (the image itself, or a simulated photo of it with a seed), and the source code of the
 * preprocessing path, so a change to any of them misses the cache instead of reading stale inputs.
 * Only the data set's own derived inputs are stored; the bots never use it.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PreprocessingSpec } from '../model/card.js';

export interface CachedInput {
  data: Float32Array;
  /** Whether the lung model found the lungs (true when no lung model ran). */
  found: boolean;
}

export interface InputCache {
  /** The key of one prepared input; `variant` names what was made of the image ('' = itself). */
  key(bytes: Uint8Array, spec: PreprocessingSpec, variant?: string): string;
  get(key: string): Promise<CachedInput | undefined>;
  set(key: string, value: CachedInput): Promise<void>;
}

/** The default place: next to the installed packages, so `npm ci` clears it and git ignores it. */
export const DEFAULT_CACHE_DIR = path.join('node_modules', '.cache', 'xray-covid-bot', 'inputs');

const here = path.dirname(fileURLToPath(import.meta.url));
const ext = path.extname(fileURLToPath(import.meta.url));
/**
 * The code that decides what a prepared input (or a simulated photo) looks like: these folders,
 * the photo generator, and the seeded random numbers it draws from. Only these: hashing more (the
 * scripts' option parsing, say) would throw away hours of prepared inputs for nothing.
 */
const PREPROCESSING_CODE = [
  path.join(here, '..', 'image'),
  path.join(here, '..', 'lungs'),
  // .ts here, or .js when compiled: the same extension as this module.
  path.join(here, '..', '..', 'scripts', 'lib', `simulate-photo${ext}`),
  path.join(here, `random${ext}`),
];

let codeHash: string | undefined;

/** One hash of the preprocessing path's source files, computed once per process. */
function preprocessingCodeHash(): string {
  if (codeHash !== undefined) return codeHash;
  const hash = createHash('sha256');
  for (const file of preprocessingCodeFiles()) hash.update(path.basename(file)).update(readFileSync(file));
  codeHash = hash.digest('hex');
  return codeHash;
}

/** The source files whose text goes into every key. */
export function preprocessingCodeFiles(): string[] {
  return PREPROCESSING_CODE.flatMap(sourceFiles);
}

const SOURCE_FILE = /\.[cm]?[jt]s$/;

/** A source file as itself, a folder as its source files in name order; nothing when missing. */
function sourceFiles(entry: string): string[] {
  if (SOURCE_FILE.test(entry)) return existsSync(entry) ? [entry] : [];
  try {
    return readdirSync(entry)
      .filter((n) => SOURCE_FILE.test(n))
      .sort()
      .map((n) => path.join(entry, n));
  } catch {
    return [];
  }
}

export function inputCache(dir: string): InputCache {
  return {
    key(bytes, spec, variant = '') {
      return createHash('sha256')
        .update(preprocessingCodeHash())
        .update(JSON.stringify(spec))
        .update(variant)
        .update(bytes)
        .digest('hex');
    },
    async get(key) {
      let raw: Buffer;
      try {
        raw = await readFile(entryPath(dir, key));
      } catch {
        return undefined;
      }
      // One flag byte, then little-endian float32s.
      if (raw.length < 1 || (raw.length - 1) % 4 !== 0) return undefined;
      return { data: fromLittleEndian(raw.subarray(1)), found: raw[0] === 1 };
    },
    async set(key, value) {
      const file = entryPath(dir, key);
      await mkdir(path.dirname(file), { recursive: true });
      const raw = Buffer.concat([Buffer.from([value.found ? 1 : 0]), toLittleEndian(value.data)]);
      // Write then rename: a parallel run never reads half an entry.
      const partial = `${file}.${process.pid}.partial`;
      await writeFile(partial, raw);
      await rename(partial, file);
    },
  };
}

// Entries are little-endian float32s; on little-endian machines (nearly all) a copy of the bytes.
const LITTLE_ENDIAN = endianness() === 'LE';

function fromLittleEndian(bytes: Buffer): Float32Array {
  if (LITTLE_ENDIAN)
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  const data = new Float32Array(bytes.length / 4);
  for (let i = 0; i < data.length; i++) data[i] = bytes.readFloatLE(i * 4);
  return data;
}

function toLittleEndian(data: Float32Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const bytes = Buffer.alloc(data.length * 4);
  data.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
  return bytes;
}

function entryPath(dir: string, key: string): string {
  return path.join(dir, key.slice(0, 2), `${key.slice(2)}.f32`);
}
