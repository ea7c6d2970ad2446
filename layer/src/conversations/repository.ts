/**
 * All SQL, one named function per operation (`verbEntityByKey`), one parameterised statement
 * each. A missing row is `null`; the use case decides what that means. Every write is one
 * statement, atomic without a transaction; `db` defaults to the pool.
 */
import { db as pool, type Queryable } from '../platform/database';
import { messageContentBytes, type ConversationListPage, type ConversationRow, type MessageRole, type MessageRow, type NewMessage } from './records';

export type { ConversationListPage, ConversationRow, MessageRole, MessageRow, NewMessage };

/** A message insert that broke a constraint: its id is taken in the conversation, or its parent is not there (any more). */
export class MessageConflictError extends Error {
  constructor(readonly reason: 'id_taken' | 'parent_missing', options?: { cause?: unknown }) {
    super(reason === 'id_taken' ? 'A message with this id already exists' : 'The parent message does not exist', options);
    this.name = 'MessageConflictError';
  }
}

/** Postgres' unique (23505) and foreign-key (23503) violations of a message insert, as {@link MessageConflictError}. */
function toMessageConflict(error: unknown): never {
  const code = (error as { code?: string } | undefined)?.code;
  if (code === '23505') throw new MessageConflictError('id_taken', { cause: error });
  if (code === '23503') throw new MessageConflictError('parent_missing', { cause: error });
  throw error;
}

export const CONVERSATION_COLUMNS = `
  id, user_id AS "userId", title, root_node_id AS "rootNodeId", current_node_id AS "currentNodeId",
  default_model_slug AS "defaultModelSlug", is_archived AS "isArchived",
  extract(epoch FROM create_time)::float8 AS "createTime", extract(epoch FROM update_time)::float8 AS "updateTime"`;

export const MESSAGE_COLUMNS = `
  id, parent_id AS "parentId", role, content_type AS "contentType", parts, status, end_turn AS "endTurn",
  weight, metadata, recipient, extract(epoch FROM create_time)::float8 AS "createTime"`;

/** The conversation and every node of its tree (insertion order) in one round trip; `null` when it does not exist. */
export async function getConversationWithMessagesById(args: {
  readonly id: string;
  readonly db?: Queryable;
}): Promise<{ conversation: ConversationRow; messages: MessageRow[] } | null> {
  const { rows } = await (args.db ?? pool).query<ConversationRow & { messages: MessageRow[] | null }>(
    `SELECT ${CONVERSATION_COLUMNS},
            (SELECT json_agg(m ORDER BY m.seq) FROM (SELECT ${MESSAGE_COLUMNS}, seq FROM messages WHERE conversation_id = c.id) m) AS messages
       FROM conversations c WHERE id = $1 AND deleted_at IS NULL`,
    [args.id],
  );
  if (!rows[0]) return null;
  const { messages, ...conversation } = rows[0];
  return { conversation, messages: (messages ?? []).map(({ seq: _seq, ...message }: MessageRow & { seq?: number }) => message) };
}

/**
 * The last `limit` user and assistant messages on the branch that ends at `leafId`, oldest
 * first: a walk up the parent links, one primary-key lookup per step, that stops as soon as
 * it has `limit` of them (so its cost does not grow with the conversation).
 */
export async function getBranchMessagesByLeafId(args: {
  readonly conversationId: string;
  readonly leafId: string;
  readonly limit: number;
  readonly db?: Queryable;
}): Promise<MessageRow[]> {
  const { rows } = await (args.db ?? pool).query<MessageRow>(
    `WITH RECURSIVE branch AS (
       SELECT m.*, 0 AS depth, (m.role IN ('user', 'assistant'))::int AS counted
         FROM messages m WHERE m.conversation_id = $1 AND m.id = $2
       UNION ALL
       SELECT p.*, b.depth + 1, b.counted + (p.role IN ('user', 'assistant'))::int
         FROM branch b JOIN messages p ON p.conversation_id = b.conversation_id AND p.id = b.parent_id
        WHERE b.counted < $3
     )
     SELECT ${MESSAGE_COLUMNS} FROM branch
      WHERE role IN ('user', 'assistant')
      ORDER BY depth DESC`,
    [args.conversationId, args.leafId, args.limit],
  );
  return rows;
}

