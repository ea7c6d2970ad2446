/**
 * The SQL of message feedback (migration 006): one rating per user and assistant message, and
 * the export of ratings with the replies they rate. Same rules as `repository.ts`: one
 * parameterised statement per function, `null` for a missing row, driver errors mapped here.
 */
import { db as pool, type Queryable } from '../platform/database';
import type { MessageRole } from './records';

export type FeedbackRating = 'thumbsUp' | 'thumbsDown';

/** What a rating says besides thumbs up or down. */
export interface FeedbackContent {
  readonly tags: readonly string[];
  readonly text: string | null;
}

/** What the rated conversation and message turned out to be; `saved` only for the owner's assistant message. */
export interface FeedbackTarget {
  readonly ownerId: string;
  /** The role of the rated node; `null` when the conversation has no such message. */
  readonly role: MessageRole | null;
  readonly saved: boolean;
}

/**
 * Stores `userId`'s rating of an assistant message — replacing an earlier one — in one
 * statement that also checks the conversation is live, is the user's, and holds that
 * assistant message (nothing is written otherwise). `null` when the conversation does not
 * exist, is deleted, or lost the message to a purge meanwhile.
 */
export async function upsertMessageFeedbackByMessageId(args: {
  readonly conversationId: string;
  readonly messageId: string;
  readonly userId: string;
  readonly rating: FeedbackRating;
  readonly content: FeedbackContent;
  readonly db?: Queryable;
}): Promise<FeedbackTarget | null> {
  try {
    const { rows } = await (args.db ?? pool).query<FeedbackTarget>(
      `WITH target AS (
         SELECT c.user_id, m.role
           FROM conversations c
           LEFT JOIN messages m ON m.conversation_id = c.id AND m.id = $2
          WHERE c.id = $1 AND c.deleted_at IS NULL
       ), saved AS (
         INSERT INTO message_feedback (conversation_id, message_id, user_id, rating, tags, text)
         SELECT $1, $2, $3, $4, $5::jsonb, $6 FROM target WHERE target.user_id = $3 AND target.role = 'assistant'
         ON CONFLICT (conversation_id, message_id, user_id)
         DO UPDATE SET rating = EXCLUDED.rating, tags = EXCLUDED.tags, text = EXCLUDED.text, update_time = clock_timestamp()
         RETURNING 1
       )
       SELECT user_id AS "ownerId", role, EXISTS (SELECT FROM saved) AS saved FROM target`,
      [args.conversationId, args.messageId, args.userId, args.rating, JSON.stringify(args.content.tags), args.content.text],
    );
    return rows[0] ?? null;
  } catch (error) {
    // 23503: the message was hard-deleted (purged) between the read and the insert of this one statement.
    if ((error as { code?: string } | undefined)?.code === '23503') return null;
    throw error;
  }
}

/** One exported rating: the reply it rates and the user message that reply answers. */
export interface FeedbackExportRow {
  readonly ratedAt: string;
  readonly rating: FeedbackRating;
  readonly tags: string[];
  readonly text: string | null;
  readonly conversationId: string;
  readonly messageId: string;
  readonly modelSlug: string | null;
  /** The user message the reply answers (its text parts joined); `null` for a continued reply. */
  readonly prompt: string | null;
  /** The rated reply's text. */
  readonly reply: string;
}

/** Where one page of the export ends: the next page starts after it. */
export interface FeedbackExportCursor {
  readonly ratedAt: string;
  readonly conversationId: string;
  readonly messageId: string;
}

/**
 * The export for the team that tunes prompts (docs/api.md#exporting-ratings): ratings of live
 * conversations rated at or after `since`, oldest first, each with the reply it rates and the
 * question before it; `limit` per call, the next page after `after` (keyset paging on the
 * `update_time` index). No user id: the ratings are exported, not the people.
 */
export async function listMessageFeedbackSince(args: {
  readonly since: Date;
  readonly rating?: FeedbackRating;
  readonly after?: FeedbackExportCursor;
  readonly limit: number;
  readonly db?: Queryable;
}): Promise<FeedbackExportRow[]> {
  const { rows } = await (args.db ?? pool).query<FeedbackExportRow>(
    `SELECT to_char(f.update_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS "ratedAt",
            f.rating, f.tags, f.text, f.conversation_id AS "conversationId", f.message_id AS "messageId",
            a.metadata->>'model_slug' AS "modelSlug",
            (SELECT string_agg(p.value #>> '{}', E'\\n' ORDER BY p.ordinality)
               FROM jsonb_array_elements(u.parts) WITH ORDINALITY p
              WHERE jsonb_typeof(p.value) = 'string') AS prompt,
            COALESCE(a.parts->>0, '') AS reply
       FROM message_feedback f
       JOIN conversations c ON c.id = f.conversation_id AND c.deleted_at IS NULL
       JOIN messages a ON a.conversation_id = f.conversation_id AND a.id = f.message_id
       LEFT JOIN messages u ON u.conversation_id = a.conversation_id AND u.id = a.parent_id AND u.role = 'user'
      WHERE f.update_time >= $1
        AND ($2::text IS NULL OR f.rating = $2)
        AND ($3::timestamptz IS NULL OR (f.update_time, f.conversation_id, f.message_id) > ($3, $4::uuid, $5))
      ORDER BY f.update_time, f.conversation_id, f.message_id
      LIMIT $6`,
    [args.since, args.rating ?? null, args.after?.ratedAt ?? null, args.after?.conversationId ?? null, args.after?.messageId ?? null, args.limit],
  );
  return rows;
}
