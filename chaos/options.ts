/**
 * The two modes and their knobs. `--quick` fits in 3 minutes on a 2-core machine (CI); the
 * full run takes about 10. Both bound themselves in requests and in wall-clock time.
 */
import os from 'node:os';
import type { PhasePlan } from './faults';
import type { WorkloadSettings } from './workload';

export interface ChaosOptions {
  readonly mode: 'quick' | 'full';
  readonly seed: number;
  readonly users: number;
  readonly conversationsPerUser: readonly [number, number];
  readonly workers: number;
  readonly workersPerCore: number;
  /** Concurrent virtual clients. */
  readonly clients: number;
  /** Target request rate (all operations); the clients issue at most this. */
  readonly rps: number;
  /** Hard bound on requests; the run stops issuing at it. */
  readonly maxRequests: number;
  /** Hard bound on the whole run's wall clock: past it, the run is aborted (and fails). */
  readonly deadlineMs: number;
  readonly clusterNodeTimeoutMs: number;
  readonly tokenDelayMs: number;
  readonly zipfExponent: number;
  readonly workload: WorkloadSettings;
  readonly phases: readonly PhasePlan[];
  /** Where docs/chaos.md and the chart go. */
  readonly reportDir: string;
  readonly logLevel: string;
}

const USAGE = `usage: npm run chaos [-- --quick] [--seed N] [--workers-per-core N] [--rps N] [--report-dir DIR] [--log-level LEVEL]`;

function phases(mode: 'quick' | 'full'): PhasePlan[] {
  const s = (seconds: number) => seconds * 1000;
  if (mode === 'quick') {
    return [
      { name: 'warmup', description: 'no fault: the cache fills', durationMs: s(5), faults: [] },
      { name: 'steady', description: 'no fault: the baseline', durationMs: s(10), faults: [] },
      { name: 'primary-kill', description: 'SIGKILL the primary of the hottest slot', durationMs: s(12), faults: [{ atMs: s(1), name: 'redis-primary-kill', options: { restartAfterMs: 4000 } }] },
      { name: 'slot-migration', description: 'move the 3 hottest slots to another primary', durationMs: s(10), faults: [{ atMs: s(1), name: 'redis-slot-migration', options: { slots: 3 } }] },
      { name: 'primary-pause', description: 'SIGSTOP the primary of the hottest slot for 3 s', durationMs: s(12), faults: [{ atMs: s(1), name: 'redis-primary-pause', options: { pauseMs: 3000 } }] },
      { name: 'redis-latency', description: '+50 ms on the hottest primary', durationMs: s(10), faults: [{ atMs: s(1), name: 'redis-latency', options: { latencyMs: 50, durationMs: 6000 } }] },
      { name: 'pg-restart', description: 'Postgres fast restart', durationMs: s(8), faults: [{ atMs: s(1), name: 'postgres-restart' }] },
      { name: 'pg-terminate', description: 'pg_terminate_backend of every app connection', durationMs: s(6), faults: [{ atMs: s(1), name: 'postgres-terminate' }] },
      {
        name: 'combined',
        description: 'all of them, overlapping',
        durationMs: s(24),
        faults: [
          { atMs: s(0), name: 'redis-latency', options: { latencyMs: 50, durationMs: 8000 } },
          { atMs: s(1), name: 'redis-slot-migration', options: { slots: 3 } },
          { atMs: s(6), name: 'redis-primary-kill', options: { restartAfterMs: 4000 } },
          { atMs: s(8), name: 'postgres-terminate' },
          { atMs: s(14), name: 'redis-primary-pause', options: { pauseMs: 3000 } },
          { atMs: s(17), name: 'postgres-restart' },
        ],
      },
      { name: 'cooldown', description: 'no fault: back to steady?', durationMs: s(5), faults: [] },
    ];
  }
  return [
    { name: 'warmup', description: 'no fault: the cache fills', durationMs: s(20), faults: [] },
    { name: 'steady', description: 'no fault: the baseline', durationMs: s(60), faults: [] },
    { name: 'primary-kill', description: 'SIGKILL the primary of the hottest slot', durationMs: s(40), faults: [{ atMs: s(5), name: 'redis-primary-kill', options: { restartAfterMs: 8000 } }] },
    { name: 'slot-migration', description: 'move the 3 hottest slots to another primary', durationMs: s(35), faults: [{ atMs: s(5), name: 'redis-slot-migration', options: { slots: 3 } }] },
    { name: 'primary-pause', description: 'SIGSTOP the primary of the hottest slot for 3 s', durationMs: s(40), faults: [{ atMs: s(5), name: 'redis-primary-pause', options: { pauseMs: 3000 } }] },
    { name: 'redis-latency', description: '+50 ms on the hottest primary', durationMs: s(40), faults: [{ atMs: s(5), name: 'redis-latency', options: { latencyMs: 50, durationMs: 20_000 } }] },
    { name: 'pg-restart', description: 'Postgres fast restart', durationMs: s(35), faults: [{ atMs: s(5), name: 'postgres-restart' }] },
    { name: 'pg-terminate', description: 'pg_terminate_backend of every app connection', durationMs: s(25), faults: [{ atMs: s(5), name: 'postgres-terminate' }] },
    {
      name: 'combined',
      description: 'all of them, overlapping, twice',
      durationMs: s(110),
      faults: [
        { atMs: s(0), name: 'redis-latency', options: { latencyMs: 50, durationMs: 25_000 } },
        { atMs: s(2), name: 'redis-slot-migration', options: { slots: 3 } },
        { atMs: s(10), name: 'redis-primary-kill', options: { restartAfterMs: 6000 } },
        { atMs: s(14), name: 'postgres-terminate' },
        { atMs: s(30), name: 'redis-primary-pause', options: { pauseMs: 3000 } },
        { atMs: s(34), name: 'postgres-restart' },
        { atMs: s(55), name: 'redis-slot-migration', options: { slots: 3 } },
        { atMs: s(56), name: 'postgres-restart' },
        { atMs: s(62), name: 'redis-primary-kill', options: { restartAfterMs: 6000 } },
        { atMs: s(64), name: 'redis-latency', options: { latencyMs: 50, durationMs: 20_000 } },
        { atMs: s(80), name: 'postgres-terminate' },
        { atMs: s(82), name: 'redis-primary-pause', options: { pauseMs: 3000 } },
      ],
    },
    { name: 'cooldown', description: 'no fault: back to steady?', durationMs: s(20), faults: [] },
  ];
}

