/**
 * Every environment variable the functions read: its name, its default, what it means. The
 * layer's `parseConfig` reads them by these names, the CDK stack sets them by these names
 * (typed as {@link FunctionEnvironment}, so a misspelt name does not compile), and the local
 * server fills in the same ones. Pure data: no imports, safe to load from CDK code.
 */

/** One variable: its default (absent: none, or computed as described) and what it sets. */
export interface EnvVariable {
  readonly default?: string | number | boolean;
  readonly description: string;
}

export const ENVIRONMENT = {
  // Postgres
  DATABASE_URL: { description: 'postgres:// connection string (local and dev); deployed functions use DATABASE_SECRET_ARN' },
  DATABASE_SECRET_ARN: { description: 'Secrets Manager secret {username, password, host, port, dbname} of the login the function uses' },
  APP_DATABASE_SECRET_ARN: { description: "The application role's secret, read only by migrate to give that role its login" },
  DATABASE_HOST: { description: 'Host to connect to (RDS Proxy or Aurora endpoint); overrides the secret\'s host' },
  DATABASE_PORT: { default: 5432, description: 'Port of DATABASE_HOST' },
  DATABASE_NAME: { description: "Database name; overrides the secret's dbname" },
  DATABASE_SSL: { default: false, description: 'TLS to Postgres' },
  DATABASE_POOL_MAX: { default: 2, description: 'Connections per container (a Lambda container serves one request at a time)' },
  DATABASE_STATEMENT_TIMEOUT_MS: { default: 5000, description: 'statement_timeout of the app pool' },
  DATABASE_CONNECT_TIMEOUT_MS: { default: 3000, description: 'How long a new connection may take before the request answers 503' },
  // Redis
  REDIS_URL: { description: 'redis:// or rediss:// URL (local); deployed functions use REDIS_HOST' },
  REDIS_HOST: { description: 'Primary or configuration endpoint host' },
  REDIS_PORT: { default: 6379, description: 'Port of REDIS_HOST' },
  REDIS_TLS: { default: false, description: 'TLS to Redis (ElastiCache in-transit encryption)' },
  REDIS_AUTH_SECRET_ARN: { description: 'Secrets Manager secret holding the AUTH token' },
  REDIS_CLUSTER_MODE: { default: false, description: 'Use a cluster client (sharded group or ElastiCache Serverless)' },
  REDIS_CONNECT_TIMEOUT_MS: { default: 1000, description: 'How long connecting to Redis may take before requests are served from Postgres' },
  REDIS_COMMAND_TIMEOUT_MS: { default: 200, description: 'How long one Redis command may take before it counts as failed' },
  // Cache
  CACHE_ENABLED: { default: true, description: 'false: every read goes to Postgres (also off when no Redis is configured)' },
  CACHE_KEY_PREFIX: { default: '', description: 'Namespace prepended to every Redis key' },
  CACHE_TTL_SECONDS: { default: 600, description: 'TTL of cached details and list pages' },
  CACHE_COMPRESS_MIN_BYTES: { default: 16384, description: 'Cached values of at least this many bytes are stored zstd-compressed; 0 = never' },
  CONTEXT_MAX_MESSAGES: { default: 20, description: 'Messages kept in the context window chat:{id}:context' },
  CONTEXT_TTL_SECONDS: { default: 86400, description: 'TTL of the context window' },
  // Model
  LLM_PROVIDER: { default: 'local', description: 'bedrock, openai or local (the offline deterministic model)' },
  BEDROCK_MODEL_ID: { default: 'us.anthropic.claude-haiku-4-5-20251001-v1:0', description: 'Bedrock model id, inference profile id or ARN' },
  OPENAI_BASE_URL: { description: 'Base URL of an OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, …)' },
  OPENAI_MODEL: { default: 'gpt-4o-mini', description: 'Model name at the OpenAI-compatible endpoint' },
  OPENAI_API_KEY: { description: 'API key of the OpenAI-compatible endpoint (local runs)' },
  OPENAI_API_KEY_SECRET_ARN: { description: 'Secrets Manager secret holding that key (deployed)' },
  SYSTEM_PROMPT: {
    default: 'You are a helpful assistant. Answer clearly and concisely. Use Markdown when it helps readability.',
    description: 'System prompt sent before the context window',
  },
  LLM_MAX_TOKENS: { default: 1024, description: 'Most tokens one reply may have' },
  LOCAL_MODEL_TOKEN_DELAY_MS: { default: 0, description: 'Delay per token of the local model (npm start sets 25 so streaming shows)' },
  LLM_FIRST_TOKEN_WAIT_MS: { default: 10000, description: 'How long the POST waits for the first token before committing to a 200 stream' },
  SSE_HEARTBEAT_INTERVAL_MS: { default: 15000, description: 'An SSE comment goes out after this long without a frame' },
  // HTTP
  ALLOWED_ORIGINS: { default: '*', description: 'CORS origins, comma-separated, or *' },
  MAX_MESSAGE_CHARS: { default: 32000, description: 'Longest user message, in characters (413 beyond)' },
  MAX_BODY_BYTES: { default: 262144, description: 'Largest request body, in bytes (413 beyond)' },
  // Limits
  USER_TURN_LIMIT: { default: 60, description: 'Turns one user may start per window; 0 = no limit' },
  USER_TURN_WINDOW_SECONDS: { default: 3600, description: 'Length of the rolling turn-limit window' },
  MAX_CONVERSATION_MESSAGES: { default: 1000, description: 'User and assistant messages one conversation may hold' },
  MAX_CONVERSATION_BYTES: { default: 3145728, description: 'Message content one conversation may hold, in bytes as a buffered response carries it' },
  // Lifecycle
  DELETED_RETENTION_DAYS: { default: 30, description: 'Days a soft-deleted conversation is kept before the purge' },
  PURGE_BATCH_SIZE: { default: 500, description: 'Conversations the purge deletes per statement' },
  // Resumable replies
  REPLY_STREAM_ENABLED: { default: true, description: 'Record replies for resume (off when the cache is off)' },
  REPLY_STREAM_TTL_SECONDS: { default: 300, description: "How long a finished reply's frames stay readable" },
  REPLY_STREAM_RUNNING_TTL_SECONDS: { default: 60, description: 'How long a running reply lives without a sign of its producer' },
  REPLY_STREAM_MAX_FRAMES: { default: 20000, description: 'XADD MAXLEN ~ bound of one reply' },
  REPLY_STREAM_STOP_POLL_MS: { default: 250, description: 'How often a quiet producer checks for a stop' },
  REPLY_STREAM_FLUSH_MS: { default: 20, description: 'Least time between two writes of one producer' },
  // Observability (Powertools reads these itself)
  POWERTOOLS_SERVICE_NAME: { default: 'chatbot-api', description: 'service field of logs and the metrics dimension' },
  POWERTOOLS_METRICS_NAMESPACE: { default: 'ChatbotApi', description: 'CloudWatch namespace of the EMF metrics' },
  // Set by the stack for one function each
  MIGRATIONS_SHA256: { description: "Hash of the migration files: part of migrate's configuration, so a new migration re-runs the deploy trigger" },
  NODE_EXTRA_CA_CERTS: { description: "Node.js: extra CA bundle (Aurora's RDS certificate)" },
} as const satisfies Record<string, EnvVariable>;

export type EnvName = keyof typeof ENVIRONMENT;

/** The model providers `LLM_PROVIDER` (and the stack's `llmProvider`) may name. */
export const LLM_PROVIDERS = ['bedrock', 'openai', 'local'] as const;
export type LlmProvider = (typeof LLM_PROVIDERS)[number];

/** A function's environment, by the names above only. */
export type FunctionEnvironment = Partial<Record<EnvName, string>>;

type DefaultOf<N extends EnvName> = N extends EnvName ? ((typeof ENVIRONMENT)[N] extends { readonly default: infer D } ? D : undefined) : never;

/** The default of a variable (`undefined` for one without). */
export const envDefault = <N extends EnvName>(name: N): DefaultOf<N> => (ENVIRONMENT[name] as EnvVariable).default as DefaultOf<N>;
