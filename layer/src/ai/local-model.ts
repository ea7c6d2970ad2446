import { ModelProviderError } from '../errors';
import { sleep } from '../platform/timers';
import { composeLongAnswer } from './local-long-answer';
import { OFFLINE_MODEL_IDS } from './model-catalog';
import { TITLE_SYSTEM_PROMPT, fallbackTitle } from './title';
import type { ChatModel, FinishReason, ModelStreamEvent, ModelStreamRequest } from './types';

/** The `model_slug` of the local echo model: it must never be mistaken for a real one. */
export const LOCAL_MODEL_SLUG = OFFLINE_MODEL_IDS.echo;
/** The `model_slug` of the local long-answer model. */
export const LOCAL_LONG_ANSWER_SLUG = OFFLINE_MODEL_IDS.longAnswer;

/** Which offline model: the echo, or the long Markdown answer. */
export type LocalModelId = (typeof OFFLINE_MODEL_IDS)[keyof typeof OFFLINE_MODEL_IDS];

/** Markers a test can put in the last user message to drive the local model's failure paths. */
export const LOCAL_MODEL_MARKERS = {
  failBeforeFirstToken: '[[local-model:fail-before-first-token]]',
  failAfterFirstToken: '[[local-model:fail-after-first-token]]',
  maxTokens: '[[local-model:max-tokens]]',
  slow: '[[local-model:slow]]',
} as const;

/** Token delay under the `slow` marker: long enough for a client to disconnect mid-reply. */
const SLOW_TOKEN_DELAY_MS = 200;
/** Tokens streamed before the `fail-after-first-token` failure. */
const TOKENS_BEFORE_FAILURE = 2;
/** Tokens streamed before the `max-tokens` marker cuts the reply. */
const TOKENS_BEFORE_MAX_TOKENS = 6;
/** Longer messages are echoed in part, so a 32k-character message does not stream for minutes. */
const MAX_ECHOED_WORDS = 40;

/** Props of `LocalChatModel`. */
export interface LocalChatModelProps {
  /** Pause between two streamed tokens, so streaming is visible in a UI. @default 0 */
  readonly tokenDelayMs?: number;
  /** Which offline model answers. @default the echo (`local-offline-model`) */
  readonly id?: LocalModelId;
  /** The `model_slug` it reports. @default its id */
  readonly slug?: string;
}

/**
 * An offline, deterministic stand-in for a model, for development and tests. It is NOT an LLM
 * and says so in every reply and in its slug (`local-offline-model`, `local-long-answer`).
 *
 * `local-long-answer` answers with a few hundred words of Markdown about the message
 * (`local-long-answer.ts`), one word per event like the echo, and a different text for each
 * `variant` of the request (a regenerate). Everything below holds for both.
 *
 * The reply echoes the last user message (at most 40 words) with its word count and the number
 * of messages in the context window, e.g.
 * `You said: "hello there". (2 words, 3 messages in context; local-offline-model is a
 * deterministic echo for development and tests, not an LLM.)`. It is streamed one word per
 * `text` event (the events concatenate to the reply exactly), `tokenDelayMs` apart, then
 * its `usage` (the words of the window in, the words streamed out) and `finish: stop`. `maxTokens` is honoured (one word = one token; a longer reply ends with
 * `finish: max_tokens`). Asked for a title (system prompt `TITLE_SYSTEM_PROMPT`), it answers
 * with the first six words of the message. An aborted signal ends the stream quietly between
 * two tokens.
 *
 * Markers in the last user message (removed from the echo) drive the failure paths:
 * - `[[local-model:fail-before-first-token]]`: throws `ModelProviderError` before any event;
 * - `[[local-model:fail-after-first-token]]`: streams two `text` events, then throws `ModelProviderError`;
 * - `[[local-model:max-tokens]]`: streams six `text` events, then `finish: max_tokens`;
 * - `[[local-model:slow]]`: 200 ms between tokens (client-disconnect tests).
 */
