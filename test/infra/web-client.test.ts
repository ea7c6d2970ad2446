/**
 * `-c webClient=true`: the reference web client on a private bucket behind CloudFront (OAC),
 * Cognito managed login (authorization code + PKCE), its config file, and its origin in the
 * API's CORS origins; the default synth has none of it, and no synthesized template ever has
 * the local sign-in.
 */
import { API_ROUTES } from '../../layer/src/contracts/route-table';
import { DEFAULT_CONTEXT, loadStackConfig } from '../../lib/stack-config';
import { SHARE_LINK_REWRITE } from '../../lib/web-client';
import { removeSynthOutputs, resourcesOfType, synthesize, type Synthesized, unacknowledgedFindings } from './support/synth';

let plain: Synthesized;
let hosted: Synthesized;

beforeAll(() => {
  plain = synthesize();
  hosted = synthesize(
    { webClient: 'true', allowedOrigins: 'https://chat.example.com' },
    { env: { account: '123456789012', region: 'eu-west-1' } },
  );
}, 240_000);

afterAll(() => removeSynthOutputs());

const WEB_CLIENT_TYPES = [
  'AWS::S3::Bucket',
  'AWS::CloudFront::Distribution',
  'AWS::CloudFront::OriginAccessControl',
  'AWS::CloudFront::Function',
  'AWS::Cognito::UserPoolDomain',
  'AWS::Cognito::ManagedLoginBranding',
  'Custom::CDKBucketDeployment',
];

describe('webClient=true', () => {
  it('keeps the page on a private, encrypted, TLS-only bucket', () => {
    const buckets = resourcesOfType(hosted.json, 'AWS::S3::Bucket');
    expect(buckets).toHaveLength(1);
    expect(buckets[0][1].Properties?.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    const policy = JSON.stringify(resourcesOfType(hosted.json, 'AWS::S3::BucketPolicy')[0][1].Properties);
    expect(policy).toContain('"aws:SecureTransport":"false"');
    // Only CloudFront, for this distribution, may read it.
    expect(policy).toContain('cloudfront.amazonaws.com');
    expect(policy).toContain('AWS:SourceArn');
  });

  it('serves it through CloudFront with origin access control, HTTPS only, index.html at the root', () => {
    const [[oacId, oac]] = resourcesOfType(hosted.json, 'AWS::CloudFront::OriginAccessControl');
    const [[, distribution]] = resourcesOfType(hosted.json, 'AWS::CloudFront::Distribution');
    const config = distribution.Properties!.DistributionConfig;
    expect(oac.Properties!.OriginAccessControlConfig).toMatchObject({ OriginAccessControlOriginType: 's3', SigningBehavior: 'always', SigningProtocol: 'sigv4' });
    expect(config.Origins).toHaveLength(1);
    expect(config.Origins[0].OriginAccessControlId).toEqual({ 'Fn::GetAtt': [oacId, 'Id'] });
    expect(config.DefaultRootObject).toBe('index.html');
    expect(config.DefaultCacheBehavior.ViewerProtocolPolicy).toBe('redirect-to-https');
  });

  it('serves the page at a share link: a viewer-request function rewrites /share/<id> (and nothing else) to /index.html', () => {
    // Prepare
    const [[functionId, fn]] = resourcesOfType(hosted.json, 'AWS::CloudFront::Function');
    const [[, distribution]] = resourcesOfType(hosted.json, 'AWS::CloudFront::Distribution');
    const handler = new Function(`${SHARE_LINK_REWRITE}; return handler;`)() as (event: { request: { uri: string } }) => { uri: string };
    const rewrite = (uri: string) => handler({ request: { uri } }).uri;

    // Assess
    expect(fn.Properties!.FunctionConfig.Runtime).toBe('cloudfront-js-2.0');
    expect(fn.Properties!.FunctionCode).toBe(SHARE_LINK_REWRITE);
    expect(fn.Properties!.AutoPublish).toBe(true);
    expect(distribution.Properties!.DistributionConfig.DefaultCacheBehavior.FunctionAssociations).toEqual([
      { EventType: 'viewer-request', FunctionARN: { 'Fn::GetAtt': [functionId, 'FunctionARN'] } },
    ]);
    expect(rewrite('/share/6f1d2c3b-0000-4000-8000-000000000001')).toBe('/index.html');
    expect(rewrite('/share/6F1D2C3B-0000-4000-8000-000000000001')).toBe('/index.html');
    for (const uri of ['/', '/app.js', '/style.css', '/config.json', '/share/not-a-share', '/share/6f1d2c3b-0000-4000-8000-000000000001/app.js', '/x/share/6f1d2c3b-0000-4000-8000-000000000001']) {
      expect(rewrite(uri)).toBe(uri);
    }
  });

  it('signs in through Cognito managed login: code grant + PKCE, no secret, callback and logout at the distribution', () => {
    const clients = resourcesOfType(hosted.json, 'AWS::Cognito::UserPoolClient').map(([, c]) => c.Properties!);
    const login = clients.find((c) => c.AllowedOAuthFlows);
    expect(login).toBeDefined();
    expect(login!.AllowedOAuthFlows).toEqual(['code']);
    expect(login!.AllowedOAuthFlowsUserPoolClient).toBe(true);
    expect(login!.GenerateSecret).toBe(false);
    // The API's resource-server scope, by reference (so the server exists before the client).
    const [[resourceServerId]] = resourcesOfType(hosted.json, 'AWS::Cognito::UserPoolResourceServer');
    expect(login!.AllowedOAuthScopes).toEqual(['openid', 'email', { 'Fn::Join': ['', [{ Ref: resourceServerId }, '/conversations']] }]);
    const [[distributionId]] = resourcesOfType(hosted.json, 'AWS::CloudFront::Distribution');
    for (const urls of [login!.CallbackURLs, login!.LogoutURLs]) {
      expect(JSON.stringify(urls)).toContain(`"Fn::GetAtt":["${distributionId}","DomainName"]`);
    }
    const [[, domain]] = resourcesOfType(hosted.json, 'AWS::Cognito::UserPoolDomain');
    expect(domain.Properties!.ManagedLoginVersion).toBe(2);
    expect(resourcesOfType(hosted.json, 'AWS::Cognito::ManagedLoginBranding')).toHaveLength(1);
  });

  it('writes the page and a config.json naming the API, the client and the Cognito domain, then invalidates the distribution', () => {
    const [[, deployment]] = resourcesOfType(hosted.json, 'Custom::CDKBucketDeployment');
    const props = deployment.Properties!;
    expect(props.SourceObjectKeys).toHaveLength(4);
    expect(props.DistributionPaths).toEqual(['/*']);
    const markers = JSON.stringify(props.SourceMarkers);
    expect(markers).toMatch(/RestApi/);
    expect(markers).toMatch(/LoginClient/);
    expect(markers).toMatch(/LoginDomain/);
    expect(markers).toMatch(/ResourceServer/);
  });

  it('adds the distribution origin to the API CORS origins, next to the configured ones', () => {
    const [[distributionId]] = resourcesOfType(hosted.json, 'AWS::CloudFront::Distribution');
    const functions = resourcesOfType(hosted.json, 'AWS::Lambda::Function').filter(([, f]) => f.Properties?.Environment?.Variables?.ALLOWED_ORIGINS);
    expect(functions.length).toBeGreaterThan(0);
    for (const [, f] of functions) {
      const origins = JSON.stringify(f.Properties!.Environment.Variables.ALLOWED_ORIGINS);
      expect(origins).toContain('https://chat.example.com,https://');
      expect(origins).toContain(`"Fn::GetAtt":["${distributionId}","DomainName"]`);
    }
    const options = resourcesOfType(hosted.json, 'AWS::ApiGateway::Method').filter(([, m]) => m.Properties?.HttpMethod === 'OPTIONS');
    expect(options.length).toBeGreaterThan(0);
    expect(JSON.stringify(options[0][1].Properties)).toContain(distributionId);
    expect(hosted.json.Outputs).toHaveProperty('WebClientUrl');
  });

  it("points share links at the page: SHARE_URL_BASE is the distribution's origin unless shareUrlBase says otherwise", () => {
    const [[distributionId]] = resourcesOfType(hosted.json, 'AWS::CloudFront::Distribution');
    const apiFunctions = resourcesOfType(hosted.json, 'AWS::Lambda::Function').filter(([, f]) => f.Properties?.Environment?.Variables?.ALLOWED_ORIGINS);
    expect(apiFunctions.length).toBeGreaterThan(0);
    for (const [, f] of apiFunctions) {
      expect(f.Properties!.Environment.Variables.SHARE_URL_BASE).toEqual({ 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [distributionId, 'DomainName'] }]] });
    }
    // Without the hosted page, the request's Origin decides (docs/api.md, share links).
    for (const [, f] of resourcesOfType(plain.json, 'AWS::Lambda::Function')) expect(f.Properties?.Environment?.Variables ?? {}).not.toHaveProperty('SHARE_URL_BASE');
  });

  it('cdk-nag reports nothing unacknowledged', () => {
    expect(unacknowledgedFindings(hosted)).toEqual([]);
  });

  it('cdk-nag stays clean when only the Region is known, as `cdk synth` with a default Region (no account) has it', () => {
    // Synthesizing throws on an unacknowledged cdk-nag error; the asset bucket's name is then half literal.
    const regionOnly = synthesize({ webClient: 'true' }, { env: { region: 'us-east-1' } });
    expect(unacknowledgedFindings(regionOnly)).toEqual([]);
  });
});

