/**
 * What a team meets in its first week in a real account, as template assertions: a paused
 * Aurora writer (connect waits and timeouts per database mode), one client or one burst using up
 * the account's concurrency (reserved concurrency, WAF, an account-level alarm), knob changes
 * that would destroy or orphan data, Cognito's gaps, failures nobody would hear about, and the
 * smaller ones (readers, origins, the web client's security headers).
 */
import { Match, Annotations } from 'aws-cdk-lib/assertions';
import { API_FUNCTIONS, GATEWAY_INTEGRATION_TIMEOUT_SECONDS, type ApiFunctionName } from '../../layer/src/contracts/route-table';
import { logicalIdOf } from '../../lib/functions';
import { PROD_STREAMING_CONCURRENCY } from '../../lib/stack-config';
import { AURORA_PROD_PROFILE, DEV_LOW_COST_PROFILE, PROD_PROFILE, SCALE_PROFILE } from './support/profiles';
import { removeSynthOutputs, resourcesOfType, synthesize, type CfnResource, type Synthesized } from './support/synth';

let base: Synthesized;
let prod: Synthesized;
let auroraDev: Synthesized;
let auroraProd: Synthesized;
let scale: Synthesized;
/** Many optional knobs at once. */
let tuned: Synthesized;
/** The default dev stack with cache and limit settings changed (everything the jobs do not use). */
let cacheRetuned: Synthesized;
/** stage=prod with the hosted web client and no allowedOrigins: the page's origin alone. */
let prodWebOnly: Synthesized;
/** The hosted web client with apiScope. */
let prodWebScoped: Synthesized;

const TUNED = {
  waf: 'true',
  wafRateLimit: '300',
  accountConcurrencyAlarmThreshold: '450',
  streamingConcurrency: '20',
  alarmEmail: 'ops@example.com',
  selfSignUp: 'true',
  sesFromAddress: 'no-reply@example.com',
  sesIdentityArn: 'arn:aws:ses:us-east-1:123456789012:identity/example.com',
  apiScope: 'chatbot-api/conversations',
};

beforeAll(() => {
  base = synthesize();
  prod = synthesize(PROD_PROFILE);
  auroraDev = synthesize(DEV_LOW_COST_PROFILE);
  auroraProd = synthesize({ ...AURORA_PROD_PROFILE, cacheMode: 'serverless' });
  scale = synthesize(SCALE_PROFILE);
  tuned = synthesize(TUNED);
  cacheRetuned = synthesize({ cacheShards: '3', cacheKeyPrefix: 'chat:', userTurnLimit: '10', allowedOrigins: 'https://chat.example.com' });
  prodWebOnly = synthesize({ stage: 'prod', webClient: 'true', sesFromAddress: 'no-reply@example.com' });
  prodWebScoped = synthesize({ webClient: 'true', apiScope: 'chatbot-api/conversations' });
}, 300_000);

afterAll(() => removeSynthOutputs());

const only = (s: Synthesized, type: string): [string, CfnResource] => {
  const found = resourcesOfType(s.json, type);
  expect(found).toHaveLength(1);
  return found[0];
};
const fnByName = (s: Synthesized, logicalName: string): CfnResource => {
  const found = resourcesOfType(s.json, 'AWS::Lambda::Function').find(([id]) => new RegExp(`^Functions${logicalName}[0-9A-F]{8}$`).test(id));
  if (!found) throw new Error(`no function ${logicalName}`);
  return found[1];
};
const API_NAMES = Object.keys(API_FUNCTIONS) as ApiFunctionName[];
const connectWaitMs = (fn: CfnResource): number => Number(fn.Properties!.Environment.Variables.DATABASE_CONNECT_TIMEOUT_MS);
const alarmOf = (s: Synthesized, name: string): CfnResource | undefined =>
  Object.entries(s.json.Resources).find(([id, r]) => r.Type === 'AWS::CloudWatch::Alarm' && new RegExp(`^Observability${name}[0-9A-F]{8}$`).test(id))?.[1];

