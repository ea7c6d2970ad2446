/**
 * Resumable replies (SPEC §8): the producer appends every SSE frame it sends to a Redis
 * stream, and followers replay and follow it. Like the cache service, this module is the one
 * place of its feature that knows Redis can fail: the producer's failures are logged,
 * counted and never slow or break the reply (fail-open); a follower's become a 503.
 *
 * Keys (after the optional prefix), both under the hash tag `{<conversation_id>}` so they sit
 * in one cluster slot and one script may touch both:
 * - `stream:{<id>}:current` — hash: the conversation's latest reply (`token`, `user`,
 *   `message_id`, `status` running|done, `stop` 0|1);
 * - `stream:{<id>}:<token>` — stream: that reply's frames. Frame n (from 0) has the explicit
 *   id `0-(n+1)`, so a resume offset is an id, not a count; the last entry is an end marker.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Cluster } from 'ioredis';
import { cacheStats } from './cache-service';
import { getConfig } from './config';
import { countMetric, logger } from './observability';
import { getRedis, type RedisConnection } from './redis-client';
import { ReplyStreamNotFoundError, ReplyStreamUnavailableError } from './errors';

/** The key names, before the prefix; the braces are literal (a Redis Cluster hash tag). */
export const replyStreamKeys = {
  current: (conversationId: string) => `stream:{${conversationId}}:current`,
  frames: (conversationId: string, token: string) => `stream:{${conversationId}}:${token}`,
};

/** A resume token as we issue it: 16 random bytes, base64url. Anything else cannot name a stream. */
export const isReplyStreamToken = (value: unknown): value is string => typeof value === 'string' && /^[A-Za-z0-9_-]{22}$/.test(value);

/** KEYS = current, frames; ARGV = token, user, message id, ttl s, frames recorded (1/0). A new reply supersedes the conversation's previous one. */
const START = `
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'user', ARGV[2], 'message_id', ARGV[3], 'status', 'running', 'stop', '0', 'frames', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
`;

/**
 * KEYS = current, frames; ARGV = token, max frames, ttl s, first id seq, end reason ('' = not
 * the end), frames... Returns -1 when this reply is no longer the conversation's current one
 * (superseded or expired: stop recording), else the stop flag.
 */
const APPEND = `
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return -1 end
local seq = tonumber(ARGV[4])
for i = 6, #ARGV do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '0-' .. seq, 'd', ARGV[i])
  seq = seq + 1
end
if ARGV[5] ~= '' then
  if redis.call('HGET', KEYS[1], 'frames') == '1' then
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '0-' .. seq, 'end', ARGV[5])
  end
  redis.call('HSET', KEYS[1], 'status', 'done')
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('EXPIRE', KEYS[2], ARGV[3]) end
return tonumber(redis.call('HGET', KEYS[1], 'stop'))
`;

/** KEYS = current; ARGV = user. Sets the stop flag of a running reply of this user. */
const STOP = `
local current = redis.call('HMGET', KEYS[1], 'user', 'status', 'message_id', 'deleted')
if not current[1] or current[4] == '1' then return {'absent'} end
if current[1] ~= ARGV[1] then return {'foreign'} end
if current[2] ~= 'running' then return {'idle'} end
redis.call('HSET', KEYS[1], 'stop', '1')
return {'stopping', current[3]}
`;

/**
 * KEYS = current; ARGV = user. The conversation was deleted: its reply (if running) is told to
 * stop, and the record answers as absent from now on, so status, stop and resume see what
 * Postgres says (404). The record itself stays until its TTL, so the producer still reads
 * the stop flag.
 */
const DISCARD = `
if redis.call('HGET', KEYS[1], 'user') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'stop', '1', 'deleted', '1')
return 1
`;

/** A Lua script, run by its SHA1 with the source as the fallback. */
interface LuaScript {
  readonly lua: string;
  readonly sha: string;
}

const script = (lua: string): LuaScript => ({ lua, sha: createHash('sha1').update(lua).digest('hex') });
const SCRIPTS = { start: script(START), append: script(APPEND), stop: script(STOP), discard: script(DISCARD) };

