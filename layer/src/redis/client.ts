/**
 * ioredis for Lambda: one client per container, connected on first use, with short connect
 * and command timeouts and no offline queue, so a missing Redis costs a fast failure instead
 * of a hung request. TLS and the AUTH token (Secrets Manager) for ElastiCache; `REDIS_URL`
 * locally; a `Cluster` client for cluster mode (ElastiCache Serverless).
 */
import { Cluster, Command, Redis, type RedisOptions } from 'ioredis';
import { getConfig, type RedisConfig } from '../platform/config';
import { countMetric, logger } from '../platform/observability';
import { getSecretString } from '../platform/secrets';

export type RedisConnection = Redis | Cluster;

/**
 * What a client is for. Invalidations confirmed by replicas get a client of their own: `WAIT`
 * blocks the connection that sent it until the replicas answer or its timeout passes (which
 * Redis checks at its `hz`, 10 a second: a 50 ms WAIT takes up to 100 ms), and every command
 * queued behind it on that connection — the reads of the cache — would wait as long.
 */
export type RedisRole = 'commands' | 'invalidations';

const clientPromises: Partial<Record<RedisRole, Promise<RedisConnection>>> = {};
/** The commands client once created (for what must be known without awaiting it). */
let commandsClient: RedisConnection | undefined;

/** The commands of a cache hit, sent as soon as they are issued rather than batched. */
const HIT_COMMANDS = ['get', 'hget'] as const;

/** Reconnect quickly at first, then every 2 s, forever: Redis coming back must be noticed without a restart. */
const retryStrategy = (attempt: number): number => Math.min(attempt * 100, 2000);

/**
 * A failover (or a node-type change) demotes the node a warm container is connected to: the
 * primary endpoint's name now gives the new primary, but this connection still reaches the old
 * one, which answers every write with READONLY. Reconnecting resolves the name again (ioredis
 * #144). The failed command is not resent (there is no offline queue): it fails open like any other.
 */
function reconnectOnError(error: Error): 1 | false {
  if (!error.message.startsWith('READONLY')) return false;
  countMetric('CacheFailoverReconnect');
  logger.warn('Redis answered READONLY: the node was demoted by a failover; reconnecting to the endpoint');
  return 1;
}

/**
 * A command redirected by ASK (its slot is moving to another node) goes to that node after an
 * `ASKING`, which ioredis's Cluster sends without handling its promise (as of ioredis 6.1). When
 * that node times out or drops the connection, the redirected command fails — and fails open —
 * but `ASKING`'s own rejection is unhandled, which ends a Node process, as the Lambda runtime
 * does on one (`npm run chaos` lost a worker this way: a slot migration while a node was slow).
 * The redirected command reports the failure; `ASKING`'s copy of it is dropped here.
 */
function handleAskingFailures(node: Redis): void {
  const asking = node.asking.bind(node);
  node.asking = ((...args: Parameters<Redis['asking']>) => {
    const sent = asking(...args);
    sent.catch(() => undefined);
    return sent;
  }) as Redis['asking'];
}

