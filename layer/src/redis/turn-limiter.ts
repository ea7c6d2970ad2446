/**
 * The per-user turn log in Redis (`user:{user_id}:turns`, a sorted set of turn start times)
 * behind the turn limit of `conversations/limits.ts`. One key per user and one Lua script per
 * turn, or per look at what is left: one round trip, atomic, and cluster-safe because it
 * touches one key.
 */
import { randomUUID } from 'node:crypto';
import { countMetric } from '../platform/observability';
import { failOpen, redisEnabled } from './fail-open';
import { redisKeys } from './keys';
import { defineScript, runScript } from './scripts';

/**
 * KEYS[1] = the turn log; ARGV = limit, window ms, member. Drops turns older than the window,
 * then records this one if there is room. Returns {1, 0} when allowed, else {0, ms until
 * enough old turns leave the window}. Redis' own clock (TIME) is the one clock every Lambda
 * instance shares; rejected turns are not recorded, so hammering does not extend the wait.
 */
const TAKE_TURN = defineScript(`
local key, limit, window = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count >= limit then
  local freeing = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
  return {0, tonumber(freeing[2]) + window - now}
end
redis.call('ZADD', key, now, ARGV[3])
redis.call('PEXPIRE', key, window)
return {1, 0}
`);

/** A turn was recorded (`allowed`), refused until `retryAfterMs` pass, or not counted at all (`unknown`: Redis off or failing). */
export type TurnLogOutcome = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterMs: number } | { readonly allowed: 'unknown' };

/** Records one turn of `userId` if fewer than `limit` were started in the last `windowMs`. Fail-open: `unknown` when Redis cannot say. */
export async function recordTurn(userId: string, limit: number, windowMs: number): Promise<TurnLogOutcome> {
  if (!redisEnabled()) {
    // No Redis configured (or CACHE_ENABLED=false): nothing to count in. Served, and counted.
    countMetric('TurnLimitBypassed');
    return { allowed: 'unknown' };
  }
  const key = redisKeys.turnLog(userId);
  return failOpen<TurnLogOutcome>(
    'turnLimit',
    'recordTurn',
    { allowed: 'unknown' },
    async (redis) => {
      const [allowed, retryAfterMs] = await runScript<[number, number]>(redis, TAKE_TURN, [key], [limit, windowMs, randomUUID()]);
      return allowed === 1 ? { allowed: true } : { allowed: false, retryAfterMs };
    },
    { key },
  );
}

/**
 * KEYS[1] = the turn log; ARGV = limit, window ms. Reads only (no write, so asking does not
 * extend anything or count as a turn): {turns in the window, epoch ms at which the turn that
 * matters next leaves it, or -1 when the window is empty}. That turn is the one TAKE_TURN would
 * wait for when the log is full (index count - limit), else the oldest: so at the limit it is
 * exactly the moment a 429's `retry_after` names. Same clock (TIME) and window edge as TAKE_TURN.
 */
const READ_TURNS = defineScript(`
local key, limit, window = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local from = '(' .. (now - window)
local count = redis.call('ZCOUNT', key, from, '+inf')
if count == 0 then return {0, -1} end
local index = count - limit
if index < 0 then index = 0 end
local upcoming = redis.call('ZRANGEBYSCORE', key, from, '+inf', 'WITHSCORES', 'LIMIT', index, 1)
return {count, tonumber(upcoming[2]) + window}
`);

/** What the turn log says for one user: turns in the window and when the next one leaves it; `unknown` when Redis cannot say. */
export type TurnLogReading = { readonly turns: number; readonly nextFreeAt: Date | null } | 'unknown';

/** Reads `userId`'s turn log without writing (one round trip). Fail-open: `unknown` when Redis is off or failing. */
export async function readTurnLog(userId: string, limit: number, windowMs: number): Promise<TurnLogReading> {
  const key = redisKeys.turnLog(userId);
  return failOpen<TurnLogReading>(
    'turnLog',
    'readTurnLog',
    'unknown',
    async (redis) => {
      const [turns, nextFreeAtMs] = await runScript<[number, number]>(redis, READ_TURNS, [key], [limit, windowMs]);
      return { turns, nextFreeAt: nextFreeAtMs < 0 ? null : new Date(nextFreeAtMs) };
    },
    { key },
  );
}
