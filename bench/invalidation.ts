/**
 * Confirmed invalidation in the bench (REDIS_INVALIDATION_REPLICAS=1, what the stack sets for a
 * cache with replicas), on a private primary and replica: what a write's invalidation costs
 * with and without a replica's confirmation (interleaved); what it costs while the replica is
 * stalled (the first write's WAIT runs to its end, the next ones do not wait); and what a cache
 * hit costs while a WAIT blocks (on its own connection: nothing).
 */
import { Redis } from 'ioredis';
import { CacheService, closeRedis, REPLICAS_BEHIND_PAUSE_MS, resetConfig } from '@chatbot/shared/testing';
import { startRedisServer, stopAllRedisServers } from '../test/reliability/support/redis-server';
import { markdownTable, ms, ratio } from './report';
import { interleaved, summarize, type Summary } from './stats';

const ROUNDS = { iterations: 300, warmup: 30 };
const STALLED_WRITES = 20;
const READS_DURING_WAIT = 40;
const WAIT_MS = 50;

const PLAIN = 'DEL (no confirmation)';
const CONFIRMED = 'DEL + WAIT, replica in sync';

export interface InvalidationBenchResult {
  readonly summaries: Record<string, Summary>;
  /** The first write after the replica stalled: its WAIT runs to the end. */
  readonly stalledFirstMs: number;
  /** The writes after it (within the pause): plain DELs, left to the re-deletes. */
  readonly stalledNext: Summary;
  readonly hitIdle: Summary;
  readonly hitDuringWait: Summary;
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

async function timed(call: () => Promise<unknown>): Promise<number> {
  const start = nowMs();
  await call();
  return nowMs() - start;
}

export async function measureInvalidation(log: (message: string) => void): Promise<InvalidationBenchResult> {
  const savedUrl = process.env.REDIS_URL;
  const [primary, replica] = [await startRedisServer(), await startRedisServer()];
  const raw = new Redis(primary.url);
  const replicaClient = new Redis(replica.url);
  try {
    await replicaClient.replicaof('127.0.0.1', String(primary.port));
    while (!(await replicaClient.info('replication')).includes('master_link_status:up')) await new Promise((resolve) => setTimeout(resolve, 50));
    process.env.REDIS_URL = primary.url;
    resetConfig();
    await closeRedis();
    const plain = new CacheService({ enabled: true, ttlSeconds: 600 });
    const confirmed = new CacheService({ enabled: true, ttlSeconds: 600, invalidation: { replicas: 1, waitMs: WAIT_MS } });
    const key = 'bench-invalidation:conversation';
    const fill = async () => {
      await raw.set(key, 'a cached body');
    };

    log('invalidation: DEL vs DEL + WAIT with the replica in sync');
    const summaries = await interleaved(
      [
        { name: PLAIN, before: fill, run: () => plain.delete(key) },
        { name: CONFIRMED, before: fill, run: () => confirmed.delete(key) },
      ],
      ROUNDS,
    );
    if (confirmed.unconfirmedInvalidations !== 0) throw new Error(`${confirmed.unconfirmedInvalidations} invalidations unconfirmed with the replica in sync`);

    log('invalidation: the replica stalled');
    const hitKey = 'bench-invalidation:hit';
    await confirmed.readThrough({ key: hitKey, load: async () => 'a cached body' });
    const hit = async () => {
      const read = await confirmed.readThrough({ key: hitKey, load: async () => 'loaded' });
      if (read.status !== 'HIT') throw new Error(`expected a HIT, got ${read.status}`);
    };
    const idle: number[] = [];
    for (let i = 0; i < READS_DURING_WAIT; i += 1) idle.push(await timed(hit));
    replica.pause();
    const stalled = new CacheService({ enabled: true, ttlSeconds: 600, invalidation: { replicas: 1, waitMs: WAIT_MS } });
    await fill();
    const duringWait: number[] = [];
    const firstWrite = timed(() => stalled.delete(key));
    // Reads while that WAIT blocks its connection, one after another.
    const until = nowMs() + WAIT_MS * 0.8;
    while (nowMs() < until && duringWait.length < READS_DURING_WAIT) duringWait.push(await timed(hit));
    const stalledFirstMs = await firstWrite;
    const next: number[] = [];
    for (let i = 0; i < STALLED_WRITES; i += 1) {
      await fill();
      next.push(await timed(() => stalled.delete(key)));
    }
    replica.resume();
    return { summaries, stalledFirstMs, stalledNext: summarize(next), hitIdle: summarize(idle), hitDuringWait: summarize(duringWait) };
  } finally {
    raw.disconnect();
    replicaClient.disconnect();
    await closeRedis();
    process.env.REDIS_URL = savedUrl;
    resetConfig();
    await stopAllRedisServers();
  }
}

export function invalidationSection(result: InvalidationBenchResult): string[] {
  const base = result.summaries[PLAIN].p50;
  const rows = [PLAIN, CONFIRMED].map((name) => {
    const s = result.summaries[name];
    return [name, ms(s.p50), ms(s.p99), name === PLAIN ? '1×' : ratio(s.p50 / base)];
  });
  return [
    '## 16. Confirmed invalidation (a cache with replicas)',
    `One write's invalidation of one key through the cache service, on a private primary with one replica over loopback, ${ROUNDS.iterations} interleaved rounds ` +
      `after ${ROUNDS.warmup} warm-up. With \`REDIS_INVALIDATION_REPLICAS=1\` (the stack's setting when the cache has replicas) the DELs of each node go ` +
      `in one pipeline with a \`WAIT\` for the replica (${WAIT_MS} ms), on a connection kept for invalidations (docs/api.md#cache-contract).`,
    markdownTable([['invalidation', 'p50 ms', 'p99 ms', 'p50 vs DEL'], ...rows]),
    `With the replica stalled (SIGSTOP): the first write's WAIT runs to its end, ${ms(result.stalledFirstMs)} ms (Redis ends a WAIT at its \`hz\`, 10 a second, ` +
      `so a ${WAIT_MS} ms WAIT takes up to about 100 ms; deployed, the write then retries for \`REDIS_INVALIDATION_RETRY_MS\`, 2 s, here 0); the ${STALLED_WRITES} writes after it, within ` +
      `the ${REPLICAS_BEHIND_PAUSE_MS / 1000} s in which writes do not wait for replicas: p50 ${ms(result.stalledNext.p50)} ms, p99 ${ms(result.stalledNext.p99)} ms (their keys are deleted again later). ` +
      `A cache hit while that WAIT blocks: p50 ${ms(result.hitDuringWait.p50)} ms (${result.hitDuringWait.n} reads) against ${ms(result.hitIdle.p50)} ms idle — the WAIT holds only its own connection.`,
  ];
}
