/**
  * Cluster faults under traffic. Slots moving between cluster primaries while traffic flows (`MIGRATING`/`IMPORTING`,
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

/** The nodes that are primaries now. */
async function primaryNodes(nodes: readonly RedisServer[]): Promise<RedisServer[]> {
  const roles = await Promise.all(nodes.map(async (node) => {
    const client = new Redis(node.url);
    const role = ((await client.call('ROLE')) as [string])[0];
    client.disconnect();
    return role;
  }));
  return nodes.filter((_, index) => roles[index] === 'master');
}

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

// With replicas asked to confirm them, invalidations are DEL + WAIT pipelines, which ioredis does
// not retry on a redirect when the WAIT succeeded: the layer follows it with the DEL alone.
it.each([
  ['plain DELs', '0'],
  ['DEL + WAIT pipelines', '1'],
])('cache reads and invalidations (%s) follow ASK and MOVED while the slot they use moves: no command fails', async (_, replicas) => {
  const cluster = await startRedisCluster(3, { replicas: Number(replicas) });
  const primaries = await primaryNodes(cluster.nodes);
  const layer = loadLayerInstance({
    REDIS_URL: cluster.url,
    REDIS_CLUSTER_MODE: 'true',
    REDIS_COMMAND_TIMEOUT_MS: '500',
    REDIS_CONNECT_TIMEOUT_MS: '1000',
    REDIS_INVALIDATION_REPLICAS: replicas,
    REDIS_INVALIDATION_WAIT_MS: '5',
  });
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
  await migrateSlot(primaries, slot);
  await sleep(300);
  moving$ = false;
  const rounds = await traffic;

  console.log(`[reliability] cluster slot migration: ${rounds} rounds of ${keys.length} commands while slot ${slot} moved; errors ${layer.shared.redisStats.errors - errorsBefore}`);
  expect(rounds).toBeGreaterThan(3);
  expect(layer.shared.redisStats.errors - errorsBefore).toBe(0);
  expect(layer.shared.getCacheService().pendingInvalidations).toBe(0);
}, 60_000);