/** What a new turn needs to know about its conversation, read in one round trip. */
export interface TurnTarget {
  readonly userId: string;
  /** User and assistant messages stored so far (every branch). */
  readonly messageCount: number;
  /** Their content, in the bytes {@link messageContentBytes} counts. */
  readonly contentBytes: number;
  /** Role of the `parentId` node, `null` when the conversation has no such node. */
  readonly parentRole: MessageRole | null;
  /** The node with `messageId`, when it already exists (a retry or a regenerate). */
  readonly existing: { readonly parentId: string | null; readonly role: MessageRole } | null;
}

/** The owner, the parent's role and any existing node with the message's id; `null` when the conversation does not exist. */
export async function getTurnTargetByConversationId(args: {
  readonly conversationId: string;
  readonly parentId: string;
  readonly messageId?: string;
  readonly db?: Queryable;
}): Promise<TurnTarget | null> {
  const { rows } = await (args.db ?? pool).query<{
    userId: string;
    messageCount: number;
    contentBytes: string;
    parentRole: MessageRole | null;
    existingParentId: string | null;
    existingRole: MessageRole | null;
  }>(
    `SELECT c.user_id AS "userId", c.message_count AS "messageCount", c.content_bytes AS "contentBytes",
            (SELECT role FROM messages WHERE conversation_id = c.id AND id = $2) AS "parentRole",
            e.parent_id AS "existingParentId", e.role AS "existingRole"
       FROM conversations c
       LEFT JOIN messages e ON e.conversation_id = c.id AND e.id = $3
      WHERE c.id = $1 AND c.deleted_at IS NULL`,
    [args.conversationId, args.parentId, args.messageId ?? null],
  );
  const row = rows[0];
  if (!row) return null;
  return {
    userId: row.userId,
    messageCount: row.messageCount,
    contentBytes: Number(row.contentBytes),
    parentRole: row.parentRole,
    existing: row.existingRole ? { parentId: row.existingParentId, role: row.existingRole } : null,
  };
}

/** The columns `INSERT_MESSAGE_VALUES` fills, in order. */
export const INSERT_MESSAGE_COLUMNS = 'id, parent_id, role, content_type, parts, status, end_turn, weight, metadata, create_time';

/** [counted, content bytes] of a message: the size counters of migration 003, kept by every statement that inserts one. */
export const messageSize = (m: Pick<NewMessage, 'role' | 'parts'>): [number, number] =>
  m.role === 'user' || m.role === 'assistant' ? [1, messageContentBytes(m.parts ?? [])] : [0, 0];

/** Placeholders of `messageValues`, from `$first`. */
export const INSERT_MESSAGE_VALUES = (first: number) =>
  `$${first}, $${first + 1}, $${first + 2}, $${first + 3}, $${first + 4}::jsonb, $${first + 5}, $${first + 6}, $${first + 7}, $${first + 8}::jsonb, ` +
  `COALESCE(to_timestamp($${first + 9}::float8), clock_timestamp())`;

/** A message's values for `INSERT_MESSAGE_COLUMNS`. */
export const messageValues = (m: NewMessage): unknown[] => [
  m.id,
  m.parentId,
  m.role,
  m.contentType ?? 'text',
  JSON.stringify(m.parts ?? []),
  m.status ?? 'finished_successfully',
  m.endTurn ?? null,
  m.weight ?? 1,
  JSON.stringify(m.metadata ?? {}),
  m.createTime ?? null,
];

/**
 * Creates a conversation — its root node, the hidden system node, and the first user message
 * under it, which becomes `current_node` — in one statement (atomic without a transaction).
 * Throws {@link MessageConflictError} when a node id is taken.
 */
