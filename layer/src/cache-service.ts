/**
 * The cache: generic get / set-with-TTL / delete / list append, plus a race-free
 * cache-aside read. Redis is an optimisation, never a dependency: every failure is caught,
 * logged, counted and answered as a miss within the command timeout (fail-open), here and
 * nowhere else.
 *
 * Every operation touches exactly one key, so it works unchanged on cluster-mode Redis.
 */
import { randomUUID } from 'node:crypto';
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
 * stale-fill race). It starts with NUL, which no JSON body does, so a hit is told from a
 * lease by one character.
 */
const LEASE_PREFIX = '\u0000lease:';
const LEASE_TTL_MS = 10_000;

const isLease = (value: string): boolean => value.startsWith(LEASE_PREFIX);

/**
 * Shared by the two lease scripts. KEYS[1] = key; ARGV[3] = key ttl s; ARGV[4] = hash field,
 * empty for a string key. A "slot" is the string key or that field of the hash; a hash gets
 * its TTL once, when created, so one page's fill never extends another's.
 */
const SLOT_FUNCTIONS = `
local key, ttl, field = KEYS[1], ARGV[3], ARGV[4]
local function read_slot()
  if field == '' then return redis.call('GET', key) end
  return redis.call('HGET', key, field)
end
local function write_slot(value, expiry_unit, expiry)
  if field == '' then return redis.call('SET', key, value, expiry_unit, expiry) end
  redis.call('HSET', key, field, value)
  if redis.call('TTL', key) < 0 then redis.call('EXPIRE', key, ttl) end
end
`;

/**
 * ARGV = lease, lease ttl ms, key ttl s, field. Takes the slot when it is empty or holds
 * another (possibly abandoned) lease; returns the lease, or the value when a fill landed meanwhile.
 */
const ACQUIRE_LEASE = `${SLOT_FUNCTIONS}
local current = read_slot()
if current and string.sub(current, 1, 7) ~= '\\0lease:' then return current end
write_slot(ARGV[1], 'PX', ARGV[2])
return ARGV[1]
`;

/** ARGV = lease, value, key ttl s, field. Writes only while our lease still holds the slot. */
const FILL_IF_LEASED = `${SLOT_FUNCTIONS}
if read_slot() ~= ARGV[1] then return 0 end
write_slot(ARGV[2], 'EX', ttl)
return 1
`;

/**
 * KEYS[1] = list; ARGV = mode ('append' | 'replace' | 'if-tail'), tail prefix, max length,
 * ttl s, values... Returns the list after the append, or 0 when the tail did not match.
 */
