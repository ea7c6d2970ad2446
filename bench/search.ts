/**
 * Conversation search and share links in the bench (docs/api.md#search, docs/api.md#share-links):
 * search at size against the peers' ILIKE scan, what the index costs a POST, whether caching
 * search pages would pay, the public share read's hit against its floor, and the herd of
 * anonymous readers of a fresh link.
 */
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { Client, Pool } from 'pg';
import type { Redis } from 'ioredis';
import {
  createShare,
  endsInWord,
  insertMessageAndMoveCurrentNode,
  redisKeys,
  runMigrations,
  searchConversationsByUserId,
  type SearchHitRow,
} from '@chatbot/shared/testing';
import { buildRestApiEvent, invokeHandler } from '../local/lambda-runtime';
import { handler as getConversationHandler } from '../lambdas/get-conversation';
import { handler as getSharedConversationHandler } from '../lambdas/get-shared-conversation';
import { handler as searchConversationsHandler } from '../lambdas/search-conversations';
import { corpusConversations, insertCorpusConversation, seededRandom, sentence, VOCABULARY } from '../test/support/search-corpus';
import { ADMIN_DATABASE_URL, databaseUrl } from '../test/support/services';
import { buildArtifacts, LAYER_TESTING_ENTRY } from './cold-start';
import { DATABASE_NAME, DATABASE_URL, KEY_PREFIX, REPO_ROOT, RUN_ID } from './env';
import { detailEvent, ORIGIN, seedConversation } from './fixtures';
import { markdownTable, ms, ratio, type TargetResult } from './report';
import { interleaved, median, summarize, type Summary } from './stats';

const CONVERSATIONS = 1000;
const MESSAGES_PER_CONVERSATION = 50;
const SEARCH_ROUNDS = 30;
/** Rounds of the search beside the ILIKE scan (which takes ~100× longer). */
const SCAN_ROUNDS = 6;
const POST_ROUNDS = 600;
const HERD_READERS = 200;
const HERD_COPIES = 4;
const HERD_WAVES = 10;

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/**
 * 20 queries of 1–3 words (8, 8 and 4), the words drawn as they occur in the text: content words
 * (the function words are left out) by their frequency, so a query word is as common as a word
 * the user wrote — median rank ≈ 1,000 of 20,000 (the 10 % most frequent below rank ≈ 90).
 */
function benchQueries(): string[] {
  const random = seededRandom(2025);
  const contentWord = () => VOCABULARY[Math.min(VOCABULARY.length - 1, Math.floor(50 * 400 ** random()))];
  const query = (words: number) => {
    const picked = new Set<string>();
    while (picked.size < words) picked.add(contentWord());
    return [...picked].join(' ');
  };
  return [...Array.from({ length: 8 }, () => query(1)), ...Array.from({ length: 8 }, () => query(2)), ...Array.from({ length: 4 }, () => query(3))];
}

/** The peers' approach over the same rows: every message of the user's live conversations scanned with ILIKE for each word, one item per conversation, newest first. */
const ILIKE_SCAN_SQL = `
  SELECT m.conversation_id, max(m.create_time) AS latest
    FROM messages m JOIN conversations c ON c.id = m.conversation_id
   WHERE c.user_id = $1 AND c.deleted_at IS NULL AND m.role IN ('user', 'assistant') AND m.parts::text ILIKE ALL ($2)
   GROUP BY m.conversation_id
   ORDER BY latest DESC
   LIMIT 21`;
const likePatterns = (query: string) => query.split(' ').map((word) => `%${word}%`);

