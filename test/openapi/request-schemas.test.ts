/**
 * The request schemas of docs/openapi.json and the handlers' own validators (lambdas/*\/schema.ts,
 * which keep their specific `detail` messages) make the same accept/reject decision: over a corpus
 * of valid requests and of the bad inputs the bad-input corpus sends (test/reliability), each
 * request is parsed by the handler's validator and checked by ajv against the document's
 * parameter and body schemas, and the two must agree — and agree with the sample's expectation.
 * Pure: no I/O. A route added to the table must get samples here (typed by route id).
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AppError } from '@chatbot/shared/testing';
import { API_ROUTES, type RouteId } from '../../layer/src/contracts/route-table';
import { parseGetConversationRequest } from '../../lambdas/get-conversation/schema';
import { parseGetSharedConversationRequest } from '../../lambdas/get-shared-conversation/schema';
import { parseListConversationsRequest } from '../../lambdas/list-conversations/schema';
import { parseChatCompletionRequest } from '../../lambdas/openai-chat-completions/schema';
import * as conversations from '../../lambdas/openai-conversations/schema';
import { parseCreateResponseRequest, parseGetResponseRequest, parseResponsePath } from '../../lambdas/openai-responses/schema';
import { parsePostConversationRequest } from '../../lambdas/post-conversation/schema';
import { parseConversationPath } from '../../lambdas/reply-control/schema';
import { parseResumeRequest } from '../../lambdas/resume-conversation/schema';
import { parseSearchConversationsRequest } from '../../lambdas/search-conversations/schema';
import { parseCreateShareRequest, parseListSharesRequest, parseUpdateShareRequest } from '../../lambdas/share-conversation/schema';
import { parseGenerateTitleRequest, parseRateMessageRequest, parseUpdateAllConversationsRequest, parseUpdateConversationRequest } from '../../lambdas/update-conversation/schema';
import { documentSchemas, requestBodySchemaAt, type Json } from './support';

const document = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../docs/openapi.json'), 'utf8')) as Json;
const schemaAt = documentSchemas(document);
const limits = { maxBodyBytes: 262_144, maxMessageChars: 32_000 };

interface Event {
  readonly body: string | null;
  readonly headers: Record<string, string>;
  readonly isBase64Encoded: boolean;
  readonly pathParameters: Record<string, string> | null;
  readonly queryStringParameters: Record<string, string> | null;
}
interface Sample {
  readonly name: string;
  readonly body?: unknown;
  readonly params?: Record<string, string>;
  readonly query?: Record<string, string>;
  /** Both must accept it (else both must refuse it). */
  readonly ok: boolean;
}
interface RouteCase {
  readonly parse?: (event: Event) => unknown;
  readonly samples: readonly Sample[];
}

const uuid = randomUUID();
const conv = `conv_${uuid.replace(/-/g, '')}`;
const shareId = randomUUID();
const msg = (text: unknown = 'hello', extra: Json = {}) => ({ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: [text] }, ...extra });
const ok = (name: string, sample: Omit<Sample, 'name' | 'ok'> = {}): Sample => ({ name, ok: true, ...sample });
const bad = (name: string, sample: Omit<Sample, 'name' | 'ok'> = {}): Sample => ({ name, ok: false, ...sample });
const conversationPath = { conversation_id: uuid };
const v1Path = { conversation_id: conv };

const pathSamples = (name: string, good: string, extra: Record<string, string> = {}): Sample[] => [
  ok(`a ${name}`, { params: { [name]: good, ...extra } }),
  ok(`an upper-case ${name}`, { params: { [name]: good.toUpperCase(), ...extra } }),
  bad(`a ${name} that is not one`, { params: { [name]: 'not-a-uuid', ...extra } }),
  bad(`an empty ${name}`, { params: { [name]: '', ...extra } }),
  bad(`a ${name} with a NUL`, { params: { [name]: `${good}\u0000`, ...extra } }),
];

