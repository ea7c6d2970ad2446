/**
 * The POST conversation request, liberal in what it accepts: every variant ChatGPT clients
 * have sent (2022 `role` on the message, 2023 `author.role`, 2025 `supported_encodings`,
 * `conversation_id: null`, extra fields ignored), strict about what it uses. Everything is
 * checked before anything is written.
 */
import { assertMessageLength, findListedModel, IssueCollector, ModelNotAllowedError, isStorableText, isUuid, readJsonObjectBody, type IncomingUserMessage, type ReplyEncoding, type TurnAction } from '@chatbot/shared';
import type { APIGatewayProxyEvent } from 'aws-lambda';

export interface PostConversationRequest {
  readonly action: TurnAction;
  readonly conversationId?: string;
  readonly parentMessageId: string;
  readonly message?: IncomingUserMessage;
  /** A listed model slug; absent when the client named none (or `"auto"`). */
  readonly model?: string;
  /** `v1` when the client lists it in `supported_encodings` (delta frames, resumable), else the legacy snapshots. */
  readonly encoding: ReplyEncoding;
  /** `continue_from_shared_conversation_id`: a new conversation starting with a copy of that share. */
  readonly continueFromShare?: { readonly shareId: string; readonly parentMessageId?: string };
}

export interface PostConversationLimits {
  readonly maxBodyBytes: number;
  readonly maxMessageChars: number;
}

const ACTIONS: readonly TurnAction[] = ['next', 'variant', 'continue'];
/** The `model` ChatGPT's web client sends to let the server choose. */
const AUTO_MODEL = 'auto';
const TEXT_CONTENT_TYPES = new Set(['text', 'multimodal_text']);
const MAX_ID_LENGTH = 128;
type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const isNodeId = (value: unknown): value is string =>
  typeof value === 'string' && value.length > 0 && value.length <= MAX_ID_LENGTH && /^[\w.:-]+$/.test(value);

function readUserMessage(issues: IssueCollector, value: unknown, index: number, limits: PostConversationLimits): IncomingUserMessage | undefined {
  const loc = ['body', 'messages', index];
  if (!isObject(value)) {
    issues.add(loc, 'must be an object', 'dict_type');
    return undefined;
  }
  const role = isObject(value.author) ? value.author.role : value.role;
  if (role !== 'user') issues.add([...loc, 'author', 'role'], 'must be "user"', 'literal_error');
  if (!isNodeId(value.id)) issues.add([...loc, 'id'], `must be an id of 1 to ${MAX_ID_LENGTH} letters, digits, "-", "_", ".", ":"`, 'string_pattern_mismatch');
  const content = value.content;
  if (!isObject(content)) {
    issues.add([...loc, 'content'], 'must be an object with content_type and parts', 'dict_type');
    return undefined;
  }
  const contentType = content.content_type ?? 'text';
  if (typeof contentType !== 'string' || !TEXT_CONTENT_TYPES.has(contentType)) {
    issues.add([...loc, 'content', 'content_type'], 'must be "text" or "multimodal_text"', 'literal_error');
  }
  const parts = content.parts;
  if (!Array.isArray(parts) || parts.length === 0 || parts.length > 100) {
    issues.add([...loc, 'content', 'parts'], 'must be a list of 1 to 100 parts', 'list_type');
    return undefined;
  }
  const strings = parts.filter((part): part is string => typeof part === 'string');
  if (contentType === 'text' && strings.length !== parts.length) {
    issues.add([...loc, 'content', 'parts'], 'text parts must be strings', 'string_type');
  }
  const text = strings.join('\n');
  if (!strings.every(isStorableText)) issues.add([...loc, 'content', 'parts'], 'must be valid Unicode without NUL characters', 'string_unicode');
  else if (text.trim() === '') issues.add([...loc, 'content', 'parts'], 'the message is empty', 'string_too_short');
  assertMessageLength(text, limits.maxMessageChars);
  // Client metadata is not stored: it is unbounded and nothing reads it back.
  return { id: value.id as string, contentType: contentType as string, parts: strings, text };
}

