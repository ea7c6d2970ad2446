/**
 * Every setting the layer reads, parsed from the environment once per container and
 * validated: a bad or missing value fails the cold start with a message naming the variable.
 * The names and defaults are the contract in `contracts/environment.ts`.
 */
import { envDefault, LLM_PROVIDERS, SEARCH_TEXT_CONFIG_PATTERN, type EnvName, type LlmProvider } from '../contracts/environment';
import { ModelListError, OFFLINE_MODEL_IDS, OFFLINE_MODEL_LIST, parseModelList, type ModelEntry } from '../ai/model-catalog';
export type { LlmProvider, ModelEntry };

export interface DatabaseConfig {
  /** Full connection string (local and dev). */
  readonly url?: string;
  /** RDS-generated secret `{username,password,host,port,dbname}` (deployed). */
  readonly secretArn?: string;
  /** Secret of the application role, read only by the migrate function to give that role its first login. */
  readonly appRoleSecretArn?: string;
  readonly host?: string;
  readonly port: number;
  readonly name?: string;
  readonly ssl: boolean;
  readonly poolMax: number;
  readonly statementTimeoutMs: number;
  readonly connectTimeoutMs: number;
}

export interface RedisConfig {
  readonly url?: string;
  readonly host?: string;
  readonly port: number;
  readonly tls: boolean;
  readonly authSecretArn?: string;
  readonly clusterMode: boolean;
  readonly connectTimeoutMs: number;
  readonly commandTimeoutMs: number;
  /** Replicas that must have an invalidating DEL before it counts (0: the primary's answer is enough). */
  readonly invalidationReplicas: number;
  /** How long one WAIT for them may take. */
  readonly invalidationWaitMs: number;
  /** How long a write keeps retrying invalidations that failed before keeping them pending (0: not at all). */
  readonly invalidationRetryMs: number;
}

export interface CacheConfig {
  /** False when no Redis is configured or `CACHE_ENABLED=false`: every read goes to Postgres. */
  readonly enabled: boolean;
  readonly keyPrefix: string;
  readonly ttlSeconds: number;
  readonly contextMaxMessages: number;
  readonly contextTtlSeconds: number;
  /** Cached values of at least this many bytes are stored zstd-compressed; 0 = never. */
  readonly compressMinBytes: number;
  /** How long a reader waits for another reader's fill before loading without filling. */
  readonly fillWaitMs: number;
}

export interface LlmConfig {
  readonly provider: LlmProvider;
  readonly bedrockModelId: string;
  readonly openaiBaseUrl?: string;
  readonly openaiModel: string;
  readonly openaiApiKey?: string;
  readonly openaiApiKeySecretArn?: string;
  readonly systemPrompt: string;
  readonly maxTokens: number;
  /** The models clients may pick (`LLM_MODELS`), in the order they are listed. */
  readonly models: readonly ModelEntry[];
  /** The slug a turn uses when neither its request nor its conversation names a listed one. */
  readonly defaultModelSlug: string;
  /** The slug of the model that writes titles. */
  readonly titleModelSlug: string;
  readonly localTokenDelayMs: number;
  /** How long the handler waits for the first token before committing to a 200 stream. */
  readonly firstTokenWaitMs: number;
  readonly heartbeatIntervalMs: number;
}

export interface HttpConfig {
  readonly allowedOrigins: readonly string[];
  readonly maxMessageChars: number;
  readonly maxBodyBytes: number;
}

export interface ReplyStreamConfig {
  /** Record replies to Redis streams so clients can resume them (docs/api.md#resumable-replies). False when the cache is off or `REPLY_STREAM_ENABLED=false`. */
  readonly enabled: boolean;
  /** Seconds a finished reply's stream stays readable. */
  readonly ttlSeconds: number;
  /** Seconds a running reply's stream lives without a sign of its producer: an abandoned stream dies this long after its last write. */
  readonly runningTtlSeconds: number;
  /** `XADD MAXLEN ~` bound: a runaway reply cannot fill Redis. */
  readonly maxFrames: number;
  /** How often a producer that has nothing to write still asks whether it was told to stop. */
  readonly stopPollMs: number;
  /** The least time between two writes of one producer: frames arriving meanwhile go out together (followers lag by at most this). */
  readonly flushIntervalMs: number;
}

