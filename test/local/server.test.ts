import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { request } from 'node:http';
import { connect } from 'node:net';
import type { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { signLocalToken } from '../../local/auth';
import { installLambdaRuntimeGlobals } from '../../local/lambda-runtime';
import { startLocalServer, type LocalServer } from '../../local/server';
import { CORS, CORS_ALLOW_METHODS } from '../../layer/src/contracts/route-table';

installLambdaRuntimeGlobals();
const awslambda = (globalThis as unknown as {
  awslambda: {
    streamifyResponse: <T>(h: T) => T;
    HttpResponseStream: { from(stream: Writable, prelude: Record<string, unknown>): Writable };
  };
}).awslambda;

const SECRET = 'server-test-secret';
const auth = (user = 'user-1') => ({ Authorization: `Bearer ${signLocalToken(user, { secret: SECRET })}` });

describe('local API Gateway emulator (in-test handlers)', () => {
  let server: LocalServer;
  const events: APIGatewayProxyEvent[] = [];
  const logLines: string[] = [];
  let streamClosedEarly: Promise<string>;
  let resolveStreamClosed: (reason: string) => void;

  beforeAll(async () => {
    streamClosedEarly = new Promise((resolve) => (resolveStreamClosed = resolve));
    const echo = async (event: APIGatewayProxyEvent) => {
      events.push(event);
      return {
        statusCode: 200,
        headers: { 'Content-Type': 'application/json', 'X-Cache': 'MISS' },
        multiValueHeaders: { 'X-Multi': ['a', 'b'] },
        body: JSON.stringify({ path: event.path, params: event.pathParameters, query: event.queryStringParameters, sub: event.requestContext.authorizer?.claims.sub }),
      };
    };
    const postConversation = awslambda.streamifyResponse(async (event: APIGatewayProxyEvent, responseStream: Writable) => {
      events.push(event);
      const stream = awslambda.HttpResponseStream.from(responseStream, { statusCode: 200, headers: { 'Content-Type': 'text/event-stream; charset=utf-8' } });
      const count = JSON.parse(event.body ?? '{}').count ?? 3;
      for (let i = 0; i < count; i += 1) {
        if (stream.destroyed) {
          resolveStreamClosed(`closed after ${i} chunks`);
          return;
        }
        stream.write(`data: ${i}\n\n`);
        await sleep(40);
      }
      stream.end('data: [DONE]\n\n');
    });
    server = await startLocalServer({
      port: 0,
      jwtSecret: SECRET,
      allowedOrigins: ['https://app.example.com', 'https://other.example.com'],
      maxBodyBytes: 1024,
      handlers: { 'get-conversation': echo, 'list-conversations': echo, 'post-conversation': postConversation, 'update-conversation': echo, 'resume-conversation': postConversation, 'reply-control': echo, 'models-and-limits': echo, 'search-conversations': echo, 'share-conversation': echo, 'get-shared-conversation': echo, 'openai-conversations': echo, 'openai-responses': postConversation, 'openai-chat-completions': postConversation, 'openai-models': echo },
      log: (line) => logLines.push(line),
    });
  });

  afterAll(() => server.close());

  it('routes GET conversation with a REST proxy event carrying the authorizer claims', async () => {
    // Act
    const res = await fetch(`${server.url}/backend-api/conversation/abc%20def?x=1&x=2`, { headers: { ...auth('user-9'), 'X-Custom': 'v' } });

    // Assess
    expect(res.status).toBe(200);
    expect(res.headers.get('x-cache')).toBe('MISS');
    expect(res.headers.get('x-multi')).toBe('a, b');
    expect(res.headers.get('x-amzn-requestid')).toMatch(/^[0-9a-f-]{36}$/);
    expect(await res.json()).toEqual({ path: '/backend-api/conversation/abc%20def', params: { conversation_id: 'abc def' }, query: { x: '2' }, sub: 'user-9' });
    const event = events.at(-1)!;
    expect(event.resource).toBe('/backend-api/conversation/{conversation_id}');
    expect(event.multiValueQueryStringParameters).toEqual({ x: ['1', '2'] });
    expect(event.headers['X-Custom']).toBe('v');
  });

  it('routes the list and both POST paths', async () => {
    // Act
    const list = await fetch(`${server.url}/backend-api/conversations`, { headers: auth() });
    const legacy = await fetch(`${server.url}/backend-api/conversation`, { method: 'POST', headers: auth(), body: '{"count":1}' });
    const current = await fetch(`${server.url}/backend-api/f/conversation/`, { method: 'POST', headers: auth(), body: '{"count":1}' });

    // Assess
    expect(list.status).toBe(200);
    expect(((await list.json()) as { query: unknown }).query).toBeNull();
    expect(await legacy.text()).toBe('data: 0\n\ndata: [DONE]\n\n');
    expect(current.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(await current.text()).toBe('data: 0\n\ndata: [DONE]\n\n');
  });

  it('streams chunks as the handler writes them', async () => {
    // Act
    const res = await fetch(`${server.url}/backend-api/f/conversation`, { method: 'POST', headers: auth(), body: '{"count":4}' });
    const reader = res.body!.getReader();
    const arrivals: { at: number; text: string }[] = [];
    for (let next = await reader.read(); !next.done; next = await reader.read()) {
      arrivals.push({ at: Date.now(), text: Buffer.from(next.value).toString() });
    }

    // Assess
    expect(res.status).toBe(200);
    expect(arrivals.map((a) => a.text).join('')).toBe('data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: [DONE]\n\n');
    expect(arrivals.length).toBeGreaterThanOrEqual(4);
    expect(arrivals.at(-1)!.at - arrivals[0].at).toBeGreaterThanOrEqual(100);
  });

  it('destroys the response stream when the client disconnects', async () => {
    // Prepare
    const controller = new AbortController();
    const res = await fetch(`${server.url}/backend-api/f/conversation`, { method: 'POST', headers: auth(), body: '{"count":100}', signal: controller.signal });
    const reader = res.body!.getReader();
    await reader.read();

    // Act
    controller.abort();

    // Assess
    await expect(streamClosedEarly).resolves.toMatch(/^closed after \d+ chunks$/);
  });

  it.each([
    ['missing', undefined, 'Missing Authorization header'],
    ['forged', `Bearer ${signLocalToken('user-1', { secret: 'wrong' })}`, 'Invalid token signature'],
    ['not bearer', 'Token abc', 'Bearer'],
  ])('rejects a %s token with the gateway\'s 401 before the handler runs, logging why', async (_case, header, reason) => {
    // Prepare
    const before = events.length;

    // Act
    const res = await fetch(`${server.url}/backend-api/conversations`, { headers: header ? { Authorization: header, Origin: 'https://app.example.com' } : {} });

    // Assess
    expect(res.status).toBe(401);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    const body = (await res.json()) as { detail: { code: string; message: string } };
    expect(body.detail).toEqual({ code: 'unauthorized', message: 'Unauthorized' });
    expect(logLines.at(-2)).toContain(reason);
    expect(events.length).toBe(before);
  });

  it('answers unknown routes and methods a resource lacks 404, and large bodies 413, as the gateway does', async () => {
    // Act
    const notFound = await fetch(`${server.url}/backend-api/nope`, { headers: auth() });
    const wrongMethod = await fetch(`${server.url}/backend-api/conversations`, { method: 'DELETE', headers: auth() });
    const tooLarge = await fetch(`${server.url}/backend-api/f/conversation`, { method: 'POST', headers: auth(), body: 'x'.repeat(2048) });

    // Assess
    expect(notFound.status).toBe(404);
    expect(await notFound.json()).toEqual({ detail: { code: 'not_found', message: 'Not Found' } });
    expect(wrongMethod.status).toBe(404);
    expect(await wrongMethod.json()).toEqual({ detail: { code: 'not_found', message: 'Not Found' } });
    expect(tooLarge.status).toBe(413);
    expect(((await tooLarge.json()) as { detail: { code: string } }).detail.code).toBe('request_too_large');
  });

  it('routes a literal path segment before a path parameter, as API Gateway does', async () => {
    // Act
    const genTitle = await fetch(`${server.url}/backend-api/conversation/gen_title/abc`, { method: 'POST', headers: { ...auth(), 'Content-Type': 'application/json' }, body: '{}' });
    const genTitleResource = events.at(-1)!.resource;
    const getGenTitle = await fetch(`${server.url}/backend-api/conversation/gen_title`, { headers: auth() });
    const getResource = events.at(-1)!.resource;

    // Assess
    expect(genTitle.status).toBe(200);
    expect(genTitleResource).toBe('/backend-api/conversation/gen_title/{conversation_id}');
    // `/conversation/gen_title` is a resource of its own (without GET), not a conversation id.
    expect(getGenTitle.status).toBe(404);
    expect(getResource).toBe(genTitleResource);
  });

  it('lets a public route through without a token, passing no identity even when a token comes along', async () => {
    // Act
    const anonymous = await fetch(`${server.url}/backend-api/share/3f8c1d5e-0000-4000-8000-000000000001`);
    const anonymousEvent = events.at(-1)!;
    const withToken = await fetch(`${server.url}/backend-api/share/3f8c1d5e-0000-4000-8000-000000000001`, { headers: auth('user-7') });
    const withBadToken = await fetch(`${server.url}/backend-api/share/3f8c1d5e-0000-4000-8000-000000000001`, { headers: { Authorization: 'Bearer not-a-jwt' } });
    const patchWithoutToken = await fetch(`${server.url}/backend-api/share/3f8c1d5e-0000-4000-8000-000000000001`, { method: 'PATCH', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    const createWithoutToken = await fetch(`${server.url}/backend-api/share/create`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });

    // Assess
    expect([anonymous.status, withToken.status, withBadToken.status]).toEqual([200, 200, 200]);
    expect(anonymousEvent.resource).toBe('/backend-api/share/{share_id}');
    expect(anonymousEvent.requestContext.authorizer).toBeFalsy();
    expect(((await withToken.json()) as { sub?: string }).sub).toBeUndefined();
    // The same resource's PATCH, and the sibling create, still need a token.
    expect(patchWithoutToken.status).toBe(401);
    expect(createWithoutToken.status).toBe(401);
  });

  it('answers 413 for a chunked body that grows past the limit', async () => {
    // Act
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${server.url}/backend-api/f/conversation`, { method: 'POST', headers: auth() }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write('y'.repeat(800));
      req.end('y'.repeat(800));
    });

    // Assess
    expect(status).toBe(413);
  });

  it('answers CORS preflight on every route without authentication', async () => {
    // Act
    const responses = await Promise.all(
      ['/backend-api/conversations', '/backend-api/conversation/abc', '/backend-api/f/conversation', '/backend-api/conversation'].map((path) =>
        fetch(`${server.url}${path}`, {
          method: 'OPTIONS',
          headers: { Origin: 'https://other.example.com', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,content-type' },
        }),
      ),
    );
    const foreign = await fetch(`${server.url}/backend-api/conversations`, { method: 'OPTIONS', headers: { Origin: 'https://evil.example.com' } });

    // Assess
    for (const res of responses) {
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe('https://other.example.com');
      expect(res.headers.get('access-control-allow-methods')).toBe(CORS_ALLOW_METHODS.join(','));
      expect(res.headers.get('access-control-allow-headers')).toBe(CORS.allowHeaders.join(','));
      expect(res.headers.get('access-control-max-age')).toBe(String(CORS.maxAgeSeconds));
    }
    expect(foreign.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
  });
});

/** One raw TCP exchange: what came back, and whether (and when) the server closed the connection. */
async function rawExchange(
  port: number,
  head: string,
  options: { drip?: string; dripEveryMs?: number; waitMs: number },
): Promise<{ response: string; closedAfterMs: number | undefined }> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const started = Date.now();
  let response = '';
  let closedAfterMs: number | undefined;
  socket.on('data', (chunk) => (response += chunk.toString('utf8')));
  socket.on('error', () => undefined);
  socket.on('close', () => (closedAfterMs ??= Date.now() - started));
  socket.write(head);
  const drip = options.drip
    ? setInterval(() => {
        if (!socket.destroyed) socket.write(options.drip as string);
      }, options.dripEveryMs ?? 50)
    : undefined;
  const deadline = Date.now() + options.waitMs;
  while (closedAfterMs === undefined && Date.now() < deadline) await sleep(20);
  clearInterval(drip);
  socket.destroy();
  return { response, closedAfterMs };
}

describe('local API Gateway emulator against hostile clients', () => {
  let server: LocalServer;
  const events: APIGatewayProxyEvent[] = [];

  beforeAll(async () => {
    const echo = async (event: APIGatewayProxyEvent) => {
      events.push(event);
      return { statusCode: 200, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ query: event.queryStringParameters }) };
    };
    const postConversation = awslambda.streamifyResponse(async (event: APIGatewayProxyEvent, responseStream: Writable) => {
      events.push(event);
      const stream = awslambda.HttpResponseStream.from(responseStream, { statusCode: 200, headers: { 'Content-Type': 'text/event-stream; charset=utf-8' } });
      for (let i = 0; i < 12; i += 1) {
        stream.write(`data: ${i}\n\n`);
        await sleep(50);
      }
      stream.end('data: [DONE]\n\n');
    });
    server = await startLocalServer({
      port: 0,
      jwtSecret: SECRET,
      requestTimeoutMs: 400,
      handlers: { 'get-conversation': echo, 'list-conversations': echo, 'post-conversation': postConversation, 'update-conversation': echo, 'resume-conversation': postConversation, 'reply-control': echo, 'models-and-limits': echo, 'search-conversations': echo, 'share-conversation': echo, 'get-shared-conversation': echo, 'openai-conversations': echo, 'openai-responses': postConversation, 'openai-chat-completions': postConversation, 'openai-models': echo },
      log: () => undefined,
    });
  });

  afterAll(() => server.close());

  it('passes query names that are Object.prototype members through as plain parameters', async () => {
    // Act
    const res = await fetch(`${server.url}/backend-api/conversations?__proto__=a&constructor=b&toString=c&hasOwnProperty=d&valueOf=e&offset=0`, { headers: auth() });

    // Assess
    expect(res.status).toBe(200);
    const event = events.at(-1)!;
    expect(Object.keys(event.queryStringParameters ?? {}).sort()).toEqual(['__proto__', 'constructor', 'hasOwnProperty', 'offset', 'toString', 'valueOf']);
    expect(Object.getOwnPropertyDescriptor(event.queryStringParameters, '__proto__')?.value).toBe('a');
    expect(Object.getOwnPropertyDescriptor(event.multiValueQueryStringParameters, 'constructor')?.value).toEqual(['b']);
    expect(Object.getPrototypeOf(event.multiValueQueryStringParameters)).toBe(Object.prototype);
  });

  it('passes header names that are Object.prototype members through as plain headers', async () => {
    // Prepare
    const before = events.length;
    const head = [
      'GET /backend-api/conversations HTTP/1.1',
      'Host: 127.0.0.1',
      `Authorization: ${auth().Authorization}`,
      '__proto__: a',
      'constructor: b',
      'toString: c',
      'hasOwnProperty: d',
      'hasOwnProperty: e',
      'Connection: close',
      '',
      '',
    ].join('\r\n');

    // Act
    const { response } = await rawExchange(server.port, head, { waitMs: 2000 });

    // Assess
    expect(response).toMatch(/^HTTP\/1\.1 200 /);
    expect(events.length).toBe(before + 1);
    const { headers, multiValueHeaders } = events.at(-1)!;
    expect(Object.getOwnPropertyDescriptor(multiValueHeaders, '__proto__')?.value).toEqual(['a']);
    expect(Object.getOwnPropertyDescriptor(headers, '__proto__')?.value).toBe('a');
    expect(Object.getOwnPropertyDescriptor(multiValueHeaders, 'constructor')?.value).toEqual(['b']);
    expect(Object.getOwnPropertyDescriptor(multiValueHeaders, 'toString')?.value).toEqual(['c']);
    expect(Object.getOwnPropertyDescriptor(multiValueHeaders, 'hasOwnProperty')?.value).toEqual(['d', 'e']);
    expect(Object.getPrototypeOf(multiValueHeaders)).toBe(Object.prototype);
  });

  it('refuses two Authorization headers with 400, even when both are valid', async () => {
    // Prepare
    const before = events.length;
    const head = [
      'GET /backend-api/conversations HTTP/1.1',
      'Host: 127.0.0.1',
      `Authorization: ${auth('user-a').Authorization}`,
      `Authorization: ${auth('user-b').Authorization}`,
      'Connection: close',
      '',
      '',
    ].join('\r\n');

    // Act
    const { response } = await rawExchange(server.port, head, { waitMs: 2000 });

    // Assess
    expect(response).toMatch(/^HTTP\/1\.1 400 /);
    expect(response).toContain('"code":"invalid_request"');
    expect(events.length).toBe(before);
  });

  it('closes the connection after an early 401 instead of reading a drip-fed body', async () => {
    // Prepare: a body announced as 100 kB, sent a byte at a time, without credentials.
    const head = ['POST /backend-api/f/conversation HTTP/1.1', 'Host: 127.0.0.1', 'Content-Type: application/json', 'Content-Length: 100000', '', ''].join('\r\n');

    // Act
    const { response, closedAfterMs } = await rawExchange(server.port, head, { drip: 'x', waitMs: 3000 });

    // Assess
    expect(response).toMatch(/^HTTP\/1\.1 401 /);
    expect(response).toMatch(/\r\nconnection: close\r\n/i);
    expect(closedAfterMs).toBeDefined();
    expect(closedAfterMs).toBeLessThan(1000);
  });

  it('times out a drip-fed body with 408 and closes the connection, invoking nothing', async () => {
    // Prepare
    const before = events.length;
    const head = [
      'POST /backend-api/f/conversation HTTP/1.1',
      'Host: 127.0.0.1',
      `Authorization: ${auth().Authorization}`,
      'Content-Type: application/json',
      'Content-Length: 100000',
      '',
      '',
    ].join('\r\n');

    // Act
    const { response, closedAfterMs } = await rawExchange(server.port, head, { drip: 'x', waitMs: 4000 });

    // Assess
    expect(response).toMatch(/^HTTP\/1\.1 408 /);
    expect(closedAfterMs).toBeDefined();
    expect(closedAfterMs).toBeLessThan(2000);
    expect(events.length).toBe(before);
  });

  it('streams a reply for longer than the request timeout once the body is in', async () => {
    // Act: 12 chunks 50 ms apart take ~600 ms, longer than the 400 ms request timeout.
    const started = Date.now();
    const res = await fetch(`${server.url}/backend-api/f/conversation`, { method: 'POST', headers: { ...auth(), 'Content-Type': 'application/json' }, body: '{}' });
    const text = await res.text();

    // Assess
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThan(550);
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(text.match(/^data: \d+$/gm)).toHaveLength(12);
  });

  it('refuses a token without exp, with a far exp, or with a sub that cannot be stored, before any handler runs', async () => {
    // Prepare
    const before = events.length;
    const forge = (payload: Record<string, unknown>) => {
      const input = `${Buffer.from('{"alg":"HS256"}').toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
      return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
    };
    const now = Math.floor(Date.now() / 1000);
    const tokens = [
      forge({ sub: 'user-1' }),
      forge({ sub: 'user-1', exp: 1e308 }),
      forge({ sub: 'eve\u0000', exp: now + 60 }),
      forge({ sub: 'eve\ud800', exp: now + 60 }),
    ];

    // Act
    const statuses = await Promise.all(
      tokens.map(async (token) => (await fetch(`${server.url}/backend-api/conversations`, { headers: { Authorization: `Bearer ${token}` } })).status),
    );

    // Assess
    expect(statuses).toEqual([401, 401, 401, 401]);
    expect(events.length).toBe(before);
  });
});
