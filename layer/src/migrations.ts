/**
 * Versioned SQL migrations (`layer/migrations/NNN_name.sql`), applied in order, each in its
 * own transaction and recorded in `schema_migrations`. A transaction-scoped advisory lock
 * serialises concurrent runners (two cold starts, a deploy trigger), so running it again or
 * twice at once is safe.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Client, type ClientConfig } from 'pg';
import { connectWithoutTimeouts } from './database';

export interface Migration {
  readonly version: string;
  readonly name: string;
  readonly sql: string;
}

/** Where the SQL files are, both in source (src → migrations) and in the built layer (dist → migrations). */
export const MIGRATIONS_DIR = path.resolve(__dirname, '../migrations');

/** Arbitrary but fixed: every runner of this app takes the same lock. */
const MIGRATION_LOCK_ID = 724_031_901;

/** The migration files, ordered by version. */
export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((file) => /^\d+_[\w-]+\.sql$/.test(file)).sort();
  return Promise.all(
    files.map(async (file) => {
      const [version, ...rest] = file.replace(/\.sql$/, '').split('_');
      return { version, name: rest.join('_'), sql: await readFile(path.join(dir, file), 'utf8') };
    }),
  );
}

/**
 * Applies the pending migrations on a dedicated connection (from `connection`, or to the
 * app's database), because the lock and the DDL must share a session. Not a pooled one: the
 * app pool's statement timeout (5 s) is for requests, and a migration may rightly take longer.
 */
export async function runMigrations(options: { connection?: ClientConfig; dir?: string } = {}): Promise<{ applied: string[] }> {
  const migrations = await loadMigrations(options.dir);
  let client: Client;
  if (options.connection) {
    client = new Client(options.connection);
    await client.connect();
  } else {
    client = await connectWithoutTimeouts();
  }
  const applied: string[] = [];
  try {
    for (const migration of migrations) {
      await client.query('BEGIN');
      try {
        await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_ID]);
        // Inside the lock: two concurrent CREATE TABLE IF NOT EXISTS can still collide.
        await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
          version text PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
        const done = await client.query('SELECT 1 FROM schema_migrations WHERE version = $1', [migration.version]);
        if (done.rowCount === 0) {
          await client.query(migration.sql);
          await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
          applied.push(`${migration.version}_${migration.name}`);
        }
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    }
  } finally {
    await client.end();
  }
  return { applied };
}
