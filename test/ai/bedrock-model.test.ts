import {
  BedrockRuntimeClient,
  ConverseStreamCommand,
  ThrottlingException,
  ValidationException,
  type ConverseStreamOutput,
} from '@aws-sdk/client-bedrock-runtime';
import { mockClient } from 'aws-sdk-client-mock';
import { BedrockChatModel, createChatModel, type ChatMessage } from '@chatbot/shared/testing';
import { ModelProviderError } from '@chatbot/shared/testing';
import { collect, collectAbortingAfter } from './collect';

const MODEL_ID = 'anthropic.claude-3-5-haiku-20241022-v1:0';
const MESSAGES: ChatMessage[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Hi' },
  { role: 'assistant', content: 'Hello.' },
  { role: 'user', content: 'Tell me a joke' },
];

// Unref'd: a stream abandoned by a test must not keep jest alive.
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

/** The event stream Bedrock sends for a reply made of `texts`, ended by `stopReason`. */
async function* converseStream(texts: string[], stopReason: string | null = 'end_turn', gapMs = 0): AsyncGenerator<ConverseStreamOutput> {
  yield { messageStart: { role: 'assistant' } };
  yield { contentBlockStart: { start: {} as never, contentBlockIndex: 0 } } as ConverseStreamOutput;
  for (const text of texts) {
    if (gapMs) await sleep(gapMs);
    yield { contentBlockDelta: { delta: { text }, contentBlockIndex: 0 } };
  }
  yield { contentBlockStop: { contentBlockIndex: 0 } };
  if (stopReason) yield { messageStop: { stopReason: stopReason as never } };
  yield { metadata: { usage: { inputTokens: 10, outputTokens: texts.length, totalTokens: 10 + texts.length }, metrics: { latencyMs: 5 } } };
}

