/**
 * The SQL of OpenAI's Conversations API (`/v1`) on the same tables as the `backend-api`: a
 * conversation created with items and metadata, items appended as a chain under a node, the
 * current branch, one message, an item deleted, the metadata. Same rules as `repository.ts`:
 * one named function per statement, parameterised, `null` for a missing row.
 */
import { db as pool, type Queryable } from '../platform/database';
import { messageContentBytes, type MessageRole, type MessageRow } from './records';
import { MessageConflictError, type ReplyRoom } from './repository';

/** A message of a chain to insert: user or assistant, its text parts. */
export interface NewItem {
  readonly id: string;
  readonly role: Extract<MessageRole, 'user' | 'assistant'>;
  readonly parts: readonly string[];
  /** An assistant message's status (`finished_successfully`, `finished_partial_completion`). @default finished_successfully */
  readonly status?: string;
}

/** The conversation as OpenAI's API shows it: its owner, creation time and metadata. */
export interface ConversationHeader {
  readonly id: string;
  readonly userId: string;
  /** Epoch seconds. */
  readonly createTime: number;
  readonly metadata: Record<string, string>;
}

/** A message's columns, from the table or CTE `m`. */
const MESSAGE_COLUMNS = `
  m.id, m.parent_id AS "parentId", m.role, m.content_type AS "contentType", m.parts, m.status, m.end_turn AS "endTurn",
  m.weight, m.metadata, m.recipient, extract(epoch FROM m.create_time)::float8 AS "createTime"`;

/** A conversation's header columns, from the table `c`. */
const HEADER_COLUMNS = `c.id, c.user_id AS "userId", extract(epoch FROM c.create_time)::float8 AS "createTime", c.metadata`;

/** What a chain adds to the size counters (migration 003): every item counts. */
export function chainSize(items: readonly NewItem[]): { readonly messages: number; readonly bytes: number } {
  return { messages: items.length, bytes: items.reduce((sum, item) => sum + messageContentBytes(item.parts), 0) };
}

/** The chain as the JSON the statements unpack: each item under the one before it, the first under `parentId`. */
function chainJson(items: readonly NewItem[], parentId: string): string {
  return JSON.stringify(
    items.map((item, ord) => ({
      ord,
      id: item.id,
      parent_id: ord === 0 ? parentId : items[ord - 1].id,
      role: item.role,
      parts: item.parts,
      status: item.status ?? 'finished_successfully',
      // A stored assistant message ended its turn unless it was cut short.
      end_turn: item.role === 'assistant' ? (item.status ?? 'finished_successfully') === 'finished_successfully' : null,
    })),
  );
}

/** Postgres' unique violation of a message insert (an id taken), as {@link MessageConflictError}. */
function toConflict(error: unknown): never {
  if ((error as { code?: string } | undefined)?.code === '23505') throw new MessageConflictError('id_taken', { cause: error });
  throw error;
}

/** Inserts the chain (parents from {@link chainJson}) for the conversation row `source` yields. */
const INSERT_CHAIN = (source: string, chainParam: string) => `
  INSERT INTO messages (conversation_id, id, parent_id, role, content_type, parts, status, end_turn, metadata)
  SELECT ${source}.id, i.id, i.parent_id, i.role, 'text', i.parts, i.status, i.end_turn, '{}'::jsonb
    FROM ${source}, jsonb_to_recordset(${chainParam}::jsonb) AS i(ord int, id text, parent_id text, role text, parts jsonb, status text, end_turn boolean)
   ORDER BY i.ord
  RETURNING ${MESSAGE_COLUMNS.replaceAll('m.', 'messages.')}, messages.seq`;

/**
 * Creates a conversation with its root, its hidden system node and `items` as a chain under
 * it (the last becomes `current_node`; without items, the system node is), in one statement.
 * Throws {@link MessageConflictError} when two items share an id.
 */
