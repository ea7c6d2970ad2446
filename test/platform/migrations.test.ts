import { Client } from 'pg';
import { closeDatabase, db, loadMigrations, resetConfig, runMigrations } from '@chatbot/shared/testing';
import { ADMIN_DATABASE_URL, databaseUrl } from '../support/services';

describe('migrations', () => {
  const name = `chatbot_migrations_${process.env.TEST_RUN_ID}`;
  const admin = new Client({ connectionString: ADMIN_DATABASE_URL });
  beforeAll(async () => {
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
  });
  afterAll(async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  });

  it('finds the versioned SQL files in order', async () => {
    const migrations = await loadMigrations();
    expect(migrations.length).toBeGreaterThan(0);
    expect(migrations.map((m) => m.version)).toEqual([...migrations.map((m) => m.version)].sort());
    expect(migrations[0]).toMatchObject({ version: '001', name: 'conversations' });
  });

  it('applies each pending migration once, even when runners race, and is a no-op after', async () => {
    const connection = { connectionString: databaseUrl(name) };
    const results = await Promise.all([runMigrations({ connection }), runMigrations({ connection }), runMigrations({ connection })]);
    const applied = results.flatMap((r) => r.applied);
    const all = (await loadMigrations()).map((m) => `${m.version}_${m.name}`);
    expect(applied.sort()).toEqual(all.sort());
    expect(await runMigrations({ connection })).toEqual({ applied: [] });
    const db = new Client(connection);
    await db.connect();
    const { rows } = await db.query('SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual((await loadMigrations()).map((m) => m.version));
    await db.end();
  });

  it('rolls back a failing migration entirely', async () => {
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const dir = await mkdtemp('/tmp/migrations-');
    await writeFile(`${dir}/001_ok.sql`, 'CREATE TABLE ok_table (id int);');
    await writeFile(`${dir}/002_broken.sql`, 'CREATE TABLE half_table (id int); SELECT no_such_function();');
    const broken = `${name}_broken`;
    await admin.query(`CREATE DATABASE ${broken}`);
    try {
      const connection = { connectionString: databaseUrl(broken) };
      await expect(runMigrations({ connection, dir })).rejects.toThrow(/no_such_function/);
      const db = new Client(connection);
      await db.connect();
      const tables = (await db.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)).rows.map((r) => r.tablename);
      expect(tables).toEqual(['ok_table', 'schema_migrations']);
      await db.end();
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${broken} WITH (FORCE)`);
    }
  });

  it("runs on the app's database without the app pool's statement timeout", async () => {
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const dir = await mkdtemp('/tmp/migrations-');
    await writeFile(`${dir}/001_slow.sql`, 'SELECT pg_sleep(0.3); CREATE TABLE slow_table (id int);');
    const slow = `${name}_slow`;
    await admin.query(`CREATE DATABASE ${slow}`);
    const saved = { ...process.env };
    try {
      Object.assign(process.env, { DATABASE_URL: databaseUrl(slow), DATABASE_STATEMENT_TIMEOUT_MS: '100' });
      resetConfig();
      await closeDatabase();
      // The app pool gives up on the same statement: the bound the migration must not inherit.
      await expect(db.query('SELECT pg_sleep(0.3)')).rejects.toThrow();
      expect(await runMigrations({ dir })).toEqual({ applied: ['001_slow'] });
    } finally {
      process.env = saved;
      resetConfig();
      await closeDatabase();
      await admin.query(`DROP DATABASE IF EXISTS ${slow} WITH (FORCE)`);
    }
  });
});
