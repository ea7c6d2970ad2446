/**
 * A conversation's reply as other requests see it (docs/api.md#resumable-replies): whether one
 * is running (stream_status), a stop from any device, and the discard when the conversation is
 * deleted. Reads the `replyCurrent` hash the recorder keeps.
 */
import { ReplyStreamUnavailableError } from '../errors';
import { getConfig } from '../platform/config';
import { sleep } from '../platform/timers';
import { inBatches } from './batches';
import { getRedis, type RedisConnection } from './client';
import { counted, failOpen, redisEnabled, reportRedisFailure } from './fail-open';
import { redisKeys } from './keys';
import { defineScript, runScript } from './scripts';

/** A resume token as we issue it: 16 random bytes, base64url. Anything else cannot name a stream. */
export const isReplyStreamToken = (value: unknown): value is string => typeof value === 'string' && /^[A-Za-z0-9_-]{22}$/.test(value);

/**
 * A producer writes at least every `REPLY_STREAM_STOP_POLL_MS` (250 ms) while its reply runs; one
 * silent this long is gone (its container died, or it cannot reach Redis): its reply no longer
 * counts as running, and its followers end.
 */
export const PRODUCER_SILENCE_MS = 5000;

const alive = (beat: string | null | undefined, now = Date.now()): boolean => beat !== null && beat !== undefined && now - Number(beat) < PRODUCER_SILENCE_MS;

/** KEYS = current; ARGV = user, now ms, silence ms. Sets the stop flag of this user's reply, when it is running and its producer alive. */
const STOP = defineScript(`
local current = redis.call('HMGET', KEYS[1], 'user', 'status', 'message_id', 'deleted', 'beat')
if not current[1] or current[4] == '1' then return {'absent'} end
if current[1] ~= ARGV[1] then return {'foreign'} end
if current[2] ~= 'running' or tonumber(ARGV[2]) - (tonumber(current[5]) or 0) >= tonumber(ARGV[3]) then return {'idle'} end
redis.call('HSET', KEYS[1], 'stop', '1')
return {'stopping', current[3]}
`);

/**
 * KEYS = current; ARGV = user. The conversation was deleted: its reply (if running) is told to
 * stop, and the record answers as absent from now on, so status, stop and resume see what
 * Postgres says (404). The record itself stays until its TTL, so the producer still reads
 * the stop flag.
 */
const DISCARD = defineScript(`
if redis.call('HGET', KEYS[1], 'user') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'stop', '1', 'deleted', '1')
return 1
`);

/** The conversation's latest reply, as its record says. */
export interface CurrentReply {
  readonly token: string;
  readonly user: string;
  readonly messageId: string;
  /** Not done, and its producer gave a sign of life within {@link PRODUCER_SILENCE_MS}. */
  readonly running: boolean;
  /** Its frames are recorded (a v1 reply). */
  readonly resumable: boolean;
}

/** Reads the conversation's reply record; `null` when there is none (or it was discarded). */
export async function readCurrentReply(redis: RedisConnection, conversationId: string): Promise<CurrentReply | null> {
  const [token, user, messageId, status, frames, deleted, beat] = await counted(
    redis.hmget(redisKeys.replyCurrent(conversationId), 'token', 'user', 'message_id', 'status', 'frames', 'deleted', 'beat'),
  );
  if (!token || !user || deleted === '1') return null;
  return { token, user, messageId: messageId ?? '', running: status === 'running' && alive(beat), resumable: frames !== '0' };
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
  const current = await failOpen<CurrentReply | null>('replyStream', 'status', null, (redis) => readCurrentReply(redis, args.conversationId), {
    conversationId: args.conversationId,
  });
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
  if (!getConfig().replyStream.enabled || !redisEnabled()) return { outcome: 'absent' };
  let redis: RedisConnection;
  let result: [string, string?];
  try {
    redis = await getRedis();
    result = await runScript<[string, string?]>(redis, STOP, [redisKeys.replyCurrent(args.conversationId)], [args.userId, Date.now(), PRODUCER_SILENCE_MS]);
  } catch (error) {
    reportRedisFailure('replyStream', 'stop', error, { conversationId: args.conversationId });
    throw new ReplyStreamUnavailableError(error);
  }
  const [outcome, messageId] = result;
  if (outcome !== 'stopping') return { outcome: outcome as 'absent' | 'foreign' | 'idle' };
  const deadline = Date.now() + (args.waitMs ?? 3000);
  while (Date.now() < deadline) {
    await sleep(50);
    const current = await readCurrentReply(redis, args.conversationId).catch(() => null);
    if (!current || !current.running || current.messageId !== messageId) break;
  }
  return { outcome: 'stopping', messageId: messageId ?? '' };
}

/**
 * The first frame recorded for the reply `token` of the conversation (what a reply announced
 * when it started); `null` when there is none (not recorded, expired, Redis unavailable).
 */
export async function readFirstReplyFrame(conversationId: string, token: string): Promise<string | null> {
  if (!getConfig().replyStream.enabled) return null;
  return failOpen('replyStream', 'firstFrame', null, async (redis) => {
    const [entry] = (await counted(redis.xrange(redisKeys.replyFrames(conversationId, token), '-', '+', 'COUNT', 1))) as [string, string[]][];
    return entry?.[1][0] === 'd' ? (entry[1][1] ?? null) : null;
  }, { conversationId });
}

/**
 * The user deleted these conversations: each running reply stops (its partial reply is not
 * stored: the row is gone) and each record answers as absent. Fail-open like the cache: a
 * failure is logged and counted, and the reply routes still answer 404 once the record
 * expires, because Postgres has the deletion.
 */
export async function discardReplyStreams(args: { readonly userId: string; readonly conversationIds: readonly string[] }): Promise<void> {
  if (!getConfig().replyStream.enabled || args.conversationIds.length === 0) return;
  for (const batch of inBatches(args.conversationIds)) {
    const discarded = await failOpen(
      'replyStream',
      'discard',
      false,
      async (redis) => {
        await Promise.all(batch.map((id) => runScript(redis, DISCARD, [redisKeys.replyCurrent(id)], [args.userId])));
        return true;
      },
      { conversationId: batch[0] },
    );
    // Redis is failing: the rest would only wait for more timeouts (their records expire on their own).
    if (!discarded) return;
  }
}
