import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import {
  DEFAULT_CONTEXT,
  PROD_AURORA_READERS,
  PROD_STREAMING_CONCURRENCY,
  validateStackConfig,
  type CacheEngine,
  type CacheMode,
  type ContextKey,
  type DatabaseMode,
  type LlmProvider,
  type StackConfig,
} from './stack-config';

/** Who may call the API: Cognito user-pool access tokens. */
export interface ChatbotApiCognitoAuth {
  readonly mode: 'cognito';
  /** An existing user pool (e.g. `eu-west-1_AbCdEf123`) whose access tokens the API accepts. @default - a new pool, with a web app client */
  readonly userPoolId?: string;
  /** Let anyone sign up to the created pool. @default false */
  readonly selfSignUp?: boolean;
  /** Verified SES address the created pool sends its e-mail from. @default - Cognito's own sender (about 50 e-mails a day) */
  readonly sesFromAddress?: string;
  /** ARN of the SES identity verifying `sesFromAddress`. @default - the address's identity in this Region and account */
  readonly sesIdentityArn?: string;
  /** The one OAuth scope every method requires. @default - the created pool's resource-server scope or Cognito's sign-in scope */
  readonly apiScope?: string;
}

/** Who may call the API: access tokens of any OpenID Connect issuer, verified by a Lambda authorizer (no Cognito resource). */
export interface ChatbotApiOidcAuth {
  readonly mode: 'oidc';
  /** The issuer, exactly as the tokens' `iss` (an https URL, e.g. `https://login.example.com/`). */
  readonly issuer: string;
  /** The audience (`aud`) the API's access tokens carry. */
  readonly audience: string;
  /** The JWKS URL. @default - the `jwks_uri` of the issuer's discovery document */
  readonly jwksUri?: string;
  /** Scopes every token must carry. @default [] */
  readonly requiredScopes?: readonly string[];
  /** How long API Gateway caches the authorizer's answer per token, seconds (0 = no cache). @default 300 */
  readonly cacheTtlSeconds?: number;
}

/** The authentication choice: Cognito (a new or an existing pool) or any OpenID Connect issuer. */
export type ChatbotApiAuth = ChatbotApiCognitoAuth | ChatbotApiOidcAuth;

/** The ElastiCache cache in front of Postgres. */
export interface ChatbotApiCacheProps {
  /** Node-based replication group or ElastiCache Serverless. @default 'replication-group' */
  readonly mode?: CacheMode;
  /** Valkey or Redis OSS. @default 'valkey' */
  readonly engine?: CacheEngine;
  /** Node type of the replication group. @default 'cache.t4g.small' */
  readonly nodeType?: string;
  /** Read replicas per shard (0–5). @default 1 */
  readonly replicas?: number;
  /** Shards of the replication group (above 1: cluster mode). @default 1 */
  readonly shards?: number;
  /** Data-storage cap of a serverless cache, in GB. @default 5 */
  readonly serverlessMaxStorageGb?: number;
  /** Prefix of every cache key (several deployments sharing one cache). @default '' */
  readonly keyPrefix?: string;
}

/** The PostgreSQL database. */
export interface ChatbotApiDatabaseProps {
  /** One RDS instance behind RDS Proxy, or Aurora PostgreSQL Serverless v2. @default 'instance' */
  readonly mode?: DatabaseMode;
  /** RDS instance class (instance mode), with or without `db.`. @default 't4g.micro' */
  readonly instanceType?: string;
  /** Allocated storage in GB (instance mode). @default 20 */
  readonly allocatedStorageGb?: number;
  /** Aurora minimum capacity in ACUs (0 pauses when idle). @default 0 */
  readonly auroraMinAcu?: number;
  /** Aurora maximum capacity in ACUs. @default 4 */
  readonly auroraMaxAcu?: number;
  /** Aurora readers besides the writer. @default - 1 on stage `prod`, else 0 */
  readonly auroraReaders?: number;
}

/** The model provider and the models clients may pick. */
export interface ChatbotApiModelProps {
  /** `bedrock`, `openai` (any OpenAI-compatible endpoint) or `local` (offline, for tests). @default 'bedrock' */
  readonly provider?: LlmProvider;
  /** Default Bedrock model / inference profile id. @default 'us.anthropic.claude-haiku-4-5-20251001-v1:0' */
  readonly bedrockModelId?: string;
  /** Base URL of the OpenAI-compatible API (provider `openai`). @default - none */
  readonly openaiBaseUrl?: string;
  /** Model of the OpenAI-compatible API (provider `openai`). @default - none */
  readonly openaiModel?: string;
  /** Secrets Manager secret (complete ARN) holding the OpenAI-compatible API key. @default - none */
  readonly openaiApiKeySecretArn?: string;
  /** The models clients may pick: `{ id, slug?, title?, description?, max_tokens?, tags? }`. @default - the list this repository's cdk.json ships */
  readonly models?: readonly Record<string, unknown>[];
  /** Slug of the model that writes conversation titles. @default - the default model */
  readonly titleModel?: string;
}

