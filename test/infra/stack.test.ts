import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, CfnResource as RawCfnResource, CloudFormationValidatePlugin, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ChatbotApiStack } from '../../lib/chatbot-api-stack';
import { hashMigrations, logicalIdOf } from '../../lib/functions';
import { API_FUNCTIONS, API_ROUTES, isPublicRoute, type ApiFunctionName } from '../../layer/src/contracts/route-table';
import {
  cdkJsonContext,
  normaliseTemplate,
  removeSynthOutputs,
  resourcesOfType,
  synthesize,
  type CfnResource,
  type Synthesized,
  unacknowledgedFindings,
} from './support/synth';

// Four synths in all, shared by every test below; the first bundles, the others reuse its assets.
let base: Synthesized;
let bigCache: Synthesized;
let serverless: Synthesized;
// What `cdk deploy` synthesizes: an account/region-specific stack, here prod with NAT, one cache node and several origins.
let deployLike: Synthesized;

beforeAll(() => {
  base = synthesize();
  bigCache = synthesize({ cacheNodeType: 'cache.r7g.large', cacheReplicas: '2' });
  serverless = synthesize({ cacheMode: 'serverless' });
  deployLike = synthesize(
    { stage: 'prod', cacheReplicas: '0', natGateways: '1', bedrockModelId: 'eu.anthropic.claude-3-7-sonnet-20250219-v1:0', allowedOrigins: 'https://a.example.com,https://b.example.com' },
    { env: { account: '123456789012', region: 'eu-west-1' }, cloudFormationValidation: true },
  );
}, 240_000);

afterAll(() => removeSynthOutputs());

const apiFunctionIds = (s: Synthesized): string[] =>
  (Object.keys(API_FUNCTIONS) as ApiFunctionName[]).map(logicalIdOf).map((name) => {
    const match = resourcesOfType(s.json, 'AWS::Lambda::Function').find(([id]) => id.startsWith(`Functions${name}`));
    if (!match) throw new Error(`no ${name} function`);
    return match[0];
  });
const fn = (s: Synthesized, id: string): CfnResource => s.json.Resources[id];
const methods = (s: Synthesized): CfnResource[] => resourcesOfType(s.json, 'AWS::ApiGateway::Method').map(([, m]) => m);

