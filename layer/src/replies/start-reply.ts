/**
 * POST conversation, the whole use case (docs/api.md#posting-a-turn): the live-stream cap and
 * the turn limit, the user side of the turn, the model, and the reply as a frame pipeline the HTTP edge only
 * sends — each frame encoded in the client's format and recorded for followers as it passes
 * (docs/api.md#resumable-replies), then `[DONE]` once followers have been told the reply ended.
 */
import { toWireMessage } from '../conversations/wire';
import { enforceTurnLimit, holdLiveStream, replyRoom, type StreamSlot } from '../conversations/limits';
import { releaseReplyRoomById } from '../conversations/repository';
import { startTurn, type TurnRequest } from '../conversations/turns';
import { countMetric } from '../platform/observability';
import { startReplyRecording, type ReplyRecorder } from '../redis/reply-recorder';
import { createDeltaEncoder, createLegacyEncoder, SSE_DONE, SSE_HEARTBEAT, type FrameStream, type ReplyEncoding, type SseEncoder } from './frames';
import { openReply, type OpenedReply, type ReplyAbortReason } from './generate';

/** How long before the function's deadline a reply stops, at most (a tenth of the time left, when that is less). */
const DEADLINE_MARGIN_MS = 5000;

/** A reply under way, as the POST streams it. */
export interface ConversationReply extends FrameStream {
  readonly conversationId: string;
}

type ReplyRequest = TurnRequest & { readonly encoding: ReplyEncoding; readonly deadline?: number };

/**
 * Takes one of the user's live-stream slots and a turn (both before anything is written or the
 * model is called; a stream refused takes no turn), stores the user side, starts the model (a
 * failure before its first token is a 502 naming the stored conversation) and returns the
 * reply's frames. The reply ends early when someone stops it, when the function nears its
 * `deadline` (epoch ms), or — for a legacy client, which cannot resume — when the client goes
 * away; a v1 reply runs on to its end and is stored whole. The slot is given back when the
 * frames end, or at once when the request fails before.
 */
export async function startConversationReply(request: ReplyRequest): Promise<ConversationReply> {
  const slot = await holdLiveStream(request.userId);
  try {
    await enforceTurnLimit(request.userId);
    return await startReply(request, slot);
  } catch (error) {
    await slot.release();
    throw error;
  }
}

async function startReply(request: ReplyRequest, slot: StreamSlot): Promise<ConversationReply> {
  const turn = await startTurn(request);
  const resumable = request.encoding === 'v1';
  const controller = new AbortController();
  // Its one round trip overlaps the model's first-token wait.
  const recording = startReplyRecording({
    conversationId: turn.conversationId,
    userId: turn.userId,
    messageId: turn.assistantMessageId,
    recordFrames: resumable,
  });
  let reply: OpenedReply;
  try {
    reply = await openReply(turn, controller);
  } catch (error) {
    // The 502: nothing runs any more, and the reply's room is given back.
    await Promise.all([(await recording)?.finish('failed'), releaseReplyRoomById({ id: turn.conversationId, room: replyRoom() })]);
    throw error;
  }
  const recorder = await recording;
  const abort = (reason: ReplyAbortReason) => {
    if (!controller.signal.aborted) controller.abort(reason);
  };
  recorder?.stopSignal.addEventListener('abort', () => abort('stopped'), { once: true });
  let deadlineTimer: NodeJS.Timeout | undefined;
  if (request.deadline !== undefined) {
    const remaining = request.deadline - Date.now();
    // Early enough to store the reply and end every stream before the function is stopped.
    deadlineTimer = setTimeout(() => abort('deadline'), Math.max(0, remaining - Math.min(DEADLINE_MARGIN_MS, remaining / 10)));
  }
  const encoder = resumable
    ? createDeltaEncoder(turn.conversationId, recorder?.token)
    : createLegacyEncoder(turn.conversationId, turn.userMessage && toWireMessage(turn.userMessage));
  return {
    conversationId: turn.conversationId,
    frames: replyFrames(reply, controller.signal, encoder, recorder, async () => {
      clearTimeout(deadlineTimer);
      await slot.release();
    }),
    clientGone: () => {
      if (!resumable) abort('client_gone');
      // A resumable reply runs on, so the abort that counts a disconnect never happens: count it here.
      else countMetric('ClientDisconnected');
    },
  };
}

/** The reply's SSE text: every frame encoded and recorded as it passes, heartbeats while the model is quiet, `[DONE]` last. */
async function* replyFrames(
  reply: OpenedReply,
  signal: AbortSignal,
  encoder: SseEncoder,
  recorder: ReplyRecorder | undefined,
  onEnd: () => Promise<void>,
): AsyncGenerator<string> {
  let ended = false;
  try {
    for await (const event of reply.events(signal)) {
      if (event.type === 'heartbeat') {
        yield SSE_HEARTBEAT;
        continue;
      }
      for (const frame of encoder.encode(event)) {
        recorder?.append(frame);
        yield frame;
      }
    }
    ended = true;
  } finally {
    // Followers learn how the reply ended before this stream says so: with the end marker only
    // when it ended as it should (a reply that could not be stored ends without [DONE], for them too).
    await Promise.all([onEnd(), recorder?.finish(ended ? 'done' : 'failed')]);
  }
  yield SSE_DONE;
}
