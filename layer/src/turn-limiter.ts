/**
 * The per-user turn limit (SPEC §9): each user may start at most `USER_TURN_LIMIT` turns per
 * rolling `USER_TURN_WINDOW_SECONDS`, so an open sign-up cannot spend the model budget.
 *
 * One key per user (`user:{user_id}:turns`, a sorted set of turn start times) and one Lua
 * script per POST: one round trip, atomic, and cluster-safe because it touches one key. Like
 * the cache, Redis is never a dependency here: when it is down, slow or not configured the
 * turn is served and the bypass is logged and counted (fail-open).
 */
import { randomUUID } from 'node:crypto';
import { cacheStats } from './cache-service';
import { getConfig } from './config';
import { TurnLimitExceededError } from './errors';
import { countMetric, logger } from './observability';
import { getRedis, type RedisConnection } from './redis-client';

/** The user's turn log, before the optional key prefix. */
export const turnLimitKey = (userId: string): string => `user:${userId}:turns`;

/**
 * KEYS[1] = the turn log; ARGV = limit, window ms, member. Drops turns older than the window,
 * then records this one if there is room. Returns {1, 0} when allowed, else {0, ms until
 * enough old turns leave the window}. Redis' own clock (TIME) is the one clock every Lambda
 * instance shares; rejected turns are not recorded, so hammering does not extend the wait.
 */
const TAKE_TURN = `
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
`;

type LimiterRedis = RedisConnection & {
  takeTurn(key: string, limit: number, windowMs: number, member: string): Promise<[number, number]>;
};

const scriptsDefined = new WeakSet<RedisConnection>();

async function limiterRedis(): Promise<LimiterRedis> {
  const redis = await getRedis();
  if (!scriptsDefined.has(redis)) {
    // EVALSHA with an EVAL fallback per node, as the cache service's scripts.
    redis.defineCommand('takeTurn', { numberOfKeys: 1, lua: TAKE_TURN });
    scriptsDefined.add(redis);
  }
  return redis as LimiterRedis;
}

/** How a turn was admitted. */
export type TurnLimitOutcome = 'ALLOWED' | 'OFF' | 'BYPASS';

/**
 * Counts one turn for `userId`; throws a 429 `TurnLimitExceededError` when the user is over
 * the limit. Call it after the request is validated and before anything is written or the
 * model is called.
 */
export async function enforceTurnLimit(userId: string): Promise<TurnLimitOutcome> {
  const { limits, cache } = getConfig();
  if (limits.userTurnLimit === 0) return 'OFF';
  const key = cache.keyPrefix + turnLimitKey(userId);
  if (!cache.enabled) {
    // No Redis configured (or CACHE_ENABLED=false): nothing to count in. Served, and counted.
    countMetric('TurnLimitBypassed');
    return 'BYPASS';
  }
  let result: [number, number];
  try {
    const redis = await limiterRedis();
    cacheStats.commands += 1;
    result = await redis.takeTurn(key, limits.userTurnLimit, limits.userTurnWindowSeconds * 1000, randomUUID());
  } catch (error) {
    countMetric('TurnLimitBypassed');
    logger.warn('Turn limit not checked; serving the turn', { key, error: error instanceof Error ? error.message : String(error) });
    return 'BYPASS';
  }
  const [allowed, retryAfterMs] = result;
  if (allowed === 1) return 'ALLOWED';
  countMetric('TurnLimited');
  throw new TurnLimitExceededError(Math.max(1, Math.ceil(retryAfterMs / 1000)), limits.userTurnLimit, limits.userTurnWindowSeconds);
}
