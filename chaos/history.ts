/**
 * What the clients did and were told: every write with when it was issued and when (if ever)
 * it was acknowledged, per conversation and per user. The checker compares each read against
 * it; at the end, Postgres is compared against it.
 *
 * Each user writes one thing at a time (one write in flight per user, as one person at one
 * keyboard), so a user's writes are totally ordered by their issue times and the state a read
 * may see is a prefix of that order: at least every write acknowledged before the read
 * started, at most every write issued before it ended. A write that failed without a clear
 * answer (a 503, a stream that ended early) may or may not have happened: it stays a
 * candidate forever, never a requirement.
 */

/** A value a write set without the client learning it (a new conversation's title when its reply failed). */
export const UNKNOWN = Symbol('unknown value');

export interface Write<T> {
  readonly issuedAt: number;
  ackedAt?: number;
  /** Definitely did not happen (a 4xx that changes nothing). */
  failed: boolean;
  value: T | typeof UNKNOWN;
}

/** The values a read may observe. */
export interface Allowed<T> {
  readonly values: ReadonlySet<T>;
  /** A candidate write's value is unknown: anything goes. */
  readonly any: boolean;
}

export function isAllowed<T>(allowed: Allowed<T>, value: T): boolean {
  return allowed.any || allowed.values.has(value);
}

/** One attribute of a conversation (title, archived, deleted) and the writes to it, in order. */
export class Register<T> {
  readonly writes: Write<T>[] = [];

  constructor(readonly initial: T) {}

  begin(value: T | typeof UNKNOWN, issuedAt: number): Write<T> {
    const write: Write<T> = { issuedAt, failed: false, value };
    this.writes.push(write);
    return write;
  }

  /**
   * Values a read issued at `startedAt` and answered at `endedAt` may see: the last write
   * acknowledged before it started (or the initial value), and every later write issued
   * before it ended that did not definitely fail. `Infinity` for both gives what Postgres
   * may hold at the end.
   */
  allowed(startedAt: number, endedAt: number): Allowed<T> {
    let base = -1;
    this.writes.forEach((write, i) => {
      if (write.ackedAt !== undefined && write.ackedAt < startedAt) base = i;
    });
    const values = new Set<T>();
    let any = false;
    const add = (value: T | typeof UNKNOWN) => {
      if (value === UNKNOWN) any = true;
      else values.add(value);
    };
    add(base >= 0 ? this.writes[base].value : this.initial);
    for (let i = base + 1; i < this.writes.length; i += 1) {
      const write = this.writes[i];
      if (!write.failed && write.issuedAt < endedAt) add(write.value);
    }
    return { values, any };
  }

  /** Whether `value` is the only thing a read in [startedAt, endedAt] may see. */
  certainly(value: T, startedAt: number, endedAt: number): boolean {
    const allowed = this.allowed(startedAt, endedAt);
    return !allowed.any && allowed.values.size === 1 && allowed.values.has(value);
  }
}

/** A user or assistant message the clients wrote (or may have written). */
export interface MessageRecord {
  readonly id: string;
  readonly role: 'user' | 'assistant';
  readonly issuedAt: number;
  ackedAt?: number;
  failed: boolean;
}

/** A message insert: it moves the conversation's `update_time`, which orders the list. */
export interface InsertRecord {
  /** Position in the owner's writes (their order is the order of their commits). */
  readonly seq: number;
  readonly issuedAt: number;
  ackedAt?: number;
  failed: boolean;
}

export class User {
  /** At most one write in flight. */
  writing = false;
  private nextInsert = 0;
  readonly conversations: Conversation[] = [];

  constructor(
    readonly index: number,
    readonly id: string,
    readonly token: string,
  ) {}

  insert(issuedAt: number): InsertRecord {
    return { seq: this.nextInsert++, issuedAt, failed: false };
  }

  liveConversations(): Conversation[] {
    return this.conversations.filter((c) => !c.deletedForSure);
  }
}

export class Conversation {
  readonly title = new Register<string>('New chat');
  readonly archived = new Register<boolean>(false);
  readonly deleted = new Register<boolean>(false);
  readonly messages = new Map<string, MessageRecord>();
  readonly inserts: InsertRecord[] = [];
  /** The last acknowledged assistant message: the parent of this conversation's next turn. */
  leafId: string | undefined;
  /** Posts whose assistant message id never reached the client (it may still be stored). */
  unseenReplies = 0;
  /** A 413: no more turns fit. */
  full = false;
  /** A delete was acknowledged. */
  deletedForSure = false;
  /** Zipf rank: 0 is the hottest. */
  rank = -1;

  constructor(
    readonly id: string,
    readonly owner: User,
    /** When the client learned it exists (its first POST started streaming). */
    readonly createdAt: number,
  ) {}

  acknowledgedMessages(): number {
    let count = 0;
    for (const message of this.messages.values()) if (message.ackedAt !== undefined) count += 1;
    return count;
  }

  /** The latest insert acknowledged before `startedAt`: this conversation is at least this new. */
  newestAcknowledgedInsert(startedAt: number): number {
    let seq = -1;
    for (const insert of this.inserts) if (insert.ackedAt !== undefined && insert.ackedAt < startedAt) seq = Math.max(seq, insert.seq);
    return seq;
  }

  /** The latest insert that may have happened by `endedAt`: this conversation is at most this new. */
  newestPossibleInsert(endedAt: number): number {
    let seq = -1;
    for (const insert of this.inserts) if (!insert.failed && insert.issuedAt < endedAt) seq = Math.max(seq, insert.seq);
    return seq;
  }
}

/** A new-conversation POST whose conversation id never reached the client: Postgres tells at the end. */
export interface UnresolvedCreation {
  readonly user: User;
  readonly userMessageId: string;
}

/** Everyone and everything the run created. */
export class History {
  readonly users: User[] = [];
  readonly conversations = new Map<string, Conversation>();
  readonly unresolvedCreations: UnresolvedCreation[] = [];
  /** Ids a list answered that the client never heard of, checked against Postgres at the end. */
  readonly unknownListed: { readonly user: User; readonly id: string; readonly at: number }[] = [];

  addConversation(conversation: Conversation): void {
    this.conversations.set(conversation.id, conversation);
    conversation.owner.conversations.push(conversation);
  }
}
