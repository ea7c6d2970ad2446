/**
 * `npm run chaos [-- --quick]`: the API under every fault at once, checked like Jepsen checks
 * a database. It starts its own services on free loopback ports — a Redis Cluster of 3
 * primaries with 1 replica each (redis-cluster.ts, behind per-node proxies: proxy-host.ts), a
 * private Postgres (postgres.ts) and a fleet of worker processes, each one emulated Lambda
 * container running the real handlers through local/ (fleet.ts) — then drives many users'
 * traffic (operations.ts, turns.ts, workload.ts) through phases of faults (faults.ts), checks
 * every answer against what was acknowledged (history.ts, checker.ts), reads Postgres at the
 * end, and writes docs/chaos.md with its chart (analysis.ts, report.ts).
 *
 * Everything it starts is removed at the end, on Ctrl-C/SIGTERM, and — through a watchdog
 * process — when it crashes (cleanup.ts). The same bundle runs every role: `--role worker`,
 * `--role proxy` and `--role reaper` are its child processes.
 *
 * Exits non-zero when any stale read, lost write, cross-user read, undocumented status or
 * resume-follower violation occurred (or the run could not complete).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPLICATED_CACHE_INVALIDATION } from '../layer/src/contracts/environment';
import { signLocalToken } from '../local/auth';
import { seededRandom } from '../bench/stats';
import { analyze } from './analysis';
import { Checker, type FollowerOutcome } from './checker';
import { Resources, runReaper } from './cleanup';
import { runPhases, type FaultContext } from './faults';
import { renderRouteCosts, routeCostLines, routeCosts } from './costs';
import { Fleet, runWorker, workerEnvironment } from './fleet';
import { History, User } from './history';
import { detailRead, OPERATIONS } from './operations';
import { parseOptions, type ChaosOptions } from './options';
import { PrivatePostgres } from './postgres';
import { runProxyHost } from './proxy-host';
import { Recorder, VIOLATION_CATEGORIES } from './recorder';
import { ChaosCluster } from './redis-cluster';
import { renderMarkdown, renderSvg, targets } from './report';
import { postTurn } from './turns';
import { Api, Driver, HotSlots, ZipfPopulation, type WorkloadContext } from './workload';

/** The repository root: the bundle runs from `.build/chaos/`. */
const ROOT = path.resolve(__dirname, '..', '..');
const log = (line: string) => process.stderr.write(`[chaos] ${line}\n`);

/** Creates each user's first conversations through the API, users in parallel, each user's turns one at a time. */
async function seed(context: WorkloadContext, options: ChaosOptions, lanes: number): Promise<void> {
  const queue = [...context.history.users];
  const [min, max] = options.conversationsPerUser;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      for (let user = queue.shift(); user; user = queue.shift()) {
        const count = min + Math.floor(context.random() * (max - min + 1));
        user.writing = true;
        for (let i = 0; i < count; i += 1) await postTurn(context, user, undefined, 'seed');
        user.writing = false;
      }
    }),
  );
}

function gitCommit(): string {
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim() || 'unknown';
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim() !== '';
  return dirty ? `${head}+changes` : head;
}

