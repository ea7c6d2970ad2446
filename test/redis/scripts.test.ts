/**
 * Every Lua script runs through the Redis module's one runner (EVALSHA, then EVAL on NOSCRIPT),
 * never as an ioredis command defined on a client in use (a command defined while the
 * auto-pipeline holds commands of the same tick misaligns its replies). Several features'
 * scripts used for the first time in one tick, beside plain commands, must all answer correctly.
 */
import { randomUUID } from 'node:crypto';
import { closeAllLayerInstances, loadLayerInstance } from '../reliability/support/layer-instance';

afterAll(() => closeAllLayerInstances());

it('first uses of several modules\' scripts in one tick, beside plain commands, all answer correctly', async () => {
  // Prepare: a fresh container, so no script has run on its client yet.
  const layer = loadLayerInstance({ USER_TURN_LIMIT: '5' });
  const { shared } = layer;
  const cache = shared.getCacheService();
  const userId = `scripts-${randomUUID()}`;
  await shared.getRedis();

  // Act: everything in the same tick.
  const results = await Promise.all([
    cache.delete(shared.redisKeys.conversationHistory(randomUUID())),
    shared.recordTurn(userId, 5, 60_000),
    cache.readThrough({ key: shared.redisKeys.conversationList(userId), field: '0:20', load: async () => 'page' }),
    shared.appendToList(shared.redisKeys.contextWindow(randomUUID()), ['{"id":"a"}'], { maxLength: 20, ttlSeconds: 60, replace: true }),
    cache.delete(shared.redisKeys.conversationList(`${userId}-other`)),
  ]);

  // Assess
  expect(results).toEqual([true, { allowed: true }, { value: 'page', status: 'MISS' }, ['{"id":"a"}'], true]);
  expect(shared.redisStats.errors).toBe(0);
  expect((await cache.readThrough({ key: shared.redisKeys.conversationList(userId), field: '0:20', load: async () => 'other' })).status).toBe('HIT');
});