describe('template', () => {
  it('matches the snapshot (asset hashes normalised)', () => {
    expect(normaliseTemplate(base.json)).toMatchSnapshot();
  });

  it('has one method per route-table route under /backend-api', () => {
    const verbs = methods(base).map((m) => m.Properties!.HttpMethod).filter((verb) => verb !== 'OPTIONS');
    expect(verbs.sort()).toEqual(API_ROUTES.map((route) => route.method).sort());
  });

  it('purges deleted conversations daily with the configured retention', () => {
    const [, rule] = resourcesOfType(base.json, 'AWS::Events::Rule')[0];
    expect(rule.Properties!.ScheduleExpression).toBe('rate(1 day)');
    const purge = resourcesOfType(base.json, 'AWS::Lambda::Function').find(([id]) => id.startsWith('FunctionsPurgeDeleted'))!;
    expect(JSON.stringify(rule.Properties!.Targets)).toContain(purge[0]);
    expect(purge[1].Properties!.Environment.Variables.DELETED_RETENTION_DAYS).toBe('30');
    const custom = synthesize({ deletedRetentionDays: '7' });
    const customPurge = resourcesOfType(custom.json, 'AWS::Lambda::Function').find(([id]) => id.startsWith('FunctionsPurgeDeleted'))!;
    expect(customPurge[1].Properties!.Environment.Variables.DELETED_RETENTION_DAYS).toBe('7');
  });

  it('outputs the API URL ending in /backend-api, the user pool, its client and the cache endpoint', () => {
    const outputs = base.json.Outputs as Record<string, { Value: unknown }>;
    expect(JSON.stringify(outputs.ApiUrl.Value)).toMatch(/\/backend-api"\]\]\}$/);
    expect(Object.keys(outputs)).toEqual(expect.arrayContaining(['ApiUrl', 'UserPoolId', 'UserPoolClientId', 'CacheEndpoint']));
  });
});

describe('functions', () => {
  it('every function shares ONE layer', () => {
    const layers = resourcesOfType(base.json, 'AWS::Lambda::LayerVersion');
    expect(layers).toHaveLength(1);
    for (const id of apiFunctionIds(base)) {
      expect(fn(base, id).Properties!.Layers).toEqual([{ Ref: layers[0][0] }]);
    }
  });

  it('run Node 24 on arm64 in the VPC with JSON logs and active tracing', () => {
    for (const id of apiFunctionIds(base)) {
      const props = fn(base, id).Properties!;
      expect(props.Runtime).toBe('nodejs24.x');
      expect(props.Architectures).toEqual(['arm64']);
      expect(props.TracingConfig).toEqual({ Mode: 'Active' });
      expect(props.LoggingConfig.LogFormat).toBe('JSON');
      expect(props.VpcConfig.SubnetIds).toHaveLength(2);
    }
  });

  it('connect through RDS Proxy with TLS and to the cache with TLS and AUTH from Secrets Manager', () => {
    const [proxyId] = resourcesOfType(base.json, 'AWS::RDS::DBProxy')[0];
    expect(resourcesOfType(base.json, 'AWS::RDS::DBProxy')[0][1].Properties!.RequireTLS).toBe(true);
    for (const id of apiFunctionIds(base)) {
      const env = fn(base, id).Properties!.Environment.Variables;
      expect(env.DATABASE_HOST).toEqual({ 'Fn::GetAtt': [proxyId, 'Endpoint'] });
      expect(env).toMatchObject({ DATABASE_PORT: '5432', DATABASE_SSL: 'true', REDIS_TLS: 'true', REDIS_CLUSTER_MODE: 'false' });
      // One replica by default: an invalidation counts once it has it, so a failover cannot lose it.
      expect(env).toMatchObject({ REDIS_INVALIDATION_REPLICAS: '1', REDIS_INVALIDATION_RETRY_MS: '2000' });
      expect(env.DATABASE_SECRET_ARN).toEqual({ Ref: expect.stringMatching(/^DatabaseAppSecretAttachment/) });
      expect(env.REDIS_AUTH_SECRET_ARN).toEqual({ Ref: expect.stringMatching(/^CacheAuthToken/) });
      expect(env.POWERTOOLS_METRICS_NAMESPACE).toBe('ChatbotApi');
    }
  });

  it('only the functions that call a model (post-conversation, update-conversation for gen_title, the OpenAI API\'s responses and chat completions) may stream, from the configured Bedrock model only', () => {
    const policies = resourcesOfType(base.json, 'AWS::IAM::Policy');
    const statements = policies.flatMap(([, p]) => p.Properties!.PolicyDocument.Statement);
    const bedrock = statements.filter((s: { Action: string | string[] }) => JSON.stringify(s.Action).includes('bedrock'));
    expect(bedrock).toHaveLength(4);
    const withBedrock = policies.filter(([, p]) => JSON.stringify(p.Properties!.PolicyDocument).includes('bedrock:')).map(([id]) => id);
    expect(withBedrock.map((id) => id.replace(/ServiceRole.*$/, '')).sort()).toEqual([
      'FunctionsOpenaiChatCompletions',
      'FunctionsOpenaiResponses',
      'FunctionsPostConversation',
      'FunctionsUpdateConversation',
    ]);
    expect(bedrock[0].Action).toBe('bedrock:InvokeModelWithResponseStream');
    expect(JSON.stringify(bedrock[0].Resource)).toContain('inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0');
    const postPolicy = resourcesOfType(base.json, 'AWS::IAM::Policy').find(([id]) => id.startsWith('FunctionsPostConversation'))!;
    expect(JSON.stringify(postPolicy[1].Properties!.PolicyDocument)).toContain('bedrock:');
  });

  it('migrations run at deploy through a trigger after the proxy exists, re-run when the SQL changes', () => {
    const [, trigger] = resourcesOfType(base.json, 'Custom::Trigger')[0];
    const [proxyId] = resourcesOfType(base.json, 'AWS::RDS::DBProxy')[0];
    expect(trigger.DependsOn).toEqual(expect.arrayContaining([proxyId]));
    const migrate = resourcesOfType(base.json, 'AWS::Lambda::Function').find(([id]) => id.startsWith('FunctionsMigrate'))!;
    expect(migrate[1].Properties!.Environment.Variables.MIGRATIONS_SHA256).toBe(hashMigrations());
  });
});

describe('api', () => {
  it('the streaming functions\' integrations stream the Lambda response, the others do not', () => {
    const streamed = methods(base).filter((m) => m.Properties!.Integration?.ResponseTransferMode === 'STREAM');
    const streamingRoutes = API_ROUTES.filter((route) => API_FUNCTIONS[route.function].streaming);
    expect(streamed).toHaveLength(streamingRoutes.length);
    for (const method of streamed) {
      expect(JSON.stringify(method.Properties!.Integration.Uri)).toContain('/response-streaming-invocations');
      expect(method.Properties!.Integration.TimeoutInMillis).toBe(300_000);
    }
  });

  it('every method but the CORS preflight and the route table\'s public routes requires the Cognito authorizer', () => {
    const [authorizerId, authorizer] = resourcesOfType(base.json, 'AWS::ApiGateway::Authorizer')[0];
    expect(authorizer.Properties!.Type).toBe('COGNITO_USER_POOLS');
    const all = methods(base);
    const secured = all.filter((m) => m.Properties!.HttpMethod !== 'OPTIONS' && m.Properties!.AuthorizationType !== 'NONE');
    expect(secured).toHaveLength(API_ROUTES.filter((route) => !isPublicRoute(route)).length);
    for (const method of secured) {
      expect(method.Properties!.AuthorizationType).toBe('COGNITO_USER_POOLS');
      expect(method.Properties!.AuthorizerId).toEqual({ Ref: authorizerId });
    }
    for (const preflight of all.filter((m) => m.Properties!.HttpMethod === 'OPTIONS')) {
      expect(preflight.Properties!.AuthorizationType).toBe('NONE');
    }
  });

  it('gateway errors carry CORS headers and a JSON detail body', () => {
    const responses = resourcesOfType(base.json, 'AWS::ApiGateway::GatewayResponse').map(([, r]) => r.Properties!);
    const unauthorized = responses.find((r) => r.ResponseType === 'UNAUTHORIZED')!;
    expect(unauthorized.ResponseParameters['gatewayresponse.header.Access-Control-Allow-Origin']).toBe("'*'");
    const body = unauthorized.ResponseTemplates['application/json'];
    expect(JSON.parse(body)).toEqual({ detail: { message: 'Unauthorized', code: 'unauthorized' } });
    expect(responses.map((r) => r.ResponseType)).toEqual(expect.arrayContaining(['THROTTLED', 'DEFAULT_4XX', 'DEFAULT_5XX']));
  });

  it('throttles the stage and writes JSON access logs', () => {
    const [, stage] = resourcesOfType(base.json, 'AWS::ApiGateway::Stage')[0];
    expect(stage.Properties!.MethodSettings[0]).toMatchObject({ ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 });
    expect(() => JSON.parse(stage.Properties!.AccessLogSetting.Format)).not.toThrow();
  });
});

describe('cache', () => {
  it('is a TLS, encrypted, AUTH-protected Multi-AZ replication group by default', () => {
    const [, group] = resourcesOfType(base.json, 'AWS::ElastiCache::ReplicationGroup')[0];
    expect(group.Properties).toMatchObject({
      Engine: 'valkey',
      CacheNodeType: 'cache.t4g.small',
      NumCacheClusters: 2,
      MultiAZEnabled: true,
      AutomaticFailoverEnabled: true,
      TransitEncryptionEnabled: true,
      AtRestEncryptionEnabled: true,
    });
  });

  it('takes its node type and replica count from context', () => {
    const [, group] = resourcesOfType(bigCache.json, 'AWS::ElastiCache::ReplicationGroup')[0];
    expect(group.Properties).toMatchObject({ CacheNodeType: 'cache.r7g.large', NumCacheClusters: 3 });
  });

  it('cacheMode=serverless makes a serverless cache and tells the functions to use cluster mode', () => {
    expect(resourcesOfType(serverless.json, 'AWS::ElastiCache::ReplicationGroup')).toHaveLength(0);
    const [, cache] = resourcesOfType(serverless.json, 'AWS::ElastiCache::ServerlessCache')[0];
    expect(cache.Properties).toMatchObject({ Engine: 'valkey', UserGroupId: { Ref: expect.any(String) } });
    for (const id of apiFunctionIds(serverless)) {
      expect(fn(serverless, id).Properties!.Environment.Variables.REDIS_CLUSTER_MODE).toBe('true');
      // Its replication is the service's own: nothing to confirm.
      expect(fn(serverless, id).Properties!.Environment.Variables.REDIS_INVALIDATION_REPLICAS).toBeUndefined();
    }
  });
});

describe('security', () => {
  it('no security group allows ingress from the internet', () => {
    for (const s of [base, serverless]) {
      const inline = resourcesOfType(s.json, 'AWS::EC2::SecurityGroup').flatMap(([, g]) => g.Properties!.SecurityGroupIngress ?? []);
      const separate = resourcesOfType(s.json, 'AWS::EC2::SecurityGroupIngress').map(([, r]) => r.Properties!);
      const rules = [...inline, ...separate];
      expect(rules.length).toBeGreaterThan(0);
      for (const rule of rules) {
        expect(rule.CidrIp).not.toBe('0.0.0.0/0');
        expect(rule.CidrIpv6).not.toBe('::/0');
      }
    }
  });

  it('only the functions reach the cache and the proxy', () => {
    const ingress = resourcesOfType(base.json, 'AWS::EC2::SecurityGroupIngress').map(([, r]) => r.Properties!);
    const [functionsSg] = resourcesOfType(base.json, 'AWS::EC2::SecurityGroup').find(([id]) => id.startsWith('FunctionsSecurityGroup'))!;
    const cacheRule = ingress.find((r) => r.FromPort === 6390)!;
    const proxyRule = ingress.find((r) => r.FromPort === 5432)!;
    expect(cacheRule.SourceSecurityGroupId).toEqual({ 'Fn::GetAtt': [functionsSg, 'GroupId'] });
    expect(proxyRule.SourceSecurityGroupId).toEqual({ 'Fn::GetAtt': [functionsSg, 'GroupId'] });
  });

  it('no secret value appears in the template: AUTH tokens are dynamic references', () => {
    const [, group] = resourcesOfType(base.json, 'AWS::ElastiCache::ReplicationGroup')[0];
    expect(JSON.stringify(group.Properties!.AuthToken)).toMatch(/^\{"Fn::Join":\["",\["\{\{resolve:secretsmanager:",\{"Ref":"CacheAuthToken/);
    const [, user] = resourcesOfType(serverless.json, 'AWS::ElastiCache::User')[0];
    expect(JSON.stringify(user.Properties!.Passwords)).toContain('{{resolve:secretsmanager:');
    for (const s of [base, serverless]) {
      const text = JSON.stringify(s.json);
      expect(text).not.toMatch(/"(AuthToken|Password|MasterUserPassword)":"[^{"]/);
      for (const [, f] of resourcesOfType(s.json, 'AWS::Lambda::Function')) {
        const names = Object.keys(f.Properties?.Environment?.Variables ?? {});
        expect(names.filter((n) => /PASSWORD|TOKEN|API_KEY$/.test(n))).toEqual([]);
      }
    }
  });

  it('cdk-nag AwsSolutions reports nothing unacknowledged in any configuration', () => {
    // synthesize() throws on an unacknowledged error; warnings only land in the report.
    for (const s of [base, bigCache, serverless, deployLike]) {
      const violations = unacknowledgedFindings(s);
      expect(violations).toEqual([]);
    }
  });

  it("aws-cdk-lib's built-in CloudFormation validation (what `cdk synth` runs) finds nothing in the deploy-like template, and does find a broken one", () => {
    // It reports only templates with findings (as warnings, in the validation report), so the guard shows it runs here.
    const builtinFindings = (report: Synthesized['validationReport']): string[] =>
      report.pluginReports
        .filter((plugin) => (plugin as { pluginName?: string }).pluginName === CloudFormationValidatePlugin.PLUGIN_NAME)
        .flatMap((plugin) => (plugin.violations ?? []) as Array<{ ruleName: string }>)
        .map((violation) => violation.ruleName);
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatbot-cfn-validate-'));
    const app = new App({ outdir, analyticsReporting: false });
    new RawCfnResource(new Stack(app, 'Broken'), 'Fn', { type: 'AWS::Lambda::Function', properties: { Runtime: 'nodejs24.x', MemorySize: 'lots' } });
    const broken = JSON.parse(fs.readFileSync(path.join(app.synth().directory, 'validation-report.json'), 'utf8'));
    fs.rmSync(outdir, { recursive: true, force: true });

    expect(builtinFindings(broken).length).toBeGreaterThan(0);
    expect(builtinFindings(deployLike.validationReport)).toEqual([]);
  });

  it('the cdk-nag plugin does fail synth on an unacknowledged finding (guards the test above)', () => {
    const app = new App({ analyticsReporting: false });
    const stack = new Stack(app, 'Open');
    const vpc = new ec2.Vpc(stack, 'Vpc', { natGateways: 0, maxAzs: 1 });
    vpc.addFlowLog('Flow');
    const group = new ec2.SecurityGroup(stack, 'Open', { vpc, description: 'open to the world' });
    group.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(22));
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).toThrow(/AwsSolutions-EC23/);
  });
});

describe('context validation', () => {
  const stackWith = (overrides: Record<string, unknown>) => () =>
    new ChatbotApiStack(new App({ context: { ...cdkJsonContext(), ...overrides } }), 'Bad');

  it.each([
    [{ cacheReplicas: '-1' }, /"cacheReplicas" .*got "-1"/],
    [{ cacheNodeType: 'banana' }, /"cacheNodeType" .*got "banana"/],
    [{ cacheMode: 'cluster' }, /"cacheMode" .*got "cluster"/],
    [{ natGateways: 'two' }, /"natGateways" .*got "two"/],
    [{ allowedOrigins: 'chat.example.com' }, /"allowedOrigins" .*got "chat.example.com"/],
    [{ llmProvider: 'openai' }, /"openaiBaseUrl" .*when llmProvider is openai/],
    [{ alarmEmail: 'ops' }, /"alarmEmail" .*got "ops"/],
  ])('rejects %j naming the key and the value', (overrides, message) => {
    expect(stackWith(overrides)).toThrow(message);
  });

  it('reports every bad key at once', () => {
    expect(stackWith({ cacheReplicas: 9, cacheNodeType: 'banana' })).toThrow(/cacheNodeType[\s\S]*cacheReplicas/);
  });
});

describe('stage=prod, env-specific', () => {
  it('protects the database and keeps a snapshot', () => {
    const [, db] = resourcesOfType(deployLike.json, 'AWS::RDS::DBInstance')[0];
    expect(db.Properties).toMatchObject({ MultiAZ: true, DeletionProtection: true, StorageEncrypted: true });
    expect((db as unknown as { DeletionPolicy: string }).DeletionPolicy).toBe('Snapshot');
  });

  it('never echoes the caller origin on gateway errors when several origins are allowed (the gateway cannot pick one)', () => {
    const responses = resourcesOfType(deployLike.json, 'AWS::ApiGateway::GatewayResponse').map(([, r]) => r.Properties!);
    expect(responses.length).toBeGreaterThan(0);
    for (const response of responses) {
      expect(response.ResponseParameters['gatewayresponse.header.Access-Control-Allow-Origin']).toBeUndefined();
      expect(JSON.stringify(response.ResponseParameters)).not.toContain('method.request.header.Origin');
    }
  });

  it('grants the inference profile in the stack region, and its model in the Regions of its geography only', () => {
    const statements = resourcesOfType(deployLike.json, 'AWS::IAM::Policy').flatMap(([, p]) => p.Properties!.PolicyDocument.Statement);
    const bedrock = statements.find((s: { Action: unknown }) => s.Action === 'bedrock:InvokeModelWithResponseStream');
    expect(bedrock.Resource).toHaveLength(2);
    expect(bedrock.Resource).toEqual(
      expect.arrayContaining([
        'arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-3-7-sonnet-20250219-v1:0',
        'arn:aws:bedrock:eu-*::foundation-model/anthropic.claude-3-7-sonnet-20250219-v1:0',
      ]),
    );
  });

  it('with NAT, the functions move to subnets with egress and may call out on 443 only', () => {
    expect(resourcesOfType(deployLike.json, 'AWS::EC2::NatGateway')).toHaveLength(1);
    const [functionsSg, sg] = resourcesOfType(deployLike.json, 'AWS::EC2::SecurityGroup').find(([id]) => id.startsWith('FunctionsSecurityGroup'))!;
    expect(sg.Properties!.SecurityGroupEgress).toEqual([expect.objectContaining({ CidrIp: '0.0.0.0/0', FromPort: 443, ToPort: 443 })]);
    const fnSubnets = resourcesOfType(deployLike.json, 'AWS::Lambda::Function')
      .filter(([id]) => id.startsWith('FunctionsGetConversation'))
      .flatMap(([, f]) => f.Properties!.VpcConfig.SubnetIds.map((ref: { Ref: string }) => ref.Ref));
    expect(fnSubnets.every((id: string) => id.includes('app'))).toBe(true);
    expect(functionsSg).toBeDefined();
  });
});
