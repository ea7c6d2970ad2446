/**
 * Browser tests' harness: Debian's chromium driven by playwright-core (Playwright's own browser
 * download cannot work here), against the real local server on the run's Postgres and Redis, behind a
 * TCP relay the test can cut to drop every open connection the way a lost network does.
 */
import { existsSync } from 'node:fs';
import { createServer, type Server, type Socket, connect } from 'node:net';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { LocalServer } from '../../../local/server';

// Browser globals used inside page.evaluate callbacks: the tests' type-check has no DOM lib.
declare const document: any;
declare const window: any;
declare const localStorage: any;
declare function requestAnimationFrame(callback: () => void): number;

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** A relay in front of the server whose open connections can be cut at once. */
export interface Relay {
  readonly url: string;
  /** Destroys every open connection (new ones are accepted again right away). */
  cut(): number;
  close(): Promise<void>;
}

/** A relay to `targetPort()`, read per connection (the relay can start before its target). */
export async function startRelay(targetPort: () => number): Promise<Relay> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort(), '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    cut() {
      const count = sockets.size;
      // A reset, not a clean close: the browser sees a network error mid-stream.
      for (const socket of sockets) socket.resetAndDestroy();
      return count;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The page, the browser and the server of one test file. */
export interface WebHarness {
  readonly server: LocalServer;
  readonly relay: Relay;
  readonly browser: Browser;
  readonly context: BrowserContext;
  readonly page: Page;
  /** Content-Security-Policy violations the browser reported on any page of the context so far. */
  readonly cspViolations: string[];
  /** Uncaught errors of the page's own code so far. */
  readonly pageErrors: string[];
  /** Opens the page signed in as `user` through the local sign-in form. */
  signIn(user: string): Promise<void>;
  close(): Promise<void>;
}

export async function startWebHarness(options: { readonly jwtSecret: string }): Promise<WebHarness> {
  if (!existsSync(CHROMIUM_PATH)) throw new Error(`${CHROMIUM_PATH} is missing: apt-get install -y chromium (.ci/run does it)`);
  const { startLocalServer } = await import('../../../local/server');
  let serverPort = 0;
  const relay = await startRelay(() => serverPort);
  // The page is opened through the relay, so its Host names the relay's port.
  const server = await startLocalServer({ port: 0, jwtSecret: options.jwtSecret, log: () => undefined, relayPorts: [Number(new URL(relay.url).port)] });
  serverPort = server.port;
  // Playwright gives every launch a fresh temporary profile (--user-data-dir) and removes it on close.
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    timeout: 20_000,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // A page a test serves through request interception counts as public to Chromium, which
      // would then ask permission for every request to the loopback API (Local Network Access).
      '--disable-features=LocalNetworkAccessChecks',
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
  context.setDefaultTimeout(10_000);
  const cspViolations: string[] = [];
  const pageErrors: string[] = [];
  context.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
  });
  context.on('weberror', (error) => pageErrors.push(String(error.error())));
  const page = await context.newPage();
  const harness: WebHarness = {
    server,
    relay,
    browser,
    context,
    page,
    cspViolations,
    pageErrors,
    async signIn(user) {
      await page.goto(`${relay.url}/`);
      await page.evaluate(() => localStorage.clear());
      await page.goto(`${relay.url}/`);
      await page.fill('#signin-user', user);
      await page.click('#signin button[type=submit]');
      await page.waitForSelector('#app:not([hidden])');
    },
    async close() {
      await browser.close().catch(() => undefined);
      await relay.close();
      await server.close();
    },
  };
  return harness;
}

/**
 * Starts a harness before this file's tests and closes it, and the layer's pools, after
 * them. The object returned forwards to the running harness.
 */
export function useWebHarness(options: { readonly jwtSecret: string }): WebHarness {
  let current: WebHarness | undefined;
  beforeAll(async () => {
    current = await startWebHarness(options);
  }, 30_000);
  afterAll(async () => {
    await current?.close();
    const shared = await import('@chatbot/shared/testing');
    await Promise.all([shared.closeDatabase(), shared.closeRedis()]);
  });
  const running = (): WebHarness => {
    if (!current) throw new Error('The web harness is not running (use it inside tests and hooks)');
    return current;
  };
  return {
    get server() {
      return running().server;
    },
    get relay() {
      return running().relay;
    },
    get browser() {
      return running().browser;
    },
    get context() {
      return running().context;
    },
    get page() {
      return running().page;
    },
    get cspViolations() {
      return running().cspViolations;
    },
    get pageErrors() {
      return running().pageErrors;
    },
    signIn: (user) => running().signIn(user),
    close: () => running().close(),
  };
}

/**
 * Records, on every animation frame, the streaming reply's text whenever it changed: how many
 * distinct states a person saw before the reply ended.
 */
export async function recordPaints(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as { __paints: string[] };
    w.__paints = [];
    const tick = () => {
      const text = document.querySelector('.message.assistant.streaming .text')?.textContent ?? '';
      if (text && w.__paints.at(-1) !== text) w.__paints.push(text);
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
}

export function paints(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as { __paints: string[] }).__paints);
}

/** Sends a message from the composer with the Enter key, as a person does. */
export async function sendMessage(page: Page, text: string): Promise<void> {
  await page.fill('#input', text);
  await page.press('#input', 'Enter');
}

/** Waits until no reply is streaming and the stored conversation is on screen. */
export async function waitForIdle(page: Page): Promise<void> {
  await page.waitForFunction(() => !document.body.classList.contains('busy') && !document.querySelector('.message.streaming'));
}

/** The conversation on screen as `role: text` lines (a reply's Markdown blocks end in line breaks: trimmed). */
export function transcript(page: Page): Promise<string[]> {
  return page.$$eval('#messages .message', (nodes) => nodes.map((node: any) => `${node.getAttribute('data-role')}: ${(node.querySelector('.text')?.textContent ?? '').trim()}`));
}

/** Titles in the sidebar, top to bottom. */
export function sidebarTitles(page: Page): Promise<string[]> {
  return page.$$eval('#list li', (nodes) => nodes.map((node) => node.querySelector('.title')?.textContent ?? ''));
}
