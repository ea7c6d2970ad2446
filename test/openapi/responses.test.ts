/**
 * Real requests to every route through the local emulator and the real handlers (the test
 * run's Postgres and Redis), each response — status and body — validated with ajv against
 * docs/openapi.json: a success of every route, then its errors (401 without a token, a bad
 * path id, a bad body, a text/plain body, an unknown object).
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { signLocalToken } from '../../local/auth';
import type { LocalServer } from '../../local/server';
import { API_ROUTES, OPENAPI_DOCUMENT_ROUTE, type ApiRoute, type RouteId } from '../../layer/src/contracts/route-table';
import { documentSchemas, responseSchemaAt, type Json } from './support';

// Read by the layer's config on first use, after this line: a turn limit the test reaches (429).
process.env.USER_TURN_LIMIT = '12';
const SECRET = 'openapi-responses-secret';
const document = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../docs/openapi.json'), 'utf8')) as Json;
const schemaAt = documentSchemas(document);
const ROUTES = new Map<RouteId, ApiRoute>(API_ROUTES.map((route) => [route.id, route]));

interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
  readonly json: Json;
}

/** Every (route, status) validated, to check the coverage at the end. */
const seen = new Map<string, Set<number>>();

/** Checks an answer against the document: a documented status, and a body its schema accepts. */
function assertDocumented(routeId: RouteId | typeof OPENAPI_DOCUMENT_ROUTE.id, answer: Answer): void {
  const route = routeId === OPENAPI_DOCUMENT_ROUTE.id ? OPENAPI_DOCUMENT_ROUTE : ROUTES.get(routeId)!;
  const operation = document.paths[route.path][route.method.toLowerCase()] as Json;
  const where = `${route.method} ${route.path} -> ${answer.status}`;
  expect({ where, documented: Object.hasOwn(operation.responses, String(answer.status)) }).toEqual({ where, documented: true });
  const media = answer.contentType.split(';')[0].trim();
  expect({ where, media: Object.keys(operation.responses[answer.status].content).includes(media) }).toEqual({ where, media: true });
  if (media === 'application/json') {
    const validate = schemaAt(responseSchemaAt(route.path, route.method, answer.status));
    const valid = validate(answer.json);
    expect({ where, errors: valid ? null : validate.errors }).toEqual({ where, errors: null });
  } else {
    // An event stream: every `data:` line is JSON or the end marker.
    const data = answer.text.split('\n').filter((line) => line.startsWith('data: ')).map((line) => line.slice(6));
    expect(data.length).toBeGreaterThan(0);
    for (const frame of data) if (frame !== '[DONE]') expect(() => JSON.parse(frame)).not.toThrow();
  }
  const statuses = seen.get(routeId) ?? new Set<number>();
  statuses.add(answer.status);
  seen.set(routeId, statuses);
}

