/**
 * The models a deployment offers (`GET /backend-api/models`, docs/api.md#models-feedback-and-remaining-turns):
 * how a list is written (`LLM_MODELS`, and the CDK context `models`, which the stack turns into
 * it) and validated. Pure: no imports, so the CDK app checks its context with the same rules
 * the functions apply at cold start.
 */

/** One model clients may pick. */
export interface ModelEntry {
  /** What clients send as `model` and see as `model_slug`. */
  readonly slug: string;
  /** The provider's model id: a Bedrock model or inference-profile id or ARN, an OpenAI-compatible model name, an offline model's id. */
  readonly id: string;
  readonly title: string;
  readonly description: string;
  /** Most tokens one reply of this model may have; absent: `LLM_MAX_TOKENS`. */
  readonly maxTokens?: number;
  readonly tags: readonly string[];
}

/** Bounds of a list, so a typo cannot make the models body or a stored slug unbounded. */
export const MODEL_LIST_LIMITS = {
  maxModels: 50,
  maxIdChars: 256,
  maxTitleChars: 100,
  maxDescriptionChars: 500,
  maxTags: 10,
  maxTagChars: 64,
  maxTokens: 200_000,
} as const;

/** Ids and slugs: letters, digits and `. : / @ + _ -`, starting with a letter or digit (Bedrock ids and ARNs fit). */
const IDENTIFIER = /^[A-Za-z0-9][\w.:/@+-]*$/;
const ENTRY_KEYS = new Set(['id', 'slug', 'title', 'description', 'max_tokens', 'tags']);

/** A list that breaks a rule: the message says which entry and what was expected. */
export class ModelListError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelListError';
  }
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function identifier(value: unknown, where: string): string {
  if (typeof value !== 'string' || value.length > MODEL_LIST_LIMITS.maxIdChars || !IDENTIFIER.test(value)) {
    throw new ModelListError(`${where} must be 1 to ${MODEL_LIST_LIMITS.maxIdChars} letters, digits or . : / @ + _ -, starting with a letter or digit`);
  }
  return value;
}

function text(value: unknown, where: string, max: number, fallback: string, allowEmpty: boolean): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value.length > max || (!allowEmpty && value.trim() === '') || /[\u0000-\u001f]/.test(value) || !value.isWellFormed()) {
    throw new ModelListError(`${where} must be text of ${allowEmpty ? 0 : 1} to ${max} characters without control characters`);
  }
  return value;
}

/** One entry of a list, `{id, slug?, title?, description?, max_tokens?, tags?}`. */
function parseEntry(value: unknown, index: number): ModelEntry {
  const where = `models[${index}]`;
  if (!isObject(value)) throw new ModelListError(`${where} must be an object with an "id"`);
  const unknown = Object.keys(value).filter((key) => !ENTRY_KEYS.has(key));
  if (unknown.length > 0) throw new ModelListError(`${where} has unknown field ${JSON.stringify(unknown[0])} (known: ${[...ENTRY_KEYS].join(', ')})`);
  const id = identifier(value.id, `${where}.id`);
  const slug = value.slug === undefined ? id : identifier(value.slug, `${where}.slug`);
  const maxTokens = value.max_tokens;
  if (maxTokens !== undefined && (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > MODEL_LIST_LIMITS.maxTokens)) {
    throw new ModelListError(`${where}.max_tokens must be an integer from 1 to ${MODEL_LIST_LIMITS.maxTokens}`);
  }
  const tags = value.tags ?? [];
  if (!Array.isArray(tags) || tags.length > MODEL_LIST_LIMITS.maxTags) throw new ModelListError(`${where}.tags must be a list of at most ${MODEL_LIST_LIMITS.maxTags} strings`);
  return {
    slug,
    id,
    title: text(value.title, `${where}.title`, MODEL_LIST_LIMITS.maxTitleChars, slug, false),
    description: text(value.description, `${where}.description`, MODEL_LIST_LIMITS.maxDescriptionChars, '', true),
    ...(maxTokens === undefined ? {} : { maxTokens: maxTokens as number }),
    tags: tags.map((tag, i) => text(tag, `${where}.tags[${i}]`, MODEL_LIST_LIMITS.maxTagChars, '', false)),
  };
}

/** Validates a list of entries (a parsed `LLM_MODELS`, or the CDK context `models`): 1 to 50 entries, slugs unique. */
export function parseModelEntries(value: unknown): ModelEntry[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MODEL_LIST_LIMITS.maxModels) {
    throw new ModelListError(`a list of 1 to ${MODEL_LIST_LIMITS.maxModels} models`);
  }
  const entries = value.map(parseEntry);
  const seen = new Set<string>();
  for (const entry of entries) {
    if (seen.has(entry.slug)) throw new ModelListError(`slug ${JSON.stringify(entry.slug)} is listed twice; slugs must be unique`);
    seen.add(entry.slug);
  }
  return entries;
}

/**
 * Parses `LLM_MODELS`: a JSON list of entries (`[{"id": "gpt-4o-mini", "title": "GPT-4o mini"}, …]`),
 * or model ids separated by commas (`gpt-4o-mini,gpt-4o`: each its own slug and title).
 */
export function parseModelList(raw: string): ModelEntry[] {
  const trimmed = raw.trim();
  if (trimmed.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new ModelListError('a JSON list of {"id", "slug"?, "title"?, "description"?, "max_tokens"?, "tags"?} (this is not valid JSON)');
    }
    return parseModelEntries(parsed);
  }
  return parseModelEntries(trimmed.split(',').map((id) => ({ id: id.trim() })));
}

/** The offline models' ids (`LLM_PROVIDER=local`): the echo tests rely on, and a long Markdown answer to try a client with. */
export const OFFLINE_MODEL_IDS = { echo: 'local-offline-model', longAnswer: 'local-long-answer' } as const;

/** What `LLM_PROVIDER=local` offers when `LLM_MODELS` is unset: both offline models, the echo first (the default). */
export const OFFLINE_MODEL_LIST: readonly ModelEntry[] = [
  {
    slug: OFFLINE_MODEL_IDS.echo,
    id: OFFLINE_MODEL_IDS.echo,
    title: 'Offline echo',
    description: 'Repeats your message with a word count. Deterministic, for development and tests; not an LLM.',
    tags: ['offline'],
  },
  {
    slug: OFFLINE_MODEL_IDS.longAnswer,
    id: OFFLINE_MODEL_IDS.longAnswer,
    title: 'Offline long answer',
    description: 'A few hundred words of Markdown (headings, lists, a code block) at reading pace, different on each regenerate. Deterministic; not an LLM.',
    tags: ['offline'],
  },
];
