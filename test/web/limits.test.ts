/**
 * The per-user turn limit as a person meets it in the page: the turns left shown once a fifth
 * or less remain (from GET /limits), then the real 429 from the real server, its `Retry-After`
 * shown as "try again in N s", the draft kept.
 */
import { randomUUID } from 'node:crypto';
import { signLocalToken } from '../../local/auth';
import { postTurn } from './support/api';
import { sendMessage, waitForIdle, useWebHarness } from './support/browser';

// Read by the layer's config on first use: five turns per user per hour.
process.env.USER_TURN_LIMIT = '5';
process.env.USER_TURN_WINDOW_SECONDS = '3600';
process.env.LOCAL_MODEL_TOKEN_DELAY_MS = '0';
const SECRET = 'web-limits-secret';

declare const document: any;

describe('web client: the turn limit', () => {
  const web = useWebHarness({ jwtSecret: SECRET });
  const user = `web-${randomUUID()}`;
  const turnsLine = () => web.page.evaluate(() => (document.querySelector('#turns').hidden ? null : document.querySelector('#turns').textContent as string));

  it('shows the turns left once a fifth or less remain, without a request counting as a turn', async () => {
    // Prepare
    const { page } = web;
    await web.signIn(user);
    const token = signLocalToken(user, { secret: SECRET });
    const first = await postTurn(web.server.url, token, 'Turn one');
    await postTurn(web.server.url, token, 'Turn two', first);
    await postTurn(web.server.url, token, 'Turn three', first);
    const limitsRead = page.waitForResponse((res) => res.url().endsWith('/backend-api/limits'));
    await page.reload();
    await limitsRead;
    await page.waitForSelector('#app:not([hidden])');
    const atTwoLeft = await turnsLine();

    // Act
    await sendMessage(page, 'Turn four');
    await waitForIdle(page);
    await page.waitForSelector('#turns:not([hidden])');
    const atOneLeft = await turnsLine();
    await sendMessage(page, 'Turn five');
    await waitForIdle(page);
    await page.waitForFunction(() => document.querySelector('#turns').textContent.startsWith('No turns left'));

    // Assess
    expect(atTwoLeft).toBeNull();
    expect(atOneLeft).toMatch(/^1 of 5 turns left; one more at \d{1,2}:\d{2}/);
    expect(await turnsLine()).toMatch(/^No turns left until \d{1,2}:\d{2}/);
    expect(await page.getAttribute('#turns', 'class')).toContain('out');
  });

  it('the turn over the limit says when to try again and keeps the draft', async () => {
    // Prepare
    const { page } = web;
    const shown = await page.locator('#messages .message').count();

    // Act
    await sendMessage(page, 'One turn too many');
    await page.waitForSelector('#notice:not([hidden])');
    const notice = await page.textContent('#notice');

    // Assess
    expect(notice).toMatch(/^Too many requests\. Try again in \d+ s\./);
    const seconds = Number(/in (\d+) s/.exec(notice!)![1]);
    expect(seconds).toBeGreaterThan(3000);
    expect(seconds).toBeLessThanOrEqual(3600);
    expect(await page.inputValue('#input')).toBe('One turn too many');
    expect(await page.locator('#messages .message').count()).toBe(shown);
    expect(await turnsLine()).toMatch(/^No turns left until/);
  });
});
