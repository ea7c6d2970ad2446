import type {
  BedrockRuntimeClient,
  ContentBlock,
  ConverseStreamCommandInput,
  Message,
  StopReason,
  SystemContentBlock,
} from '@aws-sdk/client-bedrock-runtime';
import { ModelProviderError } from '../errors';
import { ABORTED, iterateUntilAborted, toModelProviderError, untilAborted } from './stream-control';
import type { ChatMessage, ChatModel, FinishReason, ModelStreamEvent, ModelStreamRequest } from './types';

type BedrockModule = typeof import('@aws-sdk/client-bedrock-runtime');

/** Props of `BedrockChatModel`. */
export interface BedrockChatModelProps {
  /** A model id or inference profile id/ARN, e.g. `anthropic.claude-haiku-4-5-20251001-v1:0`. */
  readonly modelId: string;
  /** The `model_slug` reported to clients. @default the model id */
  readonly slug?: string;
  /** Region of the client created on first use. @default the SDK's (AWS_REGION in Lambda) */
  readonly region?: string;
  /** A ready client (tests, custom credentials); `region` is then ignored. @default one created on first use */
  readonly client?: BedrockRuntimeClient;
  /** Time allowed until the stream starts. @default 20000 */
  readonly timeoutMs?: number;
  /** Longest silence allowed between two stream events. @default 60000 */
  readonly idleTimeoutMs?: number;
}

/** Exceptions Bedrock delivers inside the event stream, after the HTTP 200. */
const STREAM_EXCEPTIONS = [
  'internalServerException',
  'modelStreamErrorException',
  'validationException',
  'throttlingException',
  'serviceUnavailableException',
] as const;

/** Bedrock's error names (thrown by the SDK) that mean "slow down and retry". */
const THROTTLING_NAMES = new Set(['ThrottlingException', 'ServiceQuotaExceededException', 'TooManyRequestsException']);

/**
 * A model on Amazon Bedrock through the Converse stream API (IAM auth, no key). The SDK is
 * loaded and the client created on first use, so functions using another provider never pay for it.
 */
export class BedrockChatModel implements ChatModel {
  readonly slug: string;
  private readonly props: BedrockChatModelProps;
  private sdk?: Promise<{ module: BedrockModule; client: BedrockRuntimeClient }>;

  constructor(props: BedrockChatModelProps) {
    if (!props.modelId) throw new Error('BedrockChatModel: modelId is required');
    this.props = props;
    this.slug = props.slug ?? props.modelId;
  }

  async *stream(request: ModelStreamRequest): AsyncGenerator<ModelStreamEvent> {
    const { messages, maxTokens, signal } = request;
    if (signal?.aborted) return;
    let finish: FinishReason | undefined;
    // Aborted whenever the iteration stops (done, failed, abandoned), so the HTTP stream never outlives it.
    const exchange = new AbortController();
    try {
      const { module, client } = await this.getSdk();
      const command = new module.ConverseStreamCommand({
        modelId: this.props.modelId,
        ...toConverseMessages(messages),
        ...(maxTokens !== undefined ? { inferenceConfig: { maxTokens } } : {}),
      });

      const deadline = new AbortController();
      const timeoutMs = this.props.timeoutMs ?? 20_000;
      const timer = setTimeout(() => deadline.abort(), timeoutMs);
      // One signal for the whole HTTP exchange: the caller's abort, our own, or the deadline until the stream starts.
      const requestSignal = AbortSignal.any([exchange.signal, deadline.signal, ...(signal ? [signal] : [])]);
      let response;
      try {
        response = await untilAborted(client.send(command, { abortSignal: requestSignal }), requestSignal);
      } catch (error) {
        if (deadline.signal.aborted && !signal?.aborted) throw timeoutError(timeoutMs, error);
        throw error;
      } finally {
        clearTimeout(timer);
      }
      if (response === ABORTED) {
        if (signal?.aborted) return;
        throw timeoutError(timeoutMs);
      }
      if (!response.stream) throw new ModelProviderError('The model provider returned no stream');

      for await (const event of iterateUntilAborted(response.stream, { signal, idleTimeoutMs: this.props.idleTimeoutMs ?? 60_000 })) {
        const text = event.contentBlockDelta?.delta?.text;
        if (text) yield { type: 'text', text };
        else if (event.messageStop) finish = toFinishReason(event.messageStop.stopReason);
        else if (event.metadata?.usage) {
          const { inputTokens = 0, outputTokens = 0 } = event.metadata.usage;
          yield { type: 'usage', inputTokens, outputTokens };
        }
        else {
          const failure = STREAM_EXCEPTIONS.find((name) => event[name]);
          if (failure) {
            throw toModelProviderError(Object.assign(new Error(event[failure]?.message ?? failure), { name: failure }), failure === 'throttlingException');
          }
        }
      }
    } catch (error) {
      // The SDK reports our own abort as an AbortError: not a provider failure.
      if (signal?.aborted) return;
      throw toModelProviderError(error, THROTTLING_NAMES.has((error as { name?: unknown } | null)?.name as string));
    } finally {
      exchange.abort();
    }
    if (signal?.aborted) return;
    if (!finish) throw new ModelProviderError('The model provider ended the reply unexpectedly');
    yield { type: 'finish', reason: finish };
  }

  private getSdk(): Promise<{ module: BedrockModule; client: BedrockRuntimeClient }> {
    this.sdk ??= import('@aws-sdk/client-bedrock-runtime').then((module) => ({
      module,
      // Two attempts: retries only happen before the first byte, while the user waits on a blank reply.
      client: this.props.client ?? new module.BedrockRuntimeClient({ region: this.props.region, maxAttempts: 2 }),
    }));
    return this.sdk;
  }
}

function timeoutError(timeoutMs: number, cause?: unknown): ModelProviderError {
  return new ModelProviderError('The model provider did not answer in time', cause ?? new Error(`No response within ${timeoutMs} ms`));
}

function toFinishReason(stopReason: StopReason | string | undefined): FinishReason {
  return stopReason === 'max_tokens' || stopReason === 'model_context_window_exceeded' ? 'max_tokens' : 'stop';
}

/**
 * Converse wants the system prompt apart, turns that alternate user/assistant starting with a
 * user turn, and no blank text. A trimmed context window can start with an assistant turn and
 * can hold two user turns in a row (a reply that failed), so: same-role neighbours are merged
 * (one content block each), leading assistant turns dropped, blank messages skipped.
 */
export function toConverseMessages(messages: readonly ChatMessage[]): Pick<ConverseStreamCommandInput, 'system' | 'messages'> {
  const system: SystemContentBlock[] = [];
  const turns: { role: 'user' | 'assistant'; content: ContentBlock[] }[] = [];
  for (const message of messages) {
    if (!message.content.trim()) continue;
    if (message.role === 'system') {
      system.push({ text: message.content });
      continue;
    }
    const last = turns.at(-1);
    if (last?.role === message.role) last.content.push({ text: message.content });
    else if (last || message.role === 'user') turns.push({ role: message.role, content: [{ text: message.content }] });
  }
  return { ...(system.length ? { system } : {}), messages: turns satisfies Message[] };
}
