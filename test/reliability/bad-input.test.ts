/**
 * A corpus of malformed requests against the API functions: each must be a 4xx with a JSON
 * `detail` (never a 5xx) — on OpenAI's routes (`/v1`), OpenAI's `{"error": {message, type,
 * param, code}}` — create no rows and no Redis keys, and leave the handlers healthy.
 */
import { randomUUID } from 'node:crypto';
import { buildRestApiEvent, invokeHandler } from '../../local/lambda-runtime';
import {
  createShare,
  generateTitle,
  getConversation,
  getLimits,
  getSharedConversation,
  listConversations,
  listModels,
  listShares,
  newUserId,
  openaiRequest,
  patchAllConversations,
  patchConversation,
  patchShare,
  postRaw,
  rateMessage,
  searchConversations,
  sendMessage,
  type JsonResponse,
} from '../support/handlers';
import { rawRedis, runPrefix } from '../support/redis';
import { closeDatabase, closeRedis } from '@chatbot/shared/testing';
import { AssertionDatabase } from './support/database';

const db = new AssertionDatabase();
const redis = rawRedis();

afterAll(async () => {
  await closeRedis();
  await closeDatabase();
  await db.close();
  redis.disconnect();
});

async function runKeys(): Promise<Set<string>> {
  const keys = new Set<string>();
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${runPrefix()}*`, 'COUNT', 1000);
    cursor = next;
    for (const key of batch) keys.add(key);
  } while (cursor !== '0');
  return keys;
}

interface BadRequest {
  readonly name: string;
  readonly send: () => Promise<JsonResponse>;
  /** @default any 4xx */
  readonly status?: number;
  readonly code?: string;
  /** The error shape: the backend-api's `{"detail"}`, or OpenAI's `{"error"}` (a `/v1` route). @default 'detail' */
  readonly format?: 'detail' | 'openai';
}

const user = newUserId();
const uuid = randomUUID();
const validMessage = (overrides: Record<string, unknown> = {}) => ({ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: ['hello'] }, ...overrides });
const validBody = (overrides: Record<string, unknown> = {}) => ({ action: 'next', messages: [validMessage()], parent_message_id: randomUUID(), model: 'auto', ...overrides });

const get = (name: string, id: string | null | undefined, status = 422): BadRequest => ({
  name: `GET conversation ${name}`,
  status,
  send: async () => {
    if (id === undefined || id === null) {
      // No path parameter at all (API Gateway would not route it; the handler must still not crash).
      const event = buildRestApiEvent({ method: 'GET', resource: '/backend-api/conversation/{conversation_id}', path: '/backend-api/conversation/', pathParameters: null, userId: user });
      const { handler } = require('../../lambdas/get-conversation') as { handler: unknown };
      const result = await invokeHandler(handler, event);
      const body = result.streamed ? '' : result.body;
      return { statusCode: result.statusCode, headers: result.headers, body, json: JSON.parse(body) };
    }
    return getConversation(id, user);
  },
});
const list = (name: string, query: Record<string, string>): BadRequest => ({ name: `GET conversations ${name}`, status: 422, send: () => listConversations(user, query) });
const post = (name: string, body: unknown, status = 422, options: { headers?: Record<string, string>; code?: string } = {}): BadRequest => ({
  name: `POST ${name}`,
  status,
  code: options.code,
  send: () => postRaw(body, user, { headers: options.headers }),
});
const postBase64 = (name: string, base64: string): BadRequest => ({
  name: `POST ${name}`,
  status: 422,
  send: async () => {
    const event = buildRestApiEvent({ method: 'POST', resource: '/backend-api/f/conversation', path: '/backend-api/f/conversation', headers: { 'Content-Type': 'application/json' }, body: base64, isBase64Encoded: true, userId: user });
    const { handler } = require('../../lambdas/post-conversation') as { handler: unknown };
    const result = await invokeHandler(handler, event);
    let body = '';
    if (result.streamed) for await (const chunk of result.body) body += Buffer.from(chunk).toString('utf8');
    else body = result.body;
    return { statusCode: result.statusCode, headers: result.headers, body, json: JSON.parse(body) };
  },
});

const nested = (depth: number, open: string, close: string, inner = '1') => open.repeat(depth) + inner + close.repeat(depth);

/** An object whose own keys are Object.prototype members, as JSON.parse (and so the Lambda runtime) delivers them. */
const protoKeys = (extra: Record<string, string> = {}): Record<string, string> =>
  Object.assign(JSON.parse('{"__proto__":"x","constructor":"x","toString":"x","hasOwnProperty":"x","valueOf":"x"}'), extra);
/** A value that throws when turned into a string (`String(x)`, a template literal). */
const unprintable = { toString: 1, valueOf: 1 };

/** A handler invoked with an event the test shaped by hand (what a custom authorizer or a direct invoke could send). */
const raw = (name: string, handlerPath: string, build: () => ReturnType<typeof buildRestApiEvent>, status: number): BadRequest => ({
  name,
  status,
  send: async () => {
    const { handler } = require(handlerPath) as { handler: unknown };
    const result = await invokeHandler(handler, build());
    let body = '';
    if (result.streamed) for await (const chunk of result.body) body += Buffer.from(chunk).toString('utf8');
    else body = result.body;
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      json = undefined; // reported as "no JSON detail"
    }
    return { statusCode: result.statusCode, headers: Object.fromEntries(Object.entries(result.headers).map(([k, v]) => [k.toLowerCase(), v])), body, json };
  },
});
const listEventWith = (query: Record<string, unknown>) => () => {
  const event = buildRestApiEvent({ method: 'GET', resource: '/backend-api/conversations', path: '/backend-api/conversations', userId: user });
  return { ...event, queryStringParameters: query as Record<string, string> };
};
const withClaims = (event: ReturnType<typeof buildRestApiEvent>, claims: Record<string, unknown>) => ({
  ...event,
  requestContext: { ...event.requestContext, authorizer: { claims } },
});
/** The get, list and post handlers, each called by a caller whose `sub` is `sub`. */
const asSub = (label: string, sub: unknown): BadRequest[] => [
  raw(`POST as ${label}`, '../../lambdas/post-conversation', () => withClaims(buildRestApiEvent({ method: 'POST', resource: '/backend-api/f/conversation', path: '/backend-api/f/conversation', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(validBody()) }), { sub }), 401),
  raw(`GET as ${label}`, '../../lambdas/get-conversation', () => withClaims(buildRestApiEvent({ method: 'GET', resource: '/backend-api/conversation/{conversation_id}', path: `/backend-api/conversation/${uuid}`, pathParameters: { conversation_id: uuid } }), { sub }), 401),
  raw(`list as ${label}`, '../../lambdas/list-conversations', () => withClaims(buildRestApiEvent({ method: 'GET', resource: '/backend-api/conversations', path: '/backend-api/conversations' }), { sub }), 401),
];

const corpus: BadRequest[] = [
  // GET /conversation/{id}: ids that are not UUIDs, path tricks, unicode look-alikes.
  ...[
    ['not-a-uuid', 'not-a-uuid'],
    ['empty', ''],
    ['digits', '123'],
    ['dot-dot', '..'],
    ['traversal', '../../etc/passwd'],
    ['encoded traversal', '..%2F..%2Fetc%2Fpasswd'],
    ['uuid + traversal', `${uuid}/../${uuid}`],
    ['uuid + query', `${uuid}?user_id=x`],
    ['uuid + trailing newline', `${uuid}\n`],
    ['uuid + trailing space', `${uuid} `],
    ['uuid + NUL', `${uuid}\u0000`],
    ['uuid in braces', `{${uuid}}`],
    ['uuid without hyphens', uuid.replaceAll('-', '')],
    ['uuid too long', `${uuid}0`],
    ['uuid with a Cyrillic а', `${uuid.slice(0, -1)}а`],
    ['fullwidth digits', '１２３４５６７８-１２３４-１２３４-１２３４-１２３４５６７８９０１２'],
    ['SQL injection', "1' OR '1'='1"],
    ['SQL comment', `${uuid}'--`],
    ['lone surrogate', `${uuid.slice(0, -1)}\ud800`],
    ['10k characters', 'a'.repeat(10_000)],
    ['wildcard', '*'],
    ['redis glob', 'conv:*:history'],
    ['__proto__', '__proto__'],
    ['constructor', 'constructor'],
  ].map(([name, id]) => get(name, id)),
  get('without a path parameter', null),
  get('unknown UUID', randomUUID(), 404),
  // GET /conversations: offset and limit.
  ...[
    ['limit=-1', { limit: '-1' }],
    ['limit=0', { limit: '0' }],
    ['limit=101', { limit: '101' }],
    ['limit=1e3', { limit: '1e3' }],
    ['limit=1.5', { limit: '1.5' }],
    ['limit=20.0', { limit: '20.0' }],
    ['limit=abc', { limit: 'abc' }],
    ['limit empty', { limit: '' }],
    ['limit= 1', { limit: ' 1' }],
    ['limit=0x10', { limit: '0x10' }],
    ['limit=1_0', { limit: '1_0' }],
    ['limit=9999999999999999999999', { limit: '9999999999999999999999' }],
    ['limit=Infinity', { limit: 'Infinity' }],
    ['limit=NaN', { limit: 'NaN' }],
    ['limit=Arabic-Indic digits', { limit: '١٢' }],
    ['limit=+5', { limit: '+5' }],
    ['limit=5;DROP TABLE conversations', { limit: '5;DROP TABLE conversations' }],
    ['offset=-1', { offset: '-1' }],
    ['offset=1.0', { offset: '1.0' }],
    ['offset=abc', { offset: 'abc' }],
    ['offset=1000001', { offset: '1000001' }],
    ['offset huge', { offset: '123456789012345' }],
    ['offset=-0', { offset: '-0' }],
    ['offset NUL', { offset: '1\u00000' }],
    ['both bad', { offset: 'x', limit: 'y' }],
  ].map(([name, query]) => list(name as string, query as Record<string, string>)),
  // POST: not JSON, not an object, truncated, deeply nested, huge.
  post('empty body', ''),
  post('whitespace body', '   \n'),
  post('null', 'null'),
  post('array', '[]'),
  post('string', '"hello"'),
  post('number', '42'),
  post('true', 'true'),
  post('truncated JSON', '{"action":"next","messages":[{"id":"a","author":{"role":"user"'),
  post('single quotes', "{'action':'next'}"),
  post('trailing comma', '{"action":"next",}'),
  post('NaN literal', '{"action":NaN}'),
  post('comment', '{"action":"next" /* hi */}'),
  post('byte-order mark', `\ufeff${JSON.stringify(validBody())}`),
  post('deeply nested array body', nested(100_000, '[', ']')),
  post('deeply nested object in messages', `{"action":"next","messages":${nested(50_000, '[', ']', '{}')}}`),
  post('deeply nested parts', `{"action":"next","messages":[{"id":"x","author":{"role":"user"},"content":{"content_type":"text","parts":${nested(20_000, '[', ']', '"a"')}}}]}`),
  post('body over MAX_BODY_BYTES', JSON.stringify(validBody({ padding: 'x'.repeat(300 * 1024) })), 413, { code: 'payload_too_large' }),
  // Wrong content types.
  post('text/html', validBody(), 415, { headers: { 'Content-Type': 'text/html' } }),
  post('form-urlencoded', 'action=next', 415, { headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }),
  post('multipart', validBody(), 415, { headers: { 'Content-Type': 'multipart/form-data; boundary=x' } }),
  post('application/xml', '<action>next</action>', 415, { headers: { 'Content-Type': 'application/xml' } }),
  post('application/jsonp', validBody(), 415, { headers: { 'Content-Type': 'application/jsonp' } }),
  postBase64('base64 garbage', Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x80]).toString('base64')),
  postBase64('base64 of truncated JSON', Buffer.from('{"action":"ne').toString('base64')),
  // Fields missing or of the wrong type.
  post('no messages', { action: 'next' }),
  post('messages null', validBody({ messages: null })),
  post('messages empty', validBody({ messages: [] })),
  post('messages object', validBody({ messages: {} })),
  post('messages string', validBody({ messages: 'hello' })),
  post('messages [null]', validBody({ messages: [null] })),
  post('messages [1]', validBody({ messages: [1] })),
  post('11 messages', validBody({ messages: Array.from({ length: 11 }, () => validMessage()) })),
  post('action unknown', validBody({ action: 'delete' })),
  post('action number', validBody({ action: 1 })),
  post('action array', validBody({ action: ['next'] })),
  post('conversation_id not a UUID', validBody({ conversation_id: 'abc' })),
  post('conversation_id empty', validBody({ conversation_id: '' })),
  post('conversation_id number', validBody({ conversation_id: 123 })),
  post('conversation_id Infinity', '{"action":"next","conversation_id":1e999,"messages":[]}'),
  post('conversation_id object', validBody({ conversation_id: { $ne: null } })),
  post('conversation_id SQL', validBody({ conversation_id: "' OR 1=1 --" })),
  post('conversation_id unknown', validBody({ conversation_id: randomUUID() }), 404),
  post('parent_message_id missing with conversation_id', { action: 'next', conversation_id: randomUUID(), messages: [validMessage()] }),
  post('parent_message_id empty', validBody({ parent_message_id: '' })),
  post('parent_message_id with spaces', validBody({ parent_message_id: 'a b' })),
  post('parent_message_id 129 chars', validBody({ parent_message_id: 'a'.repeat(129) })),
  post('parent_message_id number', validBody({ parent_message_id: 7 })),
  post('parent_message_id object', validBody({ parent_message_id: {} })),
  post('parent_message_id unicode', validBody({ parent_message_id: 'é' })),
  post('message id missing', validBody({ messages: [validMessage({ id: undefined })] })),
  post('message id empty', validBody({ messages: [validMessage({ id: '' })] })),
  post('message id with slash', validBody({ messages: [validMessage({ id: '../x' })] })),
  post('message id 200 chars', validBody({ messages: [validMessage({ id: 'a'.repeat(200) })] })),
  post('message id number', validBody({ messages: [validMessage({ id: 5 })] })),
  post('message id NUL', validBody({ messages: [validMessage({ id: 'a\u0000b' })] })),
  post('role assistant', validBody({ messages: [validMessage({ author: { role: 'assistant' } })] })),
  post('role system', validBody({ messages: [validMessage({ author: { role: 'system' } })] })),
  post('no author', validBody({ messages: [validMessage({ author: undefined })] })),
  post('author a string', validBody({ messages: [validMessage({ author: 'user' })] })),
  post('content missing', validBody({ messages: [validMessage({ content: undefined })] })),
  post('content a string', validBody({ messages: [validMessage({ content: 'hello' })] })),
  post('content_type image', validBody({ messages: [validMessage({ content: { content_type: 'image', parts: ['x'] } })] })),
  post('content_type number', validBody({ messages: [validMessage({ content: { content_type: 1, parts: ['x'] } })] })),
  post('parts missing', validBody({ messages: [validMessage({ content: { content_type: 'text' } })] })),
  post('parts empty', validBody({ messages: [validMessage({ content: { content_type: 'text', parts: [] } })] })),
  post('parts a string', validBody({ messages: [validMessage({ content: { content_type: 'text', parts: 'hello' } })] })),
  post('parts [1]', validBody({ messages: [validMessage({ content: { content_type: 'text', parts: [1] } })] })),
  post('parts [null]', validBody({ messages: [validMessage({ content: { content_type: 'text', parts: [null] } })] })),
  post('parts [{}] as text', validBody({ messages: [validMessage({ content: { content_type: 'text', parts: [{}] } })] })),
  post('multimodal without text', validBody({ messages: [validMessage({ content: { content_type: 'multimodal_text', parts: [{ asset: 'x' }] } })] })),
  post('101 parts', validBody({ messages: [validMessage({ content: { content_type: 'text', parts: Array.from({ length: 101 }, () => 'a') } })] })),
  post('empty text', validBody({ messages: [validMessage({ content: { content_type: 'text', parts: [''] } })] })),
  post('blank text', validBody({ messages: [validMessage({ content: { content_type: 'text', parts: [' \n\t '] } })] })),
  // Unicode edge cases.
  post('NUL in text', validBody({ messages: [validMessage({ content: { content_type: 'text', parts: ['a\u0000b'] } })] })),
  post('lone high surrogate', '{"action":"next","messages":[{"id":"x1","author":{"role":"user"},"content":{"content_type":"text","parts":["a\\ud800b"]}}]}'),
  post('lone low surrogate', '{"action":"next","messages":[{"id":"x2","author":{"role":"user"},"content":{"content_type":"text","parts":["\\udc00"]}}]}'),
  post('reversed surrogate pair', '{"action":"next","messages":[{"id":"x3","author":{"role":"user"},"content":{"content_type":"text","parts":["\\udc00\\ud800"]}}]}'),
  post('escaped NUL', '{"action":"next","messages":[{"id":"x4","author":{"role":"user"},"content":{"content_type":"text","parts":["\\u0000"]}}]}'),
  // Oversize text.
  post('text of MAX_MESSAGE_CHARS + 1', validBody({ messages: [validMessage({ content: { content_type: 'text', parts: ['a'.repeat(32_001)] } })] }), 413, { code: 'message_length_exceeds_limit' }),
  post('parts summing over MAX_MESSAGE_CHARS', validBody({ messages: [validMessage({ content: { content_type: 'text', parts: ['a'.repeat(16_000), 'b'.repeat(16_000)] } })] }), 413, { code: 'message_length_exceeds_limit' }),
  post('oversize emoji text', validBody({ messages: [validMessage({ content: { content_type: 'text', parts: ['😀'.repeat(16_001)] } })] }), 413, { code: 'message_length_exceeds_limit' }),
  // Prototype keys must not stand in for the real fields.
  post('__proto__ carrying messages', `{"action":"next","__proto__":{"messages":[${JSON.stringify(validMessage())}]}}`),
  post('constructor.prototype carrying messages', `{"action":"next","constructor":{"prototype":{"messages":[${JSON.stringify(validMessage())}]}}}`),
  post('message __proto__ carrying the fields', `{"action":"next","messages":[{"__proto__":${JSON.stringify(validMessage())}}]}`),
  post('content __proto__ carrying parts', `{"action":"next","messages":[{"id":"p1","author":{"role":"user"},"content":{"__proto__":{"content_type":"text","parts":["x"]}}}]}`),
  // Action combinations.
  post('continue with a message', validBody({ action: 'continue', conversation_id: randomUUID() })),
  post('variant without a conversation', validBody({ action: 'variant' })),
  post('continue without a conversation', { action: 'continue', parent_message_id: randomUUID() }),
  // Objects where strings belong: String(x) of these throws, so none may reach a message or a log line unchecked.
  post('action an unprintable object', { action: unprintable }),
  post('action an unprintable object, no conversation', { action: unprintable, conversation_id: null, messages: [validMessage()] }),
  post('action an unprintable object with a conversation', validBody({ action: unprintable, conversation_id: randomUUID() })),
  post('conversation_id an unprintable object', validBody({ conversation_id: unprintable })),
  post('parent_message_id an unprintable object', validBody({ parent_message_id: unprintable })),
  post('message id an unprintable object', validBody({ messages: [validMessage({ id: unprintable })] })),
  post('role an unprintable object', validBody({ messages: [validMessage({ author: { role: unprintable } })] })),
  post('content_type an unprintable object', validBody({ messages: [validMessage({ content: { content_type: unprintable, parts: ['x'] } })] })),
  post('parts [unprintable]', validBody({ messages: [validMessage({ content: { content_type: 'text', parts: [unprintable] } })] })),
  post('content an unprintable object', validBody({ messages: [validMessage({ content: unprintable })] })),
  raw('POST with a body that is an object, not a string', '../../lambdas/post-conversation', () => ({ ...buildRestApiEvent({ method: 'POST', resource: '/backend-api/f/conversation', path: '/backend-api/f/conversation', headers: { 'Content-Type': 'application/json' }, userId: user }), body: validBody() as unknown as string }), 422),
  raw('POST with a Content-Type that is an object', '../../lambdas/post-conversation', () => {
    const event = buildRestApiEvent({ method: 'POST', resource: '/backend-api/f/conversation', path: '/backend-api/f/conversation', body: JSON.stringify(validBody()), userId: user });
    return { ...event, headers: { 'Content-Type': unprintable as unknown as string } };
  }, 415),
  raw('GET conversations with limit an unprintable object', '../../lambdas/list-conversations', listEventWith({ limit: unprintable }), 422),
  raw('GET conversations with offset an array', '../../lambdas/list-conversations', listEventWith({ offset: ['1'] }), 422),
  raw('GET conversation with an unprintable path parameter', '../../lambdas/get-conversation', () => ({ ...buildRestApiEvent({ method: 'GET', resource: '/backend-api/conversation/{conversation_id}', path: '/backend-api/conversation/x', userId: user }), pathParameters: { conversation_id: unprintable as unknown as string } }), 422),
  // Object.prototype members as keys: in the body, the query and the headers.
  post('prototype-member keys in the body, no messages', `{"action":"next","constructor":1,"toString":1,"hasOwnProperty":1,"valueOf":1,"__proto__":1}`),
  post('prototype-member keys in a message', `{"action":"next","messages":[{"toString":"x","constructor":{"role":"user"},"hasOwnProperty":"id"}]}`),
  post('prototype-member keys in content', `{"action":"next","messages":[{"id":"p2","author":{"role":"user"},"content":{"constructor":"text","toString":["x"],"valueOf":1}}]}`),
  list('prototype-member keys and a bad limit', protoKeys({ limit: 'abc' })),
  list('prototype-member keys and a bad offset', protoKeys({ offset: '-1' })),
  post('prototype-member header names, invalid body', { action: 'next' }, 422, { headers: protoKeys() }),
  { name: 'GET conversation with prototype-member header names, bad id', status: 422, send: async () => {
    const event = buildRestApiEvent({ method: 'GET', resource: '/backend-api/conversation/{conversation_id}', path: '/backend-api/conversation/x', pathParameters: { conversation_id: 'x' }, headers: protoKeys(), userId: user });
    const { handler } = require('../../lambdas/get-conversation') as { handler: unknown };
    const result = await invokeHandler(handler, event);
    const body = result.streamed ? '' : result.body;
    return { statusCode: result.statusCode, headers: result.headers, body, json: JSON.parse(body) };
  } },
  // The lifecycle routes (update-conversation) get the same shapes.
  ...[
    ['title an unprintable object', { title: unprintable }],
    ['is_archived an unprintable object', { is_archived: unprintable }],
    ['is_visible an unprintable object', { is_visible: unprintable }],
    ['only prototype-member keys', JSON.parse('{"__proto__":{"title":"x"},"constructor":1,"toString":1,"hasOwnProperty":1}')],
    ['title with NUL', { title: 'a\u0000b' }],
    ['title a lone surrogate', '{"title":"\\ud800"}'],
    // Titles nobody could see, or that break a one-line sidebar.
    ['title only zero-width spaces', { title: '\u200B\u200B' }],
    ['title only a right-to-left override', { title: '\u202E' }],
    ['title only a BOM and a word joiner', { title: '\uFEFF\u2060' }],
    ['title only Hangul fillers', { title: '\u3164\u3164' }],
    ['title with ESC', { title: 'a\u001b[31mred' }],
    ['title with CR/LF', { title: 'line one\r\nline two' }],
    ['title with a tab', { title: 'a\tb' }],
    ['title with a C1 control', { title: 'a\u0085b' }],
    ['title of 257 characters', { title: 'x'.repeat(257) }],
  ].map(([name, body]) => ({ name: `PATCH conversation ${name as string}`, status: 422, send: () => patchConversation(uuid, body, user) })),
  ...[
    ['is_archived an unprintable object', { is_archived: unprintable }],
    ['only prototype-member keys', JSON.parse('{"__proto__":{"is_visible":false},"constructor":1,"valueOf":1}')],
  ].map(([name, body]) => ({ name: `PATCH conversations ${name as string}`, status: 422, send: () => patchAllConversations(body, user) })),
  { name: 'gen_title with message_id an unprintable object', status: 422, send: () => generateTitle(uuid, { message_id: unprintable }, user) },
  raw('PATCH with a body that is an object, not a string', '../../lambdas/update-conversation', () => ({ ...buildRestApiEvent({ method: 'PATCH', resource: '/backend-api/conversations', path: '/backend-api/conversations', headers: { 'Content-Type': 'application/json' }, userId: user }), body: { is_archived: true } as unknown as string }), 422),
  raw('PATCH with a Content-Type that is an object', '../../lambdas/update-conversation', () => {
    const event = buildRestApiEvent({ method: 'PATCH', resource: '/backend-api/conversations', path: '/backend-api/conversations', body: '{"is_archived":true}', userId: user });
    return { ...event, headers: { 'Content-Type': unprintable as unknown as string } };
  }, 415),
  raw('PATCH text/plain', '../../lambdas/update-conversation', () => buildRestApiEvent({ method: 'PATCH', resource: '/backend-api/conversations', path: '/backend-api/conversations', headers: { 'Content-Type': 'text/plain' }, body: '{"is_archived":true}', userId: user }), 415),
  raw('PATCH as a sub with NUL', '../../lambdas/update-conversation', () => withClaims(buildRestApiEvent({ method: 'PATCH', resource: '/backend-api/conversations', path: '/backend-api/conversations', headers: { 'Content-Type': 'application/json' }, body: '{"is_archived":true}' }), { sub: 'eve\u0000' }), 401),
  raw('PATCH as a sub with a lone surrogate', '../../lambdas/update-conversation', () => withClaims(buildRestApiEvent({ method: 'PATCH', resource: '/backend-api/conversations', path: '/backend-api/conversations', headers: { 'Content-Type': 'application/json' }, body: '{"is_archived":true}' }), { sub: 'eve\ud800' }), 401),
  // text/plain is not JSON: 415 like every other non-JSON type (ChatGPT clients send application/json).
  post('text/plain', validBody(), 415, { headers: { 'Content-Type': 'text/plain' }, code: 'unsupported_media_type' }),
  post('text/plain; charset=utf-8', validBody(), 415, { headers: { 'Content-Type': 'text/plain; charset=utf-8' } }),
  // Identities that cannot be stored as themselves: NUL, lone surrogates (Postgres and Redis make them U+FFFD).
  ...asSub('a sub with NUL', 'eve\u0000'),
  ...asSub('a sub that is only NUL', '\u0000'),
  ...asSub('a sub with a lone high surrogate', 'eve\ud800'),
  ...asSub('a sub with a lone low surrogate', '\udc00eve'),
  ...asSub('a sub with a reversed surrogate pair', 'eve\udc00\ud800'),
  ...asSub('a sub that is an object', unprintable),
  ...asSub('a sub that is a number', 42),
  // The model a POST names: only a listed slug (or none, or "auto").
  post('model unlisted', validBody({ model: 'gpt-4o' }), 422, { code: 'model_not_allowed' }),
  post('model a ChatGPT slug of 2022', validBody({ model: 'text-davinci-002-render-sha' }), 422, { code: 'model_not_allowed' }),
  post('model with a NUL', validBody({ model: 'local-offline-model\u0000' }), 422, { code: 'model_not_allowed' }),
  post('model a listed slug in another case', validBody({ model: 'LOCAL-OFFLINE-MODEL' }), 422, { code: 'model_not_allowed' }),
  post('model 100k characters', validBody({ model: 'm'.repeat(100_000) }), 422, { code: 'model_not_allowed' }),
  post('model a number', validBody({ model: 7 })),
  post('model a list', validBody({ model: ['local-offline-model'] })),
  post('model an unprintable object', validBody({ model: unprintable })),
  post('model __proto__', validBody({ model: '__proto__' }), 422, { code: 'model_not_allowed' }),
  post('model constructor', validBody({ model: 'constructor' }), 422, { code: 'model_not_allowed' }),
  // Rating a reply (update-conversation): the body, its fields, and what they point at.
  ...[
    ['empty body', ''],
    ['not an object', '[]'],
    ['invalid JSON', '{"rating":'],
    ['no fields', {}],
    ['rating missing', { conversation_id: uuid, message_id: 'm1' }],
    ['rating unknown', { conversation_id: uuid, message_id: 'm1', rating: 'meh' }],
    ['rating lower case', { conversation_id: uuid, message_id: 'm1', rating: 'thumbsup' }],
    ['rating an unprintable object', { conversation_id: uuid, message_id: 'm1', rating: unprintable }],
    ['conversation_id not a UUID', { conversation_id: 'abc', message_id: 'm1', rating: 'thumbsUp' }],
    ['conversation_id an unprintable object', { conversation_id: unprintable, message_id: 'm1', rating: 'thumbsUp' }],
    ['message_id missing', { conversation_id: uuid, rating: 'thumbsUp' }],
    ['message_id with a slash', { conversation_id: uuid, message_id: '../x', rating: 'thumbsUp' }],
    ['message_id an unprintable object', { conversation_id: uuid, message_id: unprintable, rating: 'thumbsUp' }],
    ['tags a string', { conversation_id: uuid, message_id: 'm1', rating: 'thumbsDown', tags: 'bad' }],
    ['tags an object', { conversation_id: uuid, message_id: 'm1', rating: 'thumbsDown', tags: { 0: 'bad' } }],
    ['a tag with spaces', { conversation_id: uuid, message_id: 'm1', rating: 'thumbsDown', tags: ['not helpful'] }],
    ['a tag of 65 characters', { conversation_id: uuid, message_id: 'm1', rating: 'thumbsDown', tags: ['t'.repeat(65)] }],
    ['a tag an unprintable object', { conversation_id: uuid, message_id: 'm1', rating: 'thumbsDown', tags: [unprintable] }],
    ['eleven tags', { conversation_id: uuid, message_id: 'm1', rating: 'thumbsDown', tags: Array.from({ length: 11 }, (_, i) => `t${i}`) }],
    ['text over 2,000 characters', { conversation_id: uuid, message_id: 'm1', rating: 'thumbsDown', text: 'x'.repeat(2001) }],
    ['text a lone surrogate', '{"conversation_id":"' + uuid + '","message_id":"m1","rating":"thumbsDown","text":"\\ud800"}'],
    ['text an unprintable object', { conversation_id: uuid, message_id: 'm1', rating: 'thumbsDown', text: unprintable }],
    ['prototype-member keys only', JSON.parse('{"__proto__":{"rating":"thumbsUp"},"constructor":1,"toString":1}')],
  ].map(([name, body]) => ({ name: `rate a message: ${name as string}`, status: 422, send: () => rateMessage(body, user) })),
  { name: 'rate a message in an unknown conversation', status: 404, code: 'conversation_not_found', send: () => rateMessage({ conversation_id: randomUUID(), message_id: 'm1', rating: 'thumbsUp' }, user) },
  raw('rate a message as text/plain', '../../lambdas/update-conversation', () => buildRestApiEvent({ method: 'POST', resource: '/backend-api/conversation/message_feedback', path: '/backend-api/conversation/message_feedback', headers: { 'Content-Type': 'text/plain' }, body: '{}', userId: user }), 415),
  raw('rate a message as a sub with NUL', '../../lambdas/update-conversation', () => withClaims(buildRestApiEvent({ method: 'POST', resource: '/backend-api/conversation/message_feedback', path: '/backend-api/conversation/message_feedback', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ conversation_id: uuid, message_id: 'm1', rating: 'thumbsUp' }) }), { sub: 'eve\u0000' }), 401),
  // Models and limits take no input but the caller's identity.
  { name: 'GET models without an identity', status: 401, send: () => listModels(undefined) },
  { name: 'GET limits without an identity', status: 401, send: () => getLimits(undefined) },
  raw('GET models as a sub with a lone surrogate', '../../lambdas/models-and-limits', () => withClaims(buildRestApiEvent({ method: 'GET', resource: '/backend-api/models', path: '/backend-api/models' }), { sub: 'eve\ud800' }), 401),
  raw('GET limits as a sub that is an object', '../../lambdas/models-and-limits', () => withClaims(buildRestApiEvent({ method: 'GET', resource: '/backend-api/limits', path: '/backend-api/limits' }), { sub: unprintable }), 401),
  // Search: what cannot be a query. Anything else typed is searchable text (the odd-query test below).
  ...[
    ['without a query', {}],
    ['empty', { query: '' }],
    ['whitespace only', { query: ' \t\n\u00a0\u3000 ' }],
    ['257 characters', { query: 'a'.repeat(257) }],
    ['10k characters', { query: 'a '.repeat(5000) }],
    ['with NUL', { query: 'a\u0000b' }],
    ['only NUL', { query: '\u0000' }],
    ['a lone surrogate', { query: 'a\ud800' }],
    ['a reversed surrogate pair', { query: '\udc00\ud800' }],
    ['limit=0', { query: 'a', limit: '0' }],
    ['limit=51', { query: 'a', limit: '51' }],
    ['limit=abc', { query: 'a', limit: 'abc' }],
    ['cursor garbage', { query: 'a', cursor: '!!!' }],
    ['cursor empty', { query: 'a', cursor: '' }],
    ['cursor of another shape', { query: 'a', cursor: Buffer.from('{"offset":20}').toString('base64url') }],
    ['cursor with a null rank', { query: 'a', cursor: Buffer.from(`[1,"x","1",null,"1","${uuid}"]`).toString('base64url') }],
    ['cursor with SQL', { query: 'a', cursor: Buffer.from(`[1,"x","1; DROP TABLE messages",0,"1","${uuid}"]`).toString('base64url') }],
    ['cursor 10k', { query: 'a', cursor: 'A'.repeat(10_000) }],
    ['cursor with NUL', { query: 'a', cursor: 'a\u0000b' }],
  ].map(([name, query]) => ({ name: `search ${name as string}`, status: 422, send: () => searchConversations(user, query as Record<string, string>) })),
  raw('search with query an unprintable object', '../../lambdas/search-conversations', () => ({ ...buildRestApiEvent({ method: 'GET', resource: '/backend-api/conversations/search', path: '/backend-api/conversations/search', userId: user }), queryStringParameters: { query: unprintable as unknown as string } }), 422),
  raw('search with query an array', '../../lambdas/search-conversations', () => ({ ...buildRestApiEvent({ method: 'GET', resource: '/backend-api/conversations/search', path: '/backend-api/conversations/search', userId: user }), queryStringParameters: { query: ['a', 'b'] as unknown as string } }), 422),
  raw('search with cursor an object', '../../lambdas/search-conversations', () => ({ ...buildRestApiEvent({ method: 'GET', resource: '/backend-api/conversations/search', path: '/backend-api/conversations/search', userId: user }), queryStringParameters: { query: 'a', cursor: unprintable as unknown as string } }), 422),
  raw('search as a sub with NUL', '../../lambdas/search-conversations', () => withClaims(buildRestApiEvent({ method: 'GET', resource: '/backend-api/conversations/search', path: '/backend-api/conversations/search', query: { query: 'a' } }), { sub: 'eve\u0000' }), 401),
  { name: 'search without an identity', status: 401, send: () => searchConversations(undefined, { query: 'a' }) },
  // Share links: creating.
  ...[
    ['empty object', {}],
    ['conversation_id not a UUID', { conversation_id: 'abc', current_node_id: 'm1' }],
    ['conversation_id an object', { conversation_id: { $ne: null }, current_node_id: 'm1' }],
    ['current_node_id missing', { conversation_id: uuid }],
    ['current_node_id empty', { conversation_id: uuid, current_node_id: '' }],
    ['current_node_id with a slash', { conversation_id: uuid, current_node_id: '../m1' }],
    ['current_node_id 129 characters', { conversation_id: uuid, current_node_id: 'a'.repeat(129) }],
    ['current_node_id an unprintable object', { conversation_id: uuid, current_node_id: unprintable }],
    ['is_anonymous a string', { conversation_id: uuid, current_node_id: 'm1', is_anonymous: 'yes' }],
    ['prototype-member keys only', JSON.parse('{"__proto__":{"conversation_id":"x"},"constructor":1,"toString":1}')],
    ['invalid JSON', '{"conversation_id":'],
    ['an array', '[]'],
  ].map(([name, body]) => ({ name: `share create ${name as string}`, status: 422, send: () => createShare(body, user) })),
  { name: 'share create of an unknown conversation', status: 404, code: 'conversation_not_found', send: () => createShare({ conversation_id: randomUUID(), current_node_id: 'm1' }, user) },
  { name: 'share create text/plain', status: 415, send: () => createShare({ conversation_id: uuid, current_node_id: 'm1' }, user, { 'Content-Type': 'text/plain' }) },
  { name: 'share create over MAX_BODY_BYTES', status: 413, send: () => createShare({ conversation_id: uuid, current_node_id: 'm1', padding: 'x'.repeat(300 * 1024) }, user) },
  { name: 'share create without an identity', status: 401, send: () => createShare({ conversation_id: uuid, current_node_id: 'm1' }, undefined) },
  // Share links: changing, listing, reading.
  ...[
    ['no known field', uuid, {}],
    ['is_visible true', uuid, { is_visible: true }],
    ['title blank', uuid, { title: '  ' }],
    ['title 257 characters', uuid, { title: 'a'.repeat(257) }],
    ['title with NUL', uuid, { title: 'a\u0000' }],
    ['title an unprintable object', uuid, { title: unprintable }],
    ['id not a UUID', 'not-a-uuid', { title: 'x' }],
    ['id a traversal', '../../etc/passwd', { title: 'x' }],
  ].map(([name, id, body]) => ({ name: `share update ${name as string}`, status: 422, send: () => patchShare(id as string, body, user) })),
  { name: 'share update of an unknown share', status: 404, code: 'share_not_found', send: () => patchShare(randomUUID(), { is_visible: false }, user) },
  { name: 'share update without an identity', status: 401, send: () => patchShare(uuid, { title: 'x' }, undefined) },
  ...([{ limit: '0' }, { limit: '101' }, { offset: '-1' }, { limit: 'abc' }] as Record<string, string>[]).map((query) => ({ name: `shared_conversations ${JSON.stringify(query)}`, status: 422, send: () => listShares(user, query) })),
  { name: 'shared_conversations without an identity', status: 401, send: () => listShares(undefined) },
  ...['not-a-uuid', '', '..', `${uuid}\u0000`, `${uuid}/../x`, 'share:*', 'a'.repeat(10_000)].map((id) => ({ name: `public share read of ${JSON.stringify(id.slice(0, 40))}`, status: 422, send: () => getSharedConversation(id) })),
  { name: 'public share read of an unknown share', status: 404, code: 'share_not_found', send: () => getSharedConversation(randomUUID()) },
  // Continuing a share.
  post('continue_from_shared_conversation_id not a UUID', validBody({ continue_from_shared_conversation_id: 'abc' })),
  post('continue_from_shared_conversation_id a number', validBody({ continue_from_shared_conversation_id: 7 })),
  post('continue_from_shared_conversation_id an unprintable object', validBody({ continue_from_shared_conversation_id: unprintable })),
  post('continue_from_shared_conversation_id with a conversation_id', validBody({ conversation_id: uuid, continue_from_shared_conversation_id: uuid })),
  post('continue_from_shared_conversation_id with action variant', validBody({ action: 'variant', continue_from_shared_conversation_id: uuid })),
  post('continue_from_shared_conversation_id of an unknown share', validBody({ continue_from_shared_conversation_id: randomUUID() }), 404, { code: 'share_not_found' }),
  // Identity.
  { name: 'POST without an identity', status: 401, send: () => postRaw(validBody(), undefined) },
  { name: 'POST with an empty sub', status: 401, send: () => postRaw(validBody(), '') },
  { name: 'GET without an identity', status: 401, send: () => getConversation(randomUUID(), undefined) },
  { name: 'list without an identity', status: 401, send: () => listConversations(undefined) },
];

