/**
 * POST conversation, the whole use case (docs/api.md#posting-a-turn): the live-stream cap and
 * the turn limit, the user side of the turn, the model, and the reply as a frame pipeline the HTTP edge only
 * sends — each frame encoded in the client's format and recorded for followers as it passes
 * (docs/api.md#resumable-replies), then `[DONE]` once followers have been told the reply ended.
 */
import { toWireMessage } from '../conversations/wire';
import { enforceTurnLimit, holdLiveStream, replyRoom, type StreamSlot } from '../conversations/limits';
import { releaseReplyRoomById } from '../conversations/repository';
import { startTurn, type Turn, type TurnRequest } from '../conversations/turns';
import type { ChatMessage } from '../ai/types';
import { countMetric } from '../platform/observability';
import { startReplyRecording, type ReplyRecorder } from '../redis/reply-recorder';
import { createDeltaEncoder, createLegacyEncoder, SSE_DONE, SSE_HEARTBEAT, type FrameStream, type ReplyEncoding, type SseEncoder } from './frames';
import { openReply, openStatelessReply, type OpenedReply, type ReplyAbortReason } from './generate';

/** How long before the function's deadline a reply stops, at most (a tenth of the time left, when that is less). */
const DEADLINE_MARGIN_MS = 5000;

/** A reply under way, as the POST streams it. */
export interface ConversationReply extends FrameStream {
  readonly conversationId: string;
}

/** How a reply is sent: the encoder of its frames, whether they are recorded for followers, whether it runs on without its client. */
export interface ReplyFormat {
  /** Its frames are recorded, so a follower can resume them (`stream_status` and stop see every reply either way). */
  readonly recorded: boolean;
  /** It runs on to its end and is stored whole when its client goes away (else it stops and is stored as far as it got). */
  readonly outlivesClient: boolean;
  /** The recording's token, naming its frames' stream. @default a random one */
  readonly token?: string;
  /** The encoder of the turn's reply; `recorder` is its recording, when there is one. */
  encoder(turn: Turn, recorder: ReplyRecorder | undefined): SseEncoder;
}

/** The `backend-api`'s two formats: legacy snapshots (not recorded), v1 deltas (recorded, with the resume token frame). */
const BACKEND_API_FORMATS: Readonly<Record<ReplyEncoding, ReplyFormat>> = {
  legacy: { recorded: false, outlivesClient: false, encoder: (turn) => createLegacyEncoder(turn.conversationId, turn.userMessage && toWireMessage(turn.userMessage)) },
  v1: { recorded: true, outlivesClient: true, encoder: (turn, recorder) => createDeltaEncoder(turn.conversationId, recorder?.token) },
};

type ReplyRequest = TurnRequest & { readonly encoding: ReplyEncoding | ReplyFormat; readonly deadline?: number };

/**
 * Takes one of the user's live-stream slots and a turn (both before anything is written or the
 * model is called; a stream refused takes no turn), stores the user side, starts the model (a
 * failure before its first token is a 502 naming the stored conversation) and returns the
 * reply's frames. The reply ends early when someone stops it, when the function nears its
 * `deadline` (epoch ms), or — unless its format outlives its client (a legacy client cannot
 * resume) — when the client goes away; a v1 reply runs on to its end and is stored whole. The
 * slot is given back when the frames end, or at once when the request fails before.
 */
export function startConversationReply(request: ReplyRequest): Promise<ConversationReply> {
  return withReplySlot(request.userId, (slot) => startReply(request, slot));
}

/**
 * A reply to messages that belong to no conversation (OpenAI's Chat Completions, a Responses
 * request with `store: false`): the same live-stream cap, turn limit, model, heartbeats and
 * deadline as a stored reply; nothing written, nothing recorded, and it stops when its client
 * goes away.
 */
export function startStatelessReply(request: {
  readonly userId: string;
  readonly modelSlug: string;
  readonly messages: readonly ChatMessage[];
  readonly maxOutputTokens?: number;
  readonly deadline?: number;
  /** The encoder of the reply, given its message id. */
  readonly encoder: (messageId: string) => SseEncoder;
}): Promise<FrameStream> {
  return withReplySlot(request.userId, async (slot) => {
    const controller = new AbortController();
    const reply = await openStatelessReply({ ...request, controller });
    const abort = (reason: ReplyAbortReason) => {
      if (!controller.signal.aborted) controller.abort(reason);
    };
    const deadlineTimer = armDeadline(request.deadline, abort);
    return {
      frames: replyFrames(reply, controller.signal, request.encoder(reply.messageId), undefined, async () => {
        clearTimeout(deadlineTimer);
        await slot.release();
      }),
      clientGone: () => abort('client_gone'),
    };
  });
}

/**
 * Takes one of the user's live-stream slots and a turn (both before anything is written or the
 * model is called; a stream refused takes no turn), then runs `start`; the slot is given back
 * at once when that fails.
 */
async function withReplySlot<T>(userId: string, start: (slot: StreamSlot) => Promise<T>): Promise<T> {
  const slot = await holdLiveStream(userId);
  try {
    await enforceTurnLimit(userId);
    return await start(slot);
  } catch (error) {
    await slot.release();
    throw error;
  }
}

/** Aborts a reply early enough before the function's `deadline` (epoch ms) to store it and end every stream. */
function armDeadline(deadline: number | undefined, abort: (reason: ReplyAbortReason) => void): NodeJS.Timeout | undefined {
  if (deadline === undefined) return undefined;
  const remaining = deadline - Date.now();
  return setTimeout(() => abort('deadline'), Math.max(0, remaining - Math.min(DEADLINE_MARGIN_MS, remaining / 10)));
}

async function startReply(request: ReplyRequest, slot: StreamSlot): Promise<ConversationReply> {
  const turn = await startTurn(request);
  const format = typeof request.encoding === 'string' ? BACKEND_API_FORMATS[request.encoding] : request.encoding;
  const controller = new AbortController();
  // Its one round trip overlaps the model's first-token wait.
  const recording = startReplyRecording({
    conversationId: turn.conversationId,
    userId: turn.userId,
    messageId: turn.assistantMessageId,
    recordFrames: format.recorded,
    token: format.token,
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
  const deadlineTimer = armDeadline(request.deadline, abort);
  const encoder = format.encoder(turn, recorder);
  return {
    conversationId: turn.conversationId,
    frames: replyFrames(reply, controller.signal, encoder, recorder, async () => {
      clearTimeout(deadlineTimer);
      await slot.release();
    }),
    clientGone: () => {
      if (!format.outlivesClient) abort('client_gone');
      // A reply that runs on never aborts, which is what counts a disconnect: count it here.
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