export class LocalChatModel implements ChatModel {
  readonly slug: string;
  private readonly id: LocalModelId;
  private readonly tokenDelayMs: number;

  constructor(props: LocalChatModelProps = {}) {
    this.id = props.id ?? LOCAL_MODEL_SLUG;
    if (!Object.values(OFFLINE_MODEL_IDS).includes(this.id)) throw new Error(`LocalChatModel: unknown id ${JSON.stringify(this.id)}`);
    this.slug = props.slug ?? this.id;
    this.tokenDelayMs = props.tokenDelayMs ?? 0;
    if (!Number.isFinite(this.tokenDelayMs) || this.tokenDelayMs < 0) {
      throw new Error(`LocalChatModel: tokenDelayMs must be a non-negative number, got ${props.tokenDelayMs}`);
    }
  }

  async *stream(request: ModelStreamRequest): AsyncGenerator<ModelStreamEvent> {
    const { messages, maxTokens, signal } = request;
    const lastUser = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
    const has = (marker: string): boolean => lastUser.includes(marker);
    const tokenDelayMs = has(LOCAL_MODEL_MARKERS.slow) ? SLOW_TOKEN_DELAY_MS : this.tokenDelayMs;
    if (signal?.aborted) return;
    if (has(LOCAL_MODEL_MARKERS.failBeforeFirstToken)) {
      throw new ModelProviderError(`The local offline model failed as asked by ${LOCAL_MODEL_MARKERS.failBeforeFirstToken}`);
    }

    let text = lastUser;
    for (const marker of Object.values(LOCAL_MODEL_MARKERS)) text = text.split(marker).join(' ');
    const words = text.split(/\s+/).filter(Boolean);
    const contextMessages = messages.filter((m) => m.role !== 'system').length;
    const reply =
      messages[0]?.role === 'system' && messages[0].content === TITLE_SYSTEM_PROMPT
        ? fallbackTitle(text)
        : this.id === LOCAL_LONG_ANSWER_SLUG
          ? composeLongAnswer(text.trim(), request.variant ?? 0, contextMessages)
          : composeReply(words, contextMessages);
    // Whitespace rides with the word before it (leading whitespace with the first), so the events concatenate to the reply exactly, newlines included.
    const tokens = reply.match(/\s*\S+\s*/g) ?? [];

    let limit = tokens.length;
    let reason: FinishReason = 'stop';
    const cut = (at: number): void => {
      if (at < limit) [limit, reason] = [at, 'max_tokens'];
    };
    if (has(LOCAL_MODEL_MARKERS.maxTokens)) cut(TOKENS_BEFORE_MAX_TOKENS);
    if (maxTokens !== undefined) cut(Math.max(0, maxTokens));
    const failAt = has(LOCAL_MODEL_MARKERS.failAfterFirstToken) ? TOKENS_BEFORE_FAILURE : undefined;

    for (let i = 0; i < limit; i++) {
      if (i === failAt) {
        throw new ModelProviderError(`The local offline model failed as asked by ${LOCAL_MODEL_MARKERS.failAfterFirstToken}`);
      }
      if (i > 0) await sleep(tokenDelayMs, signal);
      if (signal?.aborted) return;
      yield { type: 'text', text: tokens[i] };
    }
    if (signal?.aborted) return;
    // One word = one token, as for maxTokens: the window's words in, the streamed tokens out.
    const inputTokens = messages.reduce((sum, m) => sum + (m.content.match(/\S+/g)?.length ?? 0), 0);
    yield { type: 'usage', inputTokens, outputTokens: limit };
    yield { type: 'finish', reason };
  }
}

function composeReply(words: string[], contextMessages: number): string {
  const echoed = words.slice(0, MAX_ECHOED_WORDS).join(' ') + (words.length > MAX_ECHOED_WORDS ? ' …' : '');
  const count = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;
  return (
    `You said: "${echoed}". (${count(words.length, 'word')}, ${count(contextMessages, 'message')} in context; ` +
    `${LOCAL_MODEL_SLUG} is a deterministic echo for development and tests, not an LLM.)`
  );
}
