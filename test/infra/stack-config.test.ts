import { bedrockModelArns } from '../../lib/functions';
import { DEFAULT_CONTEXT, loadStackConfig, PROD_AURORA_READERS, PROD_STREAMING_CONCURRENCY } from '../../lib/stack-config';
import { cdkJsonContext } from './support/synth';

const contextOf = (values: Record<string, unknown>) => ({ tryGetContext: (key: string) => values[key] });

describe('loadStackConfig', () => {
  it('applies the defaults', () => {
    const config = loadStackConfig(contextOf({}));
    expect(config).toMatchObject({
      stage: 'dev',
      isProd: false,
      cacheMode: 'replication-group',
      cacheEngine: 'valkey',
      cacheNodeType: DEFAULT_CONTEXT.cacheNodeType,
      cacheReplicas: 1,
      natGateways: 0,
      allowedOrigins: ['*'],
      llmProvider: 'bedrock',
    });
    expect(config.userPoolId).toBeUndefined();
  });

  it('accepts -c strings and cdk.json types alike', () => {
    const fromCli = loadStackConfig(contextOf({ cacheReplicas: '2', throttleRateLimit: '10', dbInstanceType: 'db.r7g.large' }));
    const fromJson = loadStackConfig(contextOf({ cacheReplicas: 2, throttleRateLimit: 10, dbInstanceType: 'r7g.large' }));
    expect(fromCli).toEqual(fromJson);
    expect(fromCli.cacheReplicas).toBe(2);
    expect(fromCli.dbInstanceType).toBe('r7g.large');
  });

  it('splits allowedOrigins from a comma list or an array', () => {
    const expected = ['https://a.example.com', 'https://b.example.com'];
    expect(loadStackConfig(contextOf({ allowedOrigins: 'https://a.example.com, https://b.example.com' })).allowedOrigins).toEqual(expected);
    expect(loadStackConfig(contextOf({ allowedOrigins: expected })).allowedOrigins).toEqual(expected);
  });

  it('rejects fractional and out-of-range numbers', () => {
    expect(() => loadStackConfig(contextOf({ cacheReplicas: 1.5 }))).toThrow(/"cacheReplicas" .*got 1.5/);
    expect(() => loadStackConfig(contextOf({ throttleBurstLimit: '0' }))).toThrow(/"throttleBurstLimit"/);
  });

  it('defaults the scale, cost and limit knobs', () => {
    expect(loadStackConfig(contextOf({}))).toMatchObject({
      cacheShards: 1,
      databaseMode: 'instance',
      auroraMinAcu: 0,
      auroraMaxAcu: 4,
      auroraReaders: 0,
      selfSignUp: false,
      userTurnLimit: 60,
      userTurnWindowSeconds: 3600,
      maxConversationMessages: 1000,
      maxConversationBytes: 3145728,
      bedrockModelId: 'us.anthropic.claude-haiku-4-5-20251001-v1:0',
    });
  });

  it('parses half-step ACUs and booleans from -c strings', () => {
    const config = loadStackConfig(contextOf({ databaseMode: 'aurora-serverless', auroraMinAcu: '0.5', auroraMaxAcu: '16', auroraReaders: '2', selfSignUp: 'true', userTurnLimit: '0' }));
    expect(config).toMatchObject({ databaseMode: 'aurora-serverless', auroraMinAcu: 0.5, auroraMaxAcu: 16, auroraReaders: 2, selfSignUp: true, userTurnLimit: 0 });
    expect(loadStackConfig(contextOf({ selfSignUp: false })).selfSignUp).toBe(false);
  });

  it.each([
    [{ cacheShards: '0' }, /"cacheShards" must be an integer from 1 to 500; got "0"/],
    [{ cacheShards: 501 }, /"cacheShards" must be an integer from 1 to 500; got 501/],
    [{ cacheShards: 'three' }, /"cacheShards" must be an integer from 1 to 500; got "three"/],
    [{ cacheShards: '2', cacheMode: 'serverless' }, /"cacheShards" applies to cacheMode=replication-group/],
    [{ cacheShards: '200', cacheReplicas: '2' }, /"cacheShards" × \(1 \+ cacheReplicas\) must be at most 500 nodes/],
    [{ databaseMode: 'serverless' }, /"databaseMode" must be one of instance, aurora-serverless; got "serverless"/],
    [{ auroraMinAcu: '0.25' }, /"auroraMinAcu" must be 0 to 256 in steps of 0.5; got "0.25"/],
    [{ auroraMaxAcu: '0.5' }, /"auroraMaxAcu" must be 1 to 256/],
    [{ auroraMinAcu: 8, auroraMaxAcu: 4 }, /"auroraMaxAcu" .*at least auroraMinAcu; got 4/],
    [{ auroraReaders: '16' }, /"auroraReaders" must be an integer from 0 to 15/],
    [{ selfSignUp: 'yes please' }, /"selfSignUp" must be true or false; got "yes please"/],
    [{ userTurnLimit: '-1' }, /"userTurnLimit" must be an integer from 0 \(no limit\)/],
    [{ userTurnWindowSeconds: '0' }, /"userTurnWindowSeconds" must be an integer from 1 to 604800/],
    [{ maxConversationMessages: '1' }, /"maxConversationMessages" must be an integer from 2/],
    [{ maxConversationBytes: '5000000' }, /"maxConversationBytes" must be an integer from 1024 to 4194304/],
  ])('rejects %j naming the key', (context, message) => {
    expect(() => loadStackConfig(contextOf(context))).toThrow(message);
  });

  it('cdk.json ships exactly the defaults (a bare `new App()` and a deploy agree)', () => {
    const shipped = cdkJsonContext();
    for (const [key, value] of Object.entries(DEFAULT_CONTEXT)) expect({ key, value: shipped[key] }).toEqual({ key, value });
  });

  it('defaults by stage: streams reserve concurrency, Aurora keeps a reader and origins must be named on prod only', () => {
    const origin = 'https://chat.example.com';
    expect(loadStackConfig(contextOf({}))).toMatchObject({ streamingConcurrency: undefined, auroraReaders: 0, allowedOrigins: ['*'] });
    expect(loadStackConfig(contextOf({ stage: 'prod', allowedOrigins: origin }))).toMatchObject({
      streamingConcurrency: PROD_STREAMING_CONCURRENCY,
      auroraReaders: PROD_AURORA_READERS,
      allowedOrigins: [origin],
    });
    expect(loadStackConfig(contextOf({ stage: 'prod', allowedOrigins: origin, streamingConcurrency: 'none', auroraReaders: 0 }))).toMatchObject({
      streamingConcurrency: undefined,
      auroraReaders: 0,
    });
    expect(loadStackConfig(contextOf({ streamingConcurrency: '25' })).streamingConcurrency).toBe(25);
    // '*' on prod is allowed when asked for; an unset value is not.
    expect(loadStackConfig(contextOf({ stage: 'prod', allowedOrigins: '*' })).allowedOrigins).toEqual(['*']);
    expect(() => loadStackConfig(contextOf({ stage: 'prod' }))).toThrow(/"allowedOrigins" is required on stage=prod.*got ""/);
    // With the hosted web client, its origin (added by the stack) is the default.
    expect(loadStackConfig(contextOf({ stage: 'prod', webClient: 'true' })).allowedOrigins).toEqual([]);
  });

  it('defaults and parses the first-week knobs', () => {
    expect(loadStackConfig(contextOf({}))).toMatchObject({ waf: false, wafRateLimit: 1000, accountConcurrencyAlarmThreshold: 800 });
    const config = loadStackConfig(
      contextOf({
        waf: 'true',
        wafRateLimit: '100',
        accountConcurrencyAlarmThreshold: '90',
        sesFromAddress: 'no-reply@example.com',
        sesIdentityArn: 'arn:aws:ses:eu-west-1:123456789012:identity/example.com',
        apiScope: 'https://api.example.com/chat',
      }),
    );
    expect(config).toMatchObject({
      waf: true,
      wafRateLimit: 100,
      accountConcurrencyAlarmThreshold: 90,
      sesFromAddress: 'no-reply@example.com',
      sesIdentityArn: 'arn:aws:ses:eu-west-1:123456789012:identity/example.com',
      apiScope: 'https://api.example.com/chat',
    });
  });

  it('defaults and parses the search and share knobs', () => {
    expect(loadStackConfig(contextOf({}))).toMatchObject({ searchTextConfig: 'simple', maxSharesPerUser: 1000, shareUrlBase: undefined });
    expect(loadStackConfig(contextOf({ searchTextConfig: 'english', maxSharesPerUser: '50', shareUrlBase: 'https://chat.example.com' }))).toMatchObject({
      searchTextConfig: 'english',
      maxSharesPerUser: 50,
      shareUrlBase: 'https://chat.example.com',
    });
  });

  it.each([
    [{ searchTextConfig: 'English; DROP TABLE messages' }, /"searchTextConfig" must be a Postgres text search configuration name .*got "English; DROP TABLE messages"/],
    [{ maxSharesPerUser: '0' }, /"maxSharesPerUser" must be an integer from 1 to 1000000; got "0"/],
    [{ shareUrlBase: 'http://chat.example.com' }, /"shareUrlBase" must be an https URL without a query .*got "http:\/\/chat.example.com"/],
    [{ shareUrlBase: 'https://chat.example.com/?x=1' }, /"shareUrlBase" must be an https URL without a query/],
    [{ streamingConcurrency: '0' }, /"streamingConcurrency" must be 'none' or an integer from 1 to 10000 .*got "0"/],
    [{ streamingConcurrency: 'lots' }, /"streamingConcurrency" .*got "lots"/],
    [{ waf: 'yes' }, /"waf" must be true or false; got "yes"/],
    [{ wafRateLimit: '5' }, /"wafRateLimit" must be an integer from 10 to 2000000000 .*got "5"/],
    [{ accountConcurrencyAlarmThreshold: '-1' }, /"accountConcurrencyAlarmThreshold" must be a positive integer .*got "-1"/],
    [{ sesFromAddress: 'no-reply' }, /"sesFromAddress" must be an e-mail address; got "no-reply"/],
    [{ sesFromAddress: 'a@example.com', userPoolId: 'eu-west-1_AbC123' }, /"sesFromAddress" applies to the user pool the stack creates/],
    [{ sesFromAddress: 'a@example.com', sesIdentityArn: 'example.com' }, /"sesIdentityArn" must be an SES identity ARN .*got "example.com"/],
    [{ sesIdentityArn: 'arn:aws:ses:us-east-1:123456789012:identity/example.com' }, /"sesIdentityArn" needs sesFromAddress/],
    [{ apiScope: 'conversations' }, /"apiScope" must be a resource-server scope .*got "conversations"/],
    [{ auroraReaders: 'one' }, /"auroraReaders" must be an integer from 0 to 15/],
  ])('rejects %j naming the key', (context, message) => {
    expect(() => loadStackConfig(contextOf(context))).toThrow(message);
  });

  it('marks stage=prod as production', () => {
    expect(loadStackConfig(contextOf({ stage: 'prod', allowedOrigins: 'https://chat.example.com' })).isProd).toBe(true);
  });
});

