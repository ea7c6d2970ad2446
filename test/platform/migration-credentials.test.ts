/**
 * The deploy-time migration's credentials: a retry with a freshly read secret when the
 * database refuses the login (a rotation raced the deploy), and the application role that
 * migration 004 creates and the migrate function gives its first login. Secrets Manager is
 * faked at the SDK boundary; Postgres is the real local server.
 *
 * The local server trusts every local login, so it cannot refuse a *password*: the stale
 * secret here names a user the server does not know, which it refuses for real (SQLSTATE
 * 28000) — the same refusal path a rotated password (28P01) takes.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { Client } from 'pg';
import { closeDatabase, loadMigrations, migrateDatabase, resetConfig, runMigrations } from '@chatbot/shared/testing';
import { ADMIN_DATABASE_URL, databaseUrl } from '../support/services';

const secrets = mockClient(SecretsManagerClient);
const saved = { ...process.env };
const name = `chatbot_credentials_${process.env.TEST_RUN_ID}`;
const admin = new Client({ connectionString: ADMIN_DATABASE_URL });
// One ARN per test: the layer caches secrets per container (per ARN), as Lambda would.
let MASTER_ARN = '';
let secretCount = 0;
beforeEach(() => {
  MASTER_ARN = `arn:aws:secretsmanager:us-east-1:123456789012:secret:master-${++secretCount}`;
});
const APP_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:app';

const rdsSecret = (username: string) => ({
  SecretString: JSON.stringify({ username, password: 'unused-with-trust-auth', host: '127.0.0.1', port: 5432, dbname: name }),
});

async function useSecretEnvironment(extra: Record<string, string> = {}) {
  process.env = { ...saved, AWS_REGION: 'us-east-1', DATABASE_SECRET_ARN: MASTER_ARN, ...extra };
  delete process.env.DATABASE_URL;
  resetConfig();
  await closeDatabase();
}

async function freshDatabase(): Promise<void> {
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
}

async function asRole<T>(role: string, work: (client: Client) => Promise<T>): Promise<T> {
  const url = new URL(databaseUrl(name));
  url.username = role;
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

const passwordHash = async (): Promise<string | null> =>
  (await admin.query(`SELECT rolpassword FROM pg_authid WHERE rolname = 'chatbot_app'`)).rows[0]?.rolpassword ?? null;

beforeAll(() => admin.connect());
afterEach(async () => {
  secrets.reset();
  process.env = { ...saved };
  resetConfig();
  await closeDatabase();
});
afterAll(async () => {
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
  secrets.restore();
});

describe('migration after a rotation', () => {
  it('retries once with a freshly read secret when the login is refused, and applies every migration', async () => {
    await freshDatabase();
    secrets.on(GetSecretValueCommand, { SecretId: MASTER_ARN }).resolvesOnce(rdsSecret('chatbot_rotated_away')).resolves(rdsSecret('postgres'));
    await useSecretEnvironment();

    const { applied } = await migrateDatabase();

    expect(applied).toEqual((await loadMigrations()).map((m) => `${m.version}_${m.name}`));
    expect(secrets.commandCalls(GetSecretValueCommand, { SecretId: MASTER_ARN })).toHaveLength(2);
  });

  it('gives up after the one retry (the deploy fails and rolls back) and applies nothing', async () => {
    await freshDatabase();
    secrets.on(GetSecretValueCommand, { SecretId: MASTER_ARN }).resolves(rdsSecret('chatbot_rotated_away'));
    await useSecretEnvironment();

    await expect(runMigrations()).rejects.toMatchObject({ code: '28000' });

    expect(secrets.commandCalls(GetSecretValueCommand, { SecretId: MASTER_ARN })).toHaveLength(2);
    const migrated = await asRole('postgres', (c) => c.query(`SELECT to_regclass('schema_migrations') AS t`));
    expect(migrated.rows[0].t).toBeNull();
  });
});

describe('the application role', () => {
  beforeAll(async () => {
    await freshDatabase();
    // The role is per server and outlives test databases: start from the state migration 004 leaves on a new server.
    await admin.query(`DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'chatbot_app') THEN ALTER ROLE chatbot_app NOLOGIN PASSWORD NULL; END IF; END $$`);
  });

  it('gets its login from its own secret once; a later migrate leaves the (rotated) password alone', async () => {
    secrets.on(GetSecretValueCommand, { SecretId: MASTER_ARN }).resolves(rdsSecret('postgres'));
    secrets.on(GetSecretValueCommand, { SecretId: APP_ARN }).resolves({ SecretString: JSON.stringify({ username: 'chatbot_app', password: "first'pass\\word" }) });
    await useSecretEnvironment({ APP_DATABASE_SECRET_ARN: APP_ARN });

    expect((await migrateDatabase()).appRoleLoginCreated).toBe(true);
    const firstHash = await passwordHash();
    expect(firstHash).toMatch(/^SCRAM-SHA-256\$/);

    await useSecretEnvironment({ APP_DATABASE_SECRET_ARN: APP_ARN });
    expect(await migrateDatabase()).toEqual({ applied: [], appRoleLoginCreated: false });
    // SCRAM hashes are salted: setting the same password again would change the hash.
    expect(await passwordHash()).toBe(firstHash);
  });

  it('reads and writes conversations but cannot change the schema or read the migration bookkeeping', async () => {
    await asRole('chatbot_app', async (app) => {
      await app.query(
        `INSERT INTO conversations (id, user_id, root_node_id, current_node_id) VALUES (gen_random_uuid(), 'u-role', 'root', 'root')`,
      );
      await app.query(`INSERT INTO messages (conversation_id, id, role) SELECT id, 'root', 'root' FROM conversations WHERE user_id = 'u-role'`);
      expect((await app.query(`SELECT count(*)::int AS n FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.user_id = 'u-role'`)).rows[0].n).toBe(1);
      await app.query(`UPDATE conversations SET title = 't' WHERE user_id = 'u-role'`);
      await app.query(`DELETE FROM conversations WHERE user_id = 'u-role'`);

      await expect(app.query('CREATE TABLE intruder (id int)')).rejects.toMatchObject({ code: '42501' });
      await expect(app.query('DROP TABLE messages')).rejects.toMatchObject({ code: '42501' });
      await expect(app.query('ALTER TABLE conversations ADD COLUMN x int')).rejects.toMatchObject({ code: '42501' });
      await expect(app.query('SELECT * FROM schema_migrations')).rejects.toMatchObject({ code: '42501' });
      await expect(app.query('TRUNCATE conversations')).rejects.toMatchObject({ code: '42501' });
    });
  });

  it('gets the same grants on tables a later migration creates', async () => {
    await asRole('postgres', (owner) => owner.query('CREATE TABLE later_table (id bigserial PRIMARY KEY, note text)'));
    await asRole('chatbot_app', async (app) => {
      await app.query(`INSERT INTO later_table (note) VALUES ('ok')`);
      expect((await app.query('SELECT note FROM later_table')).rows).toEqual([{ note: 'ok' }]);
    });
  });
});