async function createClient(config: RedisConfig): Promise<RedisConnection> {
  const password = config.authSecretArn ? await getSecretString(config.authSecretArn) : undefined;
  const options: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    connectTimeout: config.connectTimeoutMs,
    commandTimeout: config.commandTimeoutMs,
    // Failing a command is the cache service's cue to answer from Postgres; retrying it would only add latency.
    maxRetriesPerRequest: 0,
    retryStrategy,
    reconnectOnError,
    // The DELs and context commands of one request go out in one write.
    enableAutoPipelining: true,
    // A cache hit is one GET/HGET on its own: batching it would only wait for the next tick
    // (~40 µs here, a third of a loopback hit), and a Lambda container serves one request at a time.
    autoPipeliningIgnoredCommands: [...HIT_COMMANDS],
    ...(password ? { password } : {}),
    ...(config.tls ? { tls: {} } : {}),
  };
  let client: RedisConnection;
  if (config.clusterMode) {
    const url = config.url ? new URL(config.url) : undefined;
    client = new Cluster([{ host: url?.hostname ?? config.host, port: Number(url?.port || config.port) }], {
      lazyConnect: true,
      enableOfflineQueue: false,
      // Not on a cluster, at either level: an auto-pipeline that meets ASK or MOVED (a slot moving
      // between nodes, a failover) answers its commands with another key's redirect
      // (redis/ioredis#2075). Each command then goes out on its own, still without waiting for the last.
      enableAutoPipelining: false,
      clusterRetryStrategy: retryStrategy,
      // ElastiCache's TLS certificates name the configuration endpoint, not the node IPs the cluster reports.
      dnsLookup: (address, callback) => callback(null, address),
      redisOptions: { ...options, enableAutoPipelining: false, ...(url?.password ? { password: decodeURIComponent(url.password) } : {}) },
      slotsRefreshTimeout: config.connectTimeoutMs,
    });
    client.on('+node', handleAskingFailures);
  } else if (config.url) {
    client = new Redis(config.url, options);
  } else {
    client = new Redis({ host: config.host, port: config.port, ...options });
  }
  // Without a listener ioredis reports every failed reconnect as an unhandled error.
  client.on('error', (error: Error) => logger.debug('Redis connection error', { error: error.message }));
  return client;
}

// One wait per connect, shared by every request that arrives meanwhile (a listener each would
// pass Node's limit of 10 per event in a burst: MaxListenersExceededWarning).
const readyWaits = new WeakMap<RedisConnection, Promise<void>>();

function waitUntilReady(client: RedisConnection, timeoutMs: number): Promise<void> {
  let wait = readyWaits.get(client);
  if (!wait) {
    wait = listenUntilReady(client, timeoutMs).finally(() => readyWaits.delete(client));
    readyWaits.set(client, wait);
  }
  return wait;
}

function listenUntilReady(client: RedisConnection, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`Redis not ready within ${timeoutMs} ms`)), timeoutMs);
    const onReady = () => finish();
    const onEnd = () => finish(new Error('Redis connection closed'));
    function finish(error?: Error) {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('end', onEnd);
      if (error) reject(error);
      else resolve();
    }
    client.once('ready', onReady);
    client.once('end', onEnd);
  });
}

/**
 * The container's client (for `role`) once it is connected. Rejects quickly when Redis is not there:
 * immediately while a background reconnect is under way, within the connect timeout on first use.
 */
export async function getRedis(role: RedisRole = 'commands'): Promise<RedisConnection> {
  const config = getConfig().redis;
  clientPromises[role] ??= createClient(config).catch((error: unknown) => {
    delete clientPromises[role];
    throw error;
  });
  const client = await clientPromises[role];
  if (role === 'commands') commandsClient = client;
  switch (client.status) {
    case 'ready':
      return client;
    case 'wait':
      client.connect().catch(() => undefined);
      await waitUntilReady(client, config.connectTimeoutMs);
      return client;
    case 'connecting':
    case 'connect':
      await waitUntilReady(client, config.connectTimeoutMs);
      return client;
    case 'end':
      // Closed for good (e.g. by closeRedis): the next call builds a new client.
      delete clientPromises[role];
      throw new Error('Redis connection ended');
    default:
      throw new Error(`Redis is ${client.status}`);
  }
}

/**
 * The cluster node (`host:port`) that serves `key`, as the container's cluster client knows the
 * slot map now; undefined without a cluster client or before it knows the slot.
 */
export function clusterNodeServing(key: string): string | undefined {
  if (!(commandsClient instanceof Cluster) || commandsClient.status !== 'ready') return undefined;
  return commandsClient.slots[new Command('get', [key]).getSlot() as number]?.[0];
}

/** Closes the clients (tests, local server shutdown). */
export async function closeRedis(): Promise<void> {
  commandsClient = undefined;
  const pending = Object.values(clientPromises);
  for (const role of Object.keys(clientPromises) as RedisRole[]) delete clientPromises[role];
  await Promise.all(
    pending.map(async (promise) => {
      const client = await promise.catch(() => undefined);
      await client?.quit().catch(() => client.disconnect());
    }),
  );
}
