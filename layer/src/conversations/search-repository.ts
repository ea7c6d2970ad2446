/**
 * The SQL of conversation search (docs/api.md#search), with the repository's rules: one
 * parameterised statement per function, `db` defaults to the pool. The vectors are kept by
 * triggers (migration 007), in the text search configuration `search_configuration` names.
 */
import { db as pool, type Queryable } from '../platform/database';

/** Where the next page starts: the last item's sort key, and the moment page 1 was read. */
export interface SearchCursor {
  /** Messages stored after this (epoch µs) are not results: pages stay stable while messages arrive. */
  readonly asOfMicros: string;
  readonly rank: number;
  readonly matchMicros: string;
  readonly conversationId: string;
}

/** One result row: a conversation, its best-matching message (absent for a title-only match) and the snippet. */
export interface SearchHitRow {
  readonly conversationId: string;
  readonly currentNodeId: string;
  readonly title: string | null;
  readonly isArchived: boolean;
  /** Epoch seconds with microseconds. */
  readonly updateTime: number;
  readonly messageId: string | null;
  readonly snippet: string;
  readonly rank: number;
  readonly matchMicros: string;
  readonly asOfMicros: string;
}

/**
 * The statement. $1 user id, $2 the user's query, $3 whether its last word is a prefix (the
 * user is still typing it), $4 rows to return, $5–$8 the cursor (all null on page 1).
 *
 * - `q`: `websearch_to_tsquery` in the configuration the rows were vectorised with. For a
 *   prefix, the tsquery's last lexeme gets `:*` — unless it is negated (`-word`): its text
 *   form ends with that lexeme, `'…'` with inner quotes doubled, and the character before its
 *   opening quote says whether it is negated. The tsquery's text form parses back exactly.
 *   Reading the configuration from the table also keeps the tsquery out of constant folding,
 *   so the planner estimates it with the default selectivity and keeps to the GIN index.
 * - `message_hits`: the GIN index finds the matching messages, each is ranked, the user's live
 *   conversations keep theirs, and each conversation keeps its best (rank, then the newest).
 * - `title_hits`: the same over the user's live titles.
 * - One item per conversation, ranked by relevance (the better of its message and its title),
 *   then the matching message's time (a title-only match: the conversation's creation time),
 *   then the id. These keys do not move when messages arrive, and the page is cut at the
 *   cursor's key; `as_of` (page 1's clock) keeps later messages out of later pages.
 * - The snippet (`ts_headline`) is built for the page's rows only.
 */
/** Characters of a message `ts_headline` reads at most: it parses all it is given. */
const SNIPPET_WINDOW = 1000;

