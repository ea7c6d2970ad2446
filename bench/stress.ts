/**
 * Stress (the probe that found the invalidation storm): what a delete-all costs Redis when
 * invalidations fail and when they do not, on a private redis-server (CLIENT PAUSE must stall
 * nothing else), through a copy of the layer as built.
 *
 * Before the fix (same probe, the code of the previous release, measured by the probe and not
 * re-run here — that code is gone): the storm ran 201,201 DELs for ~1,001 keys in 7 s, Redis
 * memory 104 MB → 1.01 GB; a delete-all of 20,000 logged 36,681 timeouts in 5.1 s and made
 * another user's next GET take 818 ms.
 */
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { Redis } from 'ioredis';
import type * as Shared from '@chatbot/shared/testing';
import { startRedisServer, stopAllRedisServers } from '../test/reliability/support/redis-server';
import { buildArtifacts, LAYER_TESTING_ENTRY } from './cold-start';
import { bytes, count, markdownTable, ms, ratio } from './report';
import { summarize, type Summary } from './stats';

type Layer = typeof Shared;

export interface StressResult {
  readonly storm: { readonly keys: number; readonly dels: number; readonly ms: number; readonly peakMemory: number; readonly startMemory: number; readonly heapDelta: number; readonly pendingAfter: number };
  readonly bulk: {
    readonly conversations: number;
    readonly keys: number;
    readonly dels: number;
    readonly scripts: number;
    readonly ms: number;
    readonly errors: number;
    readonly otherGet: { readonly quiet: Summary; readonly during: Summary };
  };
}

/** A copy of the layer as built, on its own Redis (its configuration pinned while `env` applies). */
function loadLayer(env: Record<string, string>): Layer {
  buildArtifacts();
  const saved = Object.fromEntries(Object.keys(env).map((name) => [name, process.env[name]]));
  Object.assign(process.env, env);
  try {
    const load = createRequire(__filename);
    delete load.cache[LAYER_TESTING_ENTRY];
    const layer = load(LAYER_TESTING_ENTRY) as Layer;
    layer.getConfig();
    return layer;
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

async function seed(layer: Layer, userId: string, conversations: number): Promise<void> {
  for (let start = 0; start < conversations; start += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, conversations - start) }, (_, i) =>
        layer.createConversationWithMessage({ id: randomUUID(), userId, rootNodeId: randomUUID(), systemNodeId: randomUUID(), message: { id: randomUUID(), parts: [`conversation ${start + i}`] } }),
      ),
    );
  }
}

async function commandCalls(raw: Redis): Promise<{ dels: number; scripts: number }> {
  const stats = await raw.info('commandstats');
  const calls = (name: string) => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
  return { dels: calls('del') + calls('unlink'), scripts: calls('evalsha') + calls('eval') };
}

const usedMemory = async (raw: Redis, field: 'used_memory' | 'used_memory_peak') => Number(new RegExp(`${field}:(\\d+)`).exec(await raw.info('memory'))?.[1] ?? 0);

