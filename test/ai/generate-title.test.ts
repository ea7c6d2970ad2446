import {
  DEFAULT_TITLE,
  TITLE_SYSTEM_PROMPT,
  cleanModelTitle,
  createChatModel,
  fallbackTitle,
  generateTitle,
  type ChatModel,
  type ModelStreamEvent,
  type ModelStreamRequest,
} from '@chatbot/shared/testing';
import { ModelProviderError } from '@chatbot/shared/testing';
import { startFakeOpenAiServer } from '../support/fake-openai-server';

const FIRST_MESSAGE = 'How do I   bake sourdough bread at home without a proofing basket?';
const FALLBACK = 'How do I bake sourdough bread';

/** A model that replays `events` (or throws `error` first) and records what it was asked. */
function scriptedModel(events: ModelStreamEvent[], error?: Error): ChatModel & { requests: ModelStreamRequest[] } {
  const requests: ModelStreamRequest[] = [];
  return {
    slug: 'scripted',
    requests,
    async *stream(request) {
      requests.push(request);
      for (const event of events) yield event;
      if (error) throw error;
    },
  };
}

const reply = (...texts: string[]): ModelStreamEvent[] => [...texts.map((text) => ({ type: 'text', text }) as const), { type: 'finish', reason: 'stop' }];

describe('fallbackTitle', () => {
  it.each([
    [FIRST_MESSAGE, FALLBACK],
    ['  hello\n\tworld  ', 'hello world'],
    ['', DEFAULT_TITLE],
    ['   \n ', DEFAULT_TITLE],
    ['Supercalifragilisticexpialidocious '.repeat(4), 'Supercalifragilisticexpialidocious'],
    ['x'.repeat(100), 'x'.repeat(60)],
  ])('%j -> %j', (message, title) => {
    expect(fallbackTitle(message)).toBe(title);
  });

  it('never exceeds 6 words or 60 characters', () => {
    const title = fallbackTitle('internationalization localization standardization characterization compartmentalization');

    expect(title.length).toBeLessThanOrEqual(60);
    expect(title).toBe('internationalization localization standardization');
  });
});

describe('cleanModelTitle', () => {
  it.each([
    ['"Baking Sourdough Without a Basket."', 'Baking Sourdough Without a Basket'],
    ['Title: Sourdough at Home\nHope this helps!', 'Sourdough at Home'],
    ['**Sourdough Basics**', 'Sourdough Basics'],
    ['\n\n  Sourdough basics  \n', 'Sourdough basics'],
    ['one two three four five six seven eight', 'one two three four five six'],
    ['   ', ''],
  ])('%j -> %j', (raw, title) => {
    expect(cleanModelTitle(raw)).toBe(title);
  });
});

describe('generateTitle', () => {
  it("asks the model with the title prompt and uses its cleaned-up answer", async () => {
    // Prepare
    const model = scriptedModel(reply('"Sourdough ', 'Without a ', 'Basket."'));

    // Act
    const title = await generateTitle(model, FIRST_MESSAGE);

    // Assess
    expect(title).toBe('Sourdough Without a Basket');
    expect(model.requests).toHaveLength(1);
    expect(model.requests[0].messages).toEqual([
      { role: 'system', content: TITLE_SYSTEM_PROMPT },
      { role: 'user', content: FIRST_MESSAGE },
    ]);
    expect(model.requests[0].maxTokens).toBeLessThanOrEqual(32);
    expect(model.requests[0].signal).toBeInstanceOf(AbortSignal);
  });

  it('falls back to the first words of the message when the model fails', async () => {
    const title = await generateTitle(scriptedModel([], new ModelProviderError()), FIRST_MESSAGE);

    expect(title).toBe(FALLBACK);
  });

  it('falls back when the model fails after some text', async () => {
    const title = await generateTitle(scriptedModel([{ type: 'text', text: 'Sourdough' }], new ModelProviderError()), FIRST_MESSAGE);

    expect(title).toBe(FALLBACK);
  });

  it('falls back when the model answers blank', async () => {
    expect(await generateTitle(scriptedModel(reply('  \n ')), FIRST_MESSAGE)).toBe(FALLBACK);
  });

  it('falls back within the timeout when the model hangs, even if it ignores the abort signal', async () => {
    // Prepare
    const hanging: ChatModel = {
      slug: 'hanging',
      stream: () => ({ [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<ModelStreamEvent>>(() => undefined) }) }),
    };
    const started = performance.now();

    // Act
    const title = await generateTitle(hanging, FIRST_MESSAGE, { timeoutMs: 100 });

    // Assess
    expect(title).toBe(FALLBACK);
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('aborts the model call on timeout, so a cooperative model stops', async () => {
    let seenSignal: AbortSignal | undefined;
    const slow: ChatModel = {
      slug: 'slow',
      async *stream({ signal }) {
        seenSignal = signal;
        await new Promise((resolve) => setTimeout(resolve, 1000).unref());
        yield* reply('Too late');
      },
    };

    const title = await generateTitle(slow, FIRST_MESSAGE, { timeoutMs: 50 });

    expect(title).toBe(FALLBACK);
    expect(seenSignal?.aborted).toBe(true);
  });

  it("falls back when the caller's signal aborts", async () => {
    const controller = new AbortController();
    const model: ChatModel = {
      slug: 'stalls',
      async *stream() {
        controller.abort();
        await new Promise(() => undefined);
      },
    };

    expect(await generateTitle(model, FIRST_MESSAGE, { signal: controller.signal })).toBe(FALLBACK);
    expect(await generateTitle(scriptedModel(reply('Never asked')), FIRST_MESSAGE, { signal: AbortSignal.abort() })).toBe(FALLBACK);
  });

  it('does not ask the model about a blank message', async () => {
    const model = scriptedModel(reply('Anything'));

    expect(await generateTitle(model, '   ')).toBe(DEFAULT_TITLE);
    expect(model.requests).toHaveLength(0);
  });

  it('gets a deterministic title from the local offline model', async () => {
    expect(await generateTitle(createChatModel({ provider: 'local', tokenDelayMs: 1 }), FIRST_MESSAGE)).toBe(FALLBACK);
  });

  it('works end to end with an OpenAI-compatible server, and falls back when it fails', async () => {
    const server = await startFakeOpenAiServer({ reply: 'Sourdough Without a Basket', chunks: 4 });
    try {
      const model = createChatModel({ provider: 'openai', baseURL: server.baseURL, apiKey: 'k', model: 'gpt-test' });

      expect(await generateTitle(model, FIRST_MESSAGE)).toBe('Sourdough Without a Basket');
      expect(server.requests[0].body.messages[0]).toEqual({ role: 'system', content: TITLE_SYSTEM_PROMPT });

      server.setScript({ errorStatus: 500 });
      expect(await generateTitle(model, FIRST_MESSAGE)).toBe(FALLBACK);
    } finally {
      await server.close();
    }
  });
});
