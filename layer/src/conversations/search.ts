/**
 * Conversation search (docs/api.md#search): the caller's live conversations whose title or
 * message text matches what they typed, best first, one page at a time. Read straight from
 * Postgres every time, uncached: a result is fresh the moment a message, a rename or a
 * deletion has been acknowledged (why not cached: docs/benchmarks.md, "Search").
 */
import { createHash } from 'node:crypto';
import { ValidationError } from '../errors';
import { searchConversationsByUserId, type SearchCursor, type SearchHitRow } from './search-repository';
import { DEFAULT_CONVERSATION_TITLE } from './wire';

/** The query as typed: at most this many characters. */
export const MAX_SEARCH_QUERY_CHARS = 256;

/**
 * Whether the user is still typing the query's last word: it ends with a letter or a digit
 * (not a space, not a closing quote), so that word is matched as a prefix.
 */
export const endsInWord = (query: string): boolean => /[\p{L}\p{N}]$/u.test(query);

/** Which query a cursor belongs to: a cursor replayed with another query is refused, not misapplied. */
const queryTag = (query: string): string => createHash('sha256').update(query).digest('base64url').slice(0, 8);

/** The opaque cursor of the page after `row`. */
export function encodeSearchCursor(query: string, row: Pick<SearchHitRow, 'asOfMicros' | 'rank' | 'matchMicros' | 'conversationId'>): string {
  return Buffer.from(JSON.stringify([1, queryTag(query), row.asOfMicros, row.rank, row.matchMicros, row.conversationId])).toString('base64url');
}

const MICROS = /^\d{1,17}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A cursor this API issued for `query`; anything else is a 422 on `query.cursor`. */
export function decodeSearchCursor(query: string, cursor: string): SearchCursor {
  let fields: unknown;
  try {
    fields = cursor.length <= 512 && /^[\w-]+$/.test(cursor) ? JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) : undefined;
  } catch {
    fields = undefined;
  }
  if (Array.isArray(fields) && fields.length === 6) {
    const [version, tag, asOfMicros, rank, matchMicros, conversationId] = fields as unknown[];
    const valid =
      version === 1 &&
      typeof asOfMicros === 'string' && MICROS.test(asOfMicros) &&
      typeof rank === 'number' && Number.isFinite(rank) && rank >= 0 &&
      typeof matchMicros === 'string' && MICROS.test(matchMicros) &&
      typeof conversationId === 'string' && UUID.test(conversationId);
    if (valid && tag === queryTag(query)) return { asOfMicros, rank, matchMicros, conversationId } as SearchCursor;
    if (valid) throw new ValidationError([{ loc: ['query', 'cursor'], msg: 'the cursor belongs to another query', type: 'value_error' }]);
  }
  throw new ValidationError([{ loc: ['query', 'cursor'], msg: 'not a cursor this API issued', type: 'value_error' }]);
}

/** The `GET /conversations/search` body: ChatGPT's shape. */
export function serializeSearchPage(rows: readonly SearchHitRow[], cursor: string | null): string {
  return JSON.stringify({
    items: rows.map((row) => ({
      conversation_id: row.conversationId,
      current_node_id: row.currentNodeId,
      title: row.title ?? DEFAULT_CONVERSATION_TITLE,
      is_archived: row.isArchived,
      update_time: row.updateTime,
      payload: row.messageId === null ? { kind: 'title', snippet: row.snippet } : { kind: 'message', message_id: row.messageId, snippet: row.snippet },
    })),
    cursor,
  });
}

/** One page of the search: `limit` items, and the cursor of the next page (`null` on the last). */
export async function searchConversations(args: {
  readonly userId: string;
  readonly query: string;
  readonly limit: number;
  readonly cursor?: string;
}): Promise<string> {
  const cursor = args.cursor === undefined ? undefined : decodeSearchCursor(args.query, args.cursor);
  // One row more than the page: whether there is a next page, without counting them all.
  const rows = await searchConversationsByUserId({ userId: args.userId, query: args.query, prefix: endsInWord(args.query), limit: args.limit + 1, cursor });
  const page = rows.slice(0, args.limit);
  const next = rows.length > args.limit ? encodeSearchCursor(args.query, page[page.length - 1]) : null;
  return serializeSearchPage(page, next);
}