describe('a paused Aurora writer: connect waits and timeouts per database mode', () => {
  it.each([
    ['instance', () => base, { api: 3_000, job: 10_000 }],
    ['aurora-serverless', () => auroraDev, { api: 20_000, job: 30_000 }],
  ])('%s: every function waits for a connection as long as the mode needs, and outlasts its wait', (_mode, get, expected) => {
    const s = get();
    for (const name of API_NAMES) {
      const fn = fnByName(s, logicalIdOf(name));
      expect({ name, wait: connectWaitMs(fn) }).toEqual({ name, wait: expected.api });
      expect(fn.Properties!.Timeout * 1000).toBeGreaterThan(connectWaitMs(fn));
      if (!API_FUNCTIONS[name].streaming) {
        // The gateway answers 504 at 29 s; a buffered function must have given its answer by then.
        expect(fn.Properties!.Timeout).toBeLessThan(GATEWAY_INTEGRATION_TIMEOUT_SECONDS);
      }
    }
    for (const job of ['Migrate', 'PurgeDeleted']) {
      const fn = fnByName(s, job);
      expect({ job, wait: connectWaitMs(fn) }).toEqual({ job, wait: expected.job });
      expect(fn.Properties!.Timeout * 1000).toBeGreaterThan(connectWaitMs(fn));
    }
  });

  it('Aurora mode gives the 15 s buffered functions time to work after a 20 s connect, still under the gateway timeout', () => {
    for (const name of API_NAMES.filter((candidate) => !API_FUNCTIONS[candidate].streaming)) {
      const fn = fnByName(auroraDev, logicalIdOf(name));
      const workAfterConnect = fn.Properties!.Timeout * 1000 - connectWaitMs(fn);
      expect({ name, workAfterConnect }).toEqual({ name, workAfterConnect: expect.any(Number) });
      expect(workAfterConnect).toBeGreaterThanOrEqual(5_000);
    }
    // Instance mode keeps the route table's timeouts, update-conversation's under the gateway's 29 s.
    expect(fnByName(base, 'GetConversation').Properties!.Timeout).toBe(API_FUNCTIONS['get-conversation'].timeoutSeconds);
    expect(fnByName(base, 'UpdateConversation').Properties!.Timeout).toBe(28);
  });

  it('no buffered integration waits longer than the gateway allows', () => {
    for (const s of [base, auroraDev]) {
      for (const [, method] of resourcesOfType(s.json, 'AWS::ApiGateway::Method')) {
        const integration = method.Properties!.Integration;
        if (!integration || integration.Type !== 'AWS_PROXY' || integration.ResponseTransferMode === 'STREAM') continue;
        expect(integration.TimeoutInMillis ?? GATEWAY_INTEGRATION_TIMEOUT_SECONDS * 1000).toBeLessThanOrEqual(GATEWAY_INTEGRATION_TIMEOUT_SECONDS * 1000);
      }
    }
  });

  it('the migration trigger waits longer than migrate may run, so a deploy never gives up on a running migration', () => {
    for (const s of [base, auroraDev]) {
      const [, trigger] = only(s, 'Custom::Trigger');
      expect(Number(trigger.Properties!.Timeout)).toBeGreaterThan(fnByName(s, 'Migrate').Properties!.Timeout * 1000);
    }
  });

  it('cache, CORS and limit changes leave migrate (hence the deploy-time migration) untouched', () => {
    const variables = (s: Synthesized, name: string) => fnByName(s, name).Properties!.Environment.Variables;
    expect(variables(cacheRetuned, 'GetConversation')).not.toEqual(variables(base, 'GetConversation'));
    for (const job of ['Migrate', 'PurgeDeleted']) {
      expect(Object.keys(variables(base, job)).filter((name) => /^(REDIS_|CACHE_|ALLOWED_ORIGINS|USER_TURN|MAX_CONVERSATION)/.test(name))).toEqual([]);
    }
    expect(only(cacheRetuned, 'Custom::Trigger')[1].Properties!.HandlerArn).toEqual(only(base, 'Custom::Trigger')[1].Properties!.HandlerArn);
  });
});

