/**
 * `-c authMode=oidc`: the REST API's methods use a Lambda TOKEN authorizer (the `authorizer`
 * function, on the shared layer, outside the VPC) instead of Cognito; no Cognito resource exists;
 * public routes stay open; bad values stop the synth naming the flag; cdk-nag is clean.
 */
import { Node } from 'constructs';
import { API_ROUTES, isPublicRoute } from '../../layer/src/contracts/route-table';
import { loadStackConfig } from '../../lib/stack-config';
import { OIDC_PROFILE } from './support/profiles';
import { removeSynthOutputs, resourcesOfType, synthesize, unacknowledgedFindings, type Synthesized } from './support/synth';

let oidc: Synthesized;
beforeAll(() => {
  oidc = synthesize(OIDC_PROFILE);
}, 120_000);
afterAll(() => removeSynthOutputs());

const configOf = (context: Record<string, unknown>) => {
  const node = { tryGetContext: (key: string) => context[key] } as Pick<Node, 'tryGetContext'>;
  return loadStackConfig(node);
};

describe('authMode=oidc', () => {
  it('puts a TOKEN authorizer on the Authorization header with the configured cache TTL, and no Cognito resource', () => {
    const authorizers = resourcesOfType(oidc.json, 'AWS::ApiGateway::Authorizer');
    expect(authorizers).toHaveLength(1);
    const [, authorizer] = authorizers[0];
    expect(authorizer.Properties).toMatchObject({ Type: 'TOKEN', IdentitySource: 'method.request.header.Authorization', AuthorizerResultTtlInSeconds: 120 });
    expect(Object.values(oidc.json.Resources).filter((resource) => resource.Type.startsWith('AWS::Cognito::'))).toEqual([]);
    expect(Object.keys(oidc.json.Outputs ?? {})).toEqual(expect.arrayContaining(['OidcIssuer']));
    expect(Object.keys(oidc.json.Outputs ?? {})).not.toContain('UserPoolId');
  });

  it('runs the authorizer on the shared layer, outside the VPC, with the OIDC settings and nothing of the database', () => {
    const [, fn] = resourcesOfType(oidc.json, 'AWS::Lambda::Function').find(([id]) => id.startsWith('FunctionsAuthorizer'))!;
    const props = fn.Properties!;
    expect(props.VpcConfig).toBeUndefined();
    expect(props.Layers).toHaveLength(1);
    expect(props.Environment.Variables).toMatchObject({
      OIDC_ISSUER: 'https://login.example.com/',
      OIDC_AUDIENCE: 'https://api.example.com',
      OIDC_REQUIRED_SCOPES: 'chat',
    });
    expect(Object.keys(props.Environment.Variables).filter((name) => /^(DATABASE|REDIS)_/.test(name))).toEqual([]);
  });

  it('authorizes every route of the table with it, except the public ones, which stay open', () => {
    const methods = resourcesOfType(oidc.json, 'AWS::ApiGateway::Method').map(([, method]) => method.Properties!).filter((method) => method.HttpMethod !== 'OPTIONS');
    expect(methods).toHaveLength(API_ROUTES.length);
    const publicCount = API_ROUTES.filter(isPublicRoute).length;
    expect(methods.filter((method) => method.AuthorizationType === 'CUSTOM')).toHaveLength(API_ROUTES.length - publicCount);
    expect(methods.filter((method) => method.AuthorizationType === 'NONE')).toHaveLength(publicCount);
    expect(methods.filter((method) => method.AuthorizationScopes !== undefined)).toEqual([]);
  });

  it('is cdk-nag clean', () => {
    expect(unacknowledgedFindings(oidc)).toEqual([]);
  });

  it('stops the synth on a bad or missing value, naming the flag', () => {
    expect(() => configOf({ authMode: 'oidc', oidcAudience: 'api' })).toThrow('"oidcIssuer"');
    expect(() => configOf({ authMode: 'oidc', oidcIssuer: 'http://login.example.com/', oidcAudience: 'api' })).toThrow('"oidcIssuer" must be the issuer\'s https URL');
    expect(() => configOf({ authMode: 'oidc', oidcIssuer: 'https://login.example.com/' })).toThrow('"oidcAudience" is required');
    expect(() => configOf({ ...OIDC_PROFILE, oidcJwksUri: 'http://login.example.com/jwks' })).toThrow('"oidcJwksUri"');
    expect(() => configOf({ ...OIDC_PROFILE, authorizerCacheTtl: '3601' })).toThrow('"authorizerCacheTtl"');
    expect(() => configOf({ ...OIDC_PROFILE, userPoolId: 'eu-west-1_AbC123' })).toThrow('"userPoolId"');
    expect(() => configOf({ ...OIDC_PROFILE, webClient: 'true' })).toThrow('"webClient"');
    expect(() => configOf({ authMode: 'saml' })).toThrow('"authMode" must be one of cognito, oidc');
    expect(() => configOf({ oidcIssuer: 'https://login.example.com/' })).toThrow('apply to authMode=oidc');
    expect(configOf({}).authMode).toBe('cognito');
    expect(configOf({}).authorizerCacheTtl).toBe(300);
  });
});
