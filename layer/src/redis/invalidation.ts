/**
 * One batch of invalidating `DEL`s, confirmed where it must survive a failover. Redis
 * replicates asynchronously: a `DEL` the primary acknowledged but had not yet sent to its
 * replica is lost when that replica is promoted, and the promoted node serves the old body
 * until its TTL (`npm run chaos` saw stale reads for up to 143 s this way). With
 * `REDIS_INVALIDATION_REPLICAS` ≥ 1, a batch counts as done only once that many replicas have it
 * (`WAIT`); otherwise it fails like an unreachable Redis, and the caller retries it or keeps it
 * pending (`cache.ts`, `pending-invalidations.ts`).
 */
import { Cluster } from 'ioredis';
import type { RedisConnection } from './client';
import { counted } from './fail-open';

/** How invalidations are confirmed: `REDIS_INVALIDATION_*`. */
export interface InvalidationOptions {
  /** Replicas that must have a `DEL` before it counts (0: the primary's answer is enough). */
  readonly replicas: number;
  /** How long one `WAIT` for them may take. */
  readonly waitMs: number;
}

/** Thrown when fewer replicas than asked confirmed a batch in time. */
export class InvalidationNotReplicatedError extends Error {}

/**
 * Deletes `keys` (one command each: they live in different hash slots) and, when replicas are
 * asked for, waits for them. Resolves when the batch is done; rejects otherwise (the caller
 * keeps all of its keys: a `DEL` that reached only the primary is not done).
 */
export async function deleteBatch(redis: RedisConnection, keys: readonly string[], options: InvalidationOptions): Promise<void> {
  if (options.replicas <= 0) {
    await Promise.all(keys.map((key) => counted(redis.del(key))));
    return;
  }
  if (redis instanceof Cluster) {
    // WAIT must reach the node that holds the key: one DEL + WAIT pipeline per key (a pipeline goes to its keys' node).
    await Promise.all(
      keys.map(async (key) => {
        const results = await counted(redis.pipeline().del(key).wait(options.replicas, options.waitMs).exec());
        const failure = results?.find(([error]) => error)?.[0];
        if (failure) throw failure;
        if (Number(results?.[1]?.[1]) < options.replicas) throw new InvalidationNotReplicatedError(`${key}: not on ${options.replicas} replica(s) within ${options.waitMs} ms`);
      }),
    );
    return;
  }
  // One connection to the primary: a WAIT after the DELs covers all of them.
  await Promise.all(keys.map((key) => counted(redis.del(key))));
  const acknowledged = await counted(redis.wait(options.replicas, options.waitMs));
  if (acknowledged < options.replicas) throw new InvalidationNotReplicatedError(`${keys.length} key(s): on ${acknowledged} of ${options.replicas} replica(s) within ${options.waitMs} ms`);
}
