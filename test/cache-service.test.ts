import { randomUUID } from 'node:crypto';
import { CacheService, cacheKeys, cacheStats, closeRedis } from '@chatbot/shared';
import { rawRedis, runPrefix } from './support/redis';

const redis = rawRedis();
const prefix = `${runPrefix()}cache-service:`;
const cache = new CacheService({ enabled: true, keyPrefix: prefix, ttlSeconds: 600 });
const key = () => `k:${randomUUID()}`;

afterAll(async () => {
  await closeRedis();
  redis.disconnect();
});

describe('CacheService on a real Redis', () => {
  it('keeps the contract key names, prefixed only by the configured prefix', () => {
    expect(cacheKeys.conversationHistory('c1')).toBe('conv:c1:history');
    expect(cacheKeys.conversationList('u1')).toBe('user:u1:conversation_list');
    expect(cacheKeys.chatContext('c1')).toBe('chat:c1:context');
    expect(new CacheService({ enabled: true, keyPrefix: '', ttlSeconds: 600 }).fullKey('conv:c1:history')).toBe('conv:c1:history');
  });

  it('sets with a TTL, gets, and deletes', async () => {
    const k = key();
    expect(await cache.get(k)).toBeNull();
    expect(await cache.set(k, 'value', 600)).toBe(true);
    expect(await cache.get(k)).toBe('value');
    const ttl = await redis.ttl(prefix + k);
    expect(ttl).toBeGreaterThan(590);
    expect(ttl).toBeLessThanOrEqual(600);
    expect(await cache.delete(k)).toBe(true);
    expect(await redis.exists(prefix + k)).toBe(0);
  });

  it('deletes several keys in one call', async () => {
    const [a, b] = [key(), key()];
    await cache.set(a, '1');
    await cache.set(b, '2');
    expect(await cache.delete(a, b)).toBe(true);
    expect(await redis.exists(prefix + a, prefix + b)).toBe(0);
  });

  describe('readThrough', () => {
    it('misses, loads, fills with the TTL, then hits with the identical string', async () => {
      const k = key();
      const body = JSON.stringify({ hello: 'wörld', n: [1, 2, 3] });
      const load = jest.fn(async () => body);
      const first = await cache.readThrough({ key: k, load });
      expect(first).toEqual({ value: body, status: 'MISS' });
      expect(await redis.get(prefix + k)).toBe(body);
      const ttl = await redis.ttl(prefix + k);
      expect(ttl).toBeGreaterThan(590);
      expect(ttl).toBeLessThanOrEqual(600);
      const second = await cache.readThrough({ key: k, load });
      expect(second).toEqual({ value: body, status: 'HIT' });
      expect(load).toHaveBeenCalledTimes(1);
    });

    it('does not cache a null load', async () => {
      const k = key();
      expect(await cache.readThrough({ key: k, load: async () => null })).toEqual({ value: null, status: 'MISS' });
      expect(await cache.get(k)).toBeNull();
    });

    it('keeps many fields under one key with a TTL, and one DEL drops them all', async () => {
      const k = key();
      await cache.readThrough({ key: k, field: '0:20', load: async () => 'page-1' });
      await cache.readThrough({ key: k, field: '20:20', load: async () => 'page-2' });
      expect(await redis.hgetall(prefix + k)).toEqual({ '0:20': 'page-1', '20:20': 'page-2' });
      expect(await redis.ttl(prefix + k)).toBeGreaterThan(590);
      expect((await cache.readThrough({ key: k, field: '20:20', load: async () => 'other' })).status).toBe('HIT');
      await cache.delete(k);
      expect(await redis.exists(prefix + k)).toBe(0);
    });

    it('cannot leave a stale value when an invalidation lands between the load and the fill', async () => {
      // Reader misses and reads the old row; writer commits and DELs; reader then fills.
      const k = key();
      let releaseLoad!: () => void;
      const loadStarted = new Promise<void>((started) => {
        void cache.readThrough({
          key: k,
          load: () =>
            new Promise<string>((resolve) => {
              started();
              releaseLoad = () => resolve('old body');
            }),
        }).then((r) => expect(r).toEqual({ value: 'old body', status: 'MISS' }));
      });
      await loadStarted;
      await cache.delete(k); // the writer's invalidation, after its commit
      releaseLoad();
      await new Promise((r) => setTimeout(r, 50));
      expect(await redis.get(prefix + k)).toBeNull();
      // The next reader loads the new row and fills normally.
      expect(await cache.readThrough({ key: k, load: async () => 'new body' })).toEqual({ value: 'new body', status: 'MISS' });
      expect(await redis.get(prefix + k)).toBe('new body');
    });

    it('holds the same guarantee for a hash field', async () => {
      const k = key();
      let releaseLoad!: () => void;
      const read = new Promise<void>((started) => {
        void cache.readThrough({
          key: k,
          field: '0:20',
          load: () =>
            new Promise<string>((resolve) => {
              started();
              releaseLoad = () => resolve('old page');
            }),
        });
      });
      await read;
      await cache.delete(k);
      releaseLoad();
      await new Promise((r) => setTimeout(r, 50));
      expect(await redis.hget(prefix + k, '0:20')).toBeNull();
    });

    it('lets a later reader take over an abandoned lease, and the earlier reader then cannot fill', async () => {
      const k = key();
      let releaseFirst!: () => void;
      await new Promise<void>((started) => {
        void cache.readThrough({
          key: k,
          load: () =>
            new Promise<string>((resolve) => {
              started();
              releaseFirst = () => resolve('first');
            }),
        });
      });
      expect(await cache.get(k)).toBeNull(); // a lease is not a value
      expect(await cache.readThrough({ key: k, load: async () => 'second' })).toEqual({ value: 'second', status: 'MISS' });
      releaseFirst();
      await new Promise((r) => setTimeout(r, 50));
      expect(await redis.get(prefix + k)).toBe('second');
    });

    it('bypasses the cache entirely when disabled', async () => {
      const disabled = new CacheService({ enabled: false, keyPrefix: prefix, ttlSeconds: 600 });
      const k = key();
      expect(await disabled.readThrough({ key: k, load: async () => 'db' })).toEqual({ value: 'db', status: 'BYPASS' });
      expect(await redis.exists(prefix + k)).toBe(0);
    });
  });

  describe('appendToList', () => {
    const opts = { maxLength: 3, ttlSeconds: 86400 };

    it('appends, trims to the last N and sets the TTL in one call', async () => {
      const k = key();
      const before = cacheStats.commands;
      expect(await cache.appendToList(k, ['a', 'b'], opts)).toEqual(['a', 'b']);
      expect(await cache.appendToList(k, ['c', 'd', 'e'], opts)).toEqual(['c', 'd', 'e']);
      expect(cacheStats.commands - before).toBe(2);
      expect(await redis.lrange(prefix + k, 0, -1)).toEqual(['c', 'd', 'e']);
      const ttl = await redis.ttl(prefix + k);
      expect(ttl).toBeGreaterThan(86390);
      expect(ttl).toBeLessThanOrEqual(86400);
    });

    it('replaces the list on a rebuild', async () => {
      const k = key();
      await cache.appendToList(k, ['x', 'y'], opts);
      expect(await cache.appendToList(k, ['a'], { ...opts, replace: true })).toEqual(['a']);
    });

    it('appends only after the expected tail, and drops a list that continues another branch', async () => {
      const k = key();
      await cache.appendToList(k, ['{"id":"m1",...}'], opts);
      expect(await cache.appendToList(k, ['{"id":"m2",...}'], { ...opts, ifTailStartsWith: '{"id":"m1",' })).toEqual([
        '{"id":"m1",...}',
        '{"id":"m2",...}',
      ]);
      expect(await cache.appendToList(k, ['{"id":"m3",...}'], { ...opts, ifTailStartsWith: '{"id":"m1",' })).toBeNull();
      expect(await redis.exists(prefix + k)).toBe(0);
      expect(await cache.appendToList(key(), ['z'], { ...opts, ifTailStartsWith: 'anything' })).toBeNull();
    });

    it('reads the list back, null when missing', async () => {
      const k = key();
      expect(await cache.getList(k)).toBeNull();
      await cache.appendToList(k, ['a'], opts);
      expect(await cache.getList(k)).toEqual(['a']);
    });
  });
});
