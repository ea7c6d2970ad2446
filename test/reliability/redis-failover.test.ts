/**
 * A Redis failover behind the primary endpoint (docs/api.md#cache-contract): the endpoint's DNS
 * name now gives the new primary, but warm containers stay connected to the old one, which was
 * demoted and answers every write with READONLY. Emulated locally: a TCP proxy (the endpoint)
 * in front of two redis-servers; new connections follow the retarget, open ones do not. The same
 * layer copy must write again within seconds, without a restart, and no request fails.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { newUserId } from '../support/handlers';
import { closeAllLayerInstances, loadLayerInstance } from './support/layer-instance';
import { freePort, startRedisServer, stopAllRedisServers } from './support/redis-server';
import { TcpProxy } from './support/tcp-proxy';

const proxies: TcpProxy[] = [];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A primary and its replica, in sync (the primary starts a replica's sync at once, not after the default 5 s). */
async function primaryAndReplica() {
  const [first, second] = [await startRedisServer({ args: ['--repl-diskless-sync-delay', '0'] }), await startRedisServer({ args: ['--repl-diskless-sync-delay', '0'] })];
  const [a, b] = [new Redis(first.url), new Redis(second.url)];
  await b.replicaof('127.0.0.1', String(first.port));
  for (let i = 0; i < 100 && !(await b.info('replication')).includes('master_link_status:up'); i += 1) await sleep(50);
  return { first, second, a, b };
}

/**
 * A primary and its replica behind a "primary endpoint" (a TCP proxy that a failover retargets),
 * and a layer copy that asks a replica to confirm each invalidation.
 */
async function confirmingLayerBehindEndpoint(env: Readonly<Record<string, string>> = {}) {
  const servers = await primaryAndReplica();
  const endpoint = new TcpProxy(await freePort(), { host: '127.0.0.1', port: servers.first.port });
  proxies.push(endpoint);
  await endpoint.listen();
  const layer = loadLayerInstance({
    REDIS_URL: `redis://127.0.0.1:${endpoint.port}`,
    REDIS_COMMAND_TIMEOUT_MS: '200',
    REDIS_CONNECT_TIMEOUT_MS: '300',
    REDIS_INVALIDATION_REPLICAS: '1',
    REDIS_INVALIDATION_WAIT_MS: '50',
    ...env,
  });
  return { ...servers, endpoint, layer };
}

afterAll(async () => {
  await closeAllLayerInstances();
  await Promise.all(proxies.map((proxy) => proxy.close()));
  await stopAllRedisServers();
});

it('after a failover demotes the node a container is connected to, it reconnects on READONLY and writes to the new primary within seconds, with no 5xx', async () => {
  // Prepare: a primary and its replica, the "primary endpoint" in front of the primary.
  const [first, second] = [await startRedisServer(), await startRedisServer()];
  const [a, b] = [new Redis(first.url), new Redis(second.url)];
  await b.replicaof('127.0.0.1', String(first.port));
  const endpoint = new TcpProxy(await freePort(), { host: '127.0.0.1', port: first.port });
  proxies.push(endpoint);
  await endpoint.listen();
  const layer = loadLayerInstance({ REDIS_URL: `redis://127.0.0.1:${endpoint.port}`, REDIS_COMMAND_TIMEOUT_MS: '200', REDIS_CONNECT_TIMEOUT_MS: '300' });
  const userId = newUserId();
  const sent = await layer.api.sendMessage(userId, 'before the failover');
  expect((await layer.api.getConversation(sent.conversationId, userId)).headers['x-cache']).toBe('MISS');
  expect((await layer.api.getConversation(sent.conversationId, userId)).headers['x-cache']).toBe('HIT');

  // Act: the failover — the replica is promoted, the endpoint names it, the old primary follows it.
  await b.replicaof('NO', 'ONE');
  endpoint.retarget({ host: '127.0.0.1', port: second.port });
  await a.replicaof('127.0.0.1', String(second.port));
  const failedOverAt = Date.now();
  const statuses: number[] = [];
  let writableAfterMs: number | undefined;
  const historyKey = `${process.env.CACHE_KEY_PREFIX}conv:${sent.conversationId}:history`;
  while (Date.now() - failedOverAt < 10_000) {
    // A rename invalidates (a write); the GET after it refills the cache (a write) on the node it is connected to.
    const renamed = await layer.api.patchConversation(sent.conversationId, { title: `renamed ${randomUUID()}` }, userId);
    const read = await layer.api.getConversation(sent.conversationId, userId);
    statuses.push(renamed.statusCode, read.statusCode);
    if (await b.exists(historyKey)) {
      writableAfterMs = Date.now() - failedOverAt;
      break;
    }
    await sleep(100);
  }

  // Assess: writes land on the new primary within seconds, and nothing failed meanwhile.
  console.log(`[reliability] redis failover: writes on the new primary ${writableAfterMs} ms after it, ${statuses.length} requests, statuses ${[...new Set(statuses)]}`);
  expect(writableAfterMs).toBeDefined();
  expect(writableAfterMs).toBeLessThan(5000);
  expect(statuses.filter((status) => status !== 200)).toEqual([]);
  const hit = await layer.api.getConversation(sent.conversationId, userId);
  expect(hit.headers['x-cache']).toBe('HIT');
  a.disconnect();
  b.disconnect();
}, 30_000);

