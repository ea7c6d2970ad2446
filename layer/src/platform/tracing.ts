/**
 * Where a request spent its time: every Redis operation, Postgres statement and model call runs
 * through {@link traced}, which (1) sends it to AWS X-Ray as a subsegment of the function's
 * segment when the invocation is sampled (Lambda active tracing), and (2) adds it to the
 * request's timing summary — one log line per request when `LOG_REQUEST_TIMINGS` is on, or
 * `npm start`'s per-request line.
 *
 * Why not Powertools Tracer or the OpenTelemetry SDK: Powertools Tracer is built on the X-Ray
 * SDK, in maintenance mode since 2026-02-25, and adds ~137 KB and ~25 ms to every cold start;
 * the OpenTelemetry SDK ~181 KB and ~30 ms (the ADOT Lambda layer far more) — either would take
 * the read handlers past 1.5× the ioredis + pg floor (docs/benchmarks.md), and neither sees
 * ioredis or our Postgres wrapper without more packages. What Lambda's active tracing collects
 * is X-Ray segment documents over UDP to the daemon it runs (a documented, stable protocol): a
 * few dozen lines, no dependency, nothing loaded before the first traced call.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { getConfig } from './config';
import { logger } from './observability';

/** What a traced piece of work talks to. */
export type SpanKind = 'redis' | 'postgres' | 'model';

const KINDS: readonly SpanKind[] = ['redis', 'postgres', 'model'];

/**
 * One request's timings, by kind: total milliseconds and how many; and the Redis commands it
 * sent (a Redis span is one operation, which may send several: a lease miss, an invalidation).
 */
export type TimingSummary = Record<SpanKind, { ms: number; count: number }> & { readonly redisCommands: number; readonly totalMs: number; readonly traceId?: string };

/** The request a summary is about. */
export interface TracedRequest {
  readonly method: string;
  readonly resource: string;
}

interface Invocation {
  readonly request: TracedRequest;
  readonly started: number;
  readonly spans: Record<SpanKind, { ms: number; count: number }>;
  /** Redis commands sent (fail-open.ts `counted`). */
  redisCommands: number;
  /** `Root=…;Parent=…;Sampled=1` of a sampled Lambda invocation; subsegments go to X-Ray only then. */
  readonly xray?: { readonly traceId: string; readonly parentId: string };
}

const invocations = new AsyncLocalStorage<Invocation>();

/** The X-Ray trace of this invocation, from the header Lambda sets per invocation, when sampled. */
function xrayContext(header = process.env._X_AMZN_TRACE_ID): Invocation['xray'] {
  if (!header || !process.env.AWS_XRAY_DAEMON_ADDRESS) return undefined;
  const fields = Object.fromEntries(header.split(';').map((field) => field.split('=') as [string, string]));
  return fields.Sampled === '1' && fields.Root && fields.Parent ? { traceId: fields.Root, parentId: fields.Parent } : undefined;
}

/**
 * Starts a request's timings: everything that follows in this async context (the handler, and a
 * streamed body's work after it returns) is counted to it. The `traceRequest` middleware calls
 * it first thing in every API function.
 */
export function beginTracedRequest(request: TracedRequest): void {
  const spans = { redis: { ms: 0, count: 0 }, postgres: { ms: 0, count: 0 }, model: { ms: 0, count: 0 } };
  invocations.enterWith({ request, started: performance.now(), spans, redisCommands: 0, xray: xrayContext() });
}

/** Ends a span started by {@link startSpan}; `failed` marks it a fault in X-Ray. Idempotent. */
export type EndSpan = (failed?: boolean) => void;

/**
 * Starts a `kind` span named `name` (e.g. `cache.get`, `SELECT conversations`, `bedrock
 * claude-haiku-4-5`) that ends when the returned function is called: into the request's summary,
 * and to X-Ray when sampled. Outside a request (migrations, tests) it records nothing.
 */
