import { LOCAL_MODEL_MARKERS, LOCAL_MODEL_SLUG, TITLE_SYSTEM_PROMPT, createChatModel, type ChatMessage } from '@chatbot/shared/testing';
import { ModelProviderError } from '@chatbot/shared/testing';
import { collect, collectAbortingAfter } from './collect';

const SYSTEM: ChatMessage = { role: 'system', content: 'You are a helpful assistant.' };
const ask = (text: string, history: ChatMessage[] = []): ChatMessage[] => [SYSTEM, ...history, { role: 'user', content: text }];

describe('local offline model', () => {
  it('is named as what it is: an offline model, not an LLM', () => {
    const model = createChatModel({ provider: 'local' });

    expect(model.slug).toBe(LOCAL_MODEL_SLUG);
    expect(model.slug).toBe('local-offline-model');
  });

  it('streams a deterministic echo of the last user message, word by word, then finish stop', async () => {
    // Prepare
    const model = createChatModel({ provider: 'local' });
    const history: ChatMessage[] = [
      { role: 'user', content: 'first question' },
      { role: 'assistant', content: 'first answer' },
    ];

    // Act
    const first = await collect(model.stream({ messages: ask('hello   there\nfriend', history) }));
    const second = await collect(model.stream({ messages: ask('hello   there\nfriend', history) }));

    // Assess
    expect(first.error).toBeUndefined();
    expect(first.text).toBe(
      'You said: "hello there friend". (3 words, 3 messages in context; local-offline-model is a deterministic echo for development and tests, not an LLM.)',
    );
    expect(first.texts.length).toBe(first.text.split(' ').length);
    expect(first.events.at(-1)).toEqual({ type: 'finish', reason: 'stop' });
    expect(first.events.filter((e) => e.type === 'finish')).toHaveLength(1);
    // Its usage: every word of the window (system prompt included) in, one token per streamed word out.
    const windowWords = ask('hello   there\nfriend', history).reduce((sum, m) => sum + m.content.split(/\s+/).filter(Boolean).length, 0);
    expect(first.events.at(-2)).toEqual({ type: 'usage', inputTokens: windowWords, outputTokens: first.texts.length });
    expect(second.events).toEqual(first.events);
  });

  it('echoes only the first 40 words of a long message', async () => {
    const words = Array.from({ length: 500 }, (_, i) => `w${i}`);

    const result = await collect(createChatModel({ provider: 'local' }).stream({ messages: ask(words.join(' ')) }));

    expect(result.text).toContain(`"${words.slice(0, 40).join(' ')} …"`);
    expect(result.text).toContain('(500 words, 1 message in context;');
    expect(result.texts.length).toBeLessThan(70);
  });

  it('honours maxTokens: one word per token, then finish max_tokens', async () => {
    const result = await collect(createChatModel({ provider: 'local' }).stream({ messages: ask('count me'), maxTokens: 3 }));

    expect(result.texts).toEqual(['You ', 'said: ', '"count ']);
    expect(result.finish).toBe('max_tokens');
  });

  it('waits tokenDelayMs between tokens', async () => {
    const result = await collect(createChatModel({ provider: 'local', tokenDelayMs: 30 }).stream({ messages: ask('hi'), maxTokens: 4 }));

    expect(result.texts).toHaveLength(4);
    // Three gaps of 30 ms; timers may fire a little early, never much.
    expect(result.elapsedMs).toBeGreaterThanOrEqual(85);
  });

  it('answers a title request with the first six words of the message', async () => {
    const result = await collect(
      createChatModel({ provider: 'local' }).stream({
        messages: [
          { role: 'system', content: TITLE_SYSTEM_PROMPT },
          { role: 'user', content: 'How do I bake sourdough bread at home quickly?' },
        ],
      }),
    );

    expect(result.text).toBe('How do I bake sourdough bread');
    expect(result.finish).toBe('stop');
  });

  describe('markers', () => {
    it(`${LOCAL_MODEL_MARKERS.failBeforeFirstToken} throws ModelProviderError before any event`, async () => {
      const result = await collect(createChatModel({ provider: 'local' }).stream({ messages: ask(`boom ${LOCAL_MODEL_MARKERS.failBeforeFirstToken}`) }));

      expect(result.events).toEqual([]);
      expect(result.error).toBeInstanceOf(ModelProviderError);
      expect(result.error).toMatchObject({ status: 502, code: 'model_error' });
    });

    it(`${LOCAL_MODEL_MARKERS.failAfterFirstToken} streams two text events, then throws ModelProviderError`, async () => {
      const result = await collect(createChatModel({ provider: 'local' }).stream({ messages: ask(`boom ${LOCAL_MODEL_MARKERS.failAfterFirstToken}`) }));

      expect(result.texts).toEqual(['You ', 'said: ']);
      expect(result.finish).toBeUndefined();
      expect(result.error).toBeInstanceOf(ModelProviderError);
    });

    it(`${LOCAL_MODEL_MARKERS.maxTokens} cuts the reply with finish max_tokens, and is not echoed`, async () => {
      const result = await collect(createChatModel({ provider: 'local' }).stream({ messages: ask(`${LOCAL_MODEL_MARKERS.maxTokens} long story please`) }));

      expect(result.text).toBe('You said: "long story please". (3 ');
      expect(result.finish).toBe('max_tokens');
      expect(result.error).toBeUndefined();
    });

    it(`${LOCAL_MODEL_MARKERS.slow} waits 200 ms between tokens`, async () => {
      const result = await collect(createChatModel({ provider: 'local' }).stream({ messages: ask(`${LOCAL_MODEL_MARKERS.slow} x`), maxTokens: 3 }));

      expect(result.texts).toHaveLength(3);
      expect(result.elapsedMs).toBeGreaterThanOrEqual(390);
    });

    it('only the last user message counts', async () => {
      const history: ChatMessage[] = [
        { role: 'user', content: LOCAL_MODEL_MARKERS.failBeforeFirstToken },
        { role: 'assistant', content: 'sorry' },
      ];

      const result = await collect(createChatModel({ provider: 'local' }).stream({ messages: ask('fine now', history) }));

      expect(result.error).toBeUndefined();
      expect(result.finish).toBe('stop');
    });
  });

  describe('abort', () => {
    it('ends the stream quietly and promptly, without finish, when the signal aborts mid-reply', async () => {
      // Prepare
      const controller = new AbortController();
      
      // Act
      const { stoppedAfterMs, ...result } = await collectAbortingAfter(createChatModel({ provider: 'local' }).stream({ messages: ask(`${LOCAL_MODEL_MARKERS.slow} a b c d e f`), signal: controller.signal }), controller, 1);

      // Assess
      expect(result.error).toBeUndefined();
      expect(result.texts).toEqual(['You ', 'said: ']);
      expect(result.finish).toBeUndefined();
      expect(stoppedAfterMs).toBeLessThan(100);
    });

    it('yields nothing for an already aborted signal', async () => {
      const result = await collect(createChatModel({ provider: 'local' }).stream({ messages: ask('hi'), signal: AbortSignal.abort() }));

      expect(result.events).toEqual([]);
      expect(result.error).toBeUndefined();
    });
  });
});
