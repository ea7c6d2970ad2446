/**
 * The local API Gateway: a `node:http` server that does what the deployed REST API does in
 * front of the API's Lambda functions (one per entry of the route table) — route matching, CORS preflight, the authorizer,
 * the payload limit — then turns each request into a REST proxy event, invokes the handler
 * through the Lambda runtime emulation and writes its response, streaming chunk by chunk
 * for `post-conversation`.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { assertSafeBinding, authenticateAuthorizationHeader, getLocalJwtMaxLifetimeSeconds, getLocalJwtSecret, InvalidTokenError, toAuthorizerClaims } from './auth';
import { allowPolicy, verifyAuthorizationHeader } from '../layer/src/http/authorizer';
import { createOidcVerifier, readOidcSettings, type OidcSettings, type TokenVerifier } from '../layer/src/http/token-verifier';
import {
  API_FUNCTIONS,
  API_ROUTES,
  CORS,
  CORS_ALLOW_METHODS,
  gatewayError,
  gatewayErrorBody,
  isPublicRoute,
  OPENAPI_DOCUMENT_ROUTE,
  pathParameterNames,
  type ApiFunctionName,
} from '../layer/src/contracts/route-table';
import { serializeOpenApiDocument } from '../layer/src/contracts/openapi';
import { version as packageVersion } from '../package.json';
import { buildRestApiEvent, installLambdaRuntimeGlobals, invokeHandler, type InvokeResult } from './lambda-runtime';
import { createWebAssets } from './web-assets';
import { formatTimings, getConfig, setTimingSink } from '@chatbot/shared';

/** The handler of each API function, by route-table name. */
export type LocalHandlers = Readonly<Record<ApiFunctionName, unknown>>;

/** A route-table resource, with the methods it answers. */
interface Resource {
  readonly path: string;
  readonly segments: readonly string[];
  readonly methods: ReadonlyMap<string, { readonly function: ApiFunctionName; readonly public: boolean }>;
}

/**
 * The API's resources, built from the route table the CDK stack is built from — including
 * the intermediate ones (`/backend-api/conversation/gen_title`), which exist in API Gateway
 * too and, being literal, shadow a path parameter at their place.
 */
const RESOURCES: readonly Resource[] = (() => {
  const byPath = new Map<string, Map<string, { function: ApiFunctionName; public: boolean }>>();
  for (const route of API_ROUTES) {
    const segments = route.path.split('/').filter(Boolean);
    for (let i = 1; i <= segments.length; i += 1) {
      const path = `/${segments.slice(0, i).join('/')}`;
      if (!byPath.has(path)) byPath.set(path, new Map());
    }
    byPath.get(route.path)!.set(route.method, { function: route.function, public: isPublicRoute(route) });
  }
  return [...byPath].map(([path, methods]) => ({ path, segments: path.split('/').filter(Boolean), methods }));
})();

/** One mebibyte; API Gateway's own limit is 10 MB, the handlers enforce tighter ones. */
const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/** How long a client may take to send its whole request (headers and body); long responses are not affected. */
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** Headers that describe the integration's connection, not the client's. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade', 'trailer']);

