/**
 * The cache: a race-free, single-flight cache-aside read (compressing large values) and the
 * invalidating delete. A miss lives here: {@link CacheService.readThrough}. Redis failures
 * are answered from Postgres through the Redis module's one fail-open wrapper.
 *
 * Keys come from `keys.ts`, prefix included. Every operation touches exactly one key, so it
 * works unchanged on cluster-mode Redis.
 */
import { randomUUID } from 'node:crypto';
import { getConfig } from '../platform/config';
import { countMetric } from '../platform/observability';
import { sleep } from '../platform/timers';
import { clusterNodeServing, type RedisConnection } from './client';
import { inBatches } from './batches';
import { acceptStoredValue, decodeCacheValue, encodeCacheValue } from './cache-encoding';
import { deleteBatch, type InvalidationOptions } from './invalidation';
import { PendingInvalidations } from './pending-invalidations';
import { NodeBreaker } from './node-breaker';
import { UnconfirmedInvalidations } from './unconfirmed-invalidations';
import { counted, failOpen } from './fail-open';
import { defineScript, runScript } from './scripts';

/** How a read was answered; handlers report it in `X-Cache`. */
export type CacheStatus = 'HIT' | 'MISS' | 'BYPASS';

/** After a write waited for replicas in vain (its whole retry window), how long writes do not wait for them. */
export const REPLICAS_BEHIND_PAUSE_MS = 5000;

/**
 * A fill lease: a placeholder a reader puts in the slot before it reads Postgres. An
 * invalidating `DEL` removes it, so a reader that read old rows can no longer fill (the
 * stale-fill race). It starts with NUL, which no stored value does, so a hit is told from a
 * lease by one byte. It carries its own deadline (`\0lease:<13-digit epoch ms>:<uuid>`)
 * because a hash field has no TTL of its own: until then other readers wait for its fill
 * instead of taking the slot (single flight); after it, the lease counts as abandoned.
 */
const LEASE_PREFIX = '\u0000lease:';
const LEASE_BYTE = 0x00;
/** Returned by the acquire script when a hash already holds `maxFields` fields. */
const FIELD_LIMIT_REPLY = '\u0000full';

/** Tunables of the single-flight read; the defaults are what the bench measured (docs/benchmarks.md, "Thundering herd"). */
export interface FillLeaseOptions {
  /** After this a lease counts as abandoned (its reader died) and the next reader takes it over. @default 3000 */
  readonly leaseMs?: number;
  /** How long a reader waits for another reader's fill before it loads by itself, without filling. @default 250 */
  readonly waitMs?: number;
  /** First pause between two looks at a leased slot; it doubles up to `maxPollMs`. @default 2 */
  readonly firstPollMs?: number;
  /** @default 16 */
  readonly maxPollMs?: number;
}

/**
 * Shared by the lease scripts. KEYS[1] = key; ARGV[1] = hash field, empty for a string key.
 * A "slot" is the string key or that field of the hash.
 */
const SLOT_FUNCTIONS = `
local key, field = KEYS[1], ARGV[1]
local function read_slot()
  if field == '' then return redis.call('GET', key) end
  return redis.call('HGET', key, field)
end
local function is_lease(value)
  return string.sub(value, 1, 7) == '\\0lease:'
end
local function lease_deadline(value)
  return tonumber(string.sub(value, 8, 20)) or 0
end
`;

/**
 * ARGV = field, lease, now ms, lease ms, max fields (0: no limit). Returns what the slot
 * holds afterwards: a value (a hit), another reader's live lease (wait for its fill), our own
 * lease (we load and fill), or FIELD_LIMIT_REPLY. An empty slot or an expired lease is taken.
 * A hash created by a lease lives only as long as the lease, so a reader that dies leaves nothing.
 */
