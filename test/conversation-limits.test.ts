/**
 * Conversation size limits (MAX_CONVERSATION_MESSAGES, MAX_CONVERSATION_BYTES) against the real
 * Postgres: a turn that would pass either is a 413 `conversation_too_long` and writes nothing;
 * the counters the check reads stay equal to what is stored, on every write path.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { closeDatabase, closeRedis, messageContentBytes, resetCacheService, resetConfig } from '@chatbot/shared/testing';
import { newUserId, postRaw, sendMessage } from './support/handlers';

const saved = { ...process.env };
const db = new Client({ connectionString: process.env.DATABASE_URL });

beforeAll(() => db.connect());
afterEach(() => {
  process.env = { ...saved };
  resetConfig();
  resetCacheService();
});
afterAll(async () => {
  await closeRedis();
  await closeDatabase();
  await db.end();
});

function useLimits(limits: Record<string, string>): void {
  process.env = { ...saved, USER_TURN_LIMIT: '0', ...limits };
  resetConfig();
  resetCacheService();
}

const turn = (conversationId: string, parentMessageId: string, text: string) => ({
  action: 'next',
  conversation_id: conversationId,
  parent_message_id: parentMessageId,
  messages: [{ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: [text] } }],
});

async function stored(conversationId: string) {
  const counters = await db.query<{ message_count: number; content_bytes: string }>('SELECT message_count, content_bytes FROM conversations WHERE id = $1', [conversationId]);
  const messages = await db.query<{ role: string; parts: unknown[] }>('SELECT role, parts FROM messages WHERE conversation_id = $1 ORDER BY seq', [conversationId]);
  const counted = messages.rows.filter((m) => m.role === 'user' || m.role === 'assistant');
  return {
    rows: messages.rows.length,
    messageCount: counters.rows[0].message_count,
    contentBytes: Number(counters.rows[0].content_bytes),
    actualCount: counted.length,
    actualBytes: counted.reduce((sum, m) => sum + messageContentBytes(m.parts), 0),
  };
}

describe('conversation size limits', () => {
  it('refuses the turn that would pass MAX_CONVERSATION_MESSAGES with 413, writing nothing', async () => {
    // Prepare: 4 messages allowed = two turns.
    useLimits({ MAX_CONVERSATION_MESSAGES: '4' });
    const userId = newUserId();
    const first = await sendMessage(userId, 'one');
    const second = await sendMessage(userId, 'two', { conversationId: first.conversationId, parentMessageId: first.assistantMessageId });
    const before = await stored(first.conversationId);

    // Act
    const refused = await postRaw(turn(first.conversationId, second.assistantMessageId, 'three'), userId);
    const regenerate = await postRaw({ action: 'variant', conversation_id: first.conversationId, parent_message_id: second.userMessageId }, userId);

    // Assess
    for (const response of [refused, regenerate]) {
      expect(response.statusCode).toBe(413);
      expect(response.json.detail).toEqual({ code: 'conversation_too_long', message: expect.stringMatching(/limit of 4 messages.*new conversation/) });
    }
    expect(await stored(first.conversationId)).toEqual(before);
    expect(before).toMatchObject({ messageCount: 4, actualCount: 4 });
    // A new conversation is still open to the same user.
    expect((await sendMessage(userId, 'fresh start')).response.statusCode).toBe(200);
  });

  it('refuses the turn that would pass MAX_CONVERSATION_BYTES, counting bytes as the response carries them', async () => {
    // Prepare
    // A turn needs room for its message and its reply's worst case (MAX_REPLY_BYTES).
    useLimits({ MAX_CONVERSATION_BYTES: '4096', MAX_REPLY_BYTES: '256' });
    const userId = newUserId();
    const first = await sendMessage(userId, 'x'.repeat(1000));
    const before = await stored(first.conversationId);
    expect(before.contentBytes).toBe(before.actualBytes);

    // Act: 800 quotes are 800 characters but 3,200 bytes once escaped twice.
    const quotes = await postRaw(turn(first.conversationId, first.assistantMessageId, '"'.repeat(800)), userId);
    const plain = await postRaw(turn(first.conversationId, first.assistantMessageId, 'y'.repeat(800)), userId);

    // Assess
    expect(quotes.statusCode).toBe(413);
    expect(quotes.json.detail.code).toBe('conversation_too_long');
    expect(quotes.json.detail.message).toMatch(/size limit of 4096 bytes/);
    expect(plain.statusCode).toBe(200);
    const after = await stored(first.conversationId);
    expect(after.rows).toBe(before.rows + 2);
  });

  it('keeps the counters equal to what is stored across new turns, edits and regenerations', async () => {
    // Prepare
    useLimits({});
    const userId = newUserId();
    const first = await sendMessage(userId, 'first "quoted" \\ text \u0001 ✓');
    const second = await sendMessage(userId, 'second', { conversationId: first.conversationId, parentMessageId: first.assistantMessageId });

    // Act: an edit (a sibling of the second message) and a regenerate of it.
    const edit = await sendMessage(userId, 'second, edited', { conversationId: first.conversationId, parentMessageId: first.assistantMessageId });
    const regenerate = await postRaw({ action: 'variant', conversation_id: first.conversationId, parent_message_id: edit.userMessageId }, userId);

    // Assess
    expect(second.response.statusCode).toBe(200);
    expect(regenerate.statusCode).toBe(200);
    const after = await stored(first.conversationId);
    expect(after.actualCount).toBe(7);
    expect(after.messageCount).toBe(after.actualCount);
    expect(after.contentBytes).toBe(after.actualBytes);
  });

  it('migration 003 backfills the counters of existing conversations', async () => {
    // Prepare
    useLimits({});
    const userId = newUserId();
    const first = await sendMessage(userId, 'before the migration');
    await sendMessage(userId, 'and "after"', { conversationId: first.conversationId, parentMessageId: first.assistantMessageId });
    const expected = await stored(first.conversationId);
    await db.query('UPDATE conversations SET message_count = 0, content_bytes = 0 WHERE id = $1', [first.conversationId]);

    // Act: the migration's backfill, limited to this conversation (other test files share the database).
    const sql = readFileSync(path.join(__dirname, '../layer/migrations/003_conversation_size.sql'), 'utf8');
    const backfill = sql.slice(sql.indexOf('UPDATE conversations c')).replace(/;\s*$/, '');
    await db.query(`${backfill} AND c.id = $1`, [first.conversationId]);

    // Assess
    expect(await stored(first.conversationId)).toEqual(expected);
  });
});