/** Parses and validates the request; throws 4xx `AppError`s. */
export function parsePostConversationRequest(
  event: Pick<APIGatewayProxyEvent, 'body' | 'isBase64Encoded' | 'headers'>,
  limits: PostConversationLimits,
): PostConversationRequest {
  // 415 unless JSON, 413 over MAX_BODY_BYTES, 422 unless a JSON object: shared with the lifecycle routes.
  const request: Json = readJsonObjectBody(event, limits);
  const issues = new IssueCollector();

  const action = request.action ?? 'next';
  if (!ACTIONS.includes(action as TurnAction)) issues.add(['body', 'action'], 'must be one of next, variant, continue', 'literal_error');

  const conversationId = request.conversation_id ?? undefined;
  if (conversationId !== undefined && !isUuid(conversationId)) issues.add(['body', 'conversation_id'], 'must be a UUID or null', 'uuid_parsing');

  const sentParent = request.parent_message_id ?? undefined;
  let parentMessageId = request.parent_message_id;
  if (parentMessageId === undefined || parentMessageId === null) {
    if (conversationId === undefined) parentMessageId = 'client-created-root';
    else issues.add(['body', 'parent_message_id'], 'is required to continue a conversation', 'missing');
  } else if (!isNodeId(parentMessageId)) {
    issues.add(['body', 'parent_message_id'], `must be an id of 1 to ${MAX_ID_LENGTH} letters, digits, "-", "_", ".", ":"`, 'string_pattern_mismatch');
  }

  let message: IncomingUserMessage | undefined;
  const messages = request.messages;
  if (messages !== undefined && messages !== null && !Array.isArray(messages)) {
    issues.add(['body', 'messages'], 'must be a list', 'list_type');
  } else if (Array.isArray(messages) && messages.length > 0) {
    if (messages.length > 10) issues.add(['body', 'messages'], 'at most 10 messages', 'too_long');
    else message = readUserMessage(issues, messages[messages.length - 1], messages.length - 1, limits);
  }
  if (!message && action === 'next' && !issues.issues.some((i) => i.loc[1] === 'messages')) {
    issues.add(['body', 'messages'], 'a user message is required for action "next"', 'missing');
  }
  // `action` is untrusted: only a known action is ever put into a message (String() of an object can throw).
  if (conversationId === undefined && action !== 'next' && ACTIONS.includes(action as TurnAction)) {
    issues.add(['body', 'conversation_id'], `is required for action "${action as TurnAction}"`, 'missing');
  }
  if (action === 'continue' && message) issues.add(['body', 'messages'], 'must be empty for action "continue"', 'value_error');

  // ChatGPT's web client sends "auto" for "let the server choose": the same as no model.
  const requestedModel = request.model;
  let model: string | undefined;
  if (typeof requestedModel === 'string' && requestedModel !== '' && requestedModel !== AUTO_MODEL) model = requestedModel;
  else if (requestedModel !== undefined && requestedModel !== null && typeof requestedModel !== 'string') {
    issues.add(['body', 'model'], 'must be a model slug (GET /backend-api/models)', 'string_type');
  }

  const shareId = request.continue_from_shared_conversation_id ?? undefined;
  if (shareId !== undefined) {
    if (!isUuid(shareId)) issues.add(['body', 'continue_from_shared_conversation_id'], 'must be a share id (a UUID)', 'uuid_parsing');
    else if (conversationId !== undefined) issues.add(['body', 'continue_from_shared_conversation_id'], 'starts a new conversation: send it without conversation_id', 'value_error');
  }

  const encodings = request.supported_encodings;
  const encoding: ReplyEncoding = Array.isArray(encodings) && encodings.includes('v1') ? 'v1' : 'legacy';
  issues.throwIfAny();
  if (model !== undefined && !findListedModel(model)) throw new ModelNotAllowedError();

  return {
    action: action as TurnAction,
    conversationId: conversationId === undefined ? undefined : (conversationId as string).toLowerCase(),
    parentMessageId: parentMessageId as string,
    message,
    model,
    encoding,
    continueFromShare: shareId === undefined ? undefined : { shareId: (shareId as string).toLowerCase(), parentMessageId: sentParent as string | undefined },
  };
}