describe('the default synth', () => {
  it('has no web client resources', () => {
    for (const type of WEB_CLIENT_TYPES) expect(resourcesOfType(plain.json, type)).toEqual([]);
    expect(plain.json.Outputs).not.toHaveProperty('WebClientUrl');
  });
});

describe('the local sign-in', () => {
  it('exists in no synthesized template and in no API route', () => {
    for (const s of [plain, hosted]) {
      const paths = resourcesOfType(s.json, 'AWS::ApiGateway::Resource').map(([, r]) => String(r.Properties?.PathPart));
      expect(paths.length).toBeGreaterThan(0);
      expect(paths.filter((part) => /local|sign-?in/i.test(part))).toEqual([]);
      expect(JSON.stringify(s.json)).not.toMatch(/local\/sign-in|sign-in/i);
    }
    expect(JSON.stringify(API_ROUTES)).not.toMatch(/local|sign-in/i);
  });
});

describe('the webClient context key', () => {
  const load = (value: unknown) => loadStackConfig({ tryGetContext: (key: string) => (key === 'webClient' ? value : DEFAULT_CONTEXT[key as keyof typeof DEFAULT_CONTEXT]) });

  it('is off by default and takes true/false as JSON or as -c strings', () => {
    expect(loadStackConfig({ tryGetContext: () => undefined }).webClient).toBe(false);
    expect(load(true).webClient).toBe(true);
    expect(load('true').webClient).toBe(true);
    expect(load('false').webClient).toBe(false);
  });

  it('rejects anything else, naming the key', () => {
    expect(() => load('maybe')).toThrow(/"webClient" must be true or false; got "maybe"/);
  });
});