describe('concurrency: reserved for the streams on prod, a per-IP rate rule, an account alarm', () => {
  const reserved = (s: Synthesized) =>
    Object.fromEntries(API_NAMES.map((name) => [name, fnByName(s, logicalIdOf(name)).Properties!.ReservedConcurrentExecutions]));

  it('stage=prod reserves concurrency for each streaming function only; dev reserves none', () => {
    const expected = Object.fromEntries(API_NAMES.map((name) => [name, API_FUNCTIONS[name].streaming ? PROD_STREAMING_CONCURRENCY : undefined]));
    expect(reserved(prod)).toEqual(expected);
    expect(Object.values(reserved(base)).filter((value) => value !== undefined)).toEqual([]);
    expect(reserved(tuned)['post-conversation']).toBe(20);
    expect(reserved(tuned)['resume-conversation']).toBe(20);
  });

  it('-c waf=true puts a web ACL with a per-IP rate-based block rule on the API stage', () => {
    expect(resourcesOfType(base.json, 'AWS::WAFv2::WebACL')).toEqual([]);
    const [aclId, acl] = only(tuned, 'AWS::WAFv2::WebACL');
    expect(acl.Properties).toMatchObject({ Scope: 'REGIONAL', DefaultAction: { Allow: {} } });
    expect(acl.Properties!.Rules).toEqual([
      expect.objectContaining({
        Action: { Block: {} },
        Statement: { RateBasedStatement: { Limit: 300, AggregateKeyType: 'IP', EvaluationWindowSec: 300 } },
      }),
    ]);
    const [, association] = only(tuned, 'AWS::WAFv2::WebACLAssociation');
    const [stageId] = only(tuned, 'AWS::ApiGateway::Stage');
    const [restApiId] = only(tuned, 'AWS::ApiGateway::RestApi');
    expect(association.Properties!.WebACLArn).toEqual({ 'Fn::GetAtt': [aclId, 'Arn'] });
    const target = JSON.stringify(association.Properties!.ResourceArn);
    expect(target).toContain(`{"Ref":"${restApiId}"}`);
    expect(target).toContain(`{"Ref":"${stageId}"}`);
  });

  it('an alarm watches the account-wide concurrent executions (no function dimension) against the configured threshold', () => {
    for (const [s, threshold] of [[base, 800], [tuned, 450]] as const) {
      expect(alarmOf(s, 'AccountConcurrencyAlarm')?.Properties).toMatchObject({
        Namespace: 'AWS/Lambda',
        MetricName: 'ConcurrentExecutions',
        Statistic: 'Maximum',
        Threshold: threshold,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
      expect(alarmOf(s, 'AccountConcurrencyAlarm')!.Properties!.Dimensions ?? []).toEqual([]);
    }
  });
});

describe('knob changes that would destroy or orphan data', () => {
  it('cacheShards N→M reshards the sharded group online instead of replacing it', () => {
    const [, group] = only(scale, 'AWS::ElastiCache::ReplicationGroup');
    expect(group.Properties!.NumNodeGroups).toBe(3);
    expect((group as { UpdatePolicy?: unknown }).UpdatePolicy).toEqual({ UseOnlineResharding: true });
  });

  it.each([
    ['dev instance', () => base, 'AWS::RDS::DBInstance'],
    ['prod instance', () => prod, 'AWS::RDS::DBInstance'],
    ['dev Aurora', () => auroraDev, 'AWS::RDS::DBCluster'],
    ['prod Aurora', () => auroraProd, 'AWS::RDS::DBCluster'],
  ])('%s: the database leaves a final snapshot when replaced or removed', (_, get, type) => {
    expect(only(get(), type)[1]).toMatchObject({ DeletionPolicy: 'Snapshot', UpdateReplacePolicy: 'Snapshot' });
  });

  it("the database security group's create-only description is the same in both modes", () => {
    const description = (s: Synthesized) =>
      resourcesOfType(s.json, 'AWS::EC2::SecurityGroup').find(([id]) => id.startsWith('DatabaseInstanceSecurityGroup'))![1].Properties!.GroupDescription;
    expect(description(auroraDev)).toBe(description(base));
  });

  it('a serverless cache is never retained: deleted (on prod after a final snapshot), so teardown and a later re-create work', () => {
    const [, prodCache] = only(auroraProd, 'AWS::ElastiCache::ServerlessCache');
    expect(prodCache.DeletionPolicy).toBe('Delete');
    expect(JSON.stringify(prodCache.Properties!.FinalSnapshotName)).toContain('-final');
    const [, devCache] = only(auroraDev, 'AWS::ElastiCache::ServerlessCache');
    expect(devCache.DeletionPolicy).toBe('Delete');
    expect(devCache.Properties!.FinalSnapshotName).toBeUndefined();
    for (const s of [auroraProd, auroraDev]) {
      for (const type of ['AWS::ElastiCache::ServerlessCache', 'AWS::ElastiCache::User', 'AWS::ElastiCache::UserGroup']) {
        for (const [, resource] of resourcesOfType(s.json, type)) expect(resource.DeletionPolicy ?? 'Delete').toBe('Delete');
      }
    }
  });
});

describe('Cognito', () => {
  it('sends the pool e-mail through SES from the configured address and identity', () => {
    const [, pool] = only(tuned, 'AWS::Cognito::UserPool');
    expect(pool.Properties!.EmailConfiguration).toEqual({
      EmailSendingAccount: 'DEVELOPER',
      From: 'no-reply@example.com',
      SourceArn: 'arn:aws:ses:us-east-1:123456789012:identity/example.com',
    });
    const [, prodPool] = only(prodWebOnly, 'AWS::Cognito::UserPool');
    expect(JSON.stringify(prodPool.Properties!.EmailConfiguration.SourceArn)).toContain(':identity/no-reply@example.com');
    expect(only(base, 'AWS::Cognito::UserPool')[1].Properties!.EmailConfiguration).toBeUndefined();
  });

  it("with apiScope the hosted page asks for that scope, and its client waits for the pool's resource server", () => {
    const [serverId] = only(prodWebScoped, 'AWS::Cognito::UserPoolResourceServer');
    const login = resourcesOfType(prodWebScoped.json, 'AWS::Cognito::UserPoolClient').find(([, c]) => c.Properties!.AllowedOAuthFlows)![1];
    expect(login.Properties!.AllowedOAuthScopes).toEqual(['openid', 'email', 'chatbot-api/conversations']);
    expect(login.DependsOn).toEqual(expect.arrayContaining([serverId]));
  });

  it('with apiScope every method requires that one scope, and Cognito sign-in tokens no longer pass', () => {
    const scopes = resourcesOfType(tuned.json, 'AWS::ApiGateway::Method')
      .map(([, m]) => m.Properties!)
      // The preflights and the public routes (a share link) have no authorizer, so no scopes.
      .filter((m) => m.HttpMethod !== 'OPTIONS' && m.AuthorizationType !== 'NONE')
      .map((m) => m.AuthorizationScopes);
    expect(scopes.length).toBeGreaterThan(0);
    for (const list of scopes) expect(list).toEqual(['chatbot-api/conversations']);
  });
});

describe('failures somebody hears about', () => {
  it('a failed purge run lands in a queue (Lambda on-failure destination and EventBridge DLQ) and one message pages', () => {
    const [queueId] = resourcesOfType(base.json, 'AWS::SQS::Queue').find(([id]) => id.startsWith('FunctionsPurgeFailures'))!;
    const [, invokeConfig] = only(base, 'AWS::Lambda::EventInvokeConfig');
    expect(invokeConfig.Properties).toMatchObject({
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queueId, 'Arn'] } } },
    });
    const [, rule] = only(base, 'AWS::Events::Rule');
    expect(rule.Properties!.Targets[0].DeadLetterConfig).toEqual({ Arn: { 'Fn::GetAtt': [queueId, 'Arn'] } });
    expect(alarmOf(base, 'PurgeDeletedFailedRunAlarm')?.Properties).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
      Threshold: 1,
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    // Five errors in five minutes can never happen to a job that runs three attempts a day.
    expect(alarmOf(base, 'PurgeDeletedErrorsAlarm')).toBeUndefined();
  });

  it.each([
    ['instance', () => base],
    ['aurora-serverless', () => auroraDev],
  ])('%s: a failed secret rotation (either rotation function erring) pages', (_, get) => {
    const alarm = alarmOf(get(), 'DatabaseRotationErrorsAlarm')!.Properties!;
    const stats = alarm.Metrics.filter((m: { MetricStat?: unknown }) => m.MetricStat).map((m: { MetricStat: { Metric: unknown } }) => m.MetricStat.Metric);
    expect(stats).toHaveLength(2);
    for (const metric of stats) expect(metric).toMatchObject({ Namespace: 'AWS/Lambda', MetricName: 'Errors' });
    // The functions the rotation applications create, by the ARN each application outputs.
    expect(JSON.stringify(stats)).toMatch(/Outputs\.RotationLambdaARN[\s\S]*Outputs\.RotationLambdaARN/);
    expect(alarm).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
  });

  it('RDS Proxy client connections beyond max_connections page (instance mode, the only one with a proxy)', () => {
    const [proxyId] = only(base, 'AWS::RDS::DBProxy');
    expect(alarmOf(base, 'ProxyClientConnectionsAlarm')?.Properties).toMatchObject({
      Namespace: 'AWS/RDS',
      MetricName: 'ClientConnections',
      Statistic: 'Sum',
      Period: 60,
      Dimensions: [{ Name: 'ProxyName', Value: { Ref: proxyId } }],
      Threshold: 112,
    });
    expect(alarmOf(auroraDev, 'ProxyClientConnectionsAlarm')).toBeUndefined();
  });

  it('without alarmEmail the deploy says that no one hears the alarms (a warning and an output)', () => {
    Annotations.fromStack(base.stack).hasWarning('/ChatbotApi/Default/Observability', Match.stringLikeRegexp('No alarmEmail'));
    expect((base.json.Outputs as Record<string, { Value: unknown }>).AlarmSubscription.Value).toMatch(/^NONE/);
    Annotations.fromStack(tuned.stack).hasNoWarning('/ChatbotApi/Default/Observability', Match.stringLikeRegexp('No alarmEmail'));
    expect((tuned.json.Outputs as Record<string, { Value: unknown }>).AlarmSubscription.Value).toBe('ops@example.com');
    expect(base.json.Outputs).toHaveProperty('AlarmTopicArn');
  });
});

