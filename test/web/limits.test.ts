/**
 * The per-user turn limit as a person meets it in the page: the real 429 from the
 * real server, its `Retry-After` shown as "try again in N s", the draft kept.
 */
import { randomUUID } from 'node:crypto';
import { sendMessage, waitForIdle, useWebHarness } from './support/browser';

// Read by the layer's config on first use: one turn per user per hour.
process.env.USER_TURN_LIMIT = '1';
process.env.USER_TURN_WINDOW_SECONDS = '3600';
process.env.LOCAL_MODEL_TOKEN_DELAY_MS = '0';
const SECRET = 'web-limits-secret';

describe('web client: the turn limit', () => {
  const web = useWebHarness({ jwtSecret: SECRET });

  it('the turn over the limit says when to try again and keeps the draft', async () => {
    // Prepare
    const { page } = web;
    await web.signIn(`web-${randomUUID()}`);
    await sendMessage(page, 'The one allowed turn');
    await waitForIdle(page);

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
    expect(await page.locator('#messages .message').count()).toBe(2);
  });
});
