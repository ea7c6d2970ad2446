/**
 * Invokes the real handlers the way API Gateway and the Lambda runtime do (the local
 * emulator), against the real Postgres and Redis of the test run.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { buildRestApiEvent, installLambdaRuntimeGlobals, invokeHandler, type InvokeResult } from '../../local/lambda-runtime';
import { API_ROUTES, type ApiFunctionName } from '../../layer/src/contracts/route-table';
import { parseSse, type SseEvent } from './sse';

installLambdaRuntimeGlobals();
// Loaded after the runtime globals: middy's streaming mode calls awslambda.streamifyResponse at import.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const handlers = {
  get: require('../../lambdas/get-conversation').handler as unknown,
  list: require('../../lambdas/list-conversations').handler as unknown,
  post: require('../../lambdas/post-conversation').handler as unknown,
  update: require('../../lambdas/update-conversation').handler as unknown,
  resume: require('../../lambdas/resume-conversation').handler as unknown,
  control: require('../../lambdas/reply-control').handler as unknown,
  modelsAndLimits: require('../../lambdas/models-and-limits').handler as unknown,
  search: require('../../lambdas/search-conversations').handler as unknown,
  share: require('../../lambdas/share-conversation').handler as unknown,
  shared: require('../../lambdas/get-shared-conversation').handler as unknown,
};
/** The OpenAI API's functions, by route-table name. */
const openaiHandlers: Partial<Record<ApiFunctionName, unknown>> = {
  'openai-conversations': require('../../lambdas/openai-conversations').handler as unknown,
  'openai-responses': require('../../lambdas/openai-responses').handler as unknown,
  'openai-chat-completions': require('../../lambdas/openai-chat-completions').handler as unknown,
  'openai-models': require('../../lambdas/openai-models').handler as unknown,
};

export interface JsonResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

async function toJsonResponse(result: InvokeResult): Promise<JsonResponse> {
  const body = result.streamed ? await readAll(result.body) : result.body;
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  return { statusCode: result.statusCode, headers: lowerCaseKeys(result.headers), body, json };
}

const lowerCaseKeys = (headers: Record<string, string>) => Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));

export async function getConversation(conversationId: string, userId: string | undefined): Promise<JsonResponse> {
  const event = buildRestApiEvent({
    method: 'GET',
    resource: '/backend-api/conversation/{conversation_id}',
    path: `/backend-api/conversation/${conversationId}`,
    pathParameters: { conversation_id: conversationId },
    headers: { Origin: 'https://chat.example.com' },
    userId,
  });
  return toJsonResponse(await invokeHandler(handlers.get, event));
}

export async function listConversations(userId: string | undefined, query: Record<string, string> = {}): Promise<JsonResponse> {
  const event = buildRestApiEvent({
    method: 'GET',
    resource: '/backend-api/conversations',
    path: '/backend-api/conversations',
    query,
    headers: { Origin: 'https://chat.example.com' },
    userId,
  });
  return toJsonResponse(await invokeHandler(handlers.list, event));
}

