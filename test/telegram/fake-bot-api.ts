/**
 * A small fake Telegram Bot API server for end-to-end tests with the real telegraf: node:http on
 * 127.0.0.1 (random port), reached through `telegram: { apiRoot }`. It holds an update queue
 * served by real long polling, stores files for getFile and /file downloads, parses multipart
 * uploads, records every call and download, and can fail the next call(s) of a method.
 */
import { EventEmitter } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Chat, Message, MessageEntity, PhotoSize, Update, User } from 'telegraf/types';

export interface Upload {
  filename: string;
  contentType: string | undefined;
  bytes: Buffer;
}

/** A call as answered (a long poll is recorded when it returns, not when it starts). */
export interface RecordedCall {
  method: string;
  /** JSON body fields, or multipart text fields (as strings) merged with the query string. */
  params: Record<string, unknown>;
  /** Multipart file parts by field name (e.g. `photo`). */
  uploads: Record<string, Upload>;
  status: number;
  result?: unknown;
  at: number;
}

export interface RecordedDownload {
  filePath: string;
  fileId: string;
  at: number;
}

export interface ApiError {
  error_code: number;
  description: string;
  parameters?: { retry_after?: number; migrate_to_chat_id?: number };
}

interface StoredFile {
  fileId: string;
  uniqueId: string;
  filePath: string;
  bytes: Buffer;
  /** What getFile and messages declare (may differ from the bytes, to test size checks). */
  size: number | undefined;
}

export interface FakeUser {
  id: number;
  first_name: string;
  language_code?: string;
}

export interface PhotoVariant {
  bytes: Buffer;
  width: number;
  height: number;
}

interface MessageOptions {
  chat?: Chat;
  caption?: string;
  replyTo?: Message;
  /** false: build the message but leave it out of getUpdates (to post it to a webhook). */
  queue?: boolean;
}

export class FakeBotApi {
  readonly token: string;
  readonly me: User & { username: string };
  readonly calls: RecordedCall[] = [];
  readonly downloads: RecordedDownload[] = [];
  webhook: { url: string; secret: string | undefined } | undefined;

  private readonly events = new EventEmitter();
  private readonly server: http.Server;
  private readonly files = new Map<string, StoredFile>();
  private readonly filesByPath = new Map<string, StoredFile>();
  private readonly faults = new Map<string, ApiError[]>();
  private readonly chats = new Map<number, Chat>();
  private queue: Update[] = [];
  private nextUpdateId = 1;
  private nextMessageId = 1;
  private nextFile = 1;
  private tempDir: string | undefined;
  private port = 0;

