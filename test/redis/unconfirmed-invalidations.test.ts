/**
 * Invalidations a primary applied but no replica confirmed are deleted again on a backoff, on
 * the real Redis — a single node without replicas, where no `WAIT` ever confirms — with the
 * clock given to each call, so the schedule is checked without sleeping through it.
 */
import { randomUUID } from 'node:crypto';
import { closeRedis, getRedis, metrics, RECHECK_FIRST_DELAY_MS, RECHECK_MAX_DELAY_MS, UnconfirmedInvalidations } from '@chatbot/shared/testing';
import { rawRedis, runPrefix } from '../support/redis';

const redis = rawRedis();
const options = { replicas: 1, waitMs: 20 };

afterEach(() => metrics.clearMetrics());
afterAll(async () => {
  await closeRedis();
  redis.disconnect();
});

it('deletes each key again when it is due — 0.25 s after, then at doubling intervals up to 8 s — until the horizon has passed, one run at a time', async () => {
  const client = await getRedis();
  const unconfirmed = new UnconfirmedInvalidations(60_000);
  const key = `${runPrefix()}unconfirmed:${randomUUID()}`;
  const t0 = Date.now();
  unconfirmed.add([key], t0);
  // A failover brought the old value back.
  await redis.set(key, 'old body');

  expect(unconfirmed.recheck(client, options, t0 + RECHECK_FIRST_DELAY_MS - 1)).toBeUndefined();
  expect(await redis.exists(key)).toBe(1);

  const run = unconfirmed.recheck(client, options, t0 + RECHECK_FIRST_DELAY_MS);
  expect(unconfirmed.recheck(client, options, t0 + RECHECK_FIRST_DELAY_MS)).toBe(run);
  await run;
  expect(await redis.exists(key)).toBe(0);
  // Still unconfirmed (no replica): kept, due again later.
  expect(unconfirmed.size).toBe(1);

  // The delay doubles up to its cap (each run schedules from the real clock; the checks give later times).
  for (let delay = RECHECK_FIRST_DELAY_MS * 2; delay <= RECHECK_MAX_DELAY_MS * 2; delay *= 2) {
    const expected = Math.min(delay, RECHECK_MAX_DELAY_MS);
    const ranAt = Date.now();
    await redis.set(key, 'old body');
    expect(unconfirmed.recheck(client, options, ranAt + expected / 2)).toBeUndefined();
    await unconfirmed.recheck(client, options, ranAt + expected + 100);
    expect(await redis.exists(key)).toBe(0);
  }

  // Past the horizon (the cache TTL): forgotten, nothing sent.
  await redis.set(key, 'a fresh fill');
  expect(unconfirmed.recheck(client, options, t0 + 60_000)).toBeUndefined();
  expect(unconfirmed.size).toBe(0);
  expect(await redis.get(key)).toBe('a fresh fill');
  await redis.del(key);
});

it('keys a replica confirmed, or that are deleted again by a write, are forgotten or rescheduled; adding counts them', async () => {
  const unconfirmed = new UnconfirmedInvalidations(60_000);
  unconfirmed.add(['a', 'b', 'c'], 0);
  unconfirmed.add(['b'], 1000);
  unconfirmed.forget(['c']);
  expect(unconfirmed.size).toBe(2);
  const client = await getRedis();
  // 'a' is due at 250, 'b' (deleted again at 1000) only at 1250.
  await unconfirmed.recheck(client, { replicas: 0, waitMs: 20 }, 1100);
  expect(unconfirmed.size).toBe(1);
  await unconfirmed.recheck(client, { replicas: 0, waitMs: 20 }, 1250);
  expect(unconfirmed.size).toBe(0);
  expect(metrics.serializeMetrics()).toHaveProperty('CacheInvalidationUnconfirmed', 3);
});
