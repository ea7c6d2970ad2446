/**
 * The cache: a race-free, single-flight cache-aside read (compressing large values), delete,
 * and the context list's read and append. Redis is an optimisation, never a dependency: every
 * failure is caught, logged, counted and answered as a miss within the command timeout
 * (fail-open), here and nowhere else.
 *
 * Every operation touches exactly one key, so it works unchanged on cluster-mode Redis.
 */
import { randomUUID } from 'node:crypto';
import { zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { getConfig } from './config';
import { countMetric, logger } from './observability';
import { getRedis, type RedisConnection } from './redis-client';

/** How a read was answered; handlers report it in `X-Cache`. */
export type CacheStatus = 'HIT' | 'MISS' | 'BYPASS';

/** The key names of the cache contract (SPEC §3), before the optional prefix. */
export const cacheKeys = {
  conversationHistory: (conversationId: string) => `conv:${conversationId}:history`,
  conversationList: (userId: string) => `user:${userId}:conversation_list`,
  chatContext: (conversationId: string) => `chat:${conversationId}:context`,
};

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
/** First byte of a compressed value: `\x01<plain head>\x00<zstd of the whole value>`. */
const COMPRESSED_BYTE = 0x01;
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

/**
 * KEYS[1] = list; ARGV = mode ('replace' | 'if-tail'), tail prefix, max length, ttl s,
 * values... Returns the list after the append, or 0 when the tail did not match.
 */
const APPEND_TO_LIST = `
local key = KEYS[1]
if ARGV[1] == 'replace' then
  redis.call('DEL', key)
else
  local tail = redis.call('LINDEX', key, -1)
  if not tail or string.sub(tail, 1, string.len(ARGV[2])) ~= ARGV[2] then
    redis.call('DEL', key)
    return 0
  end
end
if #ARGV > 4 then
  redis.call('RPUSH', key, unpack(ARGV, 5))
  redis.call('LTRIM', key, -tonumber(ARGV[3]), -1)
  redis.call('EXPIRE', key, ARGV[4])
end
return redis.call('LRANGE', key, 0, -1)
`;

/** Options of `CacheService.appendToList`: either a rebuild (`replace`) or a conditional append. */
export type AppendToListOptions = {
  /** Keep only the last `maxLength` elements. */
  readonly maxLength: number;
  readonly ttlSeconds: number;
} & (
  | {
      /** Replace the whole list with the values. */
      readonly replace: true;
    }
  | {
      /** Append only when the current last element starts with this string. */
      readonly ifTailStartsWith: string;
    }
);

type ScriptedRedis = RedisConnection & {
  appendToListScript(key: string, mode: string, tailPrefix: string, maxLength: number, ttl: number, ...values: string[]): Promise<string[] | 0>;
  acquireFillLeaseBuffer(key: string, field: string, lease: string, nowMs: number, leaseMs: number, maxFields: number): Promise<Buffer>;
  fillIfLeased(key: string, field: string, lease: string, value: Buffer, ttl: number, leaseMs: number): Promise<number>;
  releaseFillLease(key: string, field: string, lease: string): Promise<number>;
};

const scriptsDefined = new WeakSet<RedisConnection>();

async function scriptedRedis(): Promise<ScriptedRedis> {
  const redis = await getRedis();
  if (!scriptsDefined.has(redis)) {
    // defineCommand sends EVALSHA and falls back to EVAL once per node, so scripts survive failovers.
    redis.defineCommand('acquireFillLease', { numberOfKeys: 1, lua: ACQUIRE_LEASE });
    redis.defineCommand('fillIfLeased', { numberOfKeys: 1, lua: FILL_IF_LEASED });
    redis.defineCommand('releaseFillLease', { numberOfKeys: 1, lua: RELEASE_LEASE });
    redis.defineCommand('appendToListScript', { numberOfKeys: 1, lua: APPEND_TO_LIST });
    scriptsDefined.add(redis);
  }
  return redis as ScriptedRedis;
}

/** Options of a cache-aside read. */
export interface ReadThroughOptions {
  /** Logical key (without prefix). */
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
  readonly keyPrefix: string;
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
}

/** Redis operation counts since start, for the benchmarks' round-trip figures. */
export const cacheStats = { commands: 0, errors: 0 };

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A stored value: plain UTF-8, or `\x01<head>\x00<zstd>`. */
export function encodeCacheValue(value: string, compressMinBytes: number, head = ''): Buffer {
  const plain = Buffer.from(value, 'utf8');
  if (compressMinBytes <= 0 || plain.length < compressMinBytes) return plain;
  // A head with NUL would end early on decode; such a value is stored without one.
  const safeHead = head.includes('\u0000') || !value.startsWith(head) ? '' : head;
  return Buffer.concat([Buffer.from([COMPRESSED_BYTE]), Buffer.from(safeHead, 'utf8'), Buffer.from([0]), zstdCompressSync(plain)]);
}

/** What a stored value says before it is decompressed. */
interface StoredValue {
  /** The plain head of a compressed value, or the whole plain value. */
  readonly head: string;
  readonly complete: boolean;
  readonly text: () => string;
}

function decodeCacheValue(stored: Buffer): StoredValue {
  if (stored[0] !== COMPRESSED_BYTE) {
    const text = stored.toString('utf8');
    return { head: text, complete: true, text: () => text };
  }
  const end = stored.indexOf(0, 1);
  return {
    head: stored.toString('utf8', 1, end),
    complete: false,
    text: () => zstdDecompressSync(stored.subarray(end + 1)).toString('utf8'),
  };
}

/** The value if it is wanted; decompresses only when the head cannot decide. */
function wanted(stored: StoredValue, expectPrefix: string | undefined): string | null {
  if (expectPrefix !== undefined && (stored.complete || stored.head.length >= expectPrefix.length) && !stored.head.startsWith(expectPrefix)) return null;
  const text = stored.text();
  return expectPrefix === undefined || text.startsWith(expectPrefix) ? text : null;
}

export class CacheService {
  /**
   * Keys whose invalidating `DEL` failed (Redis unreachable from here). They are deleted
   * before this container's next cache operation succeeds, and until then every operation
   * fails over to Postgres, so this container never serves what it failed to invalidate.
   */
  private readonly pendingDeletes = new Set<string>();
  private readonly compressMinBytes: number;
  private readonly lease: Required<FillLeaseOptions>;

  constructor(private readonly options: CacheServiceOptions) {
    this.compressMinBytes = options.compressMinBytes ?? 16384;
    this.lease = { leaseMs: 3000, waitMs: 250, firstPollMs: 2, maxPollMs: 16, ...options.lease };
  }

  /** The key as stored in Redis. */
  fullKey(key: string): string {
    return this.options.keyPrefix + key;
  }

  /** Runs one Redis operation; on any failure logs, counts and returns `fallback`. */
  private async attempt<T>(operation: string, key: string, fallback: T, work: (redis: ScriptedRedis) => Promise<T>): Promise<T> {
    if (!this.options.enabled) return fallback;
    try {
      const redis = await scriptedRedis();
      if (this.pendingDeletes.size > 0) await this.retryPendingDeletes(redis);
      cacheStats.commands += 1;
      return await work(redis);
    } catch (error) {
      cacheStats.errors += 1;
      countMetric('CacheError');
      logger.warn('Cache operation failed; continuing without the cache', {
        operation,
        key,
        error: error instanceof Error ? error.message : String(error),
      });
      return fallback;
    }
  }

  private async retryPendingDeletes(redis: RedisConnection): Promise<void> {
    await Promise.all(
      [...this.pendingDeletes].map(async (key) => {
        cacheStats.commands += 1;
        await redis.del(this.fullKey(key));
        this.pendingDeletes.delete(key);
      }),
    );
    logger.info('Applied invalidations that had failed earlier');
  }

  /**
   * Deletes keys, one command each (they live in different hash slots), pipelined into one
   * write. Returns false when any delete failed; the failure is counted as
   * `CacheInvalidationFailed` because it is the one cache failure that can leave stale data,
   * and the key is retried before this container's next cache operation.
   */
  async delete(...keys: string[]): Promise<boolean> {
    if (!this.options.enabled || keys.length === 0) return true;
    const results = await Promise.all(
      keys.map(async (key) => {
        const deleted = await this.attempt('delete', key, false, async (redis) => (await redis.del(this.fullKey(key))) >= 0);
        if (!deleted) this.pendingDeletes.add(key);
        return deleted;
      }),
    );
    const ok = results.every(Boolean);
    if (!ok) countMetric('CacheInvalidationFailed');
    return ok;
  }

  /** The whole list, or `null` when it is missing or Redis failed. */
  async getList(key: string): Promise<string[] | null> {
    const values = await this.attempt('getList', key, null, (redis) => redis.lrange(this.fullKey(key), 0, -1));
    return values && values.length > 0 ? values : null;
  }

  /**
   * `RPUSH` + `LTRIM -max -1` + `EXPIRE` in one round trip (a Lua script, so atomic), and
   * the list as it is afterwards. With `replace` the list is rebuilt from `values`; with
   * `ifTailStartsWith` the append happens only when the last element starts with that string
   * (the list continues the expected branch) — otherwise the list is dropped so the next
   * reader rebuilds it. Returns `null` on a tail mismatch or a Redis failure.
   */
  async appendToList(key: string, values: readonly string[], options: AppendToListOptions): Promise<string[] | null> {
    const tail = 'ifTailStartsWith' in options ? options.ifTailStartsWith : undefined;
    return this.attempt('appendToList', key, null, async (redis) => {
      const list = await redis.appendToListScript(this.fullKey(key), tail === undefined ? 'replace' : 'if-tail', tail ?? '', options.maxLength, options.ttlSeconds, ...values);
      return list === 0 ? null : list;
    });
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
    const fullKey = this.fullKey(options.key);
    const ttl = options.ttlSeconds ?? this.options.ttlSeconds;
    const hit = (stored: Buffer): ReadThroughResult => {
      countMetric('CacheHit');
      return { value: wanted(decodeCacheValue(stored), options.expectPrefix), status: 'HIT' };
    };

    const cached = await this.attempt<Buffer | null | undefined>('get', options.key, undefined, (redis) =>
      field === '' ? redis.getBuffer(fullKey) : redis.hgetBuffer(fullKey, field),
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
      const slot = await this.attempt<Buffer | undefined>('acquireFillLease', options.key, undefined, (redis) =>
        redis.acquireFillLeaseBuffer(fullKey, field, lease, Date.now(), this.lease.leaseMs, options.maxFields ?? 0),
      );
      if (slot === undefined) return bypass();
      if (slot[0] !== LEASE_BYTE) {
        if (waited) countMetric('CacheLeaseWait');
        return hit(slot);
      }
      const reply = slot.toString('utf8');
      if (reply === lease) return this.loadAndFill(options, fullKey, field, lease, ttl);
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

  private async loadAndFill(options: ReadThroughOptions, fullKey: string, field: string, lease: string, ttl: number): Promise<ReadThroughResult> {
    countMetric('CacheMiss');
    let value: string | null;
    try {
      value = await options.load();
    } catch (error) {
      // A failed read leaves nothing behind: the next reader loads at once instead of waiting.
      await this.attempt('releaseFillLease', options.key, 0, (redis) => redis.releaseFillLease(fullKey, field, lease));
      throw error;
    }
    if (value === null) {
      await this.attempt('releaseFillLease', options.key, 0, (redis) => redis.releaseFillLease(fullKey, field, lease));
    } else {
      const stored = encodeCacheValue(value, this.compressMinBytes, options.plainHead?.(value));
      await this.attempt('fillIfLeased', options.key, 0, (redis) => redis.fillIfLeased(fullKey, field, lease, stored, ttl, this.lease.leaseMs));
    }
    return { value: this.accept(value, options.expectPrefix), status: 'MISS' };
  }
}

let defaultService: CacheService | undefined;

/** The container's cache service, configured from the environment. */
export function getCacheService(): CacheService {
  if (!defaultService) {
    const { cache } = getConfig();
    defaultService = new CacheService({
      enabled: cache.enabled,
      keyPrefix: cache.keyPrefix,
      ttlSeconds: cache.ttlSeconds,
      compressMinBytes: cache.compressMinBytes,
    });
  }
  return defaultService;
}

/** Forgets the container's cache service so the next call re-reads the configuration (tests). */
export function resetCacheService(): void {
  defaultService = undefined;
}
