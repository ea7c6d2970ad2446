/**
 * The workload's moving parts: the API as the clients call it (every request dispatched to
 * the least busy worker and recorded), the Zipf-distributed conversation population (a few
 * conversations take most of the reads), the tally of hot hash slots the faults aim at, and
 * the driver that runs the operation table at a target rate until told to stop.
 */
import type { Checker, FollowerOutcome } from './checker';
import type { Fleet } from './fleet';
import type { Conversation, History, User } from './history';
import { errorCode, type ApiTarget, type HttpResult, type SendOptions } from './http-client';
import type { Recorder, RequestKind } from './recorder';
import { keySlot } from './redis-cluster';
import { sseFrames } from '../test/support/sse';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** How long a client waits before it calls a request hung (API Gateway itself gives up at 29 s). */
export const CLIENT_TIMEOUT_MS = { read: 20_000, write: 60_000, follower: 25_000 } as const;

/** Requests per hash slot, to aim faults at the slots the traffic uses most. */
export class HotSlots {
  private readonly counts = new Float64Array(16384);

  touch(key: string): void {
    this.counts[keySlot(key)] += 1;
  }

  /** The `n` busiest slots, busiest first. */
  top(n: number): number[] {
    return [...this.counts.keys()].sort((a, b) => this.counts[b] - this.counts[a]).slice(0, n).filter((slot) => this.counts[slot] > 0);
  }

  /** Halves every count, so the tally follows what is hot now. */
  decay(): void {
    for (let i = 0; i < this.counts.length; i += 1) this.counts[i] /= 2;
  }
}

/** The API as clients see it: each request goes to the least busy worker and is recorded. */
export class Api {
  constructor(
    private readonly fleet: Fleet,
    private readonly recorder: Recorder,
  ) {}

  pickWorker(exclude?: ApiTarget): ApiTarget {
    return this.fleet.pick(exclude);
  }

  async send(op: string, kind: RequestKind, user: User, options: Omit<SendOptions, 'token' | 'timeoutMs'>, target = this.fleet.pick()): Promise<HttpResult> {
    const result = await target.send({ ...options, token: user.token, timeoutMs: CLIENT_TIMEOUT_MS[kind] });
    const stream = result.status === 200 && String(result.headers['content-type']).startsWith('text/event-stream');
    this.recorder.request({
      op,
      kind,
      startedAt: result.startedAt,
      endedAt: result.endedAt,
      status: result.status,
      cache: result.headers['x-cache'],
      code: result.status >= 400 ? errorCode(result.body) : undefined,
      error: result.error,
      worker: target.index,
      streamDone: stream ? sseFrames(result.body).at(-1) === 'data: [DONE]\n\n' : undefined,
    });
    return result;
  }
}

/** Conversations ranked by popularity: rank r is read with weight 1/(r+1)^s. New ones join at the cold end. */
export class ZipfPopulation {
  readonly ranked: Conversation[] = [];
  private readonly cumulative: number[] = [];

  constructor(private readonly exponent: number) {}

  add(conversation: Conversation): void {
    conversation.rank = this.ranked.length;
    const weight = 1 / (this.ranked.length + 1) ** this.exponent;
    this.cumulative.push((this.cumulative.at(-1) ?? 0) + weight);
    this.ranked.push(conversation);
  }

  pick(random: () => number): Conversation {
    const x = random() * (this.cumulative.at(-1) ?? 0);
    let low = 0;
    let high = this.cumulative.length - 1;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (this.cumulative[mid] < x) low = mid + 1;
      else high = mid;
    }
    return this.ranked[low];
  }
}

/** Knobs of the workload mix. */
export interface WorkloadSettings {
  /** Share of posts in the v1 delta encoding (the rest legacy snapshots). */
  readonly v1Share: number;
  /** Share of v1 replies that get a resume follower. */
  readonly followerShare: number;
  /** A conversation gets no more turns after this many messages (its readers would be reading a book). */
  readonly maxMessagesPerConversation: number;
  /** A user starts no new conversation past this many live ones (every list page shows them all). */
  readonly maxConversationsPerUser: number;
  /** The list page every client asks for. */
  readonly listLimit: number;
  /** Conversations this hot are never deleted (the hot set stays stable across phases). */
  readonly protectedRanks: number;
}

/** What an operation can use. */
export interface WorkloadContext {
  readonly history: History;
  readonly checker: Checker;
  readonly api: Api;
  readonly recorder: Recorder;
  readonly population: ZipfPopulation;
  readonly hotSlots: HotSlots;
  readonly random: () => number;
  readonly settings: WorkloadSettings;
  /** Resume followers, checked at the end against the fault windows. */
  readonly followers: FollowerOutcome[];
}

/** One row of the operation table (operations.ts). */
export interface Operation {
  readonly name: string;
  readonly kind: 'read' | 'write';
  /** Relative share of all operations. */
  readonly weight: number;
  /**
   * Picks a target and runs. Returns false when it cannot run now (its user already has a
   * write in flight, no conversation fits); the driver then runs a read instead.
   */
  run(context: WorkloadContext): Promise<boolean>;
}

/** Runs the operation table at a target rate from a fixed number of concurrent clients. */
export class Driver {
  private stopped = false;
  private nextAt = performance.now();
  private readonly loops: Promise<void>[] = [];
  private readonly cumulative: number[] = [];
  /** Operations that threw: a harness bug, reported rather than swallowed. */
  readonly crashes: string[] = [];
  readonly ran = new Map<string, number>();

  constructor(
    private readonly context: WorkloadContext,
    private readonly operations: readonly Operation[],
    private readonly fallback: Operation,
    private readonly options: { readonly clients: number; readonly rps: number; readonly maxRequests: number },
  ) {
    let total = 0;
    for (const operation of operations) this.cumulative.push((total += operation.weight));
  }

  start(): void {
    for (let i = 0; i < this.options.clients; i += 1) this.loops.push(this.loop());
  }

  private pick(): Operation {
    const x = this.context.random() * (this.cumulative.at(-1) ?? 0);
    return this.operations[this.cumulative.findIndex((c) => c >= x)] ?? this.fallback;
  }

  /** One slot of the global schedule: requests go out at `rps` overall; a client that fell behind does not burst to catch up. */
  private async pace(): Promise<void> {
    const now = performance.now();
    this.nextAt = Math.max(this.nextAt + 1000 / this.options.rps, now - 250);
    if (this.nextAt > now) await sleep(this.nextAt - now);
  }

  private async loop(): Promise<void> {
    while (!this.stopped && this.context.recorder.records.length < this.options.maxRequests) {
      await this.pace();
      if (this.stopped) break;
      let operation = this.pick();
      try {
        if (!(await operation.run(this.context))) {
          operation = this.fallback;
          await operation.run(this.context);
        }
        this.ran.set(operation.name, (this.ran.get(operation.name) ?? 0) + 1);
      } catch (error) {
        this.crashes.push(`${operation.name}: ${(error as Error).stack ?? String(error)}`);
      }
    }
  }

  /** Stops issuing and waits for everything in flight (followers included). */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }
}
