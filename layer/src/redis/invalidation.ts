/**
 * One batch of invalidating `DEL`s, and whether a replica has them. Redis replicates
 * asynchronously: a `DEL` the primary applied but had not yet sent to its replica is lost when
 * that replica is promoted, and the promoted node serves the old body until its TTL (`npm run
 * chaos` saw stale reads for up to 143 s this way). With `REDIS_INVALIDATION_REPLICAS` ≥ 1 each
 * batch is followed by a `WAIT`; the keys it did not confirm are returned, for the caller to
 * retry or to delete again later (`cache.ts`, `unconfirmed-invalidations.ts`).
 */
import { Cluster } from 'ioredis';
import type { RedisConnection } from './client';
import { counted } from './fail-open';

/** How invalidations are confirmed: `REDIS_INVALIDATION_*`. */
export interface InvalidationOptions {
  /** Replicas that must have a `DEL` before it counts as confirmed (0: the primary's answer is enough). */
  readonly replicas: number;
  /** How long one `WAIT` for them may take. */
  readonly waitMs: number;
}

/**
 * Deletes `keys` (one command each: they live in different hash slots) and, when replicas are
 * asked for, waits for them. Rejects when a `DEL` failed (the caller keeps the whole batch: a
 * key not deleted must not be served); otherwise resolves with the keys that every primary
 * deleted but too few replicas confirmed in time.
 */
export async function deleteBatch(redis: RedisConnection, keys: readonly string[], options: InvalidationOptions): Promise<string[]> {
  if (options.replicas <= 0) {
    await Promise.all(keys.map((key) => counted(redis.del(key))));
    return [];
  }
  if (redis instanceof Cluster) {
    // WAIT must reach the node that holds the key: one DEL + WAIT pipeline per key (a pipeline goes to its keys' node).
    const confirmed = await Promise.all(
      keys.map(async (key) => {
        const [deleted, waited] = (await counted(redis.pipeline().del(key).wait(options.replicas, options.waitMs).exec())) ?? [];
        if (!deleted || deleted[0]) throw deleted?.[0] ?? new Error(`DEL ${key}: no reply`);
        return !waited?.[0] && Number(waited?.[1]) >= options.replicas;
      }),
    );
    return keys.filter((_, index) => !confirmed[index]);
  }
  // One connection to the primary: a WAIT after the DELs covers all of them.
  await Promise.all(keys.map((key) => counted(redis.del(key))));
  const acknowledged = await counted(redis.wait(options.replicas, options.waitMs)).catch(() => 0);
  return acknowledged >= options.replicas ? [] : [...keys];
}