export function parseOptions(argv: readonly string[]): ChaosOptions {
  const flags = new Map<string, string>();
  let quick = false;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--quick') quick = true;
    else if (['--seed', '--workers-per-core', '--rps', '--report-dir', '--log-level'].includes(arg)) {
      const value = argv[++i];
      if (value === undefined) throw new Error(`${arg} needs a value\n${USAGE}`);
      flags.set(arg, value);
    } else throw new Error(`unknown option ${JSON.stringify(arg)}\n${USAGE}`);
  }
  const number = (flag: string, fallback: number) => {
    const raw = flags.get(flag);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`${flag} must be a positive number, got ${JSON.stringify(raw)}\n${USAGE}`);
    return value;
  };
  const mode = quick ? 'quick' : 'full';
  const cores = os.availableParallelism();
  // 2 per core: each worker is one single-threaded Node process, idle while it waits on Redis,
  // Postgres or the model between tokens, so 2 keep a core busy; more only add memory and
  // context switches on a machine that also runs the 6 Redis nodes, Postgres and the load generator.
  const workersPerCore = number('--workers-per-core', 2);
  const workers = Math.max(2, Math.round(workersPerCore * cores));
  return {
    mode,
    seed: number('--seed', 20240611),
    users: quick ? 50 : 240,
    conversationsPerUser: quick ? [2, 5] : [2, 8],
    workers,
    workersPerCore,
    clients: workers * 6,
    rps: number('--rps', quick ? 300 : 350),
    maxRequests: quick ? 60_000 : 400_000,
    // Safety nets, not the plan: the quick run is laid out to finish in about 2.5 minutes, the full one in about 10.
    deadlineMs: (quick ? 4 : 15) * 60_000,
    clusterNodeTimeoutMs: 1500,
    tokenDelayMs: 20,
    zipfExponent: 1,
    workload: {
      v1Share: 0.7,
      followerShare: 0.4,
      maxMessagesPerConversation: 40,
      maxConversationsPerUser: 20,
      listLimit: 28,
      protectedRanks: 20,
    },
    phases: phases(mode),
    reportDir: flags.get('--report-dir') ?? (quick ? '.build/chaos' : 'docs'),
    logLevel: flags.get('--log-level') ?? 'ERROR',
  };
}
