/** Drops the run's databases (its workers' copies too) and deletes the run's Redis keys (every worker's prefix starts with the run's). */
import { Client } from 'pg';
import { Redis } from 'ioredis';
import { ADMIN_DATABASE_URL, TEST_REDIS_URL, workerDatabaseName } from './services';

export default async function globalTeardown(): Promise<void> {
  const databaseName = process.env.TEST_DATABASE_NAME;
  const prefix = process.env.CACHE_KEY_PREFIX;
  if (databaseName) {
    const admin = new Client({ connectionString: ADMIN_DATABASE_URL });
    await admin.connect();
    const workers = Number(process.env.TEST_WORKER_DATABASES ?? 0);
    for (let worker = 1; worker <= workers; worker += 1) await admin.query(`DROP DATABASE IF EXISTS ${workerDatabaseName(databaseName, worker)} WITH (FORCE)`);
    await admin.query(`DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`);
    await admin.end();
  }
  if (prefix) {
    const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 0 });
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
    await redis.quit();
  }
}
