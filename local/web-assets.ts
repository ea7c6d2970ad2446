/**
 * What `npm start` serves besides the API: the reference web client (built from web/ on the
 * first request) and a local-only sign-in. Neither is an API route: the deployed stack hosts
 * the page on S3 + CloudFront and signs in through Cognito, and never has this sign-in.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { buildWebClient, securityHeaders, type WebFile } from '../web/build';
import { DEFAULT_TOKEN_TTL_SECONDS, isLoopbackHost, signLocalToken } from './auth';

/** Options of {@link createWebAssets}. */
export interface WebAssetsOptions {
  /** HMAC secret the sign-in signs with: the server's own, so its tokens are accepted. */
  readonly jwtSecret: string;
  /** Lifetime of the tokens it mints, capped by what the server accepts. @default 24 h */
  readonly tokenLifetimeSeconds?: number;
  /** Ports of local relays in front of the server whose loopback `Host` the sign-in accepts too. @default none */
  readonly relayPorts?: readonly number[];
}

/** Handles a request when it is for the page or the sign-in; returns whether it did. */
export type WebAssetsHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/** User names the sign-in accepts: what a person types, nothing that needs escaping. */
const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$/;
const MAX_SIGN_IN_BODY_BYTES = 4096;
/** `/share/<share_id>`: a share link, served by the page. */
const SHARE_PAGE = /^\/share\/[0-9A-Fa-f-]{36}$/;
/** The page reads the API from its own origin locally. */
const LOCAL_CONFIG = Buffer.from(JSON.stringify({ apiUrl: '', auth: 'local' }));
/** What a hosted page sends; the API is this same origin locally. */
const PAGE_HEADERS = securityHeaders();

export function createWebAssets(options: WebAssetsOptions): WebAssetsHandler {
  // Built once, on the first request: `npm start` stays as fast as before.
  let built: Promise<Map<string, WebFile>> | undefined;
  return (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const method = (req.method ?? 'GET').toUpperCase();
    if (path === '/local/sign-in') {
      const expiresInSeconds = Math.min(DEFAULT_TOKEN_TTL_SECONDS, options.tokenLifetimeSeconds ?? DEFAULT_TOKEN_TTL_SECONDS);
      signIn(req, res, { secret: options.jwtSecret, expiresInSeconds, relayPorts: options.relayPorts ?? [] }).catch(() => res.destroy());
      return true;
    }
    // A share link opens the page itself (it renders the share from its URL; its asset URLs are from the root).
    const shareLink = SHARE_PAGE.test(path);
    const file = path === '/' || shareLink ? '/index.html' : path;
    if (file === '/config.json') {
      if (method !== 'GET' && method !== 'HEAD') return sendJson(res, 405, { detail: 'Method Not Allowed' });
      res.writeHead(200, { ...PAGE_HEADERS, 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(method === 'HEAD' ? undefined : LOCAL_CONFIG);
      return true;
    }
    if (!['/index.html', '/app.js', '/style.css'].includes(file)) return false;
    if (method !== 'GET' && method !== 'HEAD') return sendJson(res, 405, { detail: 'Method Not Allowed' });
    built ??= buildWebClient();
    built.then(
      (files) => {
        const found = files.get(file)!;
        const body = found.body;
        res.writeHead(200, { ...PAGE_HEADERS, 'Content-Type': found.contentType, 'Content-Length': String(body.length), 'Cache-Control': 'no-cache' });
        res.end(method === 'HEAD' ? undefined : body);
      },
      (error: unknown) => {
        built = undefined;
        console.error('[web] building the page failed:', error);
        sendJson(res, 500, { detail: 'The web client failed to build; see the server log.' });
      },
    );
    return true;
  };
}

/**
 * `POST /local/sign-in` `{"user": "<name>"}` → `{"token": "<jwt>", "user": "<name>"}`. Only from
 * this machine: anyone reaching it could otherwise act as any user.
 */
async function signIn(
  req: IncomingMessage,
  res: ServerResponse,
  { secret, expiresInSeconds, relayPorts }: { secret: string; expiresInSeconds: number; relayPorts: readonly number[] },
): Promise<void> {
  if ((req.method ?? '').toUpperCase() !== 'POST') {
    sendJson(res, 405, { detail: 'Method Not Allowed' }, { Allow: 'POST' });
    return;
  }
  const remote = req.socket.remoteAddress ?? '';
  if (!/^(127\.|::1$|::ffff:127\.)/.test(remote)) {
    sendJson(res, 403, { detail: 'Local sign-in only answers requests from this machine' });
    return;
  }
  // DNS rebinding: a web page whose name resolves to 127.0.0.1 reaches this server from the
  // developer's own browser, so the peer address is loopback; only the Host header tells.
  if (!isLoopbackAuthority(req.headers.host, [req.socket.localPort, ...relayPorts])) {
    sendJson(res, 403, { detail: 'Local sign-in only answers a page opened at 127.0.0.1, localhost or [::1] on this server\'s port' });
    return;
  }
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
    sendJson(res, 415, { detail: 'Content-Type must be application/json' });
    return;
  }
  let text = '';
  for await (const chunk of req) {
    text += (chunk as Buffer).toString('utf8');
    if (text.length > MAX_SIGN_IN_BODY_BYTES) {
      sendJson(res, 413, { detail: 'Request body too large' }, { Connection: 'close' });
      return;
    }
  }
  let user: unknown;
  try {
    user = (JSON.parse(text) as { user?: unknown }).user;
  } catch {
    sendJson(res, 400, { detail: 'Body must be JSON like {"user": "demo-user"}' });
    return;
  }
  if (typeof user !== 'string' || !USER_NAME.test(user)) {
    sendJson(res, 422, { detail: 'user must be 1 to 128 letters, digits or . _ @ + - (starting with a letter or digit)' });
    return;
  }
  sendJson(res, 200, { token: signLocalToken(user, { secret, expiresInSeconds }), user, expires_in: expiresInSeconds });
}

/** Whether a Host header names a loopback address with one of `ports` (80 when it names none). */
function isLoopbackAuthority(host: string | undefined, ports: readonly (number | undefined)[]): boolean {
  const match = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(host?.trim() ?? '');
  if (!match || !isLoopbackHost(match[1])) return false;
  const port = match[2] === undefined ? 80 : Number(match[2]);
  return ports.includes(port);
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): true {
  const payload = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(payload)), 'Cache-Control': 'no-store' });
  res.end(payload);
  return true;
}
