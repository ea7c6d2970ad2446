/**
 * The Redis module's shared plumbing, on the real Redis: the one script runner (EVALSHA, then
 * EVAL when the server does not know the script), the one fail-open wrapper, the one command
 * counter. Each feature (cache, context window, reply streams, turn log) is tested on its own
 * elsewhere; these are what they all stand on.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { closeRedis, defineScript, failOpen, getRedis, metrics, redisStats, resetConfig, runScript } from '@chatbot/shared/testing';
import { rawRedis, runPrefix, UNREACHABLE_REDIS_URL } from '../support/redis';

const redis = rawRedis();
const key = () => `${runPrefix()}module:${randomUUID()}`;
const ECHO = defineScript(`redis.call('SET', KEYS[1], ARGV[1]) return {ARGV[1], redis.call('GET', KEYS[1])}`);

const env = { ...process.env };
afterEach(async () => {
  process.env = { ...env };
  resetConfig();
  await closeRedis();
  metrics.clearMetrics();
});
afterAll(() => redis.disconnect());

describe('runScript', () => {
  it('runs by SHA once the server knows the script, by source the first time: one command each in the count', async () => {
    // Prepare: a script the server has never seen, as after a restart or a failover to a fresh
    // replica (not SCRIPT FLUSH: the other Jest worker's suites share this Redis and its scripts).
    const unseen = defineScript(`-- ${randomUUID()}\n${ECHO.lua}`);
    const client = await getRedis();
    const k = key();
    const before = redisStats.commands;

    // Act
    const first = await runScript<string[]>(client, unseen, [k], ['one']);
    const second = await runScript<string[]>(client, unseen, [k], ['two']);

    // Assess: NOSCRIPT, then EVAL (2 commands); then EVALSHA alone (1).
    expect(first).toEqual(['one', 'one']);
    expect(second).toEqual(['two', 'two']);
    expect(redisStats.commands - before).toBe(3);
    expect(await redis.script('EXISTS', unseen.sha)).toEqual([1]);
  });

  it('returns bulk replies as Buffers when asked (binary values survive)', async () => {
    const client = await getRedis();
    const bytes = Buffer.from([0, 1, 0xff, 0xfe, 0x80]);
    const [echoed] = await runScript<Buffer[]>(client, ECHO, [key()], [bytes], { buffers: true });
    expect(Buffer.isBuffer(echoed)).toBe(true);
    expect(echoed.equals(bytes)).toBe(true);
  });

  it('passes errors other than NOSCRIPT through', async () => {
    const client = await getRedis();
    const broken = defineScript(`return redis.call('NOT_A_COMMAND')`);
    await expect(runScript(client, broken, [key()], [])).rejects.toThrow(/Unknown Redis command|unknown command/i);
  });
});

describe('failOpen', () => {
  it('returns what the work returns when Redis answers', async () => {
    expect(await failOpen('cache', 'test', 'fallback', async (client) => String(await client.ping()))).toBe('PONG');
  });

  it('returns the fallback, logs and counts the feature\'s metric when Redis is not there — within the connect timeout', async () => {
    process.env.REDIS_URL = UNREACHABLE_REDIS_URL;
    process.env.REDIS_CONNECT_TIMEOUT_MS = '200';
    resetConfig();
    await closeRedis();
    const errorsBefore = redisStats.errors;
    const started = Date.now();

    const results = await Promise.all([
      failOpen('cache', 'get', 'cache fallback', async () => 'never'),
      failOpen('replyStream', 'append', 'stream fallback', async () => 'never'),
      failOpen('turnLimit', 'record', 'limit fallback', async () => 'never'),
    ]);

    expect(results).toEqual(['cache fallback', 'stream fallback', 'limit fallback']);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(redisStats.errors - errorsBefore).toBe(3);
    expect(metrics.serializeMetrics()).toMatchObject({ CacheError: 1, ReplyStreamError: 1, TurnLimitBypassed: 1 });
  });

  it('bounds an operation, whatever holds it up, at two command timeouts: the fallback, and the failure counted', async () => {
    // A cluster client retrying redirects through a failover is not bound by the command timeout; the operation is.
    process.env.REDIS_COMMAND_TIMEOUT_MS = '100';
    resetConfig();
    const errorsBefore = redisStats.errors;
    const started = Date.now();
    const result = await failOpen('cache', 'stuck', 'fallback', () => new Promise<string>(() => undefined));
    expect(result).toBe('fallback');
    expect(Date.now() - started).toBeGreaterThanOrEqual(195);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(redisStats.errors - errorsBefore).toBe(1);
  });

  it('returns the fallback when a command fails, and never calls the work when Redis is disabled', async () => {
    expect(await failOpen('cache', 'bad', 'fallback', async (client) => String(await client.call('NOT_A_COMMAND')))).toBe('fallback');
    process.env.CACHE_ENABLED = 'false';
    resetConfig();
    let called = false;
    expect(await failOpen('cache', 'off', 'fallback', async () => ((called = true), 'ran'))).toBe('fallback');
    expect(called).toBe(false);
  });
});

describe('getRedis', () => {
  it('lets a burst of first requests share one wait for the connection (no listener per request)', async () => {
    // A listener per waiting request passed Node's 10 per event in a burst (MaxListenersExceededWarning in npm run bench).
    const once = jest.spyOn(Redis.prototype, 'once');
    try {
      const clients = await Promise.all(Array.from({ length: 50 }, () => getRedis()));
      expect(new Set(clients).size).toBe(1);
      expect(clients[0].status).toBe('ready');
      expect(once.mock.calls.filter(([event, listener]) => event === 'ready' && listener.name === 'onReady')).toHaveLength(1);
      expect(clients[0].listenerCount('ready')).toBe(0);
    } finally {
      once.mockRestore();
    }
  });
});