export async function createConversationWithMessage(args: {
  readonly id: string;
  readonly userId: string;
  readonly rootNodeId: string;
  readonly systemNodeId: string;
  readonly message: Omit<NewMessage, 'parentId' | 'role'>;
  readonly defaultModelSlug?: string | null;
  readonly db?: Queryable;
}): Promise<MessageRow> {
  const message: NewMessage = { ...args.message, parentId: args.systemNodeId, role: 'user' };
  const { rows } = await (args.db ?? pool).query<MessageRow>(
    `WITH conversation AS (
       INSERT INTO conversations (id, user_id, root_node_id, current_node_id, default_model_slug, message_count, content_bytes)
       VALUES ($1, $2, $3, $5, $4, 1, $17) RETURNING id
     ), skeleton AS (
       INSERT INTO messages (conversation_id, id, parent_id, role, parts, weight, metadata)
       SELECT id, $3, NULL, 'root', '[]'::jsonb, 0, '{}'::jsonb FROM conversation
       UNION ALL
       SELECT id, $6, $3, 'system', '[""]'::jsonb, 0, '{"is_visually_hidden_from_conversation": true}'::jsonb FROM conversation
     )
     INSERT INTO messages (conversation_id, ${INSERT_MESSAGE_COLUMNS})
     SELECT conversation.id, ${INSERT_MESSAGE_VALUES(7)} FROM conversation
     RETURNING ${MESSAGE_COLUMNS}`,
    [args.id, args.userId, args.rootNodeId, args.defaultModelSlug ?? null, message.id, args.systemNodeId, ...messageValues(message), messageSize(message)[1]],
  ).catch(toMessageConflict);
  return rows[0];
}

/**
 * Adds a node under `parentId` and makes it the conversation's `current_node` (bumping
 * `update_time`) in one statement; `null`, writing nothing, when the conversation is gone
 * (deleted while the turn ran). A user message un-archives the conversation: the user is
 * talking in it again. `title` names a conversation that has none yet, so a rename made
 * while the first reply streamed is kept. Throws {@link MessageConflictError} when the id is
 * taken or the parent is missing.
 */
export async function insertMessageAndMoveCurrentNode(args: {
  readonly conversationId: string;
  readonly message: NewMessage;
  readonly defaultModelSlug?: string;
  readonly title?: string;
  readonly db?: Queryable;
}): Promise<MessageRow | null> {
  const { rows } = await (args.db ?? pool).query<MessageRow>(
    `WITH moved AS (
       UPDATE conversations
          SET current_node_id = $2, update_time = clock_timestamp(),
              default_model_slug = COALESCE($12, default_model_slug), title = COALESCE(title, $13),
              is_archived = is_archived AND $4 <> 'user',
              message_count = message_count + $14, content_bytes = content_bytes + $15
        WHERE id = $1 AND deleted_at IS NULL
        RETURNING id
     )
     INSERT INTO messages (conversation_id, ${INSERT_MESSAGE_COLUMNS})
     SELECT moved.id, ${INSERT_MESSAGE_VALUES(2)} FROM moved
     RETURNING ${MESSAGE_COLUMNS}`,
    [args.conversationId, ...messageValues(args.message), args.defaultModelSlug ?? null, args.title ?? null, ...messageSize(args.message)],
  ).catch(toMessageConflict);
  return rows[0] ?? null;
}

/** The owner of a live conversation; `null` when it does not exist or was deleted. */
export async function getConversationUserIdById(args: { readonly id: string; readonly db?: Queryable }): Promise<string | null> {
  const { rows } = await (args.db ?? pool).query<{ userId: string }>(
    'SELECT user_id AS "userId" FROM conversations WHERE id = $1 AND deleted_at IS NULL',
    [args.id],
  );
  return rows[0]?.userId ?? null;
}

/** One page of the user's live conversations in one view (archived or not), newest `update_time` first, and how many that view has — one round trip. */
export async function listConversationsByUserId(args: {
  readonly userId: string;
  readonly offset: number;
  readonly limit: number;
  /** The archived view instead of the default one. @default false */
  readonly isArchived?: boolean;
  readonly db?: Queryable;
}): Promise<ConversationListPage> {
  const { rows } = await (args.db ?? pool).query<{ total: string; items: ConversationRow[] | null }>(
    `SELECT (SELECT count(*) FROM conversations WHERE user_id = $1 AND is_archived = $4 AND deleted_at IS NULL) AS total,
            (SELECT json_agg(page ORDER BY page."updateTime" DESC, page.id DESC) FROM (
               SELECT ${CONVERSATION_COLUMNS} FROM conversations
                WHERE user_id = $1 AND is_archived = $4 AND deleted_at IS NULL
                ORDER BY update_time DESC, id DESC
                LIMIT $2 OFFSET $3) page) AS items`,
    [args.userId, args.limit, args.offset, args.isArchived ?? false],
  );
  return { total: Number(rows[0].total), items: rows[0].items ?? [] };
}

