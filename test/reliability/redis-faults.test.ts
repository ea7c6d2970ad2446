/**
 * docs/api.md#cache-contract rule 4 under real faults: Redis is an optimisation, never a dependency. Each test
 * owns a redis-server process it kills, pauses or fills while traffic runs through the real
 * handlers, and ends by checking that every acknowledged message is in Postgres.
 */
import { Redis } from 'ioredis';
import { newUserId } from '../support/handlers';
import { AssertionDatabase } from './support/database';
import { closeAllLayerInstances, loadLayerInstance, type Env } from './support/layer-instance';
import { AckLedger } from './support/ledger';
import { freePort, startRedisServer, stopAllRedisServers, type RedisServer } from './support/redis-server';
import { TcpProxy } from './support/tcp-proxy';
import { countBy, getChecked, postInto, seedConversations, Traffic } from './support/traffic';

const COMMAND_TIMEOUT_MS = 100;
/** Per-request bound while Redis hangs: the command timeout plus generous slack for a 2-core CI box. */
const PAUSED_REQUEST_BOUND_MS = 1000;

const db = new AssertionDatabase();
const proxies: TcpProxy[] = [];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const redisEnv = (server: RedisServer, extra: Env = {}): Env => ({
  REDIS_URL: server.url,
  REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS),
  REDIS_CONNECT_TIMEOUT_MS: '300',
  ...extra,
});

afterAll(async () => {
  await closeAllLayerInstances();
  await Promise.all(proxies.map((proxy) => proxy.close()));
  await stopAllRedisServers();
  await db.close();
});

