/**
 * Invalidations that failed (Redis unreachable or stalled when a write's `DEL`s went out): the
 * keys are kept here. A cache operation on one of them deletes it first, so this container never
 * serves what it failed to invalidate; the others are deleted beside the container's next cache
 * operations — by ONE flush at a time, in batches, that no operation waits for (a shard still
 * down fails only the flush, not the reads of the other shards) — so a stall costs each key
 * about one extra `DEL`, not one per later command.
 *
 * The set is bounded: past {@link MAX_KEPT_INVALIDATIONS} keys, more failed keys are dropped
 * and counted (`CacheInvalidationDropped`). A dropped key can be served stale, by any container,
 * until its TTL (`CACHE_TTL_SECONDS`, 600 s) ends or the next write to that conversation
 * invalidates it again (docs/api.md#cache-contract).
 */
import { countMetric, logger } from '../platform/observability';
import { inBatches } from './batches';
import type { RedisConnection } from './client';
import { withinDeadline } from './fail-open';
import { deleteBatch, MAX_KEPT_INVALIDATIONS, type InvalidationOptions } from './invalidation';
import type { UnconfirmedInvalidations } from './unconfirmed-invalidations';


export class PendingInvalidations {
  private readonly keys = new Set<string>();
  private flushing: Promise<void> | undefined;

  /** @param unconfirmed where keys go that the flush deleted but no replica confirmed */
  constructor(private readonly unconfirmed: UnconfirmedInvalidations) {}

  get size(): number {
    return this.keys.size;
  }

  /** Remembers keys whose `DEL` failed; drops (and counts) what does not fit. */
  add(keys: Iterable<string>): void {
    let dropped = 0;
    for (const key of keys) {
      if (this.keys.has(key)) continue;
      if (this.keys.size >= MAX_KEPT_INVALIDATIONS) dropped += 1;
      else this.keys.add(key);
    }
    if (dropped > 0) {
      countMetric('CacheInvalidationDropped', dropped);
      logger.error('Pending invalidations full: keys dropped, they may be served stale until their TTL', { dropped, pending: this.keys.size });
    }
  }

  has(key: string): boolean {
    return this.keys.has(key);
  }

  /** Deletes one pending key now (it is about to be read or written); rejects when its `DEL` fails. */
  async apply(redis: RedisConnection, key: string, options: InvalidationOptions): Promise<void> {
    this.unconfirmed.add(await deleteBatch(redis, [key], options));
    this.keys.delete(key);
  }

  /** Forgets keys deleted since (their pending `DEL` is no longer needed). */
  forget(keys: Iterable<string>): void {
    if (this.keys.size === 0) return;
    for (const key of keys) this.keys.delete(key);
  }

  /**
   * Deletes every pending key, in batches; concurrent callers share the one flush in flight.
   * Rejects when a `DEL` fails (the keys stay pending for the next flush). A key
   * deleted but not confirmed by a replica is no longer pending — this container's reads see it
   * gone — and is re-deleted on the unconfirmed keys' schedule.
   */
  flush(redis: RedisConnection, options: InvalidationOptions): Promise<void> {
    this.flushing ??= this.run(redis, options).finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async run(redis: RedisConnection, options: InvalidationOptions): Promise<void> {
    const applied = this.keys.size;
    for (const batch of inBatches([...this.keys])) {
      // Bounded: a flush that hung in the cluster client's retries would hold every later one back.
      this.unconfirmed.add(await withinDeadline(deleteBatch(redis, batch, options), 'flushInvalidations'));
      for (const key of batch) this.keys.delete(key);
    }
    logger.info('Applied invalidations that had failed earlier', { applied });
  }
}