/**
 * `EVALSHA`, then `EVAL` once when the node does not know the script (a restart, a failover).
 * Not `defineCommand`: defining a command on a client whose auto-pipeline already holds
 * commands from this event-loop turn leaves that pipeline without it, and ioredis then
 * misaligns the pipeline's replies (a TypeError, and callbacks that never run).
 */
async function runScript<T>(redis: RedisConnection, lua: LuaScript, keys: readonly string[], args: readonly (string | number)[]): Promise<T> {
  try {
    return (await counted(redis.evalsha(lua.sha, keys.length, ...keys, ...args))) as T;
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
    return (await counted(redis.eval(lua.lua, keys.length, ...keys, ...args))) as T;
  }
}

type StreamRedis = RedisConnection;

const streamRedis = (): Promise<StreamRedis> => getRedis();

const fullKey = (key: string): string => getConfig().cache.keyPrefix + key;

/** Counts one command in the layer's round-trip figures (the bench compares them with what Redis saw). */
function counted<T>(command: Promise<T>): Promise<T> {
  cacheStats.commands += 1;
  return command;
}

function logFailure(operation: string, conversationId: string, error: unknown): void {
  cacheStats.errors += 1;
  countMetric('ReplyStreamError');
  logger.warn('Reply stream operation failed; continuing without it', {
    operation,
    conversationId,
    error: error instanceof Error ? error.message : String(error),
  });
}

/** The producer's side: records a reply's frames; see {@link startReplyRecording}. */
export interface ReplyRecorder {
  /** Names this reply's stream; sent to v1 clients in the `resume_conversation_token` frame. */
  readonly token: string;
  /** Aborted when someone asked to stop the reply (`POST .../stop`). */
  readonly stopSignal: AbortSignal;
  /** Queues one SSE frame, exactly as sent. Never waits for Redis: frames go out in batches, one script call per batch. */
  append(frame: string): void;
  /** Writes what is queued and the end marker, and marks the reply done; waits at most one Redis command. Never throws. */
  finish(reason: string): Promise<void>;
}

/** Producer options. */
export interface ReplyRecordingOptions {
  readonly conversationId: string;
  readonly userId: string;
  /** The assistant message being generated (what stream_status reports). */
  readonly messageId: string;
  /**
   * Record the frames (a v1 reply, which its client can resume). A legacy reply records only
   * that it runs (stream_status, stop): its snapshots repeat the whole message in every frame,
   * so its stream would grow with the square of its length, for clients that never resume.
   */
  readonly recordFrames: boolean;
}

class RedisReplyRecorder implements ReplyRecorder {
  readonly token = randomBytes(16).toString('base64url');
  private readonly stopController = new AbortController();
  readonly stopSignal = this.stopController.signal;
  private readonly queue: string[] = [];
  private readonly current: string;
  private readonly frames: string;
  private nextSeq = 1;
  private inFlight: Promise<void> | undefined;
  private scheduled = false;
  private failed = false;
  private finished = false;
  private lastWrite = Date.now();
  private readonly poll: NodeJS.Timeout;
  /** Resolves true once the stream exists, false when Redis failed. */
  readonly started: Promise<boolean>;

  constructor(private readonly options: ReplyRecordingOptions) {
    const { replyStream } = getConfig();
    this.current = fullKey(replyStreamKeys.current(options.conversationId));
    this.frames = fullKey(replyStreamKeys.frames(options.conversationId, this.token));
    // Appends wait for the start: they need its token in the hash.
    this.inFlight = this.run('start', async (redis) => {
      await runScript(redis, SCRIPTS.start, [this.current, this.frames], [
        this.token,
        options.userId,
        options.messageId,
        replyStream.runningTtlSeconds,
        options.recordFrames ? 1 : 0,
      ]);
    });
    this.started = this.inFlight.then(() => !this.failed);
    // A producer with nothing to write (a slow model) still learns of a stop, and keeps its stream alive.
    this.poll = setInterval(() => {
      if (!this.inFlight && Date.now() - this.lastWrite >= replyStream.stopPollMs) this.flush();
    }, replyStream.stopPollMs);
    this.poll.unref?.();
  }

  append(frame: string): void {
    if (this.failed || this.finished || !this.options.recordFrames) return;
    this.queue.push(frame);
    this.schedule();
  }