/** Options of {@link startLocalServer}. */
export interface LocalServerOptions {
  /** TCP port; 0 picks a free one. @default PORT or 3000 */
  readonly port?: number;
  /** Interface to listen on. @default HOST or '127.0.0.1' */
  readonly host?: string;
  /** The handlers to route to. @default every function of the route table (see loadHandlers) */
  readonly handlers?: LocalHandlers;
  /** HMAC secret of the local authorizer. @default LOCAL_JWT_SECRET or its documented default */
  readonly jwtSecret?: string;
  /**
   * Accept only this OpenID Connect issuer's tokens, verified by the deployed Lambda authorizer's
   * code (`layer/src/http/authorizer.ts`), instead of the local HS256 sign-in.
   * @default OIDC_ISSUER / OIDC_AUDIENCE / OIDC_JWKS_URL / OIDC_REQUIRED_SCOPES when OIDC_ISSUER is set, else none
   */
  readonly oidc?: OidcSettings;
  /** Origins allowed by CORS (`*` = any). @default ALLOWED_ORIGINS or '*' */
  readonly allowedOrigins?: readonly string[];
  /** Largest accepted request body in bytes. @default 1 MiB */
  readonly maxBodyBytes?: number;
  /**
   * Time allowed to receive the whole request, body included; a slower client gets 408 and
   * the connection is closed. Only the request is timed: a reply may stream for minutes.
   * @default 30 s
   */
  readonly requestTimeoutMs?: number;
  /** Longest accepted token lifetime (`exp` − now), seconds. @default LOCAL_JWT_MAX_LIFETIME_SECONDS or 7 days */
  readonly maxTokenLifetimeSeconds?: number;
  /** One line per request. @default console.log */
  readonly log?: (line: string) => void;
  /** Serve the web client at `/` and the local sign-in (not API routes; see web-assets.ts). @default true */
  readonly webClient?: boolean;
  /**
   * Ports of local relays or proxies in front of this server: the sign-in also accepts a
   * loopback `Host` naming one of them (it always accepts its own port). @default none
   */
  readonly relayPorts?: readonly number[];
  /**
   * One more line per request saying where its time went (Redis / Postgres / model / total),
   * as the functions measure it. @default LOG_REQUEST_TIMINGS
   */
  readonly timings?: boolean;
}

/** A running local API. */
export interface LocalServer {
  /** Base URL, e.g. `http://127.0.0.1:3000`. */
  readonly url: string;
  readonly port: number;
  /** Stops accepting requests, ends open connections and resolves when closed. */
  close(): Promise<void>;
}

/**
 * Loads the handler module of every API function. The `awslambda` globals are installed
 * first because the streaming handlers call `awslambda.streamifyResponse` while they load.
 */
export async function loadHandlers(): Promise<LocalHandlers> {
  installLambdaRuntimeGlobals();
  const names = Object.keys(HANDLER_MODULES) as ApiFunctionName[];
  const modules = await Promise.all(names.map((name) => HANDLER_MODULES[name]()));
  return Object.fromEntries(names.map((name, i) => [name, modules[i].handler])) as LocalHandlers;
}

/** Static imports (the bundler must see them); typed by the route table, so a new function without a module fails to compile. */
const HANDLER_MODULES: Readonly<Record<ApiFunctionName, () => Promise<{ handler: unknown }>>> = {
  'get-conversation': () => import('../lambdas/get-conversation/index'),
  'list-conversations': () => import('../lambdas/list-conversations/index'),
  'post-conversation': () => import('../lambdas/post-conversation/index'),
  'update-conversation': () => import('../lambdas/update-conversation/index'),
  'resume-conversation': () => import('../lambdas/resume-conversation/index'),
  'reply-control': () => import('../lambdas/reply-control/index'),
  'models-and-limits': () => import('../lambdas/models-and-limits/index'),
  'search-conversations': () => import('../lambdas/search-conversations/index'),
  'share-conversation': () => import('../lambdas/share-conversation/index'),
  'get-shared-conversation': () => import('../lambdas/get-shared-conversation/index'),
  'openai-conversations': () => import('../lambdas/openai-conversations/index'),
  'openai-responses': () => import('../lambdas/openai-responses/index'),
  'openai-chat-completions': () => import('../lambdas/openai-chat-completions/index'),
  'openai-models': () => import('../lambdas/openai-models/index'),
};

