/**
 * Invalidations that fail (Redis stalls) are kept and retried — once, in batches, by one flush
 * at a time — and a delete-all invalidates in batches, never one command per conversation at
 * once. The probe that found the storm: user A's delete-all of 100 conversations during
 * `CLIENT PAUSE 1500 WRITE`, then user B's delete-all of 500 on the same container, made Redis
 * run 201,201 DELs where ~1,001 were needed (every one of B's commands resent every pending key).
 * Private redis-server: CLIENT PAUSE must not stall anything else.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { closeAllLayerInstances, loadLayerInstance, type LayerInstance } from '../reliability/support/layer-instance';
import { startRedisServer, stopAllRedisServers, type RedisServer } from '../reliability/support/redis-server';

let server: RedisServer;
let raw: Redis;
let layer: LayerInstance;

beforeAll(async () => {
  server = await startRedisServer();
  raw = new Redis(server.url);
  layer = loadLayerInstance({ REDIS_URL: server.url, REDIS_COMMAND_TIMEOUT_MS: '200', REDIS_CONNECT_TIMEOUT_MS: '300', USER_TURN_LIMIT: '0' });
});
afterAll(async () => {
  raw.disconnect();
  await closeAllLayerInstances();
  await stopAllRedisServers();
});

/** Conversations written through the repository (no model turns): the ids of `count` of `userId`'s. */
async function seed(userId: string, count: number): Promise<void> {
  const { createConversationWithMessage } = layer.shared;
  for (let i = 0; i < count; i += 1) {
    await createConversationWithMessage({ id: randomUUID(), userId, rootNodeId: randomUUID(), systemNodeId: randomUUID(), message: { id: randomUUID(), parts: [`hello ${i}`] } });
  }
}

/** Invalidating commands Redis ran so far: DEL and UNLINK calls, and the scripts (the reply-stream discard). */
async function invalidations(): Promise<{ readonly dels: number; readonly scripts: number }> {
  const stats = await raw.info('commandstats');
  const calls = (name: string) => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
  return { dels: calls('del') + calls('unlink'), scripts: calls('evalsha') + calls('eval') };
}

it('delete-all during a write stall, then another user\'s delete-all: each key deleted at most about twice, and the failed ones applied afterwards', async () => {
  // Prepare: user A with 100 conversations, user B with 500, on one container.
  const userA = `storm-a-${randomUUID()}`;
  const userB = `storm-b-${randomUUID()}`;
  await seed(userA, 100);
  await seed(userB, 500);
  const before = await invalidations();

  // Act: A deletes everything while Redis refuses writes for 1.5 s; then B does.
  await raw.call('CLIENT', 'PAUSE', '1500', 'WRITE');
  const deleteA = await layer.api.patchAllConversations({ is_visible: false }, userA);
  await new Promise((resolve) => setTimeout(resolve, 1600));
  const deleteB = await layer.api.patchAllConversations({ is_visible: false }, userB);
  // One more request: whatever is still pending is flushed before it.
  await layer.api.listConversations(userA, {});
  const after = await invalidations();

  // Assess: both deletes answered; A's keys (1 list + 100 details + 100 OpenAI-API read hashes
  // + 100 contexts = 301) were tried once and flushed once; B's (1,501) deleted once; batches add a few script calls.
  expect(deleteA.statusCode).toBe(200);
  expect(deleteB.statusCode).toBe(200);
  const keys = 301 + 1501;
  const dels = after.dels - before.dels;
  console.log(`[stress] delete-all storm: ${dels} DELs for ${keys} keys; ${after.scripts - before.scripts} scripts`);
  expect(dels).toBeGreaterThanOrEqual(keys);
  expect(dels).toBeLessThanOrEqual(2 * keys + 50);
  // Nothing pending is left behind: the next operation's flush applied A's failed deletes.
  expect(layer.shared.getCacheService().pendingInvalidations).toBe(0);
});

it('a delete-all of 2,000 conversations on a healthy Redis: one DEL per key, no command timing out, nothing pending', async () => {
  const userId = `bulk-${randomUUID()}`;
  await seed(userId, 2000);
  const before = await invalidations();
  const errorsBefore = layer.shared.redisStats.errors;

  const response = await layer.api.patchAllConversations({ is_visible: false }, userId);

  const after = await invalidations();
  expect(response.statusCode).toBe(200);
  // 1 list + 2,000 details + 2,000 OpenAI-API read hashes + 2,000 context windows; a discard script per conversation.
  expect(after.dels - before.dels).toBe(6001);
  expect(after.scripts - before.scripts).toBe(2000);
  expect(layer.shared.redisStats.errors - errorsBefore).toBe(0);
  expect(layer.shared.getCacheService().pendingInvalidations).toBe(0);
});
