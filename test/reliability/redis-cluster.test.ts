/**
 * docs/api.md#cache-contract rule 6: the cache works unchanged on cluster-mode Redis (ElastiCache Serverless is
 * cluster mode). A local 3-primary cluster; the same flows run against it and against the
 * standalone test Redis must give the same results, with no cache error (a CROSSSLOT reply
 * would be one) and keys spread over the nodes.
 */
import { randomUUID } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { newUserId } from '../support/handlers';
import { runPrefix } from '../support/redis';
import { closeAllLayerInstances, loadLayerInstance, type LayerInstance } from './support/layer-instance';
import { AckLedger } from './support/ledger';
import { AssertionDatabase } from './support/database';
import { startRedisCluster, stopAllRedisServers, type RedisClusterHandle } from './support/redis-server';

const db = new AssertionDatabase();
let cluster: RedisClusterHandle;
let clusterClient: Cluster;
let standaloneClient: Redis;

beforeAll(async () => {
  cluster = await startRedisCluster(3);
  clusterClient = new Cluster([{ host: '127.0.0.1', port: cluster.nodes[0].port }], { redisOptions: { maxRetriesPerRequest: 1 } });
  standaloneClient = new Redis(process.env.REDIS_URL as string, { maxRetriesPerRequest: 1 });
}, 30_000);

afterAll(async () => {
  await closeAllLayerInstances();
  clusterClient?.disconnect();
  standaloneClient?.disconnect();
  await stopAllRedisServers();
  await db.close();
});

type Client = Redis | Cluster;

/** Runs every cache-touching flow and returns what a client (and ops) would observe, ids normalised. */
async function runFlows(layer: LayerInstance, client: Client): Promise<unknown[]> {
  const transcript: unknown[] = [];
  const ledger = new AckLedger();
  const userId = newUserId();
  const prefix = runPrefix();
  const note = (step: string, value: unknown) => transcript.push([step, value]);

  // Post (new conversation), detail miss then hit, list miss then hit.
  const first = await ledger.post(layer, userId, 'What is a hash slot?');
  note('post new', first.statusCode);
  const conversationId = first.turn!.conversationId;
  const miss = await layer.api.getConversation(conversationId, userId);
  const hit = await layer.api.getConversation(conversationId, userId);
  note('detail', [miss.statusCode, miss.headers['x-cache'], hit.headers['x-cache'], hit.body === miss.body]);
  note('detail texts', Object.values(miss.json.mapping).map((node: any) => node.message?.content?.parts?.[0] ?? null)); // eslint-disable-line @typescript-eslint/no-explicit-any
  note('detail ttl', (await client.ttl(`${prefix}conv:${conversationId}:history`)) > 590);
  const listMiss = await layer.api.listConversations(userId);
  const listHit = await layer.api.listConversations(userId, { offset: '0', limit: '20' });
  const otherPage = await layer.api.listConversations(userId, { offset: '0', limit: '5' });
  note('list', [listMiss.headers['x-cache'], listHit.headers['x-cache'], otherPage.headers['x-cache'], listMiss.json.total, listMiss.json.items.length]);

  // A second message invalidates the detail and the list.
  const second = await ledger.post(layer, userId, 'And how many are there?', { conversationId, parentMessageId: first.turn!.assistantMessageId });
  note('post next', second.statusCode);
  const afterWrite = await layer.api.getConversation(conversationId, userId);
  note('after write', [afterWrite.headers['x-cache'], afterWrite.json.current_node === second.turn!.assistantMessageId, Object.keys(afterWrite.json.mapping).length]);
  note('list after write', (await layer.api.listConversations(userId)).headers['x-cache']);

  // The context window: one list per conversation, appended by the script, rebuilt when missing.
  const contextKey = `${prefix}chat:${conversationId}:context`;
  const context = (await client.lrange(contextKey, 0, -1)).map((entry) => JSON.parse(entry) as { role: string; content: string });
  note('context', context.map((entry) => entry.role));
  note('context ttl', (await client.ttl(contextKey)) > 86_000);
  await client.del(contextKey);
  const third = await ledger.post(layer, userId, 'Thanks', { conversationId, parentMessageId: second.turn!.assistantMessageId });
  note('post after context loss', third.statusCode);
  note('context rebuilt', (await client.lrange(contextKey, 0, -1)).map((entry) => (JSON.parse(entry) as { role: string }).role));

  // The cache service itself: multi-key delete across slots, hash fields, list append.
  const cache = layer.shared.getCacheService();
  const keys = Array.from({ length: 6 }, () => `reliability:${randomUUID()}`);
  for (const key of keys) await cache.readThrough({ key, load: async () => key });
  note('fill/hit', await Promise.all(keys.map(async (key) => (await cache.readThrough({ key, load: async () => 'reloaded' })).status)));
  note('multi-key delete', await cache.delete(...keys));
  note('deleted', await Promise.all(keys.map(async (key) => (await cache.readThrough({ key, load: async () => null })).status)));
  // A compressed value (above the 4 KiB threshold) round-trips through the cluster as bytes.
  const big = `{"n":"${'x'.repeat(10_000)}"}`;
  const bigKey = `reliability:${randomUUID()}`;
  await cache.readThrough({ key: bigKey, load: async () => big });
  note('compressed hit', (await cache.readThrough({ key: bigKey, load: async () => null })).value === big);
  const hashKey = `reliability:${randomUUID()}`;
  const loads: string[] = [];
  for (const field of ['0:20', '20:20', '0:20']) {
    const result = await cache.readThrough({ key: hashKey, field, load: async () => (loads.push(field), `page ${field}`) });
    note(`readThrough ${field}`, [result.status, result.value]);
  }
  note('loads', loads);
  const listKey = `reliability:${randomUUID()}`;
  const { appendToList } = layer.shared;
  note('append', await appendToList(listKey, ['a', 'b', 'c'], { maxLength: 2, ttlSeconds: 60, replace: true }));
  note('append if-tail', await appendToList(listKey, ['d'], { maxLength: 2, ttlSeconds: 60, ifTailStartsWith: 'c' }));
  note('append tail mismatch', await appendToList(listKey, ['e'], { maxLength: 2, ttlSeconds: 60, ifTailStartsWith: 'zzz' }));

  note('nothing lost', await ledger.lost(db));
  return transcript;
}

