/**
 * Template assertions for production readiness (issue 14) and the scale/cost profiles
 * (issue 15), on the documented `-c` combinations of docs/deploy.md. Each synth also runs
 * cdk-nag (an unacknowledged finding throws), and cfn-lint-clean templates are the job of
 * cfn-lint.test.ts.
 */
import { API_FUNCTIONS, API_ROUTES, isPublicRoute } from '../../layer/src/contracts/route-table';
import { DEFAULT_CONTEXT } from '../../lib/stack-config';
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { ApiFirewall } from '../../lib/firewall';
import { Cache } from '../../lib/cache';
import { APP_DATABASE_USER, Database, defaultMaxConnections, instanceClassMemoryGib } from '../../lib/database';
import { AURORA_PROD_PROFILE, DEV_LOW_COST_PROFILE, PROD_PROFILE, SCALE_PROFILE, WAF_PROFILE } from './support/profiles';
import { removeSynthOutputs, resourcesOfType, synthesize, type CfnResource, type Synthesized, unacknowledgedFindings } from './support/synth';

const ENV = { account: '123456789012', region: 'us-east-1' };
// What `cdk deploy` would look up: the region's AZs, and the AZs each endpoint service is offered in.
const LOOKUPS = {
  'availability-zones:account=123456789012:region=us-east-1': ['us-east-1a', 'us-east-1b', 'us-east-1c'],
  'endpoint-service-availability-zones:account=123456789012:region=us-east-1:serviceName=com.amazonaws.us-east-1.secretsmanager': ['us-east-1a', 'us-east-1b', 'us-east-1c'],
  'endpoint-service-availability-zones:account=123456789012:region=us-east-1:serviceName=com.amazonaws.us-east-1.bedrock-runtime': ['us-east-1b', 'us-east-1c'],
};
let base: Synthesized;
let prod: Synthesized;
let devProfile: Synthesized;
let scale: Synthesized;
let openSignUp: Synthesized;

beforeAll(() => {
  base = synthesize();
  prod = synthesize({ ...PROD_PROFILE, ...(LOOKUPS as unknown as Record<string, string>) }, { env: ENV });
  devProfile = synthesize(DEV_LOW_COST_PROFILE);
  scale = synthesize(SCALE_PROFILE);
  openSignUp = synthesize({ selfSignUp: 'true' });
}, 240_000);

afterAll(() => removeSynthOutputs());

const only = (s: Synthesized, type: string): CfnResource => {
  const found = resourcesOfType(s.json, type);
  expect(found).toHaveLength(1);
  return found[0][1];
};
const byPrefix = (s: Synthesized, prefix: string): [string, CfnResource] => {
  const found = Object.entries(s.json.Resources).find(([id]) => id.startsWith(prefix));
  if (!found) throw new Error(`no resource ${prefix}*`);
  return found;
};
const lambdaFunction = (s: Synthesized, name: string): CfnResource => {
  const found = resourcesOfType(s.json, 'AWS::Lambda::Function').find(([id]) => id.startsWith(`Functions${name}`));
  if (!found) throw new Error(`no function ${name}`);
  return found[1];
};
const API_FUNCTION_IDS = ['GetConversation', 'ListConversations', 'PostConversation', 'UpdateConversation'];
const apiFunctions = (s: Synthesized) => API_FUNCTION_IDS.map((name) => lambdaFunction(s, name));
const migrateFunction = (s: Synthesized) =>
  resourcesOfType(s.json, 'AWS::Lambda::Function').find(([id]) => id.startsWith('FunctionsMigrate'))![1];
/** The secret logical ids a function's role may read. */
const secretsReadBy = (s: Synthesized, functionIdPrefix: string): string[] => {
  const policy = resourcesOfType(s.json, 'AWS::IAM::Policy').find(([id]) => id.startsWith(`${functionIdPrefix}ServiceRoleDefaultPolicy`));
  const statements = (policy?.[1].Properties!.PolicyDocument.Statement ?? []) as Array<{ Action: string | string[]; Resource: unknown }>;
  return statements
    .filter((st) => JSON.stringify(st.Action).includes('secretsmanager:GetSecretValue'))
    .flatMap((st) => [...JSON.stringify(st.Resource).matchAll(/"Ref":"([A-Za-z0-9]+)"/g)].map((match) => match[1]))
    .sort();
};
const alarm = (s: Synthesized, prefix: string) => byPrefix(s, `Observability${prefix}`)[1].Properties!;

