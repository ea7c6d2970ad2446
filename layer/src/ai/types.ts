/** One turn of the context window sent to a model. */
export interface ChatMessage {
  readonly role: 'system' | 'user' | 'assistant';
  readonly content: string;
}

/** Why a reply ended: the model finished, or it hit the token limit (the reply is cut short). */
export type FinishReason = 'stop' | 'max_tokens';

/** Tokens a provider counted for one request. */
export interface ModelUsage {
  readonly inputTokens: number;
  readonly outputTokens: number;
}

/**
 * A reply arrives as text fragments, in order, then exactly one `finish` when it completed;
 * a provider that counts tokens sends one `usage` before the `finish`.
 */
export type ModelStreamEvent =
  | { readonly type: 'text'; readonly text: string }
  | ({ readonly type: 'usage' } & ModelUsage)
  | { readonly type: 'finish'; readonly reason: FinishReason };

/** What a provider is asked for. */
export interface ModelStreamRequest {
  /** The context window, system prompt first. */
  readonly messages: readonly ChatMessage[];
  /** Upper bound on the reply's length in tokens. @default the provider's default */
  readonly maxTokens?: number;
  /**
   * Which reply to the same message this is: 0 for the first, 1 for the first regenerate, …
   * Real models ignore it (they vary anyway); the offline long-answer model varies by it. @default 0
   */
  readonly variant?: number;
  /** Aborting it (client disconnect) stops the stream promptly. @default never aborted */
  readonly signal?: AbortSignal;
}

/**
 * A model provider. `stream` yields `text` events, the `usage` when the provider reports it, and then one `finish` event.
 *
 * - Provider failures (HTTP errors, throttling, a dropped connection, a stream that ends
 *   without a finish reason) throw `ModelProviderError`, before or after some text.
 * - When `request.signal` aborts, the iteration ENDS QUIETLY: no error, no `finish` event.
 *   A reply cut off by a disconnect is thus simply shorter; the caller can tell it apart
 *   from a complete reply by the missing `finish` event (or `signal.aborted`).
 */
export interface ChatModel {
  /** The `model_slug` reported to clients. */
  readonly slug: string;
  /** Streams the reply to `messages` (system prompt first). See the interface doc for errors and abort. */
  stream(request: ModelStreamRequest): AsyncIterable<ModelStreamEvent>;
}
