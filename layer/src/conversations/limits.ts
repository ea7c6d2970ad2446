/**
 * Every limit a request meets, in one place (docs/api.md#limits): the request body's size, a
 * message's length, a conversation's size (with the room a running reply holds), the per-user
 * cap on live streams and the per-user turn limit, counted in Redis (`redis/live-streams.ts`,
 * `redis/turn-limiter.ts`). Each rule throws the error its client expects; GET limits reads what
 * is left of the turn limit from the same log.
 */
import { API_FUNCTIONS } from '../contracts/route-table';
import { ConversationTooLongError, PayloadTooLargeError, TooManyStreamsError, TurnLimitExceededError } from '../errors';
import { getConfig } from '../platform/config';
import { countMetric } from '../platform/observability';
import { takeStreamSlot, type StreamSlot } from '../redis/live-streams';
import { readTurnLog, recordTurn } from '../redis/turn-limiter';
import { messageContentBytes, textContentBytes, type MessageRow } from './records';
import type { ReplyRoom } from './repository';

/** 413 when a request body is larger than `MAX_BODY_BYTES`. */
export function assertBodySize(bytes: number, maxBodyBytes = getConfig().http.maxBodyBytes): void {
  if (bytes > maxBodyBytes) throw new PayloadTooLargeError('payload_too_large', `The request body exceeds ${maxBodyBytes} bytes`);
}

/** 413 `message_length_exceeds_limit` when a user message is longer than `MAX_MESSAGE_CHARS`. */
export function assertMessageLength(text: string, maxMessageChars = getConfig().http.maxMessageChars): void {
  if (text.length > maxMessageChars) {
    throw new PayloadTooLargeError('message_length_exceeds_limit', `The message is longer than ${maxMessageChars} characters`);
  }
}

/** A reply runs at most as long as its function; the room it holds lapses a minute after that. */
const REPLY_ROOM_HOLD_SECONDS = API_FUNCTIONS['post-conversation'].timeoutSeconds + 60;

/** The room each turn holds for its reply until the reply is stored: one message and `MAX_REPLY_BYTES`. */
export function replyRoom(): ReplyRoom {
  const { maxConversationMessages, maxConversationBytes, maxReplyBytes } = getConfig().limits;
  return { bytes: maxReplyBytes, holdSeconds: REPLY_ROOM_HOLD_SECONDS, maxMessages: maxConversationMessages, maxBytes: maxConversationBytes };
}

/** The 413 a turn gets when its conversation has no room left for it (or for its reply). */
export function conversationTooLong(reason: 'messages' | 'bytes'): ConversationTooLongError {
  const { maxConversationMessages, maxConversationBytes } = getConfig().limits;
  countMetric('ConversationTooLong');
  return new ConversationTooLongError(
    reason === 'messages'
      ? `This conversation has reached its limit of ${maxConversationMessages} messages. Start a new conversation to continue.`
      : `This conversation has reached its size limit of ${maxConversationBytes} bytes. Start a new conversation to continue.`,
  );
}

/**
 * Conversation size (`MAX_CONVERSATION_MESSAGES`, `MAX_CONVERSATION_BYTES`): a turn adds the
 * user's message (when new) and a reply of at most `MAX_REPLY_BYTES`, beside what is stored and
 * what replies still running hold. A precise 413 before anything is written; the statement that
 * stores the turn checks again and reserves the reply's room atomically, so turns that race
 * past this check together cannot pass the limits either.
 */
export function assertRoomForTurn(
  size: { readonly messageCount: number; readonly contentBytes: number; readonly reservedMessages: number; readonly reservedBytes: number },
  message: Pick<MessageRow, 'parts'> | undefined,
): void {
  const { maxConversationMessages, maxConversationBytes, maxReplyBytes } = getConfig().limits;
  const messages = size.messageCount + size.reservedMessages + (message ? 1 : 0) + 1;
  const bytes = size.contentBytes + size.reservedBytes + (message ? messageContentBytes(message.parts) : 0) + maxReplyBytes;
  if (messages > maxConversationMessages) throw conversationTooLong('messages');
  if (bytes > maxConversationBytes) throw conversationTooLong('bytes');
}

/**
 * Items stored without a reply (OpenAI's Conversations API): the conversation's limits must hold
 * them beside what is stored and what running replies hold. A precise 413 before anything is
 * written; the statement that stores them checks again.
 */
