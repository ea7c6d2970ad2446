/**
 * What a reply stream is made of (docs/api.md#posting-a-turn): the two formats ChatGPT
 * clients read, as Server-Sent Events frames —
 * - legacy snapshots: every `data:` carries the whole assistant message so far;
 * - v1 deltas (`supported_encodings: ["v1"]`): one `add` of the message, then JSON-Pointer
 *   `append` / `patch` operations against the document `{message, conversation_id, error}`.
 * Both end with `data: [DONE]` (`SSE_DONE`). Pure: no I/O.
 *
 * A frame is one SSE event (a `data:` line, with its `event:` line when named): the unit a
 * resume offset counts. Heartbeats are comments, not frames.
 */
import type { WireMessage } from '../conversations/wire';
import type { ReplyEvent } from './generate';

/** An SSE comment: keeps proxies and clients from timing out an idle stream; clients ignore it, and it is not a frame. */
export const SSE_HEARTBEAT = ': ping\n\n';
/** The last frame of every stream that ended as it should. */
export const SSE_DONE = 'data: [DONE]\n\n';

/** A reply (or a follower of one) as the HTTP edge sends it: SSE text, and what to do when the client leaves. */
export interface FrameStream {
  /** The text to send, in order: frames, heartbeats, and `[DONE]` when the stream ended as it should. */
  readonly frames: AsyncIterable<string>;
  /** The client went away (the frames still run to their end, quickly or not, and are dropped). */
  clientGone(): void;
}

/** The stream formats a POST may ask for. */
export type ReplyEncoding = 'legacy' | 'v1';

/** Reply events other than heartbeats: the ones that become frames. */
export type FramedReplyEvent = Exclude<ReplyEvent, { type: 'heartbeat' }>;

export interface SseEncoder {
  /** The frames of one reply event, in order. */
  encode(event: FramedReplyEvent): string[];
}

const data = (payload: unknown): string => `data: ${JSON.stringify(payload)}\n\n`;
const named = (event: string, payload: unknown): string => `event: ${event}\ndata: ${JSON.stringify(payload)}\n\n`;

/** Legacy snapshot format. `userMessage`, when given, is echoed first, as later ChatGPT builds do. */
export function createLegacyEncoder(conversationId: string, userMessage?: WireMessage): SseEncoder {
  const envelope = (message: WireMessage, error: string | null = null) => data({ message, conversation_id: conversationId, error });
  return {
    encode(event) {
      switch (event.type) {
        case 'start':
          return userMessage ? [envelope(userMessage)] : [];
        case 'text':
          return [envelope(event.message)];
        case 'complete':
          return [envelope(event.message), data({ conversation_id: conversationId, message_id: event.message.id, is_completion: true })];
        case 'error':
          return [envelope(event.message, event.error)];
        case 'title':
          return [data({ type: 'title_generation', title: event.title, conversation_id: conversationId })];
      }
    },
  };
}

/**
 * v1 delta format. With a `resumeToken` (the reply is recorded), the frame right after
 * `delta_encoding` announces it, as ChatGPT's stream does.
 */
export function createDeltaEncoder(conversationId: string, resumeToken?: string): SseEncoder {
  // A frame without `p`/`o` reuses the previous ones: consecutive text appends send only `v`.
  let lastOp: 'append-text' | undefined;
  const delta = (payload: Record<string, unknown>, textAppend = false): string => {
    lastOp = textAppend ? 'append-text' : undefined;
    return named('delta', payload);
  };
  const finalPatch = (message: WireMessage, error?: string) => {
    const ops: Record<string, unknown>[] = [
      { p: '/message/status', o: 'replace', v: message.status },
      { p: '/message/end_turn', o: 'replace', v: message.end_turn },
      { p: '/message/metadata', o: 'append', v: message.metadata },
    ];
    if (error !== undefined) ops.push({ p: '/error', o: 'replace', v: error });
    return delta({ p: '', o: 'patch', v: ops });
  };
  return {
    encode(event) {
      switch (event.type) {
        case 'start':
          return [
            named('delta_encoding', 'v1'),
            ...(resumeToken === undefined ? [] : [data({ type: 'resume_conversation_token', conversation_id: conversationId, token: resumeToken })]),
            delta({ p: '', o: 'add', v: { message: event.message, conversation_id: conversationId, error: null }, c: 0 }),
          ];
        case 'text':
          return [lastOp === 'append-text' ? delta({ v: event.delta }, true) : delta({ p: '/message/content/parts/0', o: 'append', v: event.delta }, true)];
        case 'complete':
          return [finalPatch(event.message), data({ type: 'message_stream_complete', conversation_id: conversationId })];
        case 'error':
          return [finalPatch(event.message, event.error), data({ type: 'message_stream_complete', conversation_id: conversationId })];
        case 'title':
          return [data({ type: 'title_generation', title: event.title, conversation_id: conversationId })];
      }
    },
  };
}
