/**
 * The offline long-answer model: several hundred words of Markdown that a client can render,
 * stop and resume, deterministic for a message and a variant, different for each variant (a
 * regenerate), streamed word by word at the configured pace with its newlines intact.
 */
import { LOCAL_LONG_ANSWER_SLUG, LOCAL_MODEL_MARKERS, TITLE_SYSTEM_PROMPT, composeLongAnswer, createChatModel, type ChatMessage } from '@chatbot/shared/testing';
import { collect } from './collect';

const ask = (text: string): ChatMessage[] => [{ role: 'system', content: 'You are helpful.' }, { role: 'user', content: text }];
const longModel = (tokenDelayMs = 0) => createChatModel({ provider: 'local', id: 'local-long-answer', tokenDelayMs });

describe('local long-answer model', () => {
  it('answers with several hundred words of Markdown: headings, a quote, lists, a table and a fenced code block', () => {
    // Act
    const answer = composeLongAnswer('How do I page through a large table?\nWith keyset paging?', 0, 1);

    // Assess
    const words = answer.split(/\s+/).filter(Boolean).length;
    expect(words).toBeGreaterThanOrEqual(300);
    expect(words).toBeLessThanOrEqual(700);
    expect(answer).toMatch(/^## How do I page through a large table\? …\n/);
    expect(answer).toMatch(/^### /m);
    expect(answer).toMatch(/^> How do I page through a large table\?\n> With keyset paging\?$/m);
    expect(answer).toMatch(/^1\. \*\*/m);
    expect(answer).toMatch(/^- \[ \] /m);
    expect(answer).toMatch(/^\| Feature \| What happens \| How to tell \|$/m);
    expect(answer).toMatch(/^### A sketch in TypeScript$/m);
    expect(answer).toMatch(/^```typescript\n[\s\S]+?\n```$/m);
    expect(answer).toContain('not* an LLM');
  });

  it('is deterministic for a message and a variant, and differs from one variant to the next', () => {
    const question = 'Explain cache invalidation';
    const variants = [0, 1, 2, 3].map((variant) => composeLongAnswer(question, variant, 3));

    expect(composeLongAnswer(question, 1, 3)).toBe(variants[1]);
    expect(new Set(variants).size).toBe(4);
    // The code sample's language changes too, so the difference is visible at a glance.
    expect(variants.map((answer) => /```(\w+)/.exec(answer)?.[1])).toEqual(['typescript', 'python', 'sql', 'typescript']);
  });

  it('streams one word per event, whitespace and newlines included, concatenating to the answer exactly', async () => {
    // Act
    const result = await collect(longModel().stream({ messages: ask('Explain cache invalidation'), variant: 1 }));

    // Assess
    expect(result.error).toBeUndefined();
    expect(result.text).toBe(composeLongAnswer('Explain cache invalidation', 1, 1));
    expect(result.texts.length).toBeGreaterThanOrEqual(300);
    expect(result.texts.every((token) => token.trim() !== '' && !/\S\s+\S/.test(token))).toBe(true);
    expect(result.finish).toBe('stop');
    expect(longModel().slug).toBe(LOCAL_LONG_ANSWER_SLUG);
  });

  it('streams at the configured pace, so a reply lasts long enough to stop or reload during it', async () => {
    // Act: 2 ms per token over several hundred tokens.
    const result = await collect(longModel(2).stream({ messages: ask('pace'), maxTokens: 60 }));

    // Assess: 59 pauses of 2 ms at least; cut by maxTokens like every model.
    expect(result.texts).toHaveLength(60);
    expect(result.finish).toBe('max_tokens');
    expect(result.elapsedMs).toBeGreaterThanOrEqual(59 * 2);
  });

  it('keeps the test markers and writes titles like the echo', async () => {
    const failed = await collect(longModel().stream({ messages: ask(`boom ${LOCAL_MODEL_MARKERS.failBeforeFirstToken}`) }));
    const title = await collect(longModel().stream({ messages: [{ role: 'system', content: TITLE_SYSTEM_PROMPT }, { role: 'user', content: 'Plan a trip to Lisbon in May please' }] }));

    expect(failed.error).toBeDefined();
    expect(failed.texts).toHaveLength(0);
    expect(title.text).toBe('Plan a trip to Lisbon in');
  });
});