describe('first rotation vs. migrations', () => {
  it.each([
    ['instance', () => base],
    ['aurora-serverless', () => devProfile],
  ])('%s: both secrets rotate on schedule, never immediately on create', (_, get) => {
    const schedules = resourcesOfType(get().json, 'AWS::SecretsManager::RotationSchedule').map(([, r]) => r.Properties!);
    expect(schedules).toHaveLength(2);
    for (const schedule of schedules) {
      expect(schedule.RotateImmediatelyOnUpdate).toBe(false);
      expect(schedule.RotationRules.ScheduleExpression).toBe('rate(30 days)');
    }
  });
});

describe('the app secret\'s first rotation test vs. the migration that creates its login', () => {
  it.each([
    ['instance', () => base],
    ['aurora-serverless', () => devProfile],
  ])('%s: the app secret schedule waits for the migration trigger, which waits for the database and both secrets', (_, get) => {
    const s = get();
    const [triggerId, trigger] = resourcesOfType(s.json, 'Custom::Trigger')[0];
    const schedules = resourcesOfType(s.json, 'AWS::SecretsManager::RotationSchedule');
    const appSchedule = schedules.find(([, r]) => JSON.stringify(r.Properties!.SecretId).includes('DatabaseAppSecretAttachment'))!;
    expect(appSchedule[1].DependsOn).toEqual(expect.arrayContaining([triggerId]));
    const masterSchedule = schedules.find(([id]) => id !== appSchedule[0])!;
    expect(masterSchedule[1].DependsOn ?? []).not.toContain(triggerId);
    const [appAttachmentId] = resourcesOfType(s.json, 'AWS::SecretsManager::SecretTargetAttachment').find(([id]) => id.startsWith('DatabaseAppSecretAttachment'))!;
    expect(trigger.DependsOn).toEqual(expect.arrayContaining([appAttachmentId]));
    expect(trigger.DependsOn).not.toContain(appSchedule[0]);
  });
});

describe('network', () => {
  it('the RDS Proxy may reach the Secrets Manager endpoint on 443', () => {
    const [proxySgId] = byPrefix(base, 'DatabaseProxySecurityGroup');
    const egress = resourcesOfType(base.json, 'AWS::EC2::SecurityGroupEgress')
      .map(([, r]) => r.Properties!)
      .concat((base.json.Resources[proxySgId].Properties!.SecurityGroupEgress ?? []).map((rule: object) => ({ ...rule, GroupId: { 'Fn::GetAtt': [proxySgId, 'GroupId'] } })))
      .filter((rule) => JSON.stringify(rule.GroupId).includes(proxySgId));
    expect(egress).toContainEqual(expect.objectContaining({ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, CidrIp: { 'Fn::GetAtt': [expect.stringMatching(/^NetworkVpc/), 'CidrBlock'] } }));
  });

  it('with a concrete account and region, each interface endpoint sits only in AZs that offer its service', () => {
    const subnetAz = (ref: { Ref: string }) => prod.json.Resources[ref.Ref].Properties!.AvailabilityZone;
    const endpoints = Object.fromEntries(
      resourcesOfType(prod.json, 'AWS::EC2::VPCEndpoint').map(([, r]) => [JSON.stringify(r.Properties!.ServiceName).match(/(secretsmanager|bedrock-runtime)/)![1], r.Properties!.SubnetIds.map(subnetAz).sort()]),
    );
    expect(endpoints).toEqual({ secretsmanager: ['us-east-1a', 'us-east-1b'], 'bedrock-runtime': ['us-east-1b'] });
  });

  it('a service offered in none of the VPC AZs fails the synth instead of the deploy', () => {
    const bedrockOnlyElsewhere = {
      ...LOOKUPS,
      'endpoint-service-availability-zones:account=123456789012:region=us-east-1:serviceName=com.amazonaws.us-east-1.bedrock-runtime': ['us-east-1c'],
    };
    expect(() => synthesize(bedrockOnlyElsewhere as unknown as Record<string, string>, { env: ENV })).toThrow(/lookupSupportedAzs returned us-east-1c/);
  });
});

