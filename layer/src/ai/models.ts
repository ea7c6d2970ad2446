/**
 * The model providers: Amazon Bedrock (Converse stream), any OpenAI-compatible endpoint, and
 * two offline deterministic local models that are NOT LLMs, and the listed models (`LLM_MODELS`)
 * each built once per container from the configuration. All of them stream `text` events then one `finish`, throw
 * `ModelProviderError` on provider failure (before or after some text), and end quietly,
 * without `finish`, when the request's signal aborts. See `ChatModel` in `types.ts` and the
 * local model's test markers in `local-model.ts`.
 */
import type { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { BedrockChatModel } from './bedrock-model';
import { LocalChatModel } from './local-model';
import { OpenAiChatModel } from './openai-model';
import type { LocalModelId } from './local-model';
import type { ModelEntry } from './model-catalog';
import type { ChatModel } from './types';
import { startSpan } from '../platform/tracing';
import { getConfig, type AppConfig } from '../platform/config';
import { getSecretString } from '../platform/secrets';
import { OpenAiObjectNotFoundError } from '../errors';

export type { ChatMessage, ChatModel, FinishReason, ModelStreamEvent, ModelStreamRequest } from './types';
export { BedrockChatModel, toConverseMessages, type BedrockChatModelProps } from './bedrock-model';
export { LOCAL_LONG_ANSWER_SLUG, LOCAL_MODEL_MARKERS, LOCAL_MODEL_SLUG, LocalChatModel, type LocalChatModelProps, type LocalModelId } from './local-model';
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
      /** Which offline model. @default the echo */
      readonly id?: LocalModelId;
      /** The `model_slug` it reports. @default its id */
      readonly slug?: string;
    }
  | {
      readonly provider: 'bedrock';
      /** Model id or inference profile (an `LLM_MODELS` id). */
      readonly modelId: string;
      /** The `model_slug` it reports. @default the model id */
      readonly slug?: string;
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
      /** The model name at the endpoint (an `LLM_MODELS` id). */
      readonly model: string;
      /** The `model_slug` it reports. @default the model name */
      readonly slug?: string;
      /** Time until the response headers arrive, per attempt. @default 20000 */
      readonly timeoutMs?: number;
      /** @default 1 */
      readonly maxRetries?: number;
    };

/** Builds the configured model, its calls traced. Cheap: SDKs load and clients connect on the first `stream` call. */
export function createChatModel(options: ChatModelOptions): ChatModel {
  switch (options.provider) {
    case 'local':
      return tracedModel('local', new LocalChatModel({ tokenDelayMs: options.tokenDelayMs, id: options.id, slug: options.slug }));
    case 'bedrock':
      return tracedModel('bedrock', new BedrockChatModel(options));
    case 'openai':
      return tracedModel('openai', new OpenAiChatModel(options));
    default:
      throw new Error(`Unknown model provider: ${JSON.stringify((options as { provider?: unknown }).provider)}`);
  }
}

/** Each call of the model (a reply, a title) as one `model` span, from the request to its last event. */
function tracedModel(provider: string, model: ChatModel): ChatModel {
  return {
    get slug() {
      return model.slug;
    },
    async *stream(request) {
      const end = startSpan('model', `${provider} ${model.slug}`);
      let failed = true;
      try {
        yield* model.stream(request);
        failed = false;
      } finally {
        end(failed && !request.signal?.aborted);
      }
    },
  };
}

/** The listed entry with this slug, if any (`LLM_MODELS`). */
export function findListedModel(slug: string): ModelEntry | undefined {
  return getConfig().llm.models.find((model) => model.slug === slug);
}

/**
 * The slug a turn uses: the one the request named (already checked to be listed), else the
 * conversation's last model while it is still listed, else the default (`LLM_DEFAULT_MODEL`).
 */
export function resolveModelSlug(requested: string | undefined, conversationModel: string | null | undefined): string {
  if (requested !== undefined) return requested;
  if (conversationModel && findListedModel(conversationModel)) return conversationModel;
  return getConfig().llm.defaultModelSlug;
}

/** Most tokens one reply of `slug` may have: its `max_tokens`, else `LLM_MAX_TOKENS`. */
export function maxTokensOf(slug: string): number {
  return findListedModel(slug)?.maxTokens ?? getConfig().llm.maxTokens;
}

const modelsBodies = new WeakMap<AppConfig, string>();

