/**
 * Bulk seeding for the bench and tests: a conversation and its messages written straight
 * into Postgres, one INSERT each, so a 1,000-message conversation costs 1,000 INSERTs rather
 * than 500 model turns. Not in the layer: no function of the app writes this way (a turn
 * writes through `insertMessageAndMoveCurrentNode`).
 */
import { db as pool, messageContentBytes, type NewMessage, type Queryable } from '@chatbot/shared';

/** Creates a conversation with its root node and the hidden system node under it. */
export async function createConversation(args: {
  readonly id: string;
  readonly userId: string;
  readonly rootNodeId: string;
  readonly systemNodeId: string;
  readonly defaultModelSlug?: string | null;
  readonly db?: Queryable;
}): Promise<void> {
  const db = args.db ?? pool;
  await db.query(
    `INSERT INTO conversations (id, user_id, root_node_id, current_node_id, default_model_slug) VALUES ($1, $2, $3, $4, $5)`,
    [args.id, args.userId, args.rootNodeId, args.systemNodeId, args.defaultModelSlug ?? null],
  );
  await db.query(
    `INSERT INTO messages (conversation_id, id, parent_id, role, parts, weight, metadata)
     VALUES ($1, $2, NULL, 'root', '[]', 0, '{}'),
            ($1, $3, $2, 'system', '[""]', 0, '{"is_visually_hidden_from_conversation": true}')`,
    [args.id, args.rootNodeId, args.systemNodeId],
  );
}

/**
 * Adds a node under `parentId` (which must exist in the same conversation), without moving
 * `current_node`, and keeps the conversation's size counters (migration 003) as the app does.
 */
export async function insertMessage(args: { readonly conversationId: string; readonly message: NewMessage; readonly db?: Queryable }): Promise<void> {
  const m = args.message;
  const counted = m.role === 'user' || m.role === 'assistant';
  await (args.db ?? pool).query(
    `WITH counted AS (
       UPDATE conversations SET message_count = message_count + $11, content_bytes = content_bytes + $12 WHERE id = $1
     )
     INSERT INTO messages (conversation_id, id, parent_id, role, content_type, parts, status, end_turn, weight, metadata)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10::jsonb)`,
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
      counted ? 1 : 0,
      counted ? messageContentBytes(m.parts ?? []) : 0,
    ],
  );
}

/** Moves the conversation's `current_node` and bumps `update_time` (the sidebar order). */
export async function updateConversationCurrentNodeById(args: { readonly id: string; readonly currentNodeId: string; readonly db?: Queryable }): Promise<void> {
  await (args.db ?? pool).query(`UPDATE conversations SET current_node_id = $2, update_time = clock_timestamp() WHERE id = $1`, [args.id, args.currentNodeId]);
}
