/**
 * The requests of OpenAI's Conversations API (docs/api.md#openai-api-v1): `conv_` ids in the
 * path, `msg_` item ids, message items of text, metadata. Everything is checked before
 * anything is written; a bad request is a 400 naming the parameter.
 */
import { randomBytes } from 'node:crypto';
import {
  IssueCollector,
  MAX_REQUEST_ITEMS,
  parseItemId,
  readConversationIdParam,
  readIntegerParam,
  readJsonObjectBody,
  readMessageItems,
  readMetadata,
  type NewItem,
} from '@chatbot/shared';
import type { APIGatewayProxyEvent } from 'aws-lambda';

type BodyEvent = Pick<APIGatewayProxyEvent, 'body' | 'isBase64Encoded' | 'headers'>;
type PathEvent = Pick<APIGatewayProxyEvent, 'pathParameters'>;

export interface RequestLimits {
  readonly maxBodyBytes: number;
  readonly maxMessageChars: number;
}

/** The body, or `{}` when there is none (`conversations.create()` sends no body). */
function readOptionalBody(event: BodyEvent, limits: RequestLimits): Record<string, unknown> {
  const raw = event.body;
  if (raw === null || raw === undefined || raw === '') return {};
  return readJsonObjectBody(event, limits);
}

/** Items to store: user and assistant messages of text, each with an id of ours (`msg_` + 32 hex digits as the item id). */
function readItems(issues: IssueCollector, value: unknown, limits: RequestLimits, required: boolean): NewItem[] {
  if (required && (value === undefined || value === null)) issues.add(['body', 'items'], 'is required', 'missing');
  const messages = readMessageItems(issues, value, ['body', 'items'], { max: MAX_REQUEST_ITEMS, maxMessageChars: limits.maxMessageChars }) ?? [];
  if (required && Array.isArray(value) && value.length === 0) issues.add(['body', 'items'], 'must hold at least one item', 'too_short');
  const items: NewItem[] = [];
  for (const [index, message] of messages.entries()) {
    if (message.role !== 'user' && message.role !== 'assistant') {
      issues.add(['body', 'items', index, 'role'], 'only user and assistant messages are stored: give system instructions per response (`instructions`)', 'literal_error');
      continue;
    }
    items.push({
      id: randomBytes(16).toString('hex'),
      role: message.role,
      parts: message.parts,
      status: message.role === 'assistant' && message.incomplete ? 'finished_partial_completion' : 'finished_successfully',
    });
  }
  return items;
}

/** POST /v1/conversations: `{"items"?, "metadata"?}`. */
export function parseCreateConversationRequest(event: BodyEvent, limits: RequestLimits): { items: NewItem[]; metadata: Record<string, string> } {
  const body = readOptionalBody(event, limits);
  const issues = new IssueCollector();
  const items = readItems(issues, body.items, limits, false);
  const metadata = readMetadata(issues, body.metadata, ['body', 'metadata']);
  issues.throwIfAny();
  return { items, metadata };
}

/** A path that names a conversation. */
export function parseConversationPath(event: PathEvent): { conversationId: string } {
  const issues = new IssueCollector();
  const conversationId = readConversationIdParam(issues, event.pathParameters);
  issues.throwIfAny();
  return { conversationId };
}

/** POST /v1/conversations/{id}: `{"metadata"}` (required; `null` clears it). */
export function parseUpdateConversationRequest(event: BodyEvent & PathEvent, limits: RequestLimits): { conversationId: string; metadata: Record<string, string> } {
  const body = readJsonObjectBody(event, limits);
  const issues = new IssueCollector();
  const conversationId = readConversationIdParam(issues, event.pathParameters);
  if (!Object.hasOwn(body, 'metadata')) issues.add(['body', 'metadata'], 'is required', 'missing');
  const metadata = readMetadata(issues, body.metadata, ['body', 'metadata']);
  issues.throwIfAny();
  return { conversationId, metadata };
}

/** GET /v1/conversations/{id}/items: `limit` (1–100, default 20), `order` (`asc` | `desc`, default `desc`), `after` (an item id). */
export function parseListItemsRequest(event: PathEvent & Pick<APIGatewayProxyEvent, 'queryStringParameters'>): {
  conversationId: string;
  limit: number;
  order: 'asc' | 'desc';
  after?: string;
} {
  const issues = new IssueCollector();
  const conversationId = readConversationIdParam(issues, event.pathParameters);
  const query = event.queryStringParameters;
  const limit = readIntegerParam(issues, query, 'limit', { fallback: 20, min: 1, max: 100 });
  const order = query && Object.hasOwn(query, 'order') ? query.order : undefined;
  if (order !== undefined && order !== 'asc' && order !== 'desc') issues.add(['query', 'order'], 'must be "asc" or "desc"', 'literal_error');
  const rawAfter = query && Object.hasOwn(query, 'after') ? query.after : undefined;
  const after = rawAfter === undefined ? undefined : parseItemId(rawAfter);
  if (rawAfter !== undefined && after === undefined) issues.add(['query', 'after'], 'must be an item id ("msg_…")', 'string_pattern_mismatch');
  issues.throwIfAny();
  return { conversationId, limit, order: (order as 'asc' | 'desc' | undefined) ?? 'desc', after };
}

/** POST /v1/conversations/{id}/items: `{"items"}`, 1 to 20 messages. */
export function parseCreateItemsRequest(event: BodyEvent & PathEvent, limits: RequestLimits): { conversationId: string; items: NewItem[] } {
  const body = readJsonObjectBody(event, limits);
  const issues = new IssueCollector();
  const conversationId = readConversationIdParam(issues, event.pathParameters);
  const items = readItems(issues, body.items, limits, true);
  issues.throwIfAny();
  return { conversationId, items };
}

/** A path that names an item of a conversation. */
export function parseItemPath(event: PathEvent): { conversationId: string; messageId: string } {
  const issues = new IssueCollector();
  const conversationId = readConversationIdParam(issues, event.pathParameters);
  const params = event.pathParameters;
  const messageId = parseItemId(params && Object.hasOwn(params, 'item_id') ? params.item_id : undefined);
  if (messageId === undefined) issues.add(['path', 'item_id'], 'must be an item id ("msg_…")', 'string_pattern_mismatch');
  issues.throwIfAny();
  return { conversationId, messageId: messageId as string };
}