// OpenAI's API (/v1): the same refusals in OpenAI's shape, a 400 naming the parameter.
const unknownConversation = `conv_${randomUUID().replaceAll('-', '')}`;
const v1 = (name: string, method: string, path: string, options: { body?: unknown; query?: Record<string, string>; headers?: Record<string, string>; status?: number; code?: string; userId?: string | null } = {}): BadRequest => ({
  name: `${method} ${path.split('/').slice(0, 3).join('/')} ${name}`,
  status: options.status ?? 400,
  code: options.code,
  format: 'openai',
  send: () => openaiRequest(method, path, options.userId === null ? undefined : (options.userId ?? user), { body: options.body, query: options.query, headers: options.headers }),
});
const item = (overrides: Record<string, unknown> = {}) => ({ type: 'message', role: 'user', content: 'hello', ...overrides });
const createConversation = (name: string, body: unknown, status = 400, code?: string) => v1(name, 'POST', '/v1/conversations', { body, status, code });
const createResponse = (name: string, body: unknown, status = 400, code?: string) => v1(name, 'POST', '/v1/responses', { body, status, code });
const chat = (name: string, body: unknown) => v1(name, 'POST', '/v1/chat/completions', { body });
const chatBody = (overrides: Record<string, unknown> = {}) => ({ model: 'local-offline-model', messages: [{ role: 'user', content: 'hi' }], ...overrides });

