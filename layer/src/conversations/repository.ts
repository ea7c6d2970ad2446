/**
 * All SQL, one named function per operation (`verbEntityByKey`), one parameterised statement
 * each. A missing row is `null`; the use case decides what that means. Every write is one
 * statement, atomic without a transaction; `db` defaults to the pool.
 */
import { db as pool, type Queryable } from '../platform/database';
import { CONVERSATION_COLUMNS, INSERT_MESSAGE_COLUMNS, INSERT_MESSAGE_VALUES, MESSAGE_COLUMNS, MessageConflictError, messageSize, messageValues, toMessageConflict } from './sql';
import type { ConversationListPage, ConversationRow, MessageRole, MessageRow, NewMessage } from './records';

export type { ConversationListPage, ConversationRow, MessageRole, MessageRow, NewMessage };
export { MessageConflictError };

/** A message's columns with the owner's rating (migration 006) merged into its metadata as `feedback`; `msg` and `f` joined. */
const MESSAGE_WITH_FEEDBACK_COLUMNS = `
  msg.id, msg.parent_id AS "parentId", msg.role, msg.content_type AS "contentType", msg.parts, msg.status, msg.end_turn AS "endTurn",
  msg.weight,
  CASE WHEN f.rating IS NULL THEN msg.metadata
       ELSE msg.metadata || jsonb_build_object('feedback', jsonb_build_object('rating', f.rating, 'tags', f.tags, 'text', f.text)) END AS metadata,
  msg.recipient, extract(epoch FROM msg.create_time)::float8 AS "createTime"`;

/**
 * The conversation and every node of its tree (insertion order), each rated reply with the
 * owner's rating as `metadata.feedback`, in one round trip; `null` when it does not exist.
 */
