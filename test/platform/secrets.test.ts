/**
 * The deployed configuration: Postgres credentials and the Redis AUTH token from Secrets
 * Manager (faked at the SDK boundary), against the real servers.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { closeDatabase, closeRedis, getSecretString, resetCacheService, resetConfig } from '@chatbot/shared/testing';
import { getConversation, listConversations, newUserId, sendMessage } from '../support/handlers';
import { startRedisServer, stopAllRedisServers } from '../reliability/support/redis-server';

const secrets = mockClient(SecretsManagerClient);
const saved = { ...process.env };
const testDatabase = new URL(process.env.DATABASE_URL as string).pathname.slice(1);

async function useEnvironment(overrides: Record<string, string | undefined>) {
  process.env = { ...saved, AWS_REGION: 'us-east-1' };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  resetConfig();
  resetCacheService();
  await closeRedis();
  await closeDatabase();
}

afterEach(async () => {
  secrets.reset();
  await useEnvironment({});
});
afterAll(async () => {
  await stopAllRedisServers();
  secrets.restore();
});

describe('Postgres credentials from Secrets Manager', () => {
  it('connects with the RDS secret, fetching it once per container, and prefers DATABASE_HOST/PORT (the proxy)', async () => {
    secrets.on(GetSecretValueCommand, { SecretId: 'arn:db' }).resolves({
      SecretString: JSON.stringify({ username: 'postgres', password: 'unused-with-trust-auth', host: 'db-instance.invalid', port: 5433, dbname: testDatabase }),
    });
    await useEnvironment({ DATABASE_URL: undefined, DATABASE_SECRET_ARN: 'arn:db', DATABASE_HOST: '127.0.0.1', DATABASE_PORT: '5432' });
    const userId = newUserId();
    const sent = await sendMessage(userId, 'through the secret');
    expect((await getConversation(sent.conversationId, userId)).statusCode).toBe(200);
    expect((await listConversations(userId, {})).json.total).toBe(1);
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('does not cache a failed fetch', async () => {
    secrets.on(GetSecretValueCommand).rejectsOnce(new Error('throttled')).resolves({ SecretString: 'value' });
    await expect(getSecretString('arn:flaky')).rejects.toThrow('throttled');
    await expect(getSecretString('arn:flaky')).resolves.toBe('value');
    await expect(getSecretString('arn:flaky')).resolves.toBe('value');
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });
});

describe('Redis AUTH token from Secrets Manager', () => {
  it('authenticates with the token and caches; a wrong token only costs the cache (BYPASS)', async () => {
    const redis = await startRedisServer();
    redis.cli('CONFIG', 'SET', 'requirepass', 'the-auth-token');
    const userId = newUserId();
    const { conversationId } = await sendMessage(userId, 'auth me');

    secrets.on(GetSecretValueCommand, { SecretId: 'arn:redis' }).resolves({ SecretString: 'the-auth-token' });
    await useEnvironment({ REDIS_URL: redis.url, REDIS_AUTH_SECRET_ARN: 'arn:redis' });
    expect((await getConversation(conversationId, userId)).headers['x-cache']).toBe('MISS');
    expect((await getConversation(conversationId, userId)).headers['x-cache']).toBe('HIT');

    secrets.reset();
    secrets.on(GetSecretValueCommand, { SecretId: 'arn:redis-wrong' }).resolves({ SecretString: 'not-the-token' });
    await useEnvironment({ REDIS_URL: redis.url, REDIS_AUTH_SECRET_ARN: 'arn:redis-wrong', REDIS_CONNECT_TIMEOUT_MS: '300' });
    const denied = await getConversation(conversationId, userId);
    expect(denied.statusCode).toBe(200);
    expect(denied.headers['x-cache']).toBe('BYPASS');
  });
});
