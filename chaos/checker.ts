/**
 * The checker, Jepsen-style: every answer is compared with the history of what the clients
 * wrote and were told (history.ts), and Postgres is compared with it at the end.
 *
 * - stale: a read that started after a write was acknowledged does not show it (detail:
 *   messages, title, archived, deleted; list: membership, order, titles), or answers 404 for
 *   a conversation whose creation was acknowledged and whose deletion was not even attempted;
 * - lost: an acknowledged write is not in Postgres at the end;
 * - cross-user: an answer carries another user's conversation;
 * - status: an answer that is not a documented status for its route, a 503 outside the fault
 *   that documents it, a reply stream that ended without `[DONE]` while Postgres was up, or no
 *   answer at all within the client's bound;
 * - follower: a resume follower whose frames differ from the reply's, that ends without
 *   `[DONE]` outside a fault, announces `[DONE]` for a reply that did not end with it, or hangs.
 */
import type { Client } from 'pg';
import { sseFrames } from '../test/support/sse';
import { errorCode, type HttpResult } from './http-client';
import { isAllowed, type Conversation, type History, type User } from './history';
import type { Recorder, RequestRecord } from './recorder';

/** Every status a route documents (README "API"); 503s are further limited to their faults. */
export const DOCUMENTED_STATUSES: Readonly<Record<string, readonly number[]>> = {
  detail: [200, 404, 503],
  'detail-foreign': [404, 503],
  list: [200, 503],
  post: [200, 404, 409, 413, 429, 502, 503],
  'post-new': [200, 413, 429, 502, 503],
  seed: [200, 429, 502, 503],
  rename: [200, 404, 503],
  archive: [200, 404, 503],
  delete: [200, 404, 503],
  resume: [200, 404, 503],
};

/** The 503 code each route may answer, and the kind of fault that documents it. */
const UNAVAILABLE: Readonly<Record<string, { readonly code: string; readonly during: 'postgres' | 'redis' }>> = {
  resume: { code: 'stream_unavailable', during: 'redis' },
};
const DATABASE_UNAVAILABLE = { code: 'database_unavailable', during: 'postgres' } as const;

/** After a fault's direct effect ends, clients may still meet it this long (pools reconnect, slot maps refresh). */
export const FAULT_GRACE_MS = { postgres: 1500, redis: 5000 } as const;

/** A resume follower and the reply it followed, checked once the run's fault windows are known. */
export interface FollowerOutcome {
  readonly conversationId: string;
  readonly offset: number;
  readonly result: HttpResult;
  /** The reply's frames as its own client received them, `[DONE]` excluded. */
  readonly replyFrames: readonly string[];
  readonly replyDone: boolean;
  readonly replyStartedAt: number;
  readonly replyEndedAt: number;
}

const DONE_FRAME = 'data: [DONE]\n\n';

/** An SSE body's frames without `[DONE]`, and whether it ended with it. */
export function framesOf(body: string): { frames: string[]; done: boolean } {
  const frames = sseFrames(body);
  const done = frames.at(-1) === DONE_FRAME;
  return { frames: done ? frames.slice(0, -1) : frames, done };
}

interface DetailBody {
  conversation_id?: string;
  user_id?: string;
  title?: string;
  is_archived?: boolean;
  mapping?: Record<string, { message?: { author?: { role?: string } } }>;
}

interface ListBody {
  items?: { id: string; title: string; update_time: string }[];
  total?: number;
}

export class Checker {
  constructor(
    private readonly history: History,
    private readonly recorder: Recorder,
  ) {}

  private flag(category: Parameters<Recorder['violation']>[0], at: number, op: string, detail: string): void {
    this.recorder.violation(category, at, op, detail);
  }