export async function createConversationWithItems(args: {
  readonly id: string;
  readonly userId: string;
  readonly systemNodeId: string;
  readonly items: readonly NewItem[];
  readonly metadata: Readonly<Record<string, string>>;
  readonly db?: Queryable;
}): Promise<{ conversation: ConversationHeader; items: MessageRow[] }> {
  const size = chainSize(args.items);
  const current = args.items.at(-1)?.id ?? args.systemNodeId;
  const { rows } = await (args.db ?? pool).query<ConversationHeader & { items: (MessageRow & { seq: number })[] | null }>(
    `WITH conversation AS (
       INSERT INTO conversations (id, user_id, root_node_id, current_node_id, message_count, content_bytes, metadata)
       VALUES ($1, $2, 'client-created-root', $3, $4, $5, $6::jsonb)
       RETURNING ${HEADER_COLUMNS.replaceAll('c.', 'conversations.')}
     ), skeleton AS (
       INSERT INTO messages (conversation_id, id, parent_id, role, parts, weight, metadata)
       SELECT id, 'client-created-root', NULL, 'root', '[]'::jsonb, 0, '{}'::jsonb FROM conversation
       UNION ALL
       SELECT id, $7, 'client-created-root', 'system', '[""]'::jsonb, 0, '{"is_visually_hidden_from_conversation": true}'::jsonb FROM conversation
     ), items AS (${INSERT_CHAIN('conversation', '$8')})
     SELECT conversation.*, (SELECT json_agg(items ORDER BY items.seq) FROM items) AS items FROM conversation`,
    [args.id, args.userId, current, size.messages, size.bytes, JSON.stringify(args.metadata), args.systemNodeId, chainJson(args.items, args.systemNodeId)],
  ).catch(toConflict);
  const { items, ...conversation } = rows[0];
  return { conversation, items: (items ?? []).map(({ seq: _seq, ...row }) => row) };
}

/**
 * Adds `items` as a chain under `parentId` and makes the last the conversation's
 * `current_node` (bumping `update_time`; a user item un-archives it), if they fit its limits
 * beside what is stored and what running replies hold. `null`, writing nothing, when the
 * conversation is gone or they do not fit. Throws {@link MessageConflictError} when an id is
 * taken or the parent is missing.
 */
export async function appendItemsByConversationId(args: {
  readonly conversationId: string;
  readonly parentId: string;
  readonly items: readonly NewItem[];
  readonly limits: Pick<ReplyRoom, 'maxMessages' | 'maxBytes'>;
  readonly db?: Queryable;
}): Promise<MessageRow[] | null> {
  const size = chainSize(args.items);
  const live = (what: 'messages' | 'bytes') => `(CASE WHEN reserved_until > clock_timestamp() THEN reserved_${what} ELSE 0 END)`;
  const { rows } = await (args.db ?? pool).query<MessageRow & { seq: number }>(
    `WITH moved AS (
       UPDATE conversations
          SET current_node_id = $2, update_time = clock_timestamp(), message_count = message_count + $3, content_bytes = content_bytes + $4,
              is_archived = is_archived AND NOT $5
        WHERE id = $1 AND deleted_at IS NULL
          AND message_count + $3 + ${live('messages')} <= $6 AND content_bytes + $4 + ${live('bytes')} <= $7
        RETURNING id
     ) ${INSERT_CHAIN('moved', '$8')}`,
    [
      args.conversationId,
      args.items.at(-1)?.id,
      size.messages,
      size.bytes,
      args.items.some((item) => item.role === 'user'),
      args.limits.maxMessages,
      args.limits.maxBytes,
      chainJson(args.items, args.parentId),
    ],
  ).catch((error: unknown) => {
    if ((error as { code?: string } | undefined)?.code === '23503') throw new MessageConflictError('parent_missing', { cause: error });
    return toConflict(error);
  });
  if (rows.length === 0) return null;
  return rows.sort((a, b) => a.seq - b.seq).map(({ seq: _seq, ...row }) => row);
}

/** The live conversation's owner, creation time and metadata; `null` when it does not exist or was deleted. */
export async function getConversationHeaderById(args: { readonly id: string; readonly db?: Queryable }): Promise<ConversationHeader | null> {
  const { rows } = await (args.db ?? pool).query<ConversationHeader>(`SELECT ${HEADER_COLUMNS} FROM conversations c WHERE id = $1 AND deleted_at IS NULL`, [args.id]);
  return rows[0] ?? null;
}