it('an invalidation a replica has not acknowledged is retried until it has: a failover right after the write serves no stale body', async () => {
  // Prepare: a primary and its replica behind the endpoint; the detail cached on both.
  const { first, second, a, b, endpoint, layer } = await confirmingLayerBehindEndpoint({ REDIS_INVALIDATION_RETRY_MS: '3000' });
  const userId = newUserId();
  const sent = await layer.api.sendMessage(userId, 'before the failover');
  await layer.api.getConversation(sent.conversationId, userId);
  const historyKey = `${process.env.CACHE_KEY_PREFIX}conv:${sent.conversationId}:history`;
  for (let i = 0; i < 50 && !(await b.exists(historyKey)); i += 1) await sleep(20);
  expect(await b.exists(historyKey)).toBe(1);

  // Act: the replica stalls while the rename invalidates; it catches up 400 ms later; right after
  // the rename answers, the primary dies and the replica takes over.
  second.pause();
  const renameStarted = Date.now();
  const resumed = sleep(400).then(() => second.resume());
  const renamed = await layer.api.patchConversation(sent.conversationId, { title: 'renamed before the failover' }, userId);
  const renameMs = Date.now() - renameStarted;
  await first.kill();
  await resumed;
  await b.replicaof('NO', 'ONE');
  endpoint.retarget({ host: '127.0.0.1', port: second.port });

  // Assess: the rename waited for the replica, so the promoted replica has no old body to serve.
  expect(renamed.statusCode).toBe(200);
  expect(renameMs).toBeGreaterThanOrEqual(350);
  expect(await b.exists(historyKey)).toBe(0);
  let read = await layer.api.getConversation(sent.conversationId, userId);
  for (let i = 0; i < 30 && read.headers['x-cache'] === 'BYPASS'; i += 1) {
    await sleep(100);
    read = await layer.api.getConversation(sent.conversationId, userId);
  }
  expect(read.json.title).toBe('renamed before the failover');
  a.disconnect();
  b.disconnect();
}, 30_000);

it('with no replica to confirm them (down, or resyncing after a failover), invalidations still apply on the primary: one write waits its retry window, later ones do not, the cache keeps serving, and they are confirmed once a replica is back', async () => {
  const { first, second, a } = await primaryAndReplica();
  const layer = loadLayerInstance({
    REDIS_URL: first.url,
    REDIS_COMMAND_TIMEOUT_MS: '500',
    REDIS_INVALIDATION_REPLICAS: '1',
    REDIS_INVALIDATION_WAIT_MS: '50',
    REDIS_INVALIDATION_RETRY_MS: '1500',
  });
  const cache = layer.shared.getCacheService();
  const [written, writtenNext, read] = ['unconfirmed:1', 'unconfirmed:2', 'unconfirmed:read'];
  for (const key of [written, writtenNext]) await cache.readThrough({ key, load: async () => `old ${key}` });
  await second.kill();
  const errorsBefore = layer.shared.redisStats.errors;

  let started = performance.now();
  expect(await cache.delete(written)).toBe(true);
  const firstWriteMs = performance.now() - started;
  started = performance.now();
  expect(await cache.delete(writtenNext)).toBe(true);
  const nextWriteMs = performance.now() - started;
  const statuses = [(await cache.readThrough({ key: read, load: async () => 'loaded' })).status, (await cache.readThrough({ key: read, load: async () => 'loaded' })).status];

  console.log(`[reliability] no replica: first write ${firstWriteMs.toFixed(0)} ms (retry window 1500), next ${nextWriteMs.toFixed(0)} ms; reads ${statuses.join(', ')}`);
  expect(await a.exists(written, writtenNext)).toBe(0);
  expect(firstWriteMs).toBeGreaterThanOrEqual(1000);
  expect(nextWriteMs).toBeLessThan(500);
  expect(statuses).toEqual(['MISS', 'HIT']);
  expect(layer.shared.redisStats.errors - errorsBefore).toBe(0);
  expect(cache.pendingInvalidations).toBe(0);
  expect(cache.unconfirmedInvalidations).toBe(2);

  // A replica again (as ElastiCache's replacement node): the next re-deletes are confirmed.
  const replacement = await startRedisServer({ args: ['--replicaof', '127.0.0.1', String(first.port)] });
  const replica = new Redis(replacement.url);
  for (let i = 0; i < 100 && !(await replica.info('replication')).includes('master_link_status:up'); i += 1) await sleep(50);
  const deadline = Date.now() + 20_000;
  while (cache.unconfirmedInvalidations > 0 && Date.now() < deadline) {
    await cache.readThrough({ key: read, load: async () => 'loaded' });
    await sleep(100);
  }
  expect(cache.unconfirmedInvalidations).toBe(0);
  replica.disconnect();
}, 40_000);

it('an invalidation a failover lost (the replica never got it, its primary died) is deleted again on the promoted node by the writer container, with no new write', async () => {
  const { first, second, a, b, endpoint, layer } = await confirmingLayerBehindEndpoint();
  const cache = layer.shared.getCacheService();
  const key = `lost-del:${randomUUID()}`;
  await cache.readThrough({ key, load: async () => 'old body' });
  for (let i = 0; i < 50 && !(await b.exists(key)); i += 1) await sleep(20);

  // The replica stops and its link is cut: the DEL reaches only the primary, which then dies.
  second.pause();
  await a.call('CLIENT', 'KILL', 'TYPE', 'replica');
  expect(await cache.delete(key)).toBe(true);
  expect(cache.unconfirmedInvalidations).toBe(1);
  await first.kill();
  second.resume();
  await b.replicaof('NO', 'ONE');
  endpoint.retarget({ host: '127.0.0.1', port: second.port });
  expect(await b.exists(key)).toBe(1);

  // Any cache operation of the container starts the re-deletes that are due.
  const deadline = Date.now() + 10_000;
  while ((await b.exists(key)) === 1 && Date.now() < deadline) {
    await cache.readThrough({ key: `lost-del:other:${randomUUID()}`, load: async () => 'other' });
    await sleep(100);
  }
  expect(await b.exists(key)).toBe(0);
  a.disconnect();
  b.disconnect();
}, 30_000);