describe('retention', () => {
  it('stage=prod keeps the database and the cache as snapshots and every secret', () => {
    expect(only(prod, 'AWS::ElastiCache::ReplicationGroup')).toMatchObject({ DeletionPolicy: 'Snapshot', UpdateReplacePolicy: 'Snapshot' });
    expect(only(prod, 'AWS::RDS::DBInstance')).toMatchObject({ DeletionPolicy: 'Snapshot' });
    const secrets = resourcesOfType(prod.json, 'AWS::SecretsManager::Secret');
    expect(secrets).toHaveLength(3);
    for (const [, secret] of secrets) expect(secret.DeletionPolicy).toBe('Retain');
  });

  it('a dev stack is disposable: cache and secrets are deleted with it, the database after a final snapshot', () => {
    expect(only(base, 'AWS::ElastiCache::ReplicationGroup').DeletionPolicy).toBe('Delete');
    expect(only(base, 'AWS::RDS::DBInstance')).toMatchObject({ DeletionPolicy: 'Snapshot', UpdateReplacePolicy: 'Snapshot' });
    for (const [, secret] of resourcesOfType(base.json, 'AWS::SecretsManager::Secret')) expect(secret.DeletionPolicy).toBe('Delete');
  });

  it('the account-wide API Gateway CloudWatch role setting outlives any stack, dev included', () => {
    for (const s of [base, prod]) {
      const account = only(s, 'AWS::ApiGateway::Account');
      expect(account.DeletionPolicy).toBe('Retain');
      const roleId = account.Properties!.CloudWatchRoleArn['Fn::GetAtt'][0];
      expect(s.json.Resources[roleId].DeletionPolicy).toBe('Retain');
    }
  });

  it('a serverless cache on prod is deleted after a final snapshot, never kept (the Snapshot policy does not cover it)', () => {
    const prodServerless = synthesize({ ...PROD_PROFILE, cacheMode: 'serverless' });
    const cache = only(prodServerless, 'AWS::ElastiCache::ServerlessCache');
    expect(cache.DeletionPolicy).toBe('Delete');
    expect(cache.Properties!.FinalSnapshotName).toBeDefined();
  });
});

describe('least privilege', () => {
  it('the API functions read the app role secret and the cache token, never the master secret', () => {
    for (const name of API_FUNCTION_IDS) {
      const read = secretsReadBy(base, `Functions${name}`);
      expect(read).toHaveLength(2);
      expect(read[0]).toMatch(/^CacheAuthToken/);
      expect(read[1]).toMatch(/^DatabaseAppSecretAttachment/);
    }
  });

  it('the purge job reads the app role secret only', () => {
    const read = secretsReadBy(base, 'FunctionsPurgeDeleted');
    expect(read).toHaveLength(1);
    expect(read[0]).toMatch(/^DatabaseAppSecretAttachment/);
  });

  it('migrate reads the master secret (and the app role secret, to set its first login), not the cache token', () => {
    const read = secretsReadBy(base, 'FunctionsMigrate');
    expect(read).toHaveLength(2);
    expect(read[0]).toMatch(/^DatabaseAppSecretAttachment/);
    expect(read[1]).toMatch(/^DatabaseInstanceSecretAttachment/);
  });

  it('the functions log in as the app role; the proxy holds both users; migrate uses the master', () => {
    for (const fn of apiFunctions(base)) {
      expect(fn.Properties!.Environment.Variables.DATABASE_SECRET_ARN).toEqual({ Ref: expect.stringMatching(/^DatabaseAppSecretAttachment/) });
    }
    const migrateEnv = migrateFunction(base).Properties!.Environment.Variables;
    expect(migrateEnv.DATABASE_SECRET_ARN).toEqual({ Ref: expect.stringMatching(/^DatabaseInstanceSecretAttachment/) });
    expect(migrateEnv.APP_DATABASE_SECRET_ARN).toEqual({ Ref: expect.stringMatching(/^DatabaseAppSecretAttachment/) });
    const purgeEnv = lambdaFunction(base, 'PurgeDeleted').Properties!.Environment.Variables;
    expect(purgeEnv.DATABASE_SECRET_ARN).toEqual({ Ref: expect.stringMatching(/^DatabaseAppSecretAttachment/) });
    // Told only of the secrets they may read.
    expect(migrateEnv.REDIS_AUTH_SECRET_ARN).toBeUndefined();
    expect(purgeEnv.REDIS_AUTH_SECRET_ARN).toBeUndefined();
    const auth = only(base, 'AWS::RDS::DBProxy').Properties!.Auth.map((a: { SecretArn: { Ref: string } }) => a.SecretArn.Ref.replace(/[0-9A-F]{8}$/, ''));
    expect(auth.sort()).toEqual(['DatabaseAppSecretAttachment', 'DatabaseInstanceSecretAttachment']);
    const appSecret = byPrefix(base, 'DatabaseAppSecret')[1];
    expect(appSecret.Properties!.GenerateSecretString.SecretStringTemplate).toBe(JSON.stringify({ username: APP_DATABASE_USER, dbname: 'chatbot' }));
  });
});