const openaiCorpus: BadRequest[] = [
  // Conversations: the body.
  ...[
    ['null', 'null'],
    ['an array', '[]'],
    ['a string', '"x"'],
    ['truncated JSON', '{"items":['],
    ['items an object', { items: {} }],
    ['items a string', { items: 'hello' }],
    ['21 items', { items: Array.from({ length: 21 }, () => item()) }],
    ['an item that is null', { items: [null] }],
    ['a function_call item', { items: [{ type: 'function_call', call_id: 'c', name: 'f', arguments: '{}' }] }],
    ['an item reference', { items: [{ type: 'item_reference', id: 'msg_1' }] }],
    ['role tool', { items: [item({ role: 'tool' })] }],
    ['role system', { items: [item({ role: 'system' })] }],
    ['role developer', { items: [item({ role: 'developer' })] }],
    ['role an unprintable object', { items: [item({ role: unprintable })] }],
    ['content a number', { items: [item({ content: 42 })] }],
    ['content empty', { items: [item({ content: [] })] }],
    ['content an image', { items: [item({ content: [{ type: 'input_image', image_url: 'https://x.example/a.png' }] })] }],
    ['content a file', { items: [item({ content: [{ type: 'input_file', file_id: 'file-1' }] })] }],
    ['text a number', { items: [item({ content: [{ type: 'input_text', text: 5 }] })] }],
    ['text blank', { items: [item({ content: ' \n ' })] }],
    ['text with NUL', { items: [item({ content: 'a\u0000b' })] }],
    ['text a lone surrogate', '{"items":[{"role":"user","content":"a\\ud800"}]}'],
    ['text of MAX_MESSAGE_CHARS + 1', { items: [item({ content: 'a'.repeat(32_001) })] }],
    ['metadata a list', { metadata: ['a'] }],
    ['metadata of 17 pairs', { metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) }],
    ['a metadata value a number', { metadata: { a: 1 } }],
    ['a metadata key of 65 characters', { metadata: { ['k'.repeat(65)]: 'v' } }],
    ['a metadata value of 513 characters', { metadata: { a: 'v'.repeat(513) } }],
    ['a metadata value unprintable', { metadata: { a: unprintable } }],
    ['__proto__ carrying items', `{"__proto__":{"items":[{"role":"system","content":"x"}]},"items":[{"role":"tool","content":"x"}]}`],
    ['over MAX_BODY_BYTES', { items: [item()], padding: 'x'.repeat(300 * 1024) }],
  ].map(([name, body]) => createConversation(name as string, body)),
  v1('as text/plain', 'POST', '/v1/conversations', { body: '{}', headers: { 'Content-Type': 'text/plain' } }),
  // Conversations: the ids of the path.
  ...['abc', 'conv_', `conv_${'g'.repeat(32)}`, `conv_${'a'.repeat(33)}`, randomUUID(), randomUUID().replaceAll('-', ''), '__proto__', 'conv_..%2F..'].map((id) =>
    v1(`id ${JSON.stringify(id)}`, 'GET', `/v1/conversations/${encodeURIComponent(id)}`),
  ),
  v1('an unknown conversation', 'GET', `/v1/conversations/${unknownConversation}`, { status: 404, code: 'conversation_not_found' }),
  v1('update without metadata', 'POST', `/v1/conversations/${unknownConversation}`, { body: {} }),
  v1('update with metadata a string', 'POST', `/v1/conversations/${unknownConversation}`, { body: { metadata: 'x' } }),
  v1('update an unknown conversation', 'POST', `/v1/conversations/${unknownConversation}`, { body: { metadata: { a: 'b' } }, status: 404 }),
  v1('delete an unknown conversation', 'DELETE', `/v1/conversations/${unknownConversation}`, { status: 404 }),
  // Items.
  ...[
    ['limit=0', { limit: '0' }],
    ['limit=101', { limit: '101' }],
    ['limit=abc', { limit: 'abc' }],
    ['limit=-1', { limit: '-1' }],
    ['order=up', { order: 'up' }],
    ['after=x', { after: 'x' }],
    ['after with a space', { after: 'msg_a b' }],
  ].map(([name, query]) => v1(`items ${name as string}`, 'GET', `/v1/conversations/${unknownConversation}/items`, { query: query as Record<string, string> })),
  v1('items of an unknown conversation', 'GET', `/v1/conversations/${unknownConversation}/items`, { status: 404 }),
  v1('add no items', 'POST', `/v1/conversations/${unknownConversation}/items`, { body: {} }),
  v1('add an empty list', 'POST', `/v1/conversations/${unknownConversation}/items`, { body: { items: [] } }),
  v1('add an image', 'POST', `/v1/conversations/${unknownConversation}/items`, { body: { items: [item({ content: [{ type: 'input_image' }] })] } }),
  v1('add to an unknown conversation', 'POST', `/v1/conversations/${unknownConversation}/items`, { body: { items: [item()] }, status: 404 }),
  ...['x', 'msg_', 'msg_a%2Fb', 'msg_a%20b'].map((itemId) => v1(`item id ${itemId}`, 'GET', `/v1/conversations/${unknownConversation}/items/${itemId}`)),
  v1('an item of an unknown conversation', 'GET', `/v1/conversations/${unknownConversation}/items/msg_1`, { status: 404 }),
  v1('delete an item of an unknown conversation', 'DELETE', `/v1/conversations/${unknownConversation}/items/msg_1`, { status: 404 }),
  // Responses.
  ...[
    ['empty body', ''],
    ['null', 'null'],
    ['invalid JSON', '{"input":'],
    ['model a number', { model: 7, input: 'x' }],
    ['model unknown', { model: 'gpt-nothing', input: 'x' }],
    ['model a ChatGPT slug in another case', { model: 'LOCAL-OFFLINE-MODEL', input: 'x' }],
    ['model __proto__', { model: '__proto__', input: 'x' }],
    ['no input', {}],
    ['input a number', { input: 42 }],
    ['input empty', { input: [] }],
    ['input blank', { input: '   ' }],
    ['input with NUL', { input: 'a\u0000b' }],
    ['input of MAX_MESSAGE_CHARS + 1', { input: 'a'.repeat(32_001) }],
    ['input a tool message', { input: [item({ role: 'tool' })] }],
    ['input an image', { input: [item({ content: [{ type: 'input_image', image_url: 'x' }] })] }],
    ['input ending with an assistant message', { input: [item(), item({ role: 'assistant' })] }],
    ['21 input items', { input: Array.from({ length: 21 }, () => item()) }],
    ['instructions a number', { input: 'x', instructions: 5 }],
    ['conversation malformed', { input: 'x', conversation: 'abc' }],
    ['conversation an object without an id', { input: 'x', conversation: { id: 5 } }],
    ['previous_response_id malformed', { input: 'x', previous_response_id: 'resp_x' }],
    ['conversation and previous_response_id', { input: 'x', conversation: unknownConversation, previous_response_id: `resp_${'a'.repeat(64)}` }],
    ['stream a string', { input: 'x', stream: 'yes' }],
    ['background a string', { input: 'x', background: 'yes' }],
    ['store a string', { input: 'x', store: 'no' }],
    ['background without store', { input: 'x', background: true, store: false }],
    ['a conversation without store', { input: 'x', conversation: unknownConversation, store: false }],
    ['max_output_tokens 0', { input: 'x', max_output_tokens: 0 }],
    ['max_output_tokens 1.5', { input: 'x', max_output_tokens: 1.5 }],
    ['max_output_tokens huge', { input: 'x', max_output_tokens: 1e12 }],
    ['tools', { input: 'x', tools: [{ type: 'function', name: 'f' }] }],
  ].map(([name, body]) => createResponse(name as string, body)),
  createResponse('in an unknown conversation', { input: 'x', conversation: unknownConversation }, 404, 'conversation_not_found'),
  createResponse('after an unknown response', { input: 'x', previous_response_id: `resp_${'a'.repeat(64)}` }, 404, 'response_not_found'),
  v1('as text/plain', 'POST', '/v1/responses', { body: '{"input":"x"}', headers: { 'Content-Type': 'text/plain' } }),
  v1('a malformed id', 'GET', '/v1/responses/x', { status: 404 }),
  v1('an unknown id', 'GET', `/v1/responses/resp_${'b'.repeat(64)}`, { status: 404, code: 'response_not_found' }),
  v1('stream=maybe', 'GET', `/v1/responses/resp_${'b'.repeat(64)}`, { query: { stream: 'maybe' } }),
  v1('starting_after=-1', 'GET', `/v1/responses/resp_${'b'.repeat(64)}`, { query: { stream: 'true', starting_after: '-1' } }),
  v1('stream an unknown one', 'GET', `/v1/responses/resp_${'b'.repeat(64)}`, { query: { stream: 'true' }, status: 404 }),
  v1('cancel an unknown one', 'POST', `/v1/responses/resp_${'b'.repeat(64)}/cancel`, { status: 404 }),
  // Chat completions.
  chat('no messages', chatBody({ messages: undefined })),
  chat('messages empty', chatBody({ messages: [] })),
  chat('messages a string', chatBody({ messages: 'hi' })),
  chat('a tool message', chatBody({ messages: [{ role: 'tool', content: 'x', tool_call_id: 'c' }] })),
  chat('a function message', chatBody({ messages: [{ role: 'function', content: 'x', name: 'f' }] })),
  chat('an image', chatBody({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] })),
  chat('audio', chatBody({ messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: '', format: 'wav' } }] }] })),
  chat('content null', chatBody({ messages: [{ role: 'assistant', content: null, tool_calls: [] }] })),
  chat('content blank', chatBody({ messages: [{ role: 'user', content: '' }] })),
  chat('n=2', chatBody({ n: 2 })),
  chat('tools', chatBody({ tools: [{ type: 'function', function: { name: 'f' } }] })),
  chat('max_tokens 0', chatBody({ max_tokens: 0 })),
  chat('stream a string', chatBody({ stream: 'true' })),
  chat('stream_options a number', chatBody({ stream: true, stream_options: 5 })),
  chat('model unknown', chatBody({ model: 'gpt-4o' })),
  chat('model a list', chatBody({ model: ['local-offline-model'] })),
  // Models and identity.
  v1('an unknown model', 'GET', '/v1/models/gpt-nothing', { status: 404, code: 'model_not_found' }),
  v1('a model named constructor', 'GET', '/v1/models/constructor', { status: 404 }),
  v1('without an identity', 'GET', '/v1/models', { status: 401, code: 'invalid_api_key', userId: null }),
  v1('without an identity', 'POST', '/v1/responses', { body: { input: 'x' }, status: 401, userId: null }),
  v1('without an identity', 'POST', '/v1/conversations', { body: {}, status: 401, userId: null }),
  v1('with an identity that is a lone surrogate', 'POST', '/v1/chat/completions', { body: chatBody(), status: 401, userId: 'eve\ud800' }),
];
corpus.push(...openaiCorpus);