/** What a lifecycle change sets; an absent field is left as it is. */
export interface ConversationChanges {
  readonly title?: string;
  readonly isArchived?: boolean;
  /** Soft-deletes the conversation (`is_visible: false`). */
  readonly deleted?: boolean;
}

/** What a lifecycle change did: the conversations it changed and, for a deletion, the live shares of them it revoked. */
export interface ConversationsChanged {
  readonly ids: string[];
  readonly revokedShareIds: string[];
}

/**
 * The end of a lifecycle statement whose CTE `changed` returns the conversations it changed:
 * when `deleted` (a parameter) holds, their live shares are revoked in the same statement, so
 * no share outlives its conversation.
 */
const revokeSharesOfChanged = (deleted: string) => `
  revoked AS (
    UPDATE shares SET revoked_at = clock_timestamp(), update_time = clock_timestamp()
     WHERE conversation_id IN (SELECT id FROM changed) AND revoked_at IS NULL AND ${deleted}
     RETURNING id
  )
  SELECT coalesce((SELECT array_agg(id::text) FROM changed), '{}') AS ids,
         coalesce((SELECT array_agg(id::text) FROM revoked), '{}') AS "revokedShareIds"`;

/** Applies `changes` to one live conversation of the user; `ids` is empty when there is none (unknown, foreign or deleted). */
export async function updateConversationByIdAndUserId(args: {
  readonly id: string;
  readonly userId: string;
  readonly changes: ConversationChanges;
  readonly db?: Queryable;
}): Promise<ConversationsChanged> {
  const { rows } = await (args.db ?? pool).query<ConversationsChanged>(
    `WITH changed AS (
       UPDATE conversations
          SET title = COALESCE($3, title), is_archived = COALESCE($4, is_archived),
              deleted_at = CASE WHEN $5 THEN clock_timestamp() ELSE deleted_at END
        WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL
        RETURNING id
     ), ${revokeSharesOfChanged('$5')}`,
    [args.id, args.userId, args.changes.title ?? null, args.changes.isArchived ?? null, args.changes.deleted ?? false],
  );
  return rows[0];
}

/** Archives or soft-deletes every live conversation of the user; returns the ids it changed (and the shares a deletion revoked). */
export async function updateConversationsByUserId(args: {
  readonly userId: string;
  readonly changes: Pick<ConversationChanges, 'isArchived' | 'deleted'>;
  readonly db?: Queryable;
}): Promise<ConversationsChanged> {
  const { rows } = await (args.db ?? pool).query<ConversationsChanged>(
    `WITH changed AS (
       UPDATE conversations
          SET is_archived = COALESCE($2, is_archived),
              deleted_at = CASE WHEN $3 THEN clock_timestamp() ELSE deleted_at END
        WHERE user_id = $1 AND deleted_at IS NULL
          AND ($3 OR is_archived IS DISTINCT FROM COALESCE($2, is_archived))
        RETURNING id
     ), ${revokeSharesOfChanged('$3')}`,
    [args.userId, args.changes.isArchived ?? null, args.changes.deleted ?? false],
  );
  return rows[0];
}

/**
 * Hard-deletes up to `limit` conversations soft-deleted before `deletedBefore` (their
 * messages go with them, `ON DELETE CASCADE`); returns how many. `SKIP LOCKED` lets two
 * purges run at once without waiting on, or deleting, the same rows.
 */
export async function deleteConversationsDeletedBefore(args: {
  readonly deletedBefore: Date;
  readonly limit: number;
  readonly db?: Queryable;
}): Promise<number> {
  const { rowCount } = await (args.db ?? pool).query(
    `DELETE FROM conversations WHERE id IN (
       SELECT id FROM conversations
        WHERE deleted_at IS NOT NULL AND deleted_at < $1
        ORDER BY deleted_at
        LIMIT $2
        FOR UPDATE SKIP LOCKED)`,
    [args.deletedBefore, args.limit],
  );
  return rowCount ?? 0;
}