export const SEARCH_CONVERSATIONS_SQL = `
WITH q AS MATERIALIZED (
  SELECT CASE WHEN $3 AND coalesce(substring(base::text FROM '(^|[^''])''(?:[^'']|'''')*''$') <> '!', false)
              THEN (base::text || ':*')::tsquery ELSE base END AS query,
         cfg,
         coalesce($5::bigint, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint) AS as_of,
         timestamptz 'epoch' + $5::bigint * interval '1 microsecond' AS as_of_time
    -- LIMIT 1: the table has one row, and so the planner knows it even before the table is analysed
    -- (a never-analysed table is estimated at thousands of rows, which priced this statement into JIT compiling).
    FROM (SELECT text_config AS cfg, websearch_to_tsquery(text_config, $2) AS base FROM search_configuration LIMIT 1) s
), live AS MATERIALIZED (
  SELECT id FROM conversations WHERE user_id = $1 AND deleted_at IS NULL
), message_hits AS (
  SELECT DISTINCT ON (m.conversation_id) m.conversation_id, m.message_id, m.rank, m.create_time
    FROM (SELECT m.conversation_id, m.id AS message_id, ts_rank(m.search_vector, q.query) AS rank, m.create_time
            FROM q JOIN messages m ON m.search_vector @@ q.query
           WHERE $5::bigint IS NULL OR m.create_time <= q.as_of_time
          -- A fence: ranked here, so a join above holds the small ranked row, not each message's vector.
          OFFSET 0) m
    JOIN live ON live.id = m.conversation_id
   ORDER BY m.conversation_id, m.rank DESC, m.create_time DESC, m.message_id
), title_hits AS (
  SELECT c.id AS conversation_id, ts_rank(c.title_vector, q.query) AS rank, c.create_time
    FROM q
    JOIN conversations c ON c.title_vector @@ q.query AND c.user_id = $1 AND c.deleted_at IS NULL
   WHERE $5::bigint IS NULL OR c.create_time <= q.as_of_time
), hits AS (
  SELECT coalesce(mh.conversation_id, th.conversation_id) AS conversation_id, mh.message_id,
         greatest(mh.rank, th.rank) AS rank,
         (extract(epoch FROM coalesce(mh.create_time, th.create_time)) * 1000000)::bigint AS match_us
    FROM message_hits mh FULL JOIN title_hits th ON th.conversation_id = mh.conversation_id
), page AS (
  SELECT hits.*, row_number() OVER (ORDER BY rank DESC, match_us DESC, conversation_id DESC) AS position
    FROM hits
   WHERE $5::bigint IS NULL OR (rank, match_us, conversation_id) < ($6::real, $7::bigint, $8::uuid)
   ORDER BY rank DESC, match_us DESC, conversation_id DESC
   LIMIT $4
)
SELECT c.id AS "conversationId", c.current_node_id AS "currentNodeId", c.title, c.is_archived AS "isArchived",
       extract(epoch FROM c.update_time)::float8 AS "updateTime", page.message_id AS "messageId",
       -- The row past the page (it only tells whether there is a next page) needs no snippet.
       CASE WHEN page.position < $4 THEN ts_headline(q.cfg, source.text, q.query,
                   'MaxWords=30, MinWords=12, ShortWord=2, MaxFragments=2, FragmentDelimiter=" … ", StartSel="", StopSel=""') END AS snippet,
       page.rank, page.match_us::text AS "matchMicros", q.as_of::text AS "asOfMicros"
  FROM page
  CROSS JOIN q
  JOIN conversations c ON c.id = page.conversation_id
  LEFT JOIN messages m ON m.conversation_id = page.conversation_id AND m.id = page.message_id
  CROSS JOIN LATERAL (
    SELECT CASE WHEN page.message_id IS NULL THEN coalesce(c.title, '')
                ELSE (SELECT string_agg(part, E'\\n') FROM jsonb_array_elements_text(m.parts) part) END AS whole,
           -- The query's first lexeme (querytree leaves out negated ones), its quotes undoubled.
           replace((regexp_match(querytree(q.query), '''((?:[^'']|'''')*)'''))[1], '''''', '''') AS lexeme
    -- Evaluated once per row, though read several times below.
    OFFSET 0
  ) doc
  -- A long message: the ${SNIPPET_WINDOW} characters around that lexeme's first occurrence (or its start).
  CROSS JOIN LATERAL (
    SELECT CASE WHEN length(doc.whole) <= ${SNIPPET_WINDOW} THEN doc.whole
                ELSE substr(doc.whole, greatest(1, strpos(lower(doc.whole), lower(coalesce(doc.lexeme, ''))) - ${SNIPPET_WINDOW / 2}), ${SNIPPET_WINDOW})
           END AS text
  ) source
 ORDER BY page.rank DESC, page.match_us DESC, page.conversation_id DESC`;

/** The parameters of {@link SEARCH_CONVERSATIONS_SQL}, in order. */
export function searchConversationsParams(args: {
  readonly userId: string;
  readonly query: string;
  readonly prefix: boolean;
  readonly limit: number;
  readonly cursor?: SearchCursor;
}): unknown[] {
  const { cursor } = args;
  return [args.userId, args.query, args.prefix, args.limit, cursor?.asOfMicros ?? null, cursor?.rank ?? null, cursor?.matchMicros ?? null, cursor?.conversationId ?? null];
}

/** One page of the user's live conversations matching `query`, best first; at most `limit` rows. */
export async function searchConversationsByUserId(args: {
  readonly userId: string;
  readonly query: string;
  readonly prefix: boolean;
  readonly limit: number;
  readonly cursor?: SearchCursor;
  readonly db?: Queryable;
}): Promise<SearchHitRow[]> {
  const { rows } = await (args.db ?? pool).query<SearchHitRow>(SEARCH_CONVERSATIONS_SQL, searchConversationsParams(args));
  return rows;
}