async function orchestrate(options: ChaosOptions, resources: Resources): Promise<number> {
  const wallStart = performance.now();
  const entry = process.argv[1];
  const cores = os.availableParallelism();
  const loadAverage = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  const logDir = path.join(ROOT, '.build', 'chaos', 'logs');
  mkdirSync(logDir, { recursive: true });

  resources.startReaper(entry);
  let aborting = false;
  const abort = (reason: string, code: number) => {
    if (aborting) return;
    aborting = true;
    log(reason);
    // A stuck cleanup must not keep the process alive: the reaper finishes the job.
    setTimeout(() => process.exit(code), 20_000).unref();
    void resources.release().finally(() => process.exit(code));
  };
  process.once('SIGINT', () => abort('SIGINT: stopping, removing everything it started…', 130));
  process.once('SIGTERM', () => abort('SIGTERM: stopping, removing everything it started…', 143));
  process.on('uncaughtException', (error) => {
    console.error(error);
    abort('crashed: removing everything it started…', 1);
  });
  process.on('unhandledRejection', (error) => {
    console.error(error);
    abort('crashed (unhandled rejection): removing everything it started…', 1);
  });
  setTimeout(() => abort(`the run passed its ${options.deadlineMs / 60_000}-minute bound: aborted`, 1), options.deadlineMs).unref();

  log(`${options.mode} run: starting a private Postgres and a 3+3 Redis Cluster…`);
  const [postgres, cluster] = await Promise.all([PrivatePostgres.start(resources), ChaosCluster.start(entry, resources, { nodeTimeoutMs: options.clusterNodeTimeoutMs })]);
  const jwtSecret = randomBytes(24).toString('base64url');
  const recorder = new Recorder(performance.now());
  const fleet = await Fleet.start(entry, resources, {
    count: options.workers,
    env: workerEnvironment({ databaseUrl: postgres.url, redisUrl: cluster.seedUrl, jwtSecret, tokenDelayMs: options.tokenDelayMs, logLevel: options.logLevel }),
    logDir,
    onRedisErrors: (worker, at, count) => recorder.redisErrors.push({ at: at - recorder.epochOffset, worker, count }),
  });
  log(`services up in ${((performance.now() - wallStart) / 1000).toFixed(1)} s: Postgres :${postgres.port}, Redis nodes ${cluster.nodes.map((n) => `:${n.port}`).join(' ')}, ${options.workers} workers`);

  log(`time 0 of this run's timeline is ${new Date(recorder.startedAt + recorder.epochOffset).toISOString()}`);
  const history = new History();
  const checker = new Checker(history, recorder);
  const followers: FollowerOutcome[] = [];
  const random = seededRandom(options.seed);
  for (let i = 0; i < options.users; i += 1) {
    const id = `chaos-user-${i}`;
    history.users.push(new User(i, id, signLocalToken(id, { secret: jwtSecret, expiresInSeconds: 6 * 3600 })));
  }
  const hotSlots = new HotSlots();
  const context: WorkloadContext = {
    history,
    checker,
    api: new Api(fleet, recorder),
    recorder,
    population: new ZipfPopulation(options.zipfExponent),
    hotSlots,
    random,
    settings: options.workload,
    followers,
  };

  const seeding = performance.now();
  await seed(context, options, options.clients);
  log(`seeded ${history.conversations.size} conversations for ${options.users} users in ${((performance.now() - seeding) / 1000).toFixed(1)} s`);

  const driver = new Driver(context, OPERATIONS, detailRead, { clients: options.clients, rps: options.rps, maxRequests: options.maxRequests });
  driver.start();
  const faultContext: FaultContext = { cluster, postgres, recorder, hotSlots, log };
  await runPhases(options.phases, faultContext, { settleMs: 20_000 });
  await driver.stop();
  log(`traffic stopped: ${recorder.records.length} requests; checking…`);

  checker.checkStatuses(recorder.records);
  checker.checkFollowers(followers);
  const postgresCheck = await postgres.admin('chatbot', (client) => checker.checkPostgres(client, performance.now()));
  const workerStats = await fleet.stats();
  const crashedWorkers = fleet.exited();
  for (const index of crashedWorkers) recorder.violation('status', performance.now(), 'worker', `worker ${index} (a container) exited during the run`);

  const analysis = analyze(recorder, cores);
  const steadyWindow = recorder.phases.find((phase) => phase.name === 'steady');
  const costSamples = workerStats.map((stats) => stats.costs);
  const steadyCosts = steadyWindow ? routeCosts(costSamples, { from: steadyWindow.startedAt + recorder.epochOffset, to: steadyWindow.endedAt + recorder.epochOffset }) : [];
  const allCosts = routeCosts(costSamples);
  const results = targets(analysis);
  const reportDir = path.resolve(ROOT, options.reportDir);
  mkdirSync(reportDir, { recursive: true });
  const ranTotal = [...driver.ran.values()].reduce((a, b) => a + b, 0);
  const writesRan = [...driver.ran].filter(([name]) => OPERATIONS.find((o) => o.name === name)?.kind === 'write').reduce((a, [, n]) => a + n, 0);
  const markdown = renderMarkdown(analysis, recorder, {
    mode: options.mode,
    commit: gitCommit(),
    cores,
    loadAverage,
    wallSeconds: (performance.now() - wallStart) / 1000,
    setup: [
      `Redis ${spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout.match(/v=(\S+)/)?.[1] ?? '?'} Cluster: 3 primaries + 1 replica each, \`cluster-node-timeout ${options.clusterNodeTimeoutMs}\`, \`cluster-require-full-coverage no\` (ElastiCache's setting), formed with CLUSTER MEET/ADDSLOTSRANGE/REPLICATE.`,
      'Each node announces the port of its own TCP proxy (`cluster-announce-port`; the bus port stays direct), so every client connection — and every MOVED/ASK — goes through the proxy of the node it talks to. ' +
        'The latency fault delays one proxy: one slow node, as a noisy neighbour or a node across zones would be, while the other two primaries stay fast. ' +
        '(Slowing all of them would measure a slow network, which the cache cannot mask by design: every hit is one round trip.)',
      'PostgreSQL 15 of its own (`initdb` + `pg_ctl` in a temp directory, default durability settings), so a fast restart or `pg_terminate_backend` touches nothing else.',
      `${options.workers} worker processes (${options.workersPerCore} per core): each is one emulated Lambda container — the real handlers behind local/'s API Gateway and Lambda runtime emulation, ` +
        'with its own pg pool (DATABASE_POOL_MAX 2), ioredis Cluster client and cache state, configured as the stack configures the functions ' +
        `(REDIS_CLUSTER_MODE=true; invalidations confirmed by a replica, REDIS_INVALIDATION_REPLICAS=${REPLICATED_CACHE_INVALIDATION.REDIS_INVALIDATION_REPLICAS} with a ${REPLICATED_CACHE_INVALIDATION.REDIS_INVALIDATION_RETRY_MS} ms retry window, as the stack sets them for a cache with replicas; ` +
        'Redis connect/command timeouts 1000/200 ms and Postgres connect/statement timeouts 3000/5000 ms, the defaults the stack leaves in place). ' +
        'Two per core: a worker is one single-threaded process that idles while it waits on Redis, Postgres or the model, so two keep a core busy; more add memory and context switches on a machine that also runs 6 Redis nodes, Postgres and the load generator. ' +
        'Unlike Lambda, a worker serves several requests at once (the load balancer sends each request to the least busy one).',
      `Differences from the deployed stack, each on purpose: the local offline model (${options.tokenDelayMs} ms per token, so a reply streams for about half a second and can be followed) instead of Bedrock; USER_TURN_LIMIT raised (the run packs hours of each user's turns into minutes; the limiter still runs on every POST); HS256 tokens from the local authorizer instead of Cognito.`,
    ],
    workload: [
      `${options.users} users, ${history.conversations.size} conversations at the end; conversations picked by a Zipf distribution (exponent ${options.zipfExponent}): the hottest takes ${zipfShare(context.population.ranked.length, options.zipfExponent, 1)} % of the picks, the 10 hottest ${zipfShare(context.population.ranked.length, options.zipfExponent, 10)} %.`,
      `${options.clients} concurrent clients at a target of ${options.rps} requests/s. Operation mix (operations.ts): ${OPERATIONS.map((o) => `${o.name} ${o.weight}`).join(', ')} — ` +
        `${((1 - writesRan / ranTotal) * 100).toFixed(1)} % reads, ${((writesRan / ranTotal) * 100).toFixed(1)} % writes as run (a write whose user already has one in flight becomes a read).`,
      `Posts: ${options.workload.v1Share * 100} % in the v1 delta encoding, ${options.workload.followerShare * 100} % of those followed by a resume (\`POST /f/conversation/resume\`, from a random frame already received, on another worker).`,
      `Each user writes one thing at a time; reads run freely. A read is checked against every write acknowledged before it started (history.ts, checker.ts).`,
    ],
    operationsRan: driver.ran,
    postgresCheck,
    workerStats: workerStats.map((s) => `worker ${s.index}: ${s.cacheCommands} Redis commands, ${s.cacheErrors} failed (served without the cache), ${s.databaseQueries} SQL queries`).join('; '),
    crashes: driver.crashes,
    excusedByObservedRedisFailures: checker.excusedByObservedRedisFailures,
    chartFile: 'chaos.svg',
    routeCosts: renderRouteCosts(steadyCosts, allCosts, 'steady'),
  });
  writeFileSync(path.join(reportDir, 'chaos.md'), markdown);
  writeFileSync(path.join(reportDir, 'chaos.svg'), renderSvg(analysis));

  for (const phase of analysis.phases) {
    log(
      `${phase.phase.name.padEnd(15)} ${phase.rps.toFixed(0).padStart(4)} req/s  reads p99 ${phase.reads.p99.toFixed(0).padStart(5)} ms  hit ${phase.hitRate === undefined ? '  –  ' : (phase.hitRate * 100).toFixed(1).padStart(5)} %  ` +
        VIOLATION_CATEGORIES.map((c) => `${c} ${phase.violations[c]}`).join(' '),
    );
  }
  log('per-route costs in the steady phase (requests, Redis commands and Postgres statements per request, handler ms):');
  for (const line of routeCostLines(steadyCosts)) log(`  ${line}`);
  for (const result of results) log(`${result.met ? 'met   ' : 'MISSED'} ${result.name}: ${result.measured} (goal ${result.goal})`);
  for (const crash of driver.crashes.slice(0, 5)) log(`harness error: ${crash}`);
  log(`report: ${path.relative(ROOT, path.join(reportDir, 'chaos.md'))}; worker logs: ${path.relative(ROOT, logDir)}`);

  await resources.release();
  const failed = VIOLATION_CATEGORIES.some((category) => analysis.totals.violations[category] > 0) || driver.crashes.length > 0;
  log(`done in ${((performance.now() - wallStart) / 1000).toFixed(0)} s: ${failed ? 'FAILED (see the violations in the report)' : 'every correctness check held'}`);
  return failed ? 1 : 0;
}

/** The share (in %) of Zipf picks that land on the `top` highest ranks of `n`. */
function zipfShare(n: number, exponent: number, top: number): string {
  let all = 0;
  let head = 0;
  for (let i = 1; i <= n; i += 1) {
    all += 1 / i ** exponent;
    if (i <= top) head += 1 / i ** exponent;
  }
  return ((head / all) * 100).toFixed(1);
}

async function main(): Promise<void> {
  const roleIndex = process.argv.indexOf('--role');
  const role = roleIndex >= 0 ? process.argv[roleIndex + 1] : 'orchestrator';
  if (role === 'reaper') return runReaper();
  if (role === 'proxy') return runProxyHost();
  if (role === 'worker') return runWorker();
  let options: ChaosOptions;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    console.error(`npm run chaos: ${(error as Error).message}`);
    process.exit(2);
  }
  const resources = new Resources();
  let code: number;
  try {
    code = await orchestrate(options, resources);
  } catch (error) {
    console.error('[chaos] failed:', error);
    code = 1;
  } finally {
    await resources.release();
  }
  process.exit(code);
}

main().catch((error: unknown) => {
  console.error('[chaos] failed:', error);
  process.exit(1);
});
