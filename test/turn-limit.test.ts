/**
 * The per-user turn limit (docs/api.md#limits) against the real Redis and Postgres: the (N+1)-th turn in
 * the window is a 429 with `Retry-After` and nothing written; other users are unaffected; the
 * window rolls; Redis down → served and the bypass counted.
 */
import { randomUUID } from 'node:crypto';
import { closeDatabase, closeRedis, enforceTurnLimit, metrics, redisKeys, resetCacheService, resetConfig } from '@chatbot/shared/testing';
import { generateTitle, newUserId, postRaw, sendMessage } from './support/handlers';
import { rawRedis, runPrefix, UNREACHABLE_REDIS_URL } from './support/redis';
import { AssertionDatabase } from './reliability/support/database';

const db = new AssertionDatabase();
const redis = rawRedis();
const saved = { ...process.env };

function useEnvironment(overrides: Record<string, string>): void {
  process.env = { ...saved, ...overrides };
  resetConfig();
  resetCacheService();
}

afterEach(async () => {
  useEnvironment({});
  await closeRedis();
});

afterAll(async () => {
  await closeDatabase();
  await db.close();
  redis.disconnect();
});

const newTurn = (text = 'hello') => ({
  action: 'next',
  messages: [{ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: [text] } }],
  parent_message_id: randomUUID(),
});

describe('per-user turn limit', () => {
  it('counts gen_title, which calls the model too: over the limit it is a 429 and the title is unchanged', async () => {
    // Prepare
    useEnvironment({ USER_TURN_LIMIT: '1', USER_TURN_WINDOW_SECONDS: '3600' });
    const userId = newUserId();
    const sent = await sendMessage(userId, 'the only turn');
    const titleBefore = await db.conversationTitle(sent.conversationId);

    // Act
    const refused = await generateTitle(sent.conversationId, { message_id: sent.assistantMessageId }, userId);

    // Assess
    expect(refused.statusCode).toBe(429);
    expect(refused.json.detail.code).toBe('rate_limit_exceeded');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(await db.conversationTitle(sent.conversationId)).toBe(titleBefore);
  });

  it('refuses the (N+1)-th turn in the window with 429, Retry-After and a detail, writing nothing', async () => {
    // Prepare
    useEnvironment({ USER_TURN_LIMIT: '3', USER_TURN_WINDOW_SECONDS: '3600' });
    const userId = newUserId();
    const first = await sendMessage(userId, 'one');
    await sendMessage(userId, 'two', { conversationId: first.conversationId, parentMessageId: first.assistantMessageId });
    await sendMessage(userId, 'three');
    const rowsBefore = await db.rowCounts();
    const contextKeysBefore = await redis.keys(`${runPrefix()}chat:*`);

    // Act
    const refused = await postRaw({ ...newTurn('four'), conversation_id: first.conversationId, parent_message_id: first.assistantMessageId }, userId);
    const refusedNew = await postRaw(newTurn('five'), userId);

    // Assess
    for (const response of [refused, refusedNew]) {
      expect(response.statusCode).toBe(429);
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      const retryAfter = Number(response.headers['retry-after']);
      expect(Number.isInteger(retryAfter)).toBe(true);
      expect(retryAfter).toBeGreaterThan(3500);
      expect(retryAfter).toBeLessThanOrEqual(3600);
      expect(response.json.detail).toEqual({ code: 'rate_limit_exceeded', message: expect.stringContaining('3'), retry_after: retryAfter });
    }
    expect(refused.headers['access-control-expose-headers']).toMatch(/Retry-After/);
    expect(await db.rowCounts()).toEqual(rowsBefore);
    expect((await redis.keys(`${runPrefix()}chat:*`)).sort()).toEqual(contextKeysBefore.sort());
    // One key per user, holding only the turns that were admitted.
    expect(await redis.zcard(redisKeys.turnLog(userId))).toBe(3);
  });

  it('does not count invalid requests, and leaves other users unaffected', async () => {
    useEnvironment({ USER_TURN_LIMIT: '1', USER_TURN_WINDOW_SECONDS: '3600' });
    const limited = newUserId();
    expect((await postRaw({ action: 'next' }, limited)).statusCode).toBe(422);
    await sendMessage(limited, 'the one turn');
    expect((await postRaw(newTurn(), limited)).statusCode).toBe(429);

    const other = newUserId();
    const sent = await sendMessage(other, 'my own budget');
    expect(sent.response.statusCode).toBe(200);
    expect((await postRaw(newTurn(), other)).statusCode).toBe(429);
  });

  it('rolls: a turn leaves the window after USER_TURN_WINDOW_SECONDS', async () => {
    useEnvironment({ USER_TURN_LIMIT: '2', USER_TURN_WINDOW_SECONDS: '1' });
    const userId = newUserId();
    await sendMessage(userId, 'a');
    await sendMessage(userId, 'b');
    const refused = await postRaw(newTurn(), userId);
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toBe('1');

    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await sendMessage(userId, 'c')).response.statusCode).toBe(200);
    // The key expires with the window: an idle user costs no memory.
    const ttl = await redis.pttl(redisKeys.turnLog(userId));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1000);
  });

  it('USER_TURN_LIMIT=0 turns the limit off and writes no key', async () => {
    useEnvironment({ USER_TURN_LIMIT: '0' });
    const userId = newUserId();
    await expect(enforceTurnLimit(userId)).resolves.toBeUndefined();
    expect(await redis.exists(redisKeys.turnLog(userId))).toBe(0);
  });

  it('fails open when Redis is down: the turn is served and the bypass counted', async () => {
    useEnvironment({ USER_TURN_LIMIT: '1', REDIS_URL: UNREACHABLE_REDIS_URL, REDIS_CONNECT_TIMEOUT_MS: '300' });
    // A reply a previous test left streaming may have built a client on the real Redis meanwhile.
    await closeRedis();
    const userId = newUserId();
    const started = Date.now();
    const first = await sendMessage(userId, 'Redis is gone');
    const second = await sendMessage(userId, 'still served');
    expect(first.response.statusCode).toBe(200);
    expect(second.response.statusCode).toBe(200);
    expect(Date.now() - started).toBeLessThan(5000);

    metrics.clearMetrics();
    await expect(enforceTurnLimit(userId)).resolves.toBeUndefined();
    expect(metrics.serializeMetrics()).toHaveProperty('TurnLimitBypassed', 1);
    metrics.clearMetrics();
  });
});
