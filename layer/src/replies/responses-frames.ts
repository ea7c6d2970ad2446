/**
 * OpenAI's Responses API encoding of a reply (docs/api.md#openai-api-v1), beside the
 * `backend-api`'s legacy and v1 encodings in `frames.ts`: typed SSE events (`event: <type>`,
 * `data: {"type", "sequence_number", ...}`), one frame each, `sequence_number` = the frame's
 * index, so a resume after event n starts at frame n + 1. The `response` object itself, for
 * those events and for the JSON answers, is built here too. Pure: no I/O.
 */
import type { WireMessage } from '../conversations/wire';
import { outputText, toItemId } from '../conversations/openai-wire';
import type { FramedReplyEvent, SseEncoder } from './frames';

/** What a response says about the request that made it. */
export interface ResponseSettings {
  /** `resp_…` */
  readonly id: string;
  /** Epoch seconds. */
  readonly createdAt: number;
  readonly model: string;
  readonly instructions: string | null;
  readonly maxOutputTokens: number | null;
  readonly previousResponseId: string | null;
  /** `conv_…` of the conversation the response is stored in; `null` when it is not stored. */
  readonly conversation: string | null;
  readonly background: boolean;
  readonly store: boolean;
}

export type ResponseStatus = 'in_progress' | 'completed' | 'incomplete' | 'cancelled' | 'failed';

/** Where a response stands. */
interface ResponseState {
  readonly status: ResponseStatus;
  readonly output: readonly Record<string, unknown>[];
  readonly usage: Record<string, unknown> | null;
  readonly error: { readonly code: string; readonly message: string } | null;
  readonly incompleteDetails: { readonly reason: string } | null;
  readonly completedAt: number | null;
}

const IN_PROGRESS: ResponseState = { status: 'in_progress', output: [], usage: null, error: null, incompleteDetails: null, completedAt: null };

/** OpenAI's `response` object. */
export function responseObject(settings: ResponseSettings, state: ResponseState = IN_PROGRESS): Record<string, unknown> {
  return {
    id: settings.id,
    object: 'response',
    created_at: settings.createdAt,
    status: state.status,
    background: settings.background,
    completed_at: state.completedAt,
    conversation: settings.conversation === null ? null : { id: settings.conversation },
    error: state.error,
    incomplete_details: state.incompleteDetails,
    instructions: settings.instructions,
    max_output_tokens: settings.maxOutputTokens,
    metadata: {},
    model: settings.model,
    output: state.output,
    parallel_tool_calls: true,
    previous_response_id: settings.previousResponseId,
    store: settings.store,
    temperature: null,
    text: { format: { type: 'text' } },
    tool_choice: 'auto',
    tools: [],
    top_p: null,
    truncation: 'disabled',
    usage: state.usage,
  };
}

/** The stored `usage` metadata of a reply (`{input_tokens, output_tokens}`) in the Responses API's shape; `null` when the provider reported none. */
function usageOf(message: WireMessage): Record<string, unknown> | null {
  const usage = message.metadata.usage as { input_tokens?: unknown; output_tokens?: unknown } | undefined;
  if (typeof usage?.input_tokens !== 'number' || typeof usage.output_tokens !== 'number') return null;
  return {
    input_tokens: usage.input_tokens,
    input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
    output_tokens: usage.output_tokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: usage.input_tokens + usage.output_tokens,
  };
}

/** The output item of a reply. */
const messageItem = (message: WireMessage, status: 'in_progress' | 'completed' | 'incomplete'): Record<string, unknown> => ({
  id: toItemId(message.id),
  type: 'message',
  status,
  role: 'assistant',
  content: status === 'in_progress' ? [] : [outputText(String(message.content.parts[0] ?? ''))],
});

/**
 * Where a reply that ended leaves its response: `completed` when the model finished,
 * `incomplete` when it hit its token limit or was cut off (deadline, client gone), `cancelled`
 * when someone stopped it, `failed` when the model failed — read from the stored
 * `finish_details`, so a response read back later says the same. `completedAt` (epoch s) is
 * `null` for a response read back: when a reply ended is not stored.
 */
export function endedState(message: WireMessage, ending: { readonly failure?: string; readonly completedAt: number | null }): ResponseState {
  const { failure, completedAt } = ending;
  const details = (message.metadata.finish_details ?? {}) as { type?: string; reason?: string };
  const base = { usage: usageOf(message), completedAt };
  if (failure !== undefined || details.reason === 'error') {
    return { ...base, status: 'failed', output: [messageItem(message, 'incomplete')], error: { code: 'server_error', message: failure ?? 'The model provider failed' }, incompleteDetails: null };
  }
  if (details.type === 'stop') return { ...base, status: 'completed', output: [messageItem(message, 'completed')], error: null, incompleteDetails: null };
  const status: ResponseStatus = details.reason === 'stopped' ? 'cancelled' : 'incomplete';
  const incompleteDetails = details.type === 'max_tokens' ? { reason: 'max_output_tokens' } : null;
  return { ...base, status, output: [messageItem(message, 'incomplete')], error: null, incompleteDetails };
}

/** The frames of a reply, and the response as they leave it. */
export interface ResponsesEncoder extends SseEncoder {
  /** The response object as the events encoded so far leave it. */
  current(): Record<string, unknown>;
}

/** The Responses API encoder of one reply. */
export function createResponsesEncoder(settings: ResponseSettings): ResponsesEncoder {
  let sequence = 0;
  let state = IN_PROGRESS;
  let itemId = '';
  let text = '';
  const frame = (type: string, payload: Record<string, unknown>): string =>
    `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...payload })}\n\n`;
  const position = () => ({ item_id: itemId, output_index: 0, content_index: 0 });
  /** The frames that close the message item, then the terminal ones. */
  const ending = (message: WireMessage, failure?: string): string[] => {
    state = endedState(message, { failure, completedAt: Math.floor(Date.now() / 1000) });
    const item = state.output[0];
    const part = outputText(text);
    const frames = [
      frame('response.output_text.done', { ...position(), text, logprobs: [] }),
      frame('response.content_part.done', { ...position(), part }),
      frame('response.output_item.done', { output_index: 0, item }),
    ];
    if (failure !== undefined) frames.push(frame('error', { code: 'server_error', message: failure, param: null }));
    const terminal = state.status === 'completed' ? 'response.completed' : state.status === 'failed' ? 'response.failed' : 'response.incomplete';
    frames.push(frame(terminal, { response: responseObject(settings, state) }));
    return frames;
  };
  return {
    current: () => responseObject(settings, state),
    encode(event: FramedReplyEvent): string[] {
      switch (event.type) {
        case 'start':
          itemId = toItemId(event.message.id);
          return [
            frame('response.created', { response: responseObject(settings, state) }),
            frame('response.in_progress', { response: responseObject(settings, state) }),
            frame('response.output_item.added', { output_index: 0, item: messageItem(event.message, 'in_progress') }),
            frame('response.content_part.added', { ...position(), part: outputText('') }),
          ];
        case 'text':
          text += event.delta;
          return [frame('response.output_text.delta', { ...position(), delta: event.delta, logprobs: [] })];
        case 'complete':
          return ending(event.message);
        case 'error':
          return ending(event.message, event.error);
        case 'title':
          // The Responses API has no titles: the conversation still gets one, for the backend-api's list.
          return [];
      }
    },
  };
}