/** A custom domain for the API. */
export interface ChatbotApiDomainProps {
  /** The domain, e.g. `api.example.com`. */
  readonly domainName: string;
  /** ARN of an ACM certificate in the stack's Region covering it. */
  readonly certificateArn: string;
  /** Route 53 public hosted zone to add an alias record to, with `hostedZoneName`. @default - no record */
  readonly hostedZoneId?: string;
  /** The zone's domain name, e.g. `example.com`. @default - no record */
  readonly hostedZoneName?: string;
}

/** Usage limits and throttling. */
export interface ChatbotApiLimits {
  /** Turns one user may send per window (0 = no limit). @default 60 */
  readonly userTurnLimit?: number;
  /** The window of `userTurnLimit`, in seconds. @default 3600 */
  readonly userTurnWindowSeconds?: number;
  /** Messages one conversation may hold. @default 1000 */
  readonly maxConversationMessages?: number;
  /** Bytes one conversation may hold. @default 3145728 (3 MiB) */
  readonly maxConversationBytes?: number;
  /** Steady requests per second of the stage. @default 50 */
  readonly throttleRateLimit?: number;
  /** Burst of the stage. @default 100 */
  readonly throttleBurstLimit?: number;
  /** Reserved concurrency of each streaming function, or 'none'. @default - 100 on stage `prod`, none elsewhere */
  readonly streamingConcurrency?: number | 'none';
  /** Days a deleted conversation is kept before the daily purge. @default 30 */
  readonly deletedRetentionDays?: number;
}

/** Conversation search. */
export interface ChatbotApiSearchProps {
  /** Postgres text search configuration (`simple` is language-neutral; `english` stems); the migrate step re-vectorises the rows online when it changes. @default 'simple' */
  readonly textConfig?: string;
}

/** Share links. */
export interface ChatbotApiShareProps {
  /** Live share links one user may have (413 `share_limit_exceeded` beyond). @default 1000 */
  readonly maxPerUser?: number;
  /** Where `share_url` points: the https origin of the page serving `/share/<id>`. @default - the hosted web client's origin with `webClient`, else the request's `Origin` */
  readonly urlBase?: string;
}

/** Props for {@link ChatbotApi}; every one optional. */
export interface ChatbotApiProps {
  /** Stage name (the API stage path); `prod` turns on Multi-AZ, deletion protection, snapshots and retention. @default 'dev' */
  readonly stage?: string;
  /**
   * An existing VPC: the functions go in its private subnets with egress (or isolated ones), the cache and
   * the database in its isolated subnets (or private ones); no VPC, endpoint or flow log is created. It
   * needs NAT or interface endpoints for Secrets Manager, Bedrock Runtime and CloudWatch Logs.
   * @default - a new VPC with isolated subnets and interface endpoints
   */
  readonly vpc?: ec2.IVpc;
  /** NAT gateways of the VPC the construct creates (0–2). @default 0 */
  readonly natGateways?: number;
  /** Authentication: Cognito (a new or an existing pool) or any OpenID Connect issuer. @default { mode: 'cognito' } (a new user pool) */
  readonly auth?: ChatbotApiAuth;
  /** The cache. @default - a Valkey replication group of one cache.t4g.small shard with one replica */
  readonly cache?: ChatbotApiCacheProps;
  /** The database. @default - one db.t4g.micro PostgreSQL instance behind RDS Proxy */
  readonly database?: ChatbotApiDatabaseProps;
  /** The model provider. @default - Bedrock with the shipped model list */
  readonly model?: ChatbotApiModelProps;
  /** CORS origins of the frontends (`['*']` for any). @default - `['*']` off `prod`; required on `prod` unless `webClient` */
  readonly allowedOrigins?: readonly string[];
  /** Host the reference web client on S3 + CloudFront. @default false */
  readonly webClient?: boolean;
  /** A custom domain. @default - the execute-api URL only */
  readonly domain?: ChatbotApiDomainProps;
  /** Usage limits and throttling. @default - see {@link ChatbotApiLimits} */
  readonly limits?: ChatbotApiLimits;
  /** Conversation search. @default - the `simple` text search configuration */
  readonly search?: ChatbotApiSearchProps;
  /** Share links. @default - 1,000 per user, URLs on the web client's origin */
  readonly shares?: ChatbotApiShareProps;
  /** A WAF web ACL on the stage with a per-IP rate rule: `true`, or the requests per IP per 5 minutes. @default false */
  readonly waf?: boolean | number;
  /** E-mail address the alarm topic notifies. @default - none: subscribe to {@link ChatbotApi.alarmTopic} */
  readonly alarmEmail?: string;
  /** Alarm when the account's concurrent executions reach this. @default 800 */
  readonly accountConcurrencyAlarmThreshold?: number;
}