describe('bedrockModelArns', () => {
  it('grants a foundation model in this region', () => {
    expect(bedrockModelArns('anthropic.claude-3-5-haiku-20241022-v1:0', 'aws', 'us-west-2', '123456789012')).toEqual([
      'arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0',
    ]);
  });

  it('grants an inference profile and its model in the Regions of its geography, not in every Region', () => {
    const model = 'anthropic.claude-haiku-4-5-20251001-v1:0';
    const foundationModels = (prefix: string, partition = 'aws') =>
      bedrockModelArns(`${prefix}.${model}`, partition, 'xx-1', '123456789012')
        .filter((arn) => arn.includes(':foundation-model/'))
        .map((arn) => arn.split(':')[3]);
    expect(bedrockModelArns(`eu.${model}`, 'aws', 'eu-west-1', '123456789012')).toEqual([
      `arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.${model}`,
      `arn:aws:bedrock:eu-*::foundation-model/${model}`,
    ]);
    expect(foundationModels('us')).toEqual(['us-*']);
    expect(foundationModels('apac')).toEqual(['ap-*', 'me-central-1']);
    expect(foundationModels('jp')).toEqual(['ap-northeast-1', 'ap-northeast-3']);
    expect(foundationModels('au')).toEqual(['ap-southeast-2', 'ap-southeast-4']);
    expect(foundationModels('us-gov', 'aws-us-gov')).toEqual(['us-gov-*']);
    // A global profile routes to any commercial Region: nothing to narrow.
    expect(foundationModels('global')).toEqual(['*']);
  });

  it('passes an ARN through', () => {
    const arn = 'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123';
    expect(bedrockModelArns(arn, 'aws', 'us-east-1', '123456789012')).toEqual([arn]);
  });
});
