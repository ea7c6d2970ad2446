/**
 * The chaos workers run as the stack configures the deployed functions (chaos/fleet.ts): a run
 * with other cache settings would measure a different system. test/infra/stack.test.ts holds the
 * stack to the same invalidation settings on a cache with replicas.
 */
import { REPLICATED_CACHE_INVALIDATION } from '../../layer/src/contracts/environment';
import { workerEnvironment } from '../../chaos/fleet';

const settings = { databaseUrl: 'postgres://chaos@127.0.0.1:1/chaos', redisUrl: 'redis://127.0.0.1:2', jwtSecret: 's', tokenDelayMs: 20, logLevel: 'WARN' };

it('sets cluster mode and the invalidation a cache with replicas gets when deployed (replica-confirmed DELs, retried through a failover)', () => {
  expect(REPLICATED_CACHE_INVALIDATION).toEqual({ REDIS_INVALIDATION_REPLICAS: '1', REDIS_INVALIDATION_RETRY_MS: '2000' });
  expect(workerEnvironment(settings)).toMatchObject({ REDIS_CLUSTER_MODE: 'true', ...REPLICATED_CACHE_INVALIDATION });
});

it('lets no layer setting leak in from the shell', () => {
  const leaked = { ...process.env };
  process.env.REDIS_INVALIDATION_RETRY_MS = '0';
  process.env.CACHE_ENABLED = 'false';
  try {
    const env = workerEnvironment(settings);
    expect(env.REDIS_INVALIDATION_RETRY_MS).toBe('2000');
    expect(env.CACHE_ENABLED).toBeUndefined();
  } finally {
    process.env = leaked;
  }
});
