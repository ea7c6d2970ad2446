/**
 * One validation path: the construct's props and the repository's `-c` context resolve to the same
 * configuration and pass the same rules. No synth here: these are the mappings alone.
 */
import { App } from 'aws-cdk-lib';
import { configFromProps, validateProps } from '../../lib/chatbot-api';
import { propsFromConfig } from '../../lib/chatbot-api-stack';
import { loadStackConfig } from '../../lib/stack-config';
import { cdkJsonContext } from './support/synth';
import { CUSTOM_DOMAIN_PROFILE, DEV_LOW_COST_PROFILE, OIDC_PROFILE, PROD_PROFILE, SCALE_PROFILE, WAF_PROFILE } from './support/profiles';

const fromContext = (overrides: Record<string, string>) => loadStackConfig(new App({ context: { ...cdkJsonContext(), ...overrides } }).node);

describe('ChatbotApi props', () => {
  it('no props resolve to exactly what cdk.json as shipped does', () => {
    const { vpcId: _, ...fromCdkJson } = fromContext({});
    expect(configFromProps({})).toEqual(fromCdkJson);
  });

  it.each([
    ['default', {}],
    ['dev low cost', DEV_LOW_COST_PROFILE],
    ['prod', PROD_PROFILE],
    ['prod scaled out', SCALE_PROFILE],
    ['waf', WAF_PROFILE],
    ['custom domain', CUSTOM_DOMAIN_PROFILE],
    ['oidc', OIDC_PROFILE],
    ['search and shares', { searchTextConfig: 'english', maxSharesPerUser: '10', shareUrlBase: 'https://chat.example.com' }],
    ['shared pool', { userPoolId: 'eu-west-1_AbCdEf123', apiScope: 'chatbot-api/conversations', streamingConcurrency: '7', userTurnLimit: '0' }],
  ])('the %s context maps onto props that resolve back to the same configuration', (_, overrides) => {
    const { vpcId: __, ...config } = fromContext(overrides as Record<string, string>);
    expect(validateProps(propsFromConfig(fromContext(overrides as Record<string, string>)))).toEqual(config);
  });

  it.each([
    [{ cache: { replicas: 6 } }, '"cache.replicas" (-c cacheReplicas) must be an integer from 0 to 5; got 6'],
    [{ shares: { maxPerUser: 0 } }, '"shares.maxPerUser" (-c maxSharesPerUser) must be an integer from 1 to 1000000; got 0'],
    [{ search: { textConfig: 'Bad-Name' } }, '"search.textConfig" (-c searchTextConfig) must be a Postgres text search configuration name'],
    [{ cache: { mode: 'serverless' as const, shards: 3 } }, '"cache.shards" (-c cacheShards) applies to cacheMode=replication-group'],
    [{ database: { auroraMaxAcu: 0.7 } }, '"database.auroraMaxAcu" (-c auroraMaxAcu) must be 1 to 256 in steps of 0.5'],
    [{ stage: 'prod' }, '"allowedOrigins" is required on stage=prod'],
    [{ domain: { domainName: 'api.example.com', certificateArn: '' } }, '"domain.certificateArn" (-c certificateArn) is required with domainName'],
    [{ auth: { mode: 'cognito' as const, userPoolId: 'pool' } }, '"auth.userPoolId" (-c userPoolId) must look like us-east-1_AbCdEf123'],
    [{ limits: { streamingConcurrency: 0 } }, '"limits.streamingConcurrency" (-c streamingConcurrency) must be'],
    [{ waf: 5 }, '"waf" (-c wafRateLimit) must be an integer from 10'],
  ])('%j is refused naming the prop and its flag', (props, message) => {
    expect(() => validateProps(props)).toThrow(message);
  });

  it('reports every bad prop at once', () => {
    expect(() => validateProps({ cache: { replicas: -1 }, limits: { userTurnWindowSeconds: 0 } })).toThrow(
      /Invalid ChatbotApi props:\n- "cache\.replicas".*\n- "limits\.userTurnWindowSeconds"/,
    );
  });

  it('an unknown auth mode is refused; oidc props pass the OIDC rules naming the prop', () => {
    expect(() => validateProps({ auth: { mode: 'saml' } as never })).toThrow(`"auth.mode" must be 'cognito' or 'oidc'; got "saml"`);
    expect(() => validateProps({ auth: { mode: 'oidc', issuer: 'http://login.example.com/', audience: 'api' } })).toThrow('"auth.issuer" (-c oidcIssuer) must be the issuer\'s https URL');
    expect(validateProps({ auth: { mode: 'oidc', issuer: 'https://login.example.com/', audience: 'api', requiredScopes: ['chat'] } })).toMatchObject({
      authMode: 'oidc',
      oidcIssuer: 'https://login.example.com/',
      oidcAudience: 'api',
      oidcRequiredScopes: ['chat'],
      authorizerCacheTtl: 300,
      userPoolId: undefined,
    });
  });
});