describe('bad-input corpus', () => {
  it(`answers all ${corpus.length} malformed requests 4xx with a JSON detail, creating no rows and no keys`, async () => {
    expect(corpus.length).toBeGreaterThanOrEqual(100);
    const rowsBefore = await db.rowCounts();
    const keysBefore = await runKeys();
    const wrong: string[] = [];
    const statuses: Record<number, number> = {};
    for (const request of corpus) {
      const response = await request.send();
      statuses[response.statusCode] = (statuses[response.statusCode] ?? 0) + 1;
      const problems = [];
      if (response.statusCode < 400 || response.statusCode > 499) problems.push(`status ${response.statusCode}`);
      if (request.status !== undefined && response.statusCode !== request.status) problems.push(`status ${response.statusCode}, expected ${request.status}`);
      if (request.format === 'openai') {
        const error = response.json?.error;
        const shaped = error && typeof error === 'object' && ['message', 'type', 'param', 'code'].every((key) => Object.hasOwn(error, key)) && typeof error.message === 'string';
        if (!shaped) problems.push(`no OpenAI error: ${response.body.slice(0, 120)}`);
        if (request.code !== undefined && error?.code !== request.code) problems.push(`code ${JSON.stringify(error)}`);
      } else {
        if (!response.json || typeof response.json !== 'object' || !('detail' in response.json)) problems.push(`no JSON detail: ${response.body.slice(0, 120)}`);
        if (request.code !== undefined && response.json?.detail?.code !== request.code) problems.push(`code ${JSON.stringify(response.json?.detail)}`);
      }
      if (!String(response.headers['content-type'] ?? response.headers['Content-Type']).startsWith('application/json')) problems.push('not application/json');
      if (problems.length > 0) wrong.push(`${request.name}: ${problems.join('; ')}`);
    }
    const rowsAfter = await db.rowCounts();
    const newKeys = [];
    for (const key of await runKeys()) {
      if (keysBefore.has(key)) continue;
      // The unknown-conversation POST is a valid request: it counts against the caller's turn limit.
      if (key === `${runPrefix()}user:${user}:turns`) continue;
      // The unknown-UUID GETs may leave their fill leases (a key, or a hash field, for seconds); any other new key is a leak.
      const type = await redis.type(key);
      const values = type === 'string' ? [await redis.get(key)] : type === 'hash' ? await redis.hvals(key) : [null];
      if (!values.every((value) => value?.startsWith('\u0000lease:'))) newKeys.push(key);
    }
    console.log(`[reliability] bad-input corpus: ${corpus.length} requests, statuses ${JSON.stringify(statuses)}, wrong: ${wrong.length}`);
    expect(wrong).toEqual([]);
    expect(rowsAfter).toEqual(rowsBefore);
    expect(newKeys).toEqual([]);
    // Nothing leaked onto the shared prototypes.
    expect(({} as Record<string, unknown>).messages).toBeUndefined();
    expect(({} as Record<string, unknown>).content_type).toBeUndefined();
  }, 60_000);

  it('an unknown conversation id leaves at most a short-lived fill lease, never a cached body', async () => {
    const id = randomUUID();
    expect((await getConversation(id, user)).statusCode).toBe(404);
    const key = `${runPrefix()}conv:${id}:history`;
    const value = await redis.get(key);
    if (value !== null) {
      expect(value.startsWith('\u0000lease:')).toBe(true);
      expect(await redis.pttl(key)).toBeLessThanOrEqual(10_000);
    }
  });

  it('stores SQL-looking and other hostile-but-valid text verbatim (200)', async () => {
    const texts = [
      "Robert'); DROP TABLE messages;--",
      "' OR '1'='1' UNION SELECT user_id FROM conversations --",
      '$1 $$ \\x00 \\\\ %s %n {{7*7}} ${process.env}',
      '"__proto__": {"admin": true}',
      '👩‍💻 RTL \u202e text 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \ufeff zero-width\u200b',
    ];
    const userId = newUserId();
    for (const text of texts) {
      const sent = await sendMessage(userId, text);
      expect((await db.message(sent.conversationId, sent.userMessageId))?.parts).toEqual([text]);
      const read = await getConversation(sent.conversationId, userId);
      expect(read.json.mapping[sent.userMessageId].message.content.parts).toEqual([text]);
    }
  });

  it('keeps every node whose id is a prototype member name (__proto__, constructor, prototype, hasOwnProperty)', async () => {
    for (const id of ['__proto__', 'constructor', 'prototype', 'hasOwnProperty']) {
      const userId = newUserId();
      // As the message id, and as the root (the first parent_message_id).
      const asMessage = await sendMessage(userId, `message ${id}`, { messageId: id });
      const asRoot = await sendMessage(userId, `root ${id}`, { parentMessageId: id });
      for (const sent of [asMessage, asRoot]) {
        const read = await getConversation(sent.conversationId, userId);
        expect(read.statusCode).toBe(200);
        const mapping = JSON.parse(read.body).mapping;
        // root, system, user, assistant: all four, each linked both ways.
        expect(Object.keys(mapping)).toHaveLength(4);
        expect(Object.hasOwn(mapping, id)).toBe(true);
        for (const node of Object.values(mapping) as { id: string; parent?: string; children: string[] }[]) {
          if (node.parent !== undefined) expect(mapping[node.parent].children).toContain(node.id);
        }
      }
    }
  });

  it('accepts a title with visible text among format characters, trimmed (200)', async () => {
    const userId = newUserId();
    const sent = await sendMessage(userId, 'to rename');
    expect((await patchConversation(sent.conversationId, { title: '  \u202Eשלום\u202C world\u200B ' }, userId)).statusCode).toBe(200);
    expect(await db.conversationTitle(sent.conversationId)).toBe('\u202Eשלום\u202C world\u200B');
  });

  it('searches whatever a user types — quotes, operators, backslashes, other scripts, emoji — answering 200, never a 5xx', async () => {
    const userId = newUserId();
    // Something to match, so the odd queries run against rows as well as against nothing.
    await sendMessage(userId, 'Quotes "and" apostrophes don\'t, a & b | !c, C:\\path\\to, 👩‍💻 Привет 你好 مرحبا (and parentheses)');
    const queries = [
      '"', '""', '"""', "'", "''", '"unbalanced', 'unbalanced"', '"a" "b', "don't", "'a':*",
      '&', '|', '!', ':', '*', '(', ')', '&|!:*()', 'a & b | !c', '!(a)', 'a:*', 'a:A', 'a:*B', ':*', '<->', 'a <-> b', '<2>', 'a <2> b',
      '\\', '\\\\', 'C:\\path\\to', '\\"', "\\'", 'a\\', '\\x00', '\\u0000',
      '-', '--', '-a', '- -a', '"-"', '-"a b"', 'or', 'OR', 'or or', 'a or', 'or a', 'and', 'not', 'a -', 'a -"',
      '%', '%_', '_', "' OR '1'='1", '$1', '$', '; DROP TABLE messages; --', '{}', '[]', '<script>alert(1)</script>', '{{7*7}}',
      '😀', '👩‍💻', '🏳️‍🌈 flag', 'Привет', '你好', 'مرحبا', 'שלום', 'こんにちは', 'नमस्ते', 'สวัสดี', 'e\u0301', 'ﬁ ligature', 'ǅ', 'İstanbul',
      '\u202e rtl', 'zero\u200bwidth', '\ufeffbom', 'tab\tand\nnewline', 'cr\r\nlf', 'bell\u0007', '\u0001\u001f', '\u00a0nbsp',
      'a'.repeat(256), 'é'.repeat(256), '😀'.repeat(128), 'x '.repeat(128), `${'ab'.repeat(100)}:*`, ' padded ', '\t a',
    ];
    const wrong: string[] = [];
    for (const query of queries) {
      const response = await searchConversations(userId, { query });
      if (response.statusCode !== 200 || !Array.isArray(response.json?.items) || !('cursor' in response.json)) wrong.push(`${JSON.stringify(query)}: ${response.statusCode} ${response.body.slice(0, 120)}`);
    }
    console.log(`[reliability] odd search queries: ${queries.length}, wrong: ${wrong.length}`);
    expect(wrong).toEqual([]);
    // And they match what they should.
    for (const query of ['"and"', 'Привет', '你好', '(and', 'a & b', 'C:\\path']) expect([query, (await searchConversations(userId, { query })).json.items.length]).toEqual([query, 1]);
  });

  it('ignores prototype-member query keys on an otherwise valid list (200)', async () => {
    const listed = await listConversations(newUserId(), protoKeys({ offset: '0', limit: '5' }));
    expect(listed.statusCode).toBe(200);
    expect(listed.json).toMatchObject({ items: [], offset: 0, limit: 5 });
  });

  it('keeps eve\\ufffd and eve\\ud800 apart: the second is refused, not merged into the first', async () => {
    const owner = `eve\ufffd-${randomUUID()}`;
    const sent = await sendMessage(owner, 'mine');
    const impostor = owner.replace('\ufffd', '\ud800');
    expect((await getConversation(sent.conversationId, impostor)).statusCode).toBe(401);
    expect((await listConversations(impostor)).statusCode).toBe(401);
    expect((await getConversation(sent.conversationId, owner)).statusCode).toBe(200);
  });

  it('is healthy after the corpus: a valid request succeeds and reads back', async () => {
    const userId = newUserId();
    const sent = await sendMessage(userId, 'still alive?');
    const read = await getConversation(sent.conversationId, userId);
    expect(read.statusCode).toBe(200);
    expect(read.json.mapping[sent.assistantMessageId].message.status).toBe('finished_successfully');
    const listed = await listConversations(userId);
    expect(listed.json.items.map((item: { id: string }) => item.id)).toEqual([sent.conversationId]);
  });
});