const ACQUIRE_LEASE = `${SLOT_FUNCTIONS}
local lease, now, lease_ms, max_fields = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local current = read_slot()
if current then
  if not is_lease(current) then return current end
  if lease_deadline(current) > now then return current end
elseif field ~= '' and max_fields > 0 and redis.call('HLEN', key) >= max_fields then
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    if is_lease(all[i + 1]) and lease_deadline(all[i + 1]) <= now then redis.call('HDEL', key, all[i]) end
  end
  if redis.call('HLEN', key) >= max_fields then return '\\0full' end
end
if field == '' then
  redis.call('SET', key, lease, 'PX', lease_ms)
else
  redis.call('HSET', key, field, lease)
  if redis.call('PTTL', key) < lease_ms then redis.call('PEXPIRE', key, lease_ms) end
end
return lease
`;

/**
 * ARGV = field, lease, value, key ttl s, lease ms. Writes only while our lease still holds the
 * slot. A hash gets the full TTL only when this is its first value (it was created by leases),
 * so one page's fill never extends the life of pages filled earlier.
 */
const FILL_IF_LEASED = `${SLOT_FUNCTIONS}
local lease, value, ttl, lease_ms = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
if read_slot() ~= lease then return 0 end
if field == '' then
  redis.call('SET', key, value, 'EX', ttl)
  return 1
end
local pttl = redis.call('PTTL', key)
local first = pttl < 0
if not first and pttl <= lease_ms then
  first = true
  for _, v in ipairs(redis.call('HVALS', key)) do
    if not is_lease(v) then first = false break end
  end
end
redis.call('HSET', key, field, value)
if first then redis.call('EXPIRE', key, ttl) end
return 1
`;

/** ARGV = field, lease. A reader whose load failed gives its slot back, so nothing is left behind. */
const RELEASE_LEASE = `${SLOT_FUNCTIONS}
if read_slot() ~= ARGV[2] then return 0 end
if field == '' then return redis.call('DEL', key) end
return redis.call('HDEL', key, field)
`;

const SCRIPTS = {
  acquireLease: defineScript(ACQUIRE_LEASE),
  fillIfLeased: defineScript(FILL_IF_LEASED),
  releaseLease: defineScript(RELEASE_LEASE),
};

/** Options of a cache-aside read. */
export interface ReadThroughOptions {
  /** The key, from `redisKeys`. */
  readonly key: string;
  /** Hash field: many cached values under one key, dropped together by one `DEL`. @default a plain string key */
  readonly field?: string;
  /**
   * With `field`: at most this many fields per key. A read of another field once the key is
   * full is served from Postgres and not cached (counted as `CacheFieldLimit`), so one caller
   * cannot grow a key without bound. @default no limit
   */
  readonly maxFields?: number;
  /** @default CACHE_TTL_SECONDS (600) */
  readonly ttlSeconds?: number;
  /** Produces the value from the source of truth; `null` means "nothing to cache". */
  readonly load: () => Promise<string | null>;
  /**
   * Only a value starting with this is wanted (an ownership check): any other, cached or
   * loaded, is answered as `null` — a compressed one without being decompressed when its
   * plain head is long enough to decide. @default every value is wanted
   */
  readonly expectPrefix?: string;
  /**
   * The start of a value kept uncompressed in front of its compressed form, so that
   * `expectPrefix` is checked without decompressing. @default none
   */
  readonly plainHead?: (value: string) => string;
}

export interface ReadThroughResult {
  readonly value: string | null;
  readonly status: CacheStatus;
}

/** Options of `CacheService`. */
export interface CacheServiceOptions {
  readonly enabled: boolean;
  readonly ttlSeconds: number;
  /**
   * Values of at least this many bytes are stored zstd-compressed. 0 turns it off.
   * @default 16384 — a short conversation (20 messages, ~14 KB) stays plain, so its hit stays
   * one GET with no decode (the decode is ~0.05 ms, a 2.7× slower hit at that size), while
   * the long ones that set the node size (100+ messages) shrink ~6.7× (docs/benchmarks.md, "Compression")
   */
  readonly compressMinBytes?: number;
  /** Single-flight tunables. @default see FillLeaseOptions */
  readonly lease?: FillLeaseOptions;
  /**
   * How invalidations are confirmed and retried (`REDIS_INVALIDATION_*`).
   * @default none asked of replicas, no retry: a failed DEL is kept pending at once
   */
  readonly invalidation?: Partial<InvalidationOptions & { readonly retryMs: number }>;
}

