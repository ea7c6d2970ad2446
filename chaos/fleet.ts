/**
 * The fleet: worker processes, each one emulated Lambda container running the real handlers
 * through `local/` (the API Gateway emulator, the Lambda runtime emulation, the JWT
 * authorizer) exactly as `npm start` does, with the environment the stack gives the deployed
 * functions. Like a container, a worker keeps its own state across requests: one `pg` pool
 * (DATABASE_POOL_MAX, 2 as deployed), one ioredis Cluster client with its slot map, and the
 * cache's list of invalidations still to retry.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import path from 'node:path';
import type { Resources } from './cleanup';
import { CostRecorder, type CostSamples } from './costs';
import { ApiTarget } from './http-client';
import { REPLICATED_CACHE_INVALIDATION } from '../layer/src/contracts/environment';

/** What a worker reports about its layer at the end of the run. */
export interface WorkerStats {
  readonly index: number;
  readonly cacheCommands: number;
  readonly cacheErrors: number;
  readonly databaseQueries: number;
  /** Every request's costs as its handler measured them (see costs.ts). */
  readonly costs: CostSamples;
}

/** Variables of the layer's configuration, all cleared before ours are set (nothing leaks in from the shell). */
const APP_VARIABLE = /^(DATABASE_|REDIS_|CACHE_|CONTEXT_|LLM_|OPENAI_|BEDROCK_|SYSTEM_PROMPT|SSE_|REPLY_STREAM_|ALLOWED_ORIGINS|MAX_|DELETED_|PURGE_|USER_TURN_|POWERTOOLS_|LOCAL_|PGLITE_|PORT$|HOST$)/;

export interface WorkerSettings {
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly jwtSecret: string;
  /** The local model's pause between tokens: a reply lasts long enough to be followed. */
  readonly tokenDelayMs: number;
  readonly logLevel: string;
}

/**
 * The deployed functions' environment (lib/chatbot-api.ts): cluster mode on, invalidations
 * confirmed by a replica and retried through a failover (the cluster has replicas), and the
 * Redis and Postgres timeouts and pool size left at the defaults the stack leaves them at.
 * Two local differences, each for a reason: the offline model instead of Bedrock, and the
 * per-user turn limit raised, because this run packs hours of a user's turns into minutes
 * (the limiter still runs on every POST, against the cluster).
 */
export function workerEnvironment(settings: WorkerSettings): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!APP_VARIABLE.test(name)) env[name] = value;
  return {
    ...env,
    DATABASE_URL: settings.databaseUrl,
    REDIS_URL: settings.redisUrl,
    REDIS_CLUSTER_MODE: 'true',
    // Every primary has a replica, so the stack would set these too (lib/chatbot-api.ts).
    ...REPLICATED_CACHE_INVALIDATION,
    LLM_PROVIDER: 'local',
    LOCAL_MODEL_TOKEN_DELAY_MS: String(settings.tokenDelayMs),
    LOCAL_JWT_SECRET: settings.jwtSecret,
    USER_TURN_LIMIT: '1000000',
    POWERTOOLS_SERVICE_NAME: 'chatbot-api',
    POWERTOOLS_LOG_LEVEL: settings.logLevel,
    POWERTOOLS_METRICS_DISABLED: 'true',
  };
}

interface Worker {
  readonly child: ChildProcess;
  readonly target: ApiTarget;
}

export class Fleet {
  private roundRobin = 0;

  private constructor(private readonly workers: readonly Worker[]) {}

  get targets(): readonly ApiTarget[] {
    return this.workers.map((worker) => worker.target);
  }