  /**
   * One write per `REPLY_STREAM_FLUSH_MS` at most, and only one in flight: frames produced
   * meanwhile go out together, so a fast model costs a few script calls per second, not one per token.
   */
  private schedule(): void {
    if (this.scheduled || this.inFlight || this.failed || this.finished || this.queue.length === 0) return;
    this.scheduled = true;
    const wait = Math.max(0, this.lastWrite + getConfig().replyStream.flushIntervalMs - Date.now());
    const run = () => {
      this.scheduled = false;
      this.flush();
    };
    if (wait === 0) setImmediate(run);
    else setTimeout(run, wait);
  }

  async finish(reason: string): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    clearInterval(this.poll);
    await this.inFlight;
    if (this.failed) return;
    await this.write(this.queue.splice(0), reason);
  }

  private flush(): void {
    if (this.failed || this.finished || this.inFlight || this.scheduled) return;
    this.inFlight = this.write(this.queue.splice(0), '');
  }

  private write(batch: string[], endReason: string): Promise<void> {
    const { replyStream } = getConfig();
    const firstSeq = this.nextSeq;
    this.nextSeq += batch.length;
    this.lastWrite = Date.now();
    return this.run('append', async (redis) => {
      const stop = await runScript<number>(redis, SCRIPTS.append, [this.current, this.frames], [
        this.token,
        replyStream.maxFrames,
        endReason === '' ? replyStream.runningTtlSeconds : replyStream.ttlSeconds,
        firstSeq,
        endReason,
        ...batch,
      ]);
      if (stop === -1) {
        // Another reply in this conversation took over the key (or it expired): a gap would corrupt followers, so stop here.
        this.failed = true;
        logger.info('Reply stream superseded; no longer recording', { conversationId: this.options.conversationId });
      } else if (stop === 1 && !this.stopSignal.aborted) {
        this.stopController.abort('stopped');
      }
    });
  }

  private async run(operation: string, work: (redis: StreamRedis) => Promise<void>): Promise<void> {
    try {
      await work(await streamRedis());
    } catch (error) {
      // One lost batch would leave a gap in the frames: recording ends at the first failure.
      this.failed = true;
      this.queue.length = 0;
      logFailure(operation, this.options.conversationId, error);
    } finally {
      this.inFlight = undefined;
      this.schedule();
    }
  }
}

/**
 * Starts recording a reply, and resolves once its stream exists (one round trip, bounded by
 * the command timeout), so a token is never announced before a follower could use it.
 * `undefined` when resumable replies are off (no Redis, or disabled) or Redis failed: the
 * reply then goes on unrecorded.
 */
export async function startReplyRecording(options: ReplyRecordingOptions): Promise<ReplyRecorder | undefined> {
  if (!getConfig().replyStream.enabled) return undefined;
  const recorder = new RedisReplyRecorder(options);
  if (await recorder.started) return recorder;
  await recorder.finish('failed');
  return undefined;
}

interface CurrentReply {
  readonly token: string;
  readonly user: string;
  readonly messageId: string;
  readonly running: boolean;
  /** Its frames are recorded (a v1 reply). */
  readonly resumable: boolean;
}

async function readCurrent(redis: RedisConnection, conversationId: string): Promise<CurrentReply | null> {
  const [token, user, messageId, status, frames, deleted] = await counted(
    redis.hmget(fullKey(replyStreamKeys.current(conversationId)), 'token', 'user', 'message_id', 'status', 'frames', 'deleted'),
  );
  if (!token || !user || deleted === '1') return null;
  return { token, user, messageId: messageId ?? '', running: status === 'running', resumable: frames !== '0' };
}

/**
 * The conversation's reply as stream_status reports it: `running` with its message id, `idle`,
 * or `unknown` (no record in Redis — expired, never streamed, or Redis unavailable: the
 * caller decides ownership from Postgres), or `foreign`.
 */
export async function getReplyStreamState(args: { readonly conversationId: string; readonly userId: string }): Promise<
  { readonly state: 'running'; readonly messageId: string } | { readonly state: 'idle' | 'unknown' | 'foreign' }
