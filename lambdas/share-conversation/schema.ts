/**
 * The owner's share-link requests (docs/api.md#share-links). Strict like the lifecycle routes:
 * a wrong type, a blank or over-long title, `is_visible: true` or a body with no known field is
 * a 422 naming each field, and nothing changes.
 */
import { IssueCollector, isStorableText, isUuid, readIntegerParam, readJsonObjectBody, type ShareChanges } from '@chatbot/shared';
import type { APIGatewayProxyEvent } from 'aws-lambda';

export const MAX_SHARE_TITLE_CHARS = 256;
const MAX_NODE_ID_CHARS = 128;

type Event = Pick<APIGatewayProxyEvent, 'body' | 'isBase64Encoded' | 'headers' | 'pathParameters'>;
type Limits = { readonly maxBodyBytes: number };

/** `POST /backend-api/share/create` `{"conversation_id", "current_node_id", "is_anonymous"}`. */
export function parseCreateShareRequest(event: Event, limits: Limits): { conversationId: string; currentNodeId: string; isAnonymous: boolean } {
  const body = readJsonObjectBody(event, limits);
  const issues = new IssueCollector();
  const conversationId = body.conversation_id;
  if (!isUuid(conversationId)) issues.add(['body', 'conversation_id'], 'must be a UUID', 'uuid_parsing');
  const currentNodeId = body.current_node_id;
  if (typeof currentNodeId !== 'string' || currentNodeId === '' || currentNodeId.length > MAX_NODE_ID_CHARS || !/^[\w.:-]+$/.test(currentNodeId)) {
    issues.add(['body', 'current_node_id'], 'must be a message id', 'value_error');
  }
  const isAnonymous = Object.hasOwn(body, 'is_anonymous') ? body.is_anonymous : true;
  if (typeof isAnonymous !== 'boolean') issues.add(['body', 'is_anonymous'], 'must be a boolean', 'bool_type');
  issues.throwIfAny();
  return { conversationId: (conversationId as string).toLowerCase(), currentNodeId: currentNodeId as string, isAnonymous: isAnonymous as boolean };
}

/** The path's share id: a UUID, as every path id; 422 otherwise. */
function readShareId(issues: IssueCollector, event: Pick<APIGatewayProxyEvent, 'pathParameters'>): string {
  const id = event.pathParameters?.share_id;
  if (!isUuid(id)) {
    issues.add(['path', 'share_id'], 'must be a UUID', 'uuid_parsing');
    return '';
  }
  return id.toLowerCase();
}

/** `PATCH /backend-api/share/{share_id}` with `{"is_visible": false}` (revoke) and/or `{"title": "..."}` (rename). */
export function parseUpdateShareRequest(event: Event, limits: Limits): { shareId: string; changes: ShareChanges } {
  const body = readJsonObjectBody(event, limits);
  const issues = new IssueCollector();
  const shareId = readShareId(issues, event);
  const changes: { title?: string; revoked?: boolean } = {};
  if (Object.hasOwn(body, 'title')) {
    const title = body.title;
    if (typeof title !== 'string') issues.add(['body', 'title'], 'must be a string', 'string_type');
    else if (title.trim() === '' || title.length > MAX_SHARE_TITLE_CHARS) issues.add(['body', 'title'], `must be 1 to ${MAX_SHARE_TITLE_CHARS} characters, not blank`, 'string_length');
    else if (!isStorableText(title)) issues.add(['body', 'title'], 'must be well-formed text without NUL', 'value_error');
    else changes.title = title.trim();
  }
  if (Object.hasOwn(body, 'is_visible')) {
    if (body.is_visible !== false) issues.add(['body', 'is_visible'], 'only false (revoke) is supported', 'value_error');
    else changes.revoked = true;
  }
  if (!Object.hasOwn(body, 'title') && !Object.hasOwn(body, 'is_visible')) issues.add(['body'], 'must set at least one of title, is_visible', 'missing');
  issues.throwIfAny();
  return { shareId, changes };
}

/** `GET /backend-api/shared_conversations?offset=0&limit=20`; unknown parameters are ignored. */
export function parseListSharesRequest(event: Pick<APIGatewayProxyEvent, 'queryStringParameters'>): { offset: number; limit: number } {
  const issues = new IssueCollector();
  const offset = readIntegerParam(issues, event.queryStringParameters, 'offset', { fallback: 0, min: 0, max: 1_000_000 });
  const limit = readIntegerParam(issues, event.queryStringParameters, 'limit', { fallback: 20, min: 1, max: 100 });
  issues.throwIfAny();
  return { offset, limit };
}
