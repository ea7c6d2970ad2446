import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Node } from 'constructs';
import type { FunctionEnvironment } from '../layer/src/contracts/environment';
import { API_FUNCTIONS, type ApiFunctionName, type ApiFunctionSpec } from '../layer/src/contracts/route-table';
import { ModelListError, parseModelEntries, type ModelEntry } from '../layer/src/ai/model-catalog';
import { bedrockModelArns } from './functions';
import { StackConfigError, type StackConfig } from './stack-config';

/**
 * The models the deployed stack offers by default (CDK context `models`, as `cdk.json` ships it):
 * two current Bedrock models through their US cross-region inference profiles, the cheaper one
 * first (the default, `bedrockModelId`, and the title model).
 */
export const DEFAULT_MODELS: readonly ModelEntry[] = [
  {
    id: 'us.anthropic.claude-haiku-4-5-20251001-v1:0',
    slug: 'claude-haiku-4-5',
    title: 'Claude Haiku 4.5',
    description: 'Fast and inexpensive: everyday questions, summaries, short drafts.',
    tags: [],
  },
  {
    id: 'us.anthropic.claude-sonnet-4-5-20250929-v1:0',
    slug: 'claude-sonnet-4-5',
    title: 'Claude Sonnet 4.5',
    description: 'Stronger reasoning, writing and code; about three times the price of Haiku per token.',
    tags: [],
  },
];

/**
 * The whole `LLM_MODELS` value must fit in a Lambda environment, whose variables share 4 KB:
 * about half of it for the list leaves room for everything else the functions are given.
 */
export const MAX_MODELS_ENV_CHARS = 2048;

/** What {@link loadModelList} decided: the list, its default and title model, and what the functions need. */
export interface DeployedModelList {
  /** The models clients may pick, in order. */
  readonly models: readonly ModelEntry[];
  /** The slug used when a request and its conversation name none. */
  readonly defaultSlug: string;
  /** The slug of the model that writes titles. */
  readonly titleSlug: string;
  /** The environment of every function that reads the list (`LLM_PROVIDER`, `LLM_MODELS`, `LLM_DEFAULT_MODEL`, `LLM_TITLE_MODEL`). */
  readonly environment: FunctionEnvironment;
  /** The ARNs `bedrock:InvokeModelWithResponseStream` must allow: exactly the listed models (none unless the provider is Bedrock). */
  bedrockModelArns(partition: string, region: string, account: string): string[];
  /** Gives the list to every API function that calls a model or serves the list (the route table's `callsModel`, `readsModelList`). */
  addTo(functions: Readonly<Record<ApiFunctionName, lambda.Function>>): void;
}

const canonical = (list: readonly ModelEntry[]): string => JSON.stringify(list.map((m) => [m.id, m.slug, m.title, m.description, m.maxTokens ?? null, m.tags]));
const sameList = (a: readonly ModelEntry[], b: readonly ModelEntry[]): boolean => canonical(a) === canonical(b);

/**
 * Reads CDK context `models` (a list of `{id, slug?, title?, description?, max_tokens?, tags?}`:
 * Bedrock model or inference-profile ids, or OpenAI-compatible model names; a JSON string with
 * `-c`) and `titleModel` (a listed slug), with the layer's own rules. Which model is the
 * default follows the provider's model knob: `bedrockModelId` (or `openaiModel`) names a
 * listed id or slug. With the list `cdk.json` ships, a `bedrockModelId` it does not hold
 * deploys that one model alone, as before lists existed; an OpenAI-compatible provider
 * offers `openaiModel` alone unless `models` is given.
 */
