/**
 * End to end over HTTP: the local API Gateway emulator in front of the real handlers, on the
 * test run's Postgres database and Redis key prefix (test/support/global-setup.ts).
 */
import { createHmac, randomUUID } from 'node:crypto';
import { signLocalToken } from '../../local/auth';
import type { LocalServer } from '../../local/server';

// Read by the layer's config on first use, which happens after this line.
process.env.LOCAL_MODEL_TOKEN_DELAY_MS = '20';
const SECRET = 'e2e-secret';

interface SseResult {
  readonly status: number;
  readonly contentType: string | null;
  readonly chunkCount: number;
  readonly events: unknown[];
  readonly done: boolean;
}

/** POSTs a message and reads the SSE stream, counting the network chunks as they arrive. */
async function postMessage(server: LocalServer, token: string, body: Record<string, unknown>): Promise<SseResult> {
  const res = await fetch(`${server.url}/backend-api/f/conversation`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const reader = res.body!.getReader();
  let text = '';
  let chunkCount = 0;
  for (let next = await reader.read(); !next.done; next = await reader.read()) {
    chunkCount += 1;
    text += Buffer.from(next.value).toString('utf8');
  }
  const data = text
    .split('\n\n')
    .flatMap((frame) => frame.split('\n').filter((line) => line.startsWith('data: ')).map((line) => line.slice(6)));
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    chunkCount,
    events: data.filter((d) => d !== '[DONE]').map((d) => JSON.parse(d) as unknown),
    done: data.at(-1) === '[DONE]',
  };
}

function userMessage(text: string) {
  return { id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: [text] } };
}

function conversationIdOf(result: SseResult): string {
  const withId = result.events.find((event): event is { conversation_id: string } => typeof (event as { conversation_id?: unknown }).conversation_id === 'string');
  if (!withId) throw new Error(`no conversation_id in ${JSON.stringify(result.events)}`);
  return withId.conversation_id;
}

