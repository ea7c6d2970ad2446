/**
 * Search and share links in a real browser against the real local server: the sidebar's search
 * (debounced as the person types, snippets, a result opens its conversation, "More results"
 * follows the cursor, Escape goes back to the list); the Share button (link shown and copied,
 * revoked); the public page at /share/<id> (read-only, no token) and "Continue this
 * conversation", signed out (sign in first) and signed in. Titles, share titles and snippets
 * carrying markup are shown as text. UPDATE_SCREENSHOTS=1 writes docs/screenshots/search.png
 * and share-page.png.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { signLocalToken } from '../../local/auth';
import { postTurn, type Turn } from './support/api';
import { sendMessage, waitForIdle, useWebHarness } from './support/browser';

process.env.LLM_PROVIDER = 'local';
process.env.LOCAL_MODEL_TOKEN_DELAY_MS = '0';
const SECRET = 'web-search-share-secret';
const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1';
const SHOTS = path.join(__dirname, '..', '..', 'docs', 'screenshots');
const TITLE_PAYLOAD = '<img src=x onerror=window.__pwned="title">Quokka facts';
const SHARE_TITLE_PAYLOAD = '<img src=x onerror=window.__pwned="share">Shared quokkas';
const MESSAGE_PAYLOAD = 'Quokka habits <img src=x onerror=window.__pwned="snippet"> on Rottnest';

declare const document: any;
declare const window: any;
declare const navigator: any;

describe('web client: search and share links', () => {
  const web = useWebHarness({ jwtSecret: SECRET });
  const owner = `web-${randomUUID()}`;
  const ownerToken = signLocalToken(owner, { secret: SECRET });
  const api = async (token: string, route: string, init: { method?: string; json?: unknown } = {}) => {
    const res = await fetch(`${web.server.url}/backend-api${route}`, {
      method: init.method ?? 'GET',
      headers: { Authorization: `Bearer ${token}`, ...(init.json ? { 'Content-Type': 'application/json' } : {}) },
      body: init.json ? JSON.stringify(init.json) : undefined,
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const pwned = (page: Page) => page.evaluate(() => window.__pwned ?? null);
  let quokka: Turn;
  let shareUrl = '';

  beforeAll(async () => {
    for (let i = 1; i <= 22; i += 1) await postTurn(web.server.url, ownerToken, `Zebra crossing note number ${i}`);
    quokka = await postTurn(web.server.url, ownerToken, MESSAGE_PAYLOAD);
    await api(ownerToken, `/conversation/${quokka.conversationId}`, { method: 'PATCH', json: { title: TITLE_PAYLOAD } });
    await web.signIn(owner);
    await web.page.waitForSelector('#list li');
  }, 60_000);

  it('searches as the person types (debounced), shows titles and snippets as text, and opens a result at its message', async () => {
    // Prepare
    const { page } = web;
    const searches: string[] = [];
    const listener = (request: { url(): string }) => {
      if (request.url().includes('/backend-api/conversations/search')) searches.push(new URL(request.url()).searchParams.get('query')!);
    };
    page.on('request', listener);

    // Act
    await page.click('#search');
    await page.keyboard.type('quokka hab', { delay: 20 });
    await page.waitForSelector('#results li');
    const result = await page.$eval('#results li', (li: any) => ({ title: li.querySelector('.title').textContent, snippet: li.querySelector('.snippet').textContent }));
    const listShown = await page.isVisible('#list');
    if (SCREENSHOTS) await page.locator('#sidebar').screenshot({ path: path.join(SHOTS, 'search.png') });
    await page.click('#results li a');
    await page.waitForFunction((id) => window.location.hash === `#c/${id}` && document.querySelector('#messages .message.user'), quokka.conversationId);
    page.off('request', listener);

    // Assess
    // Ten keystrokes, one search (two or three if the loaded machine stalled a keystroke past the pause).
    expect(searches.length).toBeLessThanOrEqual(3);
    expect(searches.at(-1)).toBe('quokka hab');
    expect(result.title).toBe(TITLE_PAYLOAD);
    // ts_headline drops what its parser reads as a tag; the rest is the message's words.
    expect(result.snippet).toContain('Quokka habits');
    expect(listShown).toBe(false);
    expect(await page.textContent('#conversation-title')).toBe(TITLE_PAYLOAD);
    expect(await page.textContent('#messages .message.user .text')).toBe(MESSAGE_PAYLOAD);
    expect(await page.locator('#app img').count()).toBe(0);
    expect(await pwned(page)).toBeNull();
  });

  it('pages with "More results" while the API has a cursor; Escape goes back to the list', async () => {
    // Prepare
    const { page } = web;
    await page.fill('#search', 'zebra');
    await page.waitForFunction(() => document.querySelectorAll('#results li').length === 20);
    const firstPage = await page.isVisible('#more-results');

    // Act
    await page.click('#more-results');
    await page.waitForFunction(() => document.querySelectorAll('#results li').length === 22);
    const ids = await page.$$eval('#results li', (nodes) => nodes.map((node: any) => node.getAttribute('data-id')));
    const moreAfter = await page.isVisible('#more-results');
    await page.fill('#search', 'no such word anywhere');
    await page.waitForSelector('#no-results:not([hidden])');
    await page.press('#search', 'Escape');

    // Assess
    expect(firstPage).toBe(true);
    expect(new Set(ids).size).toBe(22);
    expect(moreAfter).toBe(false);
    expect(await page.inputValue('#search')).toBe('');
    expect(await page.isVisible('#list')).toBe(true);
    expect(await page.isVisible('#results')).toBe(false);
  });

  it('shares the conversation on screen: the link is shown and copied', async () => {
    // Prepare
    const { page, context } = web;
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: web.relay.url });

    // Act
    await page.click('#share');
    await page.waitForSelector('#share-url');
    await page.waitForFunction(() => document.querySelector('#share-status').textContent === 'Link copied.');
    shareUrl = await page.inputValue('#share-url');
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    const shareId = /\/share\/([0-9a-f-]{36})$/.exec(shareUrl)?.[1];
    const publicRead = await fetch(`${web.server.url}/backend-api/share/${shareId}`);

    // Assess
    expect(shareUrl).toMatch(new RegExp(`^${web.relay.url}/share/[0-9a-f-]{36}$`));
    expect(copied).toBe(shareUrl);
    expect(publicRead.status).toBe(200);
    expect(((await publicRead.json()) as { current_node: string }).current_node).toBe(quokka.replyId);
    await page.press('#share-url', 'Escape');
    expect(await page.isVisible('#share-panel')).toBe(false);
  });

  it('shows a share link read-only to anyone, its title as text; "Continue" signs in first, then continues it as the reader\'s own conversation', async () => {
    // Prepare
    const shareId = /\/share\/([0-9a-f-]{36})$/.exec(shareUrl)![1];
    await api(ownerToken, `/share/${shareId}`, { method: 'PATCH', json: { title: SHARE_TITLE_PAYLOAD } });
    const reader = `reader-${randomUUID()}`;
    const context = await web.browser.newContext({ viewport: { width: 900, height: 640 } });
    const page = await context.newPage();
    try {
      // Act
      await page.goto(shareUrl);
      await page.waitForSelector('#messages .message.assistant .markdown');
      const view = await page.evaluate(() => ({
        title: document.querySelector('#conversation-title').textContent,
        messages: [...document.querySelectorAll('#messages .message')].map((node: any) => node.getAttribute('data-role')),
        tools: document.querySelectorAll('#messages .tools, #messages button').length,
        sidebar: document.querySelector('#sidebar').getBoundingClientRect().width,
        composer: document.querySelector('#composer').getBoundingClientRect().height,
        images: document.querySelectorAll('#app img').length,
      }));
      if (SCREENSHOTS) await page.screenshot({ path: path.join(SHOTS, 'share-page.png') });
      const pwnedOnShare = await pwned(page);
      await page.click('#continue-shared');
      await page.waitForSelector('#signin:not([hidden])');
      const askedToSignIn = await page.textContent('#signin .error');
      await page.fill('#signin-user', reader);
      await page.click('#signin button[type=submit]');
      await page.waitForSelector('#composer', { state: 'visible' });
      const shownBeforeSending = await page.locator('#messages .message').count();
      await sendMessage(page, 'Tell me more about them');
      await waitForIdle(page);
      const hash = await page.evaluate(() => `${window.location.pathname}${window.location.hash}`);
      const newId = /^\/#c\/(.+)$/.exec(hash)?.[1];
      const copy = await api(signLocalToken(reader, { secret: SECRET }), `/conversation/${newId}`);
      const texts = Object.values(copy.body.mapping as Record<string, { message?: { author: { role: string }; content: { parts: string[] } } }>)
        .filter((node) => node.message && node.message.author.role === 'user')
        .map((node) => node.message!.content.parts.join(''));

      // Assess
      expect(view).toEqual({ title: SHARE_TITLE_PAYLOAD, messages: ['user', 'assistant'], tools: 0, sidebar: 0, composer: 0, images: 0 });
      expect(pwnedOnShare).toBeNull();
      expect(askedToSignIn).toBe('Sign in to continue this conversation.');
      expect(shownBeforeSending).toBe(2);
      expect(newId).toBeDefined();
      expect(newId).not.toBe(quokka.conversationId);
      expect(copy.status).toBe(200);
      expect(texts.sort()).toEqual([MESSAGE_PAYLOAD, 'Tell me more about them'].sort());
      expect(await page.locator('#messages .message').count()).toBe(4);
      expect(await pwned(page)).toBeNull();
    } finally {
      await context.close();
    }
  });

  it('signed in, "Continue this conversation" goes straight to the message box', async () => {
    // Prepare
    const { page } = web;

    // Act
    await page.goto(shareUrl);
    await page.click('#continue-shared');
    await page.waitForSelector('#composer', { state: 'visible' });

    // Assess
    expect(await page.isVisible('#signin')).toBe(false);
    expect(await page.isVisible('#sidebar')).toBe(true);
    // The reader's own app around it: their conversations listed.
    await page.waitForFunction(() => document.querySelectorAll('#list li').length === 20);
    expect(await page.locator('#messages .message').count()).toBe(2);
    expect(await page.evaluate(() => document.activeElement.id)).toBe('input');
    // A new chat leaves the share's address for the page's own.
    await page.click('#new-chat');
    expect(await page.evaluate(() => window.location.pathname)).toBe('/');
    expect(await page.locator('#messages .message').count()).toBe(0);
  });

  it('revokes a link from the Share panel: the page at the link then says it is gone', async () => {
    // Prepare
    const { page } = web;
    await page.goto(`${web.relay.url}/#c/${quokka.conversationId}`);
    await page.waitForSelector('#share:not([hidden])');
    await page.click('#share');
    await page.waitForSelector('#share-url');
    const again = await page.inputValue('#share-url');

    // Act
    await page.click('[data-action=revoke-link]');
    await page.waitForFunction(() => document.querySelector('#share-status').textContent.startsWith('Link revoked'));
    const publicRead = await fetch(`${web.server.url}/backend-api/share/${/([0-9a-f-]{36})$/.exec(shareUrl)![1]}`);
    await page.goto(shareUrl);
    await page.waitForSelector('#notice:not([hidden])');

    // Assess
    expect(again).toBe(shareUrl);
    expect(publicRead.status).toBe(404);
    expect(await page.textContent('#notice')).toContain('This shared link does not exist or was revoked.');
    expect(await page.locator('#messages .message').count()).toBe(0);
    expect(web.pageErrors).toEqual([]);
    expect(web.cspViolations).toEqual([]);
  });
});