export interface SearchBenchResult {
  readonly seedSeconds: number;
  readonly queries: readonly { readonly query: string; readonly matches: number; readonly conversations: number; readonly search: Summary; readonly besideScan: Summary; readonly scan: Summary }[];
  readonly handler: Summary;
  readonly statement: Summary;
  /** The statement in the rounds it alternates with the scan. */
  readonly besideScan: Summary;
  readonly scan: Summary;
  readonly post: Record<'with search' | 'without search', Summary>;
  readonly pageBytes: number;
  readonly cachedPageGet: Summary;
  readonly share: Record<string, Summary>;
  readonly shareVsDetail: Record<string, Summary>;
  readonly shareBytes: number;
  readonly herd: { readonly loadsPerWave: number[]; readonly statuses: Record<string, number>; readonly waveMs: number[] };
}

/** The bench's second database: the same migrations with the search triggers and indexes dropped (the vectors stay NULL). */
async function createDatabaseWithoutSearch(name: string): Promise<string> {
  const admin = new Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = databaseUrl(name);
  await runMigrations({ connection: { connectionString: url }, dir: `${REPO_ROOT}/layer/migrations` });
  const client = new Client({ connectionString: url });
  await client.connect();
  await client.query(`DROP TRIGGER messages_search_vector ON messages;
    DROP TRIGGER conversations_title_vector_insert ON conversations;
    DROP TRIGGER conversations_title_vector_update ON conversations;
    DROP INDEX messages_search_idx; DROP INDEX conversations_title_search_idx;`);
  await client.end();
  return url;
}

export async function dropDatabase(name: string): Promise<void> {
  const admin = new Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** One user's history at size, in bulk (the GIN index rebuilt once at the end, as a restore would), then analysed. */
async function seedHistory(url: string, userId: string, withIndex: boolean): Promise<string[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    if (withIndex) await client.query('DROP INDEX messages_search_idx');
    const ids: string[] = [];
    for (const conversation of corpusConversations({ seed: 11, count: CONVERSATIONS, messages: MESSAGES_PER_CONVERSATION })) {
      await insertCorpusConversation(client, userId, conversation);
      ids.push(conversation.id);
    }
    if (withIndex) await client.query('CREATE INDEX messages_search_idx ON messages USING gin (search_vector)');
    await client.query('VACUUM ANALYZE messages');
    await client.query('VACUUM ANALYZE conversations');
    // The seeding dirtied ~100 MB: written out now, not by a checkpoint in the middle of the timed rounds.
    await client.query('CHECKPOINT').catch(() => undefined);
    return ids;
  } finally {
    await client.end();
  }
}

const searchEvent = (userId: string, query: string) =>
  buildRestApiEvent({ method: 'GET', resource: '/backend-api/conversations/search', path: '/backend-api/conversations/search', query: { query }, headers: { Origin: ORIGIN }, userId });
const sharedEvent = (shareId: string) =>
  buildRestApiEvent({ method: 'GET', resource: '/backend-api/share/{share_id}', path: `/backend-api/share/${shareId}`, pathParameters: { share_id: shareId }, headers: { Origin: ORIGIN } });

