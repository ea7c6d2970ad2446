import { Annotations, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE, SERVICE_NAME } from '../layer/src/contracts/metrics';
import { REPLICATED_CACHE_INVALIDATION } from '../layer/src/contracts/environment';
import { API_FUNCTIONS, type ApiFunctionName } from '../layer/src/contracts/route-table';
import { Api } from './api';
import { Cache } from './cache';
import { Database } from './database';
import { ApiFirewall } from './firewall';
import { Functions, logicalIdOf } from './functions';
import { loadModelList } from './models';
import { Network } from './network';
import { Observability } from './observability';
import { modelContext, validateProps, type ChatbotApiProps } from './chatbot-api-props';
import type { StackConfig } from './stack-config';
import { WebClient } from './web-client';

export * from './chatbot-api-props';

/**
 * The chat backend as one construct a team's CDK app adds to any stack: VPC (or yours), ElastiCache,
 * RDS PostgreSQL (or Aurora Serverless v2), the Lambda functions on one shared layer, the REST API
 * (`/backend-api` and OpenAI's `/v1`), Cognito, dashboards and alarms, optionally a custom domain,
 * WAF and the hosted web client.
 *
 * ```ts
 * const chat = new ChatbotApi(this, 'Chat', { vpc, allowedOrigins: ['https://chat.example.com'] });
 * new CfnOutput(this, 'ChatUrl', { value: chat.url });
 * ```
 */
export class ChatbotApi extends Construct {
  /** The validated configuration the props resolved to. */
  public readonly config: StackConfig;
  /** The network placement (created or given VPC, and the subnets used). */
  public readonly network: Network;
  public readonly cache: Cache;
  public readonly database: Database;
  /** The Lambda functions and their shared layer (`functions.apiFunctions`, `functions.migrate`, `functions.purgeDeleted`). */
  public readonly functions: Functions;
  /** The REST API construct (`api.restApi`, `api.userPool`, `api.domainName`). */
  public readonly api: Api;
  public readonly observability: Observability;
  /** The hosted web client (`webClient: true`). */
  public readonly webClient?: WebClient;
  /** The WAF web ACL on the API stage (`waf`). */
  public readonly firewall?: ApiFirewall;