> {
  if (!getConfig().replyStream.enabled) return { state: 'unknown' };
  let current: CurrentReply | null;
  try {
    current = await readCurrent(await streamRedis(), args.conversationId);
  } catch (error) {
    logFailure('status', args.conversationId, error);
    return { state: 'unknown' };
  }
  if (!current) return { state: 'unknown' };
  if (current.user !== args.userId) return { state: 'foreign' };
  return current.running ? { state: 'running', messageId: current.messageId } : { state: 'idle' };
}

/**
 * Sets the stop flag of the conversation's running reply; the producer sees it within
 * `REPLY_STREAM_STOP_POLL_MS`, stores the partial reply and ends every stream. Waits (at most
 * `waitMs`) until the reply is done, so a GET right after shows the stored partial.
 * Throws a 503 when Redis is unavailable (a stop cannot be delivered).
 */
export async function requestReplyStop(args: {
  readonly conversationId: string;
  readonly userId: string;
  readonly waitMs?: number;
}): Promise<{ readonly outcome: 'stopping'; readonly messageId: string } | { readonly outcome: 'absent' | 'foreign' | 'idle' }> {
  if (!getConfig().replyStream.enabled) return { outcome: 'absent' };
  let redis: StreamRedis;
  let result: [string, string?];
  try {
    redis = await streamRedis();
    result = await runScript<[string, string?]>(redis, SCRIPTS.stop, [fullKey(replyStreamKeys.current(args.conversationId))], [args.userId]);
  } catch (error) {
    logFailure('stop', args.conversationId, error);
    throw new ReplyStreamUnavailableError(error);
  }
  const [outcome, messageId] = result;
  if (outcome !== 'stopping') return { outcome: outcome as 'absent' | 'foreign' | 'idle' };
  const deadline = Date.now() + (args.waitMs ?? 3000);
  while (Date.now() < deadline) {
    await sleep(50);
    const current = await readCurrent(redis, args.conversationId).catch(() => null);
    if (!current || !current.running || current.messageId !== messageId) break;
  }
  return { outcome: 'stopping', messageId: messageId ?? '' };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The user deleted these conversations: each running reply stops (its partial reply is not
 * stored: the row is gone) and each record answers as absent. Fail-open like the cache: a
 * failure is logged and counted, and the reply routes still answer 404 once the record
 * expires, because Postgres has the deletion.
 */
export async function discardReplyStreams(args: { readonly userId: string; readonly conversationIds: readonly string[] }): Promise<void> {
  if (!getConfig().replyStream.enabled || args.conversationIds.length === 0) return;
  try {
    const redis = await streamRedis();
    await Promise.all(
      args.conversationIds.map((id) => runScript(redis, SCRIPTS.discard, [fullKey(replyStreamKeys.current(id))], [args.userId])),
    );
  } catch (error) {
    logFailure('discard', args.conversationIds[0], error);
  }
}

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
  /** How long one blocking read waits; a heartbeat goes out after each empty one. */
  readonly blockMs: number;
  /** Epoch ms after which the follower gives up (its function's deadline); it then ends without the end event. */
  readonly deadline: number;
  /** Aborted when the client goes away: closes the follower's connection at once. */
  readonly signal: AbortSignal;
}

const READ_BATCH = 500;
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
  if (!getConfig().replyStream.enabled) throw new ReplyStreamNotFoundError();
  let redis: StreamRedis;
  let current: CurrentReply | null;
  try {
    redis = await streamRedis();
    current = await readCurrent(redis, options.conversationId);
  } catch (error) {
    logFailure('resume', options.conversationId, error);
    throw new ReplyStreamUnavailableError(error);
  }
  if (!current || current.user !== options.userId) throw new ReplyStreamNotFoundError();
  const token = options.token ?? current.token;
  if (token === current.token && !current.resumable) throw new ReplyStreamNotFoundError('This reply was not recorded: only replies in the v1 encoding can be resumed');
  const key = fullKey(replyStreamKeys.frames(options.conversationId, token));
  let first: [string, string[]][];
  try {
    first = (await counted(redis.xrange(key, '-', '+', 'COUNT', 1))) as [string, string[]][];
  } catch (error) {
    logFailure('resume', options.conversationId, error);
    throw new ReplyStreamUnavailableError(error);
  }
  const live = token === current.token && current.running;
  if (first.length === 0 && !live) throw new ReplyStreamNotFoundError();
  if (first.length > 0 && seqOf(first[0][0]) > options.offset + 1) throw new ReplyStreamNotFoundError('The frames before this offset are no longer available');
  return endQuietly(followFrames(redis, key, token, live, options), options);
}

