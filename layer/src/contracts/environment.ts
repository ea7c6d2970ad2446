/**
 * Every environment variable the functions read: its name, its default, what it means. The
 * layer's `parseConfig` reads them by these names, the CDK stack sets them by these names
 * (typed as {@link FunctionEnvironment}, so a misspelt name does not compile), and the local
 * server fills in the same ones. Pure data: no imports, safe to load from CDK code.
 */

/** One variable: its default (absent: none, or computed as its comment says). What it sets is said in its comment, not a string: the table ships in the layer. */
export interface EnvVariable {
  readonly default?: string | number | boolean;
}

export const ENVIRONMENT = {
  // Postgres
  /** postgres:// connection string (local and dev); deployed functions use DATABASE_SECRET_ARN. */
  DATABASE_URL: {},
  /** Secrets Manager secret {username, password, host, port, dbname} of the login the function uses. */
  DATABASE_SECRET_ARN: {},
  /** The application role's secret, read only by migrate to give that role its login. */
  APP_DATABASE_SECRET_ARN: {},
  /** Host to connect to (RDS Proxy or Aurora endpoint); overrides the secret's host. */
  DATABASE_HOST: {},
  /** Port of DATABASE_HOST. */
  DATABASE_PORT: { default: 5432 },
  /** Database name; overrides the secret's dbname. */
  DATABASE_NAME: {},
  /** TLS to Postgres. */
  DATABASE_SSL: { default: false },
  /** Connections per container (a Lambda container serves one request at a time). */
  DATABASE_POOL_MAX: { default: 2 },
  /** statement_timeout of the app pool. */
  DATABASE_STATEMENT_TIMEOUT_MS: { default: 5000 },
  /** How long a new connection may take before the request answers 503. */
  DATABASE_CONNECT_TIMEOUT_MS: { default: 3000 },
  // Redis
  /** redis:// or rediss:// URL (local); deployed functions use REDIS_HOST. */
  REDIS_URL: {},
  /** Primary or configuration endpoint host. */
  REDIS_HOST: {},
  /** Port of REDIS_HOST. */
  REDIS_PORT: { default: 6379 },
  /** TLS to Redis (ElastiCache in-transit encryption). */
  REDIS_TLS: { default: false },
  /** Secrets Manager secret holding the AUTH token. */
  REDIS_AUTH_SECRET_ARN: {},
  /** Use a cluster client (sharded group or ElastiCache Serverless). */
  REDIS_CLUSTER_MODE: { default: false },
  /** How long connecting to Redis may take before requests are served from Postgres. */
  REDIS_CONNECT_TIMEOUT_MS: { default: 1000 },
  /** How long one Redis command may take before it counts as failed. */
  REDIS_COMMAND_TIMEOUT_MS: { default: 200 },
  /** Replicas asked to confirm each invalidating DEL (WAIT), so a failover cannot lose it; unconfirmed ones are retried, then deleted again later. The stack sets 1 on a cache with replicas. */
  REDIS_INVALIDATION_REPLICAS: { default: 0 },
  /** How long one WAIT for those replicas may take (below REDIS_COMMAND_TIMEOUT_MS; Redis ends it at its hz, 10 a second, so up to ~100 ms more). */
  REDIS_INVALIDATION_WAIT_MS: { default: 50 },
  /** How long a write keeps retrying invalidations that failed (through a failover) or that no replica confirmed, before answering. */
  REDIS_INVALIDATION_RETRY_MS: { default: 0 },
  // Cache
  /** false: every read goes to Postgres (also off when no Redis is configured). */
  CACHE_ENABLED: { default: true },
  /** Namespace prepended to every Redis key. */
  CACHE_KEY_PREFIX: { default: '' },
  /** TTL of cached details and list pages. */
  CACHE_TTL_SECONDS: { default: 600 },
  /** Cached values of at least this many bytes are stored zstd-compressed; 0 = never. */
  CACHE_COMPRESS_MIN_BYTES: { default: 16384 },
  /** How long readers that missed wait for the first one's fill (its lease) before loading from Postgres themselves; at most the 3 s lease. */
  CACHE_FILL_WAIT_MS: { default: 250 },
  /** Messages kept in the context window chat:{id}:context. */
  CONTEXT_MAX_MESSAGES: { default: 20 },
  /** TTL of the context window. */
  CONTEXT_TTL_SECONDS: { default: 86400 },
  // Model
  /** bedrock, openai or local (the offline deterministic model). */
  LLM_PROVIDER: { default: 'local' },
  /** Bedrock model id, inference profile id or ARN. */
  BEDROCK_MODEL_ID: { default: 'us.anthropic.claude-haiku-4-5-20251001-v1:0' },
  /** Base URL of an OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, …). */
  OPENAI_BASE_URL: {},
  /** Model name at the OpenAI-compatible endpoint. */
  OPENAI_MODEL: { default: 'gpt-4o-mini' },
  /** API key of the OpenAI-compatible endpoint (local runs). */
  OPENAI_API_KEY: {},
  /** Secrets Manager secret holding that key (deployed). */
  OPENAI_API_KEY_SECRET_ARN: {},
  /** The models clients may pick (GET /backend-api/models): a JSON list of {id, slug?, title?, description?, max_tokens?, tags?}, or model ids separated by commas. Unset: the provider's one model (BEDROCK_MODEL_ID, OPENAI_MODEL), or the two offline models. */
  LLM_MODELS: {},
  /** Slug of the model a turn uses when neither the request nor the conversation names one; a listed slug. Unset: the first listed. */
  LLM_DEFAULT_MODEL: {},
  /** Slug of the (cheap) model that writes titles; a listed slug. Unset: the default model. */
  LLM_TITLE_MODEL: {},
  /** System prompt sent before the context window. */
  SYSTEM_PROMPT: { default: 'You are a helpful assistant. Answer clearly and concisely. Use Markdown when it helps readability.' },
  /** Most tokens one reply may have. */
  LLM_MAX_TOKENS: { default: 1024 },
  /** Delay per token of the local model (npm start sets 25 so streaming shows). */
  LOCAL_MODEL_TOKEN_DELAY_MS: { default: 0 },
  /** How long the POST waits for the first token before committing to a 200 stream. */
  LLM_FIRST_TOKEN_WAIT_MS: { default: 10000 },
  /** An SSE comment goes out after this long without a frame. */
  SSE_HEARTBEAT_INTERVAL_MS: { default: 15000 },
  // HTTP
  /** CORS origins, comma-separated, or *. */
  ALLOWED_ORIGINS: { default: '*' },
  /** Longest user message, in characters (413 beyond). */
  MAX_MESSAGE_CHARS: { default: 32000 },
  /** Largest request body, in bytes (413 beyond). */
  MAX_BODY_BYTES: { default: 262144 },
  // Limits
  /** Turns one user may start per window; 0 = no limit. */
  USER_TURN_LIMIT: { default: 60 },
  /** Live streams (POST replies and resume followers together) one user may hold at once; 0 = no limit. */
  USER_MAX_LIVE_STREAMS: { default: 5 },
  /** Length of the rolling turn-limit window. */
  USER_TURN_WINDOW_SECONDS: { default: 3600 },
  /** User and assistant messages one conversation may hold. */
  MAX_CONVERSATION_MESSAGES: { default: 1000 },
  /** Message content one conversation may hold, in bytes as a buffered response carries it. */
  MAX_CONVERSATION_BYTES: { default: 3145728 },
  /** The most one reply may hold, in the same bytes: a reply is cut there, and a turn reserves this much room. Default: 256 KiB, or half of MAX_CONVERSATION_BYTES when that is less. */
  MAX_REPLY_BYTES: {},
  // Lifecycle
  /** Days a soft-deleted conversation is kept before the purge. */
  DELETED_RETENTION_DAYS: { default: 30 },
  /** Conversations the purge deletes per statement. */
  PURGE_BATCH_SIZE: { default: 500 },
  // Search and share links
  /** Postgres text search configuration of conversation search (simple, english, …); the migrate function re-vectorises the rows when it changes. */
  SEARCH_TEXT_CONFIG: { default: 'simple' },
  /** Live share links one user may have (413 share_limit_exceeded beyond). */
  SHARE_MAX_PER_USER: { default: 1000 },
  /** TTL of a cached public share body share:{id}. */
  SHARE_CACHE_TTL_SECONDS: { default: 3600 },
  /** Origin the share_url of a new share starts with (the web client's); absent, the request's Origin header. */
  SHARE_URL_BASE: {},
  // Resumable replies
  /** Record replies for resume (off when the cache is off). */
  REPLY_STREAM_ENABLED: { default: true },
  /** How long a finished reply's frames stay readable. */
  REPLY_STREAM_TTL_SECONDS: { default: 300 },
  /** How long a running reply lives without a sign of its producer. */
  REPLY_STREAM_RUNNING_TTL_SECONDS: { default: 60 },
  /** XADD MAXLEN ~ bound of one reply. */
  REPLY_STREAM_MAX_FRAMES: { default: 20000 },
  /** How often a quiet producer checks for a stop. */
  REPLY_STREAM_STOP_POLL_MS: { default: 250 },
  /** Least time between two writes of one producer. */
  REPLY_STREAM_FLUSH_MS: { default: 20 },
  // Observability (Powertools reads the two POWERTOOLS_ ones itself)
  /** One log line per request with where its time went: Redis / Postgres / model / total. */
  LOG_REQUEST_TIMINGS: { default: false },
  /** service field of logs and the metrics dimension. */
  POWERTOOLS_SERVICE_NAME: { default: 'chatbot-api' },
  /** CloudWatch namespace of the EMF metrics. */
  POWERTOOLS_METRICS_NAMESPACE: { default: 'ChatbotApi' },
  // Authentication with any OpenID Connect provider (the authorizer in authMode=oidc; npm start)
  /** The issuer whose access tokens are accepted: the exact iss, an https URL; its JWKS comes from /.well-known/openid-configuration. Unset: Cognito (deployed) or the local HS256 sign-in (npm start). */
  OIDC_ISSUER: {},
  /** The aud the tokens must carry (for a Cognito issuer, also the access token's client_id). */
  OIDC_AUDIENCE: {},
  /** The JWKS URL, when it is not the discovery document's jwks_uri. */
  OIDC_JWKS_URL: {},
  /** Scopes every token must have, comma- or space-separated (scope or scp claim). */
  OIDC_REQUIRED_SCOPES: {},
  // Set by the stack for one function each
  /** Hash of the migration files: part of migrate's configuration, so a new migration re-runs the deploy trigger. */
  MIGRATIONS_SHA256: {},
  /** Node.js: extra CA bundle (Aurora's RDS certificate). */
  NODE_EXTRA_CA_CERTS: {},
} as const satisfies Record<string, EnvVariable>;

