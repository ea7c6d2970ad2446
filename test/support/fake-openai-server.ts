/**
 * A local HTTP server speaking the OpenAI chat-completions streaming protocol (SSE chunks of
 * `chat.completion.chunk`, then `data: [DONE]`), for tests of the `openai` provider and of the
 * handlers using it. It records every request and follows a script that can be changed between
 * tests: reply split in N chunks, per-chunk delay, an HTTP error before streaming, a connection
 * dropped mid-stream, a `length` finish, or no finish at all. Asked for usage
 * (`stream_options.include_usage`), it counts the request body's bytes in and the chunks out.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What the server does with the next requests. */
export interface FakeOpenAiScript {
  /** The assistant's reply. @default 'Hello from the fake OpenAI server.' */
  readonly reply?: string;
  /** The reply is split into this many content chunks of near-equal length. @default 3 */
  readonly chunks?: number;
  /** Pause before each content chunk. @default 0 */
  readonly chunkDelayMs?: number;
  /** Pause before the response headers (time to first byte). @default 0 */
  readonly headersDelayMs?: number;
  /** `finish_reason` of the last chunk; `null` sends none (and no `[DONE]`). @default 'stop' */
  readonly finishReason?: 'stop' | 'length' | 'content_filter' | null;
  /** Answer with this HTTP status and a JSON error body instead of a stream. @default none */
  readonly errorStatus?: number;
  /** The error answer's body. @default an OpenAI-style `{error: {message, type, code}}` */
  readonly errorBody?: unknown;
  /** Only the first N requests get `errorStatus`, later ones stream normally (retry tests). @default every request */
  readonly errorTimes?: number;
  /** Destroy the connection after this many content chunks, mid-stream. @default never */
  readonly dropAfterChunks?: number;
}

/** A request the server received. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  /** Lower-cased header names. */
  readonly headers: Record<string, string | string[] | undefined>;
  /** The parsed JSON body (`undefined` if it was not JSON). */
  readonly body: any;
  /** True once the client closed the connection before the server finished answering. */
  closedByClient: boolean;
}

export interface FakeOpenAiServer {
  /** The base URL to give the `openai` client, ending in `/v1`. */
  readonly baseURL: string;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  /** Replaces the script for the next requests. */
  setScript(script: FakeOpenAiScript): void;
  /** Stops the server, cutting any stream still open. */
  close(): Promise<void>;
}

export const DEFAULT_FAKE_REPLY = 'Hello from the fake OpenAI server.';

/** Splits `text` into `n` consecutive, non-empty (when possible) pieces. */
export function splitIntoChunks(text: string, n: number): string[] {
  const count = Math.max(1, Math.min(n, text.length || 1));
  const size = Math.ceil(text.length / count);
  const pieces: string[] = [];
  for (let i = 0; i < text.length; i += size) pieces.push(text.slice(i, i + size));
  return pieces.length ? pieces : [''];
}

/** Waits `ms`, or less if `res` closes meanwhile, so no timer outlives a closed connection. */
function delay(ms: number, res: ServerResponse): Promise<void> {
  if (ms <= 0 || res.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      res.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    res.on('close', done);
  });
}

export async function startFakeOpenAiServer(initialScript: FakeOpenAiScript = {}): Promise<FakeOpenAiServer> {
  let script = initialScript;
  let errorsServed = 0;
  let sequence = 0;
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const raw = await readBody(req);
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      body = undefined;
    }
    const recorded: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', headers: { ...req.headers }, body, closedByClient: false };
    requests.push(recorded);
    let droppedByServer = false;
    res.on('close', () => {
      if (!res.writableFinished && !droppedByServer) recorded.closedByClient = true;
    });
    const current = script;

    await delay(current.headersDelayMs ?? 0, res);
    if (res.destroyed) return;

    if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
      sendJson(res, 404, { error: { message: `Unknown route ${req.method} ${req.url}`, type: 'invalid_request_error', code: null } });
      return;
    }
    if (current.errorStatus !== undefined && (current.errorTimes === undefined || errorsServed < current.errorTimes)) {
      errorsServed++;
      sendJson(
        res,
        current.errorStatus,
        current.errorBody ?? { error: { message: `Scripted failure ${current.errorStatus}`, type: 'server_error', code: null } },
        // Tell the SDK not to wait long before a retry.
        { 'retry-after-ms': '10' },
      );
      return;
    }

    const id = `chatcmpl-fake-${++sequence}`;
    const created = Math.floor(Date.now() / 1000);
    const model = (body as { model?: string } | undefined)?.model ?? 'fake-model';
    const chunk = (delta: Record<string, unknown>, finishReason: string | null): string =>
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }] })}\n\n`;

    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.write(chunk({ role: 'assistant', content: '' }, null));
    const pieces = splitIntoChunks(current.reply ?? DEFAULT_FAKE_REPLY, current.chunks ?? 3);
    for (const [index, piece] of pieces.entries()) {
      if (current.dropAfterChunks !== undefined && index >= current.dropAfterChunks) {
        droppedByServer = true;
        // Let the chunks already written reach the client before the connection dies.
        await new Promise<void>((resolve) => res.write('', () => resolve()));
        await delay(20, res);
        res.socket?.destroy();
        return;
      }
      await delay(current.chunkDelayMs ?? 0, res);
      if (res.destroyed) return;
      res.write(chunk({ content: piece }, null));
    }
    const finishReason = current.finishReason === undefined ? 'stop' : current.finishReason;
    if (finishReason !== null) {
      res.write(chunk({}, finishReason));
      // Like OpenAI: asked for usage, the last chunk before [DONE] has no choices and the counts.
      if ((body as { stream_options?: { include_usage?: boolean } } | undefined)?.stream_options?.include_usage) {
        const usage = { prompt_tokens: raw.length, completion_tokens: pieces.length, total_tokens: raw.length + pieces.length };
        res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [], usage })}\n\n`);
      }
      res.write('data: [DONE]\n\n');
    }
    res.end();
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: { message: String(error), type: 'server_error', code: null } });
      else res.destroy();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    setScript(next) {
      script = next;
      errorsServed = 0;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}
