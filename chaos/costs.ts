/**
 * What each route costs, measured on the run's own requests: the Redis commands a request
 * sent, the Postgres statements it ran and how long its handler took (until its stream ended,
 * as Lambda bills a streamed response) — each as the handler itself counted it
 * (layer/src/platform/tracing.ts: `counted` at the ioredis calls, `db.query` at the pg pool),
 * collected per worker through the timing sink and merged here. docs/deploy.md's capacity
 * table starts from these numbers.
 *
 * The steady phase is the one to plan with (no fault: the cache at its steady hit rate); the
 * whole run is beside it, because a Redis fault turns hits into Postgres reads.
 */
import type { TimingSummary } from '@chatbot/shared';
import { percentile } from '../bench/stats';
import { API_ROUTES } from '../layer/src/contracts/route-table';

/** One worker's requests: route names, and one row per request (see {@link Column}). */
export interface CostSamples {
  readonly routes: readonly string[];
  readonly rows: readonly (readonly number[])[];
}

/** The fields of a row, in order. */
const Column = {
  Route: 0,
  /** `Date.now()` when the handler reported (its end). */
  At: 1,
  Status: 2,
  RedisCommands: 3,
  PostgresQueries: 4,
  TotalMs: 5,
  ModelMs: 6,
} as const;
type Column = (typeof Column)[keyof typeof Column];

/** The worker's side: one row per request the handlers reported. */
export class CostRecorder {
  private readonly routes = new Map<string, number>();
  private readonly rows: number[][] = [];

  add(request: { readonly method: string; readonly resource: string; readonly status: number }, summary: TimingSummary): void {
    const route = `${request.method} ${request.resource}`;
    let index = this.routes.get(route);
    if (index === undefined) {
      index = this.routes.size;
      this.routes.set(route, index);
    }
    const row: number[] = [];
    row[Column.Route] = index;
    row[Column.At] = Date.now();
    row[Column.Status] = request.status;
    row[Column.RedisCommands] = summary.redisCommands;
    row[Column.PostgresQueries] = summary.postgres.count;
    row[Column.TotalMs] = Math.round(summary.totalMs * 100) / 100;
    row[Column.ModelMs] = Math.round(summary.model.ms * 100) / 100;
    this.rows.push(row);
  }

  samples(): CostSamples {
    return { routes: [...this.routes.keys()], rows: this.rows };
  }
}

/** One route's costs over a window. */
export interface RouteCost {
  readonly route: string;
  /** The Lambda function that serves it (the route table). */
  readonly function: string;
  readonly requests: number;
  readonly redisPerRequest: number;
  readonly postgresPerRequest: number;
  readonly ms: { readonly p50: number; readonly p99: number };
  /** Of the handler's time, waiting on the model (a POST's reply and title): p50. */
  readonly modelMsP50: number;
}

const FUNCTION_OF = new Map<string, string>(API_ROUTES.map((route) => [`${route.method} ${route.path}`, route.function]));

/**
 * Per route, over the requests that ended within [from, to) (`Date.now()` milliseconds; the
 * whole run when omitted), most requested first.
 */
export function routeCosts(workers: readonly CostSamples[], window?: { readonly from: number; readonly to: number }): RouteCost[] {
  const byRoute = new Map<string, (readonly number[])[]>();
  for (const worker of workers) {
    for (const row of worker.rows) {
      if (window && (row[Column.At] < window.from || row[Column.At] >= window.to)) continue;
      const route = worker.routes[row[Column.Route]];
      const rows = byRoute.get(route) ?? [];
      rows.push(row);
      byRoute.set(route, rows);
    }
  }
  const mean = (rows: readonly (readonly number[])[], column: Column) => rows.reduce((sum, row) => sum + row[column], 0) / rows.length;
  return [...byRoute]
    .map(([route, rows]): RouteCost => {
      const durations = rows.map((row) => row[Column.TotalMs]).sort((a, b) => a - b);
      return {
        route,
        function: FUNCTION_OF.get(route) ?? '?',
        requests: rows.length,
        redisPerRequest: mean(rows, Column.RedisCommands),
        postgresPerRequest: mean(rows, Column.PostgresQueries),
        ms: { p50: percentile(durations, 50), p99: percentile(durations, 99) },
        modelMsP50: percentile(
          rows.map((row) => row[Column.ModelMs]).sort((a, b) => a - b),
          50,
        ),
      };
    })
    .sort((a, b) => b.requests - a.requests);
}

const fixed = (value: number, digits = 2) => (Number.isNaN(value) ? '–' : value.toFixed(digits));
const millis = (value: number) => (Number.isNaN(value) ? '–' : value >= 100 ? value.toFixed(0) : value.toFixed(1));

/** The report's section: the steady phase beside the whole run, per route. */
export function renderRouteCosts(steady: readonly RouteCost[], all: readonly RouteCost[], steadyName: string): string[] {
  const steadyOf = new Map(steady.map((cost) => [cost.route, cost]));
  const rows = all.map((whole) => {
    const calm = steadyOf.get(whole.route);
    return [
      `\`${whole.route}\``,
      whole.function,
      `${calm?.requests ?? 0} / ${whole.requests}`,
      `${calm ? fixed(calm.redisPerRequest) : '–'} / ${fixed(whole.redisPerRequest)}`,
      `${calm ? fixed(calm.postgresPerRequest) : '–'} / ${fixed(whole.postgresPerRequest)}`,
      calm ? `${millis(calm.ms.p50)} / ${millis(calm.ms.p99)}` : '–',
      `${millis(whole.ms.p50)} / ${millis(whole.ms.p99)}`,
      calm ? millis(calm.modelMsP50) : '–',
    ];
  });
  const header = ['route', 'function', `requests (${steadyName} / all)`, 'Redis commands per request', 'Postgres statements per request', `handler ms p50 / p99 (${steadyName})`, 'handler ms p50 / p99 (all)', `of which model ms p50 (${steadyName})`];
  return [
    '## Per-route costs',
    '',
    `What one request of each route cost, as its handler counted it (layer/src/platform/tracing.ts): the Redis commands it sent (each ioredis call the layer makes, through \`counted\`), ` +
      'the Postgres statements it ran (each `db.query` at the pg pool), and its duration from the first middleware until its response — or its stream — ended, which is what Lambda bills. ' +
      `Two numbers per cell: the ${steadyName} phase (no fault: what to plan capacity with) / the whole run (faults included: a Redis fault turns hits into Postgres reads). ` +
      'Durations are inflated by this machine: each worker serves several requests at once on shared cores, where a Lambda container serves one; a POST includes the local model streaming its reply (the last column), which Bedrock replaces with its own time per token.',
    '',
    ['| ' + header.join(' | ') + ' |', '| ' + header.map(() => '---').join(' | ') + ' |', ...rows.map((row) => '| ' + row.join(' | ') + ' |')].join('\n'),
    '',
  ];
}

/** The same as lines for the console. */
export function routeCostLines(steady: readonly RouteCost[]): string[] {
  return steady.map(
    (cost) =>
      `${cost.route.padEnd(58)} ${String(cost.requests).padStart(6)} req  redis ${fixed(cost.redisPerRequest).padStart(5)}  pg ${fixed(cost.postgresPerRequest).padStart(5)}  ms p50 ${millis(cost.ms.p50).padStart(5)} p99 ${millis(cost.ms.p99).padStart(5)}`,
  );
}
