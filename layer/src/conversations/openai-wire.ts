/**
 * OpenAI's API shapes of what the `backend-api` stores (docs/api.md#openai-api-v1): the ids
 * (`conv_`, `msg_`, `resp_`, a stable mapping to ours), the conversation object, message
 * items and item lists. Pure functions: no I/O.
 */
import type { ConversationHeader } from './openai-repository';
import type { MessageRow } from './records';

const UUID_HEX = /^[0-9a-f]{32}$/i;
/** A message id as the `backend-api` accepts it (and every id we generate is). */
const MESSAGE_ID = /^[\w.:-]{1,128}$/;

const hexOf = (uuid: string): string => uuid.replaceAll('-', '').toLowerCase();
const uuidOf = (hex: string): string => {
  const h = hex.toLowerCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};

/** `conv_<the conversation's UUID as 32 hex digits>`. */
export const toOpenAiConversationId = (conversationId: string): string => `conv_${hexOf(conversationId)}`;

/** The conversation UUID a `conv_` id names; `undefined` for anything else. */
export function parseConversationId(value: unknown): string | undefined {
  if (typeof value !== 'string' || !value.startsWith('conv_')) return undefined;
  const hex = value.slice(5);
  return UUID_HEX.test(hex) ? uuidOf(hex) : undefined;
}

/** `msg_<message id>`: any message, whichever API stored it. */
export const toItemId = (messageId: string): string => `msg_${messageId}`;

/** The message id an `msg_` id names; `undefined` for anything else. */
export function parseItemId(value: unknown): string | undefined {
  if (typeof value !== 'string' || !value.startsWith('msg_')) return undefined;
  const id = value.slice(4);
  return MESSAGE_ID.test(id) ? id : undefined;
}

/** `resp_<conversation hex><assistant message id>`: a response is a reply, a node of its conversation's tree. */
export const toResponseId = (conversationId: string, messageId: string): string => `resp_${hexOf(conversationId)}${messageId}`;

/** The conversation and reply a `resp_` id names; `undefined` for anything else. */
export function parseResponseId(value: unknown): { readonly conversationId: string; readonly messageId: string } | undefined {
  if (typeof value !== 'string' || !value.startsWith('resp_')) return undefined;
  const hex = value.slice(5, 37);
  const messageId = value.slice(37);
  if (!UUID_HEX.test(hex) || !MESSAGE_ID.test(messageId)) return undefined;
  return { conversationId: uuidOf(hex), messageId };
}

/** OpenAI's conversation object. */
export function toOpenAiConversation(header: ConversationHeader): Record<string, unknown> {
  return { id: toOpenAiConversationId(header.id), object: 'conversation', created_at: Math.floor(header.createTime), metadata: header.metadata };
}

/** A stored message's status as an item's: a reply cut short is `incomplete`. */
export const itemStatusOf = (row: Pick<MessageRow, 'status'>): 'completed' | 'incomplete' | 'in_progress' =>
  row.status === 'in_progress' ? 'in_progress' : row.status === 'finished_successfully' ? 'completed' : 'incomplete';

/** An assistant message's text content part. */
export const outputText = (text: string): Record<string, unknown> => ({ type: 'output_text', text, annotations: [], logprobs: [] });

/** A user or assistant message as a `message` item: user parts as `input_text`, the reply as `output_text`. */
export function toMessageItem(row: Pick<MessageRow, 'id' | 'role' | 'parts' | 'status'>): Record<string, unknown> {
  const texts = row.parts.filter((part): part is string => typeof part === 'string');
  return {
    type: 'message',
    id: toItemId(row.id),
    status: itemStatusOf(row),
    role: row.role,
    content: row.role === 'assistant' ? texts.map(outputText) : texts.map((text) => ({ type: 'input_text', text })),
  };
}

/** OpenAI's list object around items. */
export function toItemList(items: readonly Record<string, unknown>[], hasMore: boolean): string {
  return JSON.stringify({
    object: 'list',
    data: items,
    first_id: (items[0]?.id as string | undefined) ?? null,
    last_id: (items.at(-1)?.id as string | undefined) ?? null,
    has_more: hasMore,
  });
}

/** A page of the current branch: `limit` items after `after` (an item id; none: from the start) in `order`. `null` when `after` is not on it. */
export function pageOfBranch(
  messages: readonly MessageRow[],
  page: { readonly order: 'asc' | 'desc'; readonly limit: number; readonly after?: string },
): string | null {
  const ordered = page.order === 'asc' ? messages : [...messages].reverse();
  let start = 0;
  if (page.after !== undefined) {
    const index = ordered.findIndex((row) => row.id === page.after);
    if (index === -1) return null;
    start = index + 1;
  }
  return toItemList(ordered.slice(start, start + page.limit).map(toMessageItem), start + page.limit < ordered.length);
}
