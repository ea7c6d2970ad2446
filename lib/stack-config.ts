import type { Node } from 'constructs';

/** How the cache is provisioned. */
export type CacheMode = 'replication-group' | 'serverless';
/** The ElastiCache engine; both speak the Redis protocol. */
export type CacheEngine = 'valkey' | 'redis';
/** Which model provider post-conversation calls. */
export type LlmProvider = 'bedrock' | 'openai' | 'local';

/** Every tunable of the stack, parsed and validated once from CDK context. */
export interface StackConfig {
  /** Deployment stage; `prod` turns on deletion protection, snapshots on delete and Multi-AZ RDS. */
  readonly stage: string;
  /** Whether this is the production stage. */
  readonly isProd: boolean;
  /** Node-based replication group or ElastiCache Serverless. */
  readonly cacheMode: CacheMode;
  /** Valkey or Redis OSS. */
  readonly cacheEngine: CacheEngine;
  /** Node type of the replication group, e.g. `cache.t4g.small`. */
  readonly cacheNodeType: string;
  /** Read replicas per shard (0 = a single node, no failover). */
  readonly cacheReplicas: number;
  /** Data storage cap of the serverless cache, in GB (also the base of its memory %). */
  readonly serverlessMaxStorageGb: number;
  /** RDS instance class without the `db.` prefix, e.g. `t4g.micro`. */
  readonly dbInstanceType: string;
  /** Allocated RDS storage in GB. */
  readonly dbAllocatedStorageGb: number;
  /** NAT gateways (0 = no internet egress; functions live in isolated subnets). */
  readonly natGateways: number;
  /** CORS origins the API answers to (`*` or full origins). */
  readonly allowedOrigins: readonly string[];
  /** Model provider. */
  readonly llmProvider: LlmProvider;
  /** Bedrock model id, inference profile id or ARN. */
  readonly bedrockModelId: string;
  /** Base URL of an OpenAI-compatible endpoint. */
  readonly openaiBaseUrl?: string;
  /** Model name at the OpenAI-compatible endpoint. */
  readonly openaiModel?: string;
  /** Secrets Manager ARN holding the OpenAI-compatible API key. */
  readonly openaiApiKeySecretArn?: string;
  /** Existing Cognito user pool id; when absent the stack creates a pool and an app client. */
  readonly userPoolId?: string;
  /** Steady-state requests per second per stage. */
  readonly throttleRateLimit: number;
  /** Burst capacity of the stage throttle. */
  readonly throttleBurstLimit: number;
  /** E-mail address subscribed to the alarm topic. */
  readonly alarmEmail?: string;
  /** Namespace prepended to every cache key. */
  readonly cacheKeyPrefix: string;
  /** Days a deleted conversation's rows are kept before the daily purge hard-deletes them. */
  readonly deletedRetentionDays: number;
  /** Host the reference web client (S3 + CloudFront, Cognito managed login). */
  readonly webClient: boolean;
}

/** The defaults, the same values `cdk.json` ships, so tests and a bare `new App()` agree with a deploy. */
export const DEFAULT_CONTEXT = {
  stage: 'dev',
  cacheMode: 'replication-group',
  cacheEngine: 'valkey',
  cacheNodeType: 'cache.t4g.small',
  cacheReplicas: 1,
  serverlessMaxStorageGb: 5,
  dbInstanceType: 't4g.micro',
  dbAllocatedStorageGb: 20,
  natGateways: 0,
  allowedOrigins: '*',
  llmProvider: 'bedrock',
  bedrockModelId: 'us.anthropic.claude-3-5-haiku-20241022-v1:0',
  openaiBaseUrl: '',
  openaiModel: '',
  openaiApiKeySecretArn: '',
  userPoolId: '',
  throttleRateLimit: 50,
  throttleBurstLimit: 100,
  alarmEmail: '',
  cacheKeyPrefix: '',
  deletedRetentionDays: 30,
  webClient: false,
} as const;

export type ContextKey = keyof typeof DEFAULT_CONTEXT;

/** Thrown when a context value is invalid; the message names the key and the value. */
export class StackConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StackConfigError';
  }
}

const CACHE_MODES: readonly CacheMode[] = ['replication-group', 'serverless'];
const CACHE_ENGINES: readonly CacheEngine[] = ['valkey', 'redis'];
const LLM_PROVIDERS: readonly LlmProvider[] = ['bedrock', 'openai', 'local'];

