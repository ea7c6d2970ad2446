import type { Node } from 'constructs';
import { envDefault, LLM_PROVIDERS, SEARCH_TEXT_CONFIG_PATTERN, type LlmProvider } from '../layer/src/contracts/environment';

/** How the cache is provisioned. */
export type CacheMode = 'replication-group' | 'serverless';
/** The ElastiCache engine; both speak the Redis protocol. */
export type CacheEngine = 'valkey' | 'redis';
/** Where the conversations live: one RDS PostgreSQL instance, or Aurora PostgreSQL Serverless v2. */
export type DatabaseMode = 'instance' | 'aurora-serverless';
export type { LlmProvider };

/** Who signs the API's tokens: the stack's (or an existing) Cognito user pool, or any OpenID Connect issuer through a Lambda authorizer. */
export type AuthMode = 'cognito' | 'oidc';

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
  /** Shards of the replication group; above 1 the group runs in cluster mode. */
  readonly cacheShards: number;
  /** Data storage cap of the serverless cache, in GB (also the base of its memory %). */
  readonly serverlessMaxStorageGb: number;
  /** One RDS instance behind RDS Proxy, or an Aurora Serverless v2 cluster. */
  readonly databaseMode: DatabaseMode;
  /** Aurora Serverless v2 minimum capacity in ACUs (0 = pause when idle). */
  readonly auroraMinAcu: number;
  /** Aurora Serverless v2 maximum capacity in ACUs. */
  readonly auroraMaxAcu: number;
  /** Aurora Serverless v2 readers besides the writer (failover targets). */
  readonly auroraReaders: number;
  /** RDS instance class without the `db.` prefix, e.g. `t4g.micro`. */
  readonly dbInstanceType: string;
  /** Allocated RDS storage in GB. */
  readonly dbAllocatedStorageGb: number;
  /** NAT gateways (0 = no internet egress; functions live in isolated subnets). */
  readonly natGateways: number;
  /**
   * CORS origins the API answers to (`*` or full origins). Empty only on `stage=prod` with the
   * hosted web client, whose origin the stack adds.
   */
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
  /** Whether anyone may sign up to the created user pool (off: an admin creates users). */
  readonly selfSignUp: boolean;
  /** Turns a user may post per window (0 = no limit). */
  readonly userTurnLimit: number;
  /** Length of the rolling turn-limit window, in seconds. */
  readonly userTurnWindowSeconds: number;
  /** Messages a conversation may hold before new turns are refused. */
  readonly maxConversationMessages: number;
  /** Content bytes a conversation may hold before new turns are refused (keeps a detail body under Lambda's 6 MB response). */
  readonly maxConversationBytes: number;
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
  /** Postgres text search configuration of conversation search (`simple`: language-neutral); the migrate step applies a change online. */
  readonly searchTextConfig: string;
  /** Live share links one user may have. */
  readonly maxSharesPerUser: number;
  /** Where `share_url` points (the web page serving `/share/<id>`); absent: the hosted web client's origin, else the request's `Origin`. */
  readonly shareUrlBase?: string;
  /** Host the reference web client (S3 + CloudFront, Cognito managed login). */
  readonly webClient: boolean;
  /** Reserved concurrency of each streaming function; undefined: none (they draw on the account's unreserved pool). */
  readonly streamingConcurrency?: number;
  /** Put an AWS WAF web ACL with a per-IP rate-based rule on the API stage. */
  readonly waf: boolean;
  /** Requests one IP address may send in 5 minutes before the WAF rule blocks it (with `waf`). */
  readonly wafRateLimit: number;
  /** Alarm when the account's concurrent Lambda executions (every function in the Region) reach this. */
  readonly accountConcurrencyAlarmThreshold: number;
  /** Verified Amazon SES address the created user pool sends its e-mail from; absent: Cognito's own sender. */
  readonly sesFromAddress?: string;
  /** ARN of the SES identity that verifies `sesFromAddress` (a domain, or another Region or account). */
  readonly sesIdentityArn?: string;
  /** The one OAuth scope the API methods accept; absent: the stack's resource-server scope and Cognito's sign-in scope. */
  readonly apiScope?: string;
  /** An existing VPC to look up (`Vpc.fromLookup`, needs the stack's account and Region) instead of creating one. */
  readonly vpcId?: string;
  /** Custom domain of the API (e.g. api.example.com), with {@link certificateArn}. */
  readonly domainName?: string;
  /** ACM certificate (in the stack's Region) covering {@link domainName}. */
  readonly certificateArn?: string;
  /** Route 53 public hosted zone to put an alias record for {@link domainName} in, with {@link hostedZoneName}. */
  readonly hostedZoneId?: string;
  /** The zone's domain name (e.g. example.com), with {@link hostedZoneId}. */
  readonly hostedZoneName?: string;
  /** Cognito user pool authorizer (default), or a Lambda authorizer verifying any OpenID Connect issuer's tokens. */
  readonly authMode: AuthMode;
  /** `authMode=oidc`: the issuer (`iss`, an https URL). */
  readonly oidcIssuer?: string;
  /** `authMode=oidc`: the audience (`aud`) the tokens carry. */
  readonly oidcAudience?: string;
  /** `authMode=oidc`: the JWKS URL when not the discovery document's `jwks_uri`. */
  readonly oidcJwksUri?: string;
  /** `authMode=oidc`: scopes every token must have. */
  readonly oidcRequiredScopes: readonly string[];
  /** How long API Gateway caches the Lambda authorizer's answer for a token, seconds (0 = no cache). */
  readonly authorizerCacheTtl: number;
}

