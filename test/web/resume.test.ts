/**
 * A dropped connection mid-reply in a real browser (docs/api.md#resumable-replies): the relay between the page and the
 * server resets every open connection while the reply streams; the page asks `stream_status`,
 * resumes from the frames it has and ends with the whole reply, the same text the server stored.
 */
import { randomUUID } from 'node:crypto';
import { signLocalToken } from '../../local/auth';
import { recordPaints, paints, sendMessage, transcript, waitForIdle, useWebHarness } from './support/browser';

// Slow enough to cut the connection in the middle of the reply (about 25 tokens).
process.env.LOCAL_MODEL_TOKEN_DELAY_MS = '80';
const SECRET = 'web-resume-secret';

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
});