describe('Redis Cluster mode', () => {
  it('runs every flow with no cache error, the same results as standalone, and keys on several nodes', async () => {
    const standalone = loadLayerInstance();
    const clustered = loadLayerInstance({ REDIS_URL: cluster.url, REDIS_CLUSTER_MODE: 'true' });

    const expected = await runFlows(standalone, standaloneClient);
    const actual = await runFlows(clustered, clusterClient);

    expect(clustered.shared.redisStats.errors).toBe(0);
    expect(clustered.shared.redisStats.commands).toBeGreaterThan(20);
    expect(actual).toEqual(expected);
    // Spot-check the standalone transcript is the behaviour we mean, not a shared failure.
    expect(expected).toContainEqual(['detail', [200, 'MISS', 'HIT', true]]);
    expect(expected).toContainEqual(['context', ['user', 'assistant', 'user', 'assistant']]);
    expect(expected).toContainEqual(['context rebuilt', ['user', 'assistant', 'user', 'assistant', 'user', 'assistant']]);
    expect(expected).toContainEqual(['multi-key delete', true]);

    // A few more conversations, each read once, so the keys outlive the flows' invalidations.
    const ledger = new AckLedger();
    const userId = newUserId();
    for (let i = 0; i < 6; i += 1) {
      const { turn } = await ledger.post(clustered, userId, `spread ${i}`);
      expect((await clustered.api.getConversation(turn!.conversationId, userId)).headers['x-cache']).toBe('MISS');
    }
    expect(clustered.shared.redisStats.errors).toBe(0);
    const keysPerNode = cluster.nodes.map((node) => node.cli('--scan', '--pattern', `${runPrefix()}*`).split('\n').filter(Boolean).length);
    console.log(`[reliability] redis cluster: ${clustered.shared.redisStats.commands} commands, 0 errors; keys per node ${JSON.stringify(keysPerNode)}`);
    expect(keysPerNode.filter((count) => count > 0).length).toBeGreaterThanOrEqual(2);
  });
});
