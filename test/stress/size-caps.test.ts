/**
 * Size limits under concurrency (docs/api.md#limits): room for a reply is reserved in the same
 * statement that stores the user side, counting replies still running at their worst case
 * (`MAX_REPLY_BYTES`), and a reply is cut at that size — so a conversation never passes its
 * limits, and its GET stays under Lambda's 6 MB response limit, however many turns race.
 * The probe that found it: 20 concurrent regenerates all passed the check made before their
 * replies existed, storing 2.4× the byte limit (a 6.5 MB GET: unreadable once deployed).
 */
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { closeDatabase, closeRedis, messageContentBytes, resetCacheService, resetConfig } from '@chatbot/shared/testing';
import { getConversation, newUserId, postRaw, sendMessage } from '../support/handlers';

const saved = { ...process.env };
const db = new Client({ connectionString: process.env.DATABASE_URL });
/** 32,000 U+0001: one "word" to the local model (one token), 224,000 counted bytes (each character escaped twice). */
const HEAVY = '\u0001'.repeat(32_000);

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
  // Many turns of one user at once: the live-stream cap is another test's subject.
  process.env = { ...saved, USER_TURN_LIMIT: '0', USER_MAX_LIVE_STREAMS: '0', ...limits };
  resetConfig();
  resetCacheService();
}

async function stored(conversationId: string) {
  const messages = await db.query<{ role: string; parts: unknown[]; metadata: Record<string, unknown> }>(
    `SELECT role, parts, metadata FROM messages WHERE conversation_id = $1 AND role IN ('user', 'assistant') ORDER BY seq`,
    [conversationId],
  );
  const counters = await db.query<{ message_count: number; content_bytes: string }>('SELECT message_count, content_bytes FROM conversations WHERE id = $1', [conversationId]);
  return {
    messages: messages.rows,
    count: messages.rows.length,
    bytes: messages.rows.reduce((sum, m) => sum + messageContentBytes(m.parts), 0),
    counters: { count: counters.rows[0].message_count, bytes: Number(counters.rows[0].content_bytes) },
  };
}

const regenerate = (userId: string, conversationId: string, userMessageId: string) =>
  postRaw({ action: 'variant', conversation_id: conversationId, parent_message_id: userMessageId }, userId);

describe('size limits hold under concurrent turns', () => {
  it('MAX_CONVERSATION_MESSAGES=4: of 20 concurrent regenerates exactly 2 are served, the rest are 413, and 4 messages are stored', async () => {
    useLimits({ MAX_CONVERSATION_MESSAGES: '4' });
    const userId = newUserId();
    const first = await sendMessage(userId, 'one');

    const responses = await Promise.all(Array.from({ length: 20 }, () => regenerate(userId, first.conversationId, first.userMessageId)));

    const statuses = responses.map((r) => r.statusCode).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(2);
    expect(statuses.filter((s) => s === 413)).toHaveLength(18);
    for (const refused of responses.filter((r) => r.statusCode === 413)) expect(refused.json.detail.code).toBe('conversation_too_long');
    const after = await stored(first.conversationId);
    expect(after.count).toBe(4);
    expect(after.counters).toEqual({ count: 4, bytes: after.bytes });
  });

  it('MAX_CONVERSATION_BYTES: 20 concurrent regenerates of a heavy reply never take the conversation past the limit', async () => {
    useLimits({ MAX_CONVERSATION_BYTES: '1000000', MAX_REPLY_BYTES: '262144' });
    const userId = newUserId();
    const first = await sendMessage(userId, HEAVY);
    const before = await stored(first.conversationId);

    const responses = await Promise.all(Array.from({ length: 20 }, () => regenerate(userId, first.conversationId, first.userMessageId)));

    const after = await stored(first.conversationId);
    const served = responses.filter((r) => r.statusCode === 200).length;
    console.log(`[stress] byte limit: ${served} of 20 regenerates served; ${before.bytes} → ${after.bytes} bytes of 1,000,000`);
    expect(after.bytes).toBeLessThanOrEqual(1_000_000);
    expect(after.counters).toEqual({ count: after.count, bytes: after.bytes });
    // Room for exactly two worst-case replies was left: both served, the rest refused.
    expect(served).toBe(Math.floor((1_000_000 - before.bytes) / 262_144));
    expect(responses.filter((r) => r.statusCode !== 200).every((r) => r.statusCode === 413)).toBe(true);
  });

  it('with the default limits a conversation stays readable: its GET is under 6 MB after 13 heavy turns and 20 concurrent regenerates', async () => {
    useLimits({});
    const userId = newUserId();
    let turn = await sendMessage(userId, HEAVY);
    for (let i = 1; i < 13; i += 1) {
      const next = await postRaw(
        { action: 'next', conversation_id: turn.conversationId, parent_message_id: turn.assistantMessageId, messages: [{ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: [HEAVY] } }] },
        userId,
      );
      if (next.statusCode !== 200) break;
      const completion = next.events.filter((e) => e.json?.message?.author?.role === 'assistant').at(-1)!.json.message;
      turn = { ...turn, assistantMessageId: completion.id, userMessageId: completion.metadata.parent_id };
    }

    await Promise.all(Array.from({ length: 20 }, () => regenerate(userId, turn.conversationId, turn.userMessageId)));

    const after = await stored(turn.conversationId);
    expect(after.bytes).toBeLessThanOrEqual(3 * 1024 * 1024);
    const detail = await getConversation(turn.conversationId, userId);
    expect(detail.statusCode).toBe(200);
    // What a buffered Lambda response carries: the body as a JSON string in the proxy result.
    expect(Buffer.byteLength(JSON.stringify({ statusCode: 200, headers: detail.headers, body: detail.body }))).toBeLessThan(6 * 1024 * 1024);
  });

  it('a reply is cut at MAX_REPLY_BYTES, stored as cut short (max_tokens)', async () => {
    useLimits({ MAX_REPLY_BYTES: '50000' });
    const userId = newUserId();
    const first = await sendMessage(userId, HEAVY.slice(0, 31_000));
    const reply = (await stored(first.conversationId)).messages.find((m) => m.role === 'assistant')!;
    expect(messageContentBytes(reply.parts)).toBeLessThanOrEqual(50_000);
    expect(messageContentBytes(reply.parts)).toBeGreaterThan(40_000);
    expect(reply.metadata.finish_details).toEqual({ type: 'max_tokens' });
  });
});
