import type { OpenAI } from 'openai';
import { ModelProviderError } from '../errors';
import { iterateUntilAborted, toModelProviderError } from './stream-control';
import type { ChatModel, FinishReason, ModelStreamEvent, ModelStreamRequest } from './types';

/** Props of `OpenAiChatModel`. */
export interface OpenAiChatModelProps {
  /** Any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama's `/v1`, …). @default https://api.openai.com/v1 */
  readonly baseURL?: string;
  /** Sent as `Authorization: Bearer …`; local servers accept any non-empty value. */
  readonly apiKey: string;
  /** The `model` of the request. */
  readonly model: string;
  /** The `model_slug` reported to clients. @default the model */
  readonly slug?: string;
  /** Time allowed until the response headers arrive, per attempt. @default 20000 */
  readonly timeoutMs?: number;
  /** Retries of connection errors, 408, 409, 429 and 5xx, before any text streamed. @default 1 */
  readonly maxRetries?: number;
  /** Longest silence allowed between two chunks once streaming. @default 60000 */
  readonly idleTimeoutMs?: number;
}

/**
 * A model behind the OpenAI chat-completions API, streamed (`stream: true`). The `openai`
 * package is loaded on first use, so functions configured for another provider never pay for it.
 * Retries and timeouts are kept small because a user is watching a blank reply meanwhile.
 */
export class OpenAiChatModel implements ChatModel {
  readonly slug: string;
  private readonly props: OpenAiChatModelProps;
  private client?: Promise<OpenAI>;

  constructor(props: OpenAiChatModelProps) {
    if (!props.model) throw new Error('OpenAiChatModel: model is required');
    if (!props.apiKey) throw new Error('OpenAiChatModel: apiKey is required (any non-empty value for servers without auth)');
    this.props = props;
    this.slug = props.slug ?? props.model;
  }

  async *stream(request: ModelStreamRequest): AsyncGenerator<ModelStreamEvent> {
    const { messages, maxTokens, signal } = request;
    if (signal?.aborted) return;
    let finish: FinishReason | undefined;
    // Aborted whenever the iteration stops (done, failed, abandoned), so the HTTP stream never outlives it.
    const exchange = new AbortController();
    const requestSignal = signal ? AbortSignal.any([signal, exchange.signal]) : exchange.signal;
    try {
      const client = await this.getClient();
      const chunks = await client.chat.completions.create(
        {
          model: this.props.model,
          messages: messages.map((m) => ({ role: m.role, content: m.content })),
          stream: true,
          // The last chunk then carries the token counts (OpenAI, vLLM, Ollama, llama.cpp all send it).
          stream_options: { include_usage: true },
          ...(maxTokens !== undefined ? { max_tokens: maxTokens } : {}),
        },
        { signal: requestSignal },
      );
      for await (const chunk of iterateUntilAborted(chunks, { signal, idleTimeoutMs: this.props.idleTimeoutMs ?? 60_000 })) {
        // The usage-only chunk (stream_options.include_usage) has no choices.
        if (chunk.usage) yield { type: 'usage', inputTokens: chunk.usage.prompt_tokens ?? 0, outputTokens: chunk.usage.completion_tokens ?? 0 };
        const choice = chunk.choices?.[0];
        if (!choice) continue;
        if (choice.delta?.content) yield { type: 'text', text: choice.delta.content };
        if (choice.finish_reason) finish = choice.finish_reason === 'length' ? 'max_tokens' : 'stop';
      }
    } catch (error) {
      // The SDK reports our own abort as APIUserAbortError: not a provider failure.
      if (signal?.aborted) return;
      throw toModelProviderError(error, (error as { status?: unknown } | null)?.status === 429);
    } finally {
      exchange.abort();
    }
    if (signal?.aborted) return;
    // A stream closed without a finish reason was cut short (proxy timeout, server crash).
    if (!finish) throw new ModelProviderError('The model provider ended the reply unexpectedly');
    yield { type: 'finish', reason: finish };
  }

  private getClient(): Promise<OpenAI> {
    this.client ??= import('openai').then(
      ({ OpenAI }) =>
        new OpenAI({
          apiKey: this.props.apiKey,
          baseURL: this.props.baseURL,
          timeout: this.props.timeoutMs ?? 20_000,
          maxRetries: this.props.maxRetries ?? 1,
        }),
    );
    return this.client;
  }
}