export class CacheService {
  /** Keys deleted but not confirmed by a replica: deleted again on a backoff, without blocking anything. */
  private readonly unconfirmed: UnconfirmedInvalidations;
  /** Keys whose invalidating `DEL` failed, applied before this container next uses them. */
  private readonly pending: PendingInvalidations;
  private readonly breaker = new NodeBreaker();
  private readonly compressMinBytes: number;
  private readonly lease: Required<FillLeaseOptions>;
  private readonly invalidation: InvalidationOptions & { readonly retryMs: number };
  /** Until when a write does not wait for replicas (one just waited its whole retry window in vain). */
  private replicasBehindUntil = 0;

  constructor(private readonly options: CacheServiceOptions) {
    this.compressMinBytes = options.compressMinBytes ?? 16384;
    this.lease = { leaseMs: 3000, waitMs: 250, firstPollMs: 2, maxPollMs: 16, ...options.lease };
    this.invalidation = { replicas: 0, waitMs: 50, retryMs: 0, ...options.invalidation };
    this.unconfirmed = new UnconfirmedInvalidations(options.ttlSeconds * 1000);
    this.pending = new PendingInvalidations(this.unconfirmed);
  }

  /**
   * Runs one cache operation, fail-open. A failed invalidation of this very key is applied
   * first (this container never serves what it failed to invalidate); those of other keys are
   * flushed beside it, as are unconfirmed ones that are due (neither awaited). A cluster node
   * that just failed is skipped for a moment (`node-breaker.ts`).
   */
  private attempt<T>(operation: string, key: string, fallback: T, work: (redis: RedisConnection) => Promise<T>): Promise<T> {
    if (!this.options.enabled) return Promise.resolve(fallback);
    // Which node serves the key is looked up only while one is skipped, or after a failure.
    const node = this.breaker.active ? clusterNodeServing(key) : undefined;
    if (node !== undefined && this.breaker.skip(node)) {
      countMetric('CacheNodeSkipped');
      return Promise.resolve(fallback);
    }
    return failOpen(
      'cache',
      operation,
      fallback,
      async (redis) => {
        if (this.pending.size > 0) {
          if (this.pending.has(key)) await this.pending.apply(redis, key, this.invalidation);
          if (this.pending.size > 0) void this.pending.flush(redis, this.invalidation).catch(() => undefined);
        }
        if (this.unconfirmed.size > 0) void this.unconfirmed.recheck(redis, this.invalidation);
        return work(redis);
      },
      { key },
      {
        onSuccess: () => this.breaker.active && this.breaker.close(node ?? clusterNodeServing(key)),
        onFailure: () => this.breaker.trip(node ?? clusterNodeServing(key)),
      },
    );
  }

  /** Invalidations still to apply (they failed when sent). */
  get pendingInvalidations(): number {
    return this.pending.size;
  }

  /** Invalidations applied but not yet confirmed by a replica (re-deleted on a backoff). */
  get unconfirmedInvalidations(): number {
    return this.unconfirmed.size;
  }

