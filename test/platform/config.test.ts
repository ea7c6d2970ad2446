import { ConfigError, parseConfig } from '@chatbot/shared/testing';

const base = { DATABASE_URL: 'postgres://u@h:5432/db' };

describe('parseConfig', () => {
  it('applies the documented defaults', () => {
    const config = parseConfig({ ...base, REDIS_URL: 'redis://127.0.0.1:6379' });
    expect(config.cache).toEqual({ enabled: true, keyPrefix: '', ttlSeconds: 600, contextMaxMessages: 20, contextTtlSeconds: 86400, compressMinBytes: 16384, fillWaitMs: 250 });
    expect(config.database).toMatchObject({ port: 5432, ssl: false, poolMax: 2, statementTimeoutMs: 5000, connectTimeoutMs: 3000 });
    expect(config.redis).toMatchObject({ clusterMode: false, tls: false, connectTimeoutMs: 1000, commandTimeoutMs: 200 });
    expect(config.llm.provider).toBe('local');
    expect(config.http).toEqual({ allowedOrigins: ['*'], maxMessageChars: 32000, maxBodyBytes: 262144 });
  });

  it('disables the cache when no Redis is configured, or when asked', () => {
    expect(parseConfig(base).cache.enabled).toBe(false);
    expect(parseConfig({ ...base, REDIS_HOST: 'cache.internal', CACHE_ENABLED: 'false' }).cache.enabled).toBe(false);
    expect(parseConfig({ ...base, REDIS_HOST: 'cache.internal' }).cache.enabled).toBe(true);
  });

  it('reads the deployed shape: secret, proxy host, TLS, cluster mode, origins', () => {
    const config = parseConfig({
      DATABASE_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:1:secret:db', DATABASE_HOST: 'proxy.internal', DATABASE_SSL: 'true',
      REDIS_HOST: 'cache.internal', REDIS_PORT: '6390', REDIS_TLS: 'true', REDIS_CLUSTER_MODE: 'true', REDIS_AUTH_SECRET_ARN: 'arn:redis',
      ALLOWED_ORIGINS: 'https://a.example, https://b.example', LLM_PROVIDER: 'bedrock', CACHE_KEY_PREFIX: 'prod:',
    });
    expect(config.database).toMatchObject({ secretArn: expect.stringContaining('secret:db'), host: 'proxy.internal', ssl: true });
    expect(config.redis).toMatchObject({ host: 'cache.internal', port: 6390, tls: true, clusterMode: true, authSecretArn: 'arn:redis' });
    expect(config.http.allowedOrigins).toEqual(['https://a.example', 'https://b.example']);
    expect(config.cache.keyPrefix).toBe('prod:');
  });

  it.each([
    [{}, 'DATABASE_URL'],
    [{ ...base, DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ ...base, REDIS_URL: 'http://x' }, 'REDIS_URL'],
    [{ ...base, CACHE_TTL_SECONDS: '0' }, 'CACHE_TTL_SECONDS'],
    [{ ...base, CACHE_TTL_SECONDS: '10m' }, 'CACHE_TTL_SECONDS'],
    [{ ...base, DATABASE_POOL_MAX: '1.5' }, 'DATABASE_POOL_MAX'],
    [{ ...base, REDIS_TLS: 'maybe' }, 'REDIS_TLS'],
    [{ ...base, LLM_PROVIDER: 'gpt' }, 'LLM_PROVIDER'],
    [{ ...base, LLM_PROVIDER: 'openai' }, 'OPENAI_API_KEY'],
    [{ ...base, CONTEXT_MAX_MESSAGES: '-1' }, 'CONTEXT_MAX_MESSAGES'],
    [{ ...base, REDIS_INVALIDATION_REPLICAS: '1', REDIS_INVALIDATION_WAIT_MS: '200' }, 'REDIS_INVALIDATION_WAIT_MS'],
  ])('rejects %j naming %s', (env, variable) => {
    expect(() => parseConfig(env)).toThrow(ConfigError);
    expect(() => parseConfig(env)).toThrow(new RegExp(`^Invalid configuration: ${variable}=`));
  });
});