describe('every route answers as docs/openapi.json says (local emulator, real Postgres and Redis)', () => {
  let server: LocalServer;
  const token = signLocalToken(`openapi-${randomUUID()}`, { secret: SECRET });

  /** Sends a request of a route (path parameters filled in) and validates its answer. */
  async function call(
    routeId: RouteId | typeof OPENAPI_DOCUMENT_ROUTE.id,
    options: { params?: Record<string, string>; query?: Record<string, string>; body?: unknown; rawBody?: string; contentType?: string; auth?: boolean } = {},
  ): Promise<Answer> {
    const route = routeId === OPENAPI_DOCUMENT_ROUTE.id ? OPENAPI_DOCUMENT_ROUTE : ROUTES.get(routeId)!;
    const url = new URL(server.url + route.path.replace(/\{([^}]+)\}/g, (_, name: string) => encodeURIComponent(options.params?.[name] ?? '')));
    for (const [name, value] of Object.entries(options.query ?? {})) url.searchParams.set(name, value);
    const headers: Record<string, string> = {};
    if (options.auth !== false) headers.Authorization = `Bearer ${token}`;
    const body = options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
    if (body !== undefined) headers['Content-Type'] = options.contentType ?? 'application/json';
    const res = await fetch(url, { method: route.method, headers, body });
    const text = await res.text();
    const contentType = res.headers.get('content-type') ?? '';
    const answer: Answer = { status: res.status, contentType, text, json: contentType.startsWith('application/json') ? (JSON.parse(text) as Json) : {} };
    assertDocumented(routeId, answer);
    return answer;
  }

  const message = (text: string, id = randomUUID()) => ({ id, author: { role: 'user' }, content: { content_type: 'text', parts: [text] } });
  const framesOf = (answer: Answer) =>
    answer.text
      .split('\n')
      .filter((line) => line.startsWith('data: ') && line !== 'data: [DONE]')
      .map((line) => JSON.parse(line.slice(6)) as Json);

  beforeAll(async () => {
    const { startLocalServer } = await import('../../local/server');
    server = await startLocalServer({ port: 0, jwtSecret: SECRET, log: () => undefined, webClient: false });
  });

  afterAll(async () => {
    await server?.close();
    const shared = await import('@chatbot/shared/testing');
    await Promise.all([shared.closeDatabase(), shared.closeRedis()]);
  });

  it('answers a success on every route, each body valid against its schema', async () => {
    // The document itself: public, the committed bytes.
    const served = await call(OPENAPI_DOCUMENT_ROUTE.id, { auth: false });
    expect(served.status).toBe(200);
    expect(served.json).toEqual(document);

    // backend-api: a turn (v1 encoding: resumable), one on the legacy path, then every read and change.
    const firstId = randomUUID();
    const posted = await call('postConversation', { body: { action: 'next', messages: [message('Hello OpenAPI', firstId)], parent_message_id: 'client-created-root', supported_encodings: ['v1'] } });
    expect(posted.status).toBe(200);
    const conversationId = framesOf(posted).find((frame) => typeof frame.conversation_id === 'string')!.conversation_id as string;
    const resumeToken = framesOf(posted).find((frame) => frame.type === 'resume_conversation_token')?.token as string | undefined;
    const detail = await call('getConversation', { params: { conversation_id: conversationId } });
    expect(detail.status).toBe(200);
    const legacy = await call('postConversationLegacyPath', { body: { action: 'next', conversation_id: conversationId, parent_message_id: detail.json.current_node, messages: [message('A second one')] } });
    expect(legacy.status).toBe(200);
    const latest = (await call('getConversation', { params: { conversation_id: conversationId } })).json;
    const assistantId = latest.current_node as string;

    expect((await call('listConversations', { query: { offset: '0', limit: '20' } })).status).toBe(200);
    expect((await call('updateConversation', { params: { conversation_id: conversationId }, body: { title: 'Documented' } })).status).toBe(200);
    expect((await call('generateTitle', { params: { conversation_id: conversationId }, body: { message_id: firstId } })).status).toBe(200);
    expect((await call('getStreamStatus', { params: { conversation_id: conversationId } })).status).toBe(200);
    expect((await call('stopReply', { params: { conversation_id: conversationId } })).status).toBe(200);
    const resumed = await call('resumeReply', { body: { conversation_id: conversationId, offset: 0, ...(resumeToken ? { token: resumeToken } : {}) } });
    expect(resumed.status).toBe(200);
    expect((await call('rateMessage', { body: { conversation_id: conversationId, message_id: assistantId, rating: 'thumbsUp', tags: ['clear'] } })).status).toBe(200);
    expect((await call('listModels')).status).toBe(200);
    expect((await call('getLimits')).status).toBe(200);
    expect((await call('searchConversations', { query: { query: 'hello' } })).status).toBe(200);
    const share = await call('createShare', { body: { conversation_id: conversationId, current_node_id: assistantId } });
    expect(share.status).toBe(200);
    const shareId = share.json.share_id as string;
    expect((await call('updateShare', { params: { share_id: shareId }, body: { title: 'Shared' } })).status).toBe(200);
    expect((await call('listShares')).status).toBe(200);
    expect((await call('getSharedConversation', { params: { share_id: shareId }, auth: false })).status).toBe(200);
    expect((await call('updateAllConversations', { body: { is_archived: false } })).status).toBe(200);

    // /v1: a conversation and its items, responses, chat completions, models.
    const created = await call('createOpenAiConversation', { body: { items: [{ role: 'user', content: 'Hi from v1' }], metadata: { topic: 'openapi' } } });
    expect(created.status).toBe(200);
    const conv = created.json.id as string;
    expect((await call('getOpenAiConversation', { params: { conversation_id: conv } })).status).toBe(200);
    expect((await call('updateOpenAiConversation', { params: { conversation_id: conv }, body: { metadata: { topic: 'changed' } } })).status).toBe(200);
    expect((await call('createOpenAiConversationItems', { params: { conversation_id: conv }, body: { items: [{ role: 'assistant', content: [{ type: 'output_text', text: 'Hello' }] }] } })).status).toBe(200);
    const items = await call('listOpenAiConversationItems', { params: { conversation_id: conv }, query: { order: 'asc' } });
    expect(items.status).toBe(200);
    const itemId = (items.json.data as Json[])[0].id as string;
    expect((await call('getOpenAiConversationItem', { params: { conversation_id: conv, item_id: itemId } })).status).toBe(200);
    const response = await call('createResponse', { body: { input: 'Answer me', conversation: conv } });
    expect(response.status).toBe(200);
    const responseId = response.json.id as string;
    expect((await call('getResponse', { params: { response_id: responseId } })).status).toBe(200);
    expect((await call('cancelResponse', { params: { response_id: responseId } })).status).toBe(200);
    const streamed = await call('createResponse', { body: { input: 'Stream it', stream: true, store: false } });
    expect(streamed.contentType).toMatch(/^text\/event-stream/);
    expect((await call('deleteOpenAiConversationItem', { params: { conversation_id: conv, item_id: (items.json.data as Json[]).at(-1)!.id as string } })).status).toBe(200);
    expect((await call('createChatCompletion', { body: { messages: [{ role: 'user', content: 'Complete' }] } })).status).toBe(200);
    const chunks = await call('createChatCompletion', { body: { messages: [{ role: 'user', content: 'Stream' }], stream: true } });
    expect(chunks.contentType).toMatch(/^text\/event-stream/);
    const models = await call('listOpenAiModels');
    expect(models.status).toBe(200);
    expect((await call('getOpenAiModel', { params: { model: (models.json.data as Json[])[0].id as string } })).status).toBe(200);
    expect((await call('deleteOpenAiConversation', { params: { conversation_id: conv } })).status).toBe(200);

    // Every route answered a 2xx.
    const withSuccess = API_ROUTES.filter((route) => seen.get(route.id)?.has(200)).map((route) => route.id);
    expect(withSuccess).toEqual(API_ROUTES.map((route) => route.id));
  }, 30_000);

  it('answers each route\'s errors in the documented shapes: 401, bad ids and bodies, 413, 415, unknown objects, 429', async () => {
    const badParams: Record<string, string> = { conversation_id: 'not-an-id', share_id: 'not-an-id', item_id: 'bad id', response_id: 'resp_nope', model: 'no-such-model' };
    const unknownParams: Record<string, string> = { conversation_id: randomUUID(), share_id: randomUUID() };
    for (const route of API_ROUTES as readonly ApiRoute[]) {
      const id = route.id as RouteId;
      const hasBody = (document.paths[route.path][route.method.toLowerCase()] as Json).requestBody !== undefined;
      // No token: the gateway's 401 (not on the public route).
      if (route.public !== true) expect((await call(id, { auth: false, params: badParams })).status).toBe(401);
      // A path id that is not one: 422 (backend-api) or 400/404 (OpenAI's).
      if (route.path.includes('{')) expect((await call(id, { params: badParams, ...(hasBody ? { body: {} } : {}) })).status).toBeGreaterThanOrEqual(400);
      // A body that is not an object.
      if (hasBody) {
        const params = route.path.includes('/v1/') ? { conversation_id: `conv_${'0'.repeat(32)}` } : unknownParams;
        expect((await call(id, { params, body: ['not', 'an', 'object'] })).status).toBeGreaterThanOrEqual(400);
        if (route.jsonBody === true) expect((await call(id, { params, rawBody: 'text', contentType: 'text/plain' })).status).toBe(415);
      }
    }
    // Too large: the function's limit (MAX_BODY_BYTES, 256 KiB: 413 detail; 400 on /v1) and the gateway's (1 MiB locally: 413 detail on both).
    const big = 'x'.repeat(300 * 1024);
    expect((await call('updateConversation', { params: unknownParams, body: { title: big } })).status).toBe(413);
    expect((await call('createChatCompletion', { body: { messages: [{ role: 'user', content: big }] } })).status).toBe(400);
    const huge = 'x'.repeat(1100 * 1024);
    expect((await call('createResponse', { body: { input: huge } })).status).toBe(413);
    expect((await call('postConversation', { body: { messages: [message(huge)] } })).status).toBe(413);

    // Unknown objects: 404 in each shape.
    expect((await call('getConversation', { params: unknownParams })).status).toBe(404);
    expect((await call('getSharedConversation', { params: unknownParams, auth: false })).status).toBe(404);
    expect((await call('getOpenAiConversation', { params: { conversation_id: `conv_${'0'.repeat(32)}` } })).status).toBe(404);
    expect((await call('getOpenAiModel', { params: { model: 'no-such-model' } })).status).toBe(404);

    // The turn limit: 429 with Retry-After, in each shape (the first test spent 7 of the 12 turns).
    let limited: Answer | undefined;
    for (let turn = 0; turn < 12 && !limited; turn += 1) {
      const answer = await call('createChatCompletion', { body: { messages: [{ role: 'user', content: `turn ${turn}` }] } });
      if (answer.status === 429) limited = answer;
    }
    expect(limited?.json.error).toMatchObject({ type: 'requests' });
    const refused = await call('postConversation', { body: { messages: [message('over the limit')] } });
    expect(refused.status).toBe(429);
    expect(refused.json.detail).toMatchObject({ code: 'rate_limit_exceeded', retry_after: expect.any(Number) });

    // Every route answered at least one error, each validated.
    const withError = API_ROUTES.filter((route) => [...(seen.get(route.id) ?? [])].some((status) => status >= 400)).map((route) => route.id);
    expect(withError).toEqual(API_ROUTES.map((route) => route.id));
  }, 30_000);
});
