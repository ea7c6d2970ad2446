/**
 * SEARCH_TEXT_CONFIG: the migrate step makes it the text search configuration of conversation
 * search, online — new rows at once, old rows re-vectorised in batches — and queries follow the
 * database's setting, so a query and the rows it matches agree. On a database of its own.
 */
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { createConversationWithMessage, runMigrations, searchConversationsByUserId } from '@chatbot/shared/testing';
import { ADMIN_DATABASE_URL, databaseUrl } from '../support/services';

const name = `chatbot_searchcfg_${process.env.TEST_RUN_ID}`;
const admin = new Client({ connectionString: ADMIN_DATABASE_URL });
const connection = { connectionString: databaseUrl(name) };
let client: Client;

beforeAll(async () => {
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await runMigrations({ connection });
  client = new Client(connection);
  await client.connect();
});
afterAll(async () => {
  await client.end();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
});

const userId = 'config-user';
const store = async (text: string): Promise<string> => {
  const id = randomUUID();
  await createConversationWithMessage({ id, userId, rootNodeId: 'root', systemNodeId: 'system', message: { id: 'm1', parts: [text] }, db: client });
  return id;
};
const search = async (query: string): Promise<string[]> =>
  (await searchConversationsByUserId({ userId, query, prefix: false, limit: 10, db: client })).map((row) => row.conversationId).sort();
const setting = async () => (await client.query('SELECT text_config::text AS text, backfilled_config::text AS backfilled FROM search_configuration')).rows[0];

it('is simple by default, switches to english (stemming old and new rows), and back, and refuses a configuration the server lacks', async () => {
  const old = await store('The dogs were running');
  expect(await setting()).toEqual({ text: 'simple', backfilled: 'simple' });
  expect(await search('run')).toEqual([]);
  expect(await search('running')).toEqual([old]);

  expect(await runMigrations({ connection, searchTextConfig: 'english' })).toEqual({ applied: [] });

  expect(await setting()).toEqual({ text: 'english', backfilled: 'english' });
  const added = await store('She runs every morning');
  expect(await search('run')).toEqual([old, added].sort());
  expect(await search('dog')).toEqual([old]);

  // Applying the same configuration again changes nothing.
  const before = (await client.query("SELECT search_vector::text AS v FROM messages WHERE role = 'user' ORDER BY conversation_id")).rows;
  await runMigrations({ connection, searchTextConfig: 'english' });
  expect((await client.query("SELECT search_vector::text AS v FROM messages WHERE role = 'user' ORDER BY conversation_id")).rows).toEqual(before);

  await expect(runMigrations({ connection, searchTextConfig: 'no_such_config' })).rejects.toThrow(/text search configuration "no_such_config" does not exist/);
  expect(await setting()).toEqual({ text: 'english', backfilled: 'english' });

  await runMigrations({ connection, searchTextConfig: 'simple' });
  expect(await setting()).toEqual({ text: 'simple', backfilled: 'simple' });
  expect(await search('run')).toEqual([]);
  expect(await search('runs')).toEqual([added]);
});