  /** GET /conversation/{id} by its owner. */
  checkDetail(conversation: Conversation, result: HttpResult): void {
    const { startedAt: rs, endedAt: re } = result;
    const at = this.recorder.seconds(rs);
    if (result.status === 404) {
      if (!isAllowed(conversation.deleted.allowed(rs, re), true)) {
        this.flag('stale', rs, 'detail', `${at}: 404 for conversation ${conversation.id}, created (acknowledged) and never deleted`);
      }
      return;
    }
    if (result.status !== 200) return;
    let body: DetailBody;
    try {
      body = JSON.parse(result.body) as DetailBody;
    } catch {
      this.flag('status', rs, 'detail', `${at}: 200 with a body that is not JSON (${result.body.slice(0, 80)})`);
      return;
    }
    if (body.conversation_id !== conversation.id || body.user_id !== conversation.owner.id) {
      this.flag('cross-user', rs, 'detail', `${at}: asked for ${conversation.id} of ${conversation.owner.id}, got ${body.conversation_id} of ${body.user_id}`);
      return;
    }
    if (!isAllowed(conversation.deleted.allowed(rs, re), false)) {
      this.flag('stale', rs, 'detail', `${at}: conversation ${conversation.id} served (X-Cache ${result.headers['x-cache']}, worker ${result.worker}) after its delete was acknowledged${this.ackedNote(conversation.deleted.writes, rs)}`);
    }
    const mapping = body.mapping ?? {};
    const missing: string[] = [];
    for (const message of conversation.messages.values()) {
      if (message.ackedAt !== undefined && message.ackedAt < rs && !(message.id in mapping)) missing.push(`${message.role} ${message.id} (acknowledged at ${this.recorder.seconds(message.ackedAt)})`);
    }
    if (missing.length > 0) {
      this.flag('stale', rs, 'detail', `${at}: conversation ${conversation.id} (X-Cache ${result.headers['x-cache']}, worker ${result.worker}) lacks ${missing.length} acknowledged message(s): ${missing.slice(0, 3).join(', ')}`);
    }
    for (const [id, node] of Object.entries(mapping)) {
      const role = node.message?.author?.role;
      if ((role === 'user' || role === 'assistant') && !conversation.messages.has(id) && conversation.unseenReplies === 0) {
        this.flag('cross-user', rs, 'detail', `${at}: conversation ${conversation.id} holds ${role} message ${id}, which no client wrote into it`);
      }
    }
    const title = conversation.title.allowed(rs, re);
    if (typeof body.title !== 'string' || !isAllowed(title, body.title)) {
      this.flag('stale', rs, 'detail', `${at}: conversation ${conversation.id} (X-Cache ${result.headers['x-cache']}, worker ${result.worker}) titled ${JSON.stringify(body.title)}; acknowledged${this.ackedNote(conversation.title.writes, rs)}: ${JSON.stringify([...title.values])}`);
    }
    if (!isAllowed(conversation.archived.allowed(rs, re), body.is_archived === true)) {
      this.flag('stale', rs, 'detail', `${at}: conversation ${conversation.id} (X-Cache ${result.headers['x-cache']}, worker ${result.worker}) is_archived=${body.is_archived} against the change acknowledged${this.ackedNote(conversation.archived.writes, rs)}`);
    }
  }

  /** When the last write acknowledged before `startedAt` was acknowledged, for a violation's message. */
  private ackedNote(writes: readonly { ackedAt?: number }[], startedAt: number): string {
    const acked = writes.filter((w) => w.ackedAt !== undefined && w.ackedAt < startedAt).at(-1)?.ackedAt;
    return acked === undefined ? '' : ` at ${this.recorder.seconds(acked)}`;
  }

  /** GET /conversation/{id} of someone else's conversation: must be the same 404 as an unknown id. */
  checkForeignDetail(viewer: User, conversation: Conversation, result: HttpResult): void {
    if (result.status === 200) {
      this.flag('cross-user', result.startedAt, 'detail-foreign', `${this.recorder.seconds(result.startedAt)}: ${viewer.id} was served ${conversation.owner.id}'s conversation ${conversation.id}`);
    } else if (result.status === 404 && errorCode(result.body) !== 'conversation_not_found') {
      this.flag('status', result.startedAt, 'detail-foreign', `${this.recorder.seconds(result.startedAt)}: 404 with code ${errorCode(result.body)}, not conversation_not_found`);
    }
  }

