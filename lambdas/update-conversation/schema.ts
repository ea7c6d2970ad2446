/**
 * The lifecycle requests a ChatGPT-style sidebar sends (docs/api.md#conversation-lifecycle), and the
 * rating of a reply. Strict: a body with no known field, a wrong type, a title a person could not
 * see (blank, invisible-only, control characters, over 256 characters), `is_visible: true`, a
 * rating other than thumbsUp/thumbsDown or bad tags is a 422 listing the offending fields, and
 * nothing changes.
 */
import { IssueCollector, isStorableText, isUuid, readJsonObjectBody, readTitle, type ConversationChanges, type FeedbackContent, type FeedbackRating } from '@chatbot/shared';
import type { APIGatewayProxyEvent } from 'aws-lambda';

/** Feedback text: what one rating may say in words. */
export const MAX_FEEDBACK_TEXT_CHARS = 2000;
/** Feedback tags: at most this many, each a short word like `not-helpful`. */
export const MAX_FEEDBACK_TAGS = 10;
const FEEDBACK_TAG = /^[A-Za-z0-9][\w-]{0,63}$/;
const RATINGS: readonly FeedbackRating[] = ['thumbsUp', 'thumbsDown'];
const isMessageId = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= 128 && /^[\w.:-]+$/.test(value);

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
  if (!isMessageId(messageId)) issues.add(['body', 'message_id'], 'must be a message id', 'value_error');
  issues.throwIfAny();
  return { conversationId, messageId: messageId as string };
}

/** The rating of one reply. */
export interface RateMessageRequest {
  readonly conversationId: string;
  readonly messageId: string;
  readonly rating: FeedbackRating;
  readonly content: FeedbackContent;
}

/**
 * `POST /backend-api/conversation/message_feedback` with `{"conversation_id", "message_id", "rating":
 * "thumbsUp" | "thumbsDown", "tags"?: [...], "text"?: "..."}`. Tags: at most 10 distinct words
 * of letters, digits, `-` and `_` (1 to 64 characters); text: at most 2,000 characters, `""`
 * or null for none. Unknown fields (ChatGPT's `content`, `evaluation_name`, …) are ignored.
 */
export function parseRateMessageRequest(event: Event, limits: Limits): RateMessageRequest {
  const body = readJsonObjectBody(event, limits);
  const issues = new IssueCollector();
  const conversationId = body.conversation_id;
  if (!isUuid(conversationId)) issues.add(['body', 'conversation_id'], 'must be a UUID', 'uuid_parsing');
  const messageId = body.message_id;
  if (!isMessageId(messageId)) issues.add(['body', 'message_id'], 'must be a message id', 'value_error');
  const rating = body.rating;
  if (!RATINGS.includes(rating as FeedbackRating)) issues.add(['body', 'rating'], 'must be "thumbsUp" or "thumbsDown"', 'literal_error');

  const tags = body.tags ?? [];
  if (!Array.isArray(tags) || tags.length > MAX_FEEDBACK_TAGS) {
    issues.add(['body', 'tags'], `must be a list of at most ${MAX_FEEDBACK_TAGS} tags`, 'list_type');
  } else {
    tags.forEach((tag: unknown, i) => {
      if (typeof tag !== 'string' || !FEEDBACK_TAG.test(tag)) issues.add(['body', 'tags', i], 'must be 1 to 64 letters, digits, "-" or "_"', 'string_pattern_mismatch');
      else if (tags.indexOf(tag) !== i) issues.add(['body', 'tags', i], 'is listed twice', 'value_error');
    });
  }

  const text = body.text ?? null;
  if (text !== null && typeof text !== 'string') issues.add(['body', 'text'], 'must be a string', 'string_type');
  else if (typeof text === 'string' && text.length > MAX_FEEDBACK_TEXT_CHARS) {
    issues.add(['body', 'text'], `must be at most ${MAX_FEEDBACK_TEXT_CHARS} characters`, 'string_too_long');
  } else if (typeof text === 'string' && !isStorableText(text)) issues.add(['body', 'text'], 'must be well-formed text without NUL', 'value_error');
  issues.throwIfAny();

  return {
    conversationId: (conversationId as string).toLowerCase(),
    messageId: messageId as string,
    rating: rating as FeedbackRating,
    content: { tags: tags as string[], text: typeof text === 'string' && text.trim() !== '' ? text : null },
  };
}
