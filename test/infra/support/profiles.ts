/** The `-c` combinations docs/deploy.md documents (besides the defaults), as the tests synthesize them. */

/** "Low idle cost (dev)": serverless cache, Aurora Serverless v2 pausing at 0 ACUs, no NAT. */
export const DEV_LOW_COST_PROFILE: Readonly<Record<string, string>> = {
  cacheMode: 'serverless',
  databaseMode: 'aurora-serverless',
  auroraMinAcu: '0',
  natGateways: '0',
};

/** "Production, scaled out": three cache shards and an Aurora Serverless v2 writer with a reader. */
export const SCALE_PROFILE: Readonly<Record<string, string>> = {
  stage: 'prod',
  cacheNodeType: 'cache.r7g.large',
  cacheShards: '3',
  cacheReplicas: '1',
  databaseMode: 'aurora-serverless',
  auroraMinAcu: '2',
  auroraMaxAcu: '32',
  auroraReaders: '1',
};