describe('who may call', () => {
  it('self sign-up is off unless -c selfSignUp=true', () => {
    expect(only(base, 'AWS::Cognito::UserPool').Properties!.AdminCreateUserConfig.AllowAdminCreateUserOnly).toBe(true);
    expect(only(openSignUp, 'AWS::Cognito::UserPool').Properties!.AdminCreateUserConfig.AllowAdminCreateUserOnly).toBe(false);
  });

  it('methods take access tokens: the resource server scope or the scope of Cognito sign-ins, never an ID token', () => {
    const server = only(base, 'AWS::Cognito::UserPoolResourceServer').Properties!;
    expect(server).toMatchObject({ Identifier: 'chatbot-api', Scopes: [expect.objectContaining({ ScopeName: 'conversations' })] });
    // Every method but the preflights and the route table's public routes (a share link's read).
    const guarded = resourcesOfType(base.json, 'AWS::ApiGateway::Method').map(([, m]) => m.Properties!).filter((m) => m.HttpMethod !== 'OPTIONS' && m.AuthorizationType !== 'NONE');
    expect(guarded).toHaveLength(API_ROUTES.filter((route) => !isPublicRoute(route)).length);
    for (const method of guarded) {
      expect(method.AuthorizationType).toBe('COGNITO_USER_POOLS');
      expect(method.AuthorizationScopes).toEqual(['chatbot-api/conversations', 'aws.cognito.signin.user.admin']);
    }
  });

  it('the app client allows SRP and IAM-gated admin password sign-in, not plain password sign-in, and no OAuth', () => {
    const client = only(base, 'AWS::Cognito::UserPoolClient').Properties!;
    expect(client.ExplicitAuthFlows.sort()).toEqual(['ALLOW_ADMIN_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH', 'ALLOW_USER_SRP_AUTH']);
    expect(client.AllowedOAuthFlowsUserPoolClient).toBe(false);
    expect(client.AllowedOAuthFlows).toBeUndefined();
    expect(client.CallbackURLs).toBeUndefined();
  });
});

describe('functions', () => {
  it('default to an Active Bedrock model through the US inference profile', () => {
    expect(DEFAULT_CONTEXT.bedrockModelId).toBe('us.anthropic.claude-haiku-4-5-20251001-v1:0');
    const post = lambdaFunction(base, 'PostConversation');
    expect(post.Properties!.Environment.Variables.BEDROCK_MODEL_ID).toBe('us.anthropic.claude-haiku-4-5-20251001-v1:0');
  });

  it('get the per-user turn limit, the conversation size cap, the share cap and link base, and search\'s text configuration from context', () => {
    for (const fn of apiFunctions(base)) {
      expect(fn.Properties!.Environment.Variables).toMatchObject({ USER_TURN_LIMIT: '60', USER_TURN_WINDOW_SECONDS: '3600', MAX_CONVERSATION_MESSAGES: '1000', MAX_CONVERSATION_BYTES: '3145728', SHARE_MAX_PER_USER: '1000' });
      expect(fn.Properties!.Environment.Variables).not.toHaveProperty('SHARE_URL_BASE');
    }
    // The default leaves migrate's environment (hence its version, hence the deploy-time run) as it was.
    expect(migrateFunction(base).Properties!.Environment.Variables).not.toHaveProperty('SEARCH_TEXT_CONFIG');
    const tuned = synthesize({
      userTurnLimit: '0',
      userTurnWindowSeconds: '60',
      maxConversationMessages: '50',
      maxConversationBytes: '65536',
      maxSharesPerUser: '25',
      shareUrlBase: 'https://chat.example.com',
      searchTextConfig: 'english',
    });
    for (const fn of apiFunctions(tuned)) {
      expect(fn.Properties!.Environment.Variables).toMatchObject({
        USER_TURN_LIMIT: '0',
        USER_TURN_WINDOW_SECONDS: '60',
        MAX_CONVERSATION_MESSAGES: '50',
        MAX_CONVERSATION_BYTES: '65536',
        SHARE_MAX_PER_USER: '25',
        SHARE_URL_BASE: 'https://chat.example.com',
      });
    }
    // Only migrate applies it (queries read it from the database): a change re-versions migrate, so the deploy re-runs it.
    expect(migrateFunction(tuned).Properties!.Environment.Variables.SEARCH_TEXT_CONFIG).toBe('english');
    expect(apiFunctions(tuned).filter((fn) => fn.Properties!.Environment.Variables.SEARCH_TEXT_CONFIG)).toEqual([]);
  });
});

