/**
 * Redis is an optimisation, never a dependency (docs/api.md#cache-contract): every Redis
 * feature — the cache, the context window, reply streams, the turn limiter and its log — runs its commands
 * through {@link failOpen}, which answers a fallback when Redis is off, down, slow or failing,
 * after logging the failure and counting it under the feature's metric. Features that must
 * tell the client instead (a resume with Redis down is a 503) report with {@link reportRedisFailure}.
 */
import type { MetricName } from '../contracts/metrics';
import { getConfig } from '../platform/config';
import { countMetric, logger } from '../platform/observability';
import { countRedisCommand, traced } from '../platform/tracing';
import { getRedis, type RedisConnection } from './client';

/** Which feature a Redis command serves: names its failure metric. */
export type RedisFeature = 'cache' | 'context' | 'replyStream' | 'turnLimit' | 'turnLog' | 'liveStreams';

const FAILURE_METRICS: Readonly<Record<RedisFeature, MetricName>> = {
  cache: 'CacheError',
  context: 'CacheError',
  replyStream: 'ReplyStreamError',
  turnLimit: 'TurnLimitBypassed',
  liveStreams: 'LiveStreamLimitBypassed',
  // Reading what is left (GET limits) bypasses nothing: its own metric.
  turnLog: 'TurnLogUnreadable',
};

/** Redis commands sent and failed operations since start: the bench compares them with what Redis saw. */
export const redisStats = { commands: 0, errors: 0 };

/** Counts one command sent to Redis: in total, and to the current request's timings. */
export function counted<T>(command: Promise<T>): Promise<T> {
  redisStats.commands += 1;
  countRedisCommand();
  return command;
}

/** Whether Redis is configured and enabled (`CACHE_ENABLED`); off, every feature answers its fallback. */
export const redisEnabled = (): boolean => getConfig().cache.enabled;

/** Logs and counts a failed Redis operation of `feature`. */
export function reportRedisFailure(feature: RedisFeature, operation: string, error: unknown, context: Readonly<Record<string, unknown>> = {}): void {
  redisStats.errors += 1;
  countMetric(FAILURE_METRICS[feature]);
  logger.warn('Redis operation failed; continuing without it', {
    feature,
    operation,
    ...context,
    error: error instanceof Error ? error.message : String(error),
  });
}

/** What a caller of {@link failOpen} may learn of the outcome beside the result. */
export interface FailOpenHooks {
  readonly onSuccess?: () => void;
  readonly onFailure?: () => void;
}

/**
 * Runs `work` on the container's Redis client and returns its result; returns `fallback`
 * when Redis is disabled, and — after reporting — when connecting or any command fails
 * (each bounded by the client's connect and command timeouts, so this never hangs).
 */
export async function failOpen<T>(
  feature: RedisFeature,
  operation: string,
  fallback: T,
  work: (redis: RedisConnection) => Promise<T>,
  context?: Readonly<Record<string, unknown>>,
  hooks: FailOpenHooks = {},
): Promise<T> {
  if (!redisEnabled()) return fallback;
  try {
    const redis = await getRedis();
    const result = await traced('redis', `${feature}.${operation}`, () => withinDeadline(work(redis), operation));
    hooks.onSuccess?.();
    return result;
  } catch (error) {
    reportRedisFailure(feature, operation, error, context);
    hooks.onFailure?.();
    return fallback;
  }
}

/**
 * `work`, or a rejection once `ms` pass. Each command has its own timeout, but a cluster
 * client's redirect and failover retries are not bound by it (`npm run chaos` measured reads of
 * 2–2.5 s while a primary behind its endpoint was dead); the operation is, so Redis trouble costs
 * a request this much at most before it is served from Postgres — and a background flush of
 * invalidations this much before the next one may start. The abandoned work finishes (or fails)
 * on its own. @default two command timeouts
 */
export function withinDeadline<T>(work: Promise<T>, operation: string, ms = 2 * getConfig().redis.commandTimeoutMs): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis operation ${operation} took more than ${ms} ms`)), ms);
  });
  work.catch(() => undefined);
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
