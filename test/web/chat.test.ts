/**
 * The reference web client in a real browser (Debian chromium via playwright-core) against the
 * real local server, Postgres and Redis: streaming, the sidebar title, reload, edit-as-branch,
 * regenerate, and the error states a person sees (the network and a 503 are faked at the
 * browser's network layer; the real 429 is in limits.test.ts).
 */
import { randomUUID } from 'node:crypto';
import { paints, recordPaints, sendMessage, sidebarTitles, transcript, waitForIdle, useWebHarness } from './support/browser';

// Read by the layer's config on first use: slow enough that a reply takes several frames to arrive.
process.env.LOCAL_MODEL_TOKEN_DELAY_MS = '30';
const SECRET = 'web-chat-secret';

declare const document: any;

describe('web client: chatting in a real browser', () => {
  const web = useWebHarness({ jwtSecret: SECRET });

  it('streams a reply in visibly, shows the title in the sidebar, and a reload restores the conversation', async () => {
    // Prepare
    const { page } = web;
    await web.signIn(`web-${randomUUID()}`);
    await recordPaints(page);

    // Act
    await sendMessage(page, 'Plan a picnic by the river');
    await waitForIdle(page);
    const seen = await paints(page);
    await page.waitForFunction(() => document.querySelector('#list li .title')?.textContent !== 'New chat');
    const titles = await sidebarTitles(page);
    const before = await transcript(page);
    const url = page.url();
    await page.reload();
    await page.waitForSelector('#messages .message.assistant');
    const after = await transcript(page);

    // Assess
    expect(seen.length).toBeGreaterThan(2);
    expect(seen.at(-1)!.length).toBeGreaterThan(seen[0].length);
    expect(before).toEqual(['user: Plan a picnic by the river', expect.stringMatching(/^assistant: You said: "Plan a picnic by the river"/)]);
    expect(before[1]).toContain(seen.at(-1)!.trim());
    expect(titles).toEqual(['Plan a picnic by the river']);
    expect(url).toMatch(/#c\/[0-9a-f-]{36}$/);
    expect(after).toEqual(before);
    expect(await page.textContent('#conversation-title')).toBe('Plan a picnic by the river');
  });

  it('Shift+Enter adds a line and Enter sends the message with it', async () => {
    // Prepare
    const { page } = web;
    await page.click('#new-chat');

    // Act
    await page.type('#input', 'first line');
    await page.press('#input', 'Shift+Enter');
    await page.type('#input', 'second line');
    const draft = await page.inputValue('#input');
    await page.press('#input', 'Enter');
    await waitForIdle(page);

    // Assess
    expect(draft).toBe('first line\nsecond line');
    expect((await transcript(page))[0]).toBe('user: first line\nsecond line');
    expect(await page.inputValue('#input')).toBe('');
  });

  it('editing a message creates a branch; both versions stay reachable', async () => {
    // Prepare
    const { page } = web;
    await page.click('#new-chat');
    await sendMessage(page, 'Name a colour');
    await waitForIdle(page);
    await sendMessage(page, 'Name a fruit');
    await waitForIdle(page);

    // Act
    await page.click('#messages .message.user:nth-of-type(3) [data-action=edit]');
    await page.fill('#messages textarea.edit', 'Name a vegetable');
    await page.click('[data-action=save-edit]');
    await waitForIdle(page);
    const edited = await transcript(page);
    const counter = await page.textContent('#messages .message.user:nth-of-type(3) .branch');
    await page.click('#messages .message.user:nth-of-type(3) [aria-label="Previous version"]');
    const original = await transcript(page);

    // Assess
    expect(edited).toHaveLength(4);
    expect(edited[2]).toBe('user: Name a vegetable');
    expect(edited[3]).toMatch(/^assistant: You said: "Name a vegetable"/);
    expect(counter).toBe('2/2');
    expect(original[2]).toBe('user: Name a fruit');
    expect(original[3]).toMatch(/^assistant: You said: "Name a fruit"/);
  });

  it('regenerate adds another answer to the same question', async () => {
    // Prepare
    const { page } = web;
    await page.click('#new-chat');
    await sendMessage(page, 'Say something twice');
    await waitForIdle(page);

    // Act
    await page.click('#messages .message.assistant [data-action=regenerate]');
    await waitForIdle(page);

    // Assess
    expect(await transcript(page)).toEqual(['user: Say something twice', expect.stringMatching(/^assistant: You said: "Say something twice"/)]);
    expect(await page.textContent('#messages .message.assistant .branch')).toBe('2/2');
  });

  it('Stop ends the reply early; what was said so far is kept', async () => {
    // Prepare
    const { page } = web;
    await web.signIn(`web-${randomUUID()}`);
    await sendMessage(page, 'Tell me a long story [[local-model:slow]]');
    await page.waitForFunction(() => (document.querySelector('.message.assistant.streaming .text')?.textContent ?? '').split(' ').filter(Boolean).length >= 4);

    // Act
    await page.click('#stop');
    await waitForIdle(page);
    await page.waitForFunction(() => document.querySelector('#messages .message.assistant .status')?.textContent === 'Stopped before the end.', undefined, { timeout: 5000 });
    const shown = await transcript(page);

    // Assess
    expect(shown[0]).toBe('user: Tell me a long story [[local-model:slow]]');
    expect(shown[1]).toMatch(/^assistant: You said: "Tell/);
    expect(shown[1]).not.toContain('not an LLM.)');
    expect(await page.isVisible('#notice')).toBe(false);
  });

  it('an expired session says to sign in again and leads back to the sign-in form', async () => {
    // Prepare
    const { page } = web;
    await page.evaluate(() => localStorage.setItem('chatbot.token', 'not-a-valid-token'));
    await page.click('#new-chat');

    // Act
    await sendMessage(page, 'Anyone there?');
    await page.waitForSelector('#notice:not([hidden])');
    const notice = await page.textContent('#notice');
    await page.click('#notice button');

    // Assess
    expect(notice).toContain('Sign in again');
    expect(await page.isVisible('#signin-user')).toBe(true);
  });

  it('the composer empties as a message is sent, and gets the text back when the send is refused', async () => {
    // Prepare
    const { page } = web;
    await web.signIn(`web-${randomUUID()}`);
    let release: () => void = () => undefined;
    const answered = new Promise<void>((resolve) => (release = resolve));
    // A 503 that arrives only when the test lets it: the composer is seen while the send is pending.
    await page.route('**/backend-api/f/conversation', async (route) => {
      await answered;
      await route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ detail: { retry_after: 2, code: 'database_unavailable' } }) });
    });

    // Act
    await sendMessage(page, 'Refused, then kept');
    const whileSending = await page.inputValue('#input');
    release();
    await page.waitForFunction(() => document.querySelector('#notice')?.textContent?.includes('temporarily unavailable'));
    const afterRefusal = await page.inputValue('#input');
    await page.unroute('**/backend-api/f/conversation');

    // Assess
    expect(whileSending).toBe('');
    expect(afterRefusal).toBe('Refused, then kept');
    expect(await page.locator('#messages .message').count()).toBe(0);
  });

  it('a lost network and an unavailable service each say what happened and keep the draft', async () => {
    // Prepare
    const { page } = web;
    await web.signIn(`web-${randomUUID()}`);
    await page.route('**/backend-api/f/conversation', (route) => route.abort('internetdisconnected'));

    // Act
    await sendMessage(page, 'Is the network up?');
    await page.waitForSelector('#notice:not([hidden])');
    const offline = await page.textContent('#notice');
    await page.unroute('**/backend-api/f/conversation');
    await page.route('**/backend-api/f/conversation', (route) =>
      route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ detail: { retry_after: 5, code: 'database_unavailable' } }) }),
    );
    await page.press('#input', 'Enter');
    await page.waitForFunction(() => document.querySelector('#notice')?.textContent?.includes('temporarily unavailable'));
    const unavailable = await page.textContent('#notice');
    await page.unroute('**/backend-api/f/conversation');

    // Assess
    expect(offline).toContain('Cannot reach the server');
    expect(unavailable).toContain('try again in 5 s');
    expect(await page.inputValue('#input')).toBe('Is the network up?');
  });
});
