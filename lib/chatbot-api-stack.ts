import { CfnOutput, Stack, Token, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { Construct } from 'constructs';
import type { Api } from './api';
import type { Cache } from './cache';
import { ChatbotApi, type ChatbotApiProps } from './chatbot-api';
import type { Database } from './database';
import type { ApiFirewall } from './firewall';
import type { Functions } from './functions';
import type { Network } from './network';
import type { Observability } from './observability';
import { loadStackConfig, StackConfigError, type StackConfig } from './stack-config';
import type { WebClient } from './web-client';

/** Props for {@link ChatbotApiStack}. */
export interface ChatbotApiStackProps extends StackProps {
  /** The tunables. @default - parsed from CDK context (`cdk.json`, `-c key=value`) */
  readonly config?: StackConfig;
}

/**
 * Maps the validated context onto {@link ChatbotApiProps}: the repository's app is a team's app
 * with its settings on the command line. `vpc` is the looked-up VPC of `-c vpcId`, if any.
 */
export function propsFromConfig(config: StackConfig, extra: { readonly vpc?: ec2.IVpc; readonly models?: unknown; readonly titleModel?: unknown } = {}): ChatbotApiProps {
  const models = typeof extra.models === 'string' ? JSON.parse(extra.models) : extra.models;
  return {
    stage: config.stage,
    vpc: extra.vpc,
    natGateways: config.natGateways,
    auth:
      config.authMode === 'oidc'
        ? {
            mode: 'oidc',
            issuer: config.oidcIssuer!,
            audience: config.oidcAudience!,
            jwksUri: config.oidcJwksUri,
            requiredScopes: config.oidcRequiredScopes,
            cacheTtlSeconds: config.authorizerCacheTtl,
          }
        : {
            mode: 'cognito',
            userPoolId: config.userPoolId,
            selfSignUp: config.selfSignUp,
            sesFromAddress: config.sesFromAddress,
            sesIdentityArn: config.sesIdentityArn,
            apiScope: config.apiScope,
          },
    cache: {
      mode: config.cacheMode,
      engine: config.cacheEngine,
      nodeType: config.cacheNodeType,
      replicas: config.cacheReplicas,
      shards: config.cacheShards,
      serverlessMaxStorageGb: config.serverlessMaxStorageGb,
      keyPrefix: config.cacheKeyPrefix,
    },
    database: {
      mode: config.databaseMode,
      instanceType: config.dbInstanceType,
      allocatedStorageGb: config.dbAllocatedStorageGb,
      auroraMinAcu: config.auroraMinAcu,
      auroraMaxAcu: config.auroraMaxAcu,
      auroraReaders: config.auroraReaders,
    },
    model: {
      provider: config.llmProvider,
      bedrockModelId: config.bedrockModelId,
      openaiBaseUrl: config.openaiBaseUrl,
      openaiModel: config.openaiModel,
      openaiApiKeySecretArn: config.openaiApiKeySecretArn,
      models,
      titleModel: extra.titleModel === undefined || extra.titleModel === '' ? undefined : String(extra.titleModel),
    },
    allowedOrigins: config.allowedOrigins,
    webClient: config.webClient,
    domain: config.domainName
      ? { domainName: config.domainName, certificateArn: config.certificateArn!, hostedZoneId: config.hostedZoneId, hostedZoneName: config.hostedZoneName }
      : undefined,
    limits: {
      userTurnLimit: config.userTurnLimit,
      userTurnWindowSeconds: config.userTurnWindowSeconds,
      maxConversationMessages: config.maxConversationMessages,
      maxConversationBytes: config.maxConversationBytes,
      throttleRateLimit: config.throttleRateLimit,
      throttleBurstLimit: config.throttleBurstLimit,
      streamingConcurrency: config.streamingConcurrency ?? 'none',
      deletedRetentionDays: config.deletedRetentionDays,
    },
    search: { textConfig: config.searchTextConfig },
    shares: { maxPerUser: config.maxSharesPerUser, urlBase: config.shareUrlBase },
    waf: config.waf ? config.wafRateLimit : false,
    alarmEmail: config.alarmEmail,
    accountConcurrencyAlarmThreshold: config.accountConcurrencyAlarmThreshold,
  };
}

/**
 * The repository's deployable stack: {@link ChatbotApi} configured from CDK context, plus the stack
 * outputs. The construct's id is `Default`, which CDK leaves out of logical ids, so the template is
 * the one this stack produced before the construct existed.
 */
export class ChatbotApiStack extends Stack {
  public readonly config: StackConfig;
  /** The construct holding everything. */
  public readonly chatbot: ChatbotApi;
  public readonly network: Network;
  public readonly cache: Cache;
  public readonly database: Database;
  public readonly functions: Functions;
  public readonly api: Api;
  public readonly observability: Observability;
  /** The hosted web client (`-c webClient=true`). */
  public readonly webClient?: WebClient;
  /** The WAF web ACL on the API stage (`-c waf=true`). */
  public readonly firewall?: ApiFirewall;

  constructor(scope: Construct, id: string, props: ChatbotApiStackProps = {}) {
    super(scope, id, props);
    const config = (this.config = props.config ?? loadStackConfig(this.node));

    let vpc: ec2.IVpc | undefined;
    if (config.vpcId) {
      if (Token.isUnresolved(this.account) || Token.isUnresolved(this.region)) {
        throw new StackConfigError(
          `Invalid CDK context:\n- "vpcId" needs the stack's account and Region to look the VPC up (Vpc.fromLookup): run cdk with credentials (CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION), or pass env to the stack; got vpcId=${JSON.stringify(config.vpcId)}`,
        );
      }
      vpc = ec2.Vpc.fromLookup(this, 'ExistingVpc', { vpcId: config.vpcId });
    }

    this.chatbot = new ChatbotApi(this, 'Default', propsFromConfig(config, { vpc, models: this.node.tryGetContext('models'), titleModel: this.node.tryGetContext('titleModel') }));
    ({
      network: this.network,
      cache: this.cache,
      database: this.database,
      functions: this.functions,
      api: this.api,
      observability: this.observability,
      webClient: this.webClient,
      firewall: this.firewall,
    } = this.chatbot);

    if (this.webClient) {
      new CfnOutput(this, 'WebClientUrl', { value: `${this.webClient.origin}/`, description: 'The reference web client' });
    }
    new CfnOutput(this, 'ApiUrl', { value: this.api.backendApiUrl, description: 'Base URL of the backend API' });
    new CfnOutput(this, 'OpenAiBaseUrl', { value: this.api.openAiApiUrl, description: "Base URL of OpenAI's API (/v1) for OpenAI SDKs and frontends" });
    if (this.api.domainTarget) {
      new CfnOutput(this, 'CustomDomainTarget', {
        value: this.api.domainTarget,
        description: `Point ${config.domainName} here (CNAME or alias) unless hostedZoneId made the record`,
      });
    }
    if (this.api.userPool) new CfnOutput(this, 'UserPoolId', { value: this.api.userPool.userPoolId });
    else new CfnOutput(this, 'OidcIssuer', { value: config.oidcIssuer!, description: 'The OpenID Connect issuer whose access tokens the API accepts (authMode=oidc)' });
    if (this.api.userPoolClient) {
      new CfnOutput(this, 'UserPoolClientId', { value: this.api.userPoolClient.userPoolClientId });
    }
    new CfnOutput(this, 'CacheEndpoint', { value: `${this.cache.endpointHost}:${this.cache.endpointPort}` });
    new CfnOutput(this, 'DashboardName', { value: this.observability.dashboard.dashboardName });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.observability.alarmTopic.topicArn, description: 'Every alarm notifies this topic' });
    new CfnOutput(this, 'AlarmSubscription', {
      value: config.alarmEmail ?? 'NONE: no one hears the alarms. Deploy with -c alarmEmail=..., or subscribe to AlarmTopicArn.',
      description: 'Who the alarm topic notifies',
    });
  }
}
