/**
 * The sidebar in a real browser, against the real local server: rename, archive (and the
 * archived view), unarchive and delete (confirmed in the page), each checked on screen and
 * against the API the page called; and paging past the first 20 conversations with "Load more".
 */
import { randomUUID } from 'node:crypto';
import { signLocalToken } from '../../local/auth';
import { postTurn } from './support/api';
import { sendMessage, sidebarTitles, waitForIdle, useWebHarness } from './support/browser';

process.env.LOCAL_MODEL_TOKEN_DELAY_MS = '0';
const SECRET = 'web-sidebar-secret';

declare const document: any;

describe('web client: the sidebar', () => {
  const web = useWebHarness({ jwtSecret: SECRET });
  const user = `web-${randomUUID()}`;
  const token = signLocalToken(user, { secret: SECRET });
  const listed = async (archived = false) => {
    const res = await fetch(`${web.server.url}/backend-api/conversations${archived ? '?is_archived=true' : ''}`, { headers: { Authorization: `Bearer ${token}` } });
    return ((await res.json()) as { items: { title: string }[] }).items.map((item) => item.title);
  };

  beforeAll(async () => {
    await web.signIn(user);
    for (const text of ['Alpha topic here', 'Beta topic here', 'Gamma topic here']) {
      await web.page.click('#new-chat');
      await sendMessage(web.page, text);
      await waitForIdle(web.page);
    }
  }, 40_000);

  it('lists the conversations newest first', async () => {
    expect(await sidebarTitles(web.page)).toEqual(['Gamma topic here', 'Beta topic here', 'Alpha topic here']);
  });

  it('renames a conversation in place; the new title survives a reload', async () => {
    // Prepare
    const { page } = web;
    await page.click('#list li:has-text("Beta topic here") [data-action=rename]');

    // Act
    await page.fill('#list input.rename', 'Beta, renamed');
    await page.press('#list input.rename', 'Enter');
    await page.waitForSelector('#list li:has-text("Beta, renamed")');
    await page.reload();
    await page.waitForSelector('#list li:has-text("Beta, renamed")');

    // Assess
    expect(await sidebarTitles(page)).toContain('Beta, renamed');
    expect(await listed()).toContain('Beta, renamed');
  });

  it('archives a conversation: it leaves the list and shows in the archived view, from where it comes back', async () => {
    // Prepare
    const { page } = web;

    // Act
    await page.click('#list li:has-text("Alpha topic here") [data-action=archive]');
    await page.waitForFunction(() => !document.querySelector('#list')?.textContent?.includes('Alpha topic here'));
    const chats = await sidebarTitles(page);
    const apiArchived = await listed(true);
    await page.click('#tab-archived');
    await page.waitForSelector('#list li:has-text("Alpha topic here")');
    const archivedView = await sidebarTitles(page);
    await page.click('#list li:has-text("Alpha topic here") [data-action=archive]');
    await page.waitForFunction(() => document.querySelectorAll('#list li').length === 0);
    await page.click('#tab-chats');
    await page.waitForSelector('#list li:has-text("Alpha topic here")');

    // Assess
    expect(chats).not.toContain('Alpha topic here');
    expect(apiArchived).toEqual(['Alpha topic here']);
    expect(archivedView).toEqual(['Alpha topic here']);
    expect(await listed(true)).toEqual([]);
    expect(await listed()).toContain('Alpha topic here');
  });

  it('deletes a conversation after confirming; the open view goes back to a new chat', async () => {
    // Prepare
    const { page } = web;
    await page.click('#list li:has-text("Gamma topic here") .title');
    await page.waitForFunction(() => document.querySelector('#conversation-title')?.textContent === 'Gamma topic here');

    // Act
    await page.click('#list li:has-text("Gamma topic here") [data-action=delete]');
    const question = await page.textContent('dialog[open] h2');
    await page.click('dialog[open] [data-answer=confirm]');
    await page.waitForFunction(() => !document.querySelector('#list')?.textContent?.includes('Gamma topic here'));

    // Assess
    expect(question).toBe('Delete "Gamma topic here"?');
    expect(await sidebarTitles(page)).not.toContain('Gamma topic here');
    expect(await listed()).not.toContain('Gamma topic here');
    expect(await page.textContent('#conversation-title')).toBe('New chat');
    expect(await page.locator('#messages .message').count()).toBe(0);
  });

  it('cancelling the delete confirmation (Escape) keeps the conversation', async () => {
    // Prepare
    const { page } = web;

    // Act
    await page.click('#list li:has-text("Beta, renamed") [data-action=delete]');
    await page.waitForSelector('dialog[open]');
    await page.keyboard.press('Escape');
    await page.waitForSelector('dialog', { state: 'detached' });

    // Assess
    expect(await sidebarTitles(page)).toContain('Beta, renamed');
    expect(await listed()).toContain('Beta, renamed');
  });

  it('pages through more conversations than one page with "Load more", until the total', async () => {
    // Prepare
    const { page } = web;
    const many = `web-${randomUUID()}`;
    const manyToken = signLocalToken(many, { secret: SECRET });
    for (let i = 1; i <= 25; i += 1) await postTurn(web.server.url, manyToken, `Conversation number ${i}`);
    await web.signIn(many);
    await page.waitForFunction(() => document.querySelectorAll('#list li').length === 20);
    const pages: string[] = [];
    page.on('request', (request) => {
      const url = new URL(request.url());
      if (url.pathname === '/backend-api/conversations') pages.push(url.search);
    });
    const firstPage = await sidebarTitles(page);
    const moreShown = await page.isVisible('#more');

    // Act
    await page.focus('#more');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelectorAll('#list li').length === 25);
    const focused = await page.evaluate(() => document.activeElement?.textContent);

    // Assess
    expect(firstPage[0]).toBe('Conversation number 25');
    expect(firstPage[19]).toBe('Conversation number 6');
    expect(await sidebarTitles(page)).toEqual(Array.from({ length: 25 }, (_, i) => `Conversation number ${25 - i}`));
    expect(moreShown).toBe(true);
    expect(await page.isVisible('#more')).toBe(false);
    expect(pages).toEqual(['?offset=20&limit=20']);
    // The button went away: the keyboard carries on at the first conversation it brought.
    expect(focused).toBe('Conversation number 5');
  });
});
