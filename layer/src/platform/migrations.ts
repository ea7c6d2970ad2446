/**
 * Versioned SQL migrations (`layer/migrations/NNN_name.sql`), applied in order, each in its
 * own transaction and recorded in `schema_migrations`. A transaction-scoped advisory lock
 * serialises concurrent runners (two cold starts, a deploy trigger), so running it again or
 * twice at once is safe.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Client, escapeIdentifier, escapeLiteral, type ClientConfig } from 'pg';
import { getConfig } from './config';
import { connectWithoutTimeouts } from './database';
import { logger } from './observability';
import { getSecretString } from './secrets';

export interface Migration {
  readonly version: string;
  readonly name: string;
  readonly sql: string;
}

/** Where the SQL files are: `layer/migrations` from the source (`src/platform`), `migrations` beside `dist` in the built layer. */
export const MIGRATIONS_DIR = [path.resolve(__dirname, '../../migrations'), path.resolve(__dirname, '../migrations')].find((dir) => existsSync(dir)) ?? path.resolve(__dirname, '../migrations');

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
 * A session of its own for migration work: the given connection (tests), or the configured
 * database without the app pool's timeouts, retrying once with a freshly read secret if the
 * login is refused (a rotation raced the deploy).
 */
async function connectForMigrations(connection?: ClientConfig): Promise<Client> {
  if (!connection) return connectWithoutTimeouts();
  const client = new Client(connection);
  await client.connect();
  return client;
}

/**
 * Applies the pending migrations on a dedicated connection (from `connection`, or to the
 * app's database), because the lock and the DDL must share a session. Not a pooled one: the
 * app pool's statement timeout (5 s) is for requests, and a migration may rightly take longer.
 */
export async function runMigrations(options: { connection?: ClientConfig; dir?: string } = {}): Promise<{ applied: string[] }> {
  const migrations = await loadMigrations(options.dir);
  const client = await connectForMigrations(options.connection);
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

/**
 * Gives the application role (created NOLOGIN by migration 004) a login with the password
 * in its own secret (`{username, password}`). Only while the role cannot log in: afterwards
 * the secret's rotation owns the password, and setting it here again could undo a rotation
 * that is between its setSecret and finishSecret steps. Returns whether it changed anything.
 */
export async function ensureAppRoleLogin(options: { secretArn: string; connection?: ClientConfig }): Promise<boolean> {
  const { username, password } = JSON.parse(await getSecretString(options.secretArn)) as { username: string; password: string };
  const client = await connectForMigrations(options.connection);
  try {
    const { rows } = await client.query<{ rolcanlogin: boolean }>('SELECT rolcanlogin FROM pg_roles WHERE rolname = $1', [username]);
    if (rows.length === 0) throw new Error(`Role ${username} does not exist; migration 004_app_role creates it`);
    if (rows[0].rolcanlogin) return false;
    // Utility statements take no bind parameters: the name and the password are escaped instead.
    await client.query(`ALTER ROLE ${escapeIdentifier(username)} WITH LOGIN PASSWORD ${escapeLiteral(password)}`);
    return true;
  } finally {
    await client.end();
  }
}

/**
 * What the deploy-time migrate function does: applies the pending migrations, then (when
 * `APP_DATABASE_SECRET_ARN` is set) gives the application role its first login.
 */
export async function migrateDatabase(): Promise<{ applied: string[]; appRoleLoginCreated: boolean }> {
  const { applied } = await runMigrations();
  const appSecretArn = getConfig().database.appRoleSecretArn;
  const appRoleLoginCreated = appSecretArn ? await ensureAppRoleLogin({ secretArn: appSecretArn }) : false;
  logger.info('Migrations applied', { applied, appRoleLoginCreated });
  return { applied, appRoleLoginCreated };
}
