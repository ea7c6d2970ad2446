/**
 * The model picker and the thumbs in a real browser against the real local server: the picker
 * lists `GET /models` (a model's title is text, never markup), a turn goes out with the picked
 * model and the reply is that model's, a conversation shows the model of its last reply when it
 * is opened again, a new chat the default; a rating shows as the pressed thumb, replaces the
 * previous one and survives a reload. UPDATE_SCREENSHOTS=1 writes docs/web-client.png and
 * docs/screenshots/picker.png and thumbs.png from this run.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { signLocalToken } from '../../local/auth';
import { sendMessage, waitForIdle, useWebHarness } from './support/browser';

const PAYLOAD_MODEL_TITLE = '<img src=x onerror=window.__pwned="model">Echo';
process.env.LLM_PROVIDER = 'local';
process.env.LLM_MODELS = JSON.stringify([
  { id: 'local-offline-model', title: PAYLOAD_MODEL_TITLE, description: '<b onmouseover=window.__pwned="description">Repeats</b>' },
  { id: 'local-long-answer', title: 'Offline long answer' },
]);
delete process.env.LLM_DEFAULT_MODEL;
delete process.env.LLM_TITLE_MODEL;
process.env.LOCAL_MODEL_TOKEN_DELAY_MS = '0';
const SECRET = 'web-models-secret';
const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1';
const DOCS = path.join(__dirname, '..', '..', 'docs');

declare const document: any;
declare const window: any;

interface Detail {
  readonly current_node: string;
  readonly mapping: Record<string, { message?: { author: { role: string }; metadata?: { model_slug?: string; feedback?: { rating: string } } } }>;
}

describe('web client: model picker and ratings', () => {
  const web = useWebHarness({ jwtSecret: SECRET });
  const user = `web-${randomUUID()}`;
  const token = signLocalToken(user, { secret: SECRET });
  const detail = async (id: string): Promise<Detail> => {
    const res = await fetch(`${web.server.url}/backend-api/conversation/${id}`, { headers: { Authorization: `Bearer ${token}` } });
    return (await res.json()) as Detail;
  };
  const openId = () => web.page.evaluate(() => decodeURIComponent(/^#c\/(.+)$/.exec(window.location.hash)?.[1] ?? ''));
  const picked = () => web.page.$eval('#model', (select: any) => ({ value: select.value, shown: select.selectedOptions[0]?.textContent }));
  let echoConversation = '';
  let longConversation = '';

  beforeAll(async () => {
    await web.signIn(user);
    await web.page.waitForSelector('#model:not([hidden]) option', { state: 'attached' });
  });

  it('lists the models by title, as text; a new chat shows the default', async () => {
    // Act
    const options = await web.page.$$eval('#model option', (nodes) => nodes.map((node: any) => ({ value: node.value, text: node.textContent, title: node.title })));

    // Assess
    expect(options).toEqual([
      { value: 'local-offline-model', text: PAYLOAD_MODEL_TITLE, title: '<b onmouseover=window.__pwned="description">Repeats</b>' },
      { value: 'local-long-answer', text: 'Offline long answer', title: '' },
    ]);
    expect(await picked()).toEqual({ value: 'local-offline-model', shown: PAYLOAD_MODEL_TITLE });
    expect(await web.page.evaluate(() => window.__pwned ?? null)).toBeNull();
    expect(await web.page.locator('#app img').count()).toBe(0);
  });

  it('sends the picked model: the reply is that model\'s and the conversation keeps showing it', async () => {
    // Prepare
    const { page } = web;
    await sendMessage(page, 'Echo this please');
    await waitForIdle(page);
    echoConversation = await openId();
    await page.click('#new-chat');

    // Act
    await page.selectOption('#model', 'local-long-answer');
    await sendMessage(page, 'Explain debouncing');
    await waitForIdle(page);
    longConversation = await openId();
    const echoDetail = await detail(echoConversation);
    const longDetail = await detail(longConversation);
    await page.click(`#list li[data-id="${echoConversation}"] .title`);
    // The hash changes at the click, before the detail arrives: wait for the echo conversation's own messages.
    const echoMessages = Object.keys(echoDetail.mapping);
    await page.waitForFunction((ids) => ids.includes(document.querySelector('#messages .message')?.getAttribute('data-id')), echoMessages);
    const onEcho = await picked();
    await page.click(`#list li[data-id="${longConversation}"] .title`);
    await page.waitForFunction((id) => window.location.hash.endsWith(id) && document.querySelector('#messages .markdown h2'), longConversation);
    const onLong = await picked();
    await page.reload();
    await page.waitForSelector('#messages .markdown h2');
    await page.waitForSelector('#model option', { state: 'attached' });
    const afterReload = await picked();
    await page.click('#new-chat');
    const onNew = await picked();

    // Assess
    expect(echoDetail.mapping[echoDetail.current_node].message!.metadata!.model_slug).toBe('local-offline-model');
    expect(longDetail.mapping[longDetail.current_node].message!.metadata!.model_slug).toBe('local-long-answer');
    expect(onEcho.value).toBe('local-offline-model');
    expect([onLong.value, afterReload.value]).toEqual(['local-long-answer', 'local-long-answer']);
    expect(onNew.value).toBe('local-offline-model');
  });

  it('shows the current rating as the pressed thumb; a second rating replaces it and survives a reload', async () => {
    // Prepare
    const { page } = web;
    await page.goto(`${web.relay.url}/#c/${longConversation}`);
    await page.waitForSelector('#messages .message.assistant [data-action=thumbs-up]');
    const pressed = () =>
      page.$$eval('#messages .message.assistant [data-action^=thumbs]', (nodes) => nodes.map((node: any) => `${node.getAttribute('data-action')}=${node.getAttribute('aria-pressed')}`));
    const before = await pressed();

    // Act
    await page.click('#messages .message.assistant [data-action=thumbs-up]');
    await page.waitForSelector('#messages .message.assistant [data-action=thumbs-up][aria-pressed=true]');
    const afterUp = (await detail(longConversation)).mapping;
    await page.click('#messages .message.assistant [data-action=thumbs-down]');
    await page.waitForSelector('#messages .message.assistant [data-action=thumbs-down][aria-pressed=true]');
    const stored = await detail(longConversation);
    await page.reload();
    await page.waitForSelector('#messages .message.assistant [data-action=thumbs-down]');
    const afterReload = await pressed();

    // Assess
    expect(before).toEqual(['thumbs-up=false', 'thumbs-down=false']);
    expect(Object.values(afterUp).find((node) => node.message?.metadata?.feedback)?.message?.metadata?.feedback?.rating).toBe('thumbsUp');
    expect(stored.mapping[stored.current_node].message!.metadata!.feedback!.rating).toBe('thumbsDown');
    expect(afterReload).toEqual(['thumbs-up=false', 'thumbs-down=true']);
    // A user message has no thumbs.
    expect(await page.locator('#messages .message.user [data-action^=thumbs]').count()).toBe(0);
    expect(web.pageErrors).toEqual([]);
    expect(web.cspViolations).toEqual([]);
  });

  it('fits a phone: the picker, Share and the thumbs at 390 px with nothing scrolling sideways', async () => {
    // Prepare
    const { page } = web;
    await page.setViewportSize({ width: 390, height: 800 });

    // Act
    await page.goto(`${web.relay.url}/#c/${longConversation}`);
    await page.waitForSelector('#messages .message.assistant [data-action=thumbs-up]');
    const layout = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      picker: document.querySelector('#model').getBoundingClientRect().right,
      share: document.querySelector('#share').getBoundingClientRect().right,
    }));

    // Assess
    expect(layout.scrollWidth).toBeLessThanOrEqual(390);
    expect(layout.picker).toBeLessThanOrEqual(390);
    expect(layout.share).toBeLessThanOrEqual(390);
    await page.setViewportSize({ width: 1100, height: 700 });
  });

  it('regenerates with another model: the new variant is that model\'s, the earlier one keeps its own', async () => {
    // Prepare
    const { page } = web;
    await page.goto(`${web.relay.url}/#c/${echoConversation}`);
    await page.waitForSelector('#messages .message.assistant [data-action=regenerate]');
    await page.waitForSelector('#model option', { state: 'attached' });

    // Act
    await page.selectOption('#model', 'local-long-answer');
    await page.click('#messages .message.assistant [data-action=regenerate]');
    await waitForIdle(page);
    await page.waitForSelector('#messages .message.assistant .markdown h2');
    const stored = await detail(echoConversation);
    await page.reload();
    await page.waitForSelector('#messages .message.assistant .markdown h2');
    await page.waitForSelector('#model option', { state: 'attached' });

    // Assess
    const replies = Object.values(stored.mapping).filter((node) => node.message?.author.role === 'assistant').map((node) => node.message!.metadata!.model_slug);
    expect(replies).toEqual(['local-offline-model', 'local-long-answer']);
    expect(stored.mapping[stored.current_node].message!.metadata!.model_slug).toBe('local-long-answer');
    expect((await picked()).value).toBe('local-long-answer');
    expect(await page.textContent('#messages .message.assistant .branch')).toBe('2/2');
  });

  it('takes the pictures of the README and docs/screenshots when asked to (UPDATE_SCREENSHOTS=1)', async () => {
    // Prepare
    const { page } = web;
    await page.setViewportSize({ width: 1100, height: 760 });
    await page.goto(`${web.relay.url}/#c/${longConversation}`);
    await page.waitForSelector('#messages .message.assistant [data-action=thumbs-down][aria-pressed=true]');
    await page.waitForSelector('#model option', { state: 'attached' });

    // Act
    // The end of the reply: its code block and the thumbs under it.
    await page.evaluate(() => document.querySelector('#messages .message.assistant:last-child .tools').scrollIntoView({ block: 'end' }));
    const shots = SCREENSHOTS
      ? [
          await page.screenshot({ path: path.join(DOCS, 'web-client.png') }),
          await page.locator('.chat header').screenshot({ path: path.join(DOCS, 'screenshots', 'picker.png') }),
          await page.locator('#messages .message.assistant').last().locator('.tools').screenshot({ path: path.join(DOCS, 'screenshots', 'thumbs.png') }),
        ]
      : [];

    // Assess
    expect(shots.every((shot) => shot.length > 1000)).toBe(true);
    expect(await page.locator('#messages .message.assistant .markdown pre code').count()).toBeGreaterThan(0);
  });
});
