/**
 * The bench's own environment, set before any layer module loads (Powertools reads its
 * settings when the logger is constructed; the handlers parse the config at import): a fresh
 * database name and a Redis key prefix of its own, so a run never collides with the tests.
 * Imported first by main.ts.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { ADMIN_DATABASE_URL, TEST_REDIS_URL, databaseUrl } from '../test/support/services';

/** Repository root: the bundle runs from `.build/bench/`. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

export const RUN_ID = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
export const DATABASE_NAME = `chatbot_bench_${RUN_ID}`;
export const DATABASE_URL = databaseUrl(DATABASE_NAME);
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? TEST_REDIS_URL;
export const KEY_PREFIX = `bench:${RUN_ID}:`;
export { ADMIN_DATABASE_URL };

Object.assign(process.env, {
  DATABASE_URL,
  REDIS_URL,
  CACHE_KEY_PREFIX: KEY_PREFIX,
  CACHE_ENABLED: 'true',
  // The turn limiter runs on every POST, as deployed, but the bench's users must never be refused.
  USER_TURN_LIMIT: '1000000',
  LLM_PROVIDER: 'local',
  LOCAL_MODEL_TOKEN_DELAY_MS: '0',
  POWERTOOLS_LOG_LEVEL: 'SILENT',
  POWERTOOLS_METRICS_DISABLED: 'true',
});