const CASES: Readonly<Record<RouteId, RouteCase>> = {
  getConversation: { parse: parseGetConversationRequest, samples: pathSamples('conversation_id', uuid) },
  listConversations: {
    parse: parseListConversationsRequest,
    samples: [
      ok('no query'),
      ok('a page', { query: { offset: '40', limit: '100', is_archived: 'true', order: 'updated' } }),
      ok('leading zeros', { query: { limit: '007' } }),
      bad('limit 0', { query: { limit: '0' } }),
      bad('limit 101', { query: { limit: '101' } }),
      bad('a negative offset', { query: { offset: '-1' } }),
      bad('offset past a million', { query: { offset: '1000001' } }),
      bad('a float', { query: { limit: '2.5' } }),
      bad('ten digits', { query: { offset: '0000000001' } }),
      bad('is_archived yes', { query: { is_archived: 'yes' } }),
    ],
  },
  postConversation: {
    parse: (event) => parsePostConversationRequest(event, limits),
    samples: [
      ok('a new conversation', { body: { action: 'next', messages: [msg()], parent_message_id: 'client-created-root', model: 'auto' } }),
      ok('no action, no parent (the defaults)', { body: { messages: [msg()] } }),
      ok('a 2022 message with role', { body: { messages: [{ id: 'm1', role: 'user', content: { content_type: 'text', parts: ['hi'] } }] } }),
      ok('a follow-up', { body: { action: 'next', conversation_id: uuid, parent_message_id: 'm1', messages: [msg()], supported_encodings: ['v1'] } }),
      ok('a variant without a message', { body: { action: 'variant', conversation_id: uuid, parent_message_id: 'm1' } }),
      ok('continue', { body: { action: 'continue', conversation_id: uuid, parent_message_id: 'a1', messages: [] } }),
      ok('continuing a share', { body: { messages: [msg()], continue_from_shared_conversation_id: shareId, conversation_id: null } }),
      bad('an unknown action', { body: { action: 'jump', messages: [msg()] } }),
      bad('next without messages', { body: { action: 'next', parent_message_id: 'client-created-root' } }),
      bad('next with an empty list', { body: { messages: [] } }),
      bad('messages not a list', { body: { messages: 'hello' } }),
      bad('eleven messages', { body: { messages: Array.from({ length: 11 }, () => msg()) } }),
      bad('an assistant message', { body: { messages: [{ ...msg(), author: { role: 'assistant' } }] } }),
      bad('a message id with spaces', { body: { messages: [{ ...msg(), id: 'a b' }] } }),
      bad('no parts', { body: { messages: [{ ...msg(), content: { content_type: 'text', parts: [] } }] } }),
      bad('a number part in text', { body: { messages: [msg(42)] } }),
      bad('a NUL in the text', { body: { messages: [msg('a\u0000b')] } }),
      bad('a lone surrogate', { body: { messages: [msg('\uD800')] } }),
      bad('an image content type', { body: { messages: [{ ...msg(), content: { content_type: 'image', parts: ['x'] } }] } }),
      bad('a conversation id that is not a UUID', { body: { conversation_id: 'abc', parent_message_id: 'm1', messages: [msg()] } }),
      bad('a follow-up without a parent', { body: { conversation_id: uuid, messages: [msg()] } }),
      bad('variant of no conversation', { body: { action: 'variant', messages: [msg()] } }),
      bad('continue with a message', { body: { action: 'continue', conversation_id: uuid, parent_message_id: 'a1', messages: [msg()] } }),
      bad('a share with a conversation', { body: { messages: [msg()], continue_from_shared_conversation_id: shareId, conversation_id: uuid, parent_message_id: 'm1' } }),
      bad('a model that is not a string', { body: { messages: [msg()], model: 42 } }),
      bad('a body that is a list', { body: [msg()] }),
      bad('a body that is a string', { body: 'hello' }),
    ],
  },
  postConversationLegacyPath: { samples: [] },
  updateConversation: {
    parse: (event) => parseUpdateConversationRequest(event, limits),
    samples: [
      ok('a title', { params: conversationPath, body: { title: 'Trip plans' } }),
      ok('archive and delete', { params: conversationPath, body: { is_archived: true, is_visible: false } }),
      ok('a title with a zero-width joiner among letters', { params: conversationPath, body: { title: 'a\u200db' } }),
      bad('no known field', { params: conversationPath, body: { colour: 'red' } }),
      bad('an empty body', { params: conversationPath, body: {} }),
      bad('a blank title', { params: conversationPath, body: { title: '   ' } }),
      bad('an invisible title', { params: conversationPath, body: { title: '\u200b\u200e' } }),
      bad('a title with a line break', { params: conversationPath, body: { title: 'a\nb' } }),
      bad('a title of 257 characters', { params: conversationPath, body: { title: 'x'.repeat(257) } }),
      bad('a number title', { params: conversationPath, body: { title: 5 } }),
      bad('is_visible true', { params: conversationPath, body: { is_visible: true } }),
      bad('is_archived a string', { params: conversationPath, body: { is_archived: 'yes' } }),
      bad('a bad path id', { params: { conversation_id: 'x' }, body: { title: 'ok' } }),
    ],
  },
  updateAllConversations: {
    parse: (event) => parseUpdateAllConversationsRequest(event, limits),
    samples: [
      ok('delete all', { body: { is_visible: false } }),
      ok('archive all', { body: { is_archived: true } }),
      ok('unknown fields beside a known one', { body: { is_archived: false, order: 'x' } }),
      bad('a title (not a field here)', { body: { title: 'x' } }),
      bad('is_visible true', { body: { is_visible: true } }),
      bad('nothing', { body: {} }),
    ],
  },
  generateTitle: {
    parse: (event) => parseGenerateTitleRequest(event, limits),
    samples: [
      ok('a message id', { params: conversationPath, body: { message_id: 'm1' } }),
      bad('no message id', { params: conversationPath, body: {} }),
      bad('a message id of 129 characters', { params: conversationPath, body: { message_id: 'm'.repeat(129) } }),
      bad('a message id with a slash', { params: conversationPath, body: { message_id: 'a/b' } }),
    ],
  },
  getStreamStatus: { parse: parseConversationPath, samples: pathSamples('conversation_id', uuid) },
  stopReply: { samples: [] },
  resumeReply: {
    parse: (event) => parseResumeRequest(event, limits),
    samples: [
      ok('a conversation and offset', { body: { conversation_id: uuid, offset: 3, token: 'abc' } }),
      ok('no offset, a null token', { body: { conversation_id: uuid, token: null } }),
      bad('a negative offset', { body: { conversation_id: uuid, offset: -1 } }),
      bad('a float offset', { body: { conversation_id: uuid, offset: 1.5 } }),
      bad('an offset past a billion', { body: { conversation_id: uuid, offset: 1_000_000_001 } }),
      bad('no conversation', { body: { offset: 0 } }),
      bad('a token that is a number', { body: { conversation_id: uuid, token: 5 } }),
      bad('a token of 4097 characters', { body: { conversation_id: uuid, token: 't'.repeat(4097) } }),
    ],
  },
  rateMessage: {
    parse: (event) => parseRateMessageRequest(event, limits),
    samples: [
      ok('a thumbs-down with tags and text', { body: { conversation_id: uuid, message_id: 'a1', rating: 'thumbsDown', tags: ['not-helpful'], text: 'Missed it.' } }),
      ok('a thumbs-up, null text', { body: { conversation_id: uuid, message_id: 'a1', rating: 'thumbsUp', text: null } }),
      bad('a rating of 5', { body: { conversation_id: uuid, message_id: 'a1', rating: 5 } }),
      bad('eleven tags', { body: { conversation_id: uuid, message_id: 'a1', rating: 'thumbsUp', tags: Array.from({ length: 11 }, (_, i) => `t${i}`) } }),
      bad('a tag twice', { body: { conversation_id: uuid, message_id: 'a1', rating: 'thumbsUp', tags: ['a', 'a'] } }),
      bad('a tag with a space', { body: { conversation_id: uuid, message_id: 'a1', rating: 'thumbsUp', tags: ['not helpful'] } }),
      bad('text over 2000 characters', { body: { conversation_id: uuid, message_id: 'a1', rating: 'thumbsUp', text: 'x'.repeat(2001) } }),
      bad('text with a NUL', { body: { conversation_id: uuid, message_id: 'a1', rating: 'thumbsUp', text: 'a\u0000' } }),
      bad('no conversation', { body: { message_id: 'a1', rating: 'thumbsUp' } }),
    ],
  },
  listModels: { samples: [] },
  getLimits: { samples: [] },
  searchConversations: {
    parse: parseSearchConversationsRequest,
    samples: [
      ok('a query', { query: { query: 'docker "compose file" -swarm' } }),
      ok('a page of 50 after a cursor', { query: { query: 'x', limit: '50', cursor: 'abc' } }),
      bad('no query'),
      bad('a blank query', { query: { query: '   ' } }),
      bad('257 characters', { query: { query: 'x'.repeat(257) } }),
      bad('a NUL', { query: { query: 'a\u0000' } }),
      bad('limit 51', { query: { query: 'x', limit: '51' } }),
    ],
  },
  createShare: {
    parse: (event) => parseCreateShareRequest(event, limits),
    samples: [
      ok('a node', { body: { conversation_id: uuid, current_node_id: 'a1', is_anonymous: false } }),
      ok('without is_anonymous', { body: { conversation_id: uuid, current_node_id: 'a1' } }),
      bad('no node', { body: { conversation_id: uuid } }),
      bad('an empty node id', { body: { conversation_id: uuid, current_node_id: '' } }),
      bad('is_anonymous a string', { body: { conversation_id: uuid, current_node_id: 'a1', is_anonymous: 'yes' } }),
      bad('a conversation id that is not a UUID', { body: { conversation_id: 'x', current_node_id: 'a1' } }),
    ],
  },
  updateShare: {
    parse: (event) => parseUpdateShareRequest(event, limits),
    samples: [
      ok('a rename', { params: { share_id: shareId }, body: { title: 'Shared notes' } }),
      ok('a revocation', { params: { share_id: shareId }, body: { is_visible: false } }),
      bad('nothing', { params: { share_id: shareId }, body: {} }),
      bad('a blank title', { params: { share_id: shareId }, body: { title: ' ' } }),
      bad('is_visible true', { params: { share_id: shareId }, body: { is_visible: true } }),
      bad('a bad share id', { params: { share_id: 'nope' }, body: { is_visible: false } }),
    ],
  },
  listShares: {
    parse: parseListSharesRequest,
    samples: [ok('no query'), ok('a page', { query: { offset: '20', limit: '20' } }), bad('limit 0', { query: { limit: '0' } }), bad('offset x', { query: { offset: 'x' } })],
  },
  getSharedConversation: { parse: parseGetSharedConversationRequest, samples: pathSamples('share_id', shareId) },
  createOpenAiConversation: {
    parse: (event) => conversations.parseCreateConversationRequest(event, limits),
    samples: [
      ok('items and metadata', { body: { items: [{ type: 'message', role: 'user', content: 'hi' }, { role: 'assistant', content: [{ type: 'output_text', text: 'hello' }] }], metadata: { a: 'b' } } }),
      ok('an empty object', { body: {} }),
      bad('a file item', { body: { items: [{ type: 'input_file', file_id: 'f' }] } }),
      bad('an image part', { body: { items: [{ role: 'user', content: [{ type: 'input_image', image_url: 'x' }] }] } }),
      bad('a tool role', { body: { items: [{ role: 'tool', content: 'x' }] } }),
      bad('21 items', { body: { items: Array.from({ length: 21 }, () => ({ role: 'user', content: 'x' })) } }),
      bad('17 metadata pairs', { body: { metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) } }),
      bad('a metadata value that is a number', { body: { metadata: { a: 1 } } }),
      bad('a metadata value of 513 characters', { body: { metadata: { a: 'x'.repeat(513) } } }),
      bad('content with a NUL', { body: { items: [{ role: 'user', content: 'a\u0000' }] } }),
      bad('no content', { body: { items: [{ role: 'user' }] } }),
    ],
  },
  getOpenAiConversation: { parse: conversations.parseConversationPath, samples: [ok('a conv id', { params: v1Path }), bad('a UUID', { params: { conversation_id: uuid } }), bad('conv_ and 31 digits', { params: { conversation_id: conv.slice(0, -1) } })] },
  updateOpenAiConversation: {
    parse: (event) => conversations.parseUpdateConversationRequest(event, limits),
    samples: [ok('metadata', { params: v1Path, body: { metadata: { a: 'b' } } }), ok('null metadata', { params: v1Path, body: { metadata: null } }), bad('no metadata', { params: v1Path, body: {} }), bad('metadata a list', { params: v1Path, body: { metadata: ['a'] } })],
  },
  deleteOpenAiConversation: { samples: [] },
  listOpenAiConversationItems: {
    parse: conversations.parseListItemsRequest,
    samples: [
      ok('a page', { params: v1Path, query: { limit: '100', order: 'asc', after: 'msg_abc', include: 'x' } }),
      bad('order up', { params: v1Path, query: { order: 'up' } }),
      bad('limit 101', { params: v1Path, query: { limit: '101' } }),
      bad('after an id without msg_', { params: v1Path, query: { after: 'abc' } }),
    ],
  },
  createOpenAiConversationItems: {
    parse: (event) => conversations.parseCreateItemsRequest(event, limits),
    samples: [ok('one item', { params: v1Path, body: { items: [{ role: 'user', content: 'x' }] } }), bad('no items', { params: v1Path, body: {} }), bad('an empty list', { params: v1Path, body: { items: [] } })],
  },
  getOpenAiConversationItem: {
    parse: conversations.parseItemPath,
    samples: [ok('an item', { params: { ...v1Path, item_id: 'msg_abc' } }), bad('an item id without msg_', { params: { ...v1Path, item_id: 'abc' } }), bad('a bad conversation', { params: { conversation_id: 'conv_x', item_id: 'msg_a' } })],
  },
  deleteOpenAiConversationItem: { samples: [] },
  createResponse: {
    parse: (event) => parseCreateResponseRequest(event, limits),
    samples: [
      ok('a string input', { body: { input: 'hello', model: '', stream: true, max_output_tokens: 100, temperature: 0.2 } }),
      ok('items in a conversation', { body: { input: [{ role: 'developer', content: 'be brief' }, { role: 'user', content: 'hi' }], conversation: { id: conv } } }),
      ok('a conversation without input', { body: { conversation: conv } }),
      ok('not stored', { body: { input: 'x', store: false } }),
      bad('no input and no conversation', { body: {} }),
      bad('store false in the background', { body: { input: 'x', store: false, background: true } }),
      bad('store false in a conversation', { body: { input: 'x', store: false, conversation: conv } }),
      bad('both conversation and previous_response_id', { body: { input: 'x', conversation: conv, previous_response_id: `resp_${'a'.repeat(32)}m1` } }),
      bad('a previous response id without resp_', { body: { input: 'x', previous_response_id: 'abc' } }),
      bad('tools', { body: { input: 'x', tools: [{ type: 'function' }] } }),
      bad('max_output_tokens 0', { body: { input: 'x', max_output_tokens: 0 } }),
      bad('stream a string', { body: { input: 'x', stream: 'yes' } }),
      bad('instructions a number', { body: { input: 'x', instructions: 5 } }),
      bad('a conversation that is not one', { body: { input: 'x', conversation: 'c1' } }),
      bad('an input that is a number', { body: { input: 5 } }),
    ],
  },
  getResponse: {
    parse: parseGetResponseRequest,
    samples: [ok('a response', { params: { response_id: 'resp_x' }, query: { stream: 'true', starting_after: '3' } }), bad('stream yes', { params: { response_id: 'resp_x' }, query: { stream: 'yes' } }), bad('starting_after -1', { params: { response_id: 'resp_x' }, query: { starting_after: '-1' } })],
  },
  cancelResponse: { parse: parseResponsePath, samples: [ok('any id', { params: { response_id: 'resp_x' } }), bad('201 characters', { params: { response_id: 'r'.repeat(201) } })] },
  createChatCompletion: {
    parse: (event) => parseChatCompletionRequest(event, limits),
    samples: [
      ok('messages', { body: { model: null, messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: [{ type: 'text', text: 'hi' }] }], stream: true, stream_options: { include_usage: true }, max_tokens: 10, n: 1 } }),
      bad('no messages', { body: { model: 'x' } }),
      bad('an empty list', { body: { messages: [] } }),
      bad('n 2', { body: { messages: [{ role: 'user', content: 'x' }], n: 2 } }),
      bad('tools', { body: { messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function' }] } }),
      bad('a tool message', { body: { messages: [{ role: 'tool', content: 'x' }] } }),
      bad('stream_options a string', { body: { messages: [{ role: 'user', content: 'x' }], stream_options: 'x' } }),
      bad('max_completion_tokens 200001', { body: { messages: [{ role: 'user', content: 'x' }], max_completion_tokens: 200_001 } }),
    ],
  },
  listOpenAiModels: { samples: [] },
  getOpenAiModel: { samples: [] },
};

