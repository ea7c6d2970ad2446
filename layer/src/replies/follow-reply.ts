/**
 * resume (docs/api.md#resumable-replies): a reply's frames from an offset, then the live reply
 * to its end, as SSE text ready to send. Where a resume lives, with `redis/reply-follower.ts`.
 */
import { holdLiveStream, type StreamSlot } from '../conversations/limits';
import { ReplyStreamNotFoundError } from '../errors';
import { getConfig } from '../platform/config';
import { isReplyStreamToken } from '../redis/reply-state';
import { openReplyFollower, type ReplyStreamEvent } from '../redis/reply-follower';
import { SSE_DONE, SSE_HEARTBEAT, type FrameStream } from './frames';

/** A follower ends this long before its function's deadline, so it closes the stream itself. */
const DEADLINE_MARGIN_MS = 1000;

/**
 * Opens a follower of the conversation's reply. Throws before the first frame — 404 for no
 * such stream (a token we never issued included), 503 when Redis is unavailable — so the
 * caller can still answer JSON. The frames end with `[DONE]` when the reply ended, and without
 * it when the follower was cut off (Redis failed, the producer vanished, the deadline).
 */
export async function followConversationReply(args: {
  readonly conversationId: string;
  readonly userId: string;
  /** First frame to send, counted from 0 as the original stream sent them. */
  readonly offset: number;
  /** The `resume_conversation_token`; @default the conversation's latest reply */
  readonly token?: string;
  /** Epoch ms when the function is stopped. */
  readonly deadline: number;
}): Promise<FrameStream> {
  if (args.token !== undefined && !isReplyStreamToken(args.token)) throw new ReplyStreamNotFoundError();
  const clientGone = new AbortController();
  const events = await openReplyFollower({
    ...args,
    heartbeatMs: getConfig().llm.heartbeatIntervalMs,
    deadline: args.deadline - DEADLINE_MARGIN_MS,
    signal: clientGone.signal,
  });
  // A follower is a live stream too (it holds a connection of its own): it counts toward the user's cap.
  const slot = await holdLiveStream(args.userId);
  return { frames: toSse(events, slot), clientGone: () => clientGone.abort() };
}

async function* toSse(events: AsyncIterable<ReplyStreamEvent>, slot: StreamSlot): AsyncGenerator<string> {
  try {
    for await (const event of events) {
      if (event.type === 'frame') yield event.frame;
      else if (event.type === 'heartbeat') yield SSE_HEARTBEAT;
      else yield SSE_DONE;
    }
  } finally {
    await slot.release();
  }
}