describe('bedrock provider (ConverseStream through aws-sdk-client-mock)', () => {
  const bedrock = mockClient(BedrockRuntimeClient);

  beforeEach(() => {
    bedrock.reset();
  });
  afterAll(() => {
    bedrock.restore();
  });

  const model = (overrides: Partial<ConstructorParameters<typeof BedrockChatModel>[0]> = {}) =>
    new BedrockChatModel({ modelId: MODEL_ID, region: 'us-east-1', ...overrides });

  it('streams the deltas in order and finishes with stop on end_turn', async () => {
    // Prepare
    bedrock.on(ConverseStreamCommand).resolves({ stream: converseStream(['Why ', 'did the ', 'chicken…']) });
    const chatModel = createChatModel({ provider: 'bedrock', modelId: MODEL_ID, region: 'us-east-1' });

    // Act
    const result = await collect(chatModel.stream({ messages: MESSAGES, maxTokens: 256 }));

    // Assess
    expect(chatModel.slug).toBe(MODEL_ID);
    expect(result.error).toBeUndefined();
    expect(result.texts).toEqual(['Why ', 'did the ', 'chicken…']);
    expect(result.events.at(-1)).toEqual({ type: 'finish', reason: 'stop' });
    // Bedrock's metadata event (after messageStop) becomes the usage, before the finish.
    expect(result.events.at(-2)).toEqual({ type: 'usage', inputTokens: 10, outputTokens: 3 });
  });

  it('sends the system prompt apart, the turns as content blocks, maxTokens and an abort signal', async () => {
    bedrock.on(ConverseStreamCommand).resolves({ stream: converseStream(['ok']) });

    await collect(model().stream({ messages: MESSAGES, maxTokens: 256 }));

    const calls = bedrock.commandCalls(ConverseStreamCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0].args[0].input).toEqual({
      modelId: MODEL_ID,
      system: [{ text: 'You are terse.' }],
      messages: [
        { role: 'user', content: [{ text: 'Hi' }] },
        { role: 'assistant', content: [{ text: 'Hello.' }] },
        { role: 'user', content: [{ text: 'Tell me a joke' }] },
      ],
      inferenceConfig: { maxTokens: 256 },
    });
    expect((calls[0].args as unknown[])[1]).toEqual({ abortSignal: expect.any(AbortSignal) });
  });

  it('merges same-role neighbours, drops leading assistant turns and blank messages, since Converse needs alternation', async () => {
    bedrock.on(ConverseStreamCommand).resolves({ stream: converseStream(['ok']) });

    await collect(
      model().stream({
        messages: [
          { role: 'system', content: 'Be kind.' },
          { role: 'assistant', content: 'an answer whose question was trimmed away' },
          { role: 'user', content: 'first try' },
          { role: 'user', content: '   ' },
          { role: 'user', content: 'second try' },
          { role: 'assistant', content: 'sure' },
          { role: 'user', content: 'thanks' },
        ],
      }),
    );

    const { input } = bedrock.commandCalls(ConverseStreamCommand)[0].args[0];
    expect(input.system).toEqual([{ text: 'Be kind.' }]);
    expect(input.messages).toEqual([
      { role: 'user', content: [{ text: 'first try' }, { text: 'second try' }] },
      { role: 'assistant', content: [{ text: 'sure' }] },
      { role: 'user', content: [{ text: 'thanks' }] },
    ]);
    expect(input.inferenceConfig).toBeUndefined();
  });

  it.each([
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['max_tokens', 'max_tokens'],
    ['model_context_window_exceeded', 'max_tokens'],
  ])('maps stopReason %s to finish %s', async (stopReason, finish) => {
    bedrock.on(ConverseStreamCommand).resolves({ stream: converseStream(['x'], stopReason) });

    const result = await collect(model().stream({ messages: MESSAGES }));

    expect(result.finish).toBe(finish);
  });

  it('reports a throttled request as a busy provider, before any event', async () => {
    const throttled = new ThrottlingException({ message: 'Too many requests, please wait before trying again.', $metadata: {} });
    bedrock.on(ConverseStreamCommand).rejects(throttled);

    const result = await collect(model().stream({ messages: MESSAGES }));

    expect(result.events).toEqual([]);
    expect(result.error).toBeInstanceOf(ModelProviderError);
    expect(result.error).toMatchObject({ status: 502, code: 'model_error', message: 'The model provider is busy, please retry shortly' });
    expect((result.error as Error).cause).toBe(throttled);
  });

  it('reports any other failure to start (e.g. a bad model id) as ModelProviderError', async () => {
    bedrock.on(ConverseStreamCommand).rejects(new ValidationException({ message: 'The provided model identifier is invalid.', $metadata: {} }));

    const result = await collect(model().stream({ messages: MESSAGES }));

    expect(result.error).toBeInstanceOf(ModelProviderError);
    expect((result.error as Error).message).toBe('The model provider failed');
  });

  it.each(['throttlingException', 'modelStreamErrorException', 'internalServerException', 'validationException', 'serviceUnavailableException'])(
    'turns a %s inside the event stream into ModelProviderError after the text so far',
    async (exception) => {
      bedrock.on(ConverseStreamCommand).resolves({
        stream: (async function* () {
          yield { contentBlockDelta: { delta: { text: 'partial ' }, contentBlockIndex: 0 } };
          yield { [exception]: { message: `${exception} happened` } } as unknown as ConverseStreamOutput;
          yield { contentBlockDelta: { delta: { text: 'never seen' }, contentBlockIndex: 0 } };
        })(),
      });

      const result = await collect(model().stream({ messages: MESSAGES }));

      expect(result.text).toBe('partial ');
      expect(result.finish).toBeUndefined();
      expect(result.error).toBeInstanceOf(ModelProviderError);
      expect(((result.error as Error).cause as Error).message).toBe(`${exception} happened`);
    },
  );

  it('turns an exception thrown by the event stream (as the SDK deserialiser does) into ModelProviderError', async () => {
    bedrock.on(ConverseStreamCommand).resolves({
      stream: (async function* () {
        yield { contentBlockDelta: { delta: { text: 'Once upon ' }, contentBlockIndex: 0 } };
        throw new ThrottlingException({ message: 'slow down', $metadata: {} });
      })(),
    });

    const result = await collect(model().stream({ messages: MESSAGES }));

    expect(result.text).toBe('Once upon ');
    expect(result.error).toBeInstanceOf(ModelProviderError);
    expect((result.error as Error).message).toBe('The model provider is busy, please retry shortly');
  });

  it('reports a stream that ends without messageStop as ModelProviderError', async () => {
    bedrock.on(ConverseStreamCommand).resolves({ stream: converseStream(['half a'], null) });

    const result = await collect(model().stream({ messages: MESSAGES }));

    expect(result.text).toBe('half a');
    expect(result.error).toBeInstanceOf(ModelProviderError);
  });

  it('stops promptly and quietly when the signal aborts mid-stream, and aborts the request', async () => {
    // Prepare
    bedrock.on(ConverseStreamCommand).resolves({ stream: converseStream(['one ', 'two ', 'three ', 'four'], 'end_turn', 300) });
    const controller = new AbortController();

    // Act
    const { stoppedAfterMs, ...result } = await collectAbortingAfter(model().stream({ messages: MESSAGES, signal: controller.signal }), controller, 0);

    // Assess
    expect(result.error).toBeUndefined();
    expect(result.texts).toEqual(['one ']);
    expect(result.finish).toBeUndefined();
    expect(stoppedAfterMs).toBeLessThan(200);
    const options = (bedrock.commandCalls(ConverseStreamCommand)[0].args as unknown[])[1] as { abortSignal: AbortSignal };
    expect(options.abortSignal.aborted).toBe(true);
  });

  it('stops quietly when the signal aborts while the request hangs', async () => {
    bedrock.on(ConverseStreamCommand).callsFake(() => new Promise(() => undefined));

    const result = await collect(model().stream({ messages: MESSAGES, signal: AbortSignal.timeout(100) }));

    expect(result.events).toEqual([]);
    expect(result.error).toBeUndefined();
    expect(result.elapsedMs).toBeLessThan(1000);
  });

  it('gives up with ModelProviderError when the stream does not start within timeoutMs', async () => {
    bedrock.on(ConverseStreamCommand).callsFake(() => new Promise(() => undefined));

    const result = await collect(model({ timeoutMs: 150 }).stream({ messages: MESSAGES }));

    expect(result.error).toBeInstanceOf(ModelProviderError);
    expect((result.error as Error).message).toBe('The model provider did not answer in time');
    expect(result.elapsedMs).toBeLessThan(1000);
  });

  it('gives up with ModelProviderError when the stream goes silent for idleTimeoutMs', async () => {
    bedrock.on(ConverseStreamCommand).resolves({ stream: converseStream(['a', 'b'], 'end_turn', 2000) });

    const result = await collect(model({ idleTimeoutMs: 150 }).stream({ messages: MESSAGES }));

    expect(result.error).toBeInstanceOf(ModelProviderError);
    expect((result.error as Error).message).toBe('The model provider stopped responding');
    expect(result.elapsedMs).toBeLessThan(1000);
  });

  it('creates one client per model, lazily, and uses a client it is given', async () => {
    // Prepare
    bedrock.on(ConverseStreamCommand).callsFake(() => ({ stream: converseStream(['hi']) }));
    const given = new BedrockRuntimeClient({ region: 'eu-west-1' });
    const lazy = model();

    // Act
    await collect(lazy.stream({ messages: MESSAGES }));
    await collect(lazy.stream({ messages: MESSAGES }));
    await collect(model({ client: given }).stream({ messages: MESSAGES }));

    // Assess
    const clients = bedrock.commandCalls(ConverseStreamCommand).map((call) => call.thisValue as BedrockRuntimeClient);
    expect(clients).toHaveLength(3);
    expect(clients[0]).toBe(clients[1]);
    expect(clients[0]).not.toBe(given);
    expect(clients[2]).toBe(given);
    expect(await clients[0].config.region()).toBe('us-east-1');
  });
});