  /** GET /conversations?offset=0&limit=N (default view) by `user`, who has fewer than N conversations. */
  checkList(user: User, result: HttpResult): void {
    if (result.status !== 200) return;
    const { startedAt: rs, endedAt: re } = result;
    const at = this.recorder.seconds(rs);
    let body: ListBody;
    try {
      body = JSON.parse(result.body) as ListBody;
    } catch {
      this.flag('status', rs, 'list', `${at}: 200 with a body that is not JSON`);
      return;
    }
    const items = body.items ?? [];
    const listed = new Map(items.map((item, position) => [item.id, { item, position }]));
    for (const item of items) {
      const conversation = this.history.conversations.get(item.id);
      if (!conversation) this.history.unknownListed.push({ user, id: item.id, at: rs });
      else if (conversation.owner !== user) this.flag('cross-user', rs, 'list', `${at}: ${user.id}'s list holds ${conversation.owner.id}'s conversation ${item.id}`);
    }
    const cache = result.headers['x-cache'];
    for (const conversation of user.conversations) {
      const entry = listed.get(conversation.id);
      const deleted = conversation.deleted.allowed(rs, re);
      const archived = conversation.archived.allowed(rs, re);
      const mustShow = conversation.createdAt < rs && !isAllowed(deleted, true) && !isAllowed(archived, true);
      const mustHide = !isAllowed(deleted, false) || !isAllowed(archived, false);
      if (mustShow && !entry) this.flag('stale', rs, 'list', `${at}: ${user.id}'s list (X-Cache ${cache}, worker ${result.worker}) lacks live conversation ${conversation.id}`);
      if (mustHide && entry) {
        const register = isAllowed(deleted, false) ? conversation.archived : conversation.deleted;
        this.flag('stale', rs, 'list', `${at}: ${user.id}'s list (X-Cache ${cache}, worker ${result.worker}) still shows ${conversation.id} after its ${isAllowed(deleted, false) ? 'archive' : 'delete'} was acknowledged${this.ackedNote(register.writes, rs)}`);
      }
      if (entry) {
        const title = conversation.title.allowed(rs, re);
        if (!isAllowed(title, entry.item.title)) {
          this.flag('stale', rs, 'list', `${at}: ${user.id}'s list (X-Cache ${cache}, worker ${result.worker}) titles ${conversation.id} ${JSON.stringify(entry.item.title)}; acknowledged${this.ackedNote(conversation.title.writes, rs)}: ${JSON.stringify([...title.values])}`);
        }
      }
    }
    // Newest update_time first: a conversation known to be newer than another must come first.
    const known = items.map((item) => this.history.conversations.get(item.id)).filter((c): c is Conversation => c?.owner === user);
    for (let i = 0; i < known.length; i += 1) {
      const upper = known[i].newestPossibleInsert(re);
      for (let j = i + 1; j < known.length; j += 1) {
        if (known[j].newestAcknowledgedInsert(rs) > upper) {
          const newer = known[j].inserts.filter((insert) => insert.ackedAt !== undefined && insert.ackedAt < rs).at(-1)?.ackedAt as number;
          this.flag('stale', rs, 'list', `${at}: ${user.id}'s list (X-Cache ${cache}, worker ${result.worker}) puts ${known[i].id} before ${known[j].id}, whose message acknowledged at ${this.recorder.seconds(newer)} is newer`);
        }
      }
    }
  }

  /** A PATCH or POST answered 404 for one of the user's conversations: only right if a delete may have happened. */
  checkWriteNotFound(conversation: Conversation, result: HttpResult, op: string): void {
    if (result.status === 404 && !isAllowed(conversation.deleted.allowed(result.startedAt, result.endedAt), true)) {
      this.flag('stale', result.startedAt, op, `${this.recorder.seconds(result.startedAt)}: ${op} answered 404 for live conversation ${conversation.id}`);
    }
  }