/** ajv's decision: every path and query parameter against its schema, and the body. */
function schemaAccepts(routeId: RouteId, sample: Sample): boolean {
  const route = API_ROUTES.find((candidate) => candidate.id === routeId)!;
  const operation = document.paths[route.path][route.method.toLowerCase()] as Json;
  const parameters = (operation.parameters ?? []) as Json[];
  for (const [index, parameter] of parameters.entries()) {
    const value = (parameter.in === 'path' ? sample.params : sample.query)?.[parameter.name as string];
    if (value === undefined) {
      if (parameter.required) return false;
      continue;
    }
    if (!schemaAt(['paths', route.path, route.method.toLowerCase(), 'parameters', String(index), 'schema'])(value)) return false;
  }
  if (operation.requestBody) {
    if (sample.body === undefined) return operation.requestBody.required !== true;
    return schemaAt(requestBodySchemaAt(route.path, route.method))(sample.body);
  }
  return true;
}

/** The handler's decision: its parser returns, or throws a 4xx. */
function handlerAccepts(parse: (event: Event) => unknown, sample: Sample): boolean {
  const event: Event = {
    body: sample.body === undefined ? null : JSON.stringify(sample.body),
    headers: { 'content-type': 'application/json' },
    isBase64Encoded: false,
    pathParameters: sample.params ?? null,
    queryStringParameters: sample.query ?? null,
  };
  try {
    parse(event);
    return true;
  } catch (error) {
    if (error instanceof AppError && error.status >= 400 && error.status < 500) return false;
    throw error;
  }
}

