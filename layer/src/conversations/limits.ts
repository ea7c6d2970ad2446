/**
 * Every limit a request meets, in one place (docs/api.md#limits): the request body's size, a
 * message's length, a conversation's size, and the per-user turn limit, counted in Redis
 * (`redis/turn-limiter.ts`). Each rule throws the error its client expects; GET limits reads
 * what is left of the turn limit from the same log.
 */
import { ConversationTooLongError, PayloadTooLargeError, TurnLimitExceededError } from '../errors';
import { getConfig } from '../platform/config';
import { countMetric } from '../platform/observability';
import { readTurnLog, recordTurn } from '../redis/turn-limiter';
import { messageContentBytes, type MessageRow } from './records';

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

/**
 * Conversation size (`MAX_CONVERSATION_MESSAGES`, `MAX_CONVERSATION_BYTES`): a turn adds the
 * user's message (when new) and a reply; refused with 413 before anything is written when
 * that would pass either limit. The reply's bytes are not known yet, so the byte limit can be
 * passed by one reply; its default leaves room for that (docs/api.md#limits).
 */
export function assertRoomForTurn(
  size: { readonly messageCount: number; readonly contentBytes: number },
  message: Pick<MessageRow, 'parts'> | undefined,
): void {
  const { maxConversationMessages, maxConversationBytes } = getConfig().limits;
  const messages = size.messageCount + (message ? 1 : 0) + 1;
  const bytes = size.contentBytes + (message ? messageContentBytes(message.parts) : 0);
  if (messages <= maxConversationMessages && bytes <= maxConversationBytes) return;
  countMetric('ConversationTooLong');
  throw new ConversationTooLongError(
    messages > maxConversationMessages
      ? `This conversation has reached its limit of ${maxConversationMessages} messages. Start a new conversation to continue.`
      : `This conversation has reached its size limit of ${maxConversationBytes} bytes. Start a new conversation to continue.`,
  );
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