/** Maps props onto the configuration every rule checks, applying the same defaults as the context. */
export function configFromProps(props: ChatbotApiProps = {}): StackConfig {
  const d = DEFAULT_CONTEXT;
  const stage = props.stage ?? d.stage;
  const isProd = stage === 'prod';
  const auth: ChatbotApiAuth = props.auth ?? { mode: 'cognito' };
  const cognito = auth.mode === 'cognito' ? auth : undefined;
  const oidc = auth.mode === 'oidc' ? auth : undefined;
  const explicitOrigins = [...(props.allowedOrigins ?? [])];
  const limits = props.limits ?? {};
  const model = props.model ?? {};
  const cache = props.cache ?? {};
  const database = props.database ?? {};
  const streaming = limits.streamingConcurrency;
  // As with `-c key=`, an empty string means "not set".
  const opt = (value: string | undefined): string | undefined => value?.trim() || undefined;
  return {
    stage,
    isProd,
    cacheMode: cache.mode ?? d.cacheMode,
    cacheEngine: cache.engine ?? d.cacheEngine,
    cacheNodeType: cache.nodeType ?? d.cacheNodeType,
    cacheReplicas: cache.replicas ?? d.cacheReplicas,
    cacheShards: cache.shards ?? d.cacheShards,
    serverlessMaxStorageGb: cache.serverlessMaxStorageGb ?? d.serverlessMaxStorageGb,
    cacheKeyPrefix: cache.keyPrefix ?? d.cacheKeyPrefix,
    databaseMode: database.mode ?? d.databaseMode,
    auroraMinAcu: database.auroraMinAcu ?? d.auroraMinAcu,
    auroraMaxAcu: database.auroraMaxAcu ?? d.auroraMaxAcu,
    auroraReaders: database.auroraReaders ?? (isProd ? PROD_AURORA_READERS : 0),
    dbInstanceType: (database.instanceType ?? d.dbInstanceType).replace(/^db\./, ''),
    dbAllocatedStorageGb: database.allocatedStorageGb ?? d.dbAllocatedStorageGb,
    natGateways: props.natGateways ?? d.natGateways,
    allowedOrigins: explicitOrigins.length > 0 || isProd ? explicitOrigins : ['*'],
    llmProvider: model.provider ?? d.llmProvider,
    bedrockModelId: model.bedrockModelId ?? d.bedrockModelId,
    openaiBaseUrl: opt(model.openaiBaseUrl),
    openaiModel: opt(model.openaiModel),
    openaiApiKeySecretArn: opt(model.openaiApiKeySecretArn),
    authMode: auth.mode,
    userPoolId: cognito ? opt(cognito.userPoolId) : undefined,
    selfSignUp: cognito?.selfSignUp ?? false,
    sesFromAddress: cognito ? opt(cognito.sesFromAddress) : undefined,
    sesIdentityArn: cognito ? opt(cognito.sesIdentityArn) : undefined,
    apiScope: cognito ? opt(cognito.apiScope) : undefined,
    oidcIssuer: oidc ? opt(oidc.issuer) : undefined,
    oidcAudience: oidc ? opt(oidc.audience) : undefined,
    oidcJwksUri: oidc ? opt(oidc.jwksUri) : undefined,
    oidcRequiredScopes: oidc?.requiredScopes ? [...oidc.requiredScopes] : [],
    authorizerCacheTtl: oidc?.cacheTtlSeconds ?? d.authorizerCacheTtl,
    userTurnLimit: limits.userTurnLimit ?? d.userTurnLimit,
    userTurnWindowSeconds: limits.userTurnWindowSeconds ?? d.userTurnWindowSeconds,
    maxConversationMessages: limits.maxConversationMessages ?? d.maxConversationMessages,
    maxConversationBytes: limits.maxConversationBytes ?? d.maxConversationBytes,
    throttleRateLimit: limits.throttleRateLimit ?? d.throttleRateLimit,
    throttleBurstLimit: limits.throttleBurstLimit ?? d.throttleBurstLimit,
    streamingConcurrency: streaming === undefined ? (isProd ? PROD_STREAMING_CONCURRENCY : undefined) : streaming === 'none' ? undefined : streaming,
    deletedRetentionDays: limits.deletedRetentionDays ?? d.deletedRetentionDays,
    searchTextConfig: props.search?.textConfig ?? d.searchTextConfig,
    maxSharesPerUser: props.shares?.maxPerUser ?? d.maxSharesPerUser,
    shareUrlBase: opt(props.shares?.urlBase),
    alarmEmail: opt(props.alarmEmail),
    webClient: props.webClient ?? false,
    waf: props.waf !== undefined && props.waf !== false,
    wafRateLimit: typeof props.waf === 'number' ? props.waf : d.wafRateLimit,
    accountConcurrencyAlarmThreshold: props.accountConcurrencyAlarmThreshold ?? d.accountConcurrencyAlarmThreshold,
    domainName: opt(props.domain?.domainName)?.toLowerCase(),
    certificateArn: opt(props.domain?.certificateArn),
    hostedZoneId: opt(props.domain?.hostedZoneId),
    hostedZoneName: opt(props.domain?.hostedZoneName)?.toLowerCase().replace(/\.$/, ''),
  };
}

