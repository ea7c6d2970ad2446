/**
 * Prepares the process environment for running the handlers locally, before the layer reads
 * it: embedded Postgres/Redis when no URL is given, local-run defaults, then migrations.
 * Shared by `npm start` and `npm run seed`.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { startEmbeddedPostgres, startEmbeddedRedis, type EmbeddedService } from './embedded-services';
import { errorCodes, LocalStartError } from './start-error';

/** What a local run uses, for the banner, and how to release it. */
export interface LocalEnvironment {
  readonly database: string;
  readonly cache: string;
  readonly model: string;
  /** Migrations applied by this start. */
  readonly appliedMigrations: readonly string[];
  /** Tells the embedded services where the API listens (a second opener's refusal names it). */
  announce(apiUrl: string): Promise<void>;
  /** Closes the pool, the Redis client and the embedded servers. */
  close(): Promise<void>;
}

/** Options of {@link prepareLocalEnvironment}. */
export interface PrepareLocalEnvironmentOptions {
  /** Progress messages. @default console.log */
  readonly log?: (line: string) => void;
}

/** Default token delay of the offline model locally, so streaming is visible in a terminal. */
export const LOCAL_MODEL_TOKEN_DELAY_MS_DEFAULT = '25';

/** The repository root: the folder holding `layer/migrations` (source and bundle live at different depths). */
export function findRepositoryRoot(start = __dirname): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'layer', 'migrations'))) return dir;
    if (path.dirname(dir) === dir) return process.cwd();
  }
}

/**
 * Fills in `process.env` for a local run, starts what is missing and migrates the database,
 * saying what it is doing as it goes. A problem the person can fix (a bad variable, a database
 * that is not there) becomes a {@link LocalStartError}: one line, no stack trace.
 * Must run before anything reads the layer's config (it is parsed once, on first use).
 */
export async function prepareLocalEnvironment(options: PrepareLocalEnvironmentOptions = {}): Promise<LocalEnvironment> {
  const log = options.log ?? ((line: string) => console.log(line));
  const env = process.env;
  const root = findRepositoryRoot();
  const embedded: EmbeddedService[] = [];
  const closeEmbedded = async () => {
    for (const service of embedded.reverse()) await service.close().catch((error: unknown) => console.error(error));
  };

  // Local-run defaults; anything already set wins.
  env.LLM_PROVIDER ??= 'local';
  env.LOCAL_MODEL_TOKEN_DELAY_MS ??= LOCAL_MODEL_TOKEN_DELAY_MS_DEFAULT;
  env.POWERTOOLS_SERVICE_NAME ??= 'chatbot-api';
  env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
  // EMF metric lines are for CloudWatch; locally they only bury the request log.
  env.POWERTOOLS_METRICS_DISABLED ??= 'true';

  try {
    const cacheDisabled = /^(false|0|no)$/i.test(env.CACHE_ENABLED ?? '');
    // Postgres and Redis start side by side: the embedded Postgres is the slow one.
    const [database, cache] = await Promise.all([
      startDatabase(env, root, log, embedded),
      cacheDisabled ? Promise.resolve('disabled (CACHE_ENABLED=false): every read goes to Postgres') : startCache(env, embedded),
    ]);

    const shared = await import('@chatbot/shared');
    let config;
    try {
      config = shared.getConfig();
    } catch (error) {
      if ((error as Error).name !== 'ConfigError') throw error;
      throw new LocalStartError(`${(error as Error).message}: fix or unset it (docs/local.md lists every variable).`, { cause: error });
    }
    const model = describeModel(config.llm);
    const migrating = Date.now();
    let applied: string[];
    try {
      ({ applied } = await shared.runMigrations({ dir: path.join(root, 'layer', 'migrations'), searchTextConfig: config.sharing.searchTextConfig }));
    } catch (error) {
      throw databaseStartError(error, env.DATABASE_URL) ?? error;
    }
    if (applied.length > 0) log(`Applied migrations ${applied.join(', ')} in ${seconds(Date.now() - migrating)}.`);
    return {
      database,
      cache: cache + (env.CACHE_KEY_PREFIX && !cacheDisabled ? `, key prefix "${env.CACHE_KEY_PREFIX}"` : ''),
      model,
      appliedMigrations: applied,
      announce: async (apiUrl) => {
        for (const service of embedded) await service.announce?.(apiUrl);
      },
      close: async () => {
        await Promise.allSettled([shared.closeDatabase(), shared.closeRedis()]);
        await closeEmbedded();
      },
    };
  } catch (error) {
    await closeEmbedded();
    throw error;
  }
}

/** How long a start without news may look stuck: say it is still working. */
const PROGRESS_INTERVAL_MS = 5000;

async function startDatabase(env: NodeJS.ProcessEnv, root: string, log: (line: string) => void, embedded: EmbeddedService[]): Promise<string> {
  if (env.DATABASE_URL || env.DATABASE_SECRET_ARN) {
    if (env.DATABASE_URL) await probeDatabase(env.DATABASE_URL);
    return env.DATABASE_URL ? maskUrl(env.DATABASE_URL) : `secret ${env.DATABASE_SECRET_ARN}`;
  }
  // PGlite is one session behind a queue: give the socket server room for the whole pool.
  env.DATABASE_POOL_MAX ??= '4';
  const dataDir = env.PGLITE_DATA_DIR ?? path.join(root, '.build', 'pglite');
  const fresh = !dataDir.startsWith('memory://') && !existsSync(path.join(dataDir, 'PG_VERSION'));
  log(
    fresh
      ? `Starting embedded Postgres (PGlite) in ${dataDir}: the first start creates it, 5 to 30 s by machine…`
      : `Starting embedded Postgres (PGlite, ${dataDir})…`,
  );
  const started = Date.now();
  const ticker = setInterval(() => log(`  … still starting embedded Postgres (${seconds(Date.now() - started)})`), PROGRESS_INTERVAL_MS);
  try {
    const postgres = await startEmbeddedPostgres({ dataDir, maxConnections: Number(env.DATABASE_POOL_MAX) + 4 });
    embedded.push(postgres);
    env.DATABASE_URL = postgres.url;
    return `${postgres.description}, ready in ${seconds(Date.now() - started)}`;
  } finally {
    clearInterval(ticker);
  }
}

