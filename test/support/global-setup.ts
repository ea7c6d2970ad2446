/**
 * Once per `jest` run: a fresh database on the real local Postgres, migrated, and a unique
 * Redis key prefix, so runs never see each other's data. Exported through process.env, which
 * the test workers inherit.
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { Redis } from 'ioredis';
// Not the package index: global setup runs outside Jest's module system, which resolves middy's ESM-only exports.
import { runMigrations } from '../../layer/src/platform/migrations';
import { ADMIN_DATABASE_URL, TEST_REDIS_URL, databaseUrl } from './services';

export default async function globalSetup(): Promise<void> {
  const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const databaseName = `chatbot_test_${runId}`;

  const admin = new Client({ connectionString: ADMIN_DATABASE_URL, connectionTimeoutMillis: 5000 });
  try {
    await admin.connect();
  } catch (error) {
    throw new Error(`Tests need PostgreSQL at ${ADMIN_DATABASE_URL} (see .ci/run): ${String(error)}`);
  }
  await admin.query(`CREATE DATABASE ${databaseName}`);
  await admin.end();

  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0 });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(`Tests need Redis at ${TEST_REDIS_URL} (see .ci/run): ${String(error)}`);
  } finally {
    redis.disconnect();
  }

  const url = databaseUrl(databaseName);
  await runMigrations({ connection: { connectionString: url } });

  Object.assign(process.env, {
    TEST_RUN_ID: runId,
    TEST_DATABASE_NAME: databaseName,
    DATABASE_URL: url,
    REDIS_URL: TEST_REDIS_URL,
    CACHE_KEY_PREFIX: `test:${runId}:`,
  });
}