/** The GET models body, built once per container from the configuration (no round trip). */
export function getModelsBody(): string {
  const config = getConfig();
  let body = modelsBodies.get(config);
  if (body === undefined) {
    const { models, defaultModelSlug, maxTokens } = config.llm;
    body = JSON.stringify({
      models: models.map((model) => ({
        slug: model.slug,
        title: model.title,
        description: model.description,
        max_tokens: model.maxTokens ?? maxTokens,
        tags: model.tags,
      })),
      default_model_slug: defaultModelSlug,
    });
    modelsBodies.set(config, body);
  }
  return body;
}

const openAiModelsBodies = new WeakMap<AppConfig, { readonly list: string; readonly byId: ReadonlyMap<string, string> }>();

/**
 * OpenAI's model objects of the same list (GET /v1/models, GET /v1/models/{model}), built once
 * per container. `created` is 0: when a deployment's model was made is not known here.
 */
function openAiModelBodies(): { readonly list: string; readonly byId: ReadonlyMap<string, string> } {
  const config = getConfig();
  let bodies = openAiModelsBodies.get(config);
  if (bodies === undefined) {
    const models = config.llm.models.map((model) => ({ id: model.slug, object: 'model', created: 0, owned_by: 'chatbot-api' }));
    bodies = { list: JSON.stringify({ object: 'list', data: models }), byId: new Map(models.map((model) => [model.id, JSON.stringify(model)])) };
    openAiModelsBodies.set(config, bodies);
  }
  return bodies;
}

/** The GET /v1/models body. */
export const getOpenAiModelsBody = (): string => openAiModelBodies().list;

/** The GET /v1/models/{model} body; a 404 `model_not_found` for a model the deployment does not list. */
export function getOpenAiModelBody(slug: unknown): string {
  const body = typeof slug === 'string' ? openAiModelBodies().byId.get(slug) : undefined;
  if (body === undefined) throw new OpenAiObjectNotFoundError('model', typeof slug === 'string' ? slug : '');
  return body;
}

/** Models built for one configuration, by slug; a new configuration (tests, the local server) starts afresh. */
let built: { readonly config: AppConfig; readonly models: Map<string, Promise<ChatModel>>; apiKey?: Promise<string> } | undefined;
let override: ChatModel | undefined;

/** The OpenAI-compatible key: the variable, the secret's value (read once per container), or a placeholder for servers without auth. */
function openaiApiKey(llm: AppConfig['llm']): Promise<string> {
  built!.apiKey ??= llm.openaiApiKey !== undefined
    ? Promise.resolve(llm.openaiApiKey)
    : llm.openaiApiKeySecretArn
      ? getSecretString(llm.openaiApiKeySecretArn)
      : Promise.resolve('not-needed');
  return built!.apiKey;
}

async function buildModel(config: AppConfig, entry: ModelEntry): Promise<ChatModel> {
  const { llm } = config;
  switch (llm.provider) {
    case 'bedrock':
      return createChatModel({ provider: 'bedrock', modelId: entry.id, slug: entry.slug });
    case 'openai':
      return createChatModel({ provider: 'openai', baseURL: llm.openaiBaseUrl, apiKey: await openaiApiKey(llm), model: entry.id, slug: entry.slug });
    default:
      return createChatModel({ provider: 'local', tokenDelayMs: llm.localTokenDelayMs, id: entry.id as LocalModelId, slug: entry.slug });
  }
}

/**
 * The listed model with this slug (the default when absent), built once per container: an
 * SDK loads and a secret is read on first use only. A slug that is not listed is a bug of
 * the caller (requests are checked first), hence a plain error.
 */
export function getChatModel(slug?: string): Promise<ChatModel> {
  if (override) return Promise.resolve(override);
  const config = getConfig();
  if (built?.config !== config) built = { config, models: new Map() };
  const wanted = slug ?? config.llm.defaultModelSlug;
  const entry = config.llm.models.find((model) => model.slug === wanted);
  if (!entry) return Promise.reject(new Error(`No listed model has the slug ${JSON.stringify(wanted)}`));
  const models = built.models;
  let model = models.get(wanted);
  if (!model) {
    model = buildModel(config, entry);
    models.set(wanted, model);
    // A failure (a secret not readable yet) is not remembered: the next turn tries again.
    model.catch(() => {
      if (models.get(wanted) === model) models.delete(wanted);
      if (built?.models === models) built.apiKey = undefined;
    });
  }
  return model;
}

/** The model that writes titles (`LLM_TITLE_MODEL`, a listed slug: by default the default model). */
export function getTitleModel(): Promise<ChatModel> {
  return getChatModel(getConfig().llm.titleModelSlug);
}

/** Makes every slug answer with `model` (tests, the local server); `undefined` goes back to the configured models. */
export function setChatModel(model: ChatModel | undefined): void {
  override = model;
  built = undefined;
}