  static async start(
    entry: string,
    resources: Resources,
    options: { count: number; env: NodeJS.ProcessEnv; logDir: string; onRedisErrors?: (worker: number, at: number, count: number) => void },
  ): Promise<Fleet> {
    const workers = await Promise.all(
      Array.from({ length: options.count }, async (_, index): Promise<Worker> => {
        const log = openSync(path.join(options.logDir, `worker-${index}.log`), 'w');
        const child = fork(entry, ['--role', 'worker'], { env: options.env, detached: true, stdio: ['ignore', log, log, 'ipc'], execArgv: ['--enable-source-maps'] });
        resources.trackProcess(child, `worker ${index}`);
        const port = await new Promise<number>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`worker ${index} did not start within 60 s (see ${options.logDir}/worker-${index}.log)`)), 60_000);
          child.once('exit', (code) => reject(new Error(`worker ${index} exited with ${code} at start (see ${options.logDir}/worker-${index}.log)`)));
          child.on('message', (message: { type: string; port?: number; at?: number; count?: number }) => {
            if (message.type === 'redis-errors') options.onRedisErrors?.(index, message.at as number, message.count as number);
            if (message.type !== 'ready') return;
            clearTimeout(timer);
            resolve(message.port as number);
          });
        });
        return { child, target: new ApiTarget(index, port) };
      }),
    );
    const fleet = new Fleet(workers);
    resources.onCleanup('workers', () => fleet.stop());
    return fleet;
  }

  /** The least busy worker (ties in turn), as a load balancer in front of warm containers would pick. */
  pick(exclude?: ApiTarget): ApiTarget {
    let best: ApiTarget | undefined;
    const count = this.workers.length;
    for (let i = 0; i < count; i += 1) {
      const target = this.workers[(this.roundRobin + i) % count].target;
      if (target === exclude && count > 1) continue;
      if (!best || target.inFlight < best.inFlight) best = target;
    }
    this.roundRobin = (this.roundRobin + 1) % count;
    return best as ApiTarget;
  }

  /** Whether every worker process is still running (a crash would be a finding of its own). */
  exited(): number[] {
    return this.workers.filter((worker) => worker.child.exitCode !== null || worker.child.signalCode !== null).map((worker) => worker.target.index);
  }

  async stats(): Promise<WorkerStats[]> {
    return Promise.all(
      this.workers.map(
        (worker) =>
          new Promise<WorkerStats>((resolve) => {
            const none = { index: worker.target.index, cacheCommands: Number.NaN, cacheErrors: Number.NaN, databaseQueries: Number.NaN, costs: { routes: [], rows: [] } };
            if (!worker.child.connected) return resolve(none);
            const timer = setTimeout(() => resolve(none), 10_000);
            const onMessage = (message: { type: string } & Omit<WorkerStats, 'index'>) => {
              if (message.type !== 'stats') return;
              clearTimeout(timer);
              worker.child.off('message', onMessage);
              resolve({
                index: worker.target.index,
                cacheCommands: message.cacheCommands,
                cacheErrors: message.cacheErrors,
                databaseQueries: message.databaseQueries,
                costs: message.costs,
              });
            };
            worker.child.on('message', onMessage);
            worker.child.send({ type: 'stats' });
          }),
      ),
    );
  }

  async stop(): Promise<void> {
    for (const worker of this.workers) worker.target.close();
    await Promise.all(
      this.workers.map(async (worker) => {
        if (worker.child.exitCode !== null || worker.child.signalCode !== null) return;
        const exited = new Promise((resolve) => worker.child.once('exit', resolve));
        worker.child.kill('SIGTERM');
        const timer = setTimeout(() => worker.child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}

/** The worker role: the local API on a free port, then "ready" to the orchestrator. */
export async function runWorker(): Promise<void> {
  const { installLambdaRuntimeGlobals } = await import('../local/lambda-runtime');
  // Before any handler module loads: the streaming handlers call awslambda.streamifyResponse at import.
  installLambdaRuntimeGlobals();
  const { prepareLocalEnvironment } = await import('../local/environment');
  const environment = await prepareLocalEnvironment({ log: (line) => console.log(line) });
  const { startLocalServer } = await import('../local/server');
  const server = await startLocalServer({ port: 0, host: '127.0.0.1', webClient: false, log: () => undefined });
  const shared = await import('@chatbot/shared/testing');
  // Redis failures as this container's layer saw them (timeouts, refused connections, MOVED), with
  // when: the checker treats them as Redis faults even when none was injected (a loaded machine).
  let errorsSeen = shared.redisStats.errors;
  setInterval(() => {
    const errors = shared.redisStats.errors;
    if (errors === errorsSeen) return;
    process.send?.({ type: 'redis-errors', at: Date.now(), count: errors - errorsSeen });
    errorsSeen = errors;
  }, 100).unref();
  // Each request's costs as the handler measured them (layer/src/platform/tracing.ts): the Redis
  // commands it sent, its Postgres statements and its duration, until its stream ended.
  const costs = new CostRecorder();
  shared.setTimingSink((summary, request) => costs.add(request, summary));
  process.on('message', (message: { type: string }) => {
    if (message.type !== 'stats') return;
    process.send?.({
      type: 'stats',
      cacheCommands: shared.redisStats.commands,
      cacheErrors: shared.redisStats.errors,
      databaseQueries: shared.databaseStats.queries,
      costs: costs.samples(),
    });
  });
  const stop = async () => {
    setTimeout(() => process.exit(0), 2000).unref();
    await server.close().catch(() => undefined);
    await environment.close().catch(() => undefined);
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  // The orchestrator is gone (crashed): a container without its load balancer has nothing to do.
  process.once('disconnect', () => void stop());
  process.send?.({ type: 'ready', port: server.port });
}
