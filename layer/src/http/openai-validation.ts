/**
 * Validators the OpenAI API routes' request schemas share: message items (Conversations
 * `items`, Responses `input`, Chat Completions `messages`), metadata, the ids of the path and
 * the model. Issues go to an `IssueCollector` (rendered for `/v1` as a 400 naming the first
 * parameter); everything is checked before anything is written.
 */
import { findListedModel } from '../ai/models';
import type { ChatMessage } from '../ai/types';
import { assertMessageLength } from '../conversations/limits';
import { parseConversationId } from '../conversations/openai-wire';
import { InvalidParameterError } from '../errors';
import { type IssueCollector, isStorableText } from './validation';

type Json = Record<string, unknown>;
export const isJsonObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A message of a request: its role and its text parts. */
export interface RequestMessage {
  readonly role: 'user' | 'assistant' | 'system' | 'developer';
  readonly parts: string[];
  /** An assistant item's `status: "incomplete"`. */
  readonly incomplete: boolean;
}

const ROLES = new Set(['user', 'assistant', 'system', 'developer']);
/** Text content part types: the Responses API's input and output text, and Chat Completions' `text`. */
const TEXT_PARTS = new Set(['input_text', 'output_text', 'text']);
/** Most items one request may add (OpenAI's own limit for a conversation's `items`). */
export const MAX_REQUEST_ITEMS = 20;

/**
 * One message item: `{"type"?: "message", "role", "content": string | [{type: input_text |
 * output_text | text, text}]}`. Only text: images, files, tool calls and other item types are
 * refused, naming the item. `maxMessageChars` bounds each message (413 → 400).
 */
export function readMessageItem(issues: IssueCollector, value: unknown, loc: (string | number)[], maxMessageChars: number): RequestMessage | undefined {
  if (!isJsonObject(value)) {
    issues.add(loc, 'must be a message object', 'dict_type');
    return undefined;
  }
  if (value.type !== undefined && value.type !== 'message') {
    issues.add([...loc, 'type'], 'only "message" items are supported (no tools, files or item references)', 'literal_error');
    return undefined;
  }
  const role = value.role;
  if (typeof role !== 'string' || !ROLES.has(role)) {
    issues.add([...loc, 'role'], 'must be "user", "assistant", "system" or "developer"', 'literal_error');
    return undefined;
  }
  const parts: string[] = [];
  const content = value.content;
  if (typeof content === 'string') parts.push(content);
  else if (Array.isArray(content) && content.length > 0 && content.length <= 100) {
    for (const [index, part] of content.entries()) {
      if (!isJsonObject(part) || typeof part.type !== 'string' || !TEXT_PARTS.has(part.type) || typeof part.text !== 'string') {
        issues.add([...loc, 'content', index], 'only text parts are supported: {"type": "input_text", "text": "..."}', 'literal_error');
        return undefined;
      }
      parts.push(part.text);
    }
  } else {
    issues.add([...loc, 'content'], 'must be a string or a list of 1 to 100 text parts', 'list_type');
    return undefined;
  }
  if (!parts.every(isStorableText)) issues.add([...loc, 'content'], 'must be valid Unicode without NUL characters', 'string_unicode');
  else if (parts.join('').trim() === '') issues.add([...loc, 'content'], 'the message is empty', 'string_too_short');
  assertMessageLength(parts.join('\n'), maxMessageChars);
  return { role: role as RequestMessage['role'], parts, incomplete: value.status === 'incomplete' };
}

/** A list of 1 to `max` message items (`absent` when the value is absent or null). */
export function readMessageItems(issues: IssueCollector, value: unknown, loc: (string | number)[], options: { readonly max: number; readonly maxMessageChars: number }): RequestMessage[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length > options.max) {
    issues.add(loc, `must be a list of at most ${options.max} items`, 'list_type');
    return undefined;
  }
  const messages: RequestMessage[] = [];
  for (const [index, item] of value.entries()) {
    const message = readMessageItem(issues, item, [...loc, index], options.maxMessageChars);
    if (message) messages.push(message);
  }
  return messages;
}

/** Messages in a model's roles: `developer` is OpenAI's newer name for `system`. */
export const toChatMessages = (messages: readonly RequestMessage[]): ChatMessage[] =>
  messages.map((message) => ({ role: message.role === 'developer' ? 'system' : message.role, content: message.parts.join('\n') }));

/** Metadata: at most 16 pairs of a key of 1–64 characters and a string value of at most 512; `null` or absent: none. */
export function readMetadata(issues: IssueCollector, value: unknown, loc: (string | number)[]): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isJsonObject(value) || Object.keys(value).length > 16) {
    issues.add(loc, 'must be an object of at most 16 string pairs', 'dict_type');
    return {};
  }
  const metadata: Record<string, string> = {};
  for (const [key, entry] of Object.entries(value)) {
    if (key.length === 0 || key.length > 64 || !isStorableText(key)) issues.add([...loc, key], 'keys must be 1 to 64 characters of valid text', 'string_too_long');
    else if (typeof entry !== 'string' || entry.length > 512 || !isStorableText(entry)) issues.add([...loc, key], 'values must be strings of at most 512 characters', 'string_type');
    else metadata[key] = entry;
  }
  return metadata;
}

/** The path's `conversation_id` (`conv_` and 32 hex digits) as our conversation UUID. */
export function readConversationIdParam(issues: IssueCollector, params: Readonly<Record<string, unknown>> | null): string {
  const raw = params && Object.hasOwn(params, 'conversation_id') ? params.conversation_id : undefined;
  const id = parseConversationId(raw);
  if (id === undefined) issues.add(['path', 'conversation_id'], 'must be a conversation id: "conv_" and 32 hexadecimal digits', 'string_pattern_mismatch');
  return id ?? '';
}

/** An optional boolean body field; `null` is absent. */
export function readOptionalBoolean(issues: IssueCollector, body: Json, name: string, fallback: boolean): boolean {
  const value = body[name];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') {
    issues.add(['body', name], 'must be a boolean', 'bool_type');
    return fallback;
  }
  return value;
}

/** An optional integer body field within [min, max]; `null` is absent. */
export function readOptionalInteger(issues: IssueCollector, body: Json, name: string, range: { readonly min: number; readonly max: number }): number | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < range.min || value > range.max) {
    issues.add(['body', name], `must be an integer from ${range.min} to ${range.max}`, 'int_parsing');
    return undefined;
  }
  return value;
}

/**
 * The request's `model`: a slug `GET /v1/models` lists, or absent (also `null` and `""`: the
 * conversation's last model, else the default). Anything else is a 400 naming `model`.
 */
export function readModel(issues: IssueCollector, value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') {
    issues.add(['body', 'model'], 'must be a model id (GET /v1/models)', 'string_type');
    return undefined;
  }
  return value;
}

/** Throws the 400 `model_not_found` for a model the deployment does not list (after the body's other checks). */
export function assertListedModel(model: string | undefined): void {
  if (model !== undefined && !findListedModel(model)) {
    const shown = model.length > 100 ? `${model.slice(0, 100)}…` : model;
    throw new InvalidParameterError('model', `The model '${shown}' does not exist or you do not have access to it: GET /v1/models lists the models you may use.`, 'model_not_found');
  }
}
