/**
 * The faults, and the schedule of phases they run in. Each fault aims at what the traffic
 * uses most (the primary owning the hottest hash slot, the hottest slots themselves), waits
 * until its direct effect is over, and returns what happened with the window it covered.
 * Faults can run together: the combined phase overlaps all of them.
 */
import type { ChaosCluster, RedisNode, Topology } from './redis-cluster';
import type { PrivatePostgres } from './postgres';
import type { FaultEvent, Recorder } from './recorder';
import type { HotSlots } from './workload';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface FaultContext {
  readonly cluster: ChaosCluster;
  readonly postgres: PrivatePostgres;
  readonly recorder: Recorder;
  readonly hotSlots: HotSlots;
  readonly log: (line: string) => void;
}

export type FaultName = 'redis-primary-kill' | 'redis-slot-migration' | 'redis-primary-pause' | 'redis-latency' | 'postgres-restart' | 'postgres-terminate';

export interface FaultOptions {
  /** redis-primary-kill: how long the killed node stays down before it is restarted (it rejoins as a replica). */
  readonly restartAfterMs?: number;
  /** redis-primary-pause: how long SIGSTOP lasts. */
  readonly pauseMs?: number;
  /** redis-latency: the added delay and how long it lasts. */
  readonly latencyMs?: number;
  readonly durationMs?: number;
  /** redis-slot-migration: how many of the hottest slots move. */
  readonly slots?: number;
  /** Aim at a primary other than these node indexes (a combined phase keeps one fault per primary). */
  readonly avoid?: readonly number[];
}

/** The responsive primary that owns the hottest slot it can find (skipping `avoid`). */
async function hottestPrimary(context: FaultContext, avoid: readonly number[] = []): Promise<{ node: RedisNode; slot: number; topology: Topology }> {
  const topology = await context.cluster.topology();
  for (const slot of [...context.hotSlots.top(64), 0, 8000, 16000]) {
    const owner = topology.owner[slot];
    if (owner >= 0 && !avoid.includes(owner) && context.cluster.nodes[owner].responsive) return { node: context.cluster.nodes[owner], slot, topology };
  }
  throw new Error('no responsive primary to aim at');
}

/**
 * Polls until every responsive node agrees who owns `slot` and that node serves (cluster_state
 * ok in its own view); resolves with the owner and when, or undefined after `timeoutMs`.
 */
async function waitForSettledOwner(context: FaultContext, slot: number, timeoutMs: number, unlike?: number): Promise<{ owner: number; at: number } | undefined> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    try {
      const owner = await context.cluster.agreedOwner(slot);
      if (owner !== undefined && owner !== unlike && context.cluster.nodes[owner].responsive) {
        if (String(await context.cluster.nodes[owner].call('CLUSTER', 'INFO')).includes('cluster_state:ok')) return { owner, at: performance.now() };
      }
    } catch {
      // a node busy or down for a moment
    }
    await sleep(50);
  }
  return undefined;
}