describe('request schemas and the handlers\' validators decide alike', () => {
  it.each(API_ROUTES.filter((route) => CASES[route.id].samples.length > 0).map((route) => [route.id]))('%s', (routeId) => {
    const { parse, samples } = CASES[routeId as RouteId];
    const decisions = samples.map((sample) => ({ sample: sample.name, expected: sample.ok, handler: handlerAccepts(parse!, sample), schema: schemaAccepts(routeId as RouteId, sample) }));
    expect(decisions).toEqual(samples.map((sample) => ({ sample: sample.name, expected: sample.ok, handler: sample.ok, schema: sample.ok })));
  });

  it('covers every route that takes a body, a query or a path parameter (the others share a covered route\'s schemas)', () => {
    const sharing: Partial<Record<RouteId, RouteId>> = {
      postConversationLegacyPath: 'postConversation',
      stopReply: 'getStreamStatus',
      deleteOpenAiConversation: 'getOpenAiConversation',
      deleteOpenAiConversationItem: 'getOpenAiConversationItem',
    };
    for (const route of API_ROUTES) {
      const operation = document.paths[route.path][route.method.toLowerCase()] as Json;
      const takesInput = operation.requestBody !== undefined || (operation.parameters ?? []).length > 0;
      const other = API_ROUTES.find((candidate) => candidate.id === sharing[route.id]);
      const pathParams = (operation: Json) => JSON.stringify(((operation.parameters ?? []) as Json[]).filter((parameter) => parameter.in === 'path'));
      const covered =
        CASES[route.id].samples.length > 0 ||
        (other !== undefined && pathParams(operation) === pathParams(document.paths[other.path][other.method.toLowerCase()]) &&
          JSON.stringify(operation.requestBody) === JSON.stringify(document.paths[other.path][other.method.toLowerCase()].requestBody));
      expect({ route: route.id, covered: covered || (!takesInput || route.id === 'getOpenAiModel') }).toEqual({ route: route.id, covered: true });
    }
  });
});
