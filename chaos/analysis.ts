/**
 * From the raw records to the report's numbers: per phase (throughput, latency percentiles,
 * cache hit rate, statuses, violations), per fault (hit-rate recovery, read p99 while it
 * lasted), and one-second buckets for the chart.
 */
import type { FaultEvent, PhaseWindow, Recorder, RequestRecord, ViolationCategory } from './recorder';
import { VIOLATION_CATEGORIES } from './recorder';

export interface Percentiles {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export function percentiles(values: readonly number[]): Percentiles {
  if (values.length === 0) return { count: 0, p50: Number.NaN, p99: Number.NaN, max: Number.NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] };
}

/** Reads whose `X-Cache` says how they were served: the hit rate's denominator. */
const isCachedRead = (record: RequestRecord) => (record.op === 'detail' || record.op === 'list') && record.status === 200 && record.cache !== undefined;
const isRead = (record: RequestRecord) => record.kind === 'read';
const latency = (record: RequestRecord) => record.endedAt - record.startedAt;

export function hitRate(records: readonly RequestRecord[]): number | undefined {
  const cached = records.filter(isCachedRead);
  return cached.length === 0 ? undefined : cached.filter((r) => r.cache === 'HIT').length / cached.length;
}

export interface FaultSummary {
  readonly event: FaultEvent;
  readonly phase: string;
  /** Hit rate back above 90 % of steady (and staying there) this long after the fault began; undefined: not within its window. */
  readonly recoveryMs: number | undefined;
  /** How long after the fault began its recovery was watched (until the phase ended or the next fault began). */
  readonly watchedMs: number;
  readonly lowestHitRate: number | undefined;
  readonly readP99Ms: number;
  readonly readP99Ratio: number;
  /** Read p99 (ms) and count by how they were served (X-Cache, or the status when not 200). */
  readonly readP99ByPath: Readonly<Record<string, { readonly p99: number; readonly count: number }>>;
}

export interface PhaseSummary {
  readonly phase: PhaseWindow;
  readonly seconds: number;
  readonly requests: number;
  readonly rps: number;
  readonly rpsPerCore: number;
  readonly reads: Percentiles;
  readonly writes: Percentiles;
  readonly hitRate: number | undefined;
  readonly statuses: Readonly<Record<string, number>>;
  readonly violations: Readonly<Record<ViolationCategory, number>>;
  readonly followers: { readonly count: number; readonly done: number };
  readonly faults: readonly FaultSummary[];
  /** Redis failures the workers' layers counted in the phase (fail-open: served without the cache). */
  readonly redisErrors: number;
}

export interface Bucket {
  /** Seconds since the run began (bucket start). */
  readonly t: number;
  readonly reads: number;
  readonly p99: number;
  readonly hitRate: number | undefined;
}

export interface Analysis {
  readonly phases: readonly PhaseSummary[];
  readonly faults: readonly FaultSummary[];
  readonly buckets: readonly Bucket[];
  /** Time 0 of the run (the recorder's start): every time shown is seconds since then. */
  readonly origin: number;
  /** Seconds (since origin) the chart spans. */
  readonly span: { readonly from: number; readonly to: number };
  readonly steady: { readonly hitRate: number | undefined; readonly readP99: number };
  readonly totals: { readonly requests: number; readonly violations: Readonly<Record<ViolationCategory, number>> };
}

const MIN_BUCKET_READS = 10;

function statusKey(record: RequestRecord): string {
  if (record.status === 0) return `no answer (${record.error ?? '?'})`;
  const suffix = record.code ? ` ${record.code}` : '';
  return record.status === 200 && record.streamDone === false ? '200 without [DONE]' : `${record.status}${suffix}`;
}

function countViolations(recorder: Recorder, from: number, to: number): Record<ViolationCategory, number> {
  const counts = Object.fromEntries(VIOLATION_CATEGORIES.map((c) => [c, 0])) as Record<ViolationCategory, number>;
  for (const violation of recorder.violations) if (violation.at >= from && violation.at < to) counts[violation.category] += 1;
  return counts;
}

