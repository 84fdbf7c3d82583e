/**
 * A small fake of Discord for end-to-end tests with the real discord.js: the REST routes the bot
 * uses, a JSON gateway (HELLO → IDENTIFY → READY, heartbeats, RESUMED), and a file host standing
 * in for the CDN, all on one local port. Every HTTP request is recorded for assertions.
 */
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export interface RecordedRequest {
  method: string;
  /** Path as sent (discord.js sends `@original` as `%40original`). */
  rawPath: string;
  /** Decoded path without the query. */
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  /** JSON body, or the `payload_json` part of a multipart body. */
  json: unknown;
  /** Names of file parts of a multipart body. */
  files: string[];
}

export interface GatewayMessage {
  op: number;
  d: unknown;
}

export interface FakeDiscord {
  /** http://127.0.0.1:PORT */
  origin: string;
  /** Value for DISCORD_API_URL. */
  apiUrl: string;
  /** 127.0.0.1:PORT, the value for DISCORD_ATTACHMENT_HOSTS. */
  host: string;
  applicationId: string;
  botUserId: string;
  requests: RecordedRequest[];
  /** Gateway messages the client sent (op codes and payloads). */
  gateway: GatewayMessage[];
  /** Serves bytes at /files/NAME as a CDN would; returns the URL. */
  serveFile(name: string, bytes: Uint8Array, contentType: string): string;
  /** A /files/NAME URL that sends headers and part of a body, then nothing (a stalled CDN). */
  stallFile(name: string): string;
  /** Sends a gateway dispatch to every identified connection. */
  dispatch(event: string, data: unknown): void;
  /** Makes the interaction callback for this interaction id fail like a missed 3-second deadline. */
  expireInteraction(interactionId: string): void;
  /** Resolves with the first recorded request matching, waiting for it if needed. */
  waitForRequest(match: (r: RecordedRequest) => boolean, timeoutMs?: number): Promise<RecordedRequest>;
  /** Connections currently open. */
  openSockets(): number;
  close(): Promise<void>;
}

const DISCORD_EPOCH = 1_420_070_400_000n;
let sequence = 0n;

/** A fresh snowflake, so discord.js can read a timestamp from every id. */
export function snowflake(): string {
  sequence += 1n;
  return ((BigInt(Date.now()) - DISCORD_EPOCH) * 4_194_304n + (sequence % 4096n)).toString();
}

