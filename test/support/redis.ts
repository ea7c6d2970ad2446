/** A plain ioredis client for assertions, outside the code under test. */
import { Redis } from 'ioredis';

export function rawRedis(url = process.env.REDIS_URL as string): Redis {
  return new Redis(url, { maxRetriesPerRequest: 1 });
}

/** The run's key prefix (see global-setup). */
export const runPrefix = (): string => process.env.CACHE_KEY_PREFIX as string;
