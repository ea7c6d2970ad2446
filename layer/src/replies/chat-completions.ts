/**
 * OpenAI's Chat Completions API (docs/api.md#openai-api-v1): a stateless reply to the
 * request's messages — the same providers, live-stream cap, turn limit, first-token wait and
 * heartbeats as a stored reply, nothing written — streamed as `chat.completion.chunk`s or
 * answered as one `chat.completion`.
 */
import { resolveModelSlug } from '../ai/models';
import type { ChatMessage } from '../ai/types';
import { ModelProviderError } from '../errors';
import { createChatCompletionEncoder, type ChatCompletionEncoder } from './chat-completion-frames';
import type { OpenAiReplyResult } from './openai-responses';
import { startStatelessReply } from './start-reply';

/** POST /v1/chat/completions, validated. */
export interface ChatCompletionRequest {
  readonly userId: string;
  /** A listed model slug; absent: the default. */
  readonly model?: string;
  /** After the deployment's system prompt. */
  readonly messages: readonly ChatMessage[];
  readonly stream: boolean;
  /** `stream_options.include_usage`. */
  readonly includeUsage: boolean;
  /** `max_completion_tokens` (or the older `max_tokens`). */
  readonly maxTokens?: number;
  /** Epoch ms when the function is stopped. */
  readonly deadline: number;
}

/**
 * Answers the messages. A model failing before its first token is a 502; one failing after
 * it is an `error` frame of the stream, or — not streamed — a 502 too (nothing was stored, so
 * a retry is safe).
 */
export async function createChatCompletion(request: ChatCompletionRequest): Promise<OpenAiReplyResult> {
  const modelSlug = resolveModelSlug(request.model, undefined);
  const created = Math.floor(Date.now() / 1000);
  let encoder: ChatCompletionEncoder | undefined;
  const frames = await startStatelessReply({
    userId: request.userId,
    modelSlug,
    messages: request.messages,
    maxOutputTokens: request.maxTokens,
    deadline: request.deadline,
    encoder: (messageId) => (encoder = createChatCompletionEncoder(messageId, { created, model: modelSlug, includeUsage: request.includeUsage })),
  });
  if (request.stream) return { kind: 'stream', stream: frames };
  for await (const frame of frames.frames) void frame;
  const completion = encoder as ChatCompletionEncoder;
  const failure = completion.failure();
  if (failure !== undefined) throw new ModelProviderError(failure);
  return { kind: 'json', body: JSON.stringify(completion.completion()) };
}