export async function startFakeDiscord(options: { applicationId: string }): Promise<FakeDiscord> {
  const applicationId = options.applicationId;
  const botUserId = snowflake();
  const requests: RecordedRequest[] = [];
  const gateway: GatewayMessage[] = [];
  const files = new Map<string, { bytes: Uint8Array; contentType: string }>();
  const expired = new Set<string>();
  const stalled = new Set<string>();
  const events = new EventEmitter();
  const identified = new Map<WebSocket, { seq: number }>();
  const sockets = new Set<WebSocket>();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void record(req, Buffer.concat(chunks)).then(
        (recorded) => {
          requests.push(recorded);
          events.emit('request', recorded);
          route(recorded, res);
        },
        () => send(res, 400, { message: 'Bad body', code: 0 }),
      );
    });
  });
  const wss = new WebSocketServer({ server });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  const wsUrl = `ws://127.0.0.1:${port}`;

  async function record(req: http.IncomingMessage, body: Buffer): Promise<RecordedRequest> {
    const url = new URL(req.url ?? '/', origin);
    const type = req.headers['content-type'] ?? '';
    let json: unknown;
    const fileNames: string[] = [];
    if (type.startsWith('multipart/form-data')) {
      // Node's fetch parses multipart bodies for us.
      const form = await new Response(new Uint8Array(body), { headers: { 'content-type': type } }).formData();
      form.forEach((value, key) => {
        if (typeof value === 'string') {
          if (key === 'payload_json') json = JSON.parse(value);
        } else {
          fileNames.push(value.name);
        }
      });
    } else if (type.startsWith('application/json') && body.length > 0) {
      json = JSON.parse(body.toString('utf8'));
    }
    return {
      method: req.method ?? 'GET',
      rawPath: url.pathname,
      path: decodeURIComponent(url.pathname),
      query: url.searchParams,
      headers: req.headers,
      json,
      files: fileNames,
    };
  }

  function send(res: http.ServerResponse, status: number, body?: unknown): void {
    if (body === undefined) {
      res.writeHead(status).end();
      return;
    }
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }

  /** The message object Discord answers webhook edits and follow-ups with. */
  function messageFrom(payload: unknown): Record<string, unknown> {
    const p = (payload ?? {}) as { content?: string; embeds?: unknown[]; flags?: number };
    return {
      id: snowflake(),
      channel_id: snowflake(),
      type: 20,
      content: p.content ?? '',
      embeds: p.embeds ?? [],
      attachments: [],
      components: [],
      author: {
        id: botUserId,
        username: 'xray-bot',
        discriminator: '0000',
        global_name: null,
        avatar: null,
        bot: true,
      },
      timestamp: new Date().toISOString(),
      edited_timestamp: null,
      tts: false,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      pinned: false,
      flags: p.flags ?? 0,
      webhook_id: applicationId,
      application_id: applicationId,
    };
  }

  function route(r: RecordedRequest, res: http.ServerResponse): void {
    const file = /^\/files\/([^/]+)$/.exec(r.path);
    if (r.method === 'GET' && file !== null) {
      if (stalled.has(file[1] ?? '')) {
        res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': 5000 });
        res.write(Buffer.alloc(100));
        return;
      }
      const served = files.get(file[1] ?? '');
      if (served === undefined) return send(res, 404, { message: 'Not found' });
      res.writeHead(200, { 'content-type': served.contentType, 'content-length': served.bytes.length });
      res.end(served.bytes);
      return;
    }
    const api = /^\/api\/v10(\/.*)$/.exec(r.path)?.[1];
    if (api === undefined) return send(res, 404, { message: 'Not found', code: 0 });

    if (r.method === 'GET' && api === '/gateway/bot') {
      return send(res, 200, {
        url: wsUrl,
        shards: 1,
        session_start_limit: { total: 1000, remaining: 999, reset_after: 14_400_000, max_concurrency: 1 },
      });
    }
    const callback = /^\/interactions\/(\d+)\/([^/]+)\/callback$/.exec(api);
    if (r.method === 'POST' && callback !== null) {
      if (expired.has(callback[1] ?? ''))
        return send(res, 404, { message: 'Unknown interaction', code: 10062 });
      return send(res, 204);
    }
    const original = /^\/webhooks\/(\d+)\/([^/]+)\/messages\/@original$/.exec(api);
    if (original !== null && r.method === 'PATCH') return send(res, 200, messageFrom(r.json));
    if (original !== null && r.method === 'DELETE') return send(res, 204);
    if (r.method === 'POST' && /^\/webhooks\/(\d+)\/([^/]+)$/.test(api))
      return send(res, 200, messageFrom(r.json));

    const commands = /^\/applications\/(\d+)(?:\/guilds\/(\d+))?\/commands$/.exec(api);
    if (r.method === 'PUT' && commands !== null) {
      const body = Array.isArray(r.json) ? (r.json as Record<string, unknown>[]) : [];
      const guildId = commands[2];
      return send(
        res,
        200,
        body.map((c) => ({
          ...c,
          id: snowflake(),
          application_id: commands[1],
          version: snowflake(),
          ...(guildId === undefined ? {} : { guild_id: guildId }),
        })),
      );
    }
    send(res, 404, { message: 'Unknown route', code: 0 });
  }

  function sendFrame(
    socket: WebSocket,
    payload: { op: number; d?: unknown; t?: string | null; s?: number | null },
  ): void {
    socket.send(JSON.stringify({ t: null, s: null, d: null, ...payload }));
  }

  function dispatchTo(socket: WebSocket, event: string, data: unknown): void {
    const state = identified.get(socket);
    if (state === undefined) return;
    state.seq += 1;
    sendFrame(socket, { op: 0, t: event, s: state.seq, d: data });
  }

  wss.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      identified.delete(socket);
    });
    sendFrame(socket, { op: 10, d: { heartbeat_interval: 41_250 } });
    socket.on('message', (raw: Buffer) => {
      const message = JSON.parse(raw.toString('utf8')) as GatewayMessage;
      gateway.push(message);
      if (message.op === 1) sendFrame(socket, { op: 11 });
      if (message.op === 2) {
        identified.set(socket, { seq: 0 });
        dispatchTo(socket, 'READY', {
          v: 10,
          user: {
            id: botUserId,
            username: 'xray-bot',
            discriminator: '0000',
            global_name: null,
            avatar: null,
            bot: true,
          },
          // Listing guilds (as unavailable) would delay readiness by 15 s.
          guilds: [],
          session_id: 'fake-session',
          resume_gateway_url: wsUrl,
          shard: [0, 1],
          application: { id: applicationId, flags: 0 },
        });
      }
      if (message.op === 6) {
        identified.set(socket, { seq: (message.d as { seq?: number }).seq ?? 0 });
        dispatchTo(socket, 'RESUMED', {});
      }
    });
  });

  return {
    origin,
    apiUrl: `${origin}/api`,
    host: `127.0.0.1:${port}`,
    applicationId,
    botUserId,
    requests,
    gateway,
    serveFile(name, bytes, contentType) {
      files.set(name, { bytes, contentType });
      return `${origin}/files/${name}`;
    },
    stallFile(name) {
      stalled.add(name);
      return `${origin}/files/${name}`;
    },
    dispatch(event, data) {
      for (const socket of identified.keys()) dispatchTo(socket, event, data);
    },
    expireInteraction(interactionId) {
      expired.add(interactionId);
    },
    waitForRequest(match, timeoutMs = 15_000) {
      const found = requests.find(match);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const onRequest = (r: RecordedRequest) => {
          if (!match(r)) return;
          clearTimeout(timer);
          events.off('request', onRequest);
          resolve(r);
        };
        const timer = setTimeout(() => {
          events.off('request', onRequest);
          reject(new Error('The fake Discord did not receive the expected request in time.'));
        }, timeoutMs);
        events.on('request', onRequest);
      });
    },
    openSockets: () => sockets.size,
    async close() {
      for (const socket of sockets) socket.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
