/**
 * Replies that outlive a connection, in a real browser. A dropped connection mid-reply: the relay
 * between the page and the server resets every open connection while the reply streams; the page
 * asks `stream_status`, resumes from the frames it has and ends with the whole reply, the same
 * text the server stored. A reply still streaming when a page opens the conversation (a second
 * tab, a reload): the page follows it from frame 0 to its end without posting the turn again.
 */
import { randomUUID } from 'node:crypto';
import type { Page } from 'playwright-core';
import { signLocalToken } from '../../local/auth';
import { recordPaints, paints, sendMessage, transcript, waitForIdle, useWebHarness } from './support/browser';

// Slow enough to cut the connection in the middle of the reply (about 25 tokens).
process.env.LOCAL_MODEL_TOKEN_DELAY_MS = '80';
const SECRET = 'web-resume-secret';
const FOLLOWED = 'Follow this reply from elsewhere please, from another tab and after a reload, all the way to its end';

declare const document: any;

describe('web client: a dropped connection mid-reply', () => {
  const web = useWebHarness({ jwtSecret: SECRET });
  const user = `web-${randomUUID()}`;

  it('resumes from where it stopped and shows the full reply', async () => {
    // Prepare
    const { page, relay } = web;
    await web.signIn(user);
    const resumeBodies: unknown[] = [];
    page.on('request', (request) => {
      if (request.url().endsWith('/backend-api/f/conversation/resume')) resumeBodies.push(request.postDataJSON());
    });
    await recordPaints(page);
    await sendMessage(page, 'Tell me about rivers and lakes please');
    await page.waitForFunction(() => (document.querySelector('.message.assistant.streaming .text')?.textContent ?? '').split(' ').length >= 4);

    // Act
    const cut = relay.cut();
    const beforeCut = (await paints(page)).at(-1)!;
    await waitForIdle(page);
    const shown = await transcript(page);
    const conversationId = /#c\/(.+)$/.exec(page.url())![1];
    const res = await fetch(`${web.server.url}/backend-api/conversation/${conversationId}`, {
      headers: { Authorization: `Bearer ${signLocalToken(user, { secret: SECRET })}` },
    });
    const stored = (await res.json()) as { current_node: string; mapping: Record<string, { message?: { status: string; content: { parts: string[] } } }> };
    const reply = stored.mapping[stored.current_node].message!;

    // Assess
    expect(cut).toBeGreaterThan(0);
    expect(resumeBodies).toEqual([expect.objectContaining({ conversation_id: conversationId, offset: expect.any(Number), token: expect.any(String) })]);
    expect((resumeBodies[0] as { offset: number }).offset).toBeGreaterThan(2);
    expect(await page.isVisible('#notice')).toBe(false);
    expect(reply.status).toBe('finished_successfully');
    expect(reply.content.parts[0]).toMatch(/^You said: "Tell me about rivers and lakes please".*not an LLM\.\)$/);
    expect(reply.content.parts[0].startsWith(beforeCut.trim())).toBe(true);
    expect(shown).toEqual(['user: Tell me about rivers and lakes please', `assistant: ${reply.content.parts[0]}`]);
  });

  it('a reload and a second tab mid-reply follow the running reply from frame 0, posting nothing; leaving it does not stop it', async () => {
    // Prepare
    const { page, context, relay } = web;
    await web.signIn(user);
    // About 40 tokens, 80 ms apart: time enough to reload and open a tab while it streams.
    await sendMessage(page, FOLLOWED);
    await page.waitForFunction(() => (document.querySelector('.message.assistant.streaming .text')?.textContent ?? '').split(' ').length >= 4);
    const conversationId = decodeURIComponent(/#c\/(.+)$/.exec(page.url())![1]);
    const second = await context.newPage();
    const calls = { reloaded: watchReplyCalls(page), second: watchReplyCalls(second) };

    // Act: the reloaded tab follows to the end; the second one follows, leaves for a new chat, and comes back.
    await Promise.all([second.goto(`${relay.url}/#c/${conversationId}`), page.reload()]);
    const [reloaded] = await Promise.all([
      (async () => {
        await page.waitForSelector('.message.assistant.streaming');
        const early = (await page.textContent('.message.assistant.streaming .text')) ?? '';
        await waitForIdle(page);
        return { early, shown: await transcript(page) };
      })(),
      (async () => {
        await second.waitForSelector('.message.assistant.streaming');
        await second.click('#new-chat');
        await second.click(`#list li[data-id="${conversationId}"] .title`);
        await second.waitForSelector('#messages .message.assistant');
        await waitForIdle(second);
      })(),
    ]);
    const secondShown = await transcript(second);
    const stored = await storedReply(conversationId);
    await second.close();

    // Assess
    expect(calls.reloaded).toEqual({ statusChecks: expect.any(Number), resumes: [{ conversation_id: conversationId, offset: 0 }], posts: 0, stops: 0 });
    expect(calls.reloaded.statusChecks).toBeGreaterThan(0);
    expect(reloaded.shown).toEqual([`user: ${FOLLOWED}`, `assistant: ${stored}`]);
    expect(stored.startsWith(reloaded.early.trim())).toBe(true);
    expect(reloaded.early.length).toBeLessThan(stored.length);
    expect(calls.second.resumes[0]).toEqual({ conversation_id: conversationId, offset: 0 });
    expect(calls.second.posts).toBe(0);
    expect(calls.second.stops).toBe(0);
    expect(secondShown).toEqual([`user: ${FOLLOWED}`, `assistant: ${stored}`]);
    expect(stored).toMatch(/^You said: "Follow this reply from elsewhere please, from another tab and after a reload, all the way to its end"\..*not an LLM\.\)$/);
    expect(await page.isVisible('#notice')).toBe(false);
  });

  /** The reply-related requests a tab makes from now on. */
  function watchReplyCalls(tab: Page): { statusChecks: number; resumes: unknown[]; posts: number; stops: number } {
    const seen = { statusChecks: 0, resumes: [] as unknown[], posts: 0, stops: 0 };
    tab.on('request', (request) => {
      const url = new URL(request.url());
      if (url.pathname.endsWith('/stream_status')) seen.statusChecks += 1;
      else if (url.pathname === '/backend-api/f/conversation/resume') seen.resumes.push(request.postDataJSON());
      else if (url.pathname === '/backend-api/f/conversation' && request.method() === 'POST') seen.posts += 1;
      else if (url.pathname.endsWith('/stop')) seen.stops += 1;
    });
    return seen;
  }

  async function storedReply(conversationId: string): Promise<string> {
    const res = await fetch(`${web.server.url}/backend-api/conversation/${conversationId}`, {
      headers: { Authorization: `Bearer ${signLocalToken(user, { secret: SECRET })}` },
    });
    const stored = (await res.json()) as { current_node: string; mapping: Record<string, { message?: { content: { parts: string[] } } }> };
    return stored.mapping[stored.current_node].message!.content.parts[0];
  }
});