/** Replaces the metadata of one live conversation of the user; `null` when there is none. */
export async function updateConversationMetadataById(args: {
  readonly id: string;
  readonly userId: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly db?: Queryable;
}): Promise<ConversationHeader | null> {
  const { rows } = await (args.db ?? pool).query<ConversationHeader>(
    `UPDATE conversations c SET metadata = $3::jsonb WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL RETURNING ${HEADER_COLUMNS}`,
    [args.id, args.userId, JSON.stringify(args.metadata)],
  );
  return rows[0] ?? null;
}

/**
 * The conversation's header and its current branch: the user and assistant messages from the
 * root to `current_node`, oldest first, in one round trip. `null` when it does not exist.
 */
export async function getCurrentBranchByConversationId(args: {
  readonly id: string;
  readonly db?: Queryable;
}): Promise<{ conversation: ConversationHeader; messages: MessageRow[] } | null> {
  const { rows } = await (args.db ?? pool).query<ConversationHeader & { messages: MessageRow[] | null }>(
    `SELECT ${HEADER_COLUMNS},
            (WITH RECURSIVE branch AS (
               SELECT m.*, 0 AS depth FROM messages m WHERE m.conversation_id = c.id AND m.id = c.current_node_id
               UNION ALL
               SELECT p.*, b.depth + 1 FROM branch b JOIN messages p ON p.conversation_id = b.conversation_id AND p.id = b.parent_id
             )
             SELECT json_agg(m ORDER BY m.depth DESC) FROM (
               SELECT ${MESSAGE_COLUMNS}, m.depth FROM branch m WHERE m.role IN ('user', 'assistant')) m) AS messages
       FROM conversations c WHERE c.id = $1 AND c.deleted_at IS NULL`,
    [args.id],
  );
  if (!rows[0]) return null;
  const { messages, ...conversation } = rows[0];
  return { conversation, messages: (messages ?? []).map(({ depth: _depth, ...row }: MessageRow & { depth?: number }) => row) };
}

/** One user or assistant message of a live conversation, with the conversation's owner; `null` when either is missing. */
export async function getMessageByConversationIdAndId(args: {
  readonly conversationId: string;
  readonly id: string;
  readonly db?: Queryable;
}): Promise<{ userId: string; message: MessageRow } | null> {
  const { rows } = await (args.db ?? pool).query<MessageRow & { userId: string }>(
    `SELECT c.user_id AS "userId", ${MESSAGE_COLUMNS}
       FROM conversations c JOIN messages m ON m.conversation_id = c.id AND m.id = $2 AND m.role IN ('user', 'assistant')
      WHERE c.id = $1 AND c.deleted_at IS NULL`,
    [args.conversationId, args.id],
  );
  if (!rows[0]) return null;
  const { userId, ...message } = rows[0];
  return { userId, message };
}

/**
 * Deletes one user or assistant message of the user's live conversation: its children move up
 * to its parent, `current_node` moves to the parent when it was the message, and the size
 * counters drop by the message (its `bytes`, as {@link messageContentBytes} counted them), in
 * one statement. `false` when there was no such message (or conversation) to delete.
 */
export async function deleteMessageByConversationIdAndId(args: {
  readonly conversationId: string;
  readonly userId: string;
  readonly id: string;
  readonly bytes: number;
  readonly db?: Queryable;
}): Promise<boolean> {
  const { rowCount } = await (args.db ?? pool).query(
    `WITH deleted AS (
       DELETE FROM messages m USING conversations c
        WHERE m.conversation_id = $1 AND m.id = $3 AND m.role IN ('user', 'assistant')
          AND c.id = m.conversation_id AND c.user_id = $2 AND c.deleted_at IS NULL
        RETURNING m.id, m.parent_id
     ), reparented AS (
       UPDATE messages SET parent_id = (SELECT parent_id FROM deleted)
        WHERE conversation_id = $1 AND parent_id = $3 AND EXISTS (SELECT 1 FROM deleted)
        RETURNING id
     )
     UPDATE conversations
        SET current_node_id = CASE WHEN current_node_id = $3 THEN (SELECT parent_id FROM deleted) ELSE current_node_id END,
            message_count = greatest(0, message_count - 1), content_bytes = greatest(0, content_bytes - $4)
      WHERE id = $1 AND EXISTS (SELECT 1 FROM deleted)`,
    [args.conversationId, args.userId, args.id, args.bytes],
  );
  return rowCount === 1;
}
