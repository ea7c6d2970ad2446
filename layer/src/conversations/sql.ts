/**
 * What every repository's SQL shares: the column lists it reads rows with, and how a message is
 * inserted (its values, its size, the errors a message insert can raise).
 */
import { messageContentBytes, type NewMessage } from './records';

/** A message insert that broke a constraint: its id is taken in the conversation, or its parent is not there (any more). */
export class MessageConflictError extends Error {
  constructor(readonly reason: 'id_taken' | 'parent_missing', options?: { cause?: unknown }) {
    super(reason === 'id_taken' ? 'A message with this id already exists' : 'The parent message does not exist', options);
    this.name = 'MessageConflictError';
  }
}

/** Postgres' unique (23505) and foreign-key (23503) violations of a message insert, as {@link MessageConflictError}. */
export function toMessageConflict(error: unknown): never {
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