/** What one user may spend (docs/api.md#limits) and how large one conversation may grow. */
export interface LimitsConfig {
  /** Turns (POSTs) one user may start per rolling window; 0 turns the limit off. */
  readonly userTurnLimit: number;
  readonly userTurnWindowSeconds: number;
  /** Streams (replies and followers) one user may hold at once; 0 turns the cap off. */
  readonly userMaxLiveStreams: number;
  /** User and assistant messages one conversation may hold (every branch counted). */
  readonly maxConversationMessages: number;
  /**
   * Message content one conversation may hold, in bytes as it travels in a buffered Lambda
   * response (the parts JSON-encoded twice: once in the body, once in the response envelope).
   */
  readonly maxConversationBytes: number;
  /** The most one reply may hold (same bytes): it is cut there, and each turn reserves this much room until its reply is stored. */
  readonly maxReplyBytes: number;
}

export interface LifecycleConfig {
  /** Days a soft-deleted conversation is kept before the purge job hard-deletes it. */
  readonly deletedRetentionDays: number;
  /** Conversations the purge job deletes per statement. */
  readonly purgeBatchSize: number;
}

export interface ObservabilityConfig {
  /** One log line per request with where its time went (Redis / Postgres / model / total). */
  readonly logRequestTimings: boolean;
}

/** Conversation search and share links (docs/api.md#search, docs/api.md#share-links). */
export interface SharingConfig {
  /** The text search configuration the migrate function vectorises with; queries read it from the database. */
  readonly searchTextConfig: string;
  readonly maxSharesPerUser: number;
  readonly shareCacheTtlSeconds: number;
  /** Origin of share_url (no trailing slash); absent: the request's Origin. */
  readonly shareUrlBase?: string;
}

export interface AppConfig {
  readonly database: DatabaseConfig;
  readonly redis: RedisConfig;
  readonly cache: CacheConfig;
  readonly llm: LlmConfig;
  readonly http: HttpConfig;
  readonly lifecycle: LifecycleConfig;
  readonly limits: LimitsConfig;
  readonly replyStream: ReplyStreamConfig;
  readonly observability: ObservabilityConfig;
  readonly sharing: SharingConfig;
}

export class ConfigError extends Error {
  constructor(variable: string, value: string | undefined, expected: string) {
    super(`Invalid configuration: ${variable}=${JSON.stringify(value ?? null)} (expected ${expected})`);
    this.name = 'ConfigError';
  }
}

/**
 * 3 MiB. A buffered Lambda response carries at most 6 MB; a detail body adds ~624 bytes of
 * fixed JSON per message (measured: 1,000 messages with assistant metadata and a 256-character
 * title, envelope included), ~0.63 MB at the 1,000-message default. Replies still running hold
 * their room (MAX_REPLY_BYTES each) until stored, so the content never passes the limit, and
 * 3 MiB + 0.63 MB ≈ 3.8 MB leaves a 2 MB margin under the 6 MB.
 */
export const DEFAULT_MAX_CONVERSATION_BYTES = envDefault('MAX_CONVERSATION_BYTES');

/** 256 KiB: far above what `LLM_MAX_TOKENS` lets a model write (1,024 tokens ≈ 4–8 KB), yet a single runaway "token" cannot fill a conversation. */
export const DEFAULT_MAX_REPLY_BYTES = 256 * 1024;

type Env = Readonly<Record<string, string | undefined>>;