/** Starts the local API Gateway emulator. */
export async function startLocalServer(options: LocalServerOptions = {}): Promise<LocalServer> {
  const port = options.port ?? Number(process.env.PORT ?? 3000);
  const host = options.host ?? process.env.HOST ?? '127.0.0.1';
  const jwtSecret = options.jwtSecret ?? getLocalJwtSecret();
  assertSafeBinding(host, jwtSecret);
  const handlers = options.handlers ?? (await loadHandlers());
  const oidc = options.oidc ?? readOidcSettings(process.env);
  const settings: RequestSettings = {
    handlers,
    jwtSecret,
    oidcVerifier: oidc && createOidcVerifier(oidc),
    maxTokenLifetimeSeconds: options.maxTokenLifetimeSeconds ?? getLocalJwtMaxLifetimeSeconds(),
    allowedOrigins: options.allowedOrigins ?? parseOrigins(process.env.ALLOWED_ORIGINS),
    maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    log: options.log ?? ((line) => console.log(line)),
  };

  // The functions report each request's timings (layer/src/platform/tracing.ts); here they become a line.
  const timings = options.timings ?? getConfig().observability.logRequestTimings;
  if (timings) {
    setTimingSink((summary, request) => settings.log(`${request.method} ${request.resource} -> ${request.status}: ${formatTimings(summary)}`));
  }

  const webAssets = options.webClient === false ? () => false : createWebAssets({ jwtSecret: settings.jwtSecret, tokenLifetimeSeconds: settings.maxTokenLifetimeSeconds, relayPorts: options.relayPorts });
  const requestTimeout = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const server = createServer({
    // Node times only the receiving of a request (the timer stops once the body is in, or the
    // response is complete), so this bounds a drip-fed body without cutting streamed replies.
    requestTimeout,
    headersTimeout: Math.min(60_000, requestTimeout),
    // How often Node checks those timeouts (default 30 s, which would double a 30 s timeout).
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(requestTimeout / 4))),
  }, (req, res) => {
    if (webAssets(req, res)) return;
    const started = Date.now();
    handleRequest(req, res, settings)
      .catch((error: unknown) => {
        console.error('[local-api] request failed:', error);
        if (!res.headersSent) sendJson(res, 502, JSON.parse(gatewayErrorBody(gatewayError('DEFAULT_5XX'))), corsHeaders(req, settings));
        else res.destroy();
      })
      .finally(() => {
        const done = () => settings.log(`${req.method} ${req.url} -> ${res.statusCode} ${Date.now() - started} ms`);
        if (res.writableFinished || res.destroyed) done();
        else res.once('close', done);
      });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${urlHost}:${address.port}`,
    port: address.port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        if (timings) setTimingSink(undefined);
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

interface RequestSettings {
  readonly handlers: LocalHandlers;
  readonly jwtSecret: string;
  /** OIDC mode: the deployed authorizer's verifier, one per server (a container's). */
  readonly oidcVerifier?: TokenVerifier;
  readonly maxTokenLifetimeSeconds: number;
  readonly allowedOrigins: readonly string[];
  readonly maxBodyBytes: number;
  readonly log: (line: string) => void;
}

async function handleRequest(req: IncomingMessage, res: ServerResponse, settings: RequestSettings): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  // API Gateway ignores a trailing slash.
  const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
  const method = (req.method ?? 'GET').toUpperCase();
  const cors = corsHeaders(req, settings);

  // The OpenAPI document: public, answered here (no function behind it), the bytes of docs/openapi.json.
  if (path === OPENAPI_DOCUMENT_ROUTE.path && method === OPENAPI_DOCUMENT_ROUTE.method) return sendOpenApiDocument(res, cors);
  const match = matchRoute(path);
  if (!match) return sendGatewayError(res, 'MISSING_AUTHENTICATION_TOKEN', cors);
  const { resource, pathParameters } = match;
  if (method === 'OPTIONS') return sendPreflight(res, cors);
  const target = resource.methods.get(method);
  // Like a REST API: a method the resource lacks is the same "not found" as an unknown path.
  if (!target) return sendGatewayError(res, 'MISSING_AUTHENTICATION_TOKEN', cors);
  const functionName = target.function;

  // Node keeps only the first of repeated Authorization headers; which one counts must not be a guess.
  if (countHeader(req, 'authorization') > 1) {
    settings.log(`${method} ${path}: refused: more than one Authorization header`);
    return sendGatewayError(res, 'BAD_REQUEST_PARAMETERS', cors);
  }
  // A public route has no authorizer: whatever token comes along is neither checked nor passed on.
  let claims;
  let lambdaAuthorizer;
  if (!target.public) {
    try {
      if (settings.oidcVerifier) {
        // What the deployed TOKEN authorizer does, with its code: verify, then the Allow answer's principal and context.
        const verified = await verifyAuthorizationHeader(req.headers.authorization, settings.oidcVerifier);
        const answer = allowPolicy(verified, `arn:aws:execute-api:local:000000000000:local/local/${method}${path}`);
        lambdaAuthorizer = { principalId: answer.principalId, context: answer.context };
      } else {
        claims = await authenticateAuthorizationHeader(req.headers.authorization, { secret: settings.jwtSecret, maxLifetimeSeconds: settings.maxTokenLifetimeSeconds });
      }
    } catch (error) {
      if (!(error instanceof InvalidTokenError)) throw error;
      // The log says why; the client gets what API Gateway's authorizer answers.
      settings.log(`${method} ${path}: token rejected: ${error.message}`);
      return sendGatewayError(res, 'UNAUTHORIZED', { ...cors, 'WWW-Authenticate': 'Bearer' });
    }
  }

  const body = await readBody(req, settings.maxBodyBytes);
  if (body === 'too-large') {
    return sendGatewayError(res, 'REQUEST_TOO_LARGE', cors);
  }
  // The client went away or timed out mid-body (Node answered 408 and closed): nothing to invoke.
  if (body === 'aborted') return;

  const requestId = randomUUID();
  const event = buildRestApiEvent({
    method,
    resource: resource.path,
    path,
    pathParameters,
    query: groupValues([...url.searchParams]),
    headers: eventHeaders(req),
    body: body.length > 0 ? body : null,
    userId: claims?.sub,
    claims: claims && toAuthorizerClaims(claims),
    lambdaAuthorizer,
    sourceIp: req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1',
    requestId,
  });

  // The client going away is seen as the response closing before it finished.
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort(new Error('client disconnected'));
  });

  let result: InvokeResult;
  try {
    result = await invokeHandler(settings.handlers[functionName], event, {
      signal: controller.signal,
      context: { functionName, timeoutMs: API_FUNCTIONS[functionName].timeoutSeconds * 1000 },
    });
  } catch (error) {
    if (controller.signal.aborted) return;
    throw error;
  }
  await writeResult(res, result, { 'x-amzn-RequestId': requestId });
}

/**
 * The resource a path names, as API Gateway picks it: a literal segment wins over a path
 * parameter at the same place.
 */
function matchRoute(path: string): { resource: Resource; pathParameters: Record<string, string> | null } | undefined {
  const segments = path.split('/').filter(Boolean);
  let best: { resource: Resource; literals: number } | undefined;
  for (const resource of RESOURCES) {
    if (resource.segments.length !== segments.length) continue;
    let literals = 0;
    const fits = resource.segments.every((segment, i) => {
      if (segment.startsWith('{')) return true;
      literals += 1;
      return segment === segments[i];
    });
    if (fits && (!best || literals > best.literals)) best = { resource, literals };
  }
  if (!best) return undefined;
  const names = pathParameterNames(best.resource.path);
  if (names.length === 0) return { resource: best.resource, pathParameters: null };
  const pathParameters: Record<string, string> = Object.create(null);
  try {
    best.resource.segments.forEach((segment, i) => {
      if (segment.startsWith('{')) pathParameters[segment.slice(1, -1)] = decodeURIComponent(segments[i]);
    });
  } catch {
    return undefined;
  }
  return { resource: best.resource, pathParameters: { ...pathParameters } };
}

async function writeResult(res: ServerResponse, result: InvokeResult, extraHeaders: Record<string, string>): Promise<void> {
  const headers: Record<string, string | string[]> = { ...extraHeaders };
  for (const [name, value] of Object.entries(result.headers)) if (!HOP_BY_HOP.has(name.toLowerCase())) headers[name] = value;
  for (const [name, values] of Object.entries(result.multiValueHeaders ?? {})) if (!HOP_BY_HOP.has(name.toLowerCase())) headers[name] = values;
  if (result.streamed && result.cookies) headers['Set-Cookie'] = result.cookies;

  if (!result.streamed) {
    res.writeHead(result.statusCode, headers);
    res.end(result.isBase64Encoded ? Buffer.from(result.body, 'base64') : result.body);
    return;
  }
  res.writeHead(result.statusCode, headers);
  // Send the status line and headers now: SSE clients show progress before the first token.
  res.flushHeaders();
  try {
    for await (const chunk of result.body) {
      if (res.destroyed) break;
      // Respect a slow reader; 'close' ends the wait when the client goes away instead.
      if (!res.write(chunk)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
    }
    res.end();
  } catch {
    // The invocation failed mid-stream; like API Gateway, cut the response short.
    res.destroy();
  }
}

let openApiDocument: string | undefined;

function sendOpenApiDocument(res: ServerResponse, cors: Record<string, string>): void {
  openApiDocument ??= serializeOpenApiDocument(packageVersion);
  res.writeHead(200, { ...cors, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(openApiDocument)), 'Cache-Control': 'no-cache' });
  res.end(openApiDocument);
}

function sendPreflight(res: ServerResponse, cors: Record<string, string>): void {
  res.writeHead(204, {
    ...cors,
    'Access-Control-Allow-Methods': CORS_ALLOW_METHODS.join(','),
    'Access-Control-Allow-Headers': CORS.allowHeaders.join(','),
    'Access-Control-Max-Age': String(CORS.maxAgeSeconds),
  });
  res.end();
}

/** An error API Gateway answers itself, with the body and status of the shared route table. */
function sendGatewayError(res: ServerResponse, type: string, headers: Record<string, string>): void {
  const error = gatewayError(type);
  sendJson(res, error.status, JSON.parse(gatewayErrorBody(error)), { ...headers, 'Access-Control-Expose-Headers': CORS.exposeHeaders.join(',') });
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
  const payload = JSON.stringify(body);
  // An early answer (401, 413, ...) leaves the request body unread. Keeping the connection
  // would make Node read — and wait for — the rest of it to reuse the socket; close instead.
  const closeConnection = !res.req.complete;
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(payload)),
    ...(closeConnection ? { Connection: 'close' } : {}),
  });
  res.end(payload);
}

/**
 * CORS headers API Gateway adds to its own responses (preflight, authorizer and routing
 * errors). For a list of origins it echoes the request's origin when listed, else the first
 * one, as the CDK preflight template does.
 */
function corsHeaders(req: IncomingMessage, settings: RequestSettings): Record<string, string> {
  const origins = settings.allowedOrigins;
  if (origins.length === 0) return {};
  if (origins.includes('*')) return { 'Access-Control-Allow-Origin': '*' };
  const origin = req.headers.origin;
  return { 'Access-Control-Allow-Origin': origin && origins.includes(origin) ? origin : origins[0], Vary: 'Origin' };
}

/** The whole body; 'too-large' as soon as it exceeds `limit`; 'aborted' when the client left or timed out. */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too-large' | 'aborted'> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return 'too-large';
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > limit) return 'too-large';
      chunks.push(chunk as Buffer);
    }
  } catch {
    return 'aborted';
  }
  return req.complete ? Buffer.concat(chunks) : 'aborted';
}

/** How many times the client sent header `name` (Node folds some repeats away in `req.headers`). */
function countHeader(req: IncomingMessage, name: string): number {
  let count = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i].toLowerCase() === name) count += 1;
  return count;
}

/** Headers as the client sent them (API Gateway keeps their case), plus the proxy headers it adds. */
function eventHeaders(req: IncomingMessage): Record<string, string[]> {
  const pairs: [string, string][] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) pairs.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
  const headers = groupValues(pairs);
  const has = (name: string) => pairs.some(([key]) => key.toLowerCase() === name.toLowerCase());
  if (!has('x-forwarded-for')) headers['X-Forwarded-For'] = [req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1'];
  if (!has('x-forwarded-proto')) headers['X-Forwarded-Proto'] = ['http'];
  if (!has('x-forwarded-port')) headers['X-Forwarded-Port'] = [String(req.socket.localPort ?? '')];
  return headers;
}

/** Values by name. Prototype-free: `__proto__`, `constructor` or `toString` are names like any other. */
function groupValues(pairs: Iterable<[string, string]>): Record<string, string[]> {
  const grouped: Record<string, string[]> = Object.create(null);
  for (const [name, value] of pairs) (grouped[name] ??= []).push(value);
  return grouped;
}

function parseOrigins(value: string | undefined): string[] {
  const origins = (value ?? '*')
    .split(',')
    .map((origin) => origin.trim())
    .filter(Boolean);
  return origins.length > 0 ? origins : ['*'];
}