export function loadModelList(node: Pick<Node, 'tryGetContext'>, config: Pick<StackConfig, 'llmProvider' | 'bedrockModelId' | 'openaiModel'>): DeployedModelList {
  const fail = (message: string): never => {
    throw new StackConfigError(`Invalid CDK context:\n- ${message}`);
  };
  const raw: unknown = node.tryGetContext('models') ?? DEFAULT_MODELS;
  let given: ModelEntry[] = [];
  try {
    given = parseModelEntries(typeof raw === 'string' ? JSON.parse(raw) : raw);
  } catch (error) {
    if (!(error instanceof ModelListError) && !(error instanceof SyntaxError)) throw error;
    fail(`"models" must be a list of {"id", "slug"?, "title"?, "description"?, "max_tokens"?, "tags"?} (${error.message}); got ${JSON.stringify(raw)}`);
  }
  const customised = !sameList(given, DEFAULT_MODELS);
  const single = config.llmProvider === 'bedrock' ? config.bedrockModelId : config.llmProvider === 'openai' ? config.openaiModel : undefined;
  const matches = (entry: ModelEntry) => entry.id === single || entry.slug === single;

  let models: readonly ModelEntry[] | undefined;
  let defaultSlug: string | undefined;
  if (config.llmProvider === 'local') {
    // The offline models: the layer's own list unless one is given.
    models = customised ? given : undefined;
  } else if (customised) {
    models = given;
    const named = given.find(matches);
    if (!named) {
      const knob = config.llmProvider === 'bedrock' ? 'bedrockModelId' : 'openaiModel';
      fail(`"${knob}" (the default model) must be the id or slug of one of "models" (${given.map((m) => m.slug).join(', ')}); got ${JSON.stringify(single)}`);
    }
    defaultSlug = named!.slug;
  } else if (config.llmProvider === 'bedrock' && given.some(matches)) {
    models = given;
    defaultSlug = given.find(matches)!.slug;
  } else {
    models = [{ id: single as string, slug: single as string, title: single as string, description: '', tags: [] }];
    defaultSlug = single;
  }

  const slugs = (models ?? []).map((model) => model.slug);
  const titleModel: unknown = node.tryGetContext('titleModel');
  const titleSlug = titleModel === undefined || titleModel === '' ? defaultSlug : String(titleModel);
  if (models && !slugs.includes(titleSlug as string)) fail(`"titleModel" must be a slug of "models" (${slugs.join(', ')}); got ${JSON.stringify(titleModel)}`);
  if (!models && titleSlug !== undefined) fail(`"titleModel" needs "models" with llmProvider=local; got ${JSON.stringify(titleModel)}`);

  const list = models?.map((model) => ({
    id: model.id,
    slug: model.slug,
    title: model.title,
    ...(model.description ? { description: model.description } : {}),
    ...(model.maxTokens === undefined ? {} : { max_tokens: model.maxTokens }),
    ...(model.tags.length ? { tags: model.tags } : {}),
  }));
  const listJson = list && JSON.stringify(list);
  if (listJson && listJson.length > MAX_MODELS_ENV_CHARS) {
    fail(`"models" takes ${listJson.length} characters as LLM_MODELS; at most ${MAX_MODELS_ENV_CHARS} fit in a Lambda environment (4 KB for all variables): shorten descriptions or list fewer models`);
  }
  const environment: FunctionEnvironment = {
    LLM_PROVIDER: config.llmProvider,
    ...(listJson ? { LLM_MODELS: listJson } : {}),
    ...(defaultSlug ? { LLM_DEFAULT_MODEL: defaultSlug } : {}),
    ...(titleSlug ? { LLM_TITLE_MODEL: titleSlug } : {}),
  };

  return {
    models: models ?? [],
    defaultSlug: defaultSlug ?? '',
    titleSlug: titleSlug ?? '',
    environment,
    bedrockModelArns: (partition, region, account) =>
      config.llmProvider === 'bedrock' ? [...new Set((models ?? []).flatMap((model) => bedrockModelArns(model.id, partition, region, account)))] : [],
    addTo: (functions) => {
      for (const name of Object.keys(API_FUNCTIONS) as ApiFunctionName[]) {
        const spec: ApiFunctionSpec = API_FUNCTIONS[name];
        if (!spec.callsModel && !spec.readsModelList) continue;
        for (const [variable, value] of Object.entries(environment)) functions[name].addEnvironment(variable, value as string);
      }
    },
  };
}