  /**
   * Statuses, once the fault windows are known: every status documented for its route, a 503
   * only while the fault that explains it lasted (plus a grace for clients to reconnect), a
   * reply stream without `[DONE]` only while Postgres was down (nothing else can keep a reply
   * from being stored), and never no answer at all.
   */
  checkStatuses(records: readonly RequestRecord[]): void {
    for (const record of records) {
      const at = this.recorder.seconds(record.startedAt);
      if (record.kind === 'follower') continue;
      if (record.status === 0) {
        this.flag('status', record.startedAt, record.op, `${at}: no answer (${record.error}) after ${(record.endedAt - record.startedAt).toFixed(0)} ms`);
        continue;
      }
      const documented = DOCUMENTED_STATUSES[record.op];
      if (documented && !documented.includes(record.status)) {
        this.flag('status', record.startedAt, record.op, `${at}: undocumented ${record.status} ${record.code ?? ''} (${record.error ?? 'worker ' + record.worker})`);
        continue;
      }
      if (record.status === 503) {
        const expected = UNAVAILABLE[record.op] ?? DATABASE_UNAVAILABLE;
        if (record.code !== expected.code) {
          this.flag('status', record.startedAt, record.op, `${at}: 503 with code ${record.code}, not ${expected.code}`);
        } else if (!this.duringFault(record, expected.during) && !(expected.during === 'redis' && this.redisFailedAnyway(record))) {
          this.flag('status', record.startedAt, record.op, `${at}: 503 ${record.code} while ${expected.during === 'postgres' ? 'Postgres' : 'Redis'} was up`);
        }
      }
      if (record.status === 200 && record.streamDone === false && !this.duringFault(record, 'postgres')) {
        this.flag('status', record.startedAt, record.op, `${at}: the reply stream ended without [DONE] while Postgres was up${this.duringFault(record, 'redis') ? ' (during a Redis fault)' : ''}`);
      }
    }
  }

  /** Whether a fault of this kind (with its grace) overlapped the request. */
  duringFault(record: { startedAt: number; endedAt: number }, target: 'postgres' | 'redis' | 'any'): boolean {
    return this.recorder.faults.some(
      (fault) =>
        (target === 'any' || fault.target === target) &&
        record.startedAt <= fault.endedAt + FAULT_GRACE_MS[fault.target] &&
        record.endedAt >= fault.startedAt,
    );
  }

  /**
   * Whether the app itself saw Redis fail (a command timed out, a connection dropped) while the
   * request ran, with no fault injected: on a loaded machine Redis can answer later than the
   * 200 ms command timeout. For the app that is a Redis failure like any other, and the
   * documented answers to it (a follower ending without `[DONE]`, a 503 `stream_unavailable`)
   * are right; they are counted apart rather than as violations.
   */
  private redisFailedAnyway(record: { startedAt: number; endedAt: number }): boolean {
    if (!this.recorder.redisErrors.some((e) => e.at >= record.startedAt - 200 && e.at <= record.endedAt + 200)) return false;
    this.excusedByObservedRedisFailures += 1;
    return true;
  }

  /** Answers that were right only because Redis failed without an injected fault (see redisFailedAnyway). */
  excusedByObservedRedisFailures = 0;

  /** Resume followers, once the fault windows are known. */
  checkFollowers(followers: readonly FollowerOutcome[]): void {
    for (const follower of followers) {
      const { result } = follower;
      const at = this.recorder.seconds(result.startedAt);
      const where = `follower of ${follower.conversationId} from frame ${follower.offset}`;
      if (result.status === 0) {
        this.flag('follower', result.startedAt, 'resume', `${at}: ${where} hung: ${result.error} after ${(result.endedAt - result.startedAt).toFixed(0)} ms`);
        continue;
      }
      if (result.status === 503 || result.status === 404) {
        const code = errorCode(result.body);
        const expected = result.status === 503 ? 'stream_unavailable' : 'stream_not_found';
        if (code !== expected) this.flag('follower', result.startedAt, 'resume', `${at}: ${where}: ${result.status} with code ${code}, not ${expected}`);
        else if (!this.duringFault(result, 'redis') && !this.redisFailedAnyway(result)) this.flag('follower', result.startedAt, 'resume', `${at}: ${where}: ${result.status} ${code} while Redis was healthy`);
        continue;
      }
      if (result.status !== 200) {
        this.flag('follower', result.startedAt, 'resume', `${at}: ${where}: undocumented ${result.status}`);
        continue;
      }
      const { frames, done } = framesOf(result.body);
      const expected = follower.replyFrames.slice(follower.offset, follower.offset + frames.length);
      const firstDifference = frames.findIndex((frame, i) => frame !== expected[i]);
      if (firstDifference >= 0) {
        this.flag('follower', result.startedAt, 'resume', `${at}: ${where}: frame ${follower.offset + firstDifference} differs from the reply's: ${JSON.stringify(frames[firstDifference].slice(0, 120))} vs ${JSON.stringify(expected[firstDifference]?.slice(0, 120))}`);
        continue;
      }
      if (done && !follower.replyDone) {
        this.flag('follower', result.startedAt, 'resume', `${at}: ${where} ended with [DONE], but the reply's own stream ended without it (the reply was not stored whole)`);
      } else if (done && frames.length !== follower.replyFrames.length - Math.min(follower.offset, follower.replyFrames.length)) {
        this.flag('follower', result.startedAt, 'resume', `${at}: ${where} ended with [DONE] after ${frames.length} frames; the reply had ${follower.replyFrames.length - follower.offset} from there`);
      } else if (!done && !this.duringFault({ startedAt: result.startedAt, endedAt: Math.max(result.endedAt, follower.replyEndedAt) }, 'any') && !this.redisFailedAnyway({ startedAt: follower.replyStartedAt, endedAt: Math.max(result.endedAt, follower.replyEndedAt) })) {
        this.flag('follower', result.startedAt, 'resume', `${at}: ${where} ended without [DONE] after ${frames.length} frames while no fault was under way`);
      }
    }
  }

