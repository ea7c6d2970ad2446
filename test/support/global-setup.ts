/**
 * Once per `jest` run: a fresh database on the real local Postgres, migrated, and a unique
 * Redis key prefix, so runs never see each other's data; then one copy of that database per
 * Jest worker (`CREATE DATABASE … TEMPLATE`), so suites running at the same time in two workers
 * never see each other's rows either (test/support/setup-env.ts picks the worker's copy and a
 * prefix of its own). Exported through process.env, which the test workers inherit.
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { Redis } from 'ioredis';
// Not the package index: global setup runs outside Jest's module system, which resolves middy's ESM-only exports.
import { runMigrations } from '../../layer/src/platform/migrations';
import { ADMIN_DATABASE_URL, TEST_REDIS_URL, databaseUrl, workerDatabaseName } from './services';

export default async function globalSetup(globalConfig: { readonly maxWorkers: number }): Promise<void> {
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
  const workers = Math.max(1, globalConfig.maxWorkers);
  const copier = new Client({ connectionString: ADMIN_DATABASE_URL, connectionTimeoutMillis: 5000 });
  await copier.connect();
  for (let worker = 1; worker <= workers; worker += 1) await copier.query(`CREATE DATABASE ${workerDatabaseName(databaseName, worker)} TEMPLATE ${databaseName}`);
  await copier.end();

  Object.assign(process.env, {
    TEST_RUN_ID: runId,
    TEST_DATABASE_NAME: databaseName,
    TEST_WORKER_DATABASES: String(workers),
    DATABASE_URL: url,
    REDIS_URL: TEST_REDIS_URL,
    CACHE_KEY_PREFIX: `test:${runId}:`,
  });
}