it('a primary that died, while its replica takes over: one read per cool-down waits for it, the others are served from Postgres at once, and the other nodes\' keys stay cached though one of its keys could not be invalidated', async () => {
  // As ElastiCache runs it: the other shards keep serving while one has no primary.
  const cluster = await startRedisCluster(3, { replicas: 1, nodeTimeoutMs: 1000, requireFullCoverage: false });
  const layer = loadLayerInstance({ REDIS_URL: cluster.url, REDIS_CLUSTER_MODE: 'true', REDIS_COMMAND_TIMEOUT_MS: '200', REDIS_CONNECT_TIMEOUT_MS: '500' });
  const cache = layer.shared.getCacheService();
  // One key on each node, cached.
  const keys = ['{a}:k', '{b}:k', '{c}:k', '{d}:k', '{e}:k', '{f}:k'];
  for (const key of keys) await cache.readThrough({ key, load: async () => `value of ${key}` });
  const seed = new Redis(cluster.url);
  const ports = await Promise.all(keys.map(async (key) => {
    const slot = Number(await seed.call('CLUSTER', 'KEYSLOT', key));
    const shards = (await seed.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
    return shards.find(([from, to]) => slot >= from && slot <= to)![2][1];
  }));
  seed.disconnect();
  const victim = cluster.nodes.find((node) => node.port === ports[0])!;
  const victimKeys = keys.filter((_, i) => ports[i] === victim.port);
  const otherKey = keys.find((_, i) => ports[i] !== victim.port)!;

  await victim.kill();
  // A write while the node is dead: its DEL fails and stays pending.
  expect(await cache.delete(victimKeys[0])).toBe(false);
  expect(cache.pendingInvalidations).toBe(1);
  const timings: number[] = [];
  const statuses: string[] = [];
  const otherStatuses: string[] = [];
  // Through the failover (the node timeout, 1 s; the replica's promotion; the client's slot
  // refresh) until the cache answers again.
  const killedAt = performance.now();
  let recoveredAfterMs: number | undefined;
  while (recoveredAfterMs === undefined && performance.now() - killedAt < 20_000) {
    for (const key of victimKeys) {
      const started = performance.now();
      const read = await cache.readThrough({ key, load: async () => 'from Postgres' });
      timings.push(performance.now() - started);
      statuses.push(read.status);
      if (read.status !== 'BYPASS') recoveredAfterMs ??= performance.now() - killedAt;
    }
    if (recoveredAfterMs === undefined) otherStatuses.push((await cache.readThrough({ key: otherKey, load: async () => 'from Postgres' })).status);
    await sleep(10);
  }
  const waited = timings.filter((ms) => ms >= 100).length;

  console.log(
    `[reliability] cluster primary killed: ${statuses.length} reads of its keys, ${waited} of them waited for it, the cache answering again ${recoveredAfterMs?.toFixed(0)} ms after; ` +
      `slowest read ${Math.max(...timings).toFixed(0)} ms; another node's key: ${otherStatuses.filter((status) => status === 'HIT').length} of ${otherStatuses.length} reads HIT`,
  );
  expect(statuses[0]).toBe('BYPASS');
  expect(recoveredAfterMs).toBeLessThan(10_000);
  // Two command timeouts (200 ms each) plus slack for a loaded machine: never the seconds of the cluster's own retries.
  expect(Math.max(...timings)).toBeLessThan(1000);
  // One probe per cool-down (and the first reads), not every read.
  expect(waited).toBeLessThanOrEqual(Math.ceil((recoveredAfterMs ?? 0) / layer.shared.NODE_COOL_DOWN_MS) + 2);
  expect(otherStatuses.length).toBeGreaterThan(10);
  expect(otherStatuses.every((status) => status === 'HIT')).toBe(true);
  // The pending DEL was applied once the replica took over.
  expect(cache.pendingInvalidations).toBe(0);
}, 60_000);

it('on a cluster with replicas, invalidations are confirmed by a replica of each key\'s shard (DEL + WAIT per key)', async () => {
  const cluster = await startRedisCluster(3, { replicas: 1, nodeTimeoutMs: 1000 });
  const layer = loadLayerInstance({ REDIS_URL: cluster.url, REDIS_CLUSTER_MODE: 'true', REDIS_INVALIDATION_REPLICAS: '1', REDIS_INVALIDATION_WAIT_MS: '100' });
  const cache = layer.shared.getCacheService();
  const keys = Array.from({ length: 12 }, (_, i) => `{confirm-${i}}:k`);
  for (const key of keys) await cache.readThrough({ key, load: async () => `value of ${key}` });
  const errorsBefore = layer.shared.redisStats.errors;

  expect(await cache.delete(...keys)).toBe(true);

  expect(layer.shared.redisStats.errors - errorsBefore).toBe(0);
  // Gone from every node, replicas included.
  for (const node of cluster.nodes) {
    const client = new Redis(node.url);
    await client.call('READONLY');
    for (const key of keys) {
      try {
        expect(await client.exists(key)).toBe(0);
      } catch (error) {
        // Another shard's key: the node redirects, which is fine.
        expect(String(error)).toMatch(/MOVED/);
      }
    }
    client.disconnect();
  }
}, 60_000);

it('a read redirected by ASK to a node that does not answer fails open, and the ASKING ioredis sends before it is no unhandled rejection (one ends a Lambda container)', async () => {
  const cluster = await startRedisCluster(3);
  const layer = loadLayerInstance({ REDIS_URL: cluster.url, REDIS_CLUSTER_MODE: 'true', REDIS_COMMAND_TIMEOUT_MS: '200', REDIS_CONNECT_TIMEOUT_MS: '1000' });
  const cache = layer.shared.getCacheService();
  const key = '{asked}:k';
  await cache.readThrough({ key, load: async () => 'cached' });
  const clients = cluster.nodes.map((node) => new Redis(node.url));
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    const slot = Number(await clients[0].call('CLUSTER', 'KEYSLOT', key));
    const ids = await Promise.all(clients.map(async (client) => String(await client.call('CLUSTER', 'MYID'))));
    const from = (await Promise.all(clients.map(async (client) => Number(await client.call('CLUSTER', 'COUNTKEYSINSLOT', slot))))).findIndex((count) => count > 0);
    const to = (from + 1) % clients.length;
    // The slot is moving and this key has already left: its owner answers ASK, naming a node that hangs.
    await clients[from].del(key);
    await clients[to].call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', ids[from]);
    await clients[from].call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', ids[to]);
    cluster.nodes[to].pause();

    const read = await cache.readThrough({ key, load: async () => 'from Postgres' });
    await sleep(500);
    cluster.nodes[to].resume();

    expect(read).toEqual({ value: 'from Postgres', status: 'BYPASS' });
    expect(unhandled.map(String)).toEqual([]);
    for (const client of [clients[from], clients[to]]) await client.call('CLUSTER', 'SETSLOT', slot, 'STABLE');
  } finally {
    process.off('unhandledRejection', onUnhandled);
    cluster.nodes.forEach((node) => node.resume());
    for (const client of clients) client.disconnect();
  }
}, 60_000);