export async function measureStress(log: (line: string) => void): Promise<StressResult> {
  try {
    // 1. The storm: A's delete-all of 100 while Redis refuses writes for 1.5 s, then B's of 500, on one container.
    log('stress: delete-all during a write stall, then another user\'s');
    const stalled = await startRedisServer();
    const stalledRaw = new Redis(stalled.url);
    const layer = loadLayer({ REDIS_URL: stalled.url, REDIS_COMMAND_TIMEOUT_MS: '200', CACHE_KEY_PREFIX: `stress:${randomUUID()}:` });
    const [userA, userB] = [`stress-a-${randomUUID()}`, `stress-b-${randomUUID()}`];
    await seed(layer, userA, 100);
    await seed(layer, userB, 500);
    const startMemory = await usedMemory(stalledRaw, 'used_memory');
    const heapBefore = process.memoryUsage().heapUsed;
    const before = await commandCalls(stalledRaw);
    const started = performance.now();
    await stalledRaw.call('CLIENT', 'PAUSE', '1500', 'WRITE');
    await layer.updateAllConversations({ userId: userA, changes: { deleted: true } });
    await new Promise((resolve) => setTimeout(resolve, 1600));
    await layer.updateAllConversations({ userId: userB, changes: { deleted: true } });
    await layer.listConversations({ userId: userA, offset: 0, limit: 20 });
    const stormMs = performance.now() - started;
    const after = await commandCalls(stalledRaw);
    const storm = {
      keys: 201 + 1001,
      dels: after.dels - before.dels,
      ms: stormMs,
      startMemory,
      peakMemory: await usedMemory(stalledRaw, 'used_memory_peak'),
      heapDelta: process.memoryUsage().heapUsed - heapBefore,
      pendingAfter: layer.getCacheService().pendingInvalidations,
    };
    stalledRaw.disconnect();
    await Promise.all([layer.closeRedis(), layer.closeDatabase()]);

    // 2. A delete-all of 20,000 on a healthy Redis, while another user reads a cached conversation.
    log('stress: a delete-all of 20,000 conversations while another user reads');
    const healthy = await startRedisServer();
    const healthyRaw = new Redis(healthy.url);
    const bulkLayer = loadLayer({ REDIS_URL: healthy.url, CACHE_KEY_PREFIX: `stress:${randomUUID()}:` });
    const [bulkUser, reader] = [`stress-bulk-${randomUUID()}`, `stress-reader-${randomUUID()}`];
    const conversations = 20_000;
    await seed(bulkLayer, bulkUser, conversations);
    const readerConversation = randomUUID();
    await bulkLayer.createConversationWithMessage({ id: readerConversation, userId: reader, rootNodeId: randomUUID(), systemNodeId: randomUUID(), message: { id: randomUUID(), parts: ['mine'] } });
    const read = async () => {
      const t0 = performance.now();
      await bulkLayer.getConversationDetail({ conversationId: readerConversation, userId: reader });
      return performance.now() - t0;
    };
    await read();
    const readFor = async (durationMs: number, until?: Promise<unknown>) => {
      const samples: number[] = [];
      let done = false;
      void until?.then(() => (done = true));
      const end = performance.now() + durationMs;
      while (until ? !done : performance.now() < end) {
        samples.push(await read());
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      return samples;
    };
    const quiet = await readFor(1000);
    const bulkBefore = await commandCalls(healthyRaw);
    const errorsBefore = bulkLayer.redisStats.errors;
    const bulkStarted = performance.now();
    const deleting = bulkLayer.updateAllConversations({ userId: bulkUser, changes: { deleted: true } });
    const during = await readFor(0, deleting);
    await deleting;
    const bulkMs = performance.now() - bulkStarted;
    const bulkAfter = await commandCalls(healthyRaw);
    const bulk = {
      conversations,
      keys: 2 * conversations + 1,
      dels: bulkAfter.dels - bulkBefore.dels,
      scripts: bulkAfter.scripts - bulkBefore.scripts,
      ms: bulkMs,
      errors: bulkLayer.redisStats.errors - errorsBefore,
      otherGet: { quiet: summarize(quiet), during: summarize(during) },
    };
    healthyRaw.disconnect();
    await Promise.all([bulkLayer.closeRedis(), bulkLayer.closeDatabase()]);
    return { storm, bulk };
  } finally {
    await stopAllRedisServers();
  }
}

export function stressSection(result: StressResult): string[] {
  const { storm, bulk } = result;
  return [
    '## 13. Stress: a delete-all when invalidations fail, and one of 20,000 when they do not',
    'The probe that found the invalidation storm, on a private redis-server and a copy of the layer as built. **Storm**: user A deletes all of 100 conversations while Redis refuses writes (`CLIENT PAUSE 1500 WRITE`); after the stall user B deletes all of 500 on the same container; then one more request (its cache operation flushes what is still pending). DELs counted by Redis (`INFO commandstats`). **Bulk**: a delete-all of 20,000 conversations on a healthy Redis while another user reads a cached conversation in a loop on the same container.',
    markdownTable([
      ['measure', 'before (the previous release, as probed)', 'now'],
      ['storm: DELs for the keys to invalidate', '201,201 for ~1,001', `${count(storm.dels)} for ${count(storm.keys)} (${ratio(storm.dels / storm.keys)} per key; target ≤ 2 × keys + batches)`],
      ['storm: wall time', '7 s', `${ms(storm.ms)} ms (1.5 s of it the stall)`],
      ['storm: Redis memory, start → peak', '104 MB → 1.01 GB', `${bytes(storm.startMemory)} → ${bytes(storm.peakMemory)}`],
      ['storm: process heap growth', '—', bytes(Math.max(0, storm.heapDelta))],
      ['storm: invalidations still pending after the next request', '—', String(storm.pendingAfter)],
      [`bulk: delete-all of ${count(bulk.conversations)}: DELs / discard scripts`, '—', `${count(bulk.dels)} for ${count(bulk.keys)} keys / ${count(bulk.scripts)}`],
      ['bulk: wall time, commands timed out', '5.1 s, 36,681 timeouts', `${ms(bulk.ms)} ms, ${count(bulk.errors)}`],
      ['bulk: the other user\'s GET p50 / p99 (quiet → during)', 'next GET 818 ms', `${ms(bulk.otherGet.quiet.p50)} / ${ms(bulk.otherGet.quiet.p99)} → ${ms(bulk.otherGet.during.p50)} / ${ms(bulk.otherGet.during.p99)} ms (${bulk.otherGet.during.n} reads)`],
    ]),
    'Why: failed invalidations are kept in one bounded set per container (10,000 keys) and applied by one flush at a time that every waiting operation shares, 256 keys per batch; a delete-all sends its DELs and discard scripts in batches of 256, one batch in flight, so each batch answers well within the command timeout and other requests\' commands go out between batches. The "before" column is the probe\'s measurement of the previous release, not re-run here.',
  ];
}
