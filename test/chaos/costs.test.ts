/**
 * The chaos run's per-route costs (chaos/costs.ts): what workers record from each request's
 * timing summary, and how the orchestrator merges them per route over a window. The numbers
 * docs/deploy.md#capacity starts from come through here.
 */
import type { TimingSummary } from '@chatbot/shared';
import { CostRecorder, renderRouteCosts, routeCosts } from '../../chaos/costs';

const DETAIL = { method: 'GET', resource: '/backend-api/conversation/{conversation_id}' };
const POST = { method: 'POST', resource: '/backend-api/f/conversation' };

function summary(redisCommands: number, statements: number, totalMs: number, modelMs = 0): TimingSummary {
  return {
    redis: { ms: 1, count: 1 },
    postgres: { ms: 1, count: statements },
    model: { ms: modelMs, count: modelMs > 0 ? 1 : 0 },
    redisCommands,
    totalMs,
  };
}

describe('per-route costs', () => {
  it('averages commands and statements per request and takes duration percentiles per route, across workers', () => {
    const first = new CostRecorder();
    const second = new CostRecorder();
    // A hit (1 command, no statement) and a miss (3 commands, 1 statement) on one worker, another hit on the other.
    first.add({ ...DETAIL, status: 200 }, summary(1, 0, 2));
    first.add({ ...DETAIL, status: 200 }, summary(3, 1, 10));
    second.add({ ...POST, status: 200 }, summary(40, 3, 900, 850));
    second.add({ ...DETAIL, status: 200 }, summary(1, 0, 3));

    const costs = routeCosts([first.samples(), second.samples()]);
    expect(costs.map((cost) => [cost.route, cost.function, cost.requests])).toEqual([
      ['GET /backend-api/conversation/{conversation_id}', 'get-conversation', 3],
      ['POST /backend-api/f/conversation', 'post-conversation', 1],
    ]);
    const [detail, post] = costs;
    expect(detail.redisPerRequest).toBeCloseTo(5 / 3);
    expect(detail.postgresPerRequest).toBeCloseTo(1 / 3);
    expect(detail.ms.p50).toBe(3);
    expect(detail.ms.p99).toBeGreaterThan(3);
    expect(detail.ms.p99).toBeLessThanOrEqual(10);
    expect(post).toMatchObject({ redisPerRequest: 40, postgresPerRequest: 3, modelMsP50: 850 });
  });

  it('counts only the requests that ended within the window', () => {
    const recorder = new CostRecorder();
    const now = jest.spyOn(Date, 'now');
    try {
      now.mockReturnValue(1_000);
      recorder.add({ ...DETAIL, status: 200 }, summary(1, 0, 2));
      now.mockReturnValue(2_000);
      recorder.add({ ...DETAIL, status: 200 }, summary(5, 2, 40));
    } finally {
      now.mockRestore();
    }
    const inWindow = routeCosts([recorder.samples()], { from: 1_500, to: 2_500 });
    expect(inWindow).toHaveLength(1);
    expect(inWindow[0]).toMatchObject({ requests: 1, redisPerRequest: 5, postgresPerRequest: 2 });
    expect(routeCosts([recorder.samples()], { from: 3_000, to: 4_000 })).toEqual([]);
  });

  it('renders the steady phase beside the whole run, with a dash for a route the steady phase never saw', () => {
    const recorder = new CostRecorder();
    recorder.add({ ...DETAIL, status: 200 }, summary(1, 0, 2));
    recorder.add({ method: 'PATCH', resource: '/backend-api/conversation/{conversation_id}', status: 200 }, summary(3, 1, 20));
    const all = routeCosts([recorder.samples()]);
    const steady = all.filter((cost) => cost.route.startsWith('GET'));
    const lines = renderRouteCosts(steady, all, 'steady').join('\n');
    expect(lines).toContain('| `GET /backend-api/conversation/{conversation_id}` | get-conversation | 1 / 1 | 1.00 / 1.00 | 0.00 / 0.00 | 2.0 / 2.0 |');
    expect(lines).toContain('| `PATCH /backend-api/conversation/{conversation_id}` | update-conversation | 0 / 1 | – / 3.00 | – / 1.00 | – |');
  });
});