describe('Redis faults (fail-open cache)', () => {
  it('Redis killed mid-traffic: every read is served from Postgres (BYPASS), posts complete; restarted on the same port: HIT again without a layer restart', async () => {
    const server = await startRedisServer();
    const layer = loadLayerInstance(redisEnv(server));
    const ledger = new AckLedger();
    const userId = newUserId();
    const conversations = await seedConversations(layer, ledger, userId, 3);
    for (const conversation of conversations) {
      expect((await getChecked(layer, conversation)).cache).toBe('MISS');
      expect((await getChecked(layer, conversation)).cache).toBe('HIT');
    }

    const traffic = new Traffic(layer, ledger, conversations, { readers: 3, writers: 2 });
    await sleep(400);
    const errorsBefore = layer.shared.redisStats.errors;
    await server.kill();
    const killedAt = performance.now();
    await sleep(1500);
    const restartAt = performance.now();
    await server.start();
    let firstHitAfterMs: number | undefined;
    while (firstHitAfterMs === undefined && performance.now() - restartAt < 8000) {
      const probe = await getChecked(layer, conversations[0]);
      if (probe.cache === 'HIT') firstHitAfterMs = probe.doneAt - restartAt;
      else await sleep(50);
    }
    const records = await traffic.stop();

    const down = records.filter((r) => r.issuedAt > killedAt && r.doneAt < restartAt);
    const downReads = down.filter((r) => r.kind !== 'post');
    const downPosts = down.filter((r) => r.kind === 'post');
    console.log(
      `[reliability] redis killed: ${records.length} requests (${JSON.stringify(countBy(records, (r) => `${r.kind}:${r.statusCode}:${r.cache ?? '-'}`))}); ` +
        `while down: ${downReads.length} reads, ${downPosts.length} posts; first HIT ${firstHitAfterMs?.toFixed(0)} ms after restart; cache errors counted: ${layer.shared.redisStats.errors - errorsBefore}`,
    );
    expect(records.filter((r) => r.statusCode !== 200)).toEqual([]);
    expect(records.filter((r) => r.missing && r.missing.length > 0)).toEqual([]);
    expect(downReads.length).toBeGreaterThanOrEqual(20);
    expect(downPosts.length).toBeGreaterThanOrEqual(1);
    expect(downReads.filter((r) => r.cache !== 'BYPASS')).toEqual([]);
    expect(layer.shared.redisStats.errors).toBeGreaterThan(errorsBefore);
    expect(firstHitAfterMs).toBeDefined();
    expect(firstHitAfterMs).toBeLessThan(5000);
    expect(await ledger.lost(db)).toEqual([]);
  });

  it('Redis paused (SIGSTOP): every request answers within the command timeout plus slack, fresh; resumed: fresh bodies, then HIT', async () => {
    const server = await startRedisServer();
    const layer = loadLayerInstance(redisEnv(server));
    const ledger = new AckLedger();
    const userId = newUserId();
    const [warm, other] = await seedConversations(layer, ledger, userId, 2);
    await getChecked(layer, warm);
    expect((await getChecked(layer, warm)).cache).toBe('HIT');

    server.pause();
    const latencies: { kind: string; ms: number; status: number; cache?: string; missing?: readonly string[] }[] = [];
    try {
      for (let i = 0; i < 5; i += 1) {
        for (const conversation of [warm, other]) {
          const read = await getChecked(layer, conversation);
          latencies.push({ kind: 'get', ms: read.doneAt - read.issuedAt, status: read.statusCode, cache: read.cache, missing: read.missing });
        }
        const started = performance.now();
        const list = await layer.api.listConversations(userId);
        latencies.push({ kind: 'list', ms: performance.now() - started, status: list.statusCode, cache: list.headers['x-cache'] });
        if (i < 3) {
          const post = await postInto(layer, ledger, warm, `while paused ${i}`);
          latencies.push({ kind: 'post', ms: post.ms, status: post.statusCode });
        }
      }
      const parallel = await Promise.all(Array.from({ length: 10 }, (_, i) => getChecked(layer, i % 2 ? warm : other)));
      for (const read of parallel) latencies.push({ kind: 'get', ms: read.doneAt - read.issuedAt, status: read.statusCode, cache: read.cache, missing: read.missing });
    } finally {
      server.resume();
    }

    const reads = latencies.filter((l) => l.kind !== 'post');
    const posts = latencies.filter((l) => l.kind === 'post');
    console.log(
      `[reliability] redis paused: ${reads.length} reads (max ${Math.max(...reads.map((l) => l.ms)).toFixed(0)} ms), ` +
        `${posts.length} posts (max ${Math.max(...posts.map((l) => l.ms)).toFixed(0)} ms) with REDIS_COMMAND_TIMEOUT_MS=${COMMAND_TIMEOUT_MS}`,
    );
    expect(latencies.filter((l) => l.status !== 200)).toEqual([]);
    expect(reads.filter((l) => l.ms >= PAUSED_REQUEST_BOUND_MS)).toEqual([]);
    expect(reads.filter((l) => l.cache !== 'BYPASS')).toEqual([]);
    expect(reads.filter((l) => l.missing && l.missing.length > 0)).toEqual([]);
    // A post makes about four sequential Redis round trips (invalidate, context, reply context + invalidate).
    expect(posts.filter((l) => l.ms >= 4 * COMMAND_TIMEOUT_MS + PAUSED_REQUEST_BOUND_MS)).toEqual([]);

    // Commands that timed out were still delivered, in order, once Redis resumed: no stale body survives.
    const resumedAt = performance.now();
    let hit = false;
    while (!hit && performance.now() - resumedAt < 5000) {
      const read = await getChecked(layer, warm);
      expect(read.statusCode).toBe(200);
      expect(read.missing).toEqual([]);
      hit = read.cache === 'HIT';
    }
    expect(hit).toBe(true);
    expect(await ledger.lost(db)).toEqual([]);
  });

  it('Redis full (maxmemory 1mb, noeviction): writes fail open, reads are served and fresh, nothing is lost', async () => {
    const server = await startRedisServer({ args: ['--maxmemory', '4mb', '--maxmemory-policy', 'noeviction'] });
    const layer = loadLayerInstance(redisEnv(server));
    const ledger = new AckLedger();
    const userId = newUserId();
    const [warm, other] = await seedConversations(layer, ledger, userId, 2);
    await getChecked(layer, warm);
    expect((await getChecked(layer, warm)).cache).toBe('HIT');

    // Fill it: lower the limit under what is used, so every write is refused from now on.
    const filler = new Redis(server.url, { maxRetriesPerRequest: 0 });
    try {
      const junk = 'x'.repeat(16 * 1024);
      for (let i = 0; i < 64; i += 1) await filler.set(`junk:${i}`, junk);
      await filler.config('SET', 'maxmemory', '1mb');
      await expect(filler.set('probe', 'value')).rejects.toThrow(/OOM/);

      const errorsBefore = layer.shared.redisStats.errors;
      const records = [];
      for (let i = 0; i < 4; i += 1) {
        const post = await postInto(layer, ledger, i % 2 ? other : warm, `while full ${i}`);
        expect(post.statusCode).toBe(200);
        for (const conversation of [warm, other]) records.push(await getChecked(layer, conversation));
        const list = await layer.api.listConversations(userId);
        expect(list.statusCode).toBe(200);
        expect(list.json.items.map((item: { id: string }) => item.id).sort()).toEqual([warm.id, other.id].sort());
      }
      console.log(
        `[reliability] redis full: ${records.length} reads ${JSON.stringify(countBy(records, (r) => `${r.statusCode}:${r.cache}`))}, ` +
          `4 posts, cache errors counted: ${layer.shared.redisStats.errors - errorsBefore}`,
      );
      expect(records.filter((r) => r.statusCode !== 200 || (r.missing ?? []).length > 0)).toEqual([]);
      expect(records.some((r) => r.cache === 'BYPASS')).toBe(true);
      expect(layer.shared.redisStats.errors).toBeGreaterThan(errorsBefore);
      expect(await filler.exists('probe')).toBe(0);

      // Room again: the cache fills and hits without a restart.
      await filler.config('SET', 'maxmemory', '0');
      await getChecked(layer, warm);
      const again = await getChecked(layer, warm);
      expect(again.cache).toBe('HIT');
      expect(again.missing).toEqual([]);
    } finally {
      filler.disconnect();
    }
    expect(await ledger.lost(db)).toEqual([]);
  });

  it('a network partition that swallows the invalidating DEL: once Redis is reachable again, the pre-write body is not served', async () => {
    // Redis keeps its data (unlike a kill); only the path to it breaks while a message is posted.
    const server = await startRedisServer();
    const proxy = new TcpProxy(await freePort(), { host: '127.0.0.1', port: server.port });
    proxies.push(proxy);
    await proxy.listen();
    const layer = loadLayerInstance({ ...redisEnv(server), REDIS_URL: `redis://127.0.0.1:${proxy.port}` });
    const ledger = new AckLedger();
    const userId = newUserId();
    const [conversation] = await seedConversations(layer, ledger, userId, 1);
    await getChecked(layer, conversation);
    expect((await getChecked(layer, conversation)).cache).toBe('HIT');

    await proxy.setMode('blackhole');
    const post = await postInto(layer, ledger, conversation, 'posted during the partition');
    expect(post.statusCode).toBe(200);
    const duringPartition = await getChecked(layer, conversation);
    expect(duringPartition.missing).toEqual([]);
    // The partition ends by dropping the connections: bytes still in flight (the DEL) are lost.
    await proxy.setMode('refuse');
    await proxy.setMode('forward');

    const healedAt = performance.now();
    const reads = [];
    while (performance.now() - healedAt < 3000) {
      const read = await getChecked(layer, conversation);
      reads.push(read);
      if (read.cache === 'HIT' || read.missing?.length) break;
      await sleep(50);
    }
    console.log(`[reliability] redis partition: reads after healing ${JSON.stringify(reads.map((r) => `${r.cache}${r.missing?.length ? ' STALE' : ''}`))}`);
    expect(reads.at(-1)?.cache).toBe('HIT');
    expect(reads.filter((r) => r.statusCode !== 200 || (r.missing ?? []).length > 0)).toEqual([]);
    expect(await ledger.lost(db)).toEqual([]);
  });

  it('a partition during a rename and a delete: both succeed in Postgres, and after healing neither the old title nor the deleted conversation is served', async () => {
    // Prepare
    const server = await startRedisServer();
    const proxy = new TcpProxy(await freePort(), { host: '127.0.0.1', port: server.port });
    proxies.push(proxy);
    await proxy.listen();
    const layer = loadLayerInstance({ ...redisEnv(server), REDIS_URL: `redis://127.0.0.1:${proxy.port}` });
    const ledger = new AckLedger();
    const userId = newUserId();
    const [renamed, deleted] = await seedConversations(layer, ledger, userId, 2);
    for (const conversation of [renamed, deleted]) {
      await getChecked(layer, conversation);
      expect((await getChecked(layer, conversation)).cache).toBe('HIT');
    }
    const failedBefore = layer.shared.redisStats.errors;

    // Act
    await proxy.setMode('blackhole');
    const rename = await layer.api.patchConversation(renamed.id, { title: 'renamed in a partition' }, userId);
    const remove = await layer.api.patchConversation(deleted.id, { is_visible: false }, userId);
    const duringRename = await layer.api.getConversation(renamed.id, userId);
    const duringDelete = await layer.api.getConversation(deleted.id, userId);
    await proxy.setMode('refuse');
    await proxy.setMode('forward');
    const healedAt = performance.now();
    const reads: string[] = [];
    let renamedRead;
    do {
      renamedRead = await layer.api.getConversation(renamed.id, userId);
      reads.push(`${renamedRead.headers['x-cache']} ${renamedRead.json.title}`);
      if (renamedRead.headers['x-cache'] !== 'BYPASS') break;
      await sleep(50);
    } while (performance.now() - healedAt < 3000);
    const deletedRead = await layer.api.getConversation(deleted.id, userId);

    // Assess
    console.log(`[reliability] lifecycle during a partition: reads after healing ${JSON.stringify(reads)}`);
    expect(rename.statusCode).toBe(200);
    expect(remove.statusCode).toBe(200);
    expect(duringRename.json.title).toBe('renamed in a partition');
    expect(duringDelete.statusCode).toBe(404);
    expect(layer.shared.redisStats.errors).toBeGreaterThan(failedBefore);
    expect(renamedRead.headers['x-cache']).not.toBe('BYPASS');
    expect(renamedRead.json.title).toBe('renamed in a partition');
    expect(deletedRead.statusCode).toBe(404);
    expect(await db.conversationTitle(renamed.id)).toBe('renamed in a partition');
  });
});
