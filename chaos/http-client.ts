/**
 * The load generator's HTTP client: one keep-alive agent per worker, monotonic timestamps on
 * every request (the checker orders reads and acknowledgements by them), and streamed bodies
 * read chunk by chunk so a caller can act on a frame (start a resume follower) before the
 * reply ends. A request that does not finish within its bound is cut and reported as a hang.
 */
import { Agent, request as httpRequest } from 'node:http';

/** What one request returned, with when it was issued and when its last byte arrived. */
export interface HttpResult {
  /** 0 when no response arrived (connection error or timeout). */
  readonly status: number;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: string;
  /** `performance.now()` just before the request was written. */
  readonly startedAt: number;
  /** `performance.now()` when the body ended (or the request failed). */
  readonly endedAt: number;
  /** Set when the client gave up (`timeout`) or the connection failed. */
  readonly error?: string;
  /** True when the body ended early: the connection closed before the response completed. */
  readonly truncated?: boolean;
  /** The worker that answered. */
  readonly worker: number;
}

/** Options of {@link ApiTarget.send}. */
export interface SendOptions {
  readonly method: 'GET' | 'POST' | 'PATCH';
  readonly path: string;
  readonly token: string;
  readonly body?: unknown;
  /** The client gives up after this long (the request is then a hang). */
  readonly timeoutMs: number;
  /** Called with the whole body received so far, after every chunk. */
  readonly onChunk?: (bodySoFar: string) => void;
}

/** One worker's HTTP endpoint. */
export class ApiTarget {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: Infinity, keepAliveMsecs: 10_000 });
  /** Requests in flight now: the dispatcher sends each request to the least busy worker. */
  inFlight = 0;

  constructor(
    readonly index: number,
    readonly port: number,
  ) {}

  send(options: SendOptions): Promise<HttpResult> {
    this.inFlight += 1;
    return this.attempt(options, performance.now(), true).finally(() => {
      this.inFlight -= 1;
    });
  }

  /**
   * One try. A keep-alive socket the server closed as idle just as this request went out fails
   * with ECONNRESET before the server read anything: that one request is sent again on a fresh
   * socket (what Node's documentation advises), keeping its original start time.
   */
  private attempt(options: SendOptions, startedAt: number, mayRetry: boolean): Promise<HttpResult> {
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const headers: Record<string, string> = { authorization: `Bearer ${options.token}`, accept: 'application/json, text/event-stream' };
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    return new Promise<HttpResult>((resolve) => {
      let settled = false;
      let status = 0;
      let responseHeaders: Record<string, string | undefined> = {};
      const chunks: string[] = [];
      let text = '';
      const finish = (extra: { error?: string; truncated?: boolean } = {}) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ status, headers: responseHeaders, body: options.onChunk ? text : chunks.join(''), startedAt, endedAt: performance.now(), worker: this.index, ...extra });
      };
      const req = httpRequest(
        { host: '127.0.0.1', port: this.port, method: options.method, path: options.path, headers, agent: this.agent },
        (res) => {
          status = res.statusCode ?? 0;
          responseHeaders = Object.fromEntries(Object.entries(res.headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : value]));
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            if (options.onChunk) {
              text += chunk;
              options.onChunk(text);
            } else {
              chunks.push(chunk);
            }
          });
          res.on('end', () => finish());
          // 'close' before 'end': the server cut the response short.
          res.on('close', () => finish(res.complete ? {} : { truncated: true, error: 'response closed before its end' }));
          res.on('error', () => finish({ truncated: true, error: 'response error' }));
        },
      );
      const timer = setTimeout(() => {
        finish({ error: 'timeout' });
        req.destroy();
      }, Math.max(1, options.timeoutMs - (performance.now() - startedAt)));
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (mayRetry && !settled && status === 0 && req.reusedSocket && error.code === 'ECONNRESET') {
          settled = true;
          clearTimeout(timer);
          resolve(this.attempt(options, startedAt, false));
          return;
        }
        finish({ error: error.message });
      });
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** The `detail` code of a JSON error body, or undefined. */
export function errorCode(body: string): string | undefined {
  try {
    const detail = (JSON.parse(body) as { detail?: unknown }).detail;
    if (detail && typeof detail === 'object' && !Array.isArray(detail)) return String((detail as { code?: unknown }).code ?? '');
    if (typeof detail === 'string') return detail;
    if (Array.isArray(detail)) return 'validation_error';
  } catch {
    // not JSON
  }
  return undefined;
}