export function assertRoomForItems(
  size: { readonly messageCount: number; readonly contentBytes: number; readonly reservedMessages: number; readonly reservedBytes: number },
  added: { readonly messages: number; readonly bytes: number },
): void {
  const { maxConversationMessages, maxConversationBytes } = getConfig().limits;
  if (size.messageCount + size.reservedMessages + added.messages > maxConversationMessages) throw conversationTooLong('messages');
  if (size.contentBytes + size.reservedBytes + added.bytes > maxConversationBytes) throw conversationTooLong('bytes');
}

/**
 * A reply's size as it streams: at most `MAX_REPLY_BYTES` (the room its turn reserved), so a
 * model that writes without end — or one enormous "token" — cannot take a conversation past
 * its limit. {@link ReplyBudget.take} says what of each piece still fits.
 */
export class ReplyBudget {
  private remaining: number;

  constructor(maxReplyBytes = getConfig().limits.maxReplyBytes) {
    this.remaining = maxReplyBytes - messageContentBytes(['']);
  }

  /** The part of `text` that fits: all of it, its longest fitting prefix (whole characters), or ''. */
  take(text: string): string {
    const bytes = textContentBytes(text);
    if (bytes <= this.remaining) {
      this.remaining -= bytes;
      return text;
    }
    const characters = Array.from(text);
    let [fits, over] = [0, characters.length];
    while (over - fits > 1) {
      const middle = (fits + over) >> 1;
      if (textContentBytes(characters.slice(0, middle).join('')) <= this.remaining) fits = middle;
      else over = middle;
    }
    const prefix = characters.slice(0, fits).join('');
    this.remaining = 0;
    return prefix;
  }
}

/** A stream allowed by {@link holdLiveStream}: give it back when the stream ends, however it ends. */
export type { StreamSlot };

/**
 * The per-user cap on live streams (`USER_MAX_LIVE_STREAMS`): a POST reply or a resume follower
 * holds one of the user's slots while it streams; one more is a 429 `too_many_streams` with
 * `Retry-After`. One round trip; fails open (Redis down: served, and counted).
 */
export async function holdLiveStream(userId: string): Promise<StreamSlot> {
  const limit = getConfig().limits.userMaxLiveStreams;
  if (limit === 0) return { release: async () => undefined };
  const outcome = await takeStreamSlot(userId, limit);
  if ('slot' in outcome) return outcome.slot;
  countMetric('LiveStreamLimited');
  throw new TooManyStreamsError(Math.max(1, Math.ceil(outcome.retryAfterMs / 1000)), limit);
}

/**
 * The per-user turn limit: counts one turn (a reply, a generated title) for `userId`, or
 * throws 429 `rate_limit_exceeded` with `Retry-After` when the user started `USER_TURN_LIMIT`
 * turns in the last `USER_TURN_WINDOW_SECONDS`. Call it after the request is validated and
 * before anything is written or the model is called. Fails open: Redis down, the turn is served.
 */
export async function enforceTurnLimit(userId: string): Promise<void> {
  const { userTurnLimit, userTurnWindowSeconds } = getConfig().limits;
  if (userTurnLimit === 0) return;
  const outcome = await recordTurn(userId, userTurnLimit, userTurnWindowSeconds * 1000);
  if (outcome.allowed !== false) return;
  countMetric('TurnLimited');
  throw new TurnLimitExceededError(Math.max(1, Math.ceil(outcome.retryAfterMs / 1000)), userTurnLimit, userTurnWindowSeconds);
}

/** One entry of GET limits' `limits_progress` (ChatGPT's shape). */
export interface LimitProgress {
  readonly feature_name: 'turns';
  readonly limit: number;
  /** Turns left in the window now; `null` when the turn log cannot be read (Redis down or not configured). */
  readonly remaining: number | null;
  /** ISO-8601: when the next counted turn leaves the window (at the limit: when a turn is allowed again); `null` when none is counted or it is unknown. */
  readonly reset_after: string | null;
}

/**
 * GET limits: what is left of the user's turn limit, read from the turn log the 429 is decided
 * on, in one round trip, writing nothing (asking is not a turn). An empty list when the limit
 * is off (`USER_TURN_LIMIT=0`).
 */
export async function getLimitsProgress(userId: string): Promise<{ readonly limits_progress: LimitProgress[] }> {
  const { userTurnLimit, userTurnWindowSeconds } = getConfig().limits;
  if (userTurnLimit === 0) return { limits_progress: [] };
  const log = await readTurnLog(userId, userTurnLimit, userTurnWindowSeconds * 1000);
  return {
    limits_progress: [
      {
        feature_name: 'turns',
        limit: userTurnLimit,
        remaining: log === 'unknown' ? null : Math.max(0, userTurnLimit - log.turns),
        reset_after: log === 'unknown' ? null : (log.nextFreeAt?.toISOString() ?? null),
      },
    ],
  };
}