/** Connects once, fast, so a wrong DATABASE_URL is one clear line instead of a pool's retries. */
async function probeDatabase(url: string): Promise<void> {
  if (!/^postgres(ql)?:\/\/[^/]/.test(url)) {
    throw new LocalStartError(`DATABASE_URL=${JSON.stringify(maskUrl(url))} is not a postgres:// URL (e.g. postgres://postgres@127.0.0.1:5432/chatbot): fix it, or unset DATABASE_URL to use the embedded database.`);
  }
  const { Client } = await import('pg');
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  // A server dropping the connection later must not crash the probe's process.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    throw databaseStartError(error, url) ?? new LocalStartError(`DATABASE_URL ${maskUrl(url)} did not accept a connection (${(error as Error).message}): check it, or unset DATABASE_URL to use the embedded database.`, { cause: error });
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The one-line hint for a database failure at start, when it is one a person can fix. */
export function databaseStartError(error: unknown, url: string | undefined): LocalStartError | undefined {
  const codes = errorCodes(error);
  const shown = url ? maskUrl(url) : '(unset)';
  const useEmbedded = 'or unset DATABASE_URL to use the embedded database';
  let parsed: URL | undefined;
  try {
    parsed = url ? new URL(url) : undefined;
  } catch {
    parsed = undefined;
  }
  if (codes.includes('3D000')) {
    const name = decodeURIComponent(parsed?.pathname.slice(1) ?? '') || 'postgres';
    const where = parsed ? ` -h ${parsed.hostname} -p ${parsed.port || 5432}${parsed.username ? ` -U ${decodeURIComponent(parsed.username)}` : ''}` : '';
    return new LocalStartError(`DATABASE_URL ${shown} names a database that does not exist: create it (createdb${where} ${name}), ${useEmbedded}.`, { cause: error });
  }
  if (codes.includes('28P01') || codes.includes('28000')) {
    return new LocalStartError(`DATABASE_URL ${shown}: the server refused these credentials; fix the user/password in it, ${useEmbedded}.`, { cause: error });
  }
  if (codes.some((code) => ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH'].includes(code)) || /timeout/i.test(String((error as Error)?.message))) {
    return new LocalStartError(`DATABASE_URL ${shown} is unreachable (${codes[0] ?? 'timeout'}): start that Postgres, ${useEmbedded}.`, { cause: error });
  }
  return undefined;
}

async function startCache(env: NodeJS.ProcessEnv, embedded: EmbeddedService[]): Promise<string> {
  if (!env.REDIS_URL && !env.REDIS_HOST) {
    const redis = await startEmbeddedRedis();
    embedded.push(redis);
    env.REDIS_URL = redis.url;
    return redis.description;
  }
  const shown = env.REDIS_URL ? maskUrl(env.REDIS_URL) : `${env.REDIS_HOST}:${env.REDIS_PORT ?? 6379}`;
  const problem = await probeRedis(env);
  return problem
    ? `${shown} — UNREACHABLE (${problem}); the API still answers without it: every read goes to Postgres (X-Cache: BYPASS) until it is back`
    : shown;
}

/** Pings the configured Redis once; returns why it failed, or undefined when it answered. */
export async function probeRedis(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const { Redis } = await import('ioredis');
  const common = { lazyConnect: true, connectTimeout: 1500, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false } as const;
  const tls = /^(true|1|yes)$/i.test(env.REDIS_TLS ?? '') ? {} : undefined;
  const client = env.REDIS_URL ? new Redis(env.REDIS_URL, common) : new Redis({ ...common, host: env.REDIS_HOST, port: Number(env.REDIS_PORT ?? 6379), tls });
  // The connect promise only says "Connection is closed."; the socket's own error says why.
  let socketError: unknown;
  client.on('error', (error: unknown) => (socketError ??= error));
  try {
    await client.connect();
    await client.ping();
    return undefined;
  } catch (error) {
    return errorCodes(socketError)[0] ?? errorCodes(error)[0] ?? (error as Error).message;
  } finally {
    client.disconnect();
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function describeModel(llm: {
  provider: string;
  openaiBaseUrl?: string;
  localTokenDelayMs: number;
  models: readonly { slug: string }[];
  defaultModelSlug: string;
}): string {
  // The slugs a client may pick (GET /backend-api/models), the default marked.
  const slugs = llm.models.map((model) => (model.slug === llm.defaultModelSlug ? `${model.slug} (default)` : model.slug)).join(', ');
  switch (llm.provider) {
    case 'bedrock':
      return `Amazon Bedrock ${slugs} (needs AWS credentials)`;
    case 'openai':
      return `OpenAI-compatible ${slugs} at ${llm.openaiBaseUrl ?? 'https://api.openai.com/v1'}`;
    default:
      return `local offline models, not LLMs: ${slugs}; ${llm.localTokenDelayMs} ms per token`;
  }
}

/** Hides the password of a connection URL. */
export function maskUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.password) url.password = '****';
    return url.toString();
  } catch {
    return '(unparseable URL)';
  }
}
