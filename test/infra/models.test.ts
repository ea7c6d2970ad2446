/**
 * The models list of the deployed stack (CDK context `models`, `titleModel`): how the context
 * becomes LLM_MODELS for exactly the functions that read it, and IAM for exactly the listed
 * Bedrock models.
 */
import { loadModelList, DEFAULT_MODELS, MAX_MODELS_ENV_CHARS } from '../../lib/models';
import { StackConfigError } from '../../lib/stack-config';
import { parseConfig } from '../../layer/src/platform/config';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { ChatbotApiStack } from '../../lib/chatbot-api-stack';
import { cdkJsonContext, resourcesOfType, type CfnResource, type Synthesized } from './support/synth';

const HAIKU = 'us.anthropic.claude-haiku-4-5-20251001-v1:0';
const SONNET = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';
const bedrock = { llmProvider: 'bedrock' as const, bedrockModelId: HAIKU, openaiModel: undefined };
/** A node whose context is cdk.json's with `overrides` on top, as `-c` gives them. */
const node = (overrides: Record<string, unknown> = {}) => ({ tryGetContext: (key: string) => ({ ...cdkJsonContext(), ...overrides })[key] });

describe('loadModelList', () => {
  it('deploys cdk.json\'s two current Bedrock models, the cheaper one the default and the title model', () => {
    // Act
    const list = loadModelList(node(), bedrock);

    // Assess
    expect(cdkJsonContext().models).toEqual(DEFAULT_MODELS.map(({ tags: _tags, ...rest }) => rest));
    expect(list.models.map((m) => m.id)).toEqual([HAIKU, SONNET]);
    expect(list.defaultSlug).toBe('claude-haiku-4-5');
    expect(list.titleSlug).toBe('claude-haiku-4-5');
    expect(list.environment).toEqual({
      LLM_PROVIDER: 'bedrock',
      LLM_MODELS: expect.any(String),
      LLM_DEFAULT_MODEL: 'claude-haiku-4-5',
      LLM_TITLE_MODEL: 'claude-haiku-4-5',
    });
    // The functions read it back with the layer's own rules.
    const { llm } = parseConfig({ DATABASE_URL: 'postgres://u@h/db', ...list.environment });
    expect(llm.models.map((m) => [m.slug, m.id, m.title])).toEqual([
      ['claude-haiku-4-5', HAIKU, 'Claude Haiku 4.5'],
      ['claude-sonnet-4-5', SONNET, 'Claude Sonnet 4.5'],
    ]);
    expect(llm.defaultModelSlug).toBe('claude-haiku-4-5');
  });

  it('grants exactly the listed models: each inference profile and the foundation model it routes to', () => {
    expect(loadModelList(node(), bedrock).bedrockModelArns('aws', 'us-east-1', '123456789012').sort()).toEqual(
      [
        `arn:aws:bedrock:us-east-1:123456789012:inference-profile/${HAIKU}`,
        'arn:aws:bedrock:us-*::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0',
        `arn:aws:bedrock:us-east-1:123456789012:inference-profile/${SONNET}`,
        'arn:aws:bedrock:us-*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0',
      ].sort(),
    );
    expect(loadModelList(node(), { ...bedrock, llmProvider: 'openai', openaiModel: 'gpt-4o-mini' }).bedrockModelArns('aws', 'us-east-1', '1')).toEqual([]);
  });

  it('reads -c models as a JSON string, with the default named by id or slug of bedrockModelId, and -c titleModel', () => {
    const models = JSON.stringify([
      { id: 'eu.amazon.nova-lite-v1:0', slug: 'nova-lite', title: 'Nova Lite' },
      { id: 'eu.amazon.nova-pro-v1:0', slug: 'nova-pro', title: 'Nova Pro', max_tokens: 4096 },
    ]);

    const list = loadModelList(node({ models, titleModel: 'nova-lite' }), { ...bedrock, bedrockModelId: 'nova-pro' });

    expect(list.models.map((m) => m.slug)).toEqual(['nova-lite', 'nova-pro']);
    expect(list.defaultSlug).toBe('nova-pro');
    expect(list.titleSlug).toBe('nova-lite');
    expect(JSON.parse(list.environment.LLM_MODELS!)).toEqual([
      { id: 'eu.amazon.nova-lite-v1:0', slug: 'nova-lite', title: 'Nova Lite' },
      { id: 'eu.amazon.nova-pro-v1:0', slug: 'nova-pro', title: 'Nova Pro', max_tokens: 4096 },
    ]);
  });

  it('deploys a bedrockModelId the shipped list does not hold alone, as before lists existed', () => {
    const list = loadModelList(node(), { ...bedrock, bedrockModelId: 'eu.anthropic.claude-haiku-4-5-20251001-v1:0' });

    expect(list.models.map((m) => m.id)).toEqual(['eu.anthropic.claude-haiku-4-5-20251001-v1:0']);
    expect(list.bedrockModelArns('aws', 'eu-west-1', '1')).toHaveLength(2);
  });

  it('offers openaiModel alone with an OpenAI-compatible provider, unless models is given', () => {
    const openai = { llmProvider: 'openai' as const, bedrockModelId: HAIKU, openaiModel: 'gpt-4o-mini' };

    expect(loadModelList(node(), openai).models.map((m) => m.slug)).toEqual(['gpt-4o-mini']);
    expect(loadModelList(node({ models: '[{"id":"gpt-4o-mini"},{"id":"gpt-4o"}]' }), openai).models.map((m) => m.slug)).toEqual(['gpt-4o-mini', 'gpt-4o']);
  });

  it.each([
    ['models not JSON', { models: '[{"id":' }, bedrock, /"models" must be a list/],
    ['models empty', { models: [] }, bedrock, /"models" must be a list/],
    ['a model with a space in its id', { models: [{ id: 'nova lite' }] }, bedrock, /"models".*models\[0\]\.id/],
    ['a duplicate slug', { models: [{ id: 'a' }, { id: 'b', slug: 'a' }] }, bedrock, /listed twice/],
    ['a default not in a given list', { models: [{ id: 'a' }, { id: 'b' }] }, bedrock, /"bedrockModelId" \(the default model\) must be the id or slug of one of "models"/],
    ['an unlisted titleModel', { titleModel: 'claude-opus' }, bedrock, /"titleModel" must be a slug of "models"/],
    ['a list too long for a Lambda environment', { models: Array.from({ length: 20 }, (_, i) => ({ id: `model-${i}`, description: 'd'.repeat(200) })) }, { ...bedrock, bedrockModelId: 'model-0' }, new RegExp(`at most ${MAX_MODELS_ENV_CHARS} fit`)],
  ])('refuses %s, naming the context key', (_name, overrides, config, message) => {
    expect(() => loadModelList(node(overrides), config)).toThrow(StackConfigError);
    expect(() => loadModelList(node(overrides), config)).toThrow(message);
  });
});

