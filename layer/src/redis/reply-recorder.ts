/**
 * Recording a reply for followers (docs/api.md#resumable-replies): the producer appends every
 * SSE frame it sends to the reply's Redis stream. Fail-open: a failure is logged, counted and
 * never slows or breaks the reply — recording just stops, since a gap would corrupt followers.
 *
 * Keys (`keys.ts`), both under the hash tag `{<conversation_id>}`, so one script touches both:
 * `replyCurrent` — the conversation's latest reply (`token`, `user`, `message_id`, `status`
 * running|done, `stop` 0|1, `frames` 1|0, `deleted`); `replyFrames` — that reply's frames,
 * frame n (from 0) under the explicit id `0-(n+1)`, the last entry an end marker.
 */
import { randomBytes } from 'node:crypto';
import { getConfig } from '../platform/config';
import { logger } from '../platform/observability';
import type { RedisConnection } from './client';
import { failOpen } from './fail-open';
import { redisKeys } from './keys';
import { defineScript, runScript } from './scripts';

/**
 * KEYS = current, frames; ARGV = token, user, message id, ttl s, frames recorded (1/0), now ms.
 * A new reply supersedes the conversation's previous one. `beat` is the producer's last sign of
 * life (its clock): a reply whose producer went silent stops counting as running (reply-state.ts).
 */
const START = defineScript(`
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'user', ARGV[2], 'message_id', ARGV[3], 'status', 'running', 'stop', '0', 'frames', ARGV[5], 'beat', ARGV[6])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
`);

/**
 * KEYS = current, frames; ARGV = token, max frames, ttl s, first id seq, end reason ('' = not
 * the end; 'done' = ended as it should, the only end that writes the end marker — followers of a
 * reply that failed end without [DONE]), now ms, frames... Returns -1 when this reply is no
 * longer the conversation's current one (superseded or expired: stop recording), else the stop
 * flag. Every call is a heartbeat.
 */
const APPEND = defineScript(`
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return -1 end
redis.call('HSET', KEYS[1], 'beat', ARGV[6])
local seq = tonumber(ARGV[4])
for i = 7, #ARGV do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '0-' .. seq, 'd', ARGV[i])
  seq = seq + 1
end
if ARGV[5] ~= '' then
  if ARGV[5] == 'done' and redis.call('HGET', KEYS[1], 'frames') == '1' then
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '0-' .. seq, 'end', ARGV[5])
  end
  redis.call('HSET', KEYS[1], 'status', 'done')
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('EXPIRE', KEYS[2], ARGV[3]) end
return tonumber(redis.call('HGET', KEYS[1], 'stop'))
`);

/**
 * KEYS = current; ARGV = token, ttl s. A producer whose recording failed part-way still says its
 * reply ended (no end marker: its frames have a gap, so followers end without announcing it).
 */
const MARK_DONE = defineScript(`
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'status', 'done')
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
`);

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
  /**
   * The token (22 base64url characters, as `isReplyStreamToken` checks) when the caller derives
   * it from the reply, so the reply's stream can be named again without having been told the
   * token (OpenAI's API resumes a response by its id). @default 16 random bytes
   */
  readonly token?: string;
}

class RedisReplyRecorder implements ReplyRecorder {
  readonly token: string;
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
    this.token = options.token ?? randomBytes(16).toString('base64url');
    this.current = redisKeys.replyCurrent(options.conversationId);
    this.frames = redisKeys.replyFrames(options.conversationId, this.token);
    // Appends wait for the start: they need its token in the hash.
    this.inFlight = this.run('start', async (redis) => {
      await runScript(redis, START, [this.current, this.frames], [
        this.token,
        options.userId,
        options.messageId,
        replyStream.runningTtlSeconds,
        options.recordFrames ? 1 : 0,
        Date.now(),
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
    if (!this.failed) {
      await this.write(this.queue.splice(0), reason);
      return;
    }
    // One attempt to say the reply ended; if Redis is still failing, its silence says it within seconds.
    await failOpen('replyStream', 'markDone', undefined, async (redis) => {
      await runScript(redis, MARK_DONE, [this.current], [this.token, getConfig().replyStream.ttlSeconds]);
    });
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
      const stop = await runScript<number>(redis, APPEND, [this.current, this.frames], [
        this.token,
        replyStream.maxFrames,
        endReason === '' ? replyStream.runningTtlSeconds : replyStream.ttlSeconds,
        firstSeq,
        endReason,
        Date.now(),
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

  /** One Redis step of the recording; the first failure ends the recording (one lost batch would leave a gap in the frames). */
  private async run(operation: string, work: (redis: RedisConnection) => Promise<void>): Promise<void> {
    const ok = await failOpen(
      'replyStream',
      operation,
      false,
      async (redis) => {
        await work(redis);
        return true;
      },
      { conversationId: this.options.conversationId },
    );
    if (!ok) {
      this.failed = true;
      this.queue.length = 0;
    }
    this.inFlight = undefined;
    this.schedule();
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
