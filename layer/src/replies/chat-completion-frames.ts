/**
 * OpenAI's Chat Completions encoding of a stateless reply (docs/api.md#openai-api-v1), beside
 * `frames.ts`'s: `chat.completion.chunk`s as plain `data:` frames (the role first, then the
 * content deltas, then the finish reason; with `stream_options.include_usage`, every chunk
 * has `usage: null` and one last chunk without choices carries it), or, drained, one
 * `chat.completion`. A model failure after the start is a `data: {"error": ...}` frame, which
 * the OpenAI SDKs raise. Pure: no I/O.
 */
import type { WireMessage } from '../conversations/wire';
import type { FramedReplyEvent, SseEncoder } from './frames';

/** What a completion says about its request. */
export interface CompletionSettings {
  /** Epoch seconds. */
  readonly created: number;
  readonly model: string;
  /** `stream_options.include_usage`. */
  readonly includeUsage: boolean;
}

/** The frames of a reply, and the completion they add up to. */
export interface ChatCompletionEncoder extends SseEncoder {
  /** The `chat.completion` object of the whole reply (once it ended). */
  completion(): Record<string, unknown>;
  /** The model's failure after the start, if it failed. */
  failure(): string | undefined;
}

/** `stop` when the model finished; `length` when the reply was cut short (its token limit, the deadline). */
const finishReasonOf = (message: WireMessage): 'stop' | 'length' => ((message.metadata.finish_details as { type?: string } | undefined)?.type === 'stop' ? 'stop' : 'length');

/** The stored `usage` metadata of a reply in the Chat Completions shape; `null` when the provider reported none. */
function usageOf(message: WireMessage | undefined): Record<string, number> | null {
  const usage = message?.metadata.usage as { input_tokens?: unknown; output_tokens?: unknown } | undefined;
  if (typeof usage?.input_tokens !== 'number' || typeof usage.output_tokens !== 'number') return null;
  return { prompt_tokens: usage.input_tokens, completion_tokens: usage.output_tokens, total_tokens: usage.input_tokens + usage.output_tokens };
}

/** The encoder of one completion, named `chatcmpl-<messageId>`. */
export function createChatCompletionEncoder(messageId: string, settings: CompletionSettings): ChatCompletionEncoder {
  const id = `chatcmpl-${messageId}`;
  let text = '';
  let ended: WireMessage | undefined;
  let failed: string | undefined;
  const chunk = (choices: unknown[], usage?: Record<string, number> | null): string =>
    `data: ${JSON.stringify({
      id,
      object: 'chat.completion.chunk',
      created: settings.created,
      model: settings.model,
      system_fingerprint: null,
      choices,
      ...(settings.includeUsage ? { usage: usage ?? null } : {}),
    })}\n\n`;
  const choice = (delta: Record<string, unknown>, finishReason: string | null) => ({ index: 0, delta, logprobs: null, finish_reason: finishReason });
  return {
    encode(event: FramedReplyEvent): string[] {
      switch (event.type) {
        case 'start':
          return [chunk([choice({ role: 'assistant', content: '' }, null)])];
        case 'text':
          text += event.delta;
          return [chunk([choice({ content: event.delta }, null)])];
        case 'complete': {
          ended = event.message;
          const frames = [chunk([choice({}, finishReasonOf(event.message))])];
          if (settings.includeUsage) frames.push(chunk([], usageOf(event.message)));
          return frames;
        }
        case 'error':
          ended = event.message;
          failed = event.error;
          return [`data: ${JSON.stringify({ error: { message: event.error, type: 'server_error', param: null, code: 'model_error' } })}\n\n`];
        case 'title':
          return [];
      }
    },
    completion: () => ({
      id,
      object: 'chat.completion',
      created: settings.created,
      model: settings.model,
      system_fingerprint: null,
      choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null, annotations: [] }, logprobs: null, finish_reason: ended ? finishReasonOf(ended) : 'length' }],
      usage: usageOf(ended),
    }),
    failure: () => failed,
  };
}
