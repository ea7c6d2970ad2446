/**
 * The model providers behind `post-conversation`: Amazon Bedrock (Converse stream), any
 * OpenAI-compatible endpoint, and an offline deterministic local model that is NOT an LLM.
 * All of them stream `text` events then one `finish`, throw `ModelProviderError` on provider
 * failure (before or after some text), and end quietly, without `finish`, when the request's
 * signal aborts. See `ChatModel` in `ai/types.ts` and the local model's test markers in
 * `ai/local-model.ts`.
 */
import type { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { BedrockChatModel } from './ai/bedrock-model';
import { LocalChatModel } from './ai/local-model';
import { OpenAiChatModel } from './ai/openai-model';
import type { ChatModel } from './ai/types';

export type { ChatMessage, ChatModel, FinishReason, ModelStreamEvent, ModelStreamRequest } from './ai/types';
export { BedrockChatModel, toConverseMessages, type BedrockChatModelProps } from './ai/bedrock-model';
export { LOCAL_MODEL_MARKERS, LOCAL_MODEL_SLUG, LocalChatModel, type LocalChatModelProps } from './ai/local-model';
export { OpenAiChatModel, type OpenAiChatModelProps } from './ai/openai-model';
export {
  DEFAULT_TITLE,
  TITLE_SYSTEM_PROMPT,
  cleanModelTitle,
  fallbackTitle,
  generateTitle,
  type GenerateTitleOptions,
} from './ai/title';

/** Which provider `createChatModel` builds, with its settings (`LLM_PROVIDER` and friends). */
export type ChatModelOptions =
  | {
      readonly provider: 'local';
      /** Pause between streamed words. @default 0 */
      readonly tokenDelayMs?: number;
    }
  | {
      readonly provider: 'bedrock';
      /** Model id or inference profile (`BEDROCK_MODEL_ID`). */
      readonly modelId: string;
      /** @default the SDK's (AWS_REGION) */
      readonly region?: string;
      /** @default a client created on first use */
      readonly client?: BedrockRuntimeClient;
      /** Time until the stream starts. @default 20000 */
      readonly timeoutMs?: number;
    }
  | {
      readonly provider: 'openai';
      /** `OPENAI_BASE_URL`. @default https://api.openai.com/v1 */
      readonly baseURL?: string;
      /** `OPENAI_API_KEY` (or the secret's value). */
      readonly apiKey: string;
      /** `OPENAI_MODEL`. */
      readonly model: string;
      /** Time until the response headers arrive, per attempt. @default 20000 */
      readonly timeoutMs?: number;
      /** @default 1 */
      readonly maxRetries?: number;
    };

/** Builds the configured model. Cheap: SDKs load and clients connect on the first `stream` call. */
export function createChatModel(options: ChatModelOptions): ChatModel {
  switch (options.provider) {
    case 'local':
      return new LocalChatModel({ tokenDelayMs: options.tokenDelayMs });
    case 'bedrock':
      return new BedrockChatModel(options);
    case 'openai':
      return new OpenAiChatModel(options);
    default:
      throw new Error(`Unknown model provider: ${JSON.stringify((options as { provider?: unknown }).provider)}`);
  }
}
