/**
 * GET /backend-api/limits (docs/api.md#models-feedback-and-remaining-turns) against the real Redis and
 * Postgres: what is left of the turn limit, read from the turn log the 429 is decided on, in one
 * round trip, writing nothing; it agrees with the 429; Redis down → `remaining: null`.
 */
import {
  closeDatabase,
  closeRedis,
  databaseStats,
  getLimitsProgress,
  metrics,
  redisKeys,
  redisStats,
  resetCacheService,
  resetConfig,
} from '@chatbot/shared/testing';
import { getLimits, newUserId, sendMessage, postRaw } from './support/handlers';
import { rawRedis, UNREACHABLE_REDIS_URL } from './support/redis';
import { randomUUID } from 'node:crypto';

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
  redis.disconnect();
});

const newTurn = () => ({
  action: 'next',
  messages: [{ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: ['hello'] } }],
  parent_message_id: randomUUID(),
});

/** The one entry of `limits_progress`. */
async function turns(userId: string) {
  const response = await getLimits(userId);
  expect(response.statusCode).toBe(200);
  expect(response.json.limits_progress).toHaveLength(1);
  return response.json.limits_progress[0];
}

describe('GET /backend-api/limits', () => {
  it('a new user has the whole limit and nothing to reset; asking writes no key', async () => {
    useEnvironment({ USER_TURN_LIMIT: '3', USER_TURN_WINDOW_SECONDS: '3600' });
    const userId = newUserId();

    expect(await turns(userId)).toEqual({ feature_name: 'turns', limit: 3, remaining: 3, reset_after: null });
    expect(await redis.exists(redisKeys.turnLog(userId))).toBe(0);
  });

  it('counts down with each turn; reset_after is when the oldest turn leaves the window; asking is not a turn', async () => {
    // Prepare
    useEnvironment({ USER_TURN_LIMIT: '3', USER_TURN_WINDOW_SECONDS: '3600' });
    const userId = newUserId();
    const startedAt = Date.now();
    await sendMessage(userId, 'one');
    await sendMessage(userId, 'two');

    // Act
    const first = await turns(userId);
    const again = await turns(userId);

    // Assess
    expect(first).toEqual({ feature_name: 'turns', limit: 3, remaining: 1, reset_after: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) });
    const resetAt = Date.parse(first.reset_after);
    expect(resetAt).toBeGreaterThanOrEqual(startedAt + 3600_000 - 1000);
    expect(resetAt).toBeLessThanOrEqual(Date.now() + 3600_000 + 1000);
    expect(again).toEqual(first);
    expect(await redis.zcard(redisKeys.turnLog(userId))).toBe(2);
    // The third turn is still allowed: asking did not spend it.
    expect((await postRaw(newTurn(), userId)).statusCode).toBe(200);
  });

  it('agrees with the 429: remaining 0 exactly when a POST is refused, reset_after = now + its retry_after', async () => {
    // Prepare
    useEnvironment({ USER_TURN_LIMIT: '2', USER_TURN_WINDOW_SECONDS: '3600' });
    const userId = newUserId();
    await sendMessage(userId, 'one');
    expect((await turns(userId)).remaining).toBe(1);
    await sendMessage(userId, 'two');

    // Act
    const progress = await turns(userId);
    const refused = await postRaw(newTurn(), userId);
    const refusedAt = Date.now();

    // Assess
    expect(progress.remaining).toBe(0);
    expect(refused.statusCode).toBe(429);
    const retryAfter = refused.json.detail.retry_after as number;
    // retry_after is rounded up to whole seconds; reset_after is the exact moment.
    const resetIn = Date.parse(progress.reset_after) - refusedAt;
    expect(resetIn).toBeGreaterThan((retryAfter - 2) * 1000);
    expect(resetIn).toBeLessThanOrEqual(retryAfter * 1000);
  });

  it('agrees with the 429 after the limit is lowered below the turns already taken', async () => {
    // Prepare: three turns under a limit of 3, then the limit becomes 2.
    useEnvironment({ USER_TURN_LIMIT: '3', USER_TURN_WINDOW_SECONDS: '3600' });
    const userId = newUserId();
    for (const text of ['a', 'b', 'c']) await sendMessage(userId, text);
    useEnvironment({ USER_TURN_LIMIT: '2', USER_TURN_WINDOW_SECONDS: '3600' });

    // Act
    const progress = await turns(userId);
    const refused = await postRaw(newTurn(), userId);

    // Assess: the turn that frees a place is the second oldest, for both.
    expect(progress).toMatchObject({ limit: 2, remaining: 0 });
    const resetIn = Date.parse(progress.reset_after) - Date.now();
    expect(Math.ceil(resetIn / 1000)).toBeGreaterThanOrEqual(refused.json.detail.retry_after - 1);
    expect(Math.ceil(resetIn / 1000)).toBeLessThanOrEqual(refused.json.detail.retry_after);
  });

  it('rolls with the window: a turn that left it is a turn back', async () => {
    useEnvironment({ USER_TURN_LIMIT: '1', USER_TURN_WINDOW_SECONDS: '1' });
    const userId = newUserId();
    await sendMessage(userId, 'a');
    expect((await turns(userId)).remaining).toBe(0);

    await new Promise((resolve) => setTimeout(resolve, 1100));

    expect(await turns(userId)).toEqual({ feature_name: 'turns', limit: 1, remaining: 1, reset_after: null });
  });

  it('costs one Redis command and no Postgres query', async () => {
    useEnvironment({ USER_TURN_LIMIT: '5' });
    const userId = newUserId();
    await sendMessage(userId, 'warm');
    await turns(userId);
    const before = { redis: redisStats.commands, postgres: databaseStats.queries };

    await turns(userId);

    expect({ redis: redisStats.commands - before.redis, postgres: databaseStats.queries - before.postgres }).toEqual({ redis: 1, postgres: 0 });
  });

  it('lists no limit when the limit is off (USER_TURN_LIMIT=0)', async () => {
    useEnvironment({ USER_TURN_LIMIT: '0' });

    expect((await getLimits(newUserId())).json).toEqual({ limits_progress: [] });
  });

  it('answers remaining: null when Redis is down, without failing or waiting, and counts it', async () => {
    useEnvironment({ USER_TURN_LIMIT: '4', REDIS_URL: UNREACHABLE_REDIS_URL, REDIS_CONNECT_TIMEOUT_MS: '300' });
    // A reply a previous test left streaming may have built a client on the real Redis meanwhile.
    await closeRedis();
    const userId = newUserId();
    const started = Date.now();

    const response = await getLimits(userId);

    expect(response.statusCode).toBe(200);
    expect(response.json).toEqual({ limits_progress: [{ feature_name: 'turns', limit: 4, remaining: null, reset_after: null }] });
    expect(Date.now() - started).toBeLessThan(3000);
    metrics.clearMetrics();
    await getLimitsProgress(userId);
    expect(metrics.serializeMetrics()).toHaveProperty('TurnLogUnreadable', 1);
    metrics.clearMetrics();
  });

  it('answers remaining: null when no Redis is configured', async () => {
    useEnvironment({ USER_TURN_LIMIT: '4', CACHE_ENABLED: 'false' });

    expect((await turns(newUserId())).remaining).toBeNull();
  });

  it('refuses a caller without a usable identity', async () => {
    expect((await getLimits(undefined)).statusCode).toBe(401);
  });
});
