import { bedrockModelArns } from '../../lib/functions';
import { DEFAULT_CONTEXT, loadStackConfig } from '../../lib/stack-config';

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

  it('marks stage=prod as production', () => {
    expect(loadStackConfig(contextOf({ stage: 'prod' })).isProd).toBe(true);
  });
});

describe('bedrockModelArns', () => {
  it('grants a foundation model in this region', () => {
    expect(bedrockModelArns('anthropic.claude-3-5-haiku-20241022-v1:0', 'aws', 'us-west-2', '123456789012')).toEqual([
      'arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0',
    ]);
  });

  it('grants an inference profile and its model in the regions it routes to', () => {
    expect(bedrockModelArns('eu.anthropic.claude-3-7-sonnet-20250219-v1:0', 'aws', 'eu-west-1', '123456789012')).toEqual([
      'arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-3-7-sonnet-20250219-v1:0',
      'arn:aws:bedrock:*::foundation-model/anthropic.claude-3-7-sonnet-20250219-v1:0',
    ]);
  });

  it('passes an ARN through', () => {
    const arn = 'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123';
    expect(bedrockModelArns(arn, 'aws', 'us-east-1', '123456789012')).toEqual([arn]);
  });
});
