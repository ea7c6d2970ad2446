/**
 * Following a reply (docs/api.md#resumable-replies): a resume replays the recorded frames from
 * an offset, then follows the live reply with `XREAD BLOCK` on a connection of its own (a
 * blocking read holds its connection; the shared auto-pipelined one must never stall). Where a
 * resume lives, with `replies/follow-reply.ts`.
 */
import { Cluster } from 'ioredis';
import { ReplyStreamNotFoundError, ReplyStreamUnavailableError } from '../errors';
import { getConfig } from '../platform/config';
import { logger } from '../platform/observability';
import { getRedis, type RedisConnection } from './client';
import { counted, redisEnabled, reportRedisFailure } from './fail-open';
import { redisKeys } from './keys';
import { readCurrentReply, type CurrentReply } from './reply-state';

/** What a follower receives: a recorded frame, a heartbeat while the reply is quiet, or the end. */
export type ReplyStreamEvent = { readonly type: 'frame'; readonly frame: string } | { readonly type: 'heartbeat' } | { readonly type: 'end' };

/** Follower options. */
export interface FollowReplyOptions {
  readonly conversationId: string;
  readonly userId: string;
  /** First frame to send, counted from 0 as the original stream sent them. */
  readonly offset: number;
  /** The `resume_conversation_token` of the reply; @default the conversation's latest reply */
  readonly token?: string;
  /** How long the reply may be quiet before a heartbeat goes out. */
  readonly heartbeatMs: number;
  /** Epoch ms after which the follower gives up (its function's deadline); it then ends without the end event. */
  readonly deadline: number;
  /** Aborted when the client goes away: closes the follower's connection at once. */
  readonly signal: AbortSignal;
}

const READ_BATCH = 500;
/** How often a quiet follower asks whether its producer is still alive (a silent one is gone within seconds). */
const LIVENESS_CHECK_MS = 1000;
const seqOf = (id: string): number => Number(id.slice(id.indexOf('-') + 1));

/** Fields of one stream entry (`[field, value, ...]`) as an event; the end marker as `end`. */
function toEvent(fields: string[]): ReplyStreamEvent {
  return fields[0] === 'd' ? { type: 'frame', frame: fields[1] } : { type: 'end' };
}

/**
 * Opens a reply stream for a follower. Checks everything before the first frame, so the
 * caller can still answer JSON: 404 for no such stream (never existed, expired, foreign, or
 * the offset's frames were trimmed), 503 when Redis is unavailable. The returned events
 * replay the frames from `offset`, follow the live reply, and end with `end` when the
 * reply ended; the generator closes its own connection when done.
 */
export async function openReplyFollower(options: FollowReplyOptions): Promise<AsyncGenerator<ReplyStreamEvent>> {
  if (!getConfig().replyStream.enabled || !redisEnabled()) throw new ReplyStreamNotFoundError();
  let redis: RedisConnection;
  let current: CurrentReply | null;
  try {
    redis = await getRedis();
    current = await readCurrentReply(redis, options.conversationId);
  } catch (error) {
    reportRedisFailure('replyStream', 'resume', error, { conversationId: options.conversationId });
    throw new ReplyStreamUnavailableError(error);
  }
  if (!current || current.user !== options.userId) throw new ReplyStreamNotFoundError();
  const token = options.token ?? current.token;
  if (token === current.token && !current.resumable) throw new ReplyStreamNotFoundError('This reply was not recorded: only replies in the v1 encoding can be resumed');
  const key = redisKeys.replyFrames(options.conversationId, token);
  let first: [string, string[]][];
  let last: [string, string[]][];
  try {
    [first, last] = (await Promise.all([counted(redis.xrange(key, '-', '+', 'COUNT', 1)), counted(redis.xrevrange(key, '+', '-', 'COUNT', 1))])) as [
      [string, string[]][],
      [string, string[]][],
    ];
  } catch (error) {
    reportRedisFailure('replyStream', 'resume', error, { conversationId: options.conversationId });
    throw new ReplyStreamUnavailableError(error);
  }
  const live = token === current.token && current.running;
  if (first.length === 0 && !live) throw new ReplyStreamNotFoundError();
  if (first.length > 0 && seqOf(first[0][0]) > options.offset + 1) throw new ReplyStreamNotFoundError('The frames before this offset are no longer available');
  // Read from the offset, or — past the end of what is recorded — from the last entry, so the
  // end marker (or the frames yet to come) is seen either way; frames before the offset are skipped.
  const cursor = Math.min(options.offset, Math.max(0, (last.length > 0 ? seqOf(last[0][0]) : 0) - 1));
  return endQuietly(followFrames(redis, key, token, live, cursor, options), options);
}

/** A follower cut off (its client left, or Redis failed) just stops: no end event, so the client knows it is missing frames. */
async function* endQuietly(events: AsyncGenerator<ReplyStreamEvent>, options: FollowReplyOptions): AsyncGenerator<ReplyStreamEvent> {
  try {
    yield* events;
  } catch (error) {
    if (!options.signal.aborted) reportRedisFailure('replyStream', 'follow', error, { conversationId: options.conversationId });
  }
}

type StreamEntries = [string, [string, string[]][]][] | null;