  private constructor(token: string, username: string) {
    this.token = token;
    this.me = { id: Number(token.split(':')[0]), is_bot: true, first_name: 'X-ray test bot', username };
    this.events.setMaxListeners(100);
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: false, error_code: 500, description: String(error) }));
      });
    });
  }

  static async start(options: { token?: string; username?: string } = {}): Promise<FakeBotApi> {
    const fake = new FakeBotApi(
      options.token ?? '123456789:AAFakeTokenForTestsOnly_abcdefghijk',
      options.username ?? 'xray_test_bot',
    );
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    fake.port = (fake.server.address() as AddressInfo).port;
    return fake;
  }

  get apiRoot(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    this.events.emit('closing');
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    // The files a --local server would hold: gone with the server, not left in the system's temp.
    if (this.tempDir !== undefined) await rm(this.tempDir, { recursive: true, force: true });
  }

  // ---- fixtures -------------------------------------------------------------------------

  privateChat(user: FakeUser): Chat {
    const chat: Chat = { id: user.id, type: 'private', first_name: user.first_name };
    this.chats.set(chat.id, chat);
    return chat;
  }

  groupChat(id: number, title = 'Test group'): Chat {
    const chat: Chat = { id, type: 'supergroup', title };
    this.chats.set(chat.id, chat);
    return chat;
  }

  /** Stores a file for getFile and download; `absolute` mimics a --local Bot API server. */
  async addFile(
    bytes: Buffer,
    options: { ext?: string; size?: number | null; absolute?: boolean } = {},
  ): Promise<StoredFile> {
    const n = this.nextFile++;
    let filePath = `documents/file_${n}.${options.ext ?? 'bin'}`;
    if (options.absolute === true) {
      this.tempDir ??= await mkdtemp(path.join(os.tmpdir(), 'fake-bot-api-'));
      filePath = path.join(this.tempDir, `file_${n}.${options.ext ?? 'bin'}`);
      await writeFile(filePath, bytes);
    }
    const file: StoredFile = {
      fileId: `FILE_${n}_${'x'.repeat(20)}`,
      uniqueId: `U${n}`,
      filePath,
      bytes,
      size: options.size === null ? undefined : (options.size ?? bytes.length),
    };
    this.files.set(file.fileId, file);
    this.filesByPath.set(file.filePath, file);
    return file;
  }

  // ---- what users do -------------------------------------------------------------------

  /** A photo as Telegram sends it: several sizes, smallest first. */
  async sendPhoto(
    from: FakeUser,
    variants: PhotoVariant[],
    options: MessageOptions & { size?: number } = {},
  ): Promise<Message> {
    const photo: PhotoSize[] = [];
    for (const v of variants) {
      const file = await this.addFile(v.bytes, {
        ext: 'jpg',
        ...(options.size === undefined ? {} : { size: options.size }),
      });
      photo.push({
        file_id: file.fileId,
        file_unique_id: file.uniqueId,
        width: v.width,
        height: v.height,
        ...(file.size === undefined ? {} : { file_size: file.size }),
      });
    }
    return this.userMessage(from, { photo, ...this.captionFields(options.caption) }, options);
  }

  async sendDocument(
    from: FakeUser,
    bytes: Buffer,
    options: MessageOptions & {
      mimeType?: string;
      fileName?: string;
      size?: number | null;
      absolute?: boolean;
    } = {},
  ): Promise<Message> {
    const ext = options.fileName === undefined ? 'bin' : path.extname(options.fileName).slice(1) || 'bin';
    const file = await this.addFile(bytes, {
      ext,
      ...(options.size === undefined ? {} : { size: options.size }),
      ...(options.absolute === undefined ? {} : { absolute: options.absolute }),
    });
    const document = {
      file_id: file.fileId,
      file_unique_id: file.uniqueId,
      ...(options.fileName === undefined ? {} : { file_name: options.fileName }),
      ...(options.mimeType === undefined ? {} : { mime_type: options.mimeType }),
      ...(file.size === undefined ? {} : { file_size: file.size }),
    };
    return this.userMessage(from, { document, ...this.captionFields(options.caption) }, options);
  }

  sendText(from: FakeUser, text: string, options: MessageOptions = {}): Message {
    const entities = entitiesOf(text);
    return this.userMessage(from, { text, ...(entities.length === 0 ? {} : { entities }) }, options);
  }

  /** Builds a message and its update; `queue: false` leaves it out of getUpdates (for webhooks). */
  userMessage(from: FakeUser, content: Record<string, unknown>, options: MessageOptions = {}): Message {
    const chat = options.chat ?? this.privateChat(from);
    const message = {
      message_id: this.nextMessageId++,
      date: Math.floor(Date.now() / 1000),
      chat,
      from: {
        id: from.id,
        is_bot: false,
        first_name: from.first_name,
        ...(from.language_code === undefined ? {} : { language_code: from.language_code }),
      },
      ...(options.replyTo === undefined ? {} : { reply_to_message: options.replyTo }),
      ...content,
    } as unknown as Message;
    if (options.queue !== false) this.pushUpdate({ message } as Omit<Update, 'update_id'>);
    return message;
  }

  updateFor(message: Message): Update {
    return { update_id: this.nextUpdateId++, message } as Update;
  }

  pushUpdate(update: Omit<Update, 'update_id'>): Update {
    const full = { update_id: this.nextUpdateId++, ...update } as Update;
    this.queue.push(full);
    this.events.emit('update');
    return full;
  }

  /** The next `times` calls of `method` fail with `error` (e.g. a 429 with retry_after). */
  failNext(method: string, error: ApiError, times = 1): void {
    const list = this.faults.get(method.toLowerCase()) ?? [];
    for (let i = 0; i < times; i++) list.push(error);
    this.faults.set(method.toLowerCase(), list);
  }

  // ---- what tests check ----------------------------------------------------------------

  callsTo(method: string): RecordedCall[] {
    return this.calls.filter((c) => c.method.toLowerCase() === method.toLowerCase());
  }

  /** Resolves with the first recorded call (past or future) that matches. */
  waitForCall(match: (call: RecordedCall) => boolean, timeoutMs = 15_000): Promise<RecordedCall> {
    const found = this.calls.find(match);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const onCall = (call: RecordedCall) => {
        if (!match(call)) return;
        cleanup();
        resolve(call);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`No matching Bot API call within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.events.off('call', onCall);
      };
      this.events.on('call', onCall);
    });
  }

  /** The bot's successful reply (message or photo) to `message`. */
  waitForReply(message: Message, timeoutMs?: number): Promise<RecordedCall> {
    return this.waitForCall((c) => c.status === 200 && isReplyTo(c, message), timeoutMs);
  }

  repliesTo(message: Message): RecordedCall[] {
    return this.calls.filter((c) => c.status === 200 && isReplyTo(c, message));
  }

  // ---- the HTTP side -------------------------------------------------------------------

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.apiRoot);
    const fileMatch = /^\/file\/bot([^/]+)\/(.+)$/.exec(url.pathname);
    if (fileMatch !== null)
      return this.serveFile(fileMatch[1] ?? '', decodeURIComponent(fileMatch[2] ?? ''), res);

    const match = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(url.pathname);
    if (match === null) return send(res, 404, { ok: false, error_code: 404, description: 'Not Found' });
    const [, token = '', method = ''] = match;
    const { params, uploads } = await readParams(req, url);
    const record = (status: number, result?: unknown) => {
      const call: RecordedCall = {
        method,
        params,
        uploads,
        status,
        at: Date.now(),
        ...(result === undefined ? {} : { result }),
      };
      this.calls.push(call);
      this.events.emit('call', call);
    };
    if (token !== this.token) {
      record(401);
      return send(res, 401, { ok: false, error_code: 401, description: 'Unauthorized' });
    }
    const fault = this.faults.get(method.toLowerCase())?.shift();
    if (fault !== undefined) {
      record(fault.error_code);
      return send(res, fault.error_code, { ok: false, ...fault });
    }
    const answer = await this.method(method.toLowerCase(), params, uploads, req);
    if (answer === undefined) {
      record(404);
      return send(res, 404, { ok: false, error_code: 404, description: 'Not Found: method not found' });
    }
    if ('error' in answer) {
      record(answer.error.error_code);
      return send(res, answer.error.error_code, { ok: false, ...answer.error });
    }
    record(200, answer.result);
    if (!res.destroyed) send(res, 200, { ok: true, result: answer.result });
  }

  private async method(
    method: string,
    params: Record<string, unknown>,
    uploads: Record<string, Upload>,
    req: http.IncomingMessage,
  ): Promise<{ result: unknown } | { error: ApiError } | undefined> {
    const bad = (description: string) => ({
      error: { error_code: 400, description: `Bad Request: ${description}` },
    });
    switch (method) {
      case 'getme':
        return { result: this.me };
      case 'deletewebhook':
        this.webhook = undefined;
        return { result: true };
      case 'setwebhook':
        this.webhook = {
          url: String(params['url']),
          secret: params['secret_token'] === undefined ? undefined : String(params['secret_token']),
        };
        return { result: true };
      case 'getwebhookinfo':
        return {
          result: {
            url: this.webhook?.url ?? '',
            has_custom_certificate: false,
            pending_update_count: this.queue.length,
          },
        };
      case 'setmycommands':
      case 'sendchataction':
        return { result: true };
      case 'getupdates':
        if (this.webhook !== undefined) {
          return {
            error: {
              error_code: 409,
              description: "Conflict: can't use getUpdates method while webhook is active",
            },
          };
        }
        return { result: await this.getUpdates(params, req) };
      case 'getfile': {
        const file = this.files.get(String(params['file_id']));
        if (file === undefined) return bad('invalid file_id');
        if ((file.size ?? file.bytes.length) > 20 * 1024 * 1024) return bad('file is too big');
        return {
          result: {
            file_id: file.fileId,
            file_unique_id: file.uniqueId,
            file_path: file.filePath,
            ...(file.size === undefined ? {} : { file_size: file.size }),
          },
        };
      }
      case 'sendmessage': {
        if (typeof params['text'] !== 'string' || params['text'] === '') return bad('message text is empty');
        if (params['text'].length > 4096) return bad('message is too long');
        return { result: this.botMessage(params, { text: params['text'] }) };
      }
      case 'sendphoto': {
        const upload = uploads['photo'];
        if (upload === undefined && typeof params['photo'] !== 'string')
          return bad('there is no photo in the request');
        const caption = params['caption'];
        if (typeof caption === 'string' && caption.length > 1024) return bad('message caption is too long');
        return {
          result: this.botMessage(params, {
            photo: [{ file_id: `SENT_${this.nextFile++}`, file_unique_id: 'S', width: 1, height: 1 }],
            ...(typeof caption === 'string' ? { caption } : {}),
          }),
        };
      }
      default:
        return undefined;
    }
  }

  private botMessage(params: Record<string, unknown>, content: Record<string, unknown>): Message {
    const chatId = Number(params['chat_id']);
    return {
      message_id: this.nextMessageId++,
      date: Math.floor(Date.now() / 1000),
      chat: this.chats.get(chatId) ?? { id: chatId, type: 'private', first_name: 'User' },
      from: this.me,
      ...content,
    } as unknown as Message;
  }

  /** Real long polling: confirms updates below `offset`, then waits up to `timeout` s for new ones. */
  private getUpdates(params: Record<string, unknown>, req: http.IncomingMessage): Promise<Update[]> {
    const offset = Number(params['offset'] ?? 0);
    const limit = Math.min(100, Math.max(1, Number(params['limit'] ?? 100)));
    const timeout = Math.max(0, Number(params['timeout'] ?? 0));
    if (offset > 0) this.queue = this.queue.filter((u) => u.update_id >= offset);
    const ready = () => this.queue.filter((u) => u.update_id >= offset).slice(0, limit);
    const now = ready();
    if (now.length > 0 || timeout === 0) return Promise.resolve(now);
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.events.off('update', onUpdate);
        this.events.off('closing', finish);
        req.off('close', onClose);
        resolve(ready());
      };
      const onUpdate = () => finish();
      // The client gave up (telegraf stopping): stop waiting; the answer goes nowhere.
      const onClose = () => finish();
      const timer = setTimeout(finish, timeout * 1000);
      this.events.on('update', onUpdate);
      this.events.once('closing', finish);
      req.once('close', onClose);
    });
  }

  private serveFile(token: string, filePath: string, res: http.ServerResponse): void {
    if (token !== this.token)
      return send(res, 401, { ok: false, error_code: 401, description: 'Unauthorized' });
    const file = this.filesByPath.get(filePath);
    if (file === undefined) return send(res, 404, { ok: false, error_code: 404, description: 'Not Found' });
    this.downloads.push({ filePath, fileId: file.fileId, at: Date.now() });
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': file.bytes.length });
    res.end(file.bytes);
  }

  private captionFields(caption: string | undefined): Record<string, unknown> {
    if (caption === undefined) return {};
    const entities = entitiesOf(caption);
    return { caption, ...(entities.length === 0 ? {} : { caption_entities: entities }) };
  }
}

/** The message a recorded send replies to, from reply_parameters (object or JSON) or reply_to_message_id. */
export function replyToOf(call: RecordedCall): number | undefined {
  let reply = call.params['reply_parameters'];
  if (typeof reply === 'string') {
    try {
      reply = JSON.parse(reply) as unknown;
    } catch {
      reply = undefined;
    }
  }
  if (typeof reply === 'object' && reply !== null && 'message_id' in reply) return Number(reply.message_id);
  const legacy = call.params['reply_to_message_id'];
  return legacy === undefined ? undefined : Number(legacy);
}

/** Text of a sent message or caption of a sent photo. */
export function textOf(call: RecordedCall): string {
  const text = call.params['text'] ?? call.params['caption'];
  return typeof text === 'string' ? text : '';
}

function isReplyTo(call: RecordedCall, message: Message): boolean {
  const method = call.method.toLowerCase();
  return (
    (method === 'sendmessage' || method === 'sendphoto') &&
    Number(call.params['chat_id']) === message.chat.id &&
    replyToOf(call) === message.message_id
  );
}

/** bot_command and mention entities, as Telegram clients attach them. */
function entitiesOf(text: string): MessageEntity[] {
  const entities: MessageEntity[] = [];
  const command = /^\/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?/.exec(text);
  if (command !== null) entities.push({ type: 'bot_command', offset: 0, length: command[0].length });
  for (const m of text.matchAll(/(^|\s)(@[A-Za-z0-9_]{3,})/g)) {
    entities.push({
      type: 'mention',
      offset: (m.index ?? 0) + (m[1]?.length ?? 0),
      length: m[2]?.length ?? 0,
    });
  }
  return entities;
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Query string, JSON, urlencoded or multipart parameters, as the Bot API accepts them. */
async function readParams(
  req: http.IncomingMessage,
  url: URL,
): Promise<{ params: Record<string, unknown>; uploads: Record<string, Upload> }> {
  const params: Record<string, unknown> = Object.fromEntries(url.searchParams);
  const uploads: Record<string, Upload> = {};
  const body = await readBody(req);
  const type = req.headers['content-type'] ?? '';
  if (body.length === 0) return { params, uploads };
  if (type.startsWith('application/json')) {
    Object.assign(params, JSON.parse(body.toString('utf8')) as Record<string, unknown>);
  } else if (type.startsWith('application/x-www-form-urlencoded')) {
    Object.assign(params, Object.fromEntries(new URLSearchParams(body.toString('utf8'))));
  } else if (type.startsWith('multipart/form-data')) {
    const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(type);
    const parts = parseMultipart(body, boundary?.[1] ?? boundary?.[2] ?? '');
    for (const part of parts) {
      if (part.filename === undefined) params[part.name] = part.body.toString('utf8');
      else uploads[part.name] = { filename: part.filename, contentType: part.contentType, bytes: part.body };
    }
  }
  return { params, uploads };
}

interface Part {
  name: string;
  filename: string | undefined;
  contentType: string | undefined;
  body: Buffer;
}

/** Enough of RFC 7578 for what telegraf sends: parts with Content-Disposition name/filename. */
export function parseMultipart(body: Buffer, boundary: string): Part[] {
  const parts: Part[] = [];
  if (boundary === '') return parts;
  const delimiter = Buffer.from(`--${boundary}`);
  let start = body.indexOf(delimiter);
  while (start !== -1) {
    let partStart = start + delimiter.length;
    if (body.subarray(partStart, partStart + 2).toString() === '--') break; // closing delimiter
    if (body.subarray(partStart, partStart + 2).toString() === '\r\n') partStart += 2;
    const next = body.indexOf(delimiter, partStart);
    if (next === -1) break;
    let partEnd = next;
    if (body.subarray(partEnd - 2, partEnd).toString() === '\r\n') partEnd -= 2;
    const part = body.subarray(partStart, partEnd);
    const headerEnd = part.indexOf('\r\n\r\n');
    if (headerEnd !== -1) {
      const headers = part.subarray(0, headerEnd).toString('utf8');
      const disposition = /content-disposition:([^\r\n]*)/i.exec(headers)?.[1] ?? '';
      const name = /\bname="([^"]*)"/i.exec(disposition)?.[1];
      const filename = /\bfilename="([^"]*)"/i.exec(disposition)?.[1];
      const contentType = /content-type:\s*([^\r\n]*)/i.exec(headers)?.[1]?.trim();
      if (name !== undefined)
        parts.push({ name, filename, contentType, body: Buffer.from(part.subarray(headerEnd + 4)) });
    }
    start = next;
  }
  return parts;
}
