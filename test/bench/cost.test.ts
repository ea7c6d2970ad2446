/** Cost per use in the bench report: the arithmetic, and the Lambda memory it assumes matching the stack's. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { LAMBDA_MEMORY_MB, PRICES, STATEMENTS_PER_ACU_SECOND, cacheEcpus, costPerThousand, dollars } from '../../bench/cost';

describe('bench cost per use', () => {
  it('assumes the memory lib/functions.ts gives the functions', () => {
    const source = readFileSync(path.join(__dirname, '..', '..', 'lib', 'functions.ts'), 'utf8');
    expect(Number(/memorySize: props\.memorySize \?\? (\d+)/.exec(source)?.[1])).toBe(LAMBDA_MEMORY_MB);
  });

  it('prices 1,000 requests line by line, the duration rounded up to the ms', () => {
    // Act: 2.2 ms is billed as 3 ms; 1 command moving 14 KiB is 14 ECPUs; one statement.
    const cost = costPerThousand({ lambdaMs: 2.2, redisCommands: 1, redisBytes: 14 * 1024, postgresStatements: 1 });

    // Assert
    expect(cost.lambdaCompute).toBeCloseTo(1000 * 0.003 * 1 * PRICES.lambdaArmGbSecond, 12);
    expect(cost.lambdaRequests).toBeCloseTo(0.0002, 12);
    expect(cost.apiGateway).toBeCloseTo(0.0035, 12);
    expect(cost.cache).toBeCloseTo(1000 * 14 * PRICES.cacheEcpu, 12);
    expect(cost.database).toBeCloseTo((1000 / STATEMENTS_PER_ACU_SECOND / 3600) * PRICES.auroraAcuHour, 12);
    expect(cost.model).toBe(0);
    expect(cost.total).toBeCloseTo(cost.lambdaCompute + cost.lambdaRequests + cost.apiGateway + cost.cache + cost.database, 12);
  });

  it('adds model tokens to a turn and scales compute with memory', () => {
    // Act
    const turn = costPerThousand({ lambdaMs: 5500, redisCommands: 0, redisBytes: 0, postgresStatements: 0, modelInputTokens: 2000, modelOutputTokens: 400 });
    const half = costPerThousand({ lambdaMs: 5500, redisCommands: 0, redisBytes: 0, postgresStatements: 0 }, 512);

    // Assert: 2,000 × $1/M + 400 × $5/M = $0.004 a turn, $4 per 1,000.
    expect(turn.model).toBeCloseTo(4, 9);
    expect(turn.lambdaCompute).toBeCloseTo(1000 * 5.5 * PRICES.lambdaArmGbSecond, 9);
    expect(half.lambdaCompute).toBeCloseTo(turn.lambdaCompute / 2, 9);
    expect(turn.total - turn.infrastructure).toBeCloseTo(4, 9);
  });

  it('counts at least one ECPU per command and one per KB moved', () => {
    expect(cacheEcpus(3, 100)).toBe(3);
    expect(cacheEcpus(1, 10 * 1024)).toBe(10);
    expect(dollars(0.00024)).toBe('$0.00024');
    expect(dollars(4.08)).toBe('$4.08');
  });
});