describe('the synthesized stack', () => {
  // The template only: no asset is bundled (`aws:cdk:bundling-stacks` empty), so this synth takes seconds.
  let base: Pick<Synthesized, 'json'>;
  let outdir: string;
  beforeAll(() => {
    outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatbot-models-'));
    const app = new App({ outdir, analyticsReporting: false, context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
    const stack = new ChatbotApiStack(app, 'ChatbotApi');
    base = { json: Template.fromStack(stack).toJSON() as Synthesized['json'] };
  }, 120_000);
  afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

  const functionNamed = (s: Pick<Synthesized, 'json'>, name: string): CfnResource =>
    resourcesOfType(s.json, 'AWS::Lambda::Function').find(([id]) => id.startsWith(`Functions${name}`))![1];
  const bedrockStatements = (s: Pick<Synthesized, 'json'>) =>
    resourcesOfType(s.json, 'AWS::IAM::Policy').flatMap(([id, policy]) =>
      (policy.Properties!.PolicyDocument.Statement as { Action: unknown; Resource: unknown }[])
        .filter((statement) => JSON.stringify(statement.Action).includes('bedrock'))
        .map((statement) => ({ policy: id.replace(/ServiceRole.*$/, ''), resource: statement.Resource })),
    );

  it('gives the list to the functions that call a model and to the two that list models, and to no other', () => {
    const withList = resourcesOfType(base.json, 'AWS::Lambda::Function')
      .filter(([, fn]) => fn.Properties!.Environment?.Variables?.LLM_MODELS !== undefined)
      .map(([id]) => id.replace(/[0-9A-F]{8}$/, ''))
      .sort();
    expect(withList).toEqual([
      'FunctionsModelsAndLimits',
      'FunctionsOpenaiChatCompletions',
      'FunctionsOpenaiModels',
      'FunctionsOpenaiResponses',
      'FunctionsPostConversation',
      'FunctionsUpdateConversation',
    ]);
    // The OpenAI API's model list reads the same variables, without the provider's settings.
    expect(functionNamed(base, 'OpenaiModels').Properties!.Environment.Variables).toMatchObject({ LLM_MODELS: functionNamed(base, 'ModelsAndLimits').Properties!.Environment.Variables.LLM_MODELS });
    expect(functionNamed(base, 'OpenaiModels').Properties!.Environment.Variables.BEDROCK_MODEL_ID).toBeUndefined();
    const models = functionNamed(base, 'ModelsAndLimits').Properties!.Environment.Variables;
    expect(models).toMatchObject({ LLM_PROVIDER: 'bedrock', LLM_DEFAULT_MODEL: 'claude-haiku-4-5', LLM_TITLE_MODEL: 'claude-haiku-4-5' });
    expect(JSON.parse(models.LLM_MODELS).map((m: { id: string }) => m.id)).toEqual([HAIKU, SONNET]);
    // It lists the models; it never calls one, so it gets no provider settings.
    expect(models.BEDROCK_MODEL_ID).toBeUndefined();
  });

  it('lets only the model callers stream from Bedrock, from exactly the listed models', () => {
    const statements = bedrockStatements(base);
    expect(statements.map((s) => s.policy).sort()).toEqual(['FunctionsOpenaiChatCompletions', 'FunctionsOpenaiResponses', 'FunctionsPostConversation', 'FunctionsUpdateConversation']);
    for (const { resource } of statements) {
      const arns = JSON.stringify(resource);
      expect(arns).toContain(`inference-profile/${HAIKU}`);
      expect(arns).toContain(`inference-profile/${SONNET}`);
      expect(arns).toContain('foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0');
      expect(resource).toHaveLength(4);
    }
  });

  it('keeps every function\'s environment within Lambda\'s 4 KB', () => {
    for (const [id, fn] of resourcesOfType(base.json, 'AWS::Lambda::Function')) {
      const variables = fn.Properties!.Environment?.Variables ?? {};
      // Unresolved tokens ({"Ref": …}) count at their template size: an upper bound of their value here.
      const size = Object.entries(variables).reduce((sum, [name, value]) => sum + name.length + JSON.stringify(value).length, 0);
      expect({ id, fits: size < 4096 }).toEqual({ id, fits: true });
    }
  });
});
