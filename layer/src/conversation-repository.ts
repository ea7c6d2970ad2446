/**
 * All SQL, one named function per operation (`verbEntityByKey`), parameterised queries only.
 * A missing row is `null`; the service decides what that means. Functions take an optional
 * `db` so a caller can run several of them in one transaction (`withTransaction`).
 */
import { db as pool, type Queryable } from './database';

export type MessageRole = 'root' | 'system' | 'user' | 'assistant';

export interface ConversationRow {
  readonly id: string;
  readonly userId: string;
  readonly title: string | null;
  readonly rootNodeId: string;
  readonly currentNodeId: string;
  readonly defaultModelSlug: string | null;
  readonly isArchived: boolean;
  /** Epoch seconds with microseconds. */
  readonly createTime: number;
  readonly updateTime: number;
}

export interface MessageRow {
  readonly id: string;
  readonly parentId: string | null;
  readonly role: MessageRole;
  readonly contentType: string;
  readonly parts: unknown[];
  readonly status: string;
  readonly endTurn: boolean | null;
  readonly weight: number;
  readonly metadata: Record<string, unknown>;
  readonly recipient: string;
  readonly createTime: number;
}

export interface NewMessage {
  readonly id: string;
  readonly parentId: string | null;
  readonly role: MessageRole;
  readonly contentType?: string;
  readonly parts?: unknown[];
  readonly status?: string;
  readonly endTurn?: boolean | null;
  readonly weight?: number;
  readonly metadata?: Record<string, unknown>;
}

export interface ConversationListPage {
  readonly total: number;
  readonly items: readonly ConversationRow[];
}

const CONVERSATION_COLUMNS = `
  id, user_id AS "userId", title, root_node_id AS "rootNodeId", current_node_id AS "currentNodeId",
  default_model_slug AS "defaultModelSlug", is_archived AS "isArchived",
  extract(epoch FROM create_time)::float8 AS "createTime", extract(epoch FROM update_time)::float8 AS "updateTime"`;

const MESSAGE_COLUMNS = `
  id, parent_id AS "parentId", role, content_type AS "contentType", parts, status, end_turn AS "endTurn",
  weight, metadata, recipient, extract(epoch FROM create_time)::float8 AS "createTime"`;

/** Creates a conversation with its root node and the hidden system node under it. */
export async function createConversation(args: {
  readonly id: string;
  readonly userId: string;
  readonly rootNodeId: string;
  readonly systemNodeId: string;
  readonly defaultModelSlug?: string | null;
  readonly db?: Queryable;
}): Promise<ConversationRow> {
  const db = args.db ?? pool;
  const { rows } = await db.query<ConversationRow>(
    `INSERT INTO conversations (id, user_id, root_node_id, current_node_id, default_model_slug)
     VALUES ($1, $2, $3, $4, $5) RETURNING ${CONVERSATION_COLUMNS}`,
    [args.id, args.userId, args.rootNodeId, args.systemNodeId, args.defaultModelSlug ?? null],
  );
  await db.query(
    `INSERT INTO messages (conversation_id, id, parent_id, role, parts, weight, metadata)
     VALUES ($1, $2, NULL, 'root', '[]', 0, '{}'),
            ($1, $3, $2, 'system', '[""]', 0, '{"is_visually_hidden_from_conversation": true}')`,
    [args.id, args.rootNodeId, args.systemNodeId],
  );
  return rows[0];
}

/** The conversation, whoever owns it; `null` when it does not exist. */
export async function getConversationById(args: { readonly id: string; readonly db?: Queryable }): Promise<ConversationRow | null> {
  const { rows } = await (args.db ?? pool).query<ConversationRow>(
    `SELECT ${CONVERSATION_COLUMNS} FROM conversations WHERE id = $1`,
    [args.id],
  );
  return rows[0] ?? null;
}

/**
 * The conversation, row-locked for the rest of the transaction so two writers of one
 * conversation serialise; `null` when it does not exist.
 */
