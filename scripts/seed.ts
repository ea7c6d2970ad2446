/**
 * `npm run seed -- [user] [--url <base>] [--force]`: loads the three demo conversations for a user
 * (default `demo-user`) — those the user does not have yet, or all again with `--force` — through the API itself, so titles, cache invalidation and the context
 * list are exactly what real traffic produces. Uses the server running at `--url` (default
 * http://$HOST:$PORT, i.e. http://127.0.0.1:3000); when none answers, starts the same stack
 * in-process for the duration of the seed (embedded Postgres keeps the data for `npm start`).
 */
import { randomUUID } from 'node:crypto';
import { signLocalToken } from '../local/auth';

/** Each inner list is one conversation, one user message per turn. */
const DEMO_CONVERSATIONS: readonly (readonly string[])[] = [
  ['What is cache-aside and when should I use it?', 'How do I keep the cache from serving stale data after a write?'],
  ['Suggest three names for a serverless chat backend'],
  ['Explain Lambda response streaming in two sentences', 'Does API Gateway REST support it?'],
];

interface Options {
  readonly user: string;
  readonly url: string;
  readonly force: boolean;
}

function parseArgs(argv: readonly string[]): Options {
  let url = process.env.API_URL ?? `http://${process.env.HOST ?? '127.0.0.1'}:${process.env.PORT ?? 3000}`;
  let force = false;
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === '--url') url = argv[++i];
    else if (argv[i] === '--force') force = true;
    else positional.push(argv[i]);
  }
  return { user: positional[0] ?? 'demo-user', url: url.replace(/\/+$/, ''), force };
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const token = signLocalToken(options.user);
  let baseUrl = options.url;
  let stop: (() => Promise<void>) | undefined;

  if (!(await isReachable(baseUrl))) {
    console.log(`No API at ${baseUrl}; starting the local stack in-process for the seed…`);
    const { installLambdaRuntimeGlobals } = await import('../local/lambda-runtime');
    installLambdaRuntimeGlobals();
    const { prepareLocalEnvironment } = await import('../local/environment');
    const environment = await prepareLocalEnvironment();
    const { startLocalServer } = await import('../local/server');
    const server = await startLocalServer({ port: 0, log: () => undefined }).catch(async (error: unknown) => {
      await environment.close();
      throw error;
    });
    console.log(`  database: ${environment.database}`);
    baseUrl = server.url;
    stop = async () => {
      await server.close();
      await environment.close();
    };
  }

  try {
    await seed(baseUrl, token, options);
  } finally {
    await stop?.();
  }
}

async function seed(baseUrl: string, token: string, options: Options): Promise<void> {
  const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
  const listed = await fetch(`${baseUrl}/backend-api/conversations?limit=1`, { headers });
  if (listed.status === 401) throw new Error(`${baseUrl} rejected the token: is it running with another LOCAL_JWT_SECRET?`);
  if (!listed.ok) throw new Error(`GET /backend-api/conversations answered ${listed.status}: ${await listed.text()}`);
  await listed.body?.cancel();
  const present = options.force ? new Set<string>() : await demoOpeningsPresent(baseUrl, headers);
  const missing = DEMO_CONVERSATIONS.filter((turns) => !present.has(turns[0]));
  if (missing.length === 0) {
    console.log(`${options.user} already has the ${DEMO_CONVERSATIONS.length} demo conversations; nothing to do (--force adds them again).`);
    return;
  }

  for (const turns of missing) {
    let conversationId: string | undefined;
    let parentMessageId = 'client-created-root';
    for (const text of turns) {
      const res = await fetch(`${baseUrl}/backend-api/f/conversation`, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          action: 'next',
          conversation_id: conversationId,
          parent_message_id: parentMessageId,
          messages: [{ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: [text] } }],
        }),
      });
      const stream = await res.text();
      if (!res.ok) throw new Error(`POST /backend-api/f/conversation answered ${res.status}: ${stream}`);
      const completion = stream
        .split('\n')
        .filter((line) => line.startsWith('data: {'))
        .map((line) => JSON.parse(line.slice(6)) as { conversation_id?: string; message_id?: string; is_completion?: boolean })
        .find((event) => event.is_completion);
      if (!completion?.conversation_id || !completion.message_id) throw new Error(`The reply stream did not complete: ${stream.slice(-300)}`);
      conversationId = completion.conversation_id;
      parentMessageId = completion.message_id;
    }
    console.log(`  ${conversationId}  ${turns[0]}`);
  }
  const kept = DEMO_CONVERSATIONS.length - missing.length;
  console.log(`Seeded ${missing.length} demo conversation(s) for ${options.user}${kept ? ` (${kept} already there)` : ''}.`);
}

/** How many of the user's newest conversations are looked into for the demo ones. */
const DEMO_LOOKUP_LIMIT = 100;

/** The demo openings (first user messages) the user's newest conversations already start with. */
async function demoOpeningsPresent(baseUrl: string, headers: Record<string, string>): Promise<Set<string>> {
  const openings = new Set(DEMO_CONVERSATIONS.map((turns) => turns[0]));
  const res = await fetch(`${baseUrl}/backend-api/conversations?offset=0&limit=${DEMO_LOOKUP_LIMIT}`, { headers });
  if (!res.ok) throw new Error(`GET /backend-api/conversations answered ${res.status}: ${await res.text()}`);
  const { items } = (await res.json()) as { items: { id: string }[] };
  const present = new Set<string>();
  for (const item of items) {
    const detail = await fetch(`${baseUrl}/backend-api/conversation/${encodeURIComponent(item.id)}`, { headers });
    if (!detail.ok) continue;
    const { mapping } = (await detail.json()) as { mapping: Record<string, { message?: { author: { role: string }; content: { parts: unknown[] } } }> };
    for (const node of Object.values(mapping)) {
      const text = node.message?.author.role === 'user' ? node.message.content.parts[0] : undefined;
      if (typeof text === 'string' && openings.has(text)) present.add(text);
    }
  }
  return present;
}

async function isReachable(baseUrl: string): Promise<boolean> {
  try {
    await fetch(`${baseUrl}/backend-api/conversations`, { method: 'OPTIONS', signal: AbortSignal.timeout(2000) });
    return true;
  } catch {
    return false;
  }
}

main().catch((error: unknown) => {
  console.error('Seed failed:', error instanceof Error ? error.message : error);
  process.exit(1);
});