async function measureQueries(userId: string, pool: Pool, log: (message: string) => void) {
  const queries = benchQueries();
  const samples = { handler: [] as number[], statement: [] as number[], besideScan: [] as number[], scan: [] as number[] };
  const perQuery = queries.map(() => ({ search: [] as number[], besideScan: [] as number[], scan: [] as number[] }));
  const variants = {
    handler: async (query: string) => {
      const result = await invokeHandler(searchConversationsHandler, searchEvent(userId, query));
      if (result.streamed || result.statusCode !== 200) throw new Error(`search ${query}: HTTP ${result.statusCode}`);
    },
    statement: (query: string) => searchConversationsByUserId({ userId, query, prefix: endsInWord(query), limit: 21 }),
    scan: (query: string) => pool.query(ILIKE_SCAN_SQL, [userId, likePatterns(query)]),
  };
  /** `rounds` rounds (after `warmup`) of every query through `names`, interleaved (the order rotating); `record` keeps a timed sample. */
  const run = async (names: readonly (keyof typeof variants)[], rounds: number, warmup: number, record: (name: keyof typeof variants, i: number, ms: number) => void) => {
    for (let round = -warmup; round < rounds; round += 1) {
      for (const [i, query] of queries.entries()) {
        for (let k = 0; k < names.length; k += 1) {
          const name = names[(round + warmup + i + k) % names.length];
          const start = nowMs();
          await variants[name](query);
          if (round >= 0) record(name, i, nowMs() - start);
        }
      }
    }
  };
  // The search alone, as it runs in production: handler and statement.
  log(`search: ${queries.length} queries × ${SEARCH_ROUNDS} rounds (handler and statement, interleaved)`);
  await run(['handler', 'statement'], SEARCH_ROUNDS, 2, (name, i, ms) => {
    samples[name === 'handler' ? 'handler' : 'statement'].push(ms);
    if (name === 'statement') perQuery[i].search.push(ms);
  });
  // Then beside the scan: its reads of the whole history push the search's pages out of shared buffers, so it gets rounds of its own.
  log(`search: ${queries.length} queries × ${SCAN_ROUNDS} rounds (statement and the ILIKE scan, interleaved)`);
  await run(['statement', 'scan'], SCAN_ROUNDS, 1, (name, i, ms) => {
    samples[name === 'scan' ? 'scan' : 'besideScan'].push(ms);
    perQuery[i][name === 'scan' ? 'scan' : 'besideScan'].push(ms);
  });
  // How many messages and conversations each query matches: what its cost grows with.
  const counts = await Promise.all(
    queries.map(async (query) => {
      const { rows } = await pool.query<{ matches: number; conversations: number }>(
        `WITH q AS (SELECT CASE WHEN $3 THEN (websearch_to_tsquery('simple', $2)::text || ':*')::tsquery ELSE websearch_to_tsquery('simple', $2) END AS query)
         SELECT count(*)::int AS matches, count(DISTINCT m.conversation_id)::int AS conversations
           FROM q, messages m JOIN conversations c ON c.id = m.conversation_id
          WHERE m.search_vector @@ q.query AND c.user_id = $1`,
        [userId, query, endsInWord(query)],
      );
      return rows[0];
    }),
  );
  return {
    queries: queries.map((query, i) => ({ query, ...counts[i], search: summarize(perQuery[i].search), besideScan: summarize(perQuery[i].besideScan), scan: summarize(perQuery[i].scan) })),
    handler: summarize(samples.handler),
    statement: summarize(samples.statement),
    besideScan: summarize(samples.besideScan),
    scan: summarize(samples.scan),
  };
}

/** The two statements a POST stores (its user message, its reply), with and without the search triggers and index, interleaved. */
async function measurePostWrites(searchUrl: string, plainUrl: string, conversations: Record<'with search' | 'without search', string>) {
  const pools = { 'with search': new Pool({ connectionString: searchUrl, max: 1 }), 'without search': new Pool({ connectionString: plainUrl, max: 1 }) };
  const leaves: Record<string, string> = {};
  const random = seededRandom(99);
  try {
    for (const [name, pool] of Object.entries(pools)) {
      const { rows } = await pool.query<{ current: string }>('SELECT current_node_id AS current FROM conversations WHERE id = $1', [conversations[name as keyof typeof conversations]]);
      leaves[name] = rows[0].current;
    }
    const turn = async (name: keyof typeof pools) => {
      const conversationId = conversations[name];
      const user = await insertMessageAndMoveCurrentNode({ conversationId, message: { id: randomUUID(), parentId: leaves[name], role: 'user', parts: [sentence(random, 14)] }, db: pools[name] });
      const reply = await insertMessageAndMoveCurrentNode({ conversationId, message: { id: randomUUID(), parentId: user!.id, role: 'assistant', parts: [sentence(random, 100)], endTurn: true }, db: pools[name] });
      leaves[name] = reply!.id;
    };
    return (await interleaved(
      (Object.keys(pools) as (keyof typeof pools)[]).map((name) => ({ name, run: () => turn(name) })),
      { iterations: POST_ROUNDS, warmup: 30 },
    )) as Record<keyof typeof pools, Summary>;
  } finally {
    await Promise.all(Object.values(pools).map((pool) => pool.end()));
  }
}

