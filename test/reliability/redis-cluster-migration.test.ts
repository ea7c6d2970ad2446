/**
 * Slots moving between cluster primaries while traffic flows (`MIGRATING`/`IMPORTING`,
 * `MIGRATE … KEYS`): clients get ASK for keys already moved and MOVED once the slot is handed
 * over, and must follow each command's own redirect. ioredis's auto-pipelining on a Cluster
 * answers a pipeline's commands with the redirect of another key's slot (redis/ioredis#2075);
 * `npm run chaos` saw it as cache errors naming the wrong slot. With it off, no command fails.
 */
import { Redis } from 'ioredis';
import { closeAllLayerInstances, loadLayerInstance } from './support/layer-instance';
import { startRedisCluster, stopAllRedisServers, type RedisServer } from './support/redis-server';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

afterAll(async () => {
  await closeAllLayerInstances();
  await stopAllRedisServers();
});

/** Moves `slot` from its owner to the next node, a few keys at a time, while traffic flows. */
async function migrateSlot(nodes: readonly RedisServer[], slot: number): Promise<void> {
  const clients = nodes.map((node) => new Redis(node.url));
  try {
    const ids = await Promise.all(clients.map(async (client) => String(await client.call('CLUSTER', 'MYID'))));
    const owner = await Promise.all(clients.map(async (client) => ((await client.call('CLUSTER', 'COUNTKEYSINSLOT', slot)) as number) > 0));
    const from = owner.findIndex(Boolean);
    const to = (from + 1) % nodes.length;
    await clients[to].call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', ids[from]);
    await clients[from].call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', ids[to]);
    for (;;) {
      const batch = (await clients[from].call('CLUSTER', 'GETKEYSINSLOT', slot, 2)) as string[];
      if (batch.length === 0) break;
      await clients[from].call('MIGRATE', '127.0.0.1', nodes[to].port, '', 0, 5000, 'KEYS', ...batch);
      await sleep(30);
    }
    for (const index of [to, from, ...nodes.keys()].filter((i, n, all) => all.indexOf(i) === n)) {
      await clients[index].call('CLUSTER', 'SETSLOT', slot, 'NODE', ids[to]);
    }
  } finally {
    for (const client of clients) client.disconnect();
  }
}

it('cache reads and invalidations follow ASK and MOVED while the slot they use moves: no command fails', async () => {
  const cluster = await startRedisCluster(3);
  const layer = loadLayerInstance({ REDIS_URL: cluster.url, REDIS_CLUSTER_MODE: 'true', REDIS_COMMAND_TIMEOUT_MS: '500', REDIS_CONNECT_TIMEOUT_MS: '1000' });
  const cache = layer.shared.getCacheService();
  // Keys spread over all three nodes, a dozen of them in the slot that moves (one hash tag).
  const moving = Array.from({ length: 12 }, (_, i) => `{migrating}:${i}`);
  const others = Array.from({ length: 24 }, (_, i) => `other:${i}`);
  const keys = [...moving, ...others];
  for (const key of keys) await cache.readThrough({ key, load: async () => `value of ${key}` });
  const slot = Number(await new Redis(cluster.url).call('CLUSTER', 'KEYSLOT', '{migrating}'));
  const errorsBefore = layer.shared.redisStats.errors;

  let moving$ = true;
  const traffic = (async () => {
    let rounds = 0;
    while (moving$) {
      await Promise.all(keys.map((key, i) => (i % 3 === 0 ? cache.delete(key) : cache.readThrough({ key, load: async () => `value of ${key}` }))));
      rounds += 1;
    }
    return rounds;
  })();
  await migrateSlot(cluster.nodes, slot);
  await sleep(300);
  moving$ = false;
  const rounds = await traffic;

  console.log(`[reliability] cluster slot migration: ${rounds} rounds of ${keys.length} commands while slot ${slot} moved; errors ${layer.shared.redisStats.errors - errorsBefore}`);
  expect(rounds).toBeGreaterThan(3);
  expect(layer.shared.redisStats.errors - errorsBefore).toBe(0);
  expect(layer.shared.getCacheService().pendingInvalidations).toBe(0);
}, 60_000);