it('an invalidation that failed while its primary was dead is applied on the promoted replica by the writer\'s next operations on other keys, without a new write to it', async () => {
  const cluster = await startRedisCluster(3, { replicas: 1, nodeTimeoutMs: 1000, requireFullCoverage: false });
  const layer = loadLayerInstance({
    REDIS_URL: cluster.url,
    REDIS_CLUSTER_MODE: 'true',
    REDIS_COMMAND_TIMEOUT_MS: '200',
    REDIS_CONNECT_TIMEOUT_MS: '500',
    REDIS_INVALIDATION_REPLICAS: '1',
    REDIS_INVALIDATION_WAIT_MS: '50',
  });
  const cache = layer.shared.getCacheService();
  const keys = ['{a}:k', '{b}:k', '{c}:k', '{d}:k', '{e}:k', '{f}:k'];
  for (const key of keys) await cache.readThrough({ key, load: async () => `old value of ${key}` });
  // A write invalidates (so the confirming client knows the nodes), then the node of one key dies.
  expect(await cache.delete(keys[1])).toBe(true);
  await cache.readThrough({ key: keys[1], load: async () => `old value of ${keys[1]}` });
  const seed = new Redis(cluster.url);
  const portOf = async (key: string) => {
    const slot = Number(await seed.call('CLUSTER', 'KEYSLOT', key));
    const shards = (await seed.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
    return shards.find(([from, to]) => slot >= from && slot <= to)![2][1];
  };
  const victimPort = await portOf(keys[0]);
  const others = [];
  for (const key of keys) if ((await portOf(key)) !== victimPort) others.push(key);
  await cluster.nodes.find((node) => node.port === victimPort)!.kill();

  expect(await cache.delete(keys[0])).toBe(false);
  // Its replica takes over (the node timeout, 1 s, and the election).
  let promotedPort = victimPort;
  for (let i = 0; i < 100 && promotedPort === victimPort; i += 1) {
    await sleep(100);
    promotedPort = await portOf(keys[0]).catch(() => victimPort);
  }
  expect(promotedPort).not.toBe(victimPort);
  const promoted = new Redis(cluster.nodes.find((node) => node.port === promotedPort)!.url);
  expect(await promoted.exists(keys[0])).toBe(1);

  // The writer keeps serving other keys; its pending DEL reaches the promoted node meanwhile.
  const deadline = Date.now() + 10_000;
  while (cache.pendingInvalidations > 0 && Date.now() < deadline) {
    for (const key of others) await cache.readThrough({ key, load: async () => 'from Postgres' });
    await sleep(50);
  }
  expect(cache.pendingInvalidations).toBe(0);
  expect(await promoted.exists(keys[0])).toBe(0);
  promoted.disconnect();
  seed.disconnect();
}, 60_000);