/** How a read of the frames ended: the last entry's sequence number, the end marker, or a missing frame. */
type ReadOutcome = number | 'end' | 'gap';

/**
 * The events of XREAD entries, through an end marker, leaving out frames before `offset` (frame
 * n has the id 0-(n+1)); returns the last entry's sequence number, 'end', or 'gap' at an entry
 * that does not follow the one before. Frames recorded just before a primary failed may not have
 * reached the replica that took over, and the producer's next frames then follow a hole: a
 * follower stops there, without the end, rather than send the frames after it as if they were
 * the next ones (npm run chaos saw a follower's frame 6 be the reply's frame 7).
 */
function* eventsOf(read: StreamEntries, lastSeq: number, offset: number): Generator<ReplyStreamEvent, ReadOutcome> {
  for (const [id, fields] of read?.[0]?.[1] ?? []) {
    if (seqOf(id) !== lastSeq + 1) {
      logger.warn('Reply stream has a missing frame; the follower ends without the end', { expected: lastSeq + 1, found: seqOf(id) });
      return 'gap';
    }
    const event = toEvent(fields);
    if (event.type === 'end') {
      yield event;
      return 'end';
    }
    lastSeq = seqOf(id);
    if (lastSeq > offset) yield event;
  }
  return lastSeq;
}

/**
 * What the stream holds after `lastSeq` now, batch by batch, on the shared connection (no
 * blocking read); returns the last entry's sequence number, or 'end' after the end marker.
 */
async function* replayFrom(redis: RedisConnection, key: string, lastSeq: number, offset: number): AsyncGenerator<ReplyStreamEvent, ReadOutcome> {
  for (;;) {
    const read = (await counted(redis.xread('COUNT', READ_BATCH, 'STREAMS', key, `0-${lastSeq}`))) as StreamEntries;
    const next = yield* eventsOf(read, lastSeq, offset);
    if (next === 'end' || next === 'gap' || (read?.[0]?.[1].length ?? 0) < READ_BATCH) return next;
    lastSeq = next;
  }
}

async function* followFrames(
  redis: RedisConnection,
  key: string,
  token: string,
  live: boolean,
  cursor: number,
  options: FollowReplyOptions,
): AsyncGenerator<ReplyStreamEvent> {
  // A finished reply needs no connection of its own. Not running, nothing more will come: it
  // ended (through its end marker), or its producer stopped recording without one (a fault, or
  // superseded) — then no end is announced, so the client knows it lacks frames.
  const replayed = yield* replayFrom(redis, key, cursor, options.offset);
  if (replayed === 'end' || replayed === 'gap' || !live || options.signal.aborted) return;
  let lastSeq = replayed;

  // Following live: XREAD BLOCK holds its connection, so it gets one of its own; the shared, auto-pipelined one never stalls.
  const follower = await connectForBlocking(redis, LIVENESS_CHECK_MS);
  const close = () => follower.disconnect();
  options.signal.addEventListener('abort', close, { once: true });
  let lastSent = Date.now();
  try {
    while (!options.signal.aborted && Date.now() < options.deadline) {
      const blockMs = Math.max(1, Math.min(LIVENESS_CHECK_MS, options.heartbeatMs, options.deadline - Date.now()));
      const read = (await follower.xread('COUNT', READ_BATCH, 'BLOCK', blockMs, 'STREAMS', key, `0-${lastSeq}`)) as StreamEntries;
      const next = yield* eventsOf(read, lastSeq, options.offset);
      if (next === 'end' || next === 'gap') return;
      if (next !== lastSeq) {
        if (next > options.offset) lastSent = Date.now();
        lastSeq = next;
        continue;
      }
      // Quiet: is anyone still writing? A producer that died, went silent, or was superseded never writes the end marker.
      const current = await readCurrentReply(redis, options.conversationId);
      if (!current || current.token !== token || !current.running) {
        // Whatever it wrote last, through its end marker if it wrote one; without one, end without announcing it.
        yield* replayFrom(redis, key, lastSeq, options.offset);
        return;
      }
      if (Date.now() - lastSent >= options.heartbeatMs) {
        lastSent = Date.now();
        yield { type: 'heartbeat' };
      }
    }
  } finally {
    options.signal.removeEventListener('abort', close);
    close();
  }
}

/**
 * A connection of the follower's own for `XREAD BLOCK`: a longer command timeout than the
 * shared client's, and no reconnect — a follower whose Redis went away ends instead of waiting.
 */
async function connectForBlocking(redis: RedisConnection, blockMs: number): Promise<RedisConnection> {
  const overrides = { commandTimeout: blockMs + 2000, enableAutoPipelining: false, lazyConnect: true, retryStrategy: () => null };
  const follower =
    redis instanceof Cluster
      ? redis.duplicate(undefined, { enableAutoPipelining: false, lazyConnect: true, clusterRetryStrategy: () => null, redisOptions: { ...redis.options.redisOptions, ...overrides } })
      : redis.duplicate(overrides);
  follower.on('error', (error: Error) => logger.debug('Reply follower connection error', { error: error.message }));
  try {
    await follower.connect();
  } catch (error) {
    follower.disconnect();
    throw error;
  }
  return follower;
}