/** Parses and validates the whole configuration. Pure: tests pass their own `env`. */
export function parseConfig(env: Env = process.env): AppConfig {
  const read = (name: EnvName): string | undefined => {
    const value = env[name]?.trim();
    return value === '' ? undefined : value;
  };
  const text = (name: EnvName): string | undefined => read(name) ?? (envDefault(name) as string | undefined);
  const integer = (name: EnvName, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const raw = read(name);
    if (raw === undefined) return envDefault(name) as number;
    const value = Number(raw);
    if (!/^-?\d+$/.test(raw) || value < min || value > max) {
      throw new ConfigError(name, raw, `an integer from ${min} to ${max}`);
    }
    return value;
  };
  const bool = (name: EnvName, fallback = envDefault(name) as boolean): boolean => {
    const raw = read(name);
    if (raw === undefined) return fallback;
    if (/^(true|1|yes)$/i.test(raw)) return true;
    if (/^(false|0|no)$/i.test(raw)) return false;
    throw new ConfigError(name, raw, 'true or false');
  };
  const url = (name: EnvName, protocols: readonly string[]): string | undefined => {
    const raw = read(name);
    if (raw === undefined) return undefined;
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      throw new ConfigError(name, raw, `a URL (${protocols.join(', ')})`);
    }
    if (!protocols.includes(parsed.protocol)) throw new ConfigError(name, raw, `a URL (${protocols.join(', ')})`);
    return raw;
  };

  const database: DatabaseConfig = {
    url: url('DATABASE_URL', ['postgres:', 'postgresql:']),
    secretArn: read('DATABASE_SECRET_ARN'),
    appRoleSecretArn: read('APP_DATABASE_SECRET_ARN'),
    host: read('DATABASE_HOST'),
    port: integer('DATABASE_PORT', 1, 65535),
    name: read('DATABASE_NAME'),
    ssl: bool('DATABASE_SSL'),
    poolMax: integer('DATABASE_POOL_MAX', 1, 100),
    statementTimeoutMs: integer('DATABASE_STATEMENT_TIMEOUT_MS', 100),
    connectTimeoutMs: integer('DATABASE_CONNECT_TIMEOUT_MS', 100),
  };
  if (!database.url && !database.secretArn) {
    throw new ConfigError('DATABASE_URL', undefined, 'a postgres:// URL, or DATABASE_SECRET_ARN');
  }

  const redis: RedisConfig = {
    url: url('REDIS_URL', ['redis:', 'rediss:']),
    host: read('REDIS_HOST'),
    port: integer('REDIS_PORT', 1, 65535),
    tls: bool('REDIS_TLS'),
    authSecretArn: read('REDIS_AUTH_SECRET_ARN'),
    clusterMode: bool('REDIS_CLUSTER_MODE'),
    connectTimeoutMs: integer('REDIS_CONNECT_TIMEOUT_MS', 10),
    commandTimeoutMs: integer('REDIS_COMMAND_TIMEOUT_MS', 10),
    invalidationReplicas: integer('REDIS_INVALIDATION_REPLICAS', 0, 5),
    invalidationWaitMs: integer('REDIS_INVALIDATION_WAIT_MS', 1, 5000),
    invalidationRetryMs: integer('REDIS_INVALIDATION_RETRY_MS', 0, 60_000),
  };
  // A WAIT the client gives up on first (its command timeout) could never confirm anything.
  if (redis.invalidationReplicas > 0 && redis.invalidationWaitMs >= redis.commandTimeoutMs) {
    throw new ConfigError('REDIS_INVALIDATION_WAIT_MS', String(redis.invalidationWaitMs), `below REDIS_COMMAND_TIMEOUT_MS (${redis.commandTimeoutMs})`);
  }
  const redisConfigured = Boolean(redis.url || redis.host);

  const cache: CacheConfig = {
    enabled: bool('CACHE_ENABLED', redisConfigured) && redisConfigured,
    // Not trimmed: the prefix is used exactly as given.
    keyPrefix: env.CACHE_KEY_PREFIX ?? envDefault('CACHE_KEY_PREFIX'),
    ttlSeconds: integer('CACHE_TTL_SECONDS', 1),
    contextMaxMessages: integer('CONTEXT_MAX_MESSAGES', 1, 1000),
    contextTtlSeconds: integer('CONTEXT_TTL_SECONDS', 1),
    compressMinBytes: integer('CACHE_COMPRESS_MIN_BYTES', 0),
    fillWaitMs: integer('CACHE_FILL_WAIT_MS', 0, 3000),
  };

  const provider = text('LLM_PROVIDER');
  if (!LLM_PROVIDERS.includes(provider as LlmProvider)) throw new ConfigError('LLM_PROVIDER', provider, LLM_PROVIDERS.join(', '));
  const bedrockModelId = text('BEDROCK_MODEL_ID') as string;
  const openaiModel = text('OPENAI_MODEL') as string;
  const llm: LlmConfig = {
    provider: provider as LlmProvider,
    bedrockModelId,
    openaiBaseUrl: url('OPENAI_BASE_URL', ['http:', 'https:']),
    openaiModel,
    openaiApiKey: read('OPENAI_API_KEY'),
    openaiApiKeySecretArn: read('OPENAI_API_KEY_SECRET_ARN'),
    systemPrompt: text('SYSTEM_PROMPT') as string,
    maxTokens: integer('LLM_MAX_TOKENS', 1, 200000),
    ...readModels(read, provider as LlmProvider, { bedrockModelId, openaiModel }),
    localTokenDelayMs: integer('LOCAL_MODEL_TOKEN_DELAY_MS', 0, 10000),
    firstTokenWaitMs: integer('LLM_FIRST_TOKEN_WAIT_MS', 0),
    heartbeatIntervalMs: integer('SSE_HEARTBEAT_INTERVAL_MS', 100),
  };
  if (provider === 'openai' && !llm.openaiApiKey && !llm.openaiApiKeySecretArn && !llm.openaiBaseUrl) {
    throw new ConfigError('OPENAI_API_KEY', undefined, 'a key, OPENAI_API_KEY_SECRET_ARN, or an OPENAI_BASE_URL that needs none');
  }

  const allowedOrigins = (text('ALLOWED_ORIGINS') as string)
    .split(',')
    .map((origin) => origin.trim())
    .filter(Boolean);
  const http: HttpConfig = {
    allowedOrigins,
    maxMessageChars: integer('MAX_MESSAGE_CHARS', 1),
    maxBodyBytes: integer('MAX_BODY_BYTES', 1024),
  };

  // A turn adds a user message and a reply, so fewer than 2 would refuse every turn. Above 4 MiB
  // the fixed JSON of 1,000 messages and their content could reach the 6 MB response limit.
  const maxConversationBytes = integer('MAX_CONVERSATION_BYTES', 1024, 4 * 1024 * 1024);
  const limits: LimitsConfig = {
    userTurnLimit: integer('USER_TURN_LIMIT', 0, 1_000_000),
    userTurnWindowSeconds: integer('USER_TURN_WINDOW_SECONDS', 1, 30 * 24 * 3600),
    userMaxLiveStreams: integer('USER_MAX_LIVE_STREAMS', 0, 10_000),
    maxConversationMessages: integer('MAX_CONVERSATION_MESSAGES', 2, 1_000_000),
    maxConversationBytes,
    maxReplyBytes:
      read('MAX_REPLY_BYTES') === undefined ? Math.min(DEFAULT_MAX_REPLY_BYTES, Math.floor(maxConversationBytes / 2)) : integer('MAX_REPLY_BYTES', 256, maxConversationBytes),
  };

  const lifecycle: LifecycleConfig = {
    deletedRetentionDays: integer('DELETED_RETENTION_DAYS', 0, 3650),
    purgeBatchSize: integer('PURGE_BATCH_SIZE', 1, 10000),
  };

  const replyStream: ReplyStreamConfig = {
    enabled: bool('REPLY_STREAM_ENABLED', cache.enabled) && cache.enabled,
    ttlSeconds: integer('REPLY_STREAM_TTL_SECONDS', 1, 86400),
    runningTtlSeconds: integer('REPLY_STREAM_RUNNING_TTL_SECONDS', 5, 3600),
    maxFrames: integer('REPLY_STREAM_MAX_FRAMES', 100, 1_000_000),
    stopPollMs: integer('REPLY_STREAM_STOP_POLL_MS', 10, 10000),
    flushIntervalMs: integer('REPLY_STREAM_FLUSH_MS', 0, 1000),
  };

  const observability: ObservabilityConfig = { logRequestTimings: bool('LOG_REQUEST_TIMINGS') };

  const searchTextConfig = text('SEARCH_TEXT_CONFIG') as string;
  if (!SEARCH_TEXT_CONFIG_PATTERN.test(searchTextConfig)) {
    throw new ConfigError('SEARCH_TEXT_CONFIG', searchTextConfig, 'a text search configuration name such as simple or english');
  }
  const sharing: SharingConfig = {
    searchTextConfig,
    maxSharesPerUser: integer('SHARE_MAX_PER_USER', 1, 1_000_000),
    shareCacheTtlSeconds: integer('SHARE_CACHE_TTL_SECONDS', 1, 86400),
    shareUrlBase: url('SHARE_URL_BASE', ['http:', 'https:'])?.replace(/\/+$/, ''),
  };

  return { database, redis, cache, llm, http, lifecycle, limits, replyStream, observability, sharing };
}