/**
 * Reads every knob from CDK context (`cdk.json` or `-c key=value`), applies the
 * defaults and validates the whole set, reporting every bad value at once.
 * `-c` values always arrive as strings, `cdk.json` values keep their JSON type;
 * both are accepted.
 */
export function loadStackConfig(node: Pick<Node, 'tryGetContext'>): StackConfig {
  const raw = (key: ContextKey): unknown => node.tryGetContext(key) ?? DEFAULT_CONTEXT[key];
  const str = (key: ContextKey): string => String(raw(key)).trim();
  const optional = (key: ContextKey): string | undefined => str(key) || undefined;
  const int = (key: ContextKey): number => {
    const value = raw(key);
    return typeof value === 'number' ? value : /^-?\d+$/.test(String(value).trim()) ? Number(value) : Number.NaN;
  };
  const list = (key: ContextKey): string[] => {
    const value = raw(key);
    const items = Array.isArray(value) ? value.map(String) : String(value).split(',');
    return items.map((item) => item.trim()).filter(Boolean);
  };

  const stage = str('stage');
  const config: StackConfig = {
    stage,
    isProd: stage === 'prod',
    cacheMode: str('cacheMode') as CacheMode,
    cacheEngine: str('cacheEngine') as CacheEngine,
    cacheNodeType: str('cacheNodeType'),
    cacheReplicas: int('cacheReplicas'),
    serverlessMaxStorageGb: int('serverlessMaxStorageGb'),
    dbInstanceType: str('dbInstanceType').replace(/^db\./, ''),
    dbAllocatedStorageGb: int('dbAllocatedStorageGb'),
    natGateways: int('natGateways'),
    allowedOrigins: list('allowedOrigins'),
    llmProvider: str('llmProvider') as LlmProvider,
    bedrockModelId: str('bedrockModelId'),
    openaiBaseUrl: optional('openaiBaseUrl'),
    openaiModel: optional('openaiModel'),
    openaiApiKeySecretArn: optional('openaiApiKeySecretArn'),
    userPoolId: optional('userPoolId'),
    throttleRateLimit: int('throttleRateLimit'),
    throttleBurstLimit: int('throttleBurstLimit'),
    alarmEmail: optional('alarmEmail'),
    cacheKeyPrefix: str('cacheKeyPrefix'),
    deletedRetentionDays: int('deletedRetentionDays'),
    webClient: /^(true|1|yes)$/i.test(str('webClient')),
  };

  const shown = (key: ContextKey): string => JSON.stringify(raw(key));
  const between = (value: number, min: number, max: number): boolean =>
    Number.isInteger(value) && value >= min && value <= max;
  const rules: ReadonlyArray<{ readonly condition: boolean; readonly message: string }> = [
    {
      condition: !/^[a-z][a-z0-9-]{0,15}$/.test(config.stage),
      message: `"stage" must be lower-case letters, digits or '-', at most 16 characters; got ${shown('stage')}`,
    },
    {
      condition: !CACHE_MODES.includes(config.cacheMode),
      message: `"cacheMode" must be one of ${CACHE_MODES.join(', ')}; got ${shown('cacheMode')}`,
    },
    {
      condition: !CACHE_ENGINES.includes(config.cacheEngine),
      message: `"cacheEngine" must be one of ${CACHE_ENGINES.join(', ')}; got ${shown('cacheEngine')}`,
    },
    {
      condition: !/^cache\.[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(config.cacheNodeType),
      message: `"cacheNodeType" must be an ElastiCache node type such as cache.t4g.small or cache.r7g.large; got ${shown('cacheNodeType')}`,
    },
    {
      condition: !between(config.cacheReplicas, 0, 5),
      message: `"cacheReplicas" must be an integer from 0 to 5; got ${shown('cacheReplicas')}`,
    },
    {
      condition: !between(config.serverlessMaxStorageGb, 1, 5000),
      message: `"serverlessMaxStorageGb" must be an integer from 1 to 5000; got ${shown('serverlessMaxStorageGb')}`,
    },
    {
      condition: !/^[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(config.dbInstanceType),
      message: `"dbInstanceType" must be an RDS instance class such as t4g.micro or db.r7g.large; got ${shown('dbInstanceType')}`,
    },
    {
      condition: !between(config.dbAllocatedStorageGb, 20, 65536),
      message: `"dbAllocatedStorageGb" must be an integer from 20 to 65536; got ${shown('dbAllocatedStorageGb')}`,
    },
    {
      condition: !between(config.natGateways, 0, 2),
      message: `"natGateways" must be 0, 1 or 2; got ${shown('natGateways')}`,
    },
    {
      condition:
        config.allowedOrigins.length === 0 ||
        config.allowedOrigins.some((origin) => origin !== '*' && !/^https?:\/\/[^/\s,]+$/.test(origin)),
      message: `"allowedOrigins" must be '*' or comma-separated origins like https://chat.example.com (no path); got ${shown('allowedOrigins')}`,
    },
    {
      condition: config.allowedOrigins.includes('*') && config.allowedOrigins.length > 1,
      message: `"allowedOrigins" cannot mix '*' with explicit origins; got ${shown('allowedOrigins')}`,
    },
    {
      condition: !LLM_PROVIDERS.includes(config.llmProvider),
      message: `"llmProvider" must be one of ${LLM_PROVIDERS.join(', ')}; got ${shown('llmProvider')}`,
    },
    {
      condition: config.llmProvider === 'bedrock' && !/^(arn:aws[\w-]*:bedrock:[\w-]*:\d*:[\w./:-]+|[\w.-]+:?[\w.:-]*)$/.test(config.bedrockModelId),
      message: `"bedrockModelId" must be a Bedrock model id, inference profile id or ARN; got ${shown('bedrockModelId')}`,
    },
    {
      condition: config.llmProvider === 'openai' && !/^https?:\/\/\S+$/.test(config.openaiBaseUrl ?? ''),
      message: `"openaiBaseUrl" must be an http(s) URL when llmProvider is openai; got ${shown('openaiBaseUrl')}`,
    },
    {
      condition: config.llmProvider === 'openai' && !config.openaiModel,
      message: `"openaiModel" is required when llmProvider is openai; got ${shown('openaiModel')}`,
    },
    {
      condition:
        config.openaiApiKeySecretArn !== undefined &&
        !/^arn:aws[\w-]*:secretsmanager:[\w-]+:\d{12}:secret:.+$/.test(config.openaiApiKeySecretArn),
      message: `"openaiApiKeySecretArn" must be a Secrets Manager secret ARN; got ${shown('openaiApiKeySecretArn')}`,
    },
    {
      condition: config.userPoolId !== undefined && !/^[\w-]+_[0-9a-zA-Z]+$/.test(config.userPoolId),
      message: `"userPoolId" must look like us-east-1_AbCdEf123; got ${shown('userPoolId')}`,
    },
    {
      condition: !between(config.throttleRateLimit, 1, 1_000_000),
      message: `"throttleRateLimit" must be a positive integer (requests per second); got ${shown('throttleRateLimit')}`,
    },
    {
      condition: !between(config.throttleBurstLimit, 1, 1_000_000),
      message: `"throttleBurstLimit" must be a positive integer; got ${shown('throttleBurstLimit')}`,
    },
    {
      condition: config.alarmEmail !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(config.alarmEmail),
      message: `"alarmEmail" must be an e-mail address; got ${shown('alarmEmail')}`,
    },
    {
      condition: !/^[A-Za-z0-9:_.-]{0,64}$/.test(config.cacheKeyPrefix),
      message: `"cacheKeyPrefix" must be at most 64 characters of letters, digits, ':', '_', '.', '-'; got ${shown('cacheKeyPrefix')}`,
    },
    {
      condition: !between(config.deletedRetentionDays, 0, 3650),
      message: `"deletedRetentionDays" must be an integer from 0 to 3650 (days); got ${shown('deletedRetentionDays')}`,
    },
    {
      condition: !/^(true|false|1|0|yes|no)$/i.test(str('webClient')),
      message: `"webClient" must be true or false; got ${shown('webClient')}`,
    },
  ];

  const errors = rules.filter((rule) => rule.condition).map((rule) => rule.message);
  if (errors.length > 0) {
    throw new StackConfigError(`Invalid CDK context:\n- ${errors.join('\n- ')}`);
  }
  return config;
}
