/**
 * The lifecycle requests a ChatGPT-style sidebar sends (docs/api.md#conversation-lifecycle).
 * Strict: a body with no known field, a wrong type, a title a person could not see (blank,
 * invisible-only, control characters, over 256 characters), or `is_visible: true` is a 422
 * listing the offending fields, and nothing changes.
 */
import { IssueCollector, isUuid, readJsonObjectBody, readTitle, type ConversationChanges } from '@chatbot/shared';
import type { APIGatewayProxyEvent } from 'aws-lambda';

type Event = Pick<APIGatewayProxyEvent, 'body' | 'isBase64Encoded' | 'headers' | 'pathParameters'>;
type Limits = { readonly maxBodyBytes: number };

/** The path's conversation id; a UUID, as on GET. */
function readConversationId(issues: IssueCollector, event: Event): string {
  const id = event.pathParameters?.conversation_id;
  if (!isUuid(id)) {
    issues.add(['path', 'conversation_id'], 'must be a UUID', 'uuid_parsing');
    return '';
  }
  return id.toLowerCase();
}

function readChanges(issues: IssueCollector, body: Record<string, unknown>, allowTitle: boolean): ConversationChanges {
  const changes: { title?: string; isArchived?: boolean; deleted?: boolean } = {};
  if (allowTitle && Object.hasOwn(body, 'title')) {
    const title = readTitle(issues, body.title, ['body', 'title']);
    if (title !== undefined) changes.title = title;
  }
  if (Object.hasOwn(body, 'is_archived')) {
    if (typeof body.is_archived !== 'boolean') issues.add(['body', 'is_archived'], 'must be a boolean', 'bool_type');
    else changes.isArchived = body.is_archived;
  }
  if (Object.hasOwn(body, 'is_visible')) {
    if (body.is_visible !== false) issues.add(['body', 'is_visible'], 'only false (delete) is supported', 'value_error');
    else changes.deleted = true;
  }
  const known = allowTitle ? ['title', 'is_archived', 'is_visible'] : ['is_archived', 'is_visible'];
  if (!known.some((field) => Object.hasOwn(body, field))) {
    issues.add(['body'], `must set at least one of ${known.join(', ')}`, 'missing');
  }
  return changes;
}

/** `PATCH /backend-api/conversation/{id}` with any of `title`, `is_archived`, `is_visible: false`. */
export function parseUpdateConversationRequest(event: Event, limits: Limits): { conversationId: string; changes: ConversationChanges } {
  const body = readJsonObjectBody(event, limits);
  const issues = new IssueCollector();
  const conversationId = readConversationId(issues, event);
  const changes = readChanges(issues, body, true);
  issues.throwIfAny();
  return { conversationId, changes };
}

/** `PATCH /backend-api/conversations` with `is_visible: false` (delete all) and/or `is_archived` (archive all). */
export function parseUpdateAllConversationsRequest(event: Event, limits: Limits): { changes: Pick<ConversationChanges, 'isArchived' | 'deleted'> } {
  const body = readJsonObjectBody(event, limits);
  const issues = new IssueCollector();
  const changes = readChanges(issues, body, false);
  issues.throwIfAny();
  return { changes };
}

/** `POST /backend-api/conversation/gen_title/{id}` with `{"message_id": "<id>"}`. */
export function parseGenerateTitleRequest(event: Event, limits: Limits): { conversationId: string; messageId: string } {
  const body = readJsonObjectBody(event, limits);
  const issues = new IssueCollector();
  const conversationId = readConversationId(issues, event);
  const messageId = body.message_id;
  if (typeof messageId !== 'string' || messageId === '' || messageId.length > 128 || !/^[\w.:-]+$/.test(messageId)) {
    issues.add(['body', 'message_id'], 'must be a message id', 'value_error');
  }
  issues.throwIfAny();
  return { conversationId, messageId: messageId as string };
}