  /**
   * Lost writes: every acknowledged message, creation, title, archive and delete, against
   * Postgres itself at the end. Also settles the ids a list showed that no client knew of.
   */
  async checkPostgres(client: Client, endedAt: number): Promise<{ checkedMessages: number; checkedConversations: number }> {
    const { rows: conversationRows } = await client.query<{ id: string; user_id: string; title: string | null; is_archived: boolean; deleted: boolean }>(
      'SELECT id, user_id, title, is_archived, deleted_at IS NOT NULL AS deleted FROM conversations',
    );
    const { rows: messageRows } = await client.query<{ conversation_id: string; id: string }>(
      "SELECT conversation_id, id FROM messages WHERE role IN ('user', 'assistant')",
    );
    const stored = new Map(conversationRows.map((row) => [row.id, row]));
    const messages = new Set(messageRows.map((row) => `${row.conversation_id}/${row.id}`));
    const lost = (detail: string) => this.flag('lost', endedAt, 'postgres', detail);
    let checkedMessages = 0;
    for (const conversation of this.history.conversations.values()) {
      const row = stored.get(conversation.id);
      if (!row) {
        lost(`conversation ${conversation.id} (creation acknowledged) is not in Postgres`);
        continue;
      }
      if (row.user_id !== conversation.owner.id) lost(`conversation ${conversation.id} belongs to ${row.user_id} in Postgres, not ${conversation.owner.id}`);
      for (const message of conversation.messages.values()) {
        if (message.ackedAt === undefined) continue;
        checkedMessages += 1;
        if (!messages.has(`${conversation.id}/${message.id}`)) lost(`acknowledged ${message.role} message ${message.id} of ${conversation.id} is not in Postgres`);
      }
      const title = conversation.title.allowed(Infinity, Infinity);
      if (!isAllowed(title, row.title ?? 'New chat')) lost(`conversation ${conversation.id} is titled ${JSON.stringify(row.title)} in Postgres; acknowledged ${JSON.stringify([...title.values])}`);
      if (!isAllowed(conversation.archived.allowed(Infinity, Infinity), row.is_archived)) lost(`conversation ${conversation.id}: is_archived=${row.is_archived} in Postgres, against its acknowledged change`);
      if (!isAllowed(conversation.deleted.allowed(Infinity, Infinity), row.deleted)) lost(`conversation ${conversation.id}: deleted=${row.deleted} in Postgres, against its acknowledged change`);
    }
    for (const listed of this.history.unknownListed) {
      const row = stored.get(listed.id);
      if (!row || row.user_id !== listed.user.id) {
        this.flag('cross-user', listed.at, 'list', `${this.recorder.seconds(listed.at)}: ${listed.user.id}'s list held ${listed.id}, which Postgres gives to ${row?.user_id ?? 'nobody'}`);
      }
    }
    return { checkedMessages, checkedConversations: this.history.conversations.size };
  }
}