  /**
   * Deletes keys — one command each (they live in different hash slots), in batches, one
   * batch at a time — and answers once every primary applied them: a failed `DEL` is retried
   * for `REDIS_INVALIDATION_RETRY_MS` (through a failover), and so is one no replica confirmed
   * (`REDIS_INVALIDATION_REPLICAS`), unless a write just waited for them in vain (replicas
   * are behind or gone: the next 5 s of writes do not wait for them). Keys still unconfirmed
   * are deleted again later (`unconfirmed-invalidations.ts`). Returns false when a `DEL`
   * failed: those keys are kept pending and applied before this container's next cache
   * operation, and the call is counted as `CacheInvalidationFailed` — the one cache failure
   * that can leave stale data.
   */
  async delete(...keys: string[]): Promise<boolean> {
    if (!this.options.enabled || keys.length === 0) return true;
    const started = Date.now();
    const deadline = started + this.invalidation.retryMs;
    const asksReplicas = this.invalidation.replicas > 0;
    // Replicas behind or gone: plain DELs (no WAIT to sit through), all of them left to the re-deletes.
    const waitForReplicas = asksReplicas && started >= this.replicasBehindUntil;
    const options = waitForReplicas ? this.invalidation : { ...this.invalidation, replicas: 0 };
    let { failed, unconfirmed } = await this.deleteOnce(keys, options);
    // Retrying through a failover (REDIS_INVALIDATION_RETRY_MS): the write answers once its keys are gone for good.
    for (let pause = 25; ; pause = Math.min(pause * 2, 400)) {
      const retry = [...failed, ...unconfirmed];
      if (retry.length === 0 || Date.now() + pause > deadline) break;
      await sleep(pause);
      const again = await this.deleteOnce(retry, options);
      failed = again.failed;
      unconfirmed = again.unconfirmed;
    }
    const failedSet = new Set(failed);
    const deleted = keys.filter((key) => !failedSet.has(key));
    if (asksReplicas && !waitForReplicas) unconfirmed = deleted;
    const unconfirmedSet = new Set(unconfirmed);
    this.pending.forget(deleted);
    this.unconfirmed.forget(deleted.filter((key) => !unconfirmedSet.has(key)));
    if (unconfirmed.length > 0) {
      if (waitForReplicas) this.replicasBehindUntil = Date.now() + REPLICAS_BEHIND_PAUSE_MS;
      this.unconfirmed.add(unconfirmed);
    }
    if (failed.length === 0) return true;
    this.pending.add(failed);
    countMetric('CacheInvalidationFailed');
    return false;
  }

  /**
   * One pass over `keys`, batch by batch: the keys not deleted (a failed batch and every batch
   * after it) and those deleted but not confirmed by a replica.
   */
  private async deleteOnce(keys: readonly string[], options: InvalidationOptions): Promise<{ failed: string[]; unconfirmed: string[] }> {
    const batches = inBatches(keys);
    const unconfirmed: string[] = [];
    for (const [index, batch] of batches.entries()) {
      const left = await this.attempt<string[] | undefined>('delete', batch[0], undefined, (redis) => deleteBatch(redis, batch, options));
      // Redis is failing: the rest waits for a retry or the flush rather than for more timeouts.
      if (left === undefined) return { failed: batches.slice(index).flat(), unconfirmed };
      unconfirmed.push(...left);
    }
    return { failed: [], unconfirmed };
  }