export function startSpan(kind: SpanKind, name: string): EndSpan {
  const invocation = invocations.getStore();
  if (!invocation) return () => undefined;
  const started = performance.now();
  const startTime = Date.now() / 1000;
  let ended = false;
  return (failed = false) => {
    if (ended) return;
    ended = true;
    const ms = performance.now() - started;
    invocation.spans[kind].ms += ms;
    invocation.spans[kind].count += 1;
    if (invocation.xray) sendSubsegment(invocation.xray, kind, name, startTime, startTime + ms / 1000, failed);
  };
}

/** Times `work` as one span (see {@link startSpan}). */
export async function traced<T>(kind: SpanKind, name: string, work: () => Promise<T>): Promise<T> {
  const end = startSpan(kind, name);
  try {
    const result = await work();
    end();
    return result;
  } catch (error) {
    end(true);
    throw error;
  }
}

/** Counts one Redis command to the current request (outside a request: nothing). */
export function countRedisCommand(): void {
  const invocation = invocations.getStore();
  if (invocation) invocation.redisCommands += 1;
}

/** The current request's timings so far; `undefined` outside a request. */
export function timingSummary(): TimingSummary | undefined {
  const invocation = invocations.getStore();
  if (!invocation) return undefined;
  return { ...structuredClone(invocation.spans), redisCommands: invocation.redisCommands, totalMs: performance.now() - invocation.started, traceId: invocation.xray?.traceId };
}

/** One line: `total 4.2 ms | redis 0.4 ms ×1 | postgres 1.1 ms ×1 | model 0.0 ms ×0`. */
export function formatTimings(summary: TimingSummary): string {
  return [`total ${summary.totalMs.toFixed(1)} ms`, ...KINDS.map((kind) => `${kind} ${summary[kind].ms.toFixed(1)} ms ×${summary[kind].count}`)].join(' | ');
}

type TimingSink = (summary: TimingSummary, request: TracedRequest & { readonly status: number }) => void;

/** Where summaries go besides the log; `npm start` prints a line. */
let sink: TimingSink | undefined;

/** Sends every request's summary to `next` (`undefined`: back to the log line `LOG_REQUEST_TIMINGS` turns on). */
export function setTimingSink(next: TimingSink | undefined): void {
  sink = next;
}

/** Reports the current request's summary, with its status: to the sink when one is set, else as a log line when `LOG_REQUEST_TIMINGS` is on. */
export function reportTimings(status: number): void {
  const invocation = invocations.getStore();
  const summary = timingSummary();
  if (!invocation || !summary) return;
  const request = { ...invocation.request, status };
  if (sink) sink(summary, request);
  else if (getConfig().observability.logRequestTimings) logger.info('Request timings', { ...request, ...summary });
}

let socket: Socket | undefined;

/** One independent subsegment to the X-Ray daemon (UDP, fire and forget: tracing never slows or breaks a request). */
function sendSubsegment(xray: NonNullable<Invocation['xray']>, kind: SpanKind, name: string, start: number, end: number, failed: boolean): void {
  const [host, port] = (process.env.AWS_XRAY_DAEMON_ADDRESS ?? '').replace(/^udp:/, '').split(' ')[0].split(':');
  const document = {
    name: `${kind} ${name}`.slice(0, 200),
    id: randomBytes(8).toString('hex'),
    trace_id: xray.traceId,
    parent_id: xray.parentId,
    type: 'subsegment',
    namespace: kind === 'model' ? 'aws' : 'remote',
    start_time: start,
    end_time: end,
    ...(failed ? { fault: true } : {}),
    annotations: { kind },
  };
  try {
    socket ??= createSocket('udp4').unref();
    socket.send(`{"format": "json", "version": 1}\n${JSON.stringify(document)}`, Number(port), host, () => undefined);
  } catch (error) {
    logger.debug('X-Ray subsegment not sent', { error });
  }
}
