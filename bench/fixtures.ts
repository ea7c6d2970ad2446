/**
 * The bench's data: its own database (created, migrated, dropped) and Redis keys (scanned and
 * unlinked at the end), and conversations seeded straight through the repository, so a
 * 1,000-message conversation costs 1,000 INSERTs rather than 500 model turns.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Client } from 'pg';
import type { Redis } from 'ioredis';
import { createConversationWithMessage, insertMessageAndMoveCurrentNode, runMigrations } from '@chatbot/shared/testing';
import { buildRestApiEvent } from '../local/lambda-runtime';
import { ADMIN_DATABASE_URL, DATABASE_NAME, DATABASE_URL, KEY_PREFIX, REPO_ROOT } from './env';

export async function createBenchDatabase(): Promise<void> {
  const admin = new Client({ connectionString: ADMIN_DATABASE_URL, connectionTimeoutMillis: 5000 });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${DATABASE_NAME}`);
  } finally {
    await admin.end();
  }
  // The runner's default directory is relative to its own file, which is inside this bundle now.
  await runMigrations({ connection: { connectionString: DATABASE_URL }, dir: path.join(REPO_ROOT, 'layer', 'migrations') });
}

export async function dropBenchDatabase(): Promise<void> {
  const admin = new Client({ connectionString: ADMIN_DATABASE_URL, connectionTimeoutMillis: 5000 });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${DATABASE_NAME} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** Unlinks every key under the run's prefix; returns how many there were. */
export async function deleteBenchKeys(redis: Redis): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${KEY_PREFIX}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}

/** Server versions and facts about the machine for the report header. */
export async function serverVersions(redis: Redis): Promise<{ redis: string; postgres: string }> {
  const info = await redis.info('server');
  const client = new Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    return { redis: /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown', postgres: rows[0].server_version };
  } finally {
    await client.end();
  }
}

// Short turns, so a 20-message body is ~14 KB and a 1,000-message one ~650 KB; each node's ids
// and metadata are ~450 bytes of that. The text of every message is different (words drawn
// from a vocabulary with a seeded generator): repeating one sentence would make the bodies
// compress far better than real conversations do, and the compression figures would lie.
const USER_TEXT = 'How does a fill lease keep a cache-aside read from going stale?';
const ASSISTANT_TEXT =
  'The reader puts a placeholder in the key before it reads Postgres and fills only while the placeholder is still there, so a DEL by a writer in between turns the late fill into a no-op.';
const VOCABULARY = (
  'the of and to a in is that for it as was with be by on not he this are or his from at which but have an they you were ' +
  'her she there been one all we their has would when if so no will can more out up other into do time only new some could ' +
  'these two may first then any like my now over such our man me even most made after also did many before must through ' +
  'back years where much your way well down should because each just those people how too little state good very make world ' +
  'still own see men work long get here between both life being under never day same another know while last might us great ' +
  'old year off come since against go came right used take three cache reader writer lease Postgres Redis value key commit ' +
  'branch context window token model stream reply latency memory bytes owner prefix query index table lambda layer request ' +
  'response timeout retry error connection cluster shard node replica region deploy stack function handler schema migration'
).split(' ');

/** Text of about `length` characters, different on every call (seeded, so every run seeds the same). */
function sentenceOf(random: () => number, length: number): string {
  const words: string[] = [];
  let size = 0;
  while (size < length) {
    // Zipf-like: frequent words come up often, as in English.
    const word = VOCABULARY[Math.floor(VOCABULARY.length * random() ** 2.2)];
    words.push(word);
    size += word.length + 1;
  }
  const text = words.join(' ');
  return `${text[0].toUpperCase()}${text.slice(1)}${random() < 0.3 ? '?' : '.'}`;
}

/** A seeded PRNG (mulberry32), so the text of every run is the same. */
function textRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let conversationsSeeded = 0;

/** A seeded conversation: its id, owner and the id of its last message (the branch leaf). */
export interface SeededConversation {
  readonly id: string;
  readonly userId: string;
  readonly leafId: string;
  readonly messages: number;
}

/**
 * A linear conversation of `messages` (at least 1) user/assistant messages, alternating from a
 * user message, owned by `userId` — written through the repository's own statements, one per
 * message, as the app writes them (no model turns: a 1,000-message conversation takes seconds).
 */
export async function seedConversation(userId: string, messages: number): Promise<SeededConversation> {
  const id = randomUUID();
  const random = textRandom((conversationsSeeded += 1));
  const text = (role: 'user' | 'assistant') => sentenceOf(random, role === 'user' ? USER_TEXT.length : ASSISTANT_TEXT.length);
  const first = await createConversationWithMessage({
    id,
    userId,
    rootNodeId: randomUUID(),
    systemNodeId: randomUUID(),
    message: { id: randomUUID(), parts: [text('user')] },
    defaultModelSlug: 'local',
  });
  let parentId = first.id;
  for (let i = 1; i < messages; i += 1) {
    const role = i % 2 === 0 ? 'user' : 'assistant';
    const stored = await insertMessageAndMoveCurrentNode({
      conversationId: id,
      message: {
        id: randomUUID(),
        parentId,
        role,
        parts: [text(role)],
        endTurn: role === 'assistant' ? true : null,
        metadata: role === 'assistant' ? { model_slug: 'local', finish_details: { type: 'stop' }, parent_id: parentId } : {},
      },
    });
    parentId = stored!.id;
  }
  return { id, userId, leafId: parentId, messages };
}

export const sampleText = { user: USER_TEXT, assistant: ASSISTANT_TEXT };

/** The browser origin every bench request comes from (an allowed CORS origin). */
export const ORIGIN = 'https://chat.example.com';

/** GET /backend-api/conversation/{id} of a seeded conversation, as its owner. */
export const detailEvent = (conversation: Pick<SeededConversation, 'id' | 'userId'>) =>
  buildRestApiEvent({
    method: 'GET',
    resource: '/backend-api/conversation/{conversation_id}',
    path: `/backend-api/conversation/${conversation.id}`,
    pathParameters: { conversation_id: conversation.id },
    headers: { Origin: ORIGIN },
    userId: conversation.userId,
  });
