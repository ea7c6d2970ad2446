/**
 * The ChatGPT `backend-api` shapes, built from rows. Pure functions: no I/O, unit-tested on
 * their own. Key order is fixed on purpose: the detail body starts with its conversation id
 * and owner, which is how a cache hit is checked for ownership without parsing it.
 */
import type { ConversationListPage, ConversationRow, MessageRow, ShareRow } from './records';

export const DEFAULT_CONVERSATION_TITLE = 'New chat';

/** A message as clients receive it inside `mapping` and in stream envelopes. */
export interface WireMessage {
  readonly id: string;
  readonly author: { readonly role: string; readonly name: null; readonly metadata: Record<string, unknown> };
  readonly create_time: number | null;
  readonly update_time: number | null;
  readonly content: { readonly content_type: string; readonly parts: unknown[] };
  readonly status: string;
  readonly end_turn: boolean | null;
  readonly weight: number;
  readonly metadata: Record<string, unknown>;
  readonly recipient: string;
}

export interface WireNode {
  readonly id: string;
  readonly message?: WireMessage;
  readonly parent?: string;
  readonly children: string[];
}

/** The start of every detail body of `conversationId` owned by `userId`: compared on cache hits. */
export function conversationDetailPrefix(conversationId: string, userId: string): string {
  return `{"conversation_id":${JSON.stringify(conversationId)},"user_id":${JSON.stringify(userId)},`;
}

/**
 * The `conversationDetailPrefix` a detail body starts with, read off the body itself (the
 * cache keeps it uncompressed in front of a compressed body); '' when the body has no such start.
 */
export function conversationDetailHead(body: string): string {
  let end = 0;
  for (const name of ['{"conversation_id":', ',"user_id":']) {
    if (!body.startsWith(name, end)) return '';
    end = endOfJsonString(body, end + name.length);
    if (end < 0) return '';
  }
  return body[end] === ',' ? body.slice(0, end + 1) : '';
}

/** Index just past the JSON string literal starting at `start`, or -1. */
function endOfJsonString(text: string, start: number): number {
  if (text[start] !== '"') return -1;
  for (let i = start + 1; i < text.length; i += 1) {
    if (text[i] === '\\') i += 1;
    else if (text[i] === '"') return i + 1;
  }
  return -1;
}

/** A message row in the wire shape. */
export function toWireMessage(row: MessageRow): WireMessage {
  return {
    id: row.id,
    author: { role: row.role, name: null, metadata: {} },
    create_time: row.createTime,
    update_time: null,
    content: { content_type: row.contentType, parts: row.parts },
    status: row.status,
    end_turn: row.endTurn,
    weight: row.weight,
    metadata: row.metadata,
    recipient: row.recipient,
  };
}

/**
 * The node tree: every node with its children in insertion order; the root has neither message
 * nor parent. Keyed by client-chosen ids, so it has no prototype: an id such as `__proto__` or
 * `constructor` is a node like any other, not an inherited member.
 */
export function buildMapping(messages: readonly MessageRow[]): Record<string, WireNode> {
  const mapping: Record<string, { id: string; message?: WireMessage; parent?: string; children: string[] }> = Object.create(null);
  for (const row of messages) {
    mapping[row.id] =
      row.role === 'root' ? { id: row.id, children: [] } : { id: row.id, message: toWireMessage(row), parent: row.parentId ?? undefined, children: [] };
  }
  for (const row of messages) {
    if (row.parentId !== null && Object.hasOwn(mapping, row.parentId)) mapping[row.parentId].children.push(row.id);
  }
  return mapping;
}

/** The GET conversation body. */
export function serializeConversationDetail(conversation: ConversationRow, messages: readonly MessageRow[]): string {
  const body = {
    conversation_id: conversation.id,
    user_id: conversation.userId,
    title: conversation.title ?? DEFAULT_CONVERSATION_TITLE,
    create_time: conversation.createTime,
    update_time: conversation.updateTime,
    mapping: buildMapping(messages),
    moderation_results: [],
    current_node: conversation.currentNodeId,
    is_archived: conversation.isArchived,
    default_model_slug: conversation.defaultModelSlug,
    conversation_template_id: null,
    gizmo_id: null,
    safe_urls: [],
    is_starred: false,
  };
  return JSON.stringify(body);
}

/** Epoch seconds → ISO-8601 UTC, as the list endpoint reports times. */
export function toIsoTime(epochSeconds: number): string {
  return new Date(Math.round(epochSeconds * 1000)).toISOString();
}

/** The GET conversations body. */
export function serializeConversationList(page: ConversationListPage, offset: number, limit: number): string {
  return JSON.stringify({
    items: page.items.map((c) => ({
      id: c.id,
      title: c.title ?? DEFAULT_CONVERSATION_TITLE,
      create_time: toIsoTime(c.createTime),
      update_time: toIsoTime(c.updateTime),
      mapping: null,
      current_node: null,
      conversation_template_id: null,
      gizmo_id: null,
      is_archived: c.isArchived,
      workspace_id: null,
    })),
    total: page.total,
    limit,
    offset,
    has_missing_conversations: false,
  });
}

/**
 * The public `GET /share/{id}` body: the detail's shape for the shared branch, without
 * `user_id` or anything else naming the owner (the API has no public profile to show, so
 * `is_anonymous: false` shows none either).
 */
export function serializeSharedConversation(share: ShareRow, messages: readonly MessageRow[]): string {
  return JSON.stringify({
    share_id: share.id,
    title: share.title,
    create_time: share.createTime,
    update_time: share.updateTime,
    mapping: buildMapping(messages),
    current_node: share.currentNodeId,
    is_anonymous: share.isAnonymous,
  });
}

/** The `GET /shared_conversations` body: the caller's live shares. */
export function serializeShareList(page: { readonly total: number; readonly items: readonly ShareRow[] }): string {
  return JSON.stringify({
    items: page.items.map((share) => ({
      id: share.id,
      conversation_id: share.conversationId,
      title: share.title,
      create_time: toIsoTime(share.createTime),
      update_time: toIsoTime(share.updateTime),
    })),
    total: page.total,
  });
}