/**
 * The models list: `LLM_MODELS` when set, else the provider's one configured model (or both
 * offline ones); the default and title slugs must be listed. Every problem names its variable.
 */
function readModels(
  read: (name: EnvName) => string | undefined,
  provider: LlmProvider,
  llm: Pick<LlmConfig, 'bedrockModelId' | 'openaiModel'>,
): Pick<LlmConfig, 'models' | 'defaultModelSlug' | 'titleModelSlug'> {
  const raw = read('LLM_MODELS');
  let models: readonly ModelEntry[];
  if (raw === undefined) {
    const single = provider === 'bedrock' ? llm.bedrockModelId : llm.openaiModel;
    models = provider === 'local' ? OFFLINE_MODEL_LIST : [{ slug: single, id: single, title: single, description: '', tags: [] }];
  } else {
    try {
      models = parseModelList(raw);
    } catch (error) {
      if (!(error instanceof ModelListError)) throw error;
      throw new ConfigError('LLM_MODELS', raw, error.message);
    }
    const offline: readonly string[] = Object.values(OFFLINE_MODEL_IDS);
    const unknown = provider === 'local' ? models.find((model) => !offline.includes(model.id)) : undefined;
    if (unknown) throw new ConfigError('LLM_MODELS', raw, `ids of the offline models (${offline.join(', ')}) with LLM_PROVIDER=local; got ${JSON.stringify(unknown.id)}`);
  }
  const slugs = models.map((model) => model.slug);
  const listed = (name: EnvName, fallback: string): string => {
    const slug = read(name) ?? fallback;
    if (!slugs.includes(slug)) throw new ConfigError(name, slug, `a slug of LLM_MODELS (${slugs.join(', ')})`);
    return slug;
  };
  const defaultModelSlug = listed('LLM_DEFAULT_MODEL', slugs[0]);
  return { models, defaultModelSlug, titleModelSlug: listed('LLM_TITLE_MODEL', defaultModelSlug) };
}

let current: AppConfig | undefined;

/** The container's configuration, parsed on first use. */
export function getConfig(): AppConfig {
  current ??= parseConfig();
  return current;
}

/** Drops the parsed configuration so the next `getConfig()` re-reads the environment (tests, local server). */
export function resetConfig(): void {
  current = undefined;
}