describe('the smaller ones', () => {
  it('Aurora on prod has a standby reader by default; dev has none', () => {
    expect(resourcesOfType(auroraProd.json, 'AWS::RDS::DBInstance')).toHaveLength(2);
    expect(resourcesOfType(auroraDev.json, 'AWS::RDS::DBInstance')).toHaveLength(1);
  });

  it("stage=prod refuses to default allowedOrigins to '*', naming the flag; the hosted page's origin alone is enough", () => {
    expect(() => synthesize({ stage: 'prod' })).toThrow(/"allowedOrigins" is required on stage=prod/);
    const [distributionId] = only(prodWebOnly, 'AWS::CloudFront::Distribution');
    const origins = fnByName(prodWebOnly, 'GetConversation').Properties!.Environment.Variables.ALLOWED_ORIGINS;
    expect(origins).toEqual({ 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [distributionId, 'DomainName'] }]] });
  });

  it('the hosted page is served with a CSP naming only its API and login domain, HSTS, no framing and no sniffing', () => {
    const [policyId, policy] = only(prodWebOnly, 'AWS::CloudFront::ResponseHeadersPolicy');
    const headers = policy.Properties!.ResponseHeadersPolicyConfig.SecurityHeadersConfig;
    expect(headers.StrictTransportSecurity).toMatchObject({ AccessControlMaxAgeSec: 63_072_000, IncludeSubdomains: true, Override: true });
    expect(headers.FrameOptions).toEqual({ FrameOption: 'DENY', Override: true });
    expect(headers.ContentTypeOptions).toEqual({ Override: true });
    const csp = JSON.stringify(headers.ContentSecurityPolicy.ContentSecurityPolicy);
    const [restApiId] = only(prodWebOnly, 'AWS::ApiGateway::RestApi');
    expect(csp).toContain("default-src 'none'; script-src 'self'; style-src 'self'");
    expect(csp).toMatch(new RegExp(`connect-src 'self' https://",\\{"Ref":"${restApiId}"\\},".execute-api.`));
    expect(csp).toContain('.auth.');
    expect(csp).toContain("frame-ancestors 'none'");
    const [, distribution] = only(prodWebOnly, 'AWS::CloudFront::Distribution');
    expect(distribution.Properties!.DistributionConfig.DefaultCacheBehavior.ResponseHeadersPolicyId).toEqual({ Ref: policyId });
  });
});