/** A JSON request to update-conversation on one of its routes (`body` as given when a string). */
async function invokeUpdate(method: string, resource: string, path: string, body: unknown, userId: string | undefined, pathParameters: Record<string, string> | null): Promise<JsonResponse> {
  const event = buildRestApiEvent({
    method,
    resource,
    path,
    pathParameters,
    headers: { Origin: 'https://chat.example.com', 'Content-Type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    userId,
  });
  return toJsonResponse(await invokeHandler(handlers.update, event));
}

/** PATCH /backend-api/conversation/{id}. */
export const patchConversation = (conversationId: string, body: unknown, userId: string | undefined): Promise<JsonResponse> =>
  invokeUpdate('PATCH', '/backend-api/conversation/{conversation_id}', `/backend-api/conversation/${conversationId}`, body, userId, { conversation_id: conversationId });

/** PATCH /backend-api/conversations. */
export const patchAllConversations = (body: unknown, userId: string | undefined): Promise<JsonResponse> =>
  invokeUpdate('PATCH', '/backend-api/conversations', '/backend-api/conversations', body, userId, null);

/** POST /backend-api/conversation/gen_title/{id}. */
export const generateTitle = (conversationId: string, body: unknown, userId: string | undefined): Promise<JsonResponse> =>
  invokeUpdate(
    'POST',
    '/backend-api/conversation/gen_title/{conversation_id}',
    `/backend-api/conversation/gen_title/${conversationId}`,
    body,
    userId,
    { conversation_id: conversationId },
  );

/** POST /backend-api/conversation/message_feedback. */
export const rateMessage = (body: unknown, userId: string | undefined): Promise<JsonResponse> =>
  invokeUpdate('POST', '/backend-api/conversation/message_feedback', '/backend-api/conversation/message_feedback', body, userId, null);

/** GET /backend-api/models or GET /backend-api/limits. */
async function getModelsOrLimits(path: '/backend-api/models' | '/backend-api/limits', userId: string | undefined): Promise<JsonResponse> {
  const event = buildRestApiEvent({ method: 'GET', resource: path, path, headers: { Origin: 'https://chat.example.com' }, userId });
  return toJsonResponse(await invokeHandler(handlers.modelsAndLimits, event));
}

/** GET /backend-api/models. */
export const listModels = (userId: string | undefined): Promise<JsonResponse> => getModelsOrLimits('/backend-api/models', userId);

/** GET /backend-api/limits. */
export const getLimits = (userId: string | undefined): Promise<JsonResponse> => getModelsOrLimits('/backend-api/limits', userId);

/** GET /backend-api/conversations/search with these query parameters. */
export async function searchConversations(userId: string | undefined, query: Record<string, string>): Promise<JsonResponse> {
  const event = buildRestApiEvent({
    method: 'GET',
    resource: '/backend-api/conversations/search',
    path: '/backend-api/conversations/search',
    query,
    headers: { Origin: 'https://chat.example.com' },
    userId,
  });
  return toJsonResponse(await invokeHandler(handlers.search, event));
}

/** POST /backend-api/share/create. */
export async function createShare(body: unknown, userId: string | undefined, headers: Record<string, string> = { Origin: 'https://chat.example.com' }): Promise<JsonResponse> {
  const event = buildRestApiEvent({
    method: 'POST',
    resource: '/backend-api/share/create',
    path: '/backend-api/share/create',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    userId,
  });
  return toJsonResponse(await invokeHandler(handlers.share, event));
}

/** PATCH /backend-api/share/{share_id}. */
export async function patchShare(shareId: string, body: unknown, userId: string | undefined): Promise<JsonResponse> {
  const event = buildRestApiEvent({
    method: 'PATCH',
    resource: '/backend-api/share/{share_id}',
    path: `/backend-api/share/${shareId}`,
    pathParameters: { share_id: shareId },
    headers: { Origin: 'https://chat.example.com', 'Content-Type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    userId,
  });
  return toJsonResponse(await invokeHandler(handlers.share, event));
}

/** GET /backend-api/shared_conversations. */
export async function listShares(userId: string | undefined, query: Record<string, string> = {}): Promise<JsonResponse> {
  const event = buildRestApiEvent({ method: 'GET', resource: '/backend-api/shared_conversations', path: '/backend-api/shared_conversations', query, userId });
  return toJsonResponse(await invokeHandler(handlers.share, event));
}

/** GET /backend-api/share/{share_id}: public, so no identity at all (as the gateway passes it). */
export async function getSharedConversation(shareId: string): Promise<JsonResponse> {
  const event = buildRestApiEvent({
    method: 'GET',
    resource: '/backend-api/share/{share_id}',
    path: `/backend-api/share/${shareId}`,
    pathParameters: { share_id: shareId },
    headers: { Origin: 'https://reader.example.com' },
  });
  return toJsonResponse(await invokeHandler(handlers.shared, event));
}

export interface PostResult extends JsonResponse {
  readonly events: SseEvent[];
  /** How many separate chunks the body arrived in. */
  readonly chunks: number;
}

/** Options of a streamed request. */
export interface StreamOptions {
  readonly headers?: Record<string, string>;
  /** Aborting is the client going away. */
  readonly signal?: AbortSignal;
  readonly onChunk?: (text: string) => void;
  /** The function's timeout (the Lambda context's remaining time). @default 30 s */
  readonly timeoutMs?: number;
}

/** Sends a raw POST body (string or object) and reads the whole response. */
export async function postRaw(body: unknown, userId: string | undefined, options: StreamOptions = {}): Promise<PostResult> {
  return streamRaw(handlers.post, '/backend-api/f/conversation', body, userId, options);
}

/** POST /backend-api/f/conversation/resume with a raw body; reads the whole response. */
export async function resumeRaw(body: unknown, userId: string | undefined, options: StreamOptions = {}): Promise<PostResult> {
  return streamRaw(handlers.resume, '/backend-api/f/conversation/resume', body, userId, options);
}

/** GET stream_status or POST stop of a conversation's reply. */
export async function replyControl(action: 'stream_status' | 'stop', conversationId: string, userId: string | undefined): Promise<JsonResponse> {
  const event = buildRestApiEvent({
    method: action === 'stop' ? 'POST' : 'GET',
    resource: `/backend-api/conversation/{conversation_id}/${action}`,
    path: `/backend-api/conversation/${conversationId}/${action}`,
    pathParameters: { conversation_id: conversationId },
    headers: { Origin: 'https://chat.example.com' },
    userId,
  });
  return toJsonResponse(await invokeHandler(handlers.control, event));
}

async function streamRaw(handler: unknown, path: string, body: unknown, userId: string | undefined, options: StreamOptions): Promise<PostResult> {
  const event = buildRestApiEvent({
    method: 'POST',
    resource: path,
    path,
    headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream', ...options.headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    userId,
  });
  const result = await invokeHandler(handler, event, {
    signal: options.signal,
    ...(options.timeoutMs === undefined ? {} : { context: { timeoutMs: options.timeoutMs } }),
  });
  if (!result.streamed) return { ...(await toJsonResponse(result)), events: [], chunks: 1 };
  let text = '';
  let chunks = 0;
  try {
    for await (const chunk of result.body) {
      const piece = Buffer.from(chunk).toString('utf8');
      text += piece;
      chunks += 1;
      options.onChunk?.(piece);
    }
  } catch (error) {
    if (!options.signal?.aborted) throw error;
  }
  const response = { statusCode: result.statusCode, headers: lowerCaseKeys(result.headers), body: text };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { ...response, json, events: parseSse(text), chunks };
}

export interface SentMessage {
  readonly conversationId: string;
  readonly userMessageId: string;
  readonly assistantMessageId: string;
  readonly response: PostResult;
}

/** Posts one user message (a new conversation when `conversationId` is absent) and waits for the whole reply. */
export async function sendMessage(
  userId: string,
  text: string,
  options: { conversationId?: string; parentMessageId?: string; v1?: boolean; action?: string; messageId?: string; model?: string; continueFromShareId?: string } = {},
): Promise<SentMessage> {
  const userMessageId = options.messageId ?? randomUUID();
  const response = await postRaw(
    {
      action: options.action ?? 'next',
      messages: [{ id: userMessageId, author: { role: 'user' }, content: { content_type: 'text', parts: [text] }, metadata: {} }],
      conversation_id: options.conversationId ?? null,
      parent_message_id: options.parentMessageId ?? (options.continueFromShareId ? undefined : randomUUID()),
      model: options.model ?? 'auto',
      ...(options.continueFromShareId ? { continue_from_shared_conversation_id: options.continueFromShareId } : {}),
      ...(options.v1 ? { supported_encodings: ['v1'] } : {}),
    },
    userId,
  );
  if (response.statusCode !== 200) throw new Error(`POST failed: ${response.statusCode} ${response.body}`);
  const completion = response.events.find((e) => e.json?.is_completion === true || e.json?.type === 'message_stream_complete');
  const conversationId = completion?.json.conversation_id as string;
  const assistant = response.events.filter((e) => e.json?.message?.author?.role === 'assistant').at(-1)?.json.message.id
    ?? response.events.find((e) => e.json?.o === 'add')?.json.v.message.id;
  return { conversationId, userMessageId, assistantMessageId: assistant as string, response };
}

export const newUserId = (): string => `user-${randomUUID()}`;

/** Options of {@link openaiRequest}. */
export interface OpenAiRequestOptions extends StreamOptions {
  /** A JSON body (an object, or a string sent as it is). @default none */
  readonly body?: unknown;
  readonly query?: Record<string, string>;
}

/**
 * A request to an OpenAI API route (`/v1/...`), routed by the route table to its function as
 * API Gateway would (the path's `{name}` segments become path parameters), read to its end.
 */
export async function openaiRequest(method: string, path: string, userId: string | undefined, options: OpenAiRequestOptions = {}): Promise<PostResult> {
  const segments = path.split('/').filter(Boolean);
  const route = API_ROUTES.filter((candidate) => {
    const parts = candidate.path.split('/').filter(Boolean);
    return candidate.method === method && parts.length === segments.length && parts.every((part, i) => part.startsWith('{') || part === segments[i]);
  }).sort((a, b) => b.path.replace(/\{[^}]+\}/g, '').length - a.path.replace(/\{[^}]+\}/g, '').length)[0];
  if (!route || !openaiHandlers[route.function]) throw new Error(`No OpenAI API route for ${method} ${path}`);
  const names = route.path.split('/').filter(Boolean);
  const pathParameters = Object.fromEntries(names.flatMap((name, i) => (name.startsWith('{') ? [[name.slice(1, -1), decodeURIComponent(segments[i])]] : [])));
  const event = buildRestApiEvent({
    method,
    resource: route.path,
    path,
    pathParameters: Object.keys(pathParameters).length > 0 ? pathParameters : null,
    query: options.query,
    headers: { 'Content-Type': 'application/json', ...options.headers },
    body: options.body === undefined ? null : typeof options.body === 'string' ? options.body : JSON.stringify(options.body),
    userId,
  });
  const result = await invokeHandler(openaiHandlers[route.function], event, {
    signal: options.signal,
    ...(options.timeoutMs === undefined ? {} : { context: { timeoutMs: options.timeoutMs } }),
  });
  if (!result.streamed) return { ...(await toJsonResponse(result)), events: [], chunks: 1 };
  let text = '';
  let chunks = 0;
  try {
    for await (const chunk of result.body) {
      const piece = Buffer.from(chunk).toString('utf8');
      text += piece;
      chunks += 1;
      options.onChunk?.(piece);
    }
  } catch (error) {
    if (!options.signal?.aborted) throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { statusCode: result.statusCode, headers: lowerCaseKeys(result.headers), body: text, json, events: parseSse(text), chunks };
}