export async function lockConversationById(args: { readonly id: string; readonly db: Queryable }): Promise<ConversationRow | null> {
  const { rows } = await args.db.query<ConversationRow>(
    `SELECT ${CONVERSATION_COLUMNS} FROM conversations WHERE id = $1 FOR UPDATE`,
    [args.id],
  );
  return rows[0] ?? null;
}

/** Every node of the conversation's tree, in insertion order. */
export async function getMessagesByConversationId(args: { readonly conversationId: string; readonly db?: Queryable }): Promise<MessageRow[]> {
  const { rows } = await (args.db ?? pool).query<MessageRow>(
    `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 ORDER BY seq`,
    [args.conversationId],
  );
  return rows;
}

/** One node; `null` when the conversation has no node with that id. */
export async function getMessageById(args: {
  readonly conversationId: string;
  readonly id: string;
  readonly db?: Queryable;
}): Promise<MessageRow | null> {
  const { rows } = await (args.db ?? pool).query<MessageRow>(
    `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND id = $2`,
    [args.conversationId, args.id],
  );
  return rows[0] ?? null;
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

/** Adds a node under `parentId` (which must exist in the same conversation). */
export async function insertMessage(args: {
  readonly conversationId: string;
  readonly message: NewMessage;
  readonly db?: Queryable;
}): Promise<MessageRow> {
  const m = args.message;
  const { rows } = await (args.db ?? pool).query<MessageRow>(
    `INSERT INTO messages (conversation_id, id, parent_id, role, content_type, parts, status, end_turn, weight, metadata)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ${MESSAGE_COLUMNS}`,
    [
      args.conversationId,
      m.id,
      m.parentId,
      m.role,
      m.contentType ?? 'text',
      JSON.stringify(m.parts ?? []),
      m.status ?? 'finished_successfully',
      m.endTurn ?? null,
      m.weight ?? 1,
      JSON.stringify(m.metadata ?? {}),
    ],
  );
  return rows[0];
}

/** Moves the conversation's `current_node` and bumps `update_time` (the sidebar order). */
export async function updateConversationCurrentNodeById(args: {
  readonly id: string;
  readonly currentNodeId: string;
  readonly defaultModelSlug?: string;
  readonly db?: Queryable;
}): Promise<void> {
  await (args.db ?? pool).query(
    `UPDATE conversations
        SET current_node_id = $2, update_time = clock_timestamp(),
            default_model_slug = COALESCE($3, default_model_slug)
      WHERE id = $1`,
    [args.id, args.currentNodeId, args.defaultModelSlug ?? null],
  );
}

/** Sets the title; returns false when the conversation does not exist. */
export async function updateConversationTitleById(args: { readonly id: string; readonly title: string; readonly db?: Queryable }): Promise<boolean> {
  const { rowCount } = await (args.db ?? pool).query(
    'UPDATE conversations SET title = $2, update_time = clock_timestamp() WHERE id = $1',
    [args.id, args.title],
  );
  return rowCount === 1;
}

/** One page of the user's conversations, newest `update_time` first, and how many there are in all — one round trip. */
export async function listConversationsByUserId(args: {
  readonly userId: string;
  readonly offset: number;
  readonly limit: number;
  readonly db?: Queryable;
}): Promise<ConversationListPage> {
  const { rows } = await (args.db ?? pool).query<{ total: string; items: ConversationRow[] | null }>(
    `SELECT (SELECT count(*) FROM conversations WHERE user_id = $1) AS total,
            (SELECT json_agg(page ORDER BY page."updateTime" DESC, page.id DESC) FROM (
               SELECT ${CONVERSATION_COLUMNS} FROM conversations
                WHERE user_id = $1
                ORDER BY update_time DESC, id DESC
                LIMIT $2 OFFSET $3) page) AS items`,
    [args.userId, args.limit, args.offset],
  );
  return { total: Number(rows[0].total), items: rows[0].items ?? [] };
}
