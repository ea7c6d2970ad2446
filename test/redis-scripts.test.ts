/**
 * Lua scripts are ioredis commands registered by their modules and defined when the client is
 * created, before anything uses it (a command defined on a client whose auto-pipeline already
 * holds commands is a hazard the resumable-replies work ran into). Several modules' scripts
 * used for the first time in one tick, beside plain commands, must all answer correctly.
 */
import { randomUUID } from 'node:crypto';
import { closeAllLayerInstances, loadLayerInstance } from './reliability/support/layer-instance';

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
    cache.delete(shared.cacheKeys.conversationHistory(randomUUID())),
    shared.enforceTurnLimit(userId),
    cache.readThrough({ key: shared.cacheKeys.conversationList(userId), field: '0:20', load: async () => 'page' }),
    cache.appendToList(shared.cacheKeys.chatContext(randomUUID()), ['{"id":"a"}'], { maxLength: 20, ttlSeconds: 60, replace: true }),
    cache.delete(shared.cacheKeys.conversationList(`${userId}-other`)),
  ]);

  // Assess
  expect(results).toEqual([true, 'ALLOWED', { value: 'page', status: 'MISS' }, ['{"id":"a"}'], true]);
  expect(shared.cacheStats.errors).toBe(0);
  expect((await cache.readThrough({ key: shared.cacheKeys.conversationList(userId), field: '0:20', load: async () => 'other' })).status).toBe('HIT');
});