/** A follower cut off (its client left, or Redis failed) just stops: no end event, so the client knows it is missing frames. */
async function* endQuietly(events: AsyncGenerator<ReplyStreamEvent>, options: FollowReplyOptions): AsyncGenerator<ReplyStreamEvent> {
  try {
    yield* events;
  } catch (error) {
    if (!options.signal.aborted) logFailure('follow', options.conversationId, error);
  }
}

type StreamEntries = [string, [string, string[]][]][] | null;

/** The events of XREAD entries, through an end marker; returns the last frame's sequence number, or 'end'. */
function* eventsOf(read: StreamEntries, lastSeq: number): Generator<ReplyStreamEvent, number | 'end'> {
  for (const [id, fields] of read?.[0]?.[1] ?? []) {
    const event = toEvent(fields);
    yield event;
    if (event.type === 'end') return 'end';
    lastSeq = seqOf(id);
  }
  return lastSeq;
}

/**
 * What the stream holds after `lastSeq` now, batch by batch, on the shared connection (no
 * blocking read); returns the last frame's sequence number, or 'end' after the end marker.
 */
async function* replayFrom(redis: StreamRedis, key: string, lastSeq: number): AsyncGenerator<ReplyStreamEvent, number | 'end'> {
  for (;;) {
    const read = (await counted(redis.xread('COUNT', READ_BATCH, 'STREAMS', key, `0-${lastSeq}`))) as StreamEntries;
    const next = yield* eventsOf(read, lastSeq);
    if (next === 'end' || (read?.[0]?.[1].length ?? 0) < READ_BATCH) return next;
    lastSeq = next;
  }
}

async function* followFrames(
  redis: StreamRedis,
  key: string,
  token: string,
  live: boolean,
  options: FollowReplyOptions,
): AsyncGenerator<ReplyStreamEvent> {
  // A finished reply needs no connection of its own.
  const replayed = yield* replayFrom(redis, key, options.offset);
  if (replayed === 'end') return;
  let lastSeq = replayed;
  // Not running: nothing more will come. It ended before the offset (past-the-end: the end
  // marker is the last entry), or its producer stopped recording without one (a fault, or
  // superseded): then no end is announced, so the client knows it lacks frames.
  if (!live) {
    if (await endsWithMarker(redis, key)) yield { type: 'end' };
    return;
  }
  if (options.signal.aborted) return;

  // Following live: XREAD BLOCK holds its connection, so it gets one of its own; the shared, auto-pipelined one never stalls.
  const follower = await connectForBlocking(redis, options.blockMs);
  const close = () => follower.disconnect();
  options.signal.addEventListener('abort', close, { once: true });
  try {
    while (!options.signal.aborted && Date.now() < options.deadline) {
      const blockMs = Math.max(1, Math.min(options.blockMs, options.deadline - Date.now()));
      const read = (await follower.xread('COUNT', READ_BATCH, 'BLOCK', blockMs, 'STREAMS', key, `0-${lastSeq}`)) as StreamEntries;
      const next = yield* eventsOf(read, lastSeq);
      if (next === 'end') return;
      if (next !== lastSeq) {
        lastSeq = next;
        continue;
      }
      // Quiet: is anyone still writing? A producer that died, or was superseded, never writes the end marker.
      const current = await readCurrent(redis, options.conversationId);
      if (!current || current.token !== token || !current.running) {
        // Whatever it wrote last, through its end marker if it wrote one; without one, end without announcing it.
        yield* replayFrom(redis, key, lastSeq);
        return;
      }
      yield { type: 'heartbeat' };
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
/** Whether the stream's last entry is the end marker a producer writes when its reply ends. */
async function endsWithMarker(redis: RedisConnection, key: string): Promise<boolean> {
  const last = (await counted(redis.xrevrange(key, '+', '-', 'COUNT', 1))) as [string, string[]][];
  return last.length > 0 && toEvent(last[0][1]).type === 'end';
}

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
