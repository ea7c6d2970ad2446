/**
 * Prepares the process environment for running the handlers locally, before the layer reads
 * it: embedded Postgres/Redis when no URL is given, local-run defaults, then migrations.
 * Shared by `npm start` and `npm run seed`.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { startEmbeddedPostgres, startEmbeddedRedis, type EmbeddedService } from './embedded-services';

/** What a local run uses, for the banner, and how to release it. */
export interface LocalEnvironment {
  readonly database: string;
  readonly cache: string;
  readonly model: string;
  /** Migrations applied by this start. */
  readonly appliedMigrations: readonly string[];
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
 * Fills in `process.env` for a local run, starts what is missing and migrates the database.
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
    let database: string;
    if (!env.DATABASE_URL && !env.DATABASE_SECRET_ARN) {
      // PGlite is one session behind a queue: give the socket server room for the whole pool.
      env.DATABASE_POOL_MAX ??= '4';
      const dataDir = env.PGLITE_DATA_DIR ?? path.join(root, '.build', 'pglite');
      log(`Starting embedded Postgres (PGlite, ${dataDir})…`);
      const started = Date.now();
      const postgres = await startEmbeddedPostgres({ dataDir, maxConnections: Number(env.DATABASE_POOL_MAX) + 4 });
      embedded.push(postgres);
      env.DATABASE_URL = postgres.url;
      database = `${postgres.description}, ready in ${((Date.now() - started) / 1000).toFixed(1)} s`;
    } else {
      database = env.DATABASE_URL ? maskUrl(env.DATABASE_URL) : `secret ${env.DATABASE_SECRET_ARN}`;
    }

    let cache: string;
    if (/^(false|0|no)$/i.test(env.CACHE_ENABLED ?? '')) {
      cache = 'disabled (CACHE_ENABLED=false): every read goes to Postgres';
    } else if (!env.REDIS_URL && !env.REDIS_HOST) {
      const redis = await startEmbeddedRedis();
      embedded.push(redis);
      env.REDIS_URL = redis.url;
      cache = redis.description;
    } else {
      cache = env.REDIS_URL ? maskUrl(env.REDIS_URL) : `${env.REDIS_HOST}:${env.REDIS_PORT ?? 6379}`;
    }
    if (env.CACHE_KEY_PREFIX) cache += `, key prefix "${env.CACHE_KEY_PREFIX}"`;

    const shared = await import('@chatbot/shared');
    const config = shared.getConfig();
    const model = describeModel(config.llm);
    const { applied } = await shared.runMigrations({ dir: path.join(root, 'layer', 'migrations') });
    return {
      database,
      cache,
      model,
      appliedMigrations: applied,
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

function describeModel(llm: { provider: string; bedrockModelId: string; openaiModel: string; openaiBaseUrl?: string; localTokenDelayMs: number }): string {
  switch (llm.provider) {
    case 'bedrock':
      return `Amazon Bedrock ${llm.bedrockModelId} (needs AWS credentials)`;
    case 'openai':
      return `OpenAI-compatible ${llm.openaiModel} at ${llm.openaiBaseUrl ?? 'https://api.openai.com/v1'}`;
    default:
      return `local offline model (deterministic echo, not an LLM), ${llm.localTokenDelayMs} ms per token`;
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
