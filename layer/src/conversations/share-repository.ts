/**
 * The SQL of share links (docs/api.md#share-links), with the repository's rules: one
 * parameterised statement per function, `null` for a missing row, `db` defaults to the pool.
 * A share is live while it is not revoked and its conversation is not deleted; every read
 * checks both.
 */
import { db as pool, type Queryable } from '../platform/database';
import type { MessageRow, NewMessage, ShareRow } from './records';
import type { ReplyRoom } from './repository';
import { INSERT_MESSAGE_COLUMNS, INSERT_MESSAGE_VALUES, MESSAGE_COLUMNS, messageValues, toMessageConflict } from './sql';

const SHARE_COLUMNS = `
  s.id, s.user_id AS "userId", s.conversation_id AS "conversationId", s.current_node_id AS "currentNodeId",
  s.title, s.is_anonymous AS "isAnonymous",
  extract(epoch FROM s.create_time)::float8 AS "createTime", extract(epoch FROM s.update_time)::float8 AS "updateTime"`;

/** The messages of the branch ending at the share's node, from its root (`depth` 0 = the node). */
const SHARED_BRANCH = `
  share AS (
    SELECT s.*, c.default_model_slug
      FROM shares s JOIN conversations c ON c.id = s.conversation_id AND c.deleted_at IS NULL
     WHERE s.id = $1 AND s.revoked_at IS NULL
  ), branch AS (
    SELECT m.*, 0 AS depth FROM share JOIN messages m ON m.conversation_id = share.conversation_id AND m.id = share.current_node_id
    UNION ALL
    SELECT p.*, b.depth + 1 FROM branch b JOIN messages p ON p.conversation_id = b.conversation_id AND p.id = b.parent_id
  )`;

/** What creating a share found; the use case turns each outcome into its answer. */
export type ShareCreation =
  | { readonly outcome: 'created' | 'existing'; readonly share: ShareRow }
  | { readonly outcome: 'conversation_not_found' | 'node_not_shareable' | 'limit_reached' };

/**
 * Shares the branch of the user's live conversation that ends at `nodeId` (a user or
 * assistant message), unless that node already has a live share (returned instead) or the
 * user already has `maxShares` live shares. One statement; `null` when a concurrent request
 * created the same share first (the caller reads it with a second call).
 */
export async function insertShareForNode(args: {
  readonly id: string;
  readonly userId: string;
  readonly conversationId: string;
  readonly nodeId: string;
  readonly isAnonymous: boolean;
  readonly defaultTitle: string;
  readonly maxShares: number;
  readonly db?: Queryable;
}): Promise<ShareCreation | null> {
  const { rows } = await (args.db ?? pool).query<{ found: boolean; role: string | null; room: boolean; created: ShareRow | null; existing: ShareRow | null }>(
    `WITH target AS (
       SELECT c.id, c.title, (SELECT role FROM messages WHERE conversation_id = c.id AND id = $3) AS role
         FROM conversations c WHERE c.id = $2 AND c.user_id = $1 AND c.deleted_at IS NULL
     ), existing AS (
       SELECT ${SHARE_COLUMNS} FROM shares s JOIN target ON s.conversation_id = target.id
        WHERE s.current_node_id = $3 AND s.revoked_at IS NULL
     ), room AS (
       SELECT count(*) < $7 AS ok FROM shares WHERE user_id = $1 AND revoked_at IS NULL
     ), inserted AS (
       INSERT INTO shares AS s (id, user_id, conversation_id, current_node_id, title, is_anonymous)
       SELECT $4, $1, target.id, $3, coalesce(target.title, $6), $5
         FROM target, room
        WHERE target.role IN ('user', 'assistant') AND room.ok AND NOT EXISTS (SELECT FROM existing)
       ON CONFLICT (conversation_id, current_node_id) WHERE revoked_at IS NULL DO NOTHING
       RETURNING ${SHARE_COLUMNS}
     )
     SELECT EXISTS (SELECT FROM target) AS found, (SELECT role FROM target) AS role, (SELECT ok FROM room) AS room,
            (SELECT row_to_json(inserted) FROM inserted) AS created, (SELECT row_to_json(existing) FROM existing) AS existing`,
    [args.userId, args.conversationId, args.nodeId, args.id, args.isAnonymous, args.defaultTitle, args.maxShares],
  );
  const row = rows[0];
  if (row.existing) return { outcome: 'existing', share: row.existing };
  if (row.created) return { outcome: 'created', share: row.created };
  if (!row.found) return { outcome: 'conversation_not_found' };
  if (row.role !== 'user' && row.role !== 'assistant') return { outcome: 'node_not_shareable' };
  if (!row.room) return { outcome: 'limit_reached' };
  return null;
}

