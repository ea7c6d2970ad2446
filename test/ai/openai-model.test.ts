import { APIError } from 'openai';
import { OpenAiChatModel, createChatModel, type ChatMessage } from '@chatbot/shared/testing';
import { ModelProviderError } from '@chatbot/shared/testing';
import { DEFAULT_FAKE_REPLY, startFakeOpenAiServer, type FakeOpenAiServer } from '../support/fake-openai-server';
import { collect, collectAbortingAfter } from './collect';

const MESSAGES: ChatMessage[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Hi' },
  { role: 'assistant', content: 'Hello.' },
  { role: 'user', content: 'Tell me a joke' },
];

/** Resolves once `condition` holds, polling; fails the test after `timeoutMs`. */
async function eventually(condition: () => boolean, timeoutMs = 1000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('openai provider (against a fake OpenAI-compatible server)', () => {
  let server: FakeOpenAiServer;

  beforeAll(async () => {
    server = await startFakeOpenAiServer();
  });
  afterAll(async () => {
    await server.close();
  });
  beforeEach(() => {
    server.setScript({});
    server.requests.length = 0;
  });

  const model = (overrides: Partial<ConstructorParameters<typeof OpenAiChatModel>[0]> = {}) =>
    new OpenAiChatModel({ baseURL: server.baseURL, apiKey: 'sk-test-key', model: 'gpt-test', ...overrides });

  it('streams the chunks in order and finishes with stop', async () => {
    // Prepare
    server.setScript({ reply: 'The quick brown fox jumps over the lazy dog.', chunks: 5 });
    const chatModel = createChatModel({ provider: 'openai', baseURL: server.baseURL, apiKey: 'sk-test-key', model: 'gpt-test' });

    // Act
    const result = await collect(chatModel.stream({ messages: MESSAGES, maxTokens: 50 }));

    // Assess
    expect(chatModel.slug).toBe('gpt-test');
    expect(result.error).toBeUndefined();
    expect(result.texts).toHaveLength(5);
    expect(result.text).toBe('The quick brown fox jumps over the lazy dog.');
    expect(result.events.at(-1)).toEqual({ type: 'finish', reason: 'stop' });
    // The usage chunk the server sends last (it counts the chunks it streamed) comes right before the finish.
    expect(result.events.at(-2)).toEqual({ type: 'usage', inputTokens: expect.any(Number), outputTokens: 5 });
  });

  it('sends the system prompt and the messages in the chat-completions shape, with the key as bearer token', async () => {
    await collect(model().stream({ messages: MESSAGES, maxTokens: 50 }));

    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/v1/chat/completions');
    expect(request.headers.authorization).toBe('Bearer sk-test-key');
    expect(request.body).toEqual({
      model: 'gpt-test',
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 50,
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello.' },
        { role: 'user', content: 'Tell me a joke' },
      ],
    });
  });

  it('leaves max_tokens out when no limit is given', async () => {
    await collect(model().stream({ messages: MESSAGES }));

    expect(server.requests[0].body).not.toHaveProperty('max_tokens');
  });

  it('maps finish_reason length to max_tokens', async () => {
    server.setScript({ finishReason: 'length' });

    const result = await collect(model().stream({ messages: MESSAGES, maxTokens: 5 }));

    expect(result.text).toBe(DEFAULT_FAKE_REPLY);
    expect(result.finish).toBe('max_tokens');
  });

  it('turns an HTTP 500 before streaming into ModelProviderError, without events', async () => {
    server.setScript({ errorStatus: 500 });

    const result = await collect(model({ maxRetries: 0 }).stream({ messages: MESSAGES }));

    expect(result.events).toEqual([]);
    expect(result.error).toBeInstanceOf(ModelProviderError);
    expect(result.error).toMatchObject({ status: 502, code: 'model_error', message: 'The model provider failed' });
    expect((result.error as ModelProviderError).cause).toBeInstanceOf(APIError);
    expect(((result.error as ModelProviderError).cause as APIError).status).toBe(500);
    expect(server.requests).toHaveLength(1);
  });

  it('retries once by default, then reports a 429 as a busy provider', async () => {
    server.setScript({ errorStatus: 429, errorBody: { error: { message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded' } } });

    const result = await collect(model().stream({ messages: MESSAGES }));

    expect(server.requests).toHaveLength(2);
    expect(result.error).toBeInstanceOf(ModelProviderError);
    expect((result.error as Error).message).toBe('The model provider is busy, please retry shortly');
  });

  it('succeeds when the one retry does', async () => {
    server.setScript({ errorStatus: 503, errorTimes: 1, reply: 'second time lucky' });

    const result = await collect(model().stream({ messages: MESSAGES }));

    expect(server.requests).toHaveLength(2);
    expect(result.error).toBeUndefined();
    expect(result.text).toBe('second time lucky');
    expect(result.finish).toBe('stop');
  });

  it('reports a connection dropped mid-stream as ModelProviderError after the text received so far', async () => {
    server.setScript({ reply: 'aaaabbbbccccdddd', chunks: 4, dropAfterChunks: 2 });

    const result = await collect(model().stream({ messages: MESSAGES }));

    expect(server.requests).toHaveLength(1);
    expect(result.text).toBe('aaaabbbb');
    expect(result.finish).toBeUndefined();
    expect(result.error).toBeInstanceOf(ModelProviderError);
  });

  it('reports a stream that ends without a finish reason as ModelProviderError', async () => {
    server.setScript({ reply: 'cut short', finishReason: null });

    const result = await collect(model().stream({ messages: MESSAGES }));

    expect(result.text).toBe('cut short');
    expect(result.error).toBeInstanceOf(ModelProviderError);
    expect((result.error as Error).message).toBe('The model provider ended the reply unexpectedly');
  });

  it('reports an unreachable endpoint as ModelProviderError', async () => {
    const closed = await startFakeOpenAiServer();
    await closed.close();

    const result = await collect(
      new OpenAiChatModel({ baseURL: closed.baseURL, apiKey: 'k', model: 'm', maxRetries: 0 }).stream({ messages: MESSAGES }),
    );

    expect(result.events).toEqual([]);
    expect(result.error).toBeInstanceOf(ModelProviderError);
  });

  it('gives up when the response headers do not arrive within timeoutMs', async () => {
    server.setScript({ headersDelayMs: 3000 });

    const result = await collect(model({ timeoutMs: 200, maxRetries: 0 }).stream({ messages: MESSAGES }));

    expect(result.error).toBeInstanceOf(ModelProviderError);
    expect(result.elapsedMs).toBeLessThan(1000);
  });

  it('gives up when the stream goes silent for idleTimeoutMs', async () => {
    server.setScript({ chunks: 3, chunkDelayMs: 2000 });

    const result = await collect(model({ idleTimeoutMs: 200 }).stream({ messages: MESSAGES }));

    expect(result.error).toBeInstanceOf(ModelProviderError);
    expect((result.error as Error).message).toBe('The model provider stopped responding');
    expect(result.elapsedMs).toBeLessThan(1000);
    await eventually(() => server.requests[0]?.closedByClient === true);
  });

  it('stops promptly and quietly when the signal aborts mid-stream, and closes the connection', async () => {
    // Prepare
    server.setScript({ reply: 'a'.repeat(100), chunks: 10, chunkDelayMs: 300 });
    const controller = new AbortController();

    // Act
    const { stoppedAfterMs, ...result } = await collectAbortingAfter(model().stream({ messages: MESSAGES, signal: controller.signal }), controller, 0);

    // Assess
    expect(result.error).toBeUndefined();
    expect(result.texts).toEqual(['a'.repeat(10)]);
    expect(result.finish).toBeUndefined();
    expect(stoppedAfterMs).toBeLessThan(200);
    await eventually(() => server.requests[0]?.closedByClient === true);
  });

  it('stops quietly when the signal aborts before the response headers', async () => {
    server.setScript({ headersDelayMs: 2000 });

    const result = await collect(model().stream({ messages: MESSAGES, signal: AbortSignal.timeout(100) }));

    expect(result.events).toEqual([]);
    expect(result.error).toBeUndefined();
    expect(result.elapsedMs).toBeLessThan(1000);
  });

  it('rejects a missing model or key at construction', () => {
    expect(() => createChatModel({ provider: 'openai', apiKey: 'k', model: '' })).toThrow(/model is required/);
    expect(() => createChatModel({ provider: 'openai', apiKey: '', model: 'm' })).toThrow(/apiKey is required/);
  });
});
