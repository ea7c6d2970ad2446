/**
 * A stand-in for a model API at its boundary: an OpenAI-compatible `POST /v1/chat/completions`
 * that streams a scripted reply (the local model only echoes one line, and these tests need
 * Markdown with line breaks). The server under test talks to it through its real `openai` provider.
 */
import { createServer, type Server } from 'node:http';

export interface ChatMessage {
  readonly role: string;
  readonly content: string;
}

export interface ScriptedReply {
  readonly text: string;
  /** Pause between two streamed pieces. @default 0 */
  readonly delayMs?: number;
}

export interface FakeModel {
  /** The `OPENAI_BASE_URL` to give the server. */
  readonly baseUrl: string;
  close(): Promise<void>;
}

/** Starts the fake; `reply` picks the answer from the request's messages. */
export async function startFakeModel(reply: (messages: readonly ChatMessage[]) => ScriptedReply): Promise<FakeModel> {
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
        res.writeHead(404, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: { message: 'not found' } }));
        return;
      }
      const { messages } = JSON.parse(body) as { messages: ChatMessage[] };
      const { text, delayMs = 0 } = reply(messages);
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      const chunk = (delta: Record<string, string>, finish: string | null) =>
        `data: ${JSON.stringify({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 1, model: 'fake-model', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
      // Word-sized pieces that keep every space and line break, as a model streams tokens.
      const pieces = text.match(/\s+|\S+\s*/g) ?? [];
      void (async () => {
        for (const piece of pieces) {
          if (res.destroyed) return;
          res.write(chunk({ content: piece }, null));
          if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
        }
        res.write(chunk({}, 'stop'));
        res.end('data: [DONE]\n\n');
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A reply with most of what Markdown has: headings, emphasis, lists, a table, a link, a code block. */
export const DEMO_MARKDOWN = [
  '## Debouncing in TypeScript',
  '',
  'A **debounce** waits until calls stop for `ms` milliseconds, then runs the *last* one:',
  '',
  '```ts',
  'export function debounce<A extends unknown[]>(run: (...args: A) => void, ms: number) {',
  '  let timer: ReturnType<typeof setTimeout> | undefined;',
  '  return (...args: A) => {',
  '    clearTimeout(timer);',
  '    timer = setTimeout(() => run(...args), ms);',
  '  };',
  '}',
  '```',
  '',
  'Use it for:',
  '',
  '- search boxes that should not query on every key',
  '- resize handlers',
  '- saving a draft',
  '',
  '| call | waits |',
  '| --- | --- |',
  '| `debounce` | for a pause |',
  '| `throttle` | at most once per period |',
  '',
  'See [MDN on setTimeout](https://developer.mozilla.org/docs/Web/API/setTimeout) for the timer itself.',
].join('\n');

/** Markup that must never run, in a reply. Each would set `window.__pwned` to say which one ran. */
export const PAYLOAD_MARKDOWN = [
  'Here is some markup:',
  '',
  '<img src=x onerror="window.__pwned=\'img\'">',
  '',
  '<script>window.__pwned = "script"</script>',
  '',
  '[a markdown link](javascript:window.__pwned=\'md-link\')',
  '',
  '<a href="javascript:window.__pwned=\'a\'">an HTML link</a>',
  '',
  '<svg onload="window.__pwned=\'svg\'"><circle r="5"/></svg>',
  '',
  '<iframe srcdoc="<script>parent.__pwned=\'iframe\'</script>"></iframe>',
  '',
  '<p id="input" class="notice" style="position:fixed;inset:0" onclick="window.__pwned=\'click\'">clobber</p>',
  '',
  '<details open ontoggle="window.__pwned=\'toggle\'"><summary>more</summary>x</details>',
  '',
  '<form action="javascript:window.__pwned=\'form\'"><button>go</button></form>',
].join('\n');

/** The title the fake gives a conversation about payloads. */
export const PAYLOAD_TITLE = '<svg onload=window.__pwned="title">';

/**
 * The scripted model of the browser tests: a title request gets a title; a message naming
 * "markdown demo" or "payloads" gets that reply; anything else an echo. `delayMs` between pieces.
 */
export function scriptedReply(messages: readonly ChatMessage[], delayMs = 0): ScriptedReply {
  const last = [...messages].reverse().find((message) => message.role === 'user')?.content ?? '';
  if (messages[0]?.role === 'system' && messages[0].content.startsWith('You name conversations')) {
    return { text: /payloads/i.test(last) ? PAYLOAD_TITLE : /markdown demo/i.test(last) ? 'Debouncing in TypeScript' : last.split(/\s+/).slice(0, 6).join(' ') };
  }
  if (/markdown demo/i.test(last)) return { text: DEMO_MARKDOWN, delayMs };
  if (/payloads/i.test(last)) return { text: PAYLOAD_MARKDOWN };
  return { text: `You said: ${last}`, delayMs };
}