export async function getConversationWithMessagesById(args: {
  readonly id: string;
  readonly db?: Queryable;
}): Promise<{ conversation: ConversationRow; messages: MessageRow[] } | null> {
  const { rows } = await (args.db ?? pool).query<ConversationRow & { messages: MessageRow[] | null }>(
    `SELECT ${CONVERSATION_COLUMNS},
            (SELECT json_agg(m ORDER BY m.seq) FROM (
               SELECT ${MESSAGE_WITH_FEEDBACK_COLUMNS}, msg.seq
                 FROM messages msg
                 LEFT JOIN message_feedback f ON f.conversation_id = msg.conversation_id AND f.message_id = msg.id AND f.user_id = c.user_id
                WHERE msg.conversation_id = c.id) m) AS messages
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
  /** Room held by replies still running (lapsed reservations not counted). */
  readonly reservedMessages: number;
  readonly reservedBytes: number;
  /** The parent: the `parentId` asked for, or the conversation's current node when none was. */
  readonly parentId: string;
  /** Role of the parent node, `null` when the conversation has no such node. */
  readonly parentRole: MessageRole | null;
  /** The node with `messageId`, when it already exists (a retry or a regenerate). */
  readonly existing: { readonly parentId: string | null; readonly role: MessageRole } | null;
  /** The model of the conversation's last reply (`default_model_slug`). */
  readonly defaultModelSlug: string | null;
  /** Assistant replies already under the node a new reply would go under (`messageId`, else `parentId`); 0 unless asked for. */
  readonly replyCount: number;
  /** The conversation has no title yet. */
  readonly untitled: boolean;
}

/**
 * The owner, the parent's role, any existing node with the message's id and the last model;
 * with `countReplies` (a regenerate), how many replies that node already has. `parentId: null`
 * asks for the conversation's current node as the parent. `null` when the conversation does
 * not exist.
 */
export async function getTurnTargetByConversationId(args: {
  readonly conversationId: string;
  readonly parentId: string | null;
  readonly messageId?: string;
  /** Count the replies already under the reply's parent (a scan of the conversation's rows: only for a regenerate). @default false */
  readonly countReplies?: boolean;
  readonly db?: Queryable;
}): Promise<TurnTarget | null> {
  const { rows } = await (args.db ?? pool).query<{
    userId: string;
    messageCount: number;
    contentBytes: string;
    reservedMessages: number;
    reservedBytes: string;
    parentRole: MessageRole | null;
    existingParentId: string | null;
    existingRole: MessageRole | null;
    defaultModelSlug: string | null;
    replyCount: number;
    parentId: string;
    untitled: boolean;
  }>(
    `SELECT c.user_id AS "userId", c.message_count AS "messageCount", c.content_bytes AS "contentBytes",
            ${liveReserved('messages', 'c')} AS "reservedMessages", ${liveReserved('bytes', 'c')} AS "reservedBytes",
            COALESCE($2, c.current_node_id) AS "parentId", c.title IS NULL AS "untitled",
            (SELECT role FROM messages WHERE conversation_id = c.id AND id = COALESCE($2, c.current_node_id)) AS "parentRole",
            e.parent_id AS "existingParentId", e.role AS "existingRole", c.default_model_slug AS "defaultModelSlug",
            CASE WHEN $4 THEN (SELECT count(*)::int FROM messages r
                                WHERE r.conversation_id = c.id AND r.parent_id = COALESCE(e.id, $2, c.current_node_id) AND r.role = 'assistant')
                 ELSE 0 END AS "replyCount"
       FROM conversations c
       LEFT JOIN messages e ON e.conversation_id = c.id AND e.id = $3
      WHERE c.id = $1 AND c.deleted_at IS NULL`,
    [args.conversationId, args.parentId, args.messageId ?? null, args.countReplies ?? false],
  );
  const row = rows[0];
  if (!row) return null;
  return {
    userId: row.userId,
    messageCount: row.messageCount,
    contentBytes: Number(row.contentBytes),
    reservedMessages: row.reservedMessages,
    reservedBytes: Number(row.reservedBytes),
    parentRole: row.parentRole,
    existing: row.existingRole ? { parentId: row.existingParentId, role: row.existingRole } : null,
    defaultModelSlug: row.defaultModelSlug,
    replyCount: row.replyCount,
    parentId: row.parentId,
    untitled: row.untitled,
  };
}

/**
 * Room a reply holds while it runs (migration 005, docs/api.md#limits): its worst-case size,
 * reserved in the statement that checks the conversation's room, released when it is stored.
 */
export interface ReplyRoom {
  /** The reply's worst case (`MAX_REPLY_BYTES`). */
  readonly bytes: number;
  /** How long the room is held if the reply never comes back (its container died). */
  readonly holdSeconds: number;
  readonly maxMessages: number;
  readonly maxBytes: number;
}

/** The conversation's reserved messages or bytes that have not lapsed. */
const liveReserved = (what: 'messages' | 'bytes', table = 'conversations'): string =>
  `(CASE WHEN ${table}.reserved_until > clock_timestamp() THEN ${table}.reserved_${what} ELSE 0 END)`;

/** SET and WHERE fragments that reserve `room` (parameters from `$first`): one message and `room.bytes` more, if they fit beside `adding`. */
function reserveFragments(first: number, adding: { messages: string; bytes: string }) {
  return {
    set: `reserved_messages = ${liveReserved('messages')} + 1, reserved_bytes = ${liveReserved('bytes')} + $${first},
          reserved_until = clock_timestamp() + make_interval(secs => $${first + 1})`,
    where: `message_count + ${adding.messages} + ${liveReserved('messages')} + 1 <= $${first + 2}
            AND content_bytes + ${adding.bytes} + ${liveReserved('bytes')} + $${first} <= $${first + 3}`,
    values: (room: ReplyRoom): unknown[] => [room.bytes, room.holdSeconds, room.maxMessages, room.maxBytes],
  };
}

/** SET fragment that gives back one reply's room (`$param` = its bytes). */
const releaseFragment = (param: number): string =>
  `reserved_messages = greatest(0, ${liveReserved('messages')} - 1), reserved_bytes = greatest(0, ${liveReserved('bytes')} - $${param})`;

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
  /** Room held for the first reply (the caller checked it fits: nobody else knows the conversation yet). @default none */
  readonly replyRoom?: Pick<ReplyRoom, 'bytes' | 'holdSeconds'>;
  readonly db?: Queryable;
}): Promise<MessageRow> {
  const message: NewMessage = { ...args.message, parentId: args.systemNodeId, role: 'user' };
  const { rows } = await (args.db ?? pool).query<MessageRow>(
    `WITH conversation AS (
       INSERT INTO conversations (id, user_id, root_node_id, current_node_id, default_model_slug, message_count, content_bytes,
                                  reserved_messages, reserved_bytes, reserved_until)
       VALUES ($1, $2, $3, $5, $4, 1, $17, $18, $19, clock_timestamp() + make_interval(secs => $20)) RETURNING id
     ), skeleton AS (
       INSERT INTO messages (conversation_id, id, parent_id, role, parts, weight, metadata)
       SELECT id, $3, NULL, 'root', '[]'::jsonb, 0, '{}'::jsonb FROM conversation
       UNION ALL
       SELECT id, $6, $3, 'system', '[""]'::jsonb, 0, '{"is_visually_hidden_from_conversation": true}'::jsonb FROM conversation
     )
     INSERT INTO messages (conversation_id, ${INSERT_MESSAGE_COLUMNS})
     SELECT conversation.id, ${INSERT_MESSAGE_VALUES(7)} FROM conversation
     RETURNING ${MESSAGE_COLUMNS}`,
    [
      args.id,
      args.userId,
      args.rootNodeId,
      args.defaultModelSlug ?? null,
      message.id,
      args.systemNodeId,
      ...messageValues(message),
      messageSize(message)[1],
      args.replyRoom ? 1 : 0,
      args.replyRoom?.bytes ?? 0,
      args.replyRoom?.holdSeconds ?? 0,
    ],
  ).catch(toMessageConflict);
  return rows[0];
}

/**
 * Adds a node under `parentId` and makes it the conversation's `current_node` (bumping
 * `update_time`) in one statement; `null`, writing nothing, when the conversation is gone
 * (deleted while the turn ran) — or, with `reserveReply`, when the message and a reply would not
 * fit its limits. A user message un-archives the conversation: the user is talking in it
 * again. `title` names a conversation that has none yet, so a rename made while the first reply
 * streamed is kept. `releaseReply` gives back the room the stored reply held. Throws
 * {@link MessageConflictError} when the id is taken or the parent is missing.
 */
export async function insertMessageAndMoveCurrentNode(args: {
  readonly conversationId: string;
  readonly message: NewMessage;
  readonly defaultModelSlug?: string;
  readonly title?: string;
  /** Hold room for the reply to this message, if it fits beside it. @default none */
  readonly reserveReply?: ReplyRoom;
  /** This is that reply: give back its room. @default none */
  readonly releaseReply?: Pick<ReplyRoom, 'bytes'>;
  readonly db?: Queryable;
}): Promise<MessageRow | null> {
  const values: unknown[] = [args.conversationId, ...messageValues(args.message), args.defaultModelSlug ?? null, args.title ?? null, ...messageSize(args.message)];
  let reserved = '';
  let room = '';
  if (args.reserveReply) {
    const reserve = reserveFragments(values.length + 1, { messages: '$14', bytes: '$15' });
    [reserved, room] = [`, ${reserve.set}`, ` AND ${reserve.where}`];
    values.push(...reserve.values(args.reserveReply));
  } else if (args.releaseReply) {
    reserved = `, ${releaseFragment(values.length + 1)}`;
    values.push(args.releaseReply.bytes);
  }
  const { rows } = await (args.db ?? pool).query<MessageRow>(
    `WITH moved AS (
       UPDATE conversations
          SET current_node_id = $2, update_time = clock_timestamp(),
              default_model_slug = COALESCE($12, default_model_slug), title = COALESCE(title, $13),
              is_archived = is_archived AND $4 <> 'user',
              message_count = message_count + $14, content_bytes = content_bytes + $15${reserved}
        WHERE id = $1 AND deleted_at IS NULL${room}
        RETURNING id
     )
     INSERT INTO messages (conversation_id, ${INSERT_MESSAGE_COLUMNS})
     SELECT moved.id, ${INSERT_MESSAGE_VALUES(2)} FROM moved
     RETURNING ${MESSAGE_COLUMNS}`,
    values,
  ).catch(toMessageConflict);
  return rows[0] ?? null;
}

/**
 * Holds room for a reply that adds no user message (a regenerate, a continue) if it fits the
 * conversation's limits beside what is stored and what running replies hold; `false`, writing
 * nothing, when it does not fit or the conversation is gone.
 */
export async function reserveReplyRoomById(args: { readonly id: string; readonly room: ReplyRoom; readonly db?: Queryable }): Promise<boolean> {
  const reserve = reserveFragments(2, { messages: '0', bytes: '0' });
  const { rowCount } = await (args.db ?? pool).query(
    `UPDATE conversations SET ${reserve.set} WHERE id = $1 AND deleted_at IS NULL AND ${reserve.where}`,
    [args.id, ...reserve.values(args.room)],
  );
  return rowCount === 1;
}

/** Gives back the room of a reply that stored nothing (it failed before any text). */
export async function releaseReplyRoomById(args: { readonly id: string; readonly room: Pick<ReplyRoom, 'bytes'>; readonly db?: Queryable }): Promise<void> {
  await (args.db ?? pool).query(`UPDATE conversations SET ${releaseFragment(2)} WHERE id = $1`, [args.id, args.room.bytes]);
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
