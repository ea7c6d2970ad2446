/**
 * The search statement's plan at the bench's size (docs/benchmarks.md, "Search"): one user with
 * 1,000 conversations and 50,000 messages of realistic text, beside other users' rows, analysed.
 * For every kind of query — a frequent word, a rare one, several, a phrase, a prefix, an
 * exclusion — Postgres finds the messages through the GIN index and never scans the messages
 * table. On a database of its own, seeded in bulk (the triggers vectorise every row).
 */
import { Client } from 'pg';
import { runMigrations, SEARCH_CONVERSATIONS_SQL, searchConversationsParams } from '@chatbot/shared/testing';
import { corpusConversations, insertCorpusConversation, VOCABULARY } from '../support/search-corpus';
import { ADMIN_DATABASE_URL, databaseUrl } from '../support/services';

const name = `chatbot_searchplan_${process.env.TEST_RUN_ID}`;
const admin = new Client({ connectionString: ADMIN_DATABASE_URL });
let client: Client;
const USER = 'search-plan-user';

beforeAll(async () => {
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const connection = { connectionString: databaseUrl(name) };
  await runMigrations({ connection });
  client = new Client(connection);
  await client.connect();
  const started = Date.now();
  // Bulk load as a restore would: the GIN index is rebuilt once at the end instead of growing row by row.
  await client.query('DROP INDEX messages_search_idx');
  for (const conversation of corpusConversations({ seed: 7, count: 1000, messages: 50 })) await insertCorpusConversation(client, USER, conversation);
  for (const [i, conversation] of [...corpusConversations({ seed: 8, count: 200, messages: 20 })].entries()) await insertCorpusConversation(client, `other-user-${i % 20}`, conversation);
  await client.query('CREATE INDEX messages_search_idx ON messages USING gin (search_vector)');
  await client.query('ANALYZE');
  console.log(`[search plan] seeded 1,000 + 200 conversations in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}, 180_000); // 15-20 s on a quiet machine; a loaded one (other suites, CI neighbours) takes several times that

afterAll(async () => {
  await client?.end();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
});

interface PlanNode {
  readonly 'Node Type': string;
  readonly 'Relation Name'?: string;
  readonly 'Index Name'?: string;
  readonly Plans?: PlanNode[];
}
const nodesOf = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodesOf)];

it('has the bench\'s size', async () => {
  const { rows } = await client.query("SELECT count(*)::int AS n FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.user_id = $1 AND m.role IN ('user', 'assistant')", [USER]);
  expect(rows[0].n).toBe(50_000);
});

it.each([
  ['a frequent word', VOCABULARY[60], false],
  ['a rare word', VOCABULARY[9000], false],
  ['two words', `${VOCABULARY[120]} ${VOCABULARY[400]}`, false],
  ['three words being typed', `${VOCABULARY[80]} ${VOCABULARY[300]} ${VOCABULARY[1500].slice(0, 3)}`, true],
  ['a phrase', `"${VOCABULARY[50]} ${VOCABULARY[51]}"`, false],
  ['an exclusion', `${VOCABULARY[70]} -${VOCABULARY[90]}`, false],
  ['a function word', 'the', false],
])('finds %s through the GIN index, never scanning messages', async (_kind, query, prefix) => {
  const { rows } = await client.query(`EXPLAIN (FORMAT JSON) ${SEARCH_CONVERSATIONS_SQL}`, searchConversationsParams({ userId: USER, query: query as string, prefix: prefix as boolean, limit: 21 }));
  const nodes = nodesOf(rows[0]['QUERY PLAN'][0].Plan);

  expect(nodes.filter((node) => node['Node Type'] === 'Seq Scan' && node['Relation Name'] === 'messages')).toEqual([]);
  expect(nodes.some((node) => node['Node Type'] === 'Bitmap Index Scan' && node['Index Name'] === 'messages_search_idx')).toBe(true);
});
