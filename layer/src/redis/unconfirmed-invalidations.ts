/**
 * Invalidations a primary applied but no replica confirmed in time (`WAIT`, with
 * `REDIS_INVALIDATION_REPLICAS` ≥ 1): a failover of that shard before its replica catches up
 * would bring the old value back. Each such key is deleted again — with `WAIT` — on a backoff
 * (0.25 s, doubling up to 8 s), until a replica confirms it or the cache TTL has passed since
 * its write (no value older than that can remain). So a failover that loses a `DEL` is repaired
 * by the next re-delete that reaches the promoted node, without this container bypassing the
 * cache meanwhile — a shard can be without a replica for minutes after a failover, until a
 * replacement node has synced.
 *
 * Re-deletes are started by cache operations, one run at a time, and never awaited by them:
 * no timer (a frozen Lambda container runs none), no request waits for them.
 */
import { countMetric } from '../platform/observability';
import { inBatches } from './batches';
import type { RedisConnection } from './client';
import { withinDeadline } from './fail-open';
import { deleteBatch, MAX_KEPT_INVALIDATIONS, type InvalidationOptions } from './invalidation';

/** The first re-delete of an unconfirmed key, and the cap its doubling delay stops at. */
export const RECHECK_FIRST_DELAY_MS = 250;
export const RECHECK_MAX_DELAY_MS = 8000;

interface Entry {
  due: number;
  delayMs: number;
  readonly expires: number;
}

export class UnconfirmedInvalidations {
  private readonly entries = new Map<string, Entry>();
  private running: Promise<void> | undefined;

  /** @param horizonMs how long after its write a key is still re-deleted: the cache TTL. */
  constructor(private readonly horizonMs: number) {}

  get size(): number {
    return this.entries.size;
  }

  /** Remembers keys deleted but not confirmed; past the bound, the newest are counted and left to their TTL. */
  add(keys: Iterable<string>, now = Date.now()): void {
    let added = 0;
    let dropped = 0;
    for (const key of keys) {
      const entry = this.entries.get(key);
      if (entry) {
        // Deleted again just now, still unconfirmed: the schedule starts over, the horizon stays.
        Object.assign(entry, { due: now + RECHECK_FIRST_DELAY_MS, delayMs: RECHECK_FIRST_DELAY_MS });
      } else if (this.entries.size >= MAX_KEPT_INVALIDATIONS) {
        dropped += 1;
      } else {
        this.entries.set(key, { due: now + RECHECK_FIRST_DELAY_MS, delayMs: RECHECK_FIRST_DELAY_MS, expires: now + this.horizonMs });
        added += 1;
      }
    }
    if (added > 0) countMetric('CacheInvalidationUnconfirmed', added);
    if (dropped > 0) countMetric('CacheInvalidationDropped', dropped);
  }

  /** Forgets keys a replica has confirmed since. */
  forget(keys: Iterable<string>): void {
    if (this.entries.size === 0) return;
    for (const key of keys) this.entries.delete(key);
  }

  /** Starts one re-delete of the keys that are due, unless one is running; it never rejects. */
  recheck(redis: RedisConnection, options: InvalidationOptions, now = Date.now()): Promise<void> | undefined {
    if (this.running || this.entries.size === 0) return this.running;
    const due: string[] = [];
    for (const [key, entry] of this.entries) {
      if (entry.expires <= now) this.entries.delete(key);
      else if (entry.due <= now) due.push(key);
    }
    if (due.length === 0) return undefined;
    this.running = this.run(redis, due, options)
      .catch(() => undefined)
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  private async run(redis: RedisConnection, keys: readonly string[], options: InvalidationOptions): Promise<void> {
    for (const batch of inBatches(keys)) {
      // A DEL that failed (the shard is failing over) is tried again on the same schedule.
      const unconfirmed = new Set(await withinDeadline(deleteBatch(redis, batch, options), 'redeleteInvalidations').catch(() => batch));
      const now = Date.now();
      for (const key of batch) {
        const entry = this.entries.get(key);
        if (!entry) continue;
        if (!unconfirmed.has(key)) {
          this.entries.delete(key);
          continue;
        }
        entry.delayMs = Math.min(entry.delayMs * 2, RECHECK_MAX_DELAY_MS);
        entry.due = now + entry.delayMs;
      }
    }
  }
}
