/**
 * The model providers: Amazon Bedrock (Converse stream), any OpenAI-compatible endpoint, and
 * an offline deterministic local model that is NOT an LLM, and the choice among them from the
 * configuration. All of them stream `text` events then one `finish`, throw
 * `ModelProviderError` on provider failure (before or after some text), and end quietly,
 * without `finish`, when the request's signal aborts. See `ChatModel` in `types.ts` and the
 * local model's test markers in `local-model.ts`.
 */
import type { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { BedrockChatModel } from './bedrock-model';
import { LocalChatModel } from './local-model';
import { OpenAiChatModel } from './openai-model';
import type { ChatModel } from './types';
import { getConfig } from '../platform/config';
import { getSecretString } from '../platform/secrets';

export type { ChatMessage, ChatModel, FinishReason, ModelStreamEvent, ModelStreamRequest } from './types';
export { BedrockChatModel, toConverseMessages, type BedrockChatModelProps } from './bedrock-model';
export { LOCAL_MODEL_MARKERS, LOCAL_MODEL_SLUG, LocalChatModel, type LocalChatModelProps } from './local-model';
export { OpenAiChatModel, type OpenAiChatModelProps } from './openai-model';
export {
  DEFAULT_TITLE,
  TITLE_SYSTEM_PROMPT,
  cleanModelTitle,
  fallbackTitle,
  generateTitle,
  type GenerateTitleOptions,
} from './title';

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

let modelPromise: Promise<ChatModel> | undefined;

/** The configured model (`LLM_PROVIDER` and friends), built once per container (an OpenAI key may come from Secrets Manager). */
export function getChatModel(): Promise<ChatModel> {
  modelPromise ??= (async () => {
    const { llm } = getConfig();
    switch (llm.provider) {
      case 'bedrock':
        return createChatModel({ provider: 'bedrock', modelId: llm.bedrockModelId });
      case 'openai': {
        const apiKey = llm.openaiApiKey ?? (llm.openaiApiKeySecretArn ? await getSecretString(llm.openaiApiKeySecretArn) : 'not-needed');
        return createChatModel({ provider: 'openai', baseURL: llm.openaiBaseUrl, apiKey, model: llm.openaiModel });
      }
      default:
        return createChatModel({ provider: 'local', tokenDelayMs: llm.localTokenDelayMs });
    }
  })().catch((error: unknown) => {
    modelPromise = undefined;
    throw error;
  });
  return modelPromise;
}

/** Replaces the container's model (tests, the local server); `undefined` goes back to the configured one. */
export function setChatModel(model: ChatModel | undefined): void {
  modelPromise = model ? Promise.resolve(model) : undefined;
}