type Shared = typeof import('@chatbot/shared/testing');

/** 200 anonymous reads of a share nobody has read yet, at once, spread over 4 copies of the layer as built (4 containers). */
async function measureShareHerd(owner: string, nodes: readonly { conversationId: string; nodeId: string }[]) {
  buildArtifacts();
  const load = createRequire(__filename);
  const copies: Shared[] = Array.from({ length: HERD_COPIES }, () => {
    delete load.cache[LAYER_TESTING_ENTRY];
    return load(LAYER_TESTING_ENTRY) as Shared;
  });
  const loadsPerWave: number[] = [];
  const waveMs: number[] = [];
  const statuses: Record<string, number> = {};
  const sum = () => copies.reduce((total, copy) => total + copy.databaseStats.queries, 0);
  try {
    // Connections and scripts first: the waves measure the fills, not the connects.
    await Promise.all(copies.map((copy) => copy.getSharedConversation({ shareId: randomUUID() }).catch(() => undefined)));
    for (let wave = 0; wave < HERD_WAVES; wave += 1) {
      const { conversationId, nodeId } = nodes[wave];
      const { share_id: shareId } = JSON.parse(await createShare({ userId: owner, conversationId, currentNodeId: nodeId, isAnonymous: true })) as { share_id: string };
      const before = sum();
      const started = nowMs();
      const answers = await Promise.all(Array.from({ length: HERD_READERS }, (_, i) => copies[i % HERD_COPIES].getSharedConversation({ shareId })));
      waveMs.push(nowMs() - started);
      loadsPerWave.push(sum() - before);
      for (const answer of answers) statuses[answer.cacheStatus] = (statuses[answer.cacheStatus] ?? 0) + 1;
    }
  } finally {
    await Promise.all(copies.map((copy) => Promise.all([copy.closeRedis(), copy.closeDatabase()])));
  }
  return { loadsPerWave, statuses, waveMs };
}

