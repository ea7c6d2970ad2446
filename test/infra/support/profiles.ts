/** The `-c` combinations docs/deploy.md documents (besides the defaults), as the tests synthesize them. */

/** "Low idle cost (dev)": serverless cache, Aurora Serverless v2 pausing at 0 ACUs, no NAT. */
export const DEV_LOW_COST_PROFILE: Readonly<Record<string, string>> = {
  cacheMode: 'serverless',
  databaseMode: 'aurora-serverless',
  auroraMinAcu: '0',
  natGateways: '0',
};

/** An example frontend origin: stage=prod needs allowedOrigins. */
export const EXAMPLE_ORIGIN = 'https://chat.example.com';

/** "Default production": `-c stage=prod -c allowedOrigins=…`. */
export const PROD_PROFILE: Readonly<Record<string, string>> = { stage: 'prod', allowedOrigins: EXAMPLE_ORIGIN };

/** Production in Aurora mode, with the stage's default of one reader. */
export const AURORA_PROD_PROFILE: Readonly<Record<string, string>> = { ...PROD_PROFILE, databaseMode: 'aurora-serverless' };

/** The default dev stack behind an AWS WAF web ACL with its per-IP rate rule. */
export const WAF_PROFILE: Readonly<Record<string, string>> = { waf: 'true' };

/** "Production, scaled out": three cache shards and an Aurora Serverless v2 writer with a reader. */
export const SCALE_PROFILE: Readonly<Record<string, string>> = {
  ...PROD_PROFILE,
  cacheNodeType: 'cache.r7g.large',
  cacheShards: '3',
  cacheReplicas: '1',
  databaseMode: 'aurora-serverless',
  auroraMinAcu: '2',
  auroraMaxAcu: '32',
  auroraReaders: '1',
};

/** An example custom domain of the API. */
export const EXAMPLE_DOMAIN = 'api.example.com';

/** "Custom domain": the API on api.example.com with a Route 53 alias, and the hosted web client pointed at it. */
export const CUSTOM_DOMAIN_PROFILE = {
  domainName: EXAMPLE_DOMAIN,
  certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789',
  hostedZoneId: 'Z0123456789ABCDEFGHIJ',
  hostedZoneName: 'example.com',
  webClient: 'true',
} as const satisfies Readonly<Record<string, string>>;
/** "Use your own identity provider": a Lambda authorizer verifying an OpenID Connect issuer's tokens, no Cognito. */
export const OIDC_PROFILE: Readonly<Record<string, string>> = {
  authMode: 'oidc',
  oidcIssuer: 'https://login.example.com/',
  oidcAudience: 'https://api.example.com',
  oidcRequiredScopes: 'chat',
  authorizerCacheTtl: '120',
};
