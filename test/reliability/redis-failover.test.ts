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
  const { first, second, a, b } = await primaryAndReplica();
  const endpoint = new TcpProxy(await freePort(), { host: '127.0.0.1', port: first.port });
  proxies.push(endpoint);
  await endpoint.listen();
  const layer = loadLayerInstance({
    REDIS_URL: `redis://127.0.0.1:${endpoint.port}`,
    REDIS_COMMAND_TIMEOUT_MS: '200',
    REDIS_CONNECT_TIMEOUT_MS: '300',
    REDIS_INVALIDATION_REPLICAS: '1',
    REDIS_INVALIDATION_WAIT_MS: '50',
    REDIS_INVALIDATION_RETRY_MS: '3000',
  });
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
