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
export async function runMigrations(
  options: {
    connection?: ClientConfig;
    dir?: string;
    /** Then make this the text search configuration of conversation search ({@link alignSearchConfiguration}). @default left as it is */
    searchTextConfig?: string;
  } = {},
): Promise<{ applied: string[] }> {
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
    if (options.searchTextConfig !== undefined) await alignSearchConfiguration(client, options.searchTextConfig);
  } finally {
    await client.end();
  }
  return { applied };
}

/** The trigger functions of migration 007, computing vectors in text search configuration `config` (a SQL literal). */
const searchTriggerFunctions = (config: string) => `
CREATE OR REPLACE FUNCTION messages_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.search_vector := CASE WHEN NEW.role IN ('user', 'assistant') THEN jsonb_to_tsvector(${config}::regconfig, NEW.parts, '["string"]') END;
  RETURN NEW;
END
$$;
CREATE OR REPLACE FUNCTION conversations_title_vector() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.title_vector := to_tsvector(${config}::regconfig, coalesce(NEW.title, ''));
  RETURN NEW;
END
$$;`;

/** Rows re-vectorised per statement: short enough that each holds its row locks only briefly. */
const REVECTORISE_BATCH = 2000;

/**
 * Makes `config` the text search configuration of conversation search (`SEARCH_TEXT_CONFIG`),
 * online: under the migration lock the trigger functions are replaced (new rows use it at
 * once, and queries read it from `search_configuration`), then the existing rows are
 * re-vectorised in batches, each its own short statement, and `backfilled_config` records
 * that they are done — an interrupted run is finished by the next. Until then, old rows are
 * matched with the vectors of the previous configuration. A no-op when nothing changed.
 */
export async function alignSearchConfiguration(client: Client, config: string): Promise<{ reconfigured: boolean; revectorised: number }> {
  // Fails here, before anything changes, for a configuration the server does not have.
  const { rows: canonical } = await client.query<{ name: string }>('SELECT $1::regconfig::text AS name', [config]);
  const name = canonical[0].name;
  await client.query('BEGIN');
  let backfilled: string;
  let reconfigured = false;
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_ID]);
    const { rows } = await client.query<{ text: string; backfilled: string }>(
      'SELECT text_config::text AS text, backfilled_config::text AS backfilled FROM search_configuration FOR UPDATE',
    );
    backfilled = rows[0].backfilled;
    if (rows[0].text !== name) {
      await client.query(searchTriggerFunctions(escapeLiteral(name)));
      await client.query('UPDATE search_configuration SET text_config = $1::regconfig', [name]);
      reconfigured = true;
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
  if (backfilled === name) return { reconfigured, revectorised: 0 };

  let revectorised = 0;
  for (let after = '00000000-0000-0000-0000-000000000000'; ; ) {
    const { rows } = await client.query<{ id: string; n: number }>(
      `WITH batch AS (
         UPDATE conversations SET title_vector = to_tsvector($1::regconfig, coalesce(title, ''))
          WHERE id IN (SELECT id FROM conversations WHERE id > $2 ORDER BY id LIMIT $3) RETURNING id)
       SELECT id, count(*) OVER ()::int AS n FROM batch ORDER BY id DESC LIMIT 1`,
      [name, after, REVECTORISE_BATCH],
    );
    if (rows.length === 0) break;
    revectorised += rows[0].n;
    after = rows[0].id;
  }
  for (let after: [string, string] = ['00000000-0000-0000-0000-000000000000', '']; ; ) {
    const { rows } = await client.query<{ conversation_id: string; id: string; n: number }>(
      `WITH batch AS (
         UPDATE messages SET search_vector = jsonb_to_tsvector($1::regconfig, parts, '["string"]')
          WHERE (conversation_id, id) IN (
            SELECT conversation_id, id FROM messages WHERE (conversation_id, id) > ($2::uuid, $3) AND role IN ('user', 'assistant')
             ORDER BY conversation_id, id LIMIT $4)
          RETURNING conversation_id, id)
       SELECT conversation_id, id, count(*) OVER ()::int AS n FROM batch ORDER BY conversation_id DESC, id DESC LIMIT 1`,
      [name, after[0], after[1], REVECTORISE_BATCH],
    );
    if (rows.length === 0) break;
    revectorised += rows[0].n;
    after = [rows[0].conversation_id, rows[0].id];
  }
  await client.query('UPDATE search_configuration SET backfilled_config = text_config WHERE text_config = $1::regconfig', [name]);
  logger.info('Text search configuration applied', { config: name, reconfigured, revectorised });
  return { reconfigured, revectorised };
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
 * What the deploy-time migrate function does: applies the pending migrations and the text
 * search configuration, then (when `APP_DATABASE_SECRET_ARN` is set) gives the application
 * role its first login.
 */
export async function migrateDatabase(): Promise<{ applied: string[]; appRoleLoginCreated: boolean }> {
  const { applied } = await runMigrations({ searchTextConfig: getConfig().sharing.searchTextConfig });
  const appSecretArn = getConfig().database.appRoleSecretArn;
  const appRoleLoginCreated = appSecretArn ? await ensureAppRoleLogin({ secretArn: appSecretArn }) : false;
  logger.info('Migrations applied', { applied, appRoleLoginCreated });
  return { applied, appRoleLoginCreated };
}