const FAULTS: Readonly<Record<FaultName, (context: FaultContext, options: FaultOptions) => Promise<FaultEvent>>> = {
  async 'redis-primary-kill'(context, options) {
    const { node, slot } = await hottestPrimary(context, options.avoid);
    const startedAt = performance.now();
    await node.kill();
    const promotedAt = (await waitForSettledOwner(context, slot, 30_000, node.index))?.at;
    const endedAt = promotedAt ?? performance.now();
    await sleep(Math.max(0, (options.restartAfterMs ?? 4000) - (endedAt - startedAt)));
    await context.cluster.restart(node);
    return {
      name: 'redis-primary-kill',
      target: 'redis',
      startedAt,
      endedAt,
      movesSlots: true,
      detail:
        `SIGKILL of primary node ${node.index} (owner of hot slot ${slot}); ` +
        (promotedAt ? `its replica took over the slot ${((promotedAt - startedAt) / 1000).toFixed(2)} s later` : 'NO replica took over within 30 s') +
        `; the node restarted ${((performance.now() - startedAt) / 1000).toFixed(1)} s after the kill and rejoined as a replica`,
    };
  },

  async 'redis-primary-pause'(context, options) {
    const { node, slot } = await hottestPrimary(context, options.avoid);
    const pauseMs = options.pauseMs ?? 3000;
    const startedAt = performance.now();
    node.pause();
    await sleep(pauseMs);
    node.resume();
    // The cluster notices the pause after cluster-node-timeout and may fail the node over; wait until the slot is served again.
    const settled = await waitForSettledOwner(context, slot, 15_000);
    const owner = settled?.owner ?? -1;
    const endedAt = settled?.at ?? performance.now();
    return {
      name: 'redis-primary-pause',
      target: 'redis',
      startedAt,
      endedAt,
      movesSlots: owner !== node.index,
      detail:
        `SIGSTOP of primary node ${node.index} (owner of hot slot ${slot}) for ${pauseMs / 1000} s; ` +
        (owner === node.index
          ? 'no failover: it kept its slots'
          : owner >= 0
            ? `its replica (node ${owner}) was promoted while it was stopped; it came back as a replica; the slot was served again ${((endedAt - startedAt) / 1000).toFixed(2)} s after the pause began`
            : 'the nodes did not agree on an owner within 15 s of the resume'),
    };
  },

  async 'redis-latency'(context, options) {
    const { node, slot } = await hottestPrimary(context, options.avoid);
    const latencyMs = options.latencyMs ?? 50;
    const durationMs = options.durationMs ?? 6000;
    const startedAt = performance.now();
    await context.cluster.proxies.setLatency(node.proxyPort, latencyMs);
    await sleep(durationMs);
    await context.cluster.proxies.setLatency(node.proxyPort, 0);
    return {
      name: 'redis-latency',
      target: 'redis',
      startedAt,
      endedAt: performance.now(),
      movesSlots: false,
      detail: `+${latencyMs} ms on every reply of primary node ${node.index} (owner of hot slot ${slot}, ~1/3 of the keys) for ${durationMs / 1000} s, at its proxy`,
    };
  },

  async 'redis-slot-migration'(context, options) {
    const topology = await context.cluster.topology();
    const primaries = topology.primaries().filter((p) => context.cluster.nodes[p.index].responsive && !(options.avoid ?? []).includes(p.index));
    const wanted = options.slots ?? 3;
    const slots = context.hotSlots.top(64).filter((slot) => primaries.some((p) => p.index === topology.owner[slot])).slice(0, wanted);
    const startedAt = performance.now();
    const moves: string[] = [];
    let keys = 0;
    for (const slot of slots) {
      const from = primaries.find((p) => p.index === topology.owner[slot]);
      const to = primaries[(primaries.findIndex((p) => p === from) + 1) % primaries.length];
      if (!from || to === from) continue;
      const source = context.cluster.nodes[from.index];
      const target = context.cluster.nodes[to.index];
      try {
        await target.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', from.id);
        await source.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', to.id);
        // A few keys at a time, with pauses: the slot stays split between the two nodes while traffic
        // flows, so clients get ASK for keys already moved (and for keys created meanwhile).
        for (;;) {
          const batch = (await source.call('CLUSTER', 'GETKEYSINSLOT', slot, 3)) as string[];
          if (batch.length === 0) break;
          await source.call('MIGRATE', '127.0.0.1', target.port, '', 0, 5000, 'KEYS', ...batch);
          keys += batch.length;
          await sleep(100);
        }
        await sleep(500);
        // The new owner first, then the old one, then everyone else (the documented order).
        for (const index of [to.index, from.index, ...primaries.map((p) => p.index).filter((i) => i !== to.index && i !== from.index)]) {
          await context.cluster.nodes[index].call('CLUSTER', 'SETSLOT', slot, 'NODE', to.id);
        }
        moves.push(`${slot}: node ${from.index}→${to.index}`);
      } catch (error) {
        moves.push(`${slot}: node ${from.index}→${to.index} FAILED (${(error as Error).message})`);
        context.recorder.notes.push(`slot migration of ${slot} failed: ${(error as Error).message}`);
      }
    }
    return {
      name: 'redis-slot-migration',
      target: 'redis',
      startedAt,
      endedAt: performance.now(),
      movesSlots: true,
      detail: `the ${slots.length} hottest slots moved between primaries with MIGRATING/IMPORTING + MIGRATE … KEYS (${keys} keys, 3 per MIGRATE, 100 ms apart): ${moves.join(', ')}`,
    };
  },

  async 'postgres-restart'(context) {
    const startedAt = performance.now();
    await context.postgres.restartFast();
    return {
      name: 'postgres-restart',
      target: 'postgres',
      startedAt,
      endedAt: performance.now(),
      movesSlots: false,
      detail: `pg_ctl restart -m fast: every session closed, the server down and back (${((performance.now() - startedAt) / 1000).toFixed(2)} s until it accepted connections again)`,
    };
  },

  async 'postgres-terminate'(context) {
    const startedAt = performance.now();
    const terminated = await context.postgres.terminateAppConnections();
    return {
      name: 'postgres-terminate',
      target: 'postgres',
      startedAt,
      endedAt: performance.now(),
      movesSlots: false,
      detail: `pg_terminate_backend of every app connection (${terminated} sessions)`,
    };
  },
};

/** One fault of a phase, `atMs` after the phase starts. */
export interface ScheduledFault {
  readonly atMs: number;
  readonly name: FaultName;
  readonly options?: FaultOptions;
}

export interface PhasePlan {
  readonly name: string;
  readonly description: string;
  readonly durationMs: number;
  readonly faults: readonly ScheduledFault[];
}

/**
 * Runs the phases in order while the traffic flows: each starts once the cluster is healthy
 * again (3 primaries, replicas in sync; at most `settleMs`), fires its faults at their times,
 * and lasts its duration or until its last fault is over, whichever is later.
 */
export async function runPhases(plan: readonly PhasePlan[], context: FaultContext, options: { settleMs: number; onPhase?: (name: string) => void }): Promise<void> {
  for (const phase of plan) {
    const settleStarted = performance.now();
    if (!(await context.cluster.waitHealthy(options.settleMs))) {
      context.recorder.notes.push(`phase ${phase.name} started with the Redis Cluster still unhealthy after ${options.settleMs / 1000} s`);
    }
    const settled = performance.now() - settleStarted;
    if (settled > 1000) context.log(`  (cluster settled in ${(settled / 1000).toFixed(1)} s)`);
    context.hotSlots.decay();
    options.onPhase?.(phase.name);
    context.log(`phase ${phase.name}: ${phase.description}`);
    const startedAt = performance.now();
    const running = phase.faults.map(async (fault) => {
      await sleep(fault.atMs);
      try {
        const event = await FAULTS[fault.name](context, fault.options ?? {});
        context.recorder.faults.push(event);
        context.log(`  ${context.recorder.seconds(event.startedAt)} ${event.name}: ${event.detail}`);
      } catch (error) {
        context.recorder.notes.push(`fault ${fault.name} in phase ${phase.name} failed: ${(error as Error).message}`);
        context.log(`  fault ${fault.name} FAILED: ${(error as Error).message}`);
      }
    });
    await Promise.all([sleep(phase.durationMs), ...running]);
    context.recorder.phases.push({ name: phase.name, description: phase.description, startedAt, endedAt: performance.now() });
  }
}
