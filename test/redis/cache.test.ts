import { randomUUID } from 'node:crypto';
import { appendToList, CacheService, closeRedis, readList, redisKeys, redisStats } from '@chatbot/shared/testing';
import { rawRedis, runPrefix } from '../support/redis';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const redis = rawRedis();
const prefix = `${runPrefix()}cache-service:`;
const cache = new CacheService({ enabled: true, ttlSeconds: 600 });
const key = () => `${prefix}k:${randomUUID()}`;

afterAll(async () => {
  await closeRedis();
  redis.disconnect();
});

describe('CacheService on a real Redis', () => {
  it('keeps the contract key names, prefixed only by the configured prefix', () => {
    // The run's CACHE_KEY_PREFIX (test/support/global-setup.ts), and nothing else, in front of the contract's names.
    expect(redisKeys.conversationHistory('c1')).toBe(`${runPrefix()}conv:c1:history`);
    expect(redisKeys.conversationList('u1')).toBe(`${runPrefix()}user:u1:conversation_list`);
    expect(redisKeys.contextWindow('c1')).toBe(`${runPrefix()}chat:c1:context`);
    expect(redisKeys.turnLog('u1')).toBe(`${runPrefix()}user:u1:turns`);
    expect(redisKeys.replyCurrent('c1')).toBe(`${runPrefix()}stream:{c1}:current`);
  });

  it('deletes several keys in one call', async () => {
    const [a, b] = [key(), key()];
    await cache.readThrough({ key: a, load: async () => '1' });
    await cache.readThrough({ key: b, load: async () => '2' });
    expect(await redis.exists(a, b)).toBe(2);
    expect(await cache.delete(a, b)).toBe(true);
    expect(await redis.exists(a, b)).toBe(0);
  });

  it('asks replicas to confirm invalidations on a connection of its own: a read sent while a WAIT blocks is answered during it', async () => {
    // This Redis has no replica: every WAIT runs to its timeout, and blocks the connection that sent
    // it for that long (1 s here: the client gives up at its 200 ms command timeout, Redis does not).
    const confirming = new CacheService({ enabled: true, ttlSeconds: 600, invalidation: { replicas: 1, waitMs: 1000 } });
    const [written, read] = [key(), key()];
    await confirming.readThrough({ key: read, load: async () => 'cached' });
    const blockedInWait = async () => String(await redis.client('LIST')).split('\n').some((line) => / flags=\S*b\S* .* cmd=wait /.test(line));

    const deleting = confirming.delete(written);
    let blocked = false;
    for (let i = 0; i < 200 && !blocked; i += 1) blocked = await blockedInWait();
    const result = await confirming.readThrough({ key: read, load: async () => 'loaded' });
    const stillBlocked = await blockedInWait();
    await deleting;

    expect(blocked).toBe(true);
    expect(result.status).toBe('HIT');
    expect(stillBlocked).toBe(true);
    expect(confirming.unconfirmedInvalidations).toBe(1);
  });

  describe('readThrough', () => {
    it('misses, loads, fills with the TTL, then hits with the identical string', async () => {
      const k = key();
      const body = JSON.stringify({ hello: 'wörld', n: [1, 2, 3] });
      const load = jest.fn(async () => body);
      const first = await cache.readThrough({ key: k, load });
      expect(first).toEqual({ value: body, status: 'MISS' });
      expect(await redis.get(k)).toBe(body);
      const ttl = await redis.ttl(k);
      expect(ttl).toBeGreaterThan(590);
      expect(ttl).toBeLessThanOrEqual(600);
      const second = await cache.readThrough({ key: k, load });
      expect(second).toEqual({ value: body, status: 'HIT' });
      expect(load).toHaveBeenCalledTimes(1);
    });

    it('does not cache a null load', async () => {
      const k = key();
      expect(await cache.readThrough({ key: k, load: async () => null })).toEqual({ value: null, status: 'MISS' });
      expect(await redis.exists(k)).toBe(0); // not even the lease
    });

    it('keeps many fields under one key with a TTL, and one DEL drops them all', async () => {
      const k = key();
      await cache.readThrough({ key: k, field: '0:20', load: async () => 'page-1' });
      await cache.readThrough({ key: k, field: '20:20', load: async () => 'page-2' });
      expect(await redis.hgetall(k)).toEqual({ '0:20': 'page-1', '20:20': 'page-2' });
      expect(await redis.ttl(k)).toBeGreaterThan(590);
      expect((await cache.readThrough({ key: k, field: '20:20', load: async () => 'other' })).status).toBe('HIT');
      await cache.delete(k);
      expect(await redis.exists(k)).toBe(0);
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
      expect(await redis.get(k)).toBeNull();
      // The next reader loads the new row and fills normally.
      expect(await cache.readThrough({ key: k, load: async () => 'new body' })).toEqual({ value: 'new body', status: 'MISS' });
      expect(await redis.get(k)).toBe('new body');
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
      expect(await redis.hget(k, '0:20')).toBeNull();
    });

    it('lets a later reader take over an abandoned lease once it expires, and the earlier reader then cannot fill', async () => {
      const short = new CacheService({ enabled: true, ttlSeconds: 600, lease: { leaseMs: 100, waitMs: 0 } });
      const k = key();
      let releaseFirst!: () => void;
      await new Promise<void>((started) => {
        void short.readThrough({
          key: k,
          load: () =>
            new Promise<string>((resolve) => {
              started();
              releaseFirst = () => resolve('first');
            }),
        });
      });
      // While the lease is live, a reader that may not wait loads without filling.
      expect(await short.readThrough({ key: k, load: async () => 'early' })).toEqual({ value: 'early', status: 'MISS' });
      expect((await redis.get(k))?.startsWith('\u0000lease:')).toBe(true);
      await sleep(150);
      expect(await short.readThrough({ key: k, load: async () => 'second' })).toEqual({ value: 'second', status: 'MISS' });
      releaseFirst();
      await sleep(50);
      expect(await redis.get(k)).toBe('second');
    });

    it('bypasses the cache entirely when disabled', async () => {
      const disabled = new CacheService({ enabled: false, ttlSeconds: 600 });
      const k = key();
      expect(await disabled.readThrough({ key: k, load: async () => 'db' })).toEqual({ value: 'db', status: 'BYPASS' });
      expect(await redis.exists(k)).toBe(0);
    });
  });

  describe('single flight', () => {
    it('40 concurrent misses of one key cause one load; the others are served its fill as HITs', async () => {
      const k = key();
      let loads = 0;
      const load = async () => {
        loads += 1;
        await sleep(30);
        return 'the body';
      };
      const results = await Promise.all(Array.from({ length: 40 }, () => cache.readThrough({ key: k, load })));
      expect(loads).toBe(1);
      expect(results.every((r) => r.value === 'the body')).toBe(true);
      expect(results.filter((r) => r.status === 'MISS')).toHaveLength(1);
      expect(results.filter((r) => r.status === 'HIT')).toHaveLength(39);
    });

    it('does the same for a hash field, and other fields load on their own', async () => {
      const k = key();
      const loads: string[] = [];
      const load = (field: string) => async () => {
        loads.push(field);
        await sleep(20);
        return `page ${field}`;
      };
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? '0:20' : '20:20')).map((field) => cache.readThrough({ key: k, field, load: load(field) })),
      );
      expect(loads.sort()).toEqual(['0:20', '20:20']);
      expect(results.filter((r) => r.status === 'MISS')).toHaveLength(2);
    });

    it('a reader whose wait runs out loads by itself and does not fill; the lease holder fills', async () => {
      const impatient = new CacheService({ enabled: true, ttlSeconds: 600, lease: { waitMs: 20 } });
      const k = key();
      const holder = cache.readThrough({ key: k, load: () => sleep(150).then(() => 'holder') });
      await sleep(10);
      expect(await impatient.readThrough({ key: k, load: async () => 'impatient' })).toEqual({ value: 'impatient', status: 'MISS' });
      expect((await redis.get(k))?.startsWith('\u0000lease:')).toBe(true);
      expect(await holder).toEqual({ value: 'holder', status: 'MISS' });
      expect(await redis.get(k)).toBe('holder');
    });

    it('a waiting reader never gets the pre-invalidation value: after the DEL it loads the new one', async () => {
      const k = key();
      let releaseOld!: () => void;
      const started = new Promise<void>((resolve) => {
        void cache.readThrough({
          key: k,
          load: () =>
            new Promise<string>((done) => {
              resolve();
              releaseOld = () => done('old');
            }),
        });
      });
      await started;
      const waiter = cache.readThrough({ key: k, load: async () => 'new' });
      await sleep(5);
      await cache.delete(k); // the writer commits, then invalidates
      const waited = await waiter;
      releaseOld();
      await sleep(30);
      expect(waited).toEqual({ value: 'new', status: 'MISS' });
      expect(await redis.get(k)).toBe('new');
    });
  });

  describe('a failed read leaves nothing behind', () => {
    it('releases the lease of a string key when the load throws', async () => {
      const k = key();
      await expect(cache.readThrough({ key: k, load: async () => Promise.reject(new Error('db down')) })).rejects.toThrow('db down');
      expect(await redis.exists(k)).toBe(0);
    });

    it('releases a hash-field lease when the load throws, and drops the key it created', async () => {
      const k = key();
      await expect(cache.readThrough({ key: k, field: '0:20', load: async () => Promise.reject(new Error('bad sub')) })).rejects.toThrow('bad sub');
      expect(await redis.exists(k)).toBe(0);
    });

    it('a hash created by a lease lives only as long as the lease, not the 600 s TTL', async () => {
      const k = key();
      let release!: () => void;
      const read = cache.readThrough({ key: k, field: '0:20', load: () => new Promise<string>((resolve) => (release = () => resolve('page'))) });
      await sleep(10);
      const pttl = await redis.pttl(k);
      expect(pttl).toBeGreaterThan(0);
      expect(pttl).toBeLessThanOrEqual(3000);
      release();
      await read;
      expect(await redis.ttl(k)).toBeGreaterThan(590);
    });

    it("a field's lease carries its own expiry: an abandoned one is taken over while the key lives on", async () => {
      const k = key();
      await cache.readThrough({ key: k, field: 'a', load: async () => 'page a' });
      const expired = `\u0000lease:${String(Date.now() - 1).padStart(13, '0')}:dead-reader`;
      await redis.hset(k, 'b', expired);
      expect(await cache.readThrough({ key: k, field: 'b', load: async () => 'page b' })).toEqual({ value: 'page b', status: 'MISS' });
      expect(await redis.hget(k, 'b')).toBe('page b');
    });

    it('a second fill does not extend the TTL set by the first', async () => {
      const k = key();
      await cache.readThrough({ key: k, field: 'a', load: async () => 'page a' });
      await redis.expire(k, 100);
      await cache.readThrough({ key: k, field: 'b', load: async () => 'page b' });
      expect(await redis.ttl(k)).toBeLessThanOrEqual(100);
    });
  });

  describe('field limit', () => {
    it('caches at most maxFields fields per key; the others are served uncached, and one DEL drops all', async () => {
      const k = key();
      const read = (field: string) => cache.readThrough({ key: k, field, maxFields: 3, load: async () => `page ${field}` });
      for (const field of ['a', 'b', 'c']) expect((await read(field)).status).toBe('MISS');
      expect(await read('d')).toEqual({ value: 'page d', status: 'MISS' });
      expect(await read('d')).toEqual({ value: 'page d', status: 'MISS' });
      expect(await redis.hlen(k)).toBe(3);
      expect((await read('a')).status).toBe('HIT');
      await cache.delete(k);
      expect(await redis.exists(k)).toBe(0);
      expect((await read('d')).status).toBe('MISS');
      expect((await read('d')).status).toBe('HIT');
    });
  });

  describe('compression', () => {
    const owner = '{"conversation_id":"c1","user_id":"alice",';
    const body = `${owner}"mapping":${JSON.stringify(Array.from({ length: 400 }, (_, i) => ({ id: `node-${i}`, text: `message number ${i} wörds` })))}}`;

    it('stores a large value zstd-compressed behind its plain head and serves the identical string', async () => {
      const k = key();
      const first = await cache.readThrough({ key: k, load: async () => body, plainHead: () => owner });
      expect(first).toEqual({ value: body, status: 'MISS' });
      const stored = (await redis.getBuffer(k)) as Buffer;
      expect(stored[0]).toBe(0x01);
      expect(stored.subarray(1, 1 + owner.length).toString()).toBe(owner);
      expect(stored.length * 3).toBeLessThan(Buffer.byteLength(body));
      expect(await cache.readThrough({ key: k, load: async () => 'unused', expectPrefix: owner })).toEqual({ value: body, status: 'HIT' });
    });

    it("answers another owner's read as null from the head alone", async () => {
      const k = key();
      await cache.readThrough({ key: k, load: async () => body, plainHead: () => owner });
      const foreign = '{"conversation_id":"c1","user_id":"mallory",';
      expect(await cache.readThrough({ key: k, load: async () => body, expectPrefix: foreign })).toEqual({ value: null, status: 'HIT' });
    });

    it('keeps small values plain', async () => {
      const k = key();
      await cache.readThrough({ key: k, load: async () => `${owner}"small":1}` });
      expect(await redis.get(k)).toBe(`${owner}"small":1}`);
    });
  });

  describe('the context window list (appendToList, readList)', () => {
    const opts = { maxLength: 3, ttlSeconds: 86400 };

    it('appends, trims to the last N and sets the TTL in one call', async () => {
      const k = key();
      const before = redisStats.commands;
      expect(await appendToList(k, ['a', 'b'], { ...opts, replace: true })).toEqual(['a', 'b']);
      expect(await appendToList(k, ['c', 'd', 'e'], { ...opts, ifTailStartsWith: 'b' })).toEqual(['c', 'd', 'e']);
      expect(redisStats.commands - before).toBe(2);
      expect(await redis.lrange(k, 0, -1)).toEqual(['c', 'd', 'e']);
      const ttl = await redis.ttl(k);
      expect(ttl).toBeGreaterThan(86390);
      expect(ttl).toBeLessThanOrEqual(86400);
    });

    it('replaces the list on a rebuild', async () => {
      const k = key();
      await appendToList(k, ['x', 'y'], { ...opts, replace: true });
      expect(await appendToList(k, ['a'], { ...opts, replace: true })).toEqual(['a']);
    });

    it('appends only after the expected tail, and drops a list that continues another branch', async () => {
      const k = key();
      await appendToList(k, ['{"id":"m1",...}'], { ...opts, replace: true });
      expect(await appendToList(k, ['{"id":"m2",...}'], { ...opts, ifTailStartsWith: '{"id":"m1",' })).toEqual([
        '{"id":"m1",...}',
        '{"id":"m2",...}',
      ]);
      expect(await appendToList(k, ['{"id":"m3",...}'], { ...opts, ifTailStartsWith: '{"id":"m1",' })).toBeNull();
      expect(await redis.exists(k)).toBe(0);
      expect(await appendToList(key(), ['z'], { ...opts, ifTailStartsWith: 'anything' })).toBeNull();
    });

    it('reads the list back, null when missing', async () => {
      const k = key();
      expect(await readList(k)).toBeNull();
      await appendToList(k, ['a'], { ...opts, replace: true });
      expect(await readList(k)).toEqual(['a']);
    });
  });
});
