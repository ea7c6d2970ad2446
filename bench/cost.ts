/**
 * Cost per use, beside docs/deploy.md's idle costs: what 1,000 requests of a kind add to the
 * bill, from a request's measured duration and round trips. us-east-1, on-demand; the same
 * prices as docs/deploy.md's Capacity section (check them before relying on the totals).
 */

/** The functions' memory: lib/functions.ts (`memorySize ?? 1024`); test/bench/cost.test.ts keeps the two equal. */
export const LAMBDA_MEMORY_MB = 1024;

export const PRICES = {
  /** Lambda on Arm (the functions' architecture), per GB-s, first 7.5 billion a month. */
  lambdaArmGbSecond: 0.0000133334,
  /** Lambda, per request. */
  lambdaRequest: 0.2 / 1e6,
  /** API Gateway REST API, per request, first 333 million a month. */
  apiGatewayRequest: 3.5 / 1e6,
  /** ElastiCache Serverless for Valkey, per ECPU (a simple command moving ≤ 1 KB is 1 ECPU; 1 more per KB beyond). */
  cacheEcpu: 0.0023 / 1e6,
  /** Aurora Serverless v2, per ACU-hour. */
  auroraAcuHour: 0.12,
  /** Claude Haiku 4.5 (the default model), per input and output token. */
  modelInputToken: 1 / 1e6,
  modelOutputToken: 5 / 1e6,
} as const;

/** docs/deploy.md's planning figure for Aurora: single-row indexed statements one ACU serves per second (not measured here). */
export const STATEMENTS_PER_ACU_SECOND = 250;

/** What one request uses. */
export interface RequestUse {
  /** Handler duration, ms (Lambda bills it rounded up to the next ms). */
  readonly lambdaMs: number;
  readonly redisCommands: number;
  /** Bytes the request moves to or from Redis (e.g. the body a hit reads). */
  readonly redisBytes: number;
  readonly postgresStatements: number;
  readonly modelInputTokens?: number;
  readonly modelOutputTokens?: number;
}

/** Dollars per 1,000 requests, by line. */
export interface CostPerThousand {
  readonly lambdaCompute: number;
  readonly lambdaRequests: number;
  readonly apiGateway: number;
  readonly cache: number;
  readonly database: number;
  readonly model: number;
  /** Everything but the model. */
  readonly infrastructure: number;
  readonly total: number;
}

/** ECPUs of a request's Redis work: one per command, plus one per KB moved beyond the first KB of each command. */
export function cacheEcpus(commands: number, bytes: number): number {
  return Math.max(commands, bytes / 1024);
}

export function costPerThousand(use: RequestUse, memoryMb = LAMBDA_MEMORY_MB): CostPerThousand {
  const billedSeconds = Math.ceil(use.lambdaMs) / 1000;
  const lambdaCompute = 1000 * billedSeconds * (memoryMb / 1024) * PRICES.lambdaArmGbSecond;
  const lambdaRequests = 1000 * PRICES.lambdaRequest;
  const apiGateway = 1000 * PRICES.apiGatewayRequest;
  const cache = 1000 * cacheEcpus(use.redisCommands, use.redisBytes) * PRICES.cacheEcpu;
  const database = 1000 * (use.postgresStatements / STATEMENTS_PER_ACU_SECOND / 3600) * PRICES.auroraAcuHour;
  const model = 1000 * ((use.modelInputTokens ?? 0) * PRICES.modelInputToken + (use.modelOutputTokens ?? 0) * PRICES.modelOutputToken);
  const infrastructure = lambdaCompute + lambdaRequests + apiGateway + cache + database;
  return { lambdaCompute, lambdaRequests, apiGateway, cache, database, model, infrastructure, total: infrastructure + model };
}

/** Dollars, with enough digits to tell small lines apart. */
export const dollars = (value: number): string => (value === 0 ? '$0' : value >= 1 ? `$${value.toFixed(2)}` : value >= 0.01 ? `$${value.toFixed(3)}` : `$${value.toPrecision(2)}`);