export type EnvName = keyof typeof ENVIRONMENT;

/**
 * Invalidation on a cache with replicas, as the stack configures it (and `npm run chaos`, which
 * must run as deployed): a write waits up to 2 s for a replica to confirm its DELs — or for a
 * failover to end — and keys still unconfirmed are deleted again later, so a failover cannot lose them.
 */
export const REPLICATED_CACHE_INVALIDATION = { REDIS_INVALIDATION_REPLICAS: '1', REDIS_INVALIDATION_RETRY_MS: '2000' } as const;

/** What SEARCH_TEXT_CONFIG may be: a Postgres identifier, optionally schema-qualified (it is spliced into the trigger functions). */
export const SEARCH_TEXT_CONFIG_PATTERN = /^([a-z_][a-z0-9_]*\.)?[a-z_][a-z0-9_]*$/;

/** The model providers `LLM_PROVIDER` (and the stack's `llmProvider`) may name. */
export const LLM_PROVIDERS = ['bedrock', 'openai', 'local'] as const;
export type LlmProvider = (typeof LLM_PROVIDERS)[number];

/** A function's environment, by the names above only. */
export type FunctionEnvironment = Partial<Record<EnvName, string>>;

type DefaultOf<N extends EnvName> = N extends EnvName ? ((typeof ENVIRONMENT)[N] extends { readonly default: infer D } ? D : undefined) : never;

/** The default of a variable (`undefined` for one without). */
export const envDefault = <N extends EnvName>(name: N): DefaultOf<N> => (ENVIRONMENT[name] as EnvVariable).default as DefaultOf<N>;
