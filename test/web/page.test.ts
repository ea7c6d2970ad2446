/**
 * The page as a whole, in a real browser against the real local server: damaged links, a
 * `#token=` link that asks before switching accounts, the phone layout (a drawer, nothing
 * scrolling sideways), keyboard-only use, an axe-core accessibility scan, no Content-Security-
 * Policy violation, and how long a 100-message conversation takes to paint. The model is the
 * scripted OpenAI-compatible fake (support/fake-model.ts), so a reply can hold a code block.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { signLocalToken } from '../../local/auth';
import { postTurn } from './support/api';
import { sendMessage, waitForIdle, useWebHarness } from './support/browser';
import { scriptedReply, startFakeModel, type FakeModel } from './support/fake-model';

process.env.LLM_PROVIDER = 'openai';
process.env.OPENAI_API_KEY = 'fake-key';
process.env.OPENAI_MODEL = 'fake-model';
const SECRET = 'web-page-secret';
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

declare const document: any;
declare const window: any;
declare const localStorage: any;
declare const location: any;
declare function getComputedStyle(element: unknown): any;
declare function requestAnimationFrame(callback: () => void): number;
declare const MutationObserver: any;

interface AxeViolation {
  readonly id: string;
  readonly impact: string;
  readonly help: string;
  readonly nodes: { readonly target: string[] }[];
}

describe('web client: the page', () => {
  let model: FakeModel;
  beforeAll(async () => {
    model = await startFakeModel((messages) => scriptedReply(messages));
    process.env.OPENAI_BASE_URL = model.baseUrl;
  });
  const web = useWebHarness({ jwtSecret: SECRET });
  afterAll(() => model?.close());
  const dialogs: string[] = [];
  beforeAll(() => web.page.on('dialog', (dialog) => dialogs.push(dialog.message())));

  /** A fresh load of `hash` (a hash change alone would not reload the page). */
  const load = async (hash: string) => {
    await web.page.goto('about:blank');
    await web.page.goto(`${web.relay.url}/${hash}`);
  };
  const header = () => web.page.evaluate(() => document.querySelector('#user').textContent as string);
  const storedToken = () => web.page.evaluate(() => localStorage.getItem('chatbot.token') as string | null);

  it('a damaged sign-in or conversation link shows the page and says so, instead of a blank page', async () => {
    // Prepare
    const { page } = web;
    await load('');
    await page.evaluate(() => localStorage.clear());

    // Act
    await load('#token=%E0%A4%A');
    await page.waitForSelector('#signin:not([hidden]) .error:has-text("damaged")');
    const signInError = await page.textContent('#signin .error');
    const addressAfterToken = page.url();
    await web.signIn(`page-${randomUUID()}`);
    await load('#c/%E0%A4%A');
    await page.waitForSelector('#notice:not([hidden])');

    // Assess
    expect(signInError).toBe('That sign-in link is damaged (its token cannot be read): ask for a new one.');
    expect(addressAfterToken).toBe(`${web.relay.url}/`);
    expect(await page.textContent('#notice')).toContain('That conversation link is damaged');
    expect(await page.textContent('#conversation-title')).toBe('New chat');
    expect(await page.isVisible('#input')).toBe(true);
    expect(web.pageErrors).toEqual([]);
  });

  it('a #token= link is checked with the API and asked about in the page before it replaces who is signed in', async () => {
    // Prepare
    const { page } = web;
    const alice = `alice-${randomUUID()}`;
    const bob = `bob-${randomUUID()}`;
    const bobToken = signLocalToken(bob, { secret: SECRET });
    const forged = signLocalToken('admin', { secret: 'not-the-server-secret', claims: { email: 'admin@example.com' } });
    await web.signIn(alice);
    await page.waitForFunction((name) => document.querySelector('#user').textContent === name, alice);
    const aliceToken = await storedToken();

    // Act: a forged token, then a real one declined, then the same accepted (while the page runs).
    await load(`#token=${forged}`);
    await page.waitForSelector('#notice:has-text("not valid here")');
    const afterForged = { user: await header(), token: await storedToken(), address: page.url(), asked: await page.isVisible('dialog') };
    await load(`#token=${bobToken}`);
    await page.waitForSelector('dialog[open]');
    const question = { title: await page.textContent('dialog[open] h2'), detail: await page.textContent('dialog[open] p') };
    await page.click('dialog[open] [data-answer=cancel]');
    await page.waitForFunction((name) => document.querySelector('#user').textContent === name, alice);
    const afterDeclined = { user: await header(), token: await storedToken() };
    await page.evaluate((token) => (location.hash = `#token=${token}`), bobToken);
    await page.click('dialog[open] [data-answer=confirm]');
    await page.waitForFunction((name) => document.querySelector('#user').textContent === name, bob);

    // Assess
    expect(afterForged).toEqual({ user: alice, token: aliceToken, address: `${web.relay.url}/`, asked: false });
    expect(question).toEqual({ title: `Sign in as ${bob}?`, detail: `You are signed in as ${alice}. The link you opened signs you in as ${bob} instead.` });
    expect(afterDeclined).toEqual({ user: alice, token: aliceToken });
    expect(await storedToken()).toBe(bobToken);
    expect(page.url()).toBe(`${web.relay.url}/`);
    expect(dialogs).toEqual([]);
  });

  it('the header names only an account the API accepted', async () => {
    // Prepare
    const { page } = web;
    const forged = signLocalToken('admin', { secret: 'not-the-server-secret', claims: { email: 'admin@example.com' } });
    const names: string[] = [];
    await page.exposeFunction('recordHeaderName', (name: string) => names.push(name));
    await page.addInitScript(() => {
      new MutationObserver(() => {
        const name = document.querySelector('#user')?.textContent;
        if (name) window.recordHeaderName(name);
      }).observe(document, { subtree: true, childList: true, characterData: true });
    });

    // Act
    await page.evaluate((token) => localStorage.setItem('chatbot.token', token), forged);
    await load('');
    await page.waitForSelector('#notice:has-text("Sign in again")');

    // Assess
    expect(names).toEqual([]);
    expect(await header()).toBe('');
  });

  it('at phone width the sidebar is a drawer (Escape closes it) and nothing scrolls sideways', async () => {
    // Prepare
    const { page } = web;
    await page.setViewportSize({ width: 390, height: 844 });
    await web.signIn(`phone-${randomUUID()}`);
    await sendMessage(page, `Show me the markdown demo ${'Pneumonoultramicroscopicsilicovolcanoconiosis'.repeat(3)}`);
    await waitForIdle(page);
    const widths = () =>
      page.evaluate(() =>
        ['html', 'body', '#scroller', '#messages', '.composer'].map((selector) => {
          const element = document.querySelector(selector);
          return { selector, fits: element.scrollWidth <= element.clientWidth };
        }),
      );
    const sidebarShown = () => page.isVisible('#sidebar');

    // Act
    const closed = { sidebar: await sidebarShown(), menu: await page.isVisible('#menu'), widths: await widths() };
    await page.focus('#menu');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => getComputedStyle(document.querySelector('#sidebar')).visibility === 'visible');
    const opened = {
      sidebar: await sidebarShown(),
      expanded: await page.getAttribute('#menu', 'aria-expanded'),
      focus: await page.evaluate(() => document.activeElement?.id),
      behindInert: await page.evaluate(() => document.querySelector('#chat').inert),
      widths: await widths(),
    };
    await page.keyboard.press('Escape');
    const afterEscape = { expanded: await page.getAttribute('#menu', 'aria-expanded'), focus: await page.evaluate(() => document.activeElement?.id) };
    await page.click('#menu');
    await page.click('#new-chat');
    const afterNewChat = { expanded: await page.getAttribute('#menu', 'aria-expanded'), title: await page.textContent('#conversation-title') };
    await page.click('#menu');
    await page.click('#list li .title');
    await page.waitForSelector('#messages .message.assistant .code-block');

    // Assess
    const allFit = [{ selector: 'html', fits: true }, { selector: 'body', fits: true }, { selector: '#scroller', fits: true }, { selector: '#messages', fits: true }, { selector: '.composer', fits: true }];
    expect(closed).toEqual({ sidebar: false, menu: true, widths: allFit });
    expect(opened).toEqual({ sidebar: true, expanded: 'true', focus: 'new-chat', behindInert: true, widths: allFit });
    expect(afterEscape).toEqual({ expanded: 'false', focus: 'menu' });
    expect(afterNewChat).toEqual({ expanded: 'false', title: 'New chat' });
    expect(await page.getAttribute('#menu', 'aria-expanded')).toBe('false');
    expect(await widths()).toEqual(allFit);
    expect(web.cspViolations).toEqual([]);
  });

  it('works from the keyboard alone: a sensible Tab order, a visible focus, Enter opens a conversation', async () => {
    // Prepare
    const { page } = web;
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.click('#new-chat');
    await sendMessage(page, 'A second one for the list');
    await waitForIdle(page);
    // Loaded afresh: the Tab order starts at the top of the page.
    await load(new URL(page.url()).hash);
    await page.waitForSelector('#messages .message.assistant');

    // Act
    const stops: { name: string; outlined: boolean }[] = [];
    for (let i = 0; i < 40 && stops.at(-1)?.name !== '#send'; i += 1) {
      await page.keyboard.press('Tab');
      stops.push(
        await page.evaluate(() => {
          const element = document.activeElement;
          const style = getComputedStyle(element);
          const name = element.id ? `#${element.id}` : element.dataset.action ? `[${element.dataset.action}]` : `${element.nodeName.toLowerCase()}.${element.className}`;
          return { name, outlined: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2 };
        }),
      );
    }
    const order = stops.map((stop) => stop.name);
    await page.focus('#list li:has-text("Debouncing in TypeScript") .title');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelector('#conversation-title')?.textContent === 'Debouncing in TypeScript');

    // Assess
    const at = (name: string) => order.indexOf(name);
    expect(order.slice(0, 3)).toEqual(['#new-chat', '#tab-chats', '#tab-archived']);
    expect(at('a.title')).toBeGreaterThan(at('#tab-archived'));
    expect(at('#sign-out')).toBeGreaterThan(at('a.title'));
    expect(at('[edit]')).toBeGreaterThan(at('#sign-out'));
    expect(at('[regenerate]')).toBeGreaterThan(at('[edit]'));
    expect(at('#input')).toBeGreaterThan(at('[regenerate]'));
    expect(order.at(-1)).toBe('#send');
    expect(stops.filter((stop) => !stop.outlined)).toEqual([]);
    expect(await page.locator('#messages .code-block').count()).toBe(1);
  });

  it.each([
    ['desktop', 1280, 800],
    ['phone', 390, 844],
  ])('has no serious or critical axe-core violation with a conversation open (%s width)', async (_name, width, height) => {
    // Prepare
    const { page } = web;
    await page.setViewportSize({ width, height });
    await page.waitForSelector('#messages .message.assistant .code-block');
    await page.evaluate(AXE_SOURCE);

    // Act
    const violations = (await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }).then((result: { violations: unknown[] }) => result.violations))) as AxeViolation[];
    const summary = violations.map((violation) => `${violation.impact} ${violation.id}: ${violation.help} (${violation.nodes.map((node) => node.target.join(' ')).join(', ')})`);
    if (summary.length > 0) console.log(`axe at ${width}px, below serious:\n${summary.join('\n')}`);

    // Assess
    expect(summary.filter((line) => /^(serious|critical) /.test(line))).toEqual([]);
    expect(web.cspViolations).toEqual([]);
  });

  it('paints a 100-message conversation (first paint logged)', async () => {
    // Prepare
    const { page } = web;
    const user = `long-${randomUUID()}`;
    const token = signLocalToken(user, { secret: SECRET });
    let turn = await postTurn(web.server.url, token, 'Message 1 of a long conversation');
    for (let i = 2; i <= 50; i += 1) turn = await postTurn(web.server.url, token, `Message ${i} of a long conversation`, turn);
    await page.evaluate((value) => localStorage.setItem('chatbot.token', value), token);
    await page.addInitScript(() => {
      // When all 100 are in the DOM, and the frame after that (painted).
      new MutationObserver((_records: unknown, observer: { disconnect(): void }) => {
        if (document.querySelectorAll('#messages .message').length < 100) return;
        observer.disconnect();
        window.__rendered = performance.now();
        requestAnimationFrame(() => setTimeout(() => (window.__painted = performance.now())));
      }).observe(document, { subtree: true, childList: true });
    });

    // Act
    await load(`#c/${turn.conversationId}`);
    await page.waitForFunction(() => window.__painted !== undefined);
    const timing = await page.evaluate(() => ({
      rendered: window.__rendered as number,
      painted: window.__painted as number,
      firstContentfulPaint: performance.getEntriesByName('first-contentful-paint')[0]?.startTime as number,
      messages: document.querySelectorAll('#messages .message').length,
      last: document.querySelector('#messages .message:last-child .text').textContent.trim(),
    }));
    console.log(
      `100-message conversation: all messages in the DOM ${timing.rendered.toFixed(0)} ms after navigation start, painted by ${timing.painted.toFixed(0)} ms ` +
        `(first contentful paint, the empty page, at ${timing.firstContentfulPaint?.toFixed(0)} ms)`,
    );

    // Assess
    expect(timing.messages).toBe(100);
    expect(timing.last).toBe('You said: Message 50 of a long conversation');
  });
});