  constructor(scope: Construct, id: string, props: ChatbotApiProps = {}) {
    super(scope, id);
    const config = (this.config = validateProps(props));
    const stack = Stack.of(this);
    const removalPolicy = config.isProd ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    this.network = new Network(this, 'Network', {
      vpc: props.vpc,
      natGateways: config.natGateways,
      bedrockEndpoint: config.llmProvider === 'bedrock',
      removalPolicy,
    });
    const { vpc } = this.network;
    if (config.llmProvider === 'openai' && !this.network.hasInternetEgress) {
      Annotations.of(this).addWarningV2(
        'chatbot:openaiWithoutNat',
        'llmProvider=openai with natGateways=0: the functions can only reach an OpenAI-compatible endpoint inside the VPC. Set -c natGateways=1 for a public endpoint.',
      );
    }

    this.cache = new Cache(this, 'Cache', {
      vpc,
      subnets: this.network.dataSubnets,
      mode: config.cacheMode,
      engine: config.cacheEngine,
      nodeType: config.cacheNodeType,
      replicas: config.cacheReplicas,
      shards: config.cacheShards,
      serverlessMaxStorageGb: config.serverlessMaxStorageGb,
      removalPolicy: config.isProd ? RemovalPolicy.SNAPSHOT : RemovalPolicy.DESTROY,
    });

    this.database = new Database(this, 'Database', {
      vpc,
      subnets: this.network.dataSubnets,
      mode: config.databaseMode,
      instanceType: config.dbInstanceType,
      allocatedStorageGb: config.dbAllocatedStorageGb,
      minCapacityAcu: config.auroraMinAcu,
      maxCapacityAcu: config.auroraMaxAcu,
      readers: config.auroraReaders,
      multiAz: config.isProd,
      deletionProtection: config.isProd,
      // Replaced (a databaseMode switch) or removed, the database leaves a final snapshot in every stage.
      removalPolicy: RemovalPolicy.SNAPSHOT,
      secretsRemovalPolicy: removalPolicy,
    });

    // The page's origin must be allowed before the API exists; '*' already admits it. On prod with no
    // allowedOrigins set (stack-config allows that only with the web client), it is the only origin.
    this.webClient = config.webClient ? new WebClient(this, 'WebClient', { removalPolicy }) : undefined;
    const allowedOrigins =
      this.webClient && !config.allowedOrigins.includes('*') ? [...config.allowedOrigins, this.webClient.origin] : config.allowedOrigins;
    if (allowedOrigins.length === 0) throw new Error('ChatbotApi: no CORS origin; set allowedOrigins (or webClient=true)');
    const shareUrlBase = config.shareUrlBase ?? this.webClient?.origin;

    // The models clients may pick (context `models`): their env for the functions, IAM for exactly them.
    const modelList = loadModelList(modelContext(props.model), config);
    const openaiKey = config.openaiApiKeySecretArn
      ? secretsmanager.Secret.fromSecretCompleteArn(this, 'OpenAiApiKey', config.openaiApiKeySecretArn)
      : undefined;
    this.functions = new Functions(this, 'Functions', {
      vpc,
      subnets: this.network.functionSubnets,
      internetEgress: this.network.hasInternetEgress,
      removalPolicy,
      // How long a connect may take depends on the database mode (a paused Aurora writer takes ~15 s to resume).
      requestConnectTimeout: this.database.connectWait.request,
      jobConnectTimeout: this.database.connectWait.job,
      streamingReservedConcurrency: config.streamingConcurrency,
      environment: {
        POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        // DATABASE_SECRET_ARN and REDIS_AUTH_SECRET_ARN are set per function below, with the grant to read them.
        DATABASE_HOST: this.database.endpointHost,
        DATABASE_PORT: String(this.database.endpointPort),
        DATABASE_NAME: this.database.databaseName,
        DATABASE_SSL: 'true',
        // Aurora presents a certificate from the RDS CA, which the Lambda Node.js runtime ships but does not load by default.
        ...(this.database.presentsRdsCertificate ? { NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem' } : {}),
      },
      apiEnvironment: {
        REDIS_HOST: this.cache.endpointHost,
        REDIS_PORT: String(this.cache.endpointPort),
        REDIS_TLS: 'true',
        REDIS_CLUSTER_MODE: String(this.cache.clusterMode),
        // With replicas, invalidations are confirmed by one (WAIT) and deleted again until one is, so a failover cannot lose them.
        ...(this.cache.replicas > 0 ? REPLICATED_CACHE_INVALIDATION : {}),
        ALLOWED_ORIGINS: allowedOrigins.join(','),
        ...(config.cacheKeyPrefix ? { CACHE_KEY_PREFIX: config.cacheKeyPrefix } : {}),
        USER_TURN_LIMIT: String(config.userTurnLimit),
        USER_TURN_WINDOW_SECONDS: String(config.userTurnWindowSeconds),
        MAX_CONVERSATION_MESSAGES: String(config.maxConversationMessages),
        MAX_CONVERSATION_BYTES: String(config.maxConversationBytes),
        SHARE_MAX_PER_USER: String(config.maxSharesPerUser),
        // A share page lives on the web client: API clients without an Origin (SDKs) still get a link that opens.
        ...(shareUrlBase ? { SHARE_URL_BASE: shareUrlBase } : {}),
      },
      modelEnvironment: {
        LLM_PROVIDER: config.llmProvider,
        ...(config.llmProvider === 'bedrock' ? { BEDROCK_MODEL_ID: config.bedrockModelId } : {}),
        ...(config.openaiBaseUrl ? { OPENAI_BASE_URL: config.openaiBaseUrl } : {}),
        ...(config.openaiModel ? { OPENAI_MODEL: config.openaiModel } : {}),
        ...(openaiKey ? { OPENAI_API_KEY_SECRET_ARN: openaiKey.secretArn } : {}),
      },
      modelSecrets: openaiKey ? [openaiKey] : [],
      deletedRetentionDays: config.deletedRetentionDays,
      searchTextConfig: config.searchTextConfig,
      authorizerEnvironment:
        config.authMode === 'oidc'
          ? {
              POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
              POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
              OIDC_ISSUER: config.oidcIssuer,
              OIDC_AUDIENCE: config.oidcAudience,
              ...(config.oidcJwksUri ? { OIDC_JWKS_URL: config.oidcJwksUri } : {}),
              ...(config.oidcRequiredScopes.length > 0 ? { OIDC_REQUIRED_SCOPES: config.oidcRequiredScopes.join(',') } : {}),
            }
          : undefined,
      bedrockModelArns: modelList.bedrockModelArns(stack.partition, stack.region, stack.account),
    });
    modelList.addTo(this.functions.apiFunctions);

    // Each function is told about, and may read, only the secrets it uses: the API handlers the app role's
    // and the cache token; the purge job the app role's (it touches no cache key); migrate the master
    // credentials, and the app role's to give that role its first login.
    for (const fn of [...this.functions.apiHandlers, this.functions.purgeDeleted]) {
      this.database.grantConnect(fn);
      fn.addEnvironment('DATABASE_SECRET_ARN', this.database.appSecret.secretArn);
    }
    for (const handler of this.functions.apiHandlers) {
      this.cache.grantReadAuthToken(handler);
      handler.addEnvironment('REDIS_AUTH_SECRET_ARN', this.cache.authSecret.secretArn);
    }
    this.database.grantMigrate(this.functions.migrate);
    this.functions.migrate.addEnvironment('DATABASE_SECRET_ARN', this.database.masterSecret.secretArn);
    this.functions.migrate.addEnvironment('APP_DATABASE_SECRET_ARN', this.database.appSecret.secretArn);

    // The functions' security group starts with no egress; open exactly what they use.
    this.functions.connections.allowTo(this.cache, ec2.Port.tcp(this.cache.endpointPort), 'Functions to the cache');
    this.functions.connections.allowTo(this.database, ec2.Port.tcp(this.database.endpointPort), 'Functions to the database (RDS Proxy or Aurora)');
    if (this.network.existing && !this.network.hasInternetEgress) {
      // A given VPC without NAT: its interface endpoints (Secrets Manager, Bedrock, Logs) are somewhere in it.
      this.functions.connections.allowTo(ec2.Peer.ipv4(vpc.vpcCidrBlock), ec2.Port.tcp(443), 'Functions to the VPC endpoints');
    }
    for (const endpoint of this.network.endpoints) {
      this.functions.connections.allowTo(endpoint, ec2.Port.tcp(443), 'Functions to a VPC endpoint');
    }
    // Migrations need the proxy, its secrets, the endpoint and the rules above in place; the app secret's
    // first rotation test logs in as the role the migration gives a login, so it waits for the migration.
    this.functions.migrationTrigger.executeAfter(this.network, ...this.database.clientDependencies, this.functions.securityGroup);
    this.database.rotateAppSecretAfter(this.functions.migrationTrigger);

    this.api = new Api(this, 'Api', {
      functions: this.functions.apiFunctions,
      oidcAuthorizer: this.functions.authorizer && { handler: this.functions.authorizer, resultsCacheTtl: Duration.seconds(config.authorizerCacheTtl) },
      stageName: config.stage,
      allowedOrigins,
      userPoolId: config.userPoolId,
      selfSignUp: config.selfSignUp,
      sesFromAddress: config.sesFromAddress,
      sesIdentityArn: config.sesIdentityArn,
      apiScope: config.apiScope,
      throttleRateLimit: config.throttleRateLimit,
      throttleBurstLimit: config.throttleBurstLimit,
      removalPolicy,
      domain: config.domainName
        ? {
            domainName: config.domainName,
            certificate: acm.Certificate.fromCertificateArn(this, 'Certificate', config.certificateArn!),
            hostedZone:
              config.hostedZoneId && config.hostedZoneName
                ? route53.HostedZone.fromHostedZoneAttributes(this, 'HostedZone', { hostedZoneId: config.hostedZoneId, zoneName: config.hostedZoneName })
                : undefined,
          }
        : undefined,
    });

    this.firewall = config.waf
      ? new ApiFirewall(this, 'Firewall', { stage: this.api.restApi.deploymentStage, requestsPerIp: config.wafRateLimit })
      : undefined;

    this.observability = new Observability(this, 'Observability', {
      cache: this.cache,
      database: this.database,
      restApi: this.api.restApi,
      alarmEmail: config.alarmEmail,
      accountConcurrencyThreshold: config.accountConcurrencyAlarmThreshold,
      firewall: this.firewall,
      functions: {
        ...Object.fromEntries(
          Object.entries(this.functions.apiFunctions).map(([name, fn]) => [
            logicalIdOf(name as ApiFunctionName),
            // A streamed reply lasts as long as the model talks; everything else should answer fast.
            { function: fn, p99DurationThreshold: API_FUNCTIONS[name as ApiFunctionName].streaming ? Duration.seconds(120) : Duration.seconds(2) },
          ]),
        ),
      },
      jobs: {
        PurgeDeleted: { function: this.functions.purgeDeleted, failureQueue: this.functions.purgeFailures, p99DurationThreshold: Duration.minutes(4) },
      },
    });

    if (this.webClient && this.api.userPool) {
      this.webClient.connect({
        // With a custom domain the page talks to it: its config.json and its CSP name the domain.
        url: config.domainName ? `https://${config.domainName}/` : this.api.restApi.url,
        origin: config.domainName ? `https://${config.domainName}` : `https://${this.api.restApi.restApiId}.execute-api.${stack.region}.${stack.urlSuffix}`,
        userPool: this.api.userPool,
        apiScope: config.apiScope ? cognito.OAuthScope.custom(config.apiScope) : undefined,
      });
    }
  }

  /** Base URL of the backend API (`…/backend-api`), on the custom domain when there is one. */
  public get url(): string {
    return this.api.backendApiUrl;
  }

  /** Base URL of OpenAI's API (`…/v1`) for OpenAI SDKs and frontends. */
  public get openAiUrl(): string {
    return this.api.openAiApiUrl;
  }

  /** The topic every alarm notifies: subscribe your on-call to it. */
  public get alarmTopic(): sns.ITopic {
    return this.observability.alarmTopic;
  }

  /** Every API function, by route-table name (e.g. `post-conversation`). */
  public get apiFunctions(): Readonly<Record<ApiFunctionName, lambda.Function>> {
    return this.functions.apiFunctions;
  }

  /**
   * Lets `grantee` (e.g. a team's own reporting function, placed in {@link network}'s function subnets and
   * allowed to the database's port) connect to the database as the API's app role: its secret, read-only IAM.
   */
  public grantDatabaseConnect(grantee: iam.IGrantable): iam.Grant {
    return this.database.grantConnect(grantee);
  }

  /** The stage's 5XX errors (API Gateway's `5XXError`), summed. */
  public metricServerErrors(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.api.restApi.metricServerError({ statistic: 'Sum', ...props });
  }

  /** The stage's request count. */
  public metricRequests(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.api.restApi.metricCount({ statistic: 'Sum', ...props });
  }

  /** The stage's latency (API Gateway's `Latency`), p99 unless told. */
  public metricLatency(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.api.restApi.metricLatency({ statistic: 'p99', ...props });
  }
}