function encode(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

describe('local API end to end (real Postgres and Redis)', () => {
  let server: LocalServer;
  const alice = `alice-${randomUUID()}`;
  const aliceToken = signLocalToken(alice, { secret: SECRET });
  const bobToken = signLocalToken(`bob-${randomUUID()}`, { secret: SECRET });
  let conversationId: string;

  beforeAll(async () => {
    const { startLocalServer } = await import('../../local/server');
    server = await startLocalServer({ port: 0, jwtSecret: SECRET, log: () => undefined });
  });

  afterAll(async () => {
    await server?.close();
    const shared = await import('@chatbot/shared/testing');
    await Promise.all([shared.closeDatabase(), shared.closeRedis()]);
  });

  it('creates a conversation and streams the reply in several chunks', async () => {
    // Act
    const result = await postMessage(server, aliceToken, {
      action: 'next',
      messages: [userMessage('Hello from the end-to-end test')],
      parent_message_id: 'client-created-root',
    });

    // Assess
    expect(result.status).toBe(200);
    expect(result.contentType).toMatch(/^text\/event-stream/);
    expect(result.chunkCount).toBeGreaterThan(1);
    expect(result.done).toBe(true);
    conversationId = conversationIdOf(result);
    expect(result.events).toContainEqual(expect.objectContaining({ conversation_id: conversationId, is_completion: true }));
  });

  it('lists the new conversation first', async () => {
    // Act
    const res = await fetch(`${server.url}/backend-api/conversations?offset=0&limit=20`, { headers: { Authorization: `Bearer ${aliceToken}` } });
    const body = (await res.json()) as { items: { id: string }[]; total: number };

    // Assess
    expect(res.status).toBe(200);
    expect(body.items[0].id).toBe(conversationId);
    expect(body.total).toBe(1);
  });

  it('serves the conversation from Postgres, then from the cache, and a new message invalidates it', async () => {
    // Prepare
    const get = () => fetch(`${server.url}/backend-api/conversation/${conversationId}`, { headers: { Authorization: `Bearer ${aliceToken}` } });

    // Act
    const first = await get();
    const firstBody = (await first.json()) as { conversation_id: string; current_node: string; mapping: Record<string, unknown> };
    const second = await get();
    await second.text();
    const reply = await postMessage(server, aliceToken, {
      action: 'next',
      conversation_id: conversationId,
      parent_message_id: firstBody.current_node,
      messages: [userMessage('A second message')],
    });
    const third = await get();
    const thirdText = await third.text();

    // Assess
    expect(first.status).toBe(200);
    expect(first.headers.get('x-cache')).toBe('MISS');
    expect(firstBody.conversation_id).toBe(conversationId);
    expect(JSON.stringify(firstBody.mapping)).toContain('Hello from the end-to-end test');
    expect(second.headers.get('x-cache')).toBe('HIT');
    expect(reply.done).toBe(true);
    expect(third.headers.get('x-cache')).toBe('MISS');
    expect(thirdText).toContain('A second message');
  });

  it('stores the partial reply when the client disconnects mid-stream', async () => {
    // Prepare
    const controller = new AbortController();
    const res = await fetch(`${server.url}/backend-api/f/conversation`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${aliceToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ action: 'next', messages: [userMessage('Tell me a long story [[local-model:slow]]')], parent_message_id: 'client-created-root' }),
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('"role":"assistant"')) text += Buffer.from((await reader.read()).value!).toString('utf8');
    const abandoned = /"conversation_id":"([^"]+)"/.exec(text)![1];

    // Act
    controller.abort();
    let assistant: { content: { parts: string[] }; metadata: { finish_details?: { type: string } } } | undefined;
    for (let attempt = 0; attempt < 50 && !assistant?.metadata.finish_details; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const detail = (await (await fetch(`${server.url}/backend-api/conversation/${abandoned}`, { headers: { Authorization: `Bearer ${aliceToken}` } })).json()) as {
        mapping: Record<string, { message?: { author: { role: string } } & typeof assistant }>;
      };
      assistant = Object.values(detail.mapping).find((node) => node.message?.author.role === 'assistant')?.message;
    }

    // Assess
    expect(assistant?.content.parts[0].length).toBeGreaterThan(0);
    expect(assistant?.metadata.finish_details?.type).toBe('interrupted');
  });

  it("answers 404 for another user's conversation", async () => {
    // Act
    const res = await fetch(`${server.url}/backend-api/conversation/${conversationId}`, { headers: { Authorization: `Bearer ${bobToken}` } });

    // Assess
    expect(res.status).toBe(404);
    expect(((await res.json()) as { detail: { code: string } }).detail.code).toBe('conversation_not_found');
  });

  it.each([
    ['forged', () => signLocalToken(alice, { secret: 'not-the-secret' })],
    ['expired', () => signLocalToken(alice, { secret: SECRET, now: Math.floor(Date.now() / 1000) - 7200, expiresInSeconds: 3600 })],
    ['alg none', () => `${encode({ alg: 'none', typ: 'JWT' })}.${encode({ sub: alice, exp: Math.floor(Date.now() / 1000) + 600 })}.`],
    ['alg none with a signature', () => {
      const input = `${encode({ alg: 'none' })}.${encode({ sub: alice })}`;
      return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
    }],
    ['missing', () => undefined],
  ])('answers 401 with CORS headers for a %s token', async (_case, makeToken) => {
    // Prepare
    const token = makeToken();

    // Act
    const res = await fetch(`${server.url}/backend-api/conversation/${conversationId}`, {
      headers: token === undefined ? {} : { Authorization: `Bearer ${token}` },
    });

    // Assess
    expect(res.status).toBe(401);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(((await res.json()) as { detail: { code: string } }).detail.code).toBe('unauthorized');
  });

  it('passes the per-user turn limit through: 429 with Retry-After, readable cross-origin', async () => {
    // Prepare: the emulator runs the same handlers, so it honours the same env.
    const shared = await import('@chatbot/shared/testing');
    const saved = { limit: process.env.USER_TURN_LIMIT, window: process.env.USER_TURN_WINDOW_SECONDS };
    Object.assign(process.env, { USER_TURN_LIMIT: '1', USER_TURN_WINDOW_SECONDS: '600' });
    shared.resetConfig();
    const token = signLocalToken(`carol-${randomUUID()}`, { secret: SECRET });
    try {
      expect((await postMessage(server, token, { action: 'next', messages: [userMessage('one')], parent_message_id: randomUUID() })).status).toBe(200);

      // Act
      const res = await fetch(`${server.url}/backend-api/f/conversation`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', Origin: 'http://localhost:5173' },
        body: JSON.stringify({ action: 'next', messages: [userMessage('two')], parent_message_id: randomUUID() }),
      });

      // Assess
      expect(res.status).toBe(429);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(590);
      expect(res.headers.get('access-control-expose-headers')).toContain('Retry-After');
      expect(((await res.json()) as { detail: { code: string; retry_after: number } }).detail).toMatchObject({ code: 'rate_limit_exceeded', retry_after: Number(res.headers.get('retry-after')) });
    } finally {
      if (saved.limit === undefined) delete process.env.USER_TURN_LIMIT;
      else process.env.USER_TURN_LIMIT = saved.limit;
      if (saved.window === undefined) delete process.env.USER_TURN_WINDOW_SECONDS;
      else process.env.USER_TURN_WINDOW_SECONDS = saved.window;
      shared.resetConfig();
    }
  });

  it('answers the CORS preflight', async () => {
    // Act
    const res = await fetch(`${server.url}/backend-api/f/conversation`, {
      method: 'OPTIONS',
      headers: { Origin: 'http://localhost:5173', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,content-type,oai-device-id' },
    });

    // Assess
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    // DELETE for OpenAI's API (/v1); the OpenAI SDKs' headers for a frontend that calls it from a browser.
    expect(res.headers.get('access-control-allow-methods')).toBe('GET,POST,PATCH,DELETE,OPTIONS');
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toEqual(expect.stringContaining('oai-device-id'));
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toEqual(expect.stringContaining('x-stainless-retry-count'));
  });
});