const APPEND_TO_LIST = `
local key = KEYS[1]
local mode = ARGV[1]
if mode == 'replace' then
  redis.call('DEL', key)
elseif mode == 'if-tail' then
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

/** Options of `CacheService.appendToList`. */
export interface AppendToListOptions {
  /** Keep only the last `maxLength` elements. */
  readonly maxLength: number;
  readonly ttlSeconds: number;
  /** Replace the whole list with the values. @default false */
  readonly replace?: boolean;
  /** Append only when the current last element starts with this string. @default append unconditionally */
  readonly ifTailStartsWith?: string;
}

type ScriptedRedis = RedisConnection & {
  appendToListScript(key: string, mode: string, tailPrefix: string, maxLength: number, ttl: number, ...values: string[]): Promise<string[] | 0>;
  acquireFillLease(key: string, lease: string, leaseTtlMs: number, ttl: number, field: string): Promise<string>;
  fillIfLeased(key: string, lease: string, value: string, ttl: number, field: string): Promise<number>;
};

const scriptsDefined = new WeakSet<RedisConnection>();

async function scriptedRedis(): Promise<ScriptedRedis> {
  const redis = await getRedis();
  if (!scriptsDefined.has(redis)) {
    // defineCommand sends EVALSHA and falls back to EVAL once per node, so scripts survive failovers.
    redis.defineCommand('acquireFillLease', { numberOfKeys: 1, lua: ACQUIRE_LEASE });
    redis.defineCommand('fillIfLeased', { numberOfKeys: 1, lua: FILL_IF_LEASED });
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
  /** @default CACHE_TTL_SECONDS (600) */
  readonly ttlSeconds?: number;
  /** Produces the value from the source of truth; `null` means "nothing to cache". */
  readonly load: () => Promise<string | null>;
}

export interface ReadThroughResult {
  readonly value: string | null;
  readonly status: CacheStatus;
}

/** Redis operation counts since start, for the benchmarks' round-trip figures. */
export const cacheStats = { commands: 0, errors: 0 };

export class CacheService {
  /**
   * Keys whose invalidating `DEL` failed (Redis unreachable from here). They are deleted
   * before this container's next cache operation succeeds, and until then every operation
   * fails over to Postgres, so this container never serves what it failed to invalidate.
   */
  private readonly pendingDeletes = new Set<string>();

  constructor(
    private readonly options: { readonly enabled: boolean; readonly keyPrefix: string; readonly ttlSeconds: number },
  ) {}

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

  /** The value, or `null` on a miss, a lease, or a Redis failure. */
  async get(key: string, field?: string): Promise<string | null> {
    const value = await this.attempt('get', key, null, (redis) =>
      field === undefined ? redis.get(this.fullKey(key)) : redis.hget(this.fullKey(key), field),
    );
    return value === null || isLease(value) ? null : value;
  }

  /** `SETEX`; returns false when Redis failed. */
  async set(key: string, value: string, ttlSeconds = this.options.ttlSeconds): Promise<boolean> {
    return this.attempt('set', key, false, async (redis) => (await redis.set(this.fullKey(key), value, 'EX', ttlSeconds)) === 'OK');
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
    const mode = options.replace ? 'replace' : options.ifTailStartsWith !== undefined ? 'if-tail' : 'append';
    return this.attempt('appendToList', key, null, async (redis) => {
      const list = await redis.appendToListScript(
        this.fullKey(key),
        mode,
        options.ifTailStartsWith ?? '',
        options.maxLength,
        options.ttlSeconds,
        ...values,
      );
      return list === 0 ? null : list;
    });
  }

  /**
   * Cache-aside read that cannot leave a stale value behind: on a miss the reader first takes
   * a fill lease, then loads, then fills only if no invalidation removed the lease meanwhile.
   * A hit returns the stored string untouched (no parse, no re-serialise).
   */
  async readThrough(options: ReadThroughOptions): Promise<ReadThroughResult> {
    const bypass = async (): Promise<ReadThroughResult> => {
      countMetric('CacheBypass');
      return { value: await options.load(), status: 'BYPASS' };
    };
    if (!this.options.enabled) return bypass();
    const field = options.field ?? '';
    const fullKey = this.fullKey(options.key);
    const ttl = options.ttlSeconds ?? this.options.ttlSeconds;

    const cached = await this.attempt<string | null | undefined>('get', options.key, undefined, (redis) =>
      field === '' ? redis.get(fullKey) : redis.hget(fullKey, field),
    );
    if (cached === undefined) return bypass();
    if (cached !== null && !isLease(cached)) {
      countMetric('CacheHit');
      return { value: cached, status: 'HIT' };
    }

    const lease = LEASE_PREFIX + randomUUID();
    const acquired = await this.attempt<string | undefined>('acquireFillLease', options.key, undefined, (redis) =>
      redis.acquireFillLease(fullKey, lease, LEASE_TTL_MS, ttl, field),
    );
    if (acquired === undefined) return bypass();
    if (acquired !== lease) {
      countMetric('CacheHit');
      return { value: acquired, status: 'HIT' };
    }

    countMetric('CacheMiss');
    const value = await options.load();
    if (value !== null) {
      await this.attempt('fillIfLeased', options.key, 0, (redis) => redis.fillIfLeased(fullKey, lease, value, ttl, field));
    }
    return { value, status: 'MISS' };
  }
}

let defaultService: CacheService | undefined;

/** The container's cache service, configured from the environment. */
export function getCacheService(): CacheService {
  if (!defaultService) {
    const { cache } = getConfig();
    defaultService = new CacheService({ enabled: cache.enabled, keyPrefix: cache.keyPrefix, ttlSeconds: cache.ttlSeconds });
  }
  return defaultService;
}

/** Forgets the container's cache service so the next call re-reads the configuration (tests). */
export function resetCacheService(): void {
  defaultService = undefined;
}
