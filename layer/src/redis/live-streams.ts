/**
 * The user's live streams (`user:{user_id}:live_streams`): a sorted set of slots, one per POST
 * reply or resume follower, each scored by when its lease runs out. A stream takes a slot in one
 * round trip (one script, one key: cluster-safe), renews the lease while it runs and gives the
 * slot back however it ends; a slot whose container died runs out with its lease. The cap
 * itself is a rule of `conversations/limits.ts`.
 */
import { randomUUID } from 'node:crypto';
import { countMetric } from '../platform/observability';
import { counted, failOpen, redisEnabled } from './fail-open';
import { redisKeys } from './keys';
import { defineScript, runScript } from './scripts';

/** A slot's lease: a stream renews it every third of it; a crashed container's slot is free this long after. */
export const STREAM_SLOT_LEASE_MS = 30_000;

/**
 * KEYS[1] = the user's slots; ARGV = limit, lease ms, slot. Drops run-out slots, then takes one
 * if fewer than `limit` are held. Returns {1, 0}, or {0, ms until the soonest lease runs out}.
 * Redis' own clock (TIME) is the one every container shares.
 */
const TAKE_SLOT = defineScript(`
local key, limit, lease = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
if redis.call('ZCARD', key) >= limit then
  local soonest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return {0, tonumber(soonest[2]) - now}
end
redis.call('ZADD', key, now + lease, ARGV[3])
redis.call('PEXPIRE', key, lease)
return {1, 0}
`);

/** KEYS[1] = the user's slots; ARGV = lease ms, slot. Renews a slot still held (one that ran out is not brought back). */
const RENEW_SLOT = defineScript(`
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[1]), ARGV[2]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return 1
`);

/** A held slot: give it back when the stream ends (idempotent). */
export interface StreamSlot {
  release(): Promise<void>;
}

/** What taking a slot gave: a slot (possibly uncounted: Redis unavailable), or how long until one frees up. */
export type StreamSlotOutcome = { readonly slot: StreamSlot } | { readonly retryAfterMs: number };

const UNCOUNTED: StreamSlot = { release: async () => undefined };

/** Takes one of `userId`'s `limit` slots. Fail-open: Redis unavailable, the stream is served uncounted (and counted as such). */
export async function takeStreamSlot(userId: string, limit: number): Promise<StreamSlotOutcome> {
  if (!redisEnabled()) {
    countMetric('LiveStreamLimitBypassed');
    return { slot: UNCOUNTED };
  }
  const key = redisKeys.liveStreams(userId);
  const id = randomUUID();
  const taken = await failOpen<[number, number] | undefined>('liveStreams', 'takeSlot', undefined, (redis) =>
    runScript<[number, number]>(redis, TAKE_SLOT, [key], [limit, STREAM_SLOT_LEASE_MS, id]),
  );
  if (!taken) return { slot: UNCOUNTED };
  if (taken[0] === 0) return { retryAfterMs: taken[1] };
  const renewal = setInterval(() => {
    void failOpen('liveStreams', 'renewSlot', undefined, (redis) => runScript(redis, RENEW_SLOT, [key], [STREAM_SLOT_LEASE_MS, id]));
  }, STREAM_SLOT_LEASE_MS / 3);
  renewal.unref?.();
  let released: Promise<void> | undefined;
  return {
    slot: {
      release: () => {
        clearInterval(renewal);
        released ??= failOpen('liveStreams', 'releaseSlot', undefined, async (redis) => {
          await counted(redis.zrem(key, id));
        });
        return released;
      },
    },
  };
}
