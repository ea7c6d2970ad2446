/**
 * Replies as Markdown in a real browser: rendered (code blocks with their language and a copy
 * button), streamed in block by block without replacing what is already shown, and never running
 * markup from a reply, a title or a conversation name. The model is a scripted OpenAI-compatible
 * fake (support/fake-model.ts) behind the server's real `openai` provider; the rest is the real
 * local server, Postgres and Redis. Also measures re-rendering a 4,000-token reply per token.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { build } from 'esbuild';
import { DEMO_MARKDOWN, PAYLOAD_TITLE, scriptedReply, startFakeModel, type FakeModel } from './support/fake-model';
import { sendMessage, sidebarTitles, waitForIdle, useWebHarness } from './support/browser';

process.env.LLM_PROVIDER = 'openai';
process.env.OPENAI_API_KEY = 'fake-key';
process.env.OPENAI_MODEL = 'fake-model';
const SECRET = 'web-markdown-secret';
/** Between two streamed pieces of the demo reply: long enough to see it arrive block by block. */
const DEMO_DELAY_MS = 10;

declare const document: any;
declare const window: any;
declare const navigator: any;
declare function requestAnimationFrame(callback: () => void): number;

describe('web client: Markdown replies', () => {
  let model: FakeModel;
  // Before the harness starts the server: its config reads OPENAI_BASE_URL.
  beforeAll(async () => {
    model = await startFakeModel((messages) => scriptedReply(messages, DEMO_DELAY_MS));
    process.env.OPENAI_BASE_URL = model.baseUrl;
  });
  const web = useWebHarness({ jwtSecret: SECRET });
  afterAll(() => model?.close());

  it('streams a reply block by block: finished blocks stay on screen as they are, the code block shows before the end', async () => {
    // Prepare
    const { page } = web;
    await web.signIn(`md-${randomUUID()}`);
    await page.evaluate(() => {
      const seen = { counts: [] as number[], firstKept: undefined as unknown, firstReplaced: false, codeWhileStreaming: false };
      window.__seen = seen;
      const tick = () => {
        const body = document.querySelector('.message.assistant.streaming .markdown');
        if (body) {
          seen.counts.push(body.children.length);
          // From the third block on, the first one is complete: the very same element must stay.
          if (body.children.length >= 3) {
            seen.firstKept ??= body.firstElementChild;
            if (seen.firstKept !== body.firstElementChild) seen.firstReplaced = true;
          }
          if (body.querySelector('.code-block pre')) seen.codeWhileStreaming = true;
        }
        requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });

    // Act
    await sendMessage(page, 'Show me the markdown demo');
    await waitForIdle(page);
    const seen = await page.evaluate(() => ({ ...window.__seen, firstKept: Boolean(window.__seen.firstKept) }));

    // Assess
    const counts = seen.counts as number[];
    expect(counts.length).toBeGreaterThan(10);
    expect(Math.max(...counts)).toBeGreaterThanOrEqual(5);
    expect(counts.every((count, i) => i === 0 || count >= counts[i - 1])).toBe(true);
    expect(seen.firstKept).toBe(true);
    expect(seen.firstReplaced).toBe(false);
    expect(seen.codeWhileStreaming).toBe(true);
  });

  it('renders the stored reply: heading, emphasis, list, table, a link that opens elsewhere, and a labelled code block that copies', async () => {
    // Prepare
    const { page, context, relay } = web;
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: relay.url });
    const reply = page.locator('#messages .message.assistant .markdown');

    // Act
    const shape = await reply.evaluate((body: any) => ({
      heading: body.querySelector('h2')?.textContent,
      strong: body.querySelector('strong')?.textContent,
      items: [...body.querySelectorAll('ul > li')].map((li: any) => li.textContent),
      cells: [...body.querySelectorAll('table td')].map((td: any) => td.textContent),
      link: body.querySelector('a[href^="https://developer.mozilla.org"]') && {
        target: body.querySelector('a[href^="https://developer.mozilla.org"]').getAttribute('target'),
        rel: body.querySelector('a[href^="https://developer.mozilla.org"]').getAttribute('rel'),
      },
      language: body.querySelector('.code-block .code-lang')?.textContent,
    }));
    await page.click('#messages .message.assistant .code-block .copy');
    await page.waitForFunction(() => document.querySelector('#messages .code-block .copy')?.textContent === 'Copied');
    const copied = await page.evaluate(() => navigator.clipboard.readText());

    // Assess
    expect(shape).toEqual({
      heading: 'Debouncing in TypeScript',
      strong: 'debounce',
      items: ['search boxes that should not query on every key', 'resize handlers', 'saving a draft'],
      cells: ['debounce', 'for a pause', 'throttle', 'at most once per period'],
      link: { target: '_blank', rel: 'noopener noreferrer nofollow' },
      language: 'ts',
    });
    expect(copied).toBe(/```ts\n([\s\S]*?)```/.exec(DEMO_MARKDOWN)![1]);
    expect(await sidebarTitles(page)).toEqual(['Debouncing in TypeScript']);
    expect(web.cspViolations).toEqual([]);
  });

  it('runs no markup from a reply, a title or a conversation name, also after a reload', async () => {
    // Prepare
    const { page } = web;
    const renamed = '<img src=x onerror=window.__pwned="rename">';
    await page.click('#new-chat');
    await sendMessage(page, 'Show me some payloads');
    await waitForIdle(page);
    await page.waitForFunction((title) => document.querySelector('#conversation-title')?.textContent === title, PAYLOAD_TITLE);
    const titleShown = await page.textContent('#list li.active .title');

    // Act
    await page.click('#list li.active [data-action=rename]');
    await page.fill('#list input.rename', renamed);
    await page.press('#list input.rename', 'Enter');
    await page.waitForFunction((title) => document.querySelector('#conversation-title')?.textContent === title, renamed);
    await page.reload();
    await page.waitForSelector('#messages .message.assistant .markdown p');
    // Whatever could be clicked in the reply, is.
    for (const element of await page.$$('#messages .message.assistant .markdown a, #messages .message.assistant .markdown p, #messages .message.assistant .markdown summary')) {
      await element.click({ force: true, noWaitAfter: true }).catch(() => undefined);
    }
    await page.waitForTimeout(200);
    const found = await page.evaluate(() => {
      const reply = document.querySelector('#messages .message.assistant .markdown');
      const elements = [...reply.querySelectorAll('*')] as any[];
      return {
        pwned: window.__pwned ?? null,
        dangerous: elements.filter((el) => ['SCRIPT', 'IFRAME', 'SVG', 'IMG', 'FORM', 'BUTTON', 'STYLE'].includes(el.nodeName.toUpperCase())).map((el) => el.nodeName),
        attributes: elements.flatMap((el) => [...el.attributes].map((attribute: any) => attribute.name)).filter((name) => /^on|^style$|^id$|^class$/.test(name)),
        scriptLinks: elements.filter((el) => /^\s*javascript:/i.test(el.getAttribute('href') ?? '')).length,
        composers: document.querySelectorAll('#input').length,
        headerTitle: document.querySelector('#conversation-title').textContent,
        sidebarTitle: document.querySelector('#list li.active .title').textContent,
      };
    });

    // Assess
    expect(titleShown).toBe(PAYLOAD_TITLE);
    expect(found).toEqual({
      pwned: null,
      dangerous: [],
      attributes: [],
      scriptLinks: 0,
      composers: 1,
      headerTitle: renamed,
      sidebarTitle: renamed,
    });
    // Shown as the text it is.
    expect(await page.textContent('#messages .message.assistant .markdown')).toContain('<img src=x onerror="window.__pwned=\'img\'">');
    // Nothing even tried to run: the CSP would have reported it.
    expect(web.cspViolations).toEqual([]);
    expect(web.pageErrors).toEqual([]);
  });

  it('measures re-rendering a 4,000-token reply on every token against rendering only its last block', async () => {
    // Prepare
    const bundle = await build({
      stdin: {
        contents: "import { renderMarkdown, MarkdownStream } from './markdown'; (window as any).markdownUnderTest = { renderMarkdown, MarkdownStream };",
        resolveDir: path.resolve(__dirname, '../../web/src'),
        loader: 'ts',
      },
      bundle: true,
      format: 'iife',
      write: false,
      logLevel: 'silent',
    });
    const pieces = longReply(4000);
    const page = await web.context.newPage();
    await page.setContent('<!doctype html><body><div id="naive"></div><div id="incremental"></div><div id="burst"></div><div id="whole"></div></body>');
    await page.addScriptTag({ content: bundle.outputFiles[0].text });

    // Act
    const result = await page.evaluate(async (tokens: string[]) => {
      const { renderMarkdown, MarkdownStream } = window.markdownUnderTest;
      const byId = (id: string) => document.getElementById(id);
      // Only the last block again, per token (what the page does, without waiting for a frame).
      const incremental = new MarkdownStream(byId('incremental'));
      let text = '';
      const incrementalEnd: number[] = [];
      const started = performance.now();
      tokens.forEach((token, i) => {
        text += token;
        const before = performance.now();
        incremental.update(text);
        incremental.render();
        if (i >= tokens.length - 200) incrementalEnd.push(performance.now() - before);
      });
      const incrementalTotal = performance.now() - started;
      // The whole reply again, per token: timed at ten lengths (every token would take minutes), the total interpolated.
      const naiveAt: number[] = [];
      for (let tenth = 1; tenth <= 10; tenth += 1) {
        const prefix = tokens.slice(0, (tokens.length * tenth) / 10).join('');
        const runs: number[] = [];
        for (let run = 0; run < 3; run += 1) {
          const before = performance.now();
          byId('naive').replaceChildren(renderMarkdown(prefix));
          runs.push(performance.now() - before);
        }
        naiveAt.push(runs.sort((a, b) => a - b)[1]);
      }
      const naiveTotal = (naiveAt.reduce((sum, ms) => sum + ms, 0) / naiveAt.length) * tokens.length;
      // A burst (a resume replaying from frame 0): every token in one task, one render at the next frame.
      let renders = 0;
      const burst = new MarkdownStream(byId('burst'), () => (renders += 1));
      let burstText = '';
      for (const token of tokens) burst.update((burstText += token));
      await new Promise<void>((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve())));
      byId('whole').replaceChildren(renderMarkdown(text));
      return {
        naiveLastMs: naiveAt[9],
        naiveTotal,
        incrementalLastMs: incrementalEnd.reduce((sum, ms) => sum + ms, 0) / incrementalEnd.length,
        incrementalTotal,
        burstRenders: renders,
        sameAsWhole: byId('incremental').innerHTML === byId('whole').innerHTML && byId('burst').innerHTML === byId('whole').innerHTML,
        blocks: byId('whole').children.length,
        characters: text.length,
      };
    }, pieces);
    await page.close();
    console.log(
      `4,000-token reply (${result.characters} chars, ${result.blocks} blocks): whole reply re-rendered per token ${result.naiveLastMs.toFixed(2)} ms/token at the end, ` +
        `~${(result.naiveTotal / 1000).toFixed(1)} s in total; last block only ${result.incrementalLastMs.toFixed(3)} ms/token at the end, ${(result.incrementalTotal / 1000).toFixed(2)} s in total ` +
        `(${(result.naiveTotal / result.incrementalTotal).toFixed(0)}x less); a burst of all tokens rendered ${result.burstRenders} time(s)`,
    );

    // Assess
    expect(result.sameAsWhole).toBe(true);
    expect(result.blocks).toBeGreaterThan(100);
    expect(result.burstRenders).toBe(1);
  });
});

/** A long reply as a model streams it: word-sized pieces of sections with prose, lists and code. */
function longReply(pieces: number): string[] {
  const words = 'the quick brown fox jumps over a lazy dog while **bold** ideas and `inline code` pass by'.split(' ');
  const tokens: string[] = [];
  for (let section = 0; tokens.length < pieces; section += 1) {
    const text = [
      `## Section ${section}\n\n`,
      `${Array.from({ length: 40 }, (_, i) => words[(i + section) % words.length]).join(' ')}.\n\n`,
      `${Array.from({ length: 4 }, (_, i) => `- item ${i} of section ${section} with a [link](https://example.com/${section}/${i})`).join('\n')}\n\n`,
      `\`\`\`js\n${Array.from({ length: 6 }, (_, i) => `const value${i} = compute(${section}, ${i}); // step ${i}`).join('\n')}\n\`\`\`\n\n`,
    ].join('');
    tokens.push(...(text.match(/\s+|\S+\s*/g) ?? []));
  }
  return tokens.slice(0, pieces);
}
