/**
 * The layer on a sharded cache with the exact client configuration `-c cacheShards=3`
 * synthesizes: the REDIS_* environment of the deployed functions (cluster mode, TLS, the AUTH
 * token from Secrets Manager) read from the template, with only the endpoint's host and port
 * pointed at a local 3-primary cluster that, like ElastiCache, speaks TLS and requires AUTH.
 * A client that skipped TLS, AUTH or the cluster protocol would get errors (BYPASS), not HITs.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { redisStats, closeDatabase, closeRedis, resetCacheService, resetConfig } from '@chatbot/shared/testing';
import { removeSynthOutputs, synthesize } from '../infra/support/synth';
import { getConversation, newUserId, sendMessage } from '../support/handlers';
import { freePort, startRedisServer, stopAllRedisServers, type RedisServer } from './support/redis-server';

const AUTH_TOKEN = 'local-cluster-auth-token-0123456789';
const secrets = mockClient(SecretsManagerClient);
const saved = { ...process.env };
const defaultCas = tls.getCACertificates('default');
let dir: string;
let nodes: RedisServer[] = [];
let tlsPorts: number[] = [];
let synthesizedEnv: Record<string, unknown>;

/** The REDIS_* environment of a deployed function, from the template of `-c cacheShards=3`. */
function redisEnvironmentOfTheStack(): Record<string, unknown> {
  const { json } = synthesize({ cacheShards: '3' });
  const [, getConversationFn] = Object.entries(json.Resources).find(([id, r]) => r.Type === 'AWS::Lambda::Function' && id.startsWith('FunctionsGetConversation'))!;
  const env = getConversationFn.Properties!.Environment.Variables as Record<string, unknown>;
  return Object.fromEntries(Object.entries(env).filter(([name]) => name.startsWith('REDIS_')));
}

function openssl(...args: string[]): void {
  const result = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${result.stderr}`);
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatbot-tls-cluster-'));
  synthesizedEnv = redisEnvironmentOfTheStack();

  // A throwaway CA and a server certificate for 127.0.0.1, as ElastiCache's is for its endpoints.
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=chatbot-test-ca');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  fs.writeFileSync(path.join(dir, 'san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '1', '-extfile', 'san.cnf');
  // What a client trusts by default (Lambda: Amazon's roots, which sign ElastiCache's certificates).
  tls.setDefaultCACertificates([...defaultCas, fs.readFileSync(path.join(dir, 'ca.crt'), 'utf8')]);

  tlsPorts = [await freePort(), await freePort(), await freePort()];
  nodes = await Promise.all(
    tlsPorts.map((tlsPort, i) =>
      startRedisServer({
        args: [
          '--tls-port', String(tlsPort),
          '--tls-cert-file', path.join(dir, 'server.crt'),
          '--tls-key-file', path.join(dir, 'server.key'),
          '--tls-ca-cert-file', path.join(dir, 'ca.crt'),
          '--tls-auth-clients', 'no',
          // Cluster bus and the addresses CLUSTER SLOTS hands out are the TLS ports.
          '--tls-cluster', 'yes',
          '--cluster-enabled', 'yes',
          '--cluster-config-file', path.join(dir, `nodes-${i}.conf`),
          '--dir', dir,
          '--cluster-node-timeout', '5000',
        ],
      }),
    ),
  );
  const create = spawnSync(
    '/usr/bin/redis-cli',
    ['--tls', '--cacert', path.join(dir, 'ca.crt'), '-p', String(tlsPorts[0]), '--cluster', 'create', ...tlsPorts.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes'],
    { encoding: 'utf8', timeout: 20_000 },
  );
  if (create.status !== 0) throw new Error(`cluster create failed: ${create.stderr}`);
  const deadline = Date.now() + 30_000;
  while (!nodes.every((node) => node.cli('cluster', 'info').includes('cluster_state:ok'))) {
    if (Date.now() > deadline) throw new Error('the TLS cluster did not reach cluster_state:ok');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // ElastiCache with an AUTH token: every connection must AUTH first.
  for (const node of nodes) node.cli('config', 'set', 'requirepass', AUTH_TOKEN);
}, 60_000);

afterAll(async () => {
  tls.setDefaultCACertificates(defaultCas);
  process.env = saved;
  resetConfig();
  resetCacheService();
  await closeRedis();
  await closeDatabase();
  await stopAllRedisServers();
  secrets.restore();
  removeSynthOutputs(dir);
});

describe('the layer with the cacheShards=3 client configuration', () => {
  it('is what the stack synthesizes: cluster mode, TLS, the AUTH token from Secrets Manager, the configuration endpoint', () => {
    expect(synthesizedEnv).toEqual({
      REDIS_HOST: { 'Fn::GetAtt': [expect.stringMatching(/^CacheReplicationGroup/), 'ConfigurationEndPoint.Address'] },
      REDIS_PORT: '6390',
      REDIS_TLS: 'true',
      REDIS_AUTH_SECRET_ARN: { Ref: expect.stringMatching(/^CacheAuthToken/) },
      REDIS_CLUSTER_MODE: 'true',
      // The stack's cache has a replica per shard, so an invalidation counts once a replica has it.
      REDIS_INVALIDATION_REPLICAS: '1',
      REDIS_INVALIDATION_RETRY_MS: '2000',
    });
  });

  it('caches across the shards over TLS with AUTH: MISS then HIT, no cache error, keys on several nodes', async () => {
    const secretArn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:cache-auth-token';
    secrets.on(GetSecretValueCommand, { SecretId: secretArn }).resolves({ SecretString: AUTH_TOKEN });
    // The synthesized values; only the endpoint (a token until deploy) is where the local cluster listens.
    process.env = {
      ...saved,
      AWS_REGION: 'us-east-1',
      ...(Object.fromEntries(Object.entries(synthesizedEnv).filter(([, value]) => typeof value === 'string')) as Record<string, string>),
      REDIS_HOST: '127.0.0.1',
      REDIS_PORT: String(tlsPorts[0]),
      REDIS_AUTH_SECRET_ARN: secretArn,
      // This cluster has no replicas (WAIT on replicas is the failover tests' subject), so no DEL could be confirmed.
      REDIS_INVALIDATION_REPLICAS: '0',
    };
    delete process.env.REDIS_URL;
    resetConfig();
    resetCacheService();
    await closeRedis();
    const errorsBefore = redisStats.errors;

    const userId = newUserId();
    const conversations: string[] = [];
    for (let i = 0; i < 6; i += 1) {
      const { conversationId } = await sendMessage(userId, `sharded ${i}`);
      conversations.push(conversationId);
      expect((await getConversation(conversationId, userId)).headers['x-cache']).toBe('MISS');
      expect((await getConversation(conversationId, userId)).headers['x-cache']).toBe('HIT');
    }

    expect(redisStats.errors - errorsBefore).toBe(0);
    const keysPerNode = nodes.map((node) => Number(node.cli('-a', AUTH_TOKEN, '--no-auth-warning', 'dbsize').trim()));
    expect(keysPerNode.filter((count) => count > 0).length).toBeGreaterThanOrEqual(2);
    expect(secrets.commandCalls(GetSecretValueCommand, { SecretId: secretArn })).toHaveLength(1);
  });
});