/** Runs the section's measurements; `raw` is a plain Redis client for the floors. */
export async function measureSearch(raw: Redis, log: (message: string) => void): Promise<SearchBenchResult> {
  const userId = `bench-search-${RUN_ID}`;
  const plainName = `${DATABASE_NAME}_nosearch`;
  log(`search: seeding ${CONVERSATIONS} conversations × ${MESSAGES_PER_CONVERSATION} messages, twice (with and without the search index)`);
  const seedStart = nowMs();
  const plainUrl = await createDatabaseWithoutSearch(plainName);
  const pool = new Pool({ connectionString: DATABASE_URL, max: 1 });
  try {
    const [searchIds, plainIds] = [await seedHistory(DATABASE_URL, userId, true), await seedHistory(plainUrl, userId, false)];
    const seedSeconds = (nowMs() - seedStart) / 1000;

    const measured = await measureQueries(userId, pool, log);

    log(`search: a POST's two writes with and without the index, ${POST_ROUNDS} rounds interleaved`);
    const post = await measurePostWrites(DATABASE_URL, plainUrl, { 'with search': searchIds[0], 'without search': plainIds[0] });

    // What a cached result page would cost to read: a raw GET of a typical page.
    const page: SearchHitRow[] = await searchConversationsByUserId({ userId, query: measured.queries[0].query, prefix: true, limit: 20 });
    const pageBody = JSON.stringify({ items: page, cursor: 'x'.repeat(120) });
    const pageKey = `${KEY_PREFIX}search-page`;
    await raw.set(pageKey, pageBody, 'EX', 600);
    const cachedPageGet = (await interleaved([{ name: 'get', run: () => raw.get(pageKey) }], { iterations: 800, warmup: 50 })).get;
    await raw.del(pageKey);

    log('share: hit vs a raw GET of its key, interleaved');
    const owner = `bench-share-${RUN_ID}`;
    const conversation = await seedConversation(owner, 20);
    const { share_id: shareId } = JSON.parse(await createShare({ userId: owner, conversationId: conversation.id, currentNodeId: conversation.leafId, isAnonymous: true })) as { share_id: string };
    const key = redisKeys.sharedConversation(shareId);
    let event = sharedEvent(shareId);
    let ownerEvent = detailEvent({ id: conversation.id, userId: owner });
    await invokeHandler(getSharedConversationHandler, event);
    await invokeHandler(getConversationHandler, ownerEvent);
    const shareBytes = Buffer.byteLength((await raw.get(key)) ?? '', 'utf8');
    const shareHit = {
      name: 'handler hit',
      before: () => { event = sharedEvent(shareId); },
      run: async () => {
        const result = await invokeHandler(getSharedConversationHandler, event);
        if (result.streamed || result.statusCode !== 200 || (result.headers['X-Cache'] ?? result.headers['x-cache']) !== 'HIT') throw new Error(`share hit: HTTP ${result.statusCode}`);
      },
    };
    // The target's pair on its own (as §1's "hit + floor only"): another variant's garbage would land on whichever call runs next.
    const share = await interleaved(
      [{ name: 'raw GET', run: async () => { if (!(await raw.get(key))) throw new Error('share: the key is not cached'); } }, shareHit],
      { iterations: 800, warmup: 50 },
    );
    // The owner's own read of the same conversation (§1's path) beside it: what any hit through a handler costs.
    const shareVsDetail = await interleaved(
      [
        shareHit,
        {
          name: 'detail hit, same conversation (owner)',
          before: () => { ownerEvent = detailEvent({ id: conversation.id, userId: owner }); },
          run: async () => {
            const result = await invokeHandler(getConversationHandler, ownerEvent);
            if (result.streamed || result.statusCode !== 200 || (result.headers['X-Cache'] ?? result.headers['x-cache']) !== 'HIT') throw new Error(`detail hit: HTTP ${result.statusCode}`);
          },
        },
      ],
      { iterations: 400, warmup: 30 },
    );

    log(`share: ${HERD_WAVES} waves of ${HERD_READERS} anonymous reads of a fresh share over ${HERD_COPIES} layer copies`);
    const herdConversations = [];
    for (let wave = 0; wave < HERD_WAVES; wave += 1) {
      const seeded = await seedConversation(owner, 20);
      herdConversations.push({ conversationId: seeded.id, nodeId: seeded.leafId });
    }
    const herd = await measureShareHerd(owner, herdConversations);

    return { seedSeconds, ...measured, post, pageBytes: Buffer.byteLength(pageBody), cachedPageGet, share, shareVsDetail, shareBytes, herd };
  } finally {
    await pool.end();
    await dropDatabase(plainName);
  }
}

