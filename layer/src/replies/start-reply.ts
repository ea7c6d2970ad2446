/**
 * POST conversation, the whole use case (docs/api.md#posting-a-turn): the turn limit, the
 * user side of the turn, the model, and the reply as a frame pipeline the HTTP edge only
 * sends — each frame encoded in the client's format and recorded for followers as it passes
 * (docs/api.md#resumable-replies), then `[DONE]` once followers have been told the reply ended.
 */
import { toWireMessage } from '../conversations/wire';
import { enforceTurnLimit, replyRoom } from '../conversations/limits';
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

/**
 * Checks the user's turn limit, stores the user side, starts the model (a failure before its
 * first token is a 502 naming the stored conversation) and returns the reply's frames. The
 * reply ends early when someone stops it, when the function nears its `deadline` (epoch ms),
 * or — for a legacy client, which cannot resume — when the client goes away; a v1 reply runs
 * on to its end and is stored whole.
 */
export async function startConversationReply(
  request: TurnRequest & { readonly encoding: ReplyEncoding; readonly deadline?: number },
): Promise<ConversationReply> {
  // After validation, before anything is written or the model is called.
  await enforceTurnLimit(request.userId);
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
    frames: replyFrames(reply, controller.signal, encoder, recorder, () => clearTimeout(deadlineTimer)),
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
  onEnd: () => void,
): AsyncGenerator<string> {
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
  } finally {
    onEnd();
    // Followers learn the reply ended before this stream says so.
    await recorder?.finish('done');
  }
  yield SSE_DONE;
}
