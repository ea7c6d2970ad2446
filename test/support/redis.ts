/** A plain ioredis client for assertions, outside the code under test. */
import { Redis } from 'ioredis';

export function rawRedis(url = process.env.REDIS_URL as string): Redis {
  return new Redis(url, { maxRetriesPerRequest: 1 });
}

/** The run's key prefix (see global-setup). */
export const runPrefix = (): string => process.env.CACHE_KEY_PREFIX as string;

/**
 * A Redis URL nothing answers. Port 1 rather than a just-freed port: the client reconnects every
 * 100 ms, and a free port in the ephemeral range can be picked as a reconnect's own source port,
 * so the socket connects to itself (TCP simultaneous open) and the client reads its own commands
 * back as replies — a "Redis down" test then sees a Redis that answers.
 */
export const UNREACHABLE_REDIS_URL = 'redis://127.0.0.1:1';