/** Reserved concurrency of each streaming function on `stage=prod` unless `streamingConcurrency` says otherwise. */
export const PROD_STREAMING_CONCURRENCY = 100;
/** Aurora readers on `stage=prod` unless `auroraReaders` says otherwise: one standby to fail over to. */
export const PROD_AURORA_READERS = 1;
/** The Cognito scope in every access token from Cognito's own sign-in APIs (SRP, admin-initiate-auth). */
export const COGNITO_SIGN_IN_SCOPE = 'aws.cognito.signin.user.admin';

/** The defaults, the same values `cdk.json` ships, so tests and a bare `new App()` agree with a deploy. */
export const DEFAULT_CONTEXT = {
  stage: 'dev',
  cacheMode: 'replication-group',
  cacheEngine: 'valkey',
  cacheNodeType: 'cache.t4g.small',
  cacheReplicas: 1,
  cacheShards: 1,
  serverlessMaxStorageGb: 5,
  databaseMode: 'instance',
  auroraMinAcu: 0,
  auroraMaxAcu: 4,
  // '' = by stage: PROD_AURORA_READERS on prod, 0 elsewhere.
  auroraReaders: '',
  dbInstanceType: 't4g.micro',
  dbAllocatedStorageGb: 20,
  natGateways: 0,
  // '' = by stage: '*' off prod; on prod it must be set (or be the hosted web client's origin alone).
  allowedOrigins: '',
  llmProvider: 'bedrock',
  bedrockModelId: envDefault('BEDROCK_MODEL_ID'),
  openaiBaseUrl: '',
  openaiModel: '',
  openaiApiKeySecretArn: '',
  userPoolId: '',
  selfSignUp: false,
  userTurnLimit: envDefault('USER_TURN_LIMIT'),
  userTurnWindowSeconds: envDefault('USER_TURN_WINDOW_SECONDS'),
  maxConversationMessages: envDefault('MAX_CONVERSATION_MESSAGES'),
  maxConversationBytes: envDefault('MAX_CONVERSATION_BYTES'),
  throttleRateLimit: 50,
  throttleBurstLimit: 100,
  alarmEmail: '',
  cacheKeyPrefix: envDefault('CACHE_KEY_PREFIX'),
  deletedRetentionDays: envDefault('DELETED_RETENTION_DAYS'),
  searchTextConfig: envDefault('SEARCH_TEXT_CONFIG'),
  maxSharesPerUser: envDefault('SHARE_MAX_PER_USER'),
  // '' = the hosted web client's origin with webClient=true, else the request's Origin.
  shareUrlBase: '',
  webClient: false,
  // '' = by stage: PROD_STREAMING_CONCURRENCY on prod, none elsewhere (new accounts have low concurrency quotas).
  streamingConcurrency: '',
  waf: false,
  wafRateLimit: 1000,
  // 80% of the default Regional quota of 1,000 concurrent executions.
  accountConcurrencyAlarmThreshold: 800,
  sesFromAddress: '',
  sesIdentityArn: '',
  apiScope: '',
  // '' = create a VPC.
  vpcId: '',
  // '' = the execute-api URL only; set domainName and certificateArn together.
  domainName: '',
  certificateArn: '',
  hostedZoneId: '',
  hostedZoneName: '',
  authMode: 'cognito',
  oidcIssuer: '',
  oidcAudience: '',
  oidcJwksUri: '',
  oidcRequiredScopes: '',
  authorizerCacheTtl: 300,
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
const DATABASE_MODES: readonly DatabaseMode[] = ['instance', 'aurora-serverless'];
const AUTH_MODES: readonly AuthMode[] = ['cognito', 'oidc'];

/** ElastiCache's limit on the nodes of one cluster-mode-enabled replication group (shards × (1 + replicas)). */
export const MAX_CACHE_NODES = 500;

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
  // ACUs come in half steps (0, 0.5, 1, 1.5 …); anything else is NaN and fails its rule.
  const decimal = (key: ContextKey): number => {
    const value = raw(key);
    return typeof value === 'number' ? value : /^\d+(\.\d+)?$/.test(String(value).trim()) ? Number(value) : Number.NaN;
  };
  const bool = (key: ContextKey): boolean | undefined => {
    const value = raw(key);
    if (typeof value === 'boolean') return value;
    const text = String(value).trim().toLowerCase();
    return text === 'true' ? true : text === 'false' ? false : undefined;
  };
  const list = (key: ContextKey): string[] => {
    const value = raw(key);
    const items = Array.isArray(value) ? value.map(String) : String(value).split(',');
    return items.map((item) => item.trim()).filter(Boolean);
  };

  const stage = str('stage');
  const isProd = stage === 'prod';
  const webClient = bool('webClient') ?? false;
  // '' means "the stage's default"; anything else is parsed and validated like any value.
  const byStage = (key: ContextKey): boolean => str(key) === '';
  const explicitOrigins = list('allowedOrigins');
  const streamingConcurrency = str('streamingConcurrency');
  const config: StackConfig = {
    stage,
    isProd,
    cacheMode: str('cacheMode') as CacheMode,
    cacheEngine: str('cacheEngine') as CacheEngine,
    cacheNodeType: str('cacheNodeType'),
    cacheReplicas: int('cacheReplicas'),
    cacheShards: int('cacheShards'),
    serverlessMaxStorageGb: int('serverlessMaxStorageGb'),
    databaseMode: str('databaseMode') as DatabaseMode,
    auroraMinAcu: decimal('auroraMinAcu'),
    auroraMaxAcu: decimal('auroraMaxAcu'),
    auroraReaders: byStage('auroraReaders') ? (isProd ? PROD_AURORA_READERS : 0) : int('auroraReaders'),
    dbInstanceType: str('dbInstanceType').replace(/^db\./, ''),
    dbAllocatedStorageGb: int('dbAllocatedStorageGb'),
    natGateways: int('natGateways'),
    allowedOrigins: explicitOrigins.length > 0 || isProd ? explicitOrigins : ['*'],
    llmProvider: str('llmProvider') as LlmProvider,
    bedrockModelId: str('bedrockModelId'),
    openaiBaseUrl: optional('openaiBaseUrl'),
    openaiModel: optional('openaiModel'),
    openaiApiKeySecretArn: optional('openaiApiKeySecretArn'),
    userPoolId: optional('userPoolId'),
    selfSignUp: bool('selfSignUp') ?? false,
    userTurnLimit: int('userTurnLimit'),
    userTurnWindowSeconds: int('userTurnWindowSeconds'),
    maxConversationMessages: int('maxConversationMessages'),
    maxConversationBytes: int('maxConversationBytes'),
    throttleRateLimit: int('throttleRateLimit'),
    throttleBurstLimit: int('throttleBurstLimit'),
    alarmEmail: optional('alarmEmail'),
    cacheKeyPrefix: str('cacheKeyPrefix'),
    deletedRetentionDays: int('deletedRetentionDays'),
    searchTextConfig: str('searchTextConfig'),
    maxSharesPerUser: int('maxSharesPerUser'),
    shareUrlBase: optional('shareUrlBase'),
    webClient,
    streamingConcurrency:
      streamingConcurrency === '' ? (isProd ? PROD_STREAMING_CONCURRENCY : undefined) : streamingConcurrency === 'none' ? undefined : int('streamingConcurrency'),
    waf: bool('waf') ?? false,
    wafRateLimit: int('wafRateLimit'),
    accountConcurrencyAlarmThreshold: int('accountConcurrencyAlarmThreshold'),
    sesFromAddress: optional('sesFromAddress'),
    sesIdentityArn: optional('sesIdentityArn'),
    apiScope: optional('apiScope'),
    vpcId: optional('vpcId'),
    domainName: optional('domainName')?.toLowerCase(),
    certificateArn: optional('certificateArn'),
    hostedZoneId: optional('hostedZoneId'),
    hostedZoneName: optional('hostedZoneName')?.toLowerCase().replace(/\.$/, ''),
    authMode: str('authMode') as AuthMode,
    oidcIssuer: optional('oidcIssuer'),
    oidcAudience: optional('oidcAudience'),
    oidcJwksUri: optional('oidcJwksUri'),
    oidcRequiredScopes: list('oidcRequiredScopes'),
    authorizerCacheTtl: int('authorizerCacheTtl'),
  };
  validateStackConfig(config, {
    shown: (key) => JSON.stringify(raw(key)),
    explicitOrigins,
    notBoolean: (key) => bool(key) === undefined,
  });
  return config;
}