/** A live share and its branch, root first; `null` when the share is unknown, revoked, or its conversation deleted. */
export async function getSharedBranchById(args: {
  readonly id: string;
  readonly db?: Queryable;
}): Promise<{ share: ShareRow; messages: MessageRow[] } | null> {
  const { rows } = await (args.db ?? pool).query<ShareRow & { messages: MessageRow[] | null }>(
    `WITH RECURSIVE ${SHARED_BRANCH}
     SELECT ${SHARE_COLUMNS},
            (SELECT json_agg(m ORDER BY m.depth DESC) FROM (SELECT ${MESSAGE_COLUMNS}, depth FROM branch) m) AS messages
       FROM share s`,
    [args.id],
  );
  if (!rows[0]) return null;
  const { messages, ...share } = rows[0];
  return { share, messages: (messages ?? []).map(({ depth: _depth, ...message }: MessageRow & { depth?: number }) => message) };
}

/**
 * Starts a conversation of `userId` with a copy of a live share's branch (message ids, parents,
 * content and times as shared), titled like the share, and `message` under the branch's last
 * node, which becomes `current_node` — one statement. `null`, writing nothing, when the share
 * is no longer live.
 */
export async function createConversationFromShare(args: {
  readonly shareId: string;
  readonly id: string;
  readonly userId: string;
  readonly message: NewMessage;
  /** Size counters of the new conversation, the copy and the message together (migration 003). */
  readonly messageCount: number;
  readonly contentBytes: number;
  /** Room held for the first reply (the caller checked it fits: nobody else knows the conversation yet). @default none */
  readonly replyRoom?: Pick<ReplyRoom, 'bytes' | 'holdSeconds'>;
  readonly db?: Queryable;
}): Promise<MessageRow | null> {
  const { rows } = await (args.db ?? pool).query<MessageRow>(
    `WITH RECURSIVE ${SHARED_BRANCH}, conversation AS (
       INSERT INTO conversations (id, user_id, title, root_node_id, current_node_id, default_model_slug, message_count, content_bytes,
                                  reserved_messages, reserved_bytes, reserved_until)
       SELECT $2, $3, share.title, (SELECT id FROM branch WHERE parent_id IS NULL), $6, share.default_model_slug, $4, $5,
              $16, $17, clock_timestamp() + make_interval(secs => $18) FROM share
       RETURNING id
     ), copied AS (
       INSERT INTO messages (conversation_id, id, parent_id, role, content_type, parts, status, end_turn, weight, metadata, recipient, create_time)
       SELECT conversation.id, b.id, b.parent_id, b.role, b.content_type, b.parts, b.status, b.end_turn, b.weight, b.metadata, b.recipient, b.create_time
         FROM conversation, branch b ORDER BY b.depth DESC
     )
     INSERT INTO messages (conversation_id, ${INSERT_MESSAGE_COLUMNS})
     SELECT conversation.id, ${INSERT_MESSAGE_VALUES(6)} FROM conversation
     RETURNING ${MESSAGE_COLUMNS}`,
    [
      args.shareId,
      args.id,
      args.userId,
      args.messageCount,
      args.contentBytes,
      ...messageValues(args.message),
      args.replyRoom ? 1 : 0,
      args.replyRoom?.bytes ?? 0,
      args.replyRoom?.holdSeconds ?? 0,
    ],
  ).catch(toMessageConflict);
  return rows[0] ?? null;
}

/** What a share update sets; an absent field is left as it is. */
export interface ShareChanges {
  readonly title?: string;
  readonly revoked?: boolean;
}

/** Renames or revokes one live share of the user; `false` when there is none (unknown, foreign, revoked). */
export async function updateShareByIdAndUserId(args: {
  readonly id: string;
  readonly userId: string;
  readonly changes: ShareChanges;
  readonly db?: Queryable;
}): Promise<boolean> {
  const { rowCount } = await (args.db ?? pool).query(
    `UPDATE shares s
        SET title = COALESCE($3, s.title), update_time = clock_timestamp(),
            revoked_at = CASE WHEN $4 THEN clock_timestamp() ELSE s.revoked_at END
       FROM conversations c
      WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL AND c.id = s.conversation_id AND c.deleted_at IS NULL`,
    [args.id, args.userId, args.changes.title ?? null, args.changes.revoked ?? false],
  );
  return rowCount === 1;
}

/** One page of the user's live shares, newest first, and how many there are — one round trip. */
export async function listSharesByUserId(args: {
  readonly userId: string;
  readonly offset: number;
  readonly limit: number;
  readonly db?: Queryable;
}): Promise<{ total: number; items: ShareRow[] }> {
  const { rows } = await (args.db ?? pool).query<{ total: string; items: ShareRow[] | null }>(
    `WITH live AS (
       SELECT s.* FROM shares s JOIN conversations c ON c.id = s.conversation_id AND c.deleted_at IS NULL
        WHERE s.user_id = $1 AND s.revoked_at IS NULL
     )
     SELECT (SELECT count(*) FROM live) AS total,
            (SELECT json_agg(page ORDER BY page."createTime" DESC, page.id DESC) FROM (
               SELECT ${SHARE_COLUMNS} FROM live s ORDER BY s.create_time DESC, s.id DESC LIMIT $2 OFFSET $3) page) AS items`,
    [args.userId, args.limit, args.offset],
  );
  return { total: Number(rows[0].total), items: rows[0].items ?? [] };
}
