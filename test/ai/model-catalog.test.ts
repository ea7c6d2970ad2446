/**
 * The models list (`LLM_MODELS`, the CDK context `models`): how it is written, what a cold start
 * refuses (naming the variable), and the defaults when it is unset. Pure: no I/O.
 */
import { ConfigError, ModelListError, OFFLINE_MODEL_LIST, parseConfig, parseModelEntries, parseModelList } from '@chatbot/shared/testing';

const base = { DATABASE_URL: 'postgres://u@h:5432/db' };

describe('parseModelList', () => {
  it('reads a JSON list: id required; slug, title, description, max_tokens, tags optional', () => {
    // Act
    const models = parseModelList(
      JSON.stringify([
        { id: 'us.anthropic.claude-haiku-4-5-20251001-v1:0', slug: 'claude-haiku-4-5', title: 'Claude Haiku 4.5', description: 'Fast', max_tokens: 2048, tags: ['fast'] },
        { id: 'gpt-4o-mini' },
      ]),
    );

    // Assess
    expect(models).toEqual([
      { id: 'us.anthropic.claude-haiku-4-5-20251001-v1:0', slug: 'claude-haiku-4-5', title: 'Claude Haiku 4.5', description: 'Fast', maxTokens: 2048, tags: ['fast'] },
      { id: 'gpt-4o-mini', slug: 'gpt-4o-mini', title: 'gpt-4o-mini', description: '', tags: [] },
    ]);
  });

  it('reads the compact form: model ids separated by commas, each its own slug and title', () => {
    expect(parseModelList(' gpt-4o-mini , gpt-4o ').map((m) => [m.slug, m.id, m.title])).toEqual([
      ['gpt-4o-mini', 'gpt-4o-mini', 'gpt-4o-mini'],
      ['gpt-4o', 'gpt-4o', 'gpt-4o'],
    ]);
  });

  it.each([
    ['not JSON', '[{"id": "a"', /not valid JSON/],
    ['an empty list', '[]', /1 to 50 models/],
    ['an empty compact entry', 'a,,b', /models\[1\]\.id/],
    ['a duplicate slug', '[{"id":"a"},{"id":"b","slug":"a"}]', /listed twice/],
    ['an unknown field (a typo)', '[{"id":"a","titel":"A"}]', /unknown field "titel"/],
    ['an id with a space', '[{"id":"gpt 4"}]', /models\[0\]\.id/],
    ['a slug with a quote', '[{"id":"a","slug":"a\\""}]', /models\[0\]\.slug/],
    ['max_tokens 0', '[{"id":"a","max_tokens":0}]', /max_tokens/],
    ['max_tokens 1.5', '[{"id":"a","max_tokens":1.5}]', /max_tokens/],
    ['a blank title', '[{"id":"a","title":"  "}]', /title/],
    ['a title with a newline', '[{"id":"a","title":"A\\nB"}]', /title/],
    ['tags not a list', '[{"id":"a","tags":"x"}]', /tags/],
    ['a tag not a string', '[{"id":"a","tags":[1]}]', /tags\[0\]/],
    ['an entry not an object', '["a"]', /models\[0\]/],
    ['51 models', JSON.stringify(Array.from({ length: 51 }, (_, i) => ({ id: `m${i}` }))), /1 to 50/],
  ])('refuses %s', (_name, raw, message) => {
    expect(() => parseModelList(raw)).toThrow(ModelListError);
    expect(() => parseModelList(raw)).toThrow(message);
  });

  it('validates a CDK context value (already parsed) with the same rules', () => {
    expect(parseModelEntries([{ id: 'a', title: 'A' }])[0]).toMatchObject({ slug: 'a', title: 'A' });
    expect(() => parseModelEntries('a,b')).toThrow(ModelListError);
  });
});

describe('the models configuration', () => {
  it('offers both offline models with the local provider, the echo as the default and title model', () => {
    const { llm } = parseConfig(base);

    expect(llm.models).toEqual(OFFLINE_MODEL_LIST);
    expect(llm.models.map((m) => m.slug)).toEqual(['local-offline-model', 'local-long-answer']);
    expect(llm.defaultModelSlug).toBe('local-offline-model');
    expect(llm.titleModelSlug).toBe('local-offline-model');
  });

  it('falls back to the provider\'s one model when LLM_MODELS is unset', () => {
    const bedrock = parseConfig({ ...base, LLM_PROVIDER: 'bedrock', BEDROCK_MODEL_ID: 'eu.amazon.nova-lite-v1:0' }).llm;
    const openai = parseConfig({ ...base, LLM_PROVIDER: 'openai', OPENAI_API_KEY: 'k', OPENAI_MODEL: 'gpt-4o-mini' }).llm;

    expect(bedrock.models.map((m) => m.id)).toEqual(['eu.amazon.nova-lite-v1:0']);
    expect(bedrock.defaultModelSlug).toBe('eu.amazon.nova-lite-v1:0');
    expect(openai.models.map((m) => m.slug)).toEqual(['gpt-4o-mini']);
  });

  it('takes the default and the title model from LLM_DEFAULT_MODEL and LLM_TITLE_MODEL', () => {
    const { llm } = parseConfig({ ...base, LLM_PROVIDER: 'openai', OPENAI_API_KEY: 'k', LLM_MODELS: 'big,small', LLM_DEFAULT_MODEL: 'big', LLM_TITLE_MODEL: 'small' });

    expect(llm.defaultModelSlug).toBe('big');
    expect(llm.titleModelSlug).toBe('small');
  });

  it.each([
    [{ LLM_MODELS: '[{"id": "a"' }, 'LLM_MODELS'],
    [{ LLM_MODELS: 'gpt-4o' }, 'LLM_MODELS'],
    [{ LLM_DEFAULT_MODEL: 'gpt-4o' }, 'LLM_DEFAULT_MODEL'],
    [{ LLM_TITLE_MODEL: 'not-listed' }, 'LLM_TITLE_MODEL'],
    [{ LLM_PROVIDER: 'openai', OPENAI_API_KEY: 'k', LLM_MODELS: 'a,b', LLM_DEFAULT_MODEL: 'c' }, 'LLM_DEFAULT_MODEL'],
  ])('fails the cold start on %j, naming %s', (env, variable) => {
    expect(() => parseConfig({ ...base, ...env })).toThrow(ConfigError);
    expect(() => parseConfig({ ...base, ...env })).toThrow(new RegExp(`^Invalid configuration: ${variable}=`));
  });

  it('lets the local provider rename and describe the offline models', () => {
    const { llm } = parseConfig({ ...base, LLM_MODELS: JSON.stringify([{ id: 'local-long-answer', slug: 'long', title: 'Long' }]) });

    expect(llm.models).toEqual([{ id: 'local-long-answer', slug: 'long', title: 'Long', description: '', tags: [] }]);
    expect(llm.defaultModelSlug).toBe('long');
  });
});