/** What {@link validateStackConfig} needs beyond the parsed values, so each error can show what was given. */
export interface ValidationInput {
  /** The value as given, for the message. */
  readonly shown: (key: ContextKey) => string;
  /** The origins given explicitly (before the stage's default). */
  readonly explicitOrigins: readonly string[];
  /** Whether a boolean knob was given as something other than true/false. */
  readonly notBoolean: (key: ContextKey) => boolean;
}

/**
 * The one rule set every configuration passes, whether it came from CDK context (the repository's app)
 * or from {@link ChatbotApiProps} (a team's app): every bad value is reported at once, each naming its knob.
 */
export function validateStackConfig(config: StackConfig, input: ValidationInput): void {
  const { shown, explicitOrigins } = input;
  const { isProd, webClient } = config;
  const oidc = config.authMode === 'oidc';
  const httpsUrl = (value: string | undefined): boolean => {
    try {
      const url = new URL(value ?? '');
      return url.protocol === 'https:' && !url.username && !url.password && !url.hash && !/\s/.test(value ?? '');
    } catch {
      return false;
    }
  };

  const between = (value: number, min: number, max: number): boolean =>
    Number.isInteger(value) && value >= min && value <= max;
  const halfSteps = (value: number, min: number, max: number): boolean =>
    Number.isInteger(value * 2) && value >= min && value <= max;
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
      condition: !between(config.cacheShards, 1, 500),
      message: `"cacheShards" must be an integer from 1 to 500; got ${shown('cacheShards')}`,
    },
    {
      condition: config.cacheShards > 1 && config.cacheMode === 'serverless',
      message: `"cacheShards" applies to cacheMode=replication-group (a serverless cache shards itself); got ${shown('cacheShards')} with cacheMode=serverless`,
    },
    {
      condition: config.cacheShards * (1 + config.cacheReplicas) > MAX_CACHE_NODES,
      message: `"cacheShards" × (1 + cacheReplicas) must be at most ${MAX_CACHE_NODES} nodes; got ${shown('cacheShards')} shards with ${shown('cacheReplicas')} replicas`,
    },
    {
      condition: !DATABASE_MODES.includes(config.databaseMode),
      message: `"databaseMode" must be one of ${DATABASE_MODES.join(', ')}; got ${shown('databaseMode')}`,
    },
    {
      condition: !halfSteps(config.auroraMinAcu, 0, 256),
      message: `"auroraMinAcu" must be 0 to 256 in steps of 0.5; got ${shown('auroraMinAcu')}`,
    },
    {
      condition: !halfSteps(config.auroraMaxAcu, 1, 256) || config.auroraMaxAcu < config.auroraMinAcu,
      message: `"auroraMaxAcu" must be 1 to 256 in steps of 0.5 and at least auroraMinAcu; got ${shown('auroraMaxAcu')}`,
    },
    {
      condition: !between(config.auroraReaders, 0, 15),
      message: `"auroraReaders" must be an integer from 0 to 15; got ${shown('auroraReaders')}`,
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
      condition: config.allowedOrigins.some((origin) => origin !== '*' && !/^https?:\/\/[^/\s,]+$/.test(origin)),
      message: `"allowedOrigins" must be '*' or comma-separated origins like https://chat.example.com (no path); got ${shown('allowedOrigins')}`,
    },
    {
      // A production API should name its frontends; '*' stays possible, but only when asked for.
      condition: isProd && explicitOrigins.length === 0 && !webClient,
      message: `"allowedOrigins" is required on stage=prod: the origins of your frontends (e.g. https://chat.example.com), or '*' to allow any; got ${shown('allowedOrigins')}`,
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
      condition: input.notBoolean('selfSignUp'),
      message: `"selfSignUp" must be true or false; got ${shown('selfSignUp')}`,
    },
    {
      condition: !between(config.userTurnLimit, 0, 1_000_000),
      message: `"userTurnLimit" must be an integer from 0 (no limit) to 1000000 turns per window; got ${shown('userTurnLimit')}`,
    },
    {
      condition: !between(config.userTurnWindowSeconds, 1, 604_800),
      message: `"userTurnWindowSeconds" must be an integer from 1 to 604800 (a week); got ${shown('userTurnWindowSeconds')}`,
    },
    {
      condition: !between(config.maxConversationMessages, 2, 1_000_000),
      message: `"maxConversationMessages" must be an integer from 2 to 1000000; got ${shown('maxConversationMessages')}`,
    },
    {
      // Above 4 MiB a detail body, with its per-message JSON, nears the 6 MB buffered Lambda response limit.
      condition: !between(config.maxConversationBytes, 1024, 4 * 1024 * 1024),
      message: `"maxConversationBytes" must be an integer from 1024 to 4194304 (4 MiB); got ${shown('maxConversationBytes')}`,
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
      // The migrate step also fails (before changing anything) on a name the server does not have, e.g. a typo'd language.
      condition: !SEARCH_TEXT_CONFIG_PATTERN.test(config.searchTextConfig),
      message: `"searchTextConfig" must be a Postgres text search configuration name such as simple or english; got ${shown('searchTextConfig')}`,
    },
    {
      condition: !between(config.maxSharesPerUser, 1, 1_000_000),
      message: `"maxSharesPerUser" must be an integer from 1 to 1000000; got ${shown('maxSharesPerUser')}`,
    },
    {
      condition: config.shareUrlBase !== undefined && (!httpsUrl(config.shareUrlBase) || new URL(config.shareUrlBase).search !== ''),
      message: `"shareUrlBase" must be an https URL without a query (the page serving /share/<id>, e.g. https://chat.example.com); got ${shown('shareUrlBase')}`,
    },
    {
      condition: input.notBoolean('webClient'),
      message: `"webClient" must be true or false; got ${shown('webClient')}`,
    },
    {
      condition: config.streamingConcurrency !== undefined && !between(config.streamingConcurrency, 1, 10_000),
      message: `"streamingConcurrency" must be 'none' or an integer from 1 to 10000 (reserved executions per streaming function); got ${shown('streamingConcurrency')}`,
    },
    {
      condition: input.notBoolean('waf'),
      message: `"waf" must be true or false; got ${shown('waf')}`,
    },
    {
      // AWS WAF's bounds for a rate-based rule's limit.
      condition: !between(config.wafRateLimit, 10, 2_000_000_000),
      message: `"wafRateLimit" must be an integer from 10 to 2000000000 (requests per IP address per 5 minutes); got ${shown('wafRateLimit')}`,
    },
    {
      condition: !between(config.accountConcurrencyAlarmThreshold, 1, 1_000_000),
      message: `"accountConcurrencyAlarmThreshold" must be a positive integer (concurrent executions); got ${shown('accountConcurrencyAlarmThreshold')}`,
    },
    {
      condition: config.sesFromAddress !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(config.sesFromAddress),
      message: `"sesFromAddress" must be an e-mail address; got ${shown('sesFromAddress')}`,
    },
    {
      condition: config.sesFromAddress !== undefined && config.userPoolId !== undefined,
      message: `"sesFromAddress" applies to the user pool the stack creates; with userPoolId set the pool's own e-mail settings apply; got ${shown('sesFromAddress')}`,
    },
    {
      condition: config.sesIdentityArn !== undefined && !/^arn:aws[\w-]*:ses:[a-z0-9-]+:\d{12}:identity\/\S+$/.test(config.sesIdentityArn),
      message: `"sesIdentityArn" must be an SES identity ARN such as arn:aws:ses:us-east-1:123456789012:identity/example.com; got ${shown('sesIdentityArn')}`,
    },
    {
      condition: config.sesIdentityArn !== undefined && config.sesFromAddress === undefined,
      message: `"sesIdentityArn" needs sesFromAddress (the address it verifies); got ${shown('sesIdentityArn')}`,
    },
    {
      condition: config.apiScope !== undefined && config.apiScope !== COGNITO_SIGN_IN_SCOPE && !/^\S+\/[^\s/]+$/.test(config.apiScope),
      message: `"apiScope" must be a resource-server scope such as chatbot-api/conversations; got ${shown('apiScope')}`,
    },
    {
      condition: config.vpcId !== undefined && !/^vpc-[0-9a-f]{8,17}$/.test(config.vpcId),
      message: `"vpcId" must be a VPC id such as vpc-0123456789abcdef0; got ${shown('vpcId')}`,
    },
    {
      condition: config.domainName !== undefined && !DOMAIN_NAME.test(config.domainName),
      message: `"domainName" must be a fully qualified domain name such as api.example.com; got ${shown('domainName')}`,
    },
    {
      condition: config.domainName !== undefined && config.certificateArn === undefined,
      message: `"certificateArn" is required with domainName: the ARN of an ACM certificate in the stack's Region covering ${shown('domainName')}`,
    },
    {
      condition: config.certificateArn !== undefined && config.domainName === undefined,
      message: `"domainName" is required with certificateArn: the API's custom domain (e.g. api.example.com); got certificateArn=${shown('certificateArn')}`,
    },
    {
      condition: config.certificateArn !== undefined && !/^arn:aws[\w-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[\w-]+$/.test(config.certificateArn),
      message: `"certificateArn" must be an ACM certificate ARN such as arn:aws:acm:us-east-1:123456789012:certificate/0abc…; got ${shown('certificateArn')}`,
    },
    {
      condition: config.hostedZoneId !== undefined && !/^Z[A-Z0-9]{1,31}$/.test(config.hostedZoneId),
      message: `"hostedZoneId" must be a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ; got ${shown('hostedZoneId')}`,
    },
    {
      condition: (config.hostedZoneId === undefined) !== (config.hostedZoneName === undefined),
      message: `"hostedZoneId" and "hostedZoneName" go together (the zone's id and its domain, e.g. example.com); got hostedZoneId=${shown('hostedZoneId')}, hostedZoneName=${shown('hostedZoneName')}`,
    },
    {
      condition: config.hostedZoneId !== undefined && config.domainName === undefined,
      message: `"hostedZoneId" needs domainName (the record it adds is the custom domain's alias); got ${shown('hostedZoneId')}`,
    },
    {
      condition:
        config.hostedZoneName !== undefined &&
        config.domainName !== undefined &&
        (!DOMAIN_NAME.test(config.hostedZoneName) || !`.${config.domainName}`.endsWith(`.${config.hostedZoneName}`)),
      message: `"hostedZoneName" must be the zone holding domainName (${shown('domainName')} is not in it); got ${shown('hostedZoneName')}`,
    },
    {
      condition: !AUTH_MODES.includes(config.authMode),
      message: `"authMode" must be one of ${AUTH_MODES.join(', ')}; got ${shown('authMode')}`,
    },
    {
      condition: oidc && !httpsUrl(config.oidcIssuer),
      message: `"oidcIssuer" must be the issuer's https URL, exactly as the tokens' iss (e.g. https://login.example.com/), with authMode=oidc; got ${shown('oidcIssuer')}`,
    },
    {
      condition: oidc && !config.oidcAudience,
      message: `"oidcAudience" is required with authMode=oidc: the aud your API's access tokens carry (an API identifier or client id); got ${shown('oidcAudience')}`,
    },
    {
      condition: config.oidcJwksUri !== undefined && !httpsUrl(config.oidcJwksUri),
      message: `"oidcJwksUri" must be an https URL; got ${shown('oidcJwksUri')}`,
    },
    {
      condition: !oidc && [config.oidcIssuer, config.oidcAudience, config.oidcJwksUri, config.oidcRequiredScopes[0]].some((value) => value !== undefined),
      message: `"oidcIssuer", "oidcAudience", "oidcJwksUri" and "oidcRequiredScopes" apply to authMode=oidc; got authMode=${shown('authMode')}`,
    },
    {
      condition: oidc && (config.userPoolId !== undefined || config.apiScope !== undefined || config.sesFromAddress !== undefined || config.selfSignUp),
      message: `"userPoolId", "apiScope", "sesFromAddress" and "selfSignUp" configure the Cognito authorizer; with authMode=oidc there is no user pool (point oidcIssuer at a pool instead)`,
    },
    {
      condition: oidc && webClient,
      message: `"webClient" signs in through the stack's Cognito managed login and needs authMode=cognito; got authMode=oidc`,
    },
    {
      // API Gateway's bounds for an authorizer's result cache.
      condition: !between(config.authorizerCacheTtl, 0, 3600),
      message: `"authorizerCacheTtl" must be an integer from 0 (no cache) to 3600 seconds; got ${shown('authorizerCacheTtl')}`,
    },
  ];

  const errors = rules.filter((rule) => rule.condition).map((rule) => rule.message);
  if (errors.length > 0) {
    throw new StackConfigError(`Invalid CDK context:\n- ${errors.join('\n- ')}`);
  }
}

/** A fully qualified domain name: labels of letters, digits and '-', at least two. */
const DOMAIN_NAME = /^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/;