  /**
   * Cache-aside read that cannot leave a stale value behind, with one load per wave of misses:
   * the first reader to miss takes a fill lease, loads, and fills only if no invalidation
   * removed the lease meanwhile; readers arriving while that lease is live wait for its fill
   * (a HIT) and, if it does not come within `waitMs`, load by themselves without filling.
   * A hit returns the stored string untouched (no parse, no re-serialise), decompressed when
   * it was stored compressed.
   */
  async readThrough(options: ReadThroughOptions): Promise<ReadThroughResult> {
    const bypass = async (): Promise<ReadThroughResult> => {
      countMetric('CacheBypass');
      return { value: this.accept(await options.load(), options.expectPrefix), status: 'BYPASS' };
    };
    if (!this.options.enabled) return bypass();
    const field = options.field ?? '';
    const key = options.key;
    const ttl = options.ttlSeconds ?? this.options.ttlSeconds;
    const hit = (stored: Buffer): ReadThroughResult => {
      countMetric('CacheHit');
      return { value: acceptStoredValue(decodeCacheValue(stored), options.expectPrefix), status: 'HIT' };
    };

    const cached = await this.attempt<Buffer | null | undefined>('get', key, undefined, (redis) =>
      counted(field === '' ? redis.getBuffer(key) : redis.hgetBuffer(key, field)),
    );
    if (cached === undefined) return bypass();
    if (cached !== null && cached[0] !== LEASE_BYTE) return hit(cached);

    const token = randomUUID();
    const deadline = Date.now() + this.lease.waitMs;
    let pause = this.lease.firstPollMs;
    let waited = false;
    for (;;) {
      // Deadlines are set and compared with the callers' clocks (the scripts stay deterministic,
      // no Redis TIME): Lambda hosts are NTP-synchronised to within milliseconds, so a skew only
      // moves a 3 s deadline by that much.
      const lease = `${LEASE_PREFIX}${String(Date.now() + this.lease.leaseMs).padStart(13, '0')}:${token}`;
      const slot = await this.attempt<Buffer | undefined>('acquireFillLease', key, undefined, (redis) =>
        runScript<Buffer>(redis, SCRIPTS.acquireLease, [key], [field, lease, Date.now(), this.lease.leaseMs, options.maxFields ?? 0], { buffers: true }),
      );
      if (slot === undefined) return bypass();
      if (slot[0] !== LEASE_BYTE) {
        if (waited) countMetric('CacheLeaseWait');
        return hit(slot);
      }
      const reply = slot.toString('utf8');
      if (reply === lease) return this.loadAndFill(options, field, lease, ttl);
      if (reply === FIELD_LIMIT_REPLY) {
        countMetric('CacheFieldLimit');
        return this.loadWithoutFill(options);
      }
      // Another reader's live lease: its fill is on the way.
      if (Date.now() + pause > deadline) {
        countMetric('CacheLeaseWaitExpired');
        return this.loadWithoutFill(options);
      }
      waited = true;
      await sleep(pause);
      pause = Math.min(pause * 2, this.lease.maxPollMs);
    }
  }

  private accept(value: string | null, expectPrefix: string | undefined): string | null {
    return value === null || expectPrefix === undefined || value.startsWith(expectPrefix) ? value : null;
  }

  private async loadWithoutFill(options: ReadThroughOptions): Promise<ReadThroughResult> {
    countMetric('CacheMiss');
    return { value: this.accept(await options.load(), options.expectPrefix), status: 'MISS' };
  }

  private async loadAndFill(options: ReadThroughOptions, field: string, lease: string, ttl: number): Promise<ReadThroughResult> {
    const { key } = options;
    countMetric('CacheMiss');
    let value: string | null;
    try {
      value = await options.load();
    } catch (error) {
      // A failed read leaves nothing behind: the next reader loads at once instead of waiting.
      await this.release(key, field, lease);
      throw error;
    }
    if (value === null) {
      await this.release(key, field, lease);
    } else {
      const stored = encodeCacheValue(value, this.compressMinBytes, options.plainHead?.(value));
      await this.attempt('fillIfLeased', key, 0, (redis) => runScript<number>(redis, SCRIPTS.fillIfLeased, [key], [field, lease, stored, ttl, this.lease.leaseMs]));
    }
    return { value: this.accept(value, options.expectPrefix), status: 'MISS' };
  }

  /** A reader whose load failed or found nothing gives its slot back, so nothing is left behind. */
  private async release(key: string, field: string, lease: string): Promise<void> {
    await this.attempt('releaseFillLease', key, 0, (redis) => runScript<number>(redis, SCRIPTS.releaseLease, [key], [field, lease]));
  }
}

let defaultService: CacheService | undefined;

/** The container's cache service, configured from the environment. */
export function getCacheService(): CacheService {
  if (!defaultService) {
    const { cache, redis } = getConfig();
    defaultService = new CacheService({
      enabled: cache.enabled,
      ttlSeconds: cache.ttlSeconds,
      compressMinBytes: cache.compressMinBytes,
      lease: { waitMs: cache.fillWaitMs },
      invalidation: { replicas: redis.invalidationReplicas, waitMs: redis.invalidationWaitMs, retryMs: redis.invalidationRetryMs },
    });
  }
  return defaultService;
}

/** Forgets the container's cache service so the next call re-reads the configuration (tests). */
export function resetCacheService(): void {
  defaultService = undefined;
}