/** The section's text, its targets and its notes. */
export function searchSection(result: SearchBenchResult): { text: string[]; targets: TargetResult[]; notes: string[] } {
  const { handler, statement, besideScan, scan, post } = result;
  const scanRatio = scan.p50 / besideScan.p50;
  const postCost = post['with search'].p50 - post['without search'].p50;
  // A cache in front of search: a hit is a GET; a miss adds a GET and a SET to the search; every write adds an INCR of the user's version.
  const hit = result.cachedPageGet.p50;
  const missOverhead = 2 * hit;
  const breakEven = missOverhead / (handler.p50 - hit + missOverhead);
  const shareFloor = result.share['raw GET'].p50;
  const shareHit = result.share['handler hit'].p50;
  const targets: TargetResult[] = [
    { name: 'search p99 (1,000 conversations, 50,000 messages)', meaning: 'search typed ahead lags for 1 in 100 queries', target: '≤ 25 ms', measured: `${ms(handler.p99)} ms (p50 ${ms(handler.p50)}; the statement alone ${ms(statement.p50)} / ${ms(statement.p99)})`, met: handler.p99 <= 25 },
    { name: 'search vs ILIKE scan, p50', meaning: 'the search index is not earning its write cost', target: '≥ 20× faster', measured: `${ratio(scanRatio)} (${ms(besideScan.p50)} vs ${ms(scan.p50)} ms)`, met: scanRatio >= 20 },
    { name: 'search index cost per POST (its two writes), p50', meaning: 'every turn pays noticeably for search', target: '≤ 0.3 ms', measured: `${ms(postCost)} ms (${ms(post['with search'].p50)} vs ${ms(post['without search'].p50)} ms)`, met: postCost <= 0.3 },
    { name: 'share hit p50 vs raw GET', meaning: 'a shared-link read costs more CPU than its floor', target: '≤ 1.5×', measured: `${ratio(shareHit / shareFloor)} (${ms(shareHit)} vs ${ms(shareFloor)} ms)`, met: shareHit <= 1.5 * shareFloor },
    {
      name: `share herd: ${HERD_READERS} anonymous reads of a fresh share, ${HERD_COPIES} layer copies`,
      meaning: 'a shared link read by many at once sends a burst of identical queries to Postgres',
      target: '1 Postgres load per wave',
      measured: `max ${Math.max(...result.herd.loadsPerWave)} over ${result.herd.loadsPerWave.length} waves`,
      met: result.herd.loadsPerWave.every((loads) => loads === 1),
    },
  ];
  const queryRows = [
    ['query', 'messages matched', 'conversations', 'search p50 / p99 ms', 'beside the scan: search / ILIKE scan p50 ms', 'scan / search'],
    ...result.queries.map((q) => [`\`${q.query}\``, String(q.matches), String(q.conversations), `${ms(q.search.p50)} / ${ms(q.search.p99)}`, `${ms(q.besideScan.p50)} / ${ms(q.scan.p50)}`, ratio(q.scan.p50 / q.besideScan.p50)]),
  ];
  const text = [
    '## 13. Search and share links (docs/api.md#search, docs/api.md#share-links)',
    `One user with ${CONVERSATIONS.toLocaleString('en-US')} conversations of ${MESSAGES_PER_CONVERSATION} messages (${(CONVERSATIONS * MESSAGES_PER_CONVERSATION).toLocaleString('en-US')} messages; seeded in ${result.seedSeconds.toFixed(0)} s, twice: see the POST row). The text follows Zipf's law over 20,000 words (50 English function words, then made-up words), user messages a median of 14 words and replies 100, log-normal (test/support/search-corpus.ts). 20 queries of 1–3 content words drawn by their frequency in the text, each typed as a search box sends it (its last word a prefix). First ${SEARCH_ROUNDS} rounds (after 2 warm-up rounds) run every query through the search-conversations handler (in-process, as in §1) and through its statement alone, interleaved; then ${SCAN_ROUNDS} rounds run the statement interleaved with the peers' approach over the same rows — every message of the user's live conversations scanned with \`parts::text ILIKE '%word%'\` for each word, one item per conversation, newest first (the scan's SQL is in bench/search.ts). The scan gets rounds of its own because each one reads the whole history through shared buffers, pushing out the pages the search reads next: beside it the search is slower than alone (the last row), which the ratio then includes.`,
    markdownTable([
      ['variant', 'p50 ms', 'p99 ms', 'samples'],
      ['search (handler)', ms(handler.p50), ms(handler.p99), String(handler.n)],
      ['search (statement)', ms(statement.p50), ms(statement.p99), String(statement.n)],
      ['ILIKE scan (statement)', ms(scan.p50), ms(scan.p99), String(scan.n)],
      ['search (statement), in the rounds beside the scan', ms(besideScan.p50), ms(besideScan.p99), String(besideScan.n)],
    ]),
    'Per query (statement): the search\'s cost grows with the messages its words match — the GIN index finds them, and each match is fetched and ranked — while the scan reads every message whatever the query.',
    markdownTable(queryRows),
    `**What the index costs a POST.** A POST stores two messages (its user message and its reply), each one insert-and-move statement; with search, the trigger vectorises each and the GIN index takes its lexemes (into its pending list, merged in bulk later by autovacuum or when the list reaches \`gin_pending_list_limit\`). The same two statements (a 14-word question and a 100-word reply) against two databases seeded alike, one with the search triggers and indexes and one without, interleaved, ${POST_ROUNDS} rounds:`,
    markdownTable([
      ['database', 'p50 ms', 'p99 ms', 'mean ms'],
      ...(['with search', 'without search'] as const).map((name) => [name, ms(post[name].p50), ms(post[name].p99), ms(post[name].mean)]),
      ['difference', ms(postCost), ms(post['with search'].p99 - post['without search'].p99), ms(post['with search'].mean - post['without search'].mean)],
    ]),
    `**Why search pages are not cached.** A result page (${result.pageBytes.toLocaleString('en-US')} bytes for 20 items) read from Redis costs a GET: ${ms(hit)} ms p50, against ${ms(handler.p50)} ms for the search itself. But a cached page can only be served to the same user, for the same query text, cursor and limit, with no write of theirs since (a per-user version in the key, bumped by every message, rename, archive and delete: one more Redis command on every write), and every miss pays a GET and a SET (≈ ${ms(missOverhead)} ms) on top of the search. It pays for itself only above a hit rate of ≈ ${(breakEven * 100).toFixed(0)} % — and a search box sends a new query text as the user types (debounced keystrokes: \`doc\`, \`dock\`, \`docker co\`, …), each a different key, so repeats are rare; any message the user sends in between empties their entries anyway. Postgres answers every search fresh instead: a message, a rename or a deletion is in the next search the moment it was acknowledged, with no invalidation to get wrong.`,
    `**Share links.** The public read of a shared 20-message branch (${result.shareBytes.toLocaleString('en-US')} bytes), the get-shared-conversation handler on a hit, interleaved with a raw GET of \`share:{id}\` (800 rounds):`,
    markdownTable([['variant', 'p50 ms', 'p99 ms', 'p50 vs raw GET'], ...Object.entries(result.share).map(([name, s]) => [name, ms(s.p50), ms(s.p99), ratio(s.p50 / shareFloor)])]),
    'The same hit interleaved with the owner\'s detail read of the conversation (the get-conversation handler on a hit, §1\'s path): the share read costs what any cached read through a handler costs.',
    markdownTable([['variant', 'p50 ms', 'p99 ms'], ...Object.entries(result.shareVsDetail).map(([name, s]) => [name, ms(s.p50), ms(s.p99)])]),
    `The viral path: ${HERD_WAVES} waves, each a share nobody has read yet, read by ${HERD_READERS} anonymous readers at once over ${HERD_COPIES} copies of the layer as built (their own Redis connections and pools, as ${HERD_COPIES} containers): Postgres loads per wave ${JSON.stringify(result.herd.loadsPerWave)}; answers ${JSON.stringify(result.herd.statuses)}; a wave takes ${ms(median(result.herd.waveMs))} ms (median). The first reader's fill lease makes the others wait for its fill (§10), so a link going viral costs Postgres one branch read until it is renamed or revoked; behind a CDN, \`Cache-Control: public, max-age=60\` takes most of those reads off the API too.`,
  ];
  const notes = [
    `Search: its cost follows the messages its words match (the per-query table: a query whose words appear in thousands of messages fetches and ranks all of them), the ILIKE scan's the size of the history; the slowest queries set the p99. Measured on 2 shared cores: other processes' load lands on the search and the scan alike.`,
  ];
  return { text, targets, notes };
}