export function analyze(recorder: Recorder, cores: number, steadyPhase = 'steady'): Analysis {
  const byStart = [...recorder.records].sort((a, b) => a.startedAt - b.startedAt);
  const firstAtOrAfter = (t: number) => {
    let low = 0;
    let high = byStart.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (byStart[mid].startedAt < t) low = mid + 1;
      else high = mid;
    }
    return low;
  };
  const within = (from: number, to: number) => byStart.slice(firstAtOrAfter(from), firstAtOrAfter(to));
  const steadyWindow = recorder.phases.find((p) => p.name === steadyPhase);
  const steadyRecords = steadyWindow ? within(steadyWindow.startedAt, steadyWindow.endedAt) : [];
  const steady = { hitRate: hitRate(steadyRecords), readP99: percentiles(steadyRecords.filter(isRead).map(latency)).p99 };

  const faultSummaries: FaultSummary[] = [];
  const phases = recorder.phases.map((phase): PhaseSummary => {
    const records = within(phase.startedAt, phase.endedAt);
    const seconds = (phase.endedAt - phase.startedAt) / 1000;
    const statuses: Record<string, number> = {};
    for (const record of records) statuses[`${record.op} ${statusKey(record)}`] = (statuses[`${record.op} ${statusKey(record)}`] ?? 0) + 1;
    const followers = records.filter((r) => r.kind === 'follower');
    const faultsHere = recorder.faults.filter((f) => f.startedAt >= phase.startedAt && f.startedAt < phase.endedAt).sort((a, b) => a.startedAt - b.startedAt);
    const faults = faultsHere.map((event, i): FaultSummary => {
      // Watched until the phase ends or the next fault that can move slots begins (neither a Postgres fault
      // nor added latency, below the command timeout, takes hits away).
      const nextRedisFault = faultsHere.slice(i + 1).find((f) => f.target === 'redis' && f.name !== 'redis-latency');
      const until = Math.min(phase.endedAt, nextRedisFault?.startedAt ?? Infinity);
      let lastLow = -1;
      let buckets = 0;
      let lowest: number | undefined;
      for (let start = event.startedAt; start + 1000 <= until; start += 1000, buckets += 1) {
        const bucket = within(start, start + 1000);
        const rate = bucket.filter(isCachedRead).length >= MIN_BUCKET_READS ? hitRate(bucket) : undefined;
        if (rate === undefined || steady.hitRate === undefined) continue;
        lowest = lowest === undefined ? rate : Math.min(lowest, rate);
        if (rate < 0.9 * steady.hitRate) lastLow = buckets;
      }
      const recovered = lastLow < buckets - 1;
      const during = within(event.startedAt, Math.max(event.endedAt, event.startedAt + 1)).filter(isRead);
      const readP99Ms = percentiles(during.map(latency)).p99;
      const paths = new Map<string, number[]>();
      for (const record of during) {
        const path = record.status === 200 ? (record.cache ?? 'no X-Cache') : String(record.status);
        paths.set(path, [...(paths.get(path) ?? []), latency(record)]);
      }
      const readP99ByPath = Object.fromEntries([...paths].map(([path, values]) => [path, { p99: percentiles(values).p99, count: values.length }]));
      const summary: FaultSummary = {
        event,
        phase: phase.name,
        recoveryMs: recovered ? (lastLow + 1) * 1000 : undefined,
        watchedMs: buckets * 1000,
        lowestHitRate: lowest,
        readP99Ms,
        readP99Ratio: readP99Ms / steady.readP99,
        readP99ByPath,
      };
      faultSummaries.push(summary);
      return summary;
    });
    return {
      phase,
      seconds,
      requests: records.length,
      rps: records.length / seconds,
      rpsPerCore: records.length / seconds / cores,
      reads: percentiles(records.filter(isRead).map(latency)),
      writes: percentiles(records.filter((r) => r.kind === 'write').map(latency)),
      hitRate: hitRate(records),
      statuses,
      violations: countViolations(recorder, phase.startedAt, phase.endedAt),
      followers: { count: followers.length, done: followers.filter((r) => r.streamDone === true).length },
      faults,
      redisErrors: recorder.redisErrors.filter((e) => e.at >= phase.startedAt && e.at < phase.endedAt).reduce((sum, e) => sum + e.count, 0),
    };
  });

  const origin = recorder.startedAt;
  const first = recorder.phases[0]?.startedAt ?? origin;
  const end = recorder.phases.at(-1)?.endedAt ?? origin;
  const buckets: Bucket[] = [];
  for (let start = first; start < end; start += 1000) {
    const reads = within(start, start + 1000).filter(isRead);
    buckets.push({
      t: (start - origin) / 1000,
      reads: reads.length,
      p99: percentiles(reads.map(latency)).p99,
      hitRate: reads.filter(isCachedRead).length >= MIN_BUCKET_READS ? hitRate(reads) : undefined,
    });
  }
  return {
    phases,
    faults: faultSummaries,
    buckets,
    origin,
    span: { from: (first - origin) / 1000, to: (end - origin) / 1000 },
    steady,
    totals: { requests: recorder.records.length, violations: countViolations(recorder, -Infinity, Infinity) },
  };
}