/** The context keys' prop paths, so a bad prop is reported by the name the team wrote. */
const PROP_PATHS: Partial<Record<ContextKey, string>> = {
  cacheMode: 'cache.mode',
  cacheEngine: 'cache.engine',
  cacheNodeType: 'cache.nodeType',
  cacheReplicas: 'cache.replicas',
  cacheShards: 'cache.shards',
  serverlessMaxStorageGb: 'cache.serverlessMaxStorageGb',
  cacheKeyPrefix: 'cache.keyPrefix',
  databaseMode: 'database.mode',
  auroraMinAcu: 'database.auroraMinAcu',
  auroraMaxAcu: 'database.auroraMaxAcu',
  auroraReaders: 'database.auroraReaders',
  dbInstanceType: 'database.instanceType',
  dbAllocatedStorageGb: 'database.allocatedStorageGb',
  llmProvider: 'model.provider',
  bedrockModelId: 'model.bedrockModelId',
  openaiBaseUrl: 'model.openaiBaseUrl',
  openaiModel: 'model.openaiModel',
  openaiApiKeySecretArn: 'model.openaiApiKeySecretArn',
  userPoolId: 'auth.userPoolId',
  selfSignUp: 'auth.selfSignUp',
  sesFromAddress: 'auth.sesFromAddress',
  sesIdentityArn: 'auth.sesIdentityArn',
  apiScope: 'auth.apiScope',
  authMode: 'auth.mode',
  oidcIssuer: 'auth.issuer',
  oidcAudience: 'auth.audience',
  oidcJwksUri: 'auth.jwksUri',
  oidcRequiredScopes: 'auth.requiredScopes',
  authorizerCacheTtl: 'auth.cacheTtlSeconds',
  userTurnLimit: 'limits.userTurnLimit',
  userTurnWindowSeconds: 'limits.userTurnWindowSeconds',
  maxConversationMessages: 'limits.maxConversationMessages',
  maxConversationBytes: 'limits.maxConversationBytes',
  throttleRateLimit: 'limits.throttleRateLimit',
  throttleBurstLimit: 'limits.throttleBurstLimit',
  streamingConcurrency: 'limits.streamingConcurrency',
  deletedRetentionDays: 'limits.deletedRetentionDays',
  searchTextConfig: 'search.textConfig',
  maxSharesPerUser: 'shares.maxPerUser',
  shareUrlBase: 'shares.urlBase',
  wafRateLimit: 'waf',
  domainName: 'domain.domainName',
  certificateArn: 'domain.certificateArn',
  hostedZoneId: 'domain.hostedZoneId',
  hostedZoneName: 'domain.hostedZoneName',
};

/** Validates props with the context's rules; each message names the context knob and the prop it maps to. */
export function validateProps(props: ChatbotApiProps = {}): StackConfig {
  const config = configFromProps(props);
  const auth = props.auth as { mode?: unknown } | undefined;
  if (auth !== undefined && auth.mode !== 'cognito' && auth.mode !== 'oidc') {
    throw new Error(`ChatbotApi: "auth.mode" must be 'cognito' or 'oidc'; got ${JSON.stringify(auth.mode)}`);
  }
  try {
    validateStackConfig(config, {
      shown: (key) => JSON.stringify((config as unknown as Record<string, unknown>)[key] ?? ''),
      explicitOrigins: [...(props.allowedOrigins ?? [])],
      notBoolean: () => false,
    });
  } catch (error) {
    const message = (error as Error).message
      .replace(/^Invalid CDK context:/, 'Invalid ChatbotApi props:')
      .replace(/^- "(\w+)"/gm, (_line, key: ContextKey) => (PROP_PATHS[key] ? `- "${PROP_PATHS[key]}" (-c ${key})` : `- "${key}"`));
    throw Object.assign(error as Error, { message });
  }
  return config;
}

/** The `models`/`titleModel` settings as the model-list loader reads them. */
export const modelContext = (model: ChatbotApiModelProps | undefined) => ({
  tryGetContext: (key: string): unknown => (key === 'models' ? model?.models : key === 'titleModel' ? model?.titleModel : undefined),
});