describe('alarms', () => {
  it('database connections alarm at 70% of the default max_connections of the instance class', () => {
    expect(defaultMaxConnections(instanceClassMemoryGib('t4g.micro'))).toBe(112);
    expect(alarm(base, 'DatabaseConnectionsAlarm')).toMatchObject({ Threshold: 78, ComparisonOperator: 'GreaterThanOrEqualToThreshold', MetricName: 'DatabaseConnections' });
    const big = synthesize({ dbInstanceType: 'r7g.large' });
    expect(instanceClassMemoryGib('r7g.large')).toBe(16);
    expect(alarm(big, 'DatabaseConnectionsAlarm').Threshold).toBe(Math.floor(defaultMaxConnections(16) * 0.7));
  });

  it('free storage alarms below 10% of the allocated storage', () => {
    expect(alarm(base, 'DatabaseFreeStorageAlarm')).toMatchObject({
      MetricName: 'FreeStorageSpace',
      Threshold: 2 * 1024 ** 3,
      ComparisonOperator: 'LessThanThreshold',
      Statistic: 'Minimum',
    });
  });

  it('turns served without the per-user limit for 15 minutes (Redis down) page', () => {
    expect(alarm(base, 'TurnLimitBypassedAlarm')).toMatchObject({
      MetricName: 'TurnLimitBypassed',
      Namespace: 'ChatbotApi',
      Threshold: 0,
      EvaluationPeriods: 3,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });

  it('a single throttle does not page: more than 5 in 2 of 3 five-minute periods does', () => {
    const throttles = Object.entries(base.json.Resources).filter(([id]) => /^Observability\w+ThrottlesAlarm/.test(id)).map(([, r]) => r.Properties!);
    expect(throttles).toHaveLength(Object.keys(API_FUNCTIONS).length); // every API function; a failed purge run has its own alarm
    for (const props of throttles) {
      expect(props).toMatchObject({ Threshold: 5, EvaluationPeriods: 3, DatapointsToAlarm: 2, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
    }
  });
});

describe('cache shards', () => {
  it('cacheShards=3 deploys a cluster-mode-enabled group of 3 shards with TLS, AUTH and cacheReplicas per shard', () => {
    const group = only(scale, 'AWS::ElastiCache::ReplicationGroup').Properties!;
    expect(group).toMatchObject({
      ClusterMode: 'enabled',
      NumNodeGroups: 3,
      ReplicasPerNodeGroup: 1,
      CacheParameterGroupName: 'default.valkey8.cluster.on',
      CacheNodeType: 'cache.r7g.large',
      AutomaticFailoverEnabled: true,
      TransitEncryptionEnabled: true,
      TransitEncryptionMode: 'required',
      AtRestEncryptionEnabled: true,
    });
    expect(group.NumCacheClusters).toBeUndefined();
    expect(JSON.stringify(group.AuthToken)).toContain('{{resolve:secretsmanager:');
  });

  it('the functions speak the cluster protocol to the configuration endpoint', () => {
    const [groupId] = resourcesOfType(scale.json, 'AWS::ElastiCache::ReplicationGroup')[0];
    for (const fn of apiFunctions(scale)) {
      expect(fn.Properties!.Environment.Variables).toMatchObject({
        REDIS_CLUSTER_MODE: 'true',
        REDIS_TLS: 'true',
        REDIS_HOST: { 'Fn::GetAtt': [groupId, 'ConfigurationEndPoint.Address'] },
      });
    }
  });

  it('cache alarms stay within the 10-metric limit of alarm metric math and name cluster-mode node ids', () => {
    const memory = alarm(scale, 'CacheMemoryAlarm');
    const metrics = memory.Metrics.filter((m: { MetricStat?: unknown }) => m.MetricStat);
    expect(metrics).toHaveLength(6);
    expect(JSON.stringify(metrics[0].MetricStat.Metric.Dimensions)).toContain('-0001-001');
    const wide = synthesize({ cacheShards: '12', cacheReplicas: '2' });
    expect(alarm(wide, 'CacheMemoryAlarm').Metrics.filter((m: { MetricStat?: unknown }) => m.MetricStat)).toHaveLength(10);
  });

  it('rejects a bad shard count at synth, naming the key', () => {
    expect(() => synthesize({ cacheShards: '0' })).toThrow(/"cacheShards" must be an integer from 1 to 500; got "0"/);
    expect(() => synthesize({ cacheShards: '2', cacheMode: 'serverless' })).toThrow(/"cacheShards" applies to cacheMode=replication-group/);
  });
});

describe('Aurora Serverless v2', () => {
  it('databaseMode=aurora-serverless: an Aurora PostgreSQL cluster scaling to zero, a db.serverless writer, no proxy', () => {
    const cluster = only(devProfile, 'AWS::RDS::DBCluster');
    expect(cluster.Properties).toMatchObject({
      Engine: 'aurora-postgresql',
      ServerlessV2ScalingConfiguration: { MinCapacity: 0, MaxCapacity: 4, SecondsUntilAutoPause: 300 },
      StorageEncrypted: true,
      DatabaseName: 'chatbot',
    });
    // Even on dev, replacing or removing the cluster leaves a final snapshot.
    expect(cluster).toMatchObject({ DeletionPolicy: 'Snapshot', UpdateReplacePolicy: 'Snapshot' });
    const instances = resourcesOfType(devProfile.json, 'AWS::RDS::DBInstance').map(([, r]) => r.Properties!);
    expect(instances).toHaveLength(1);
    expect(instances[0].DBInstanceClass).toBe('db.serverless');
    expect(resourcesOfType(devProfile.json, 'AWS::RDS::DBProxy')).toHaveLength(0);
    const parameters = only(devProfile, 'AWS::RDS::DBClusterParameterGroup').Properties!.Parameters;
    expect(parameters).toEqual({ 'rds.force_ssl': '1' });
  });

  it('the functions connect to the writer endpoint over TLS, trusting the RDS CA the runtime ships', () => {
    const [clusterId] = resourcesOfType(devProfile.json, 'AWS::RDS::DBCluster')[0];
    for (const fn of apiFunctions(devProfile)) {
      expect(fn.Properties!.Environment.Variables).toMatchObject({
        DATABASE_HOST: { 'Fn::GetAtt': [clusterId, 'Endpoint.Address'] },
        DATABASE_PORT: '5433',
        DATABASE_SSL: 'true',
        NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem',
      });
    }
    for (const fn of apiFunctions(base)) expect(fn.Properties!.Environment.Variables.NODE_EXTRA_CA_CERTS).toBeUndefined();
  });

  it('migrations run after the cluster and its writer exist', () => {
    const [, trigger] = resourcesOfType(devProfile.json, 'Custom::Trigger')[0];
    const [writerId] = resourcesOfType(devProfile.json, 'AWS::RDS::DBInstance')[0];
    expect(trigger.DependsOn).toEqual(expect.arrayContaining([writerId]));
  });

  it('alarms watch ACU headroom and connections near the max-ACU max_connections; no storage alarm (Aurora storage grows)', () => {
    expect(alarm(devProfile, 'DatabaseCapacityAlarm')).toMatchObject({ MetricName: 'ACUUtilization', Threshold: 90 });
    expect(alarm(devProfile, 'DatabaseConnectionsAlarm').Threshold).toBe(Math.floor(defaultMaxConnections(8) * 0.7));
    expect(Object.keys(devProfile.json.Resources).some((id) => id.startsWith('ObservabilityDatabaseFreeStorageAlarm'))).toBe(false);
  });

  it('the production scale profile: a reader that scales with the writer, deletion protection, a final snapshot', () => {
    const cluster = only(scale, 'AWS::RDS::DBCluster');
    expect(cluster.DeletionPolicy).toBe('Snapshot');
    expect(cluster.Properties).toMatchObject({ DeletionProtection: true, ServerlessV2ScalingConfiguration: { MinCapacity: 2, MaxCapacity: 32 } });
    expect(cluster.Properties!.ServerlessV2ScalingConfiguration.SecondsUntilAutoPause).toBeUndefined();
    const instances = resourcesOfType(scale.json, 'AWS::RDS::DBInstance').map(([, r]) => r.Properties!);
    expect(instances).toHaveLength(2);
    expect(instances.every((i) => i.DBInstanceClass === 'db.serverless')).toBe(true);
    expect(instances.map((i) => i.PromotionTier).sort()).toEqual([0, 1]);
  });

  it('rejects bad capacity settings at synth, naming the key', () => {
    expect(() => synthesize({ databaseMode: 'aurora' })).toThrow(/"databaseMode" must be one of instance, aurora-serverless; got "aurora"/);
    expect(() => synthesize({ auroraMinAcu: '0.3' })).toThrow(/"auroraMinAcu" must be 0 to 256 in steps of 0.5; got "0.3"/);
    expect(() => synthesize({ auroraMinAcu: '8', auroraMaxAcu: '4' })).toThrow(/"auroraMaxAcu" .*at least auroraMinAcu; got "4"/);
  });
});

describe('the constructs check their own props', () => {
  const inBareStack = () => {
    const stack = new Stack(new App(), 'Bare');
    return { stack, vpc: new ec2.Vpc(stack, 'Vpc') };
  };
  it('Database names the bad capacity prop and value', () => {
    const { stack, vpc } = inBareStack();
    const subnets = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
    expect(() => new Database(stack, 'A', { vpc, subnets, mode: 'aurora-serverless', minCapacityAcu: 0.3 })).toThrow('minCapacityAcu must be 0 to 256 in steps of 0.5; got 0.3');
    expect(() => new Database(stack, 'B', { vpc, subnets, mode: 'aurora-serverless', minCapacityAcu: 4, maxCapacityAcu: 2 })).toThrow(/maxCapacityAcu .*got 2/);
    expect(() => new Database(stack, 'C', { vpc, subnets, mode: 'aurora-serverless', readers: 16 })).toThrow('readers must be an integer from 0 to 15; got 16');
  });
  it('ApiFirewall names a rate or window AWS WAF does not accept', () => {
    const { stack } = inBareStack();
    const api = new apigw.RestApi(stack, 'Api');
    api.root.addMethod('GET', new apigw.MockIntegration());
    expect(() => new ApiFirewall(stack, 'Low', { stage: api.deploymentStage, requestsPerIp: 5 })).toThrow('requestsPerIp must be an integer from 10 to 2000000000; got 5');
    expect(() => new ApiFirewall(stack, 'Window', { stage: api.deploymentStage, evaluationWindow: Duration.minutes(3) })).toThrow(
      'evaluationWindow must be 1, 2, 5 or 10 minutes; got 180 s',
    );
  });
  it('Cache names the bad shard count', () => {
    const { stack, vpc } = inBareStack();
    expect(() => new Cache(stack, 'Cache', { vpc, subnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }, shards: 501 })).toThrow('shards must be an integer from 1 to 500; got 501');
  });
});

describe('cdk-nag', () => {
  it('reports nothing unacknowledged on every documented profile', () => {
    // The low-cost profile's documented variant without the Bedrock endpoint, and the cheapest node-based cache.
    const offlineModel = synthesize({ ...DEV_LOW_COST_PROFILE, llmProvider: 'local' });
    expect(resourcesOfType(offlineModel.json, 'AWS::EC2::VPCEndpoint')).toHaveLength(1);
    const singleNode = synthesize({ cacheReplicas: '0' });
    const waf = synthesize(WAF_PROFILE);
    const auroraProd = synthesize(AURORA_PROD_PROFILE);
    for (const s of [base, prod, devProfile, scale, openSignUp, offlineModel, singleNode, waf, auroraProd]) {
      expect(unacknowledgedFindings(s)).toEqual([]);
    }
  });
});
