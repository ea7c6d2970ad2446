/**
 * Everything measured in a run: one record per request, the faults with the windows they
 * covered, the phases, and every violation the checker found. Times are `performance.now()`
 * milliseconds of the orchestrator.
 */

export type RequestKind = 'read' | 'write' | 'follower';

export interface RequestRecord {
  readonly op: string;
  readonly kind: RequestKind;
  readonly startedAt: number;
  readonly endedAt: number;
  /** 0: no answer (connection failed, or the client gave up). */
  readonly status: number;
  /** `X-Cache` of a read. */
  readonly cache?: string;
  /** `detail.code` of an error body. */
  readonly code?: string;
  readonly error?: string;
  readonly worker: number;
  /** A 200 event stream: whether it ended with `[DONE]`. */
  readonly streamDone?: boolean;
}

/** What the checker counts; any of them makes the run exit non-zero. */
export type ViolationCategory = 'stale' | 'lost' | 'cross-user' | 'status' | 'follower';

export const VIOLATION_CATEGORIES: readonly ViolationCategory[] = ['stale', 'lost', 'cross-user', 'status', 'follower'];

export interface Violation {
  readonly category: ViolationCategory;
  /** When it was observed (the request's start, or the end of the run for lost writes). */
  readonly at: number;
  readonly op: string;
  readonly detail: string;
}

export type FaultTarget = 'redis' | 'postgres';

/** A fault as it happened. */
export interface FaultEvent {
  readonly name: string;
  readonly target: FaultTarget;
  readonly startedAt: number;
  /** When its direct effect ended: the node promoted/back, the slots moved, the latency removed, Postgres accepting again. */
  readonly endedAt: number;
  /** What was done, for the report (which node, which slots, how many keys, how long the failover took). */
  readonly detail: string;
  /** True when it moved slots to another node (a failover or a migration): the hit-rate recovery target applies. */
  readonly movesSlots: boolean;
}

export interface PhaseWindow {
  readonly name: string;
  readonly description: string;
  readonly startedAt: number;
  readonly endedAt: number;
}

export class Recorder {
  readonly records: RequestRecord[] = [];
  readonly violations: Violation[] = [];
  readonly faults: FaultEvent[] = [];
  readonly phases: PhaseWindow[] = [];
  /** Free-form observations for the report (e.g. a failover that took longer than expected). */
  readonly notes: string[] = [];
  /** Redis failures the workers' layers counted (`performance.now()` of the 100 ms window's end, worker, count). */
  readonly redisErrors: { readonly at: number; readonly worker: number; readonly count: number }[] = [];
  /** `Date.now()` minus `performance.now()`: converts the workers' wall-clock times. */
  readonly epochOffset = Date.now() - performance.now();

  constructor(readonly startedAt: number) {}

  request(record: RequestRecord): void {
    this.records.push(record);
  }

  violation(category: ViolationCategory, at: number, op: string, detail: string): void {
    this.violations.push({ category, at, op, detail });
  }

  /** Seconds since the run began, for messages. */
  seconds(at: number): string {
    return `${((at - this.startedAt) / 1000).toFixed(2)} s`;
  }
}
