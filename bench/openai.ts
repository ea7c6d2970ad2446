/**
 * OpenAI's API (`/v1`) in the bench: what a cached item page costs against the backend-api's
 * cached detail of the same conversation (same store, its own cached hash), and how soon a
 * streamed response sends its first event against a backend-api POST's first frame (the same
 * reply pipeline, another encoding). Both pairs interleaved, side by side.
 */
import { randomUUID } from 'node:crypto';
import type { CacheStatus } from '@chatbot/shared/testing';
import { buildRestApiEvent, invokeHandler } from '../local/lambda-runtime';
import { openaiRequest, postRaw } from '../test/support/handlers';
import { handler as getConversationHandler } from '../lambdas/get-conversation';
import { handler as openaiConversationsHandler } from '../lambdas/openai-conversations';
import { detailEvent, ORIGIN, type SeededConversation } from './fixtures';
import { markdownTable, ms, ratio, type TargetResult } from './report';
import { interleaved, summarize, type Summary } from './stats';

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** The item page the bench reads: the whole current branch, oldest first (every message the detail has). */
const ITEMS_QUERY = { order: 'asc', limit: '100' } as const;

export interface OpenAiBenchResult {
  /** Per conversation size: the detail hit and the item page hit. */
  readonly hits: readonly { readonly messages: number; readonly detailBytes: number; readonly itemsBytes: number; readonly summaries: Record<string, Summary> }[];
  /** Time to the first body byte of a streamed reply, per API. */
  readonly firstEvent: Record<string, Summary>;
}

/** Invokes a cached read and checks it was the hit it should be. */
async function hit(handler: unknown, event: unknown, label: string): Promise<number> {
  const result = await invokeHandler(handler, event);
  if (result.streamed || result.statusCode !== 200) throw new Error(`${label}: HTTP ${result.statusCode}`);
  const status = (result.headers['X-Cache'] ?? result.headers['x-cache']) as CacheStatus;
  if (status !== 'HIT') throw new Error(`${label}: ${status} instead of HIT`);
  return result.body.length;
}

/** Runs the measurements on seeded conversations (the bench seeds them through the repository). */
export async function measureOpenAi(conversations: readonly SeededConversation[], log: (message: string) => void): Promise<OpenAiBenchResult> {
  const hits: OpenAiBenchResult['hits'][number][] = [];
  for (const conversation of conversations) {
    log(`OpenAI API: item page hit vs detail hit, ${conversation.messages} messages`);
    const convId = `conv_${conversation.id.replaceAll('-', '')}`;
    const itemsEvent = () =>
      buildRestApiEvent({
        method: 'GET',
        resource: '/v1/conversations/{conversation_id}/items',
        path: `/v1/conversations/${convId}/items`,
        pathParameters: { conversation_id: convId },
        query: ITEMS_QUERY,
        headers: { Origin: ORIGIN },
        userId: conversation.userId,
      });
    // Filled once each, so every timed call is a hit.
    await invokeHandler(getConversationHandler, detailEvent(conversation));
    await invokeHandler(openaiConversationsHandler, itemsEvent());
    let detailBytes = 0;
    let itemsBytes = 0;
    let detail: unknown;
    let items: unknown;
    const summaries = await interleaved(
      [
        // Events are built untimed: that is API Gateway's work.
        { name: 'detail hit (GET /backend-api/conversation/{id})', before: () => void (detail = detailEvent(conversation)), run: async () => (detailBytes = await hit(getConversationHandler, detail, 'detail')) },
        { name: 'item page hit (GET /v1/conversations/{id}/items)', before: () => void (items = itemsEvent()), run: async () => (itemsBytes = await hit(openaiConversationsHandler, items, 'items')) },
      ],
      conversation.messages >= 100 ? { iterations: 500, warmup: 30 } : { iterations: 800, warmup: 50 },
    );
    hits.push({ messages: conversation.messages, detailBytes, itemsBytes, summaries });
  }

  log('OpenAI API: first event of a streamed response vs a backend-api POST, interleaved');
  const userId = `bench-openai-${randomUUID()}`;
  const prompt = 'How soon does the first event arrive?';
  const samples: Record<string, number[]> = { 'POST /backend-api/f/conversation (v1)': [], 'POST /v1/responses (stream: true)': [] };
  const firstByte = async (send: (onChunk: () => void) => Promise<{ statusCode: number; body: string }>, name: string) => {
    const start = nowMs();
    let first: number | undefined;
    const result = await send(() => (first ??= nowMs()));
    if (result.statusCode !== 200) throw new Error(`${name} answered ${result.statusCode}: ${result.body.slice(0, 200)}`);
    samples[name].push((first ?? nowMs()) - start);
  };
  await interleaved(
    [
      {
        name: 'backend-api',
        run: () =>
          firstByte(
            (onChunk) =>
              postRaw(
                {
                  action: 'next',
                  messages: [{ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: [prompt] } }],
                  parent_message_id: randomUUID(),
                  supported_encodings: ['v1'],
                },
                userId,
                { onChunk },
              ),
            'POST /backend-api/f/conversation (v1)',
          ),
      },
      {
        name: 'responses',
        run: () => firstByte((onChunk) => openaiRequest('POST', '/v1/responses', userId, { body: { input: prompt, stream: true }, onChunk }), 'POST /v1/responses (stream: true)'),
      },
    ],
    { iterations: 150, warmup: 15 },
  );
  const firstEvent = Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, summarize(values.slice(-150))]));
  return { hits, firstEvent };
}

/** The targets this section sets. */
export function openAiTargets(result: OpenAiBenchResult): TargetResult[] {
  const targets: TargetResult[] = result.hits.map(({ messages, summaries }) => {
    const [detail, items] = Object.values(summaries);
    return {
      name: `/v1 item page hit vs detail hit p50 (${messages} msgs)`,
      meaning: 'a /v1 client pays more to read a conversation than the web client does',
      target: '≤ 1.2×',
      measured: `${ratio(items.p50 / detail.p50)} (${ms(items.p50)} vs ${ms(detail.p50)} ms)`,
      met: items.p50 <= 1.2 * detail.p50,
    };
  });
  const [backend, responses] = Object.values(result.firstEvent);
  targets.push({
    name: 'streamed response first event vs backend-api POST p50',
    meaning: '/v1 streaming users wait longer for the first event than web users',
    target: '≤ 1.2×',
    measured: `${ratio(responses.p50 / backend.p50)} (${ms(responses.p50)} vs ${ms(backend.p50)} ms)`,
    met: responses.p50 <= 1.2 * backend.p50,
  });
  return targets;
}

/** The bench section's text. */
export function openAiSection(result: OpenAiBenchResult): string[] {
  return [
    '## 14. OpenAI API (/v1): item pages and the first streamed event (docs/api.md#openai-api-v1)',
    `A cached page of \`GET /v1/conversations/{id}/items?order=asc&limit=100\` (the whole current branch: every message the detail holds) against the cached \`GET /backend-api/conversation/{id}\` of the same conversation, both handlers invoked in-process, interleaved. Each is one \`HGET\` (the item page, from the conversation's \`conv:{id}:openai:{user}\` hash) or \`GET\` (the detail) and no Postgres query; the page is smaller than the detail (no tree, no hidden nodes), the detail is the larger body to hand back.`,
    markdownTable([
      ['messages', 'read', 'body bytes', 'p50 ms', 'p99 ms', 'p50 vs detail'],
      ...result.hits.flatMap(({ messages, detailBytes, itemsBytes, summaries }) => {
        const [detail] = Object.values(summaries);
        return Object.entries(summaries).map(([name, summary], i) => [String(messages), name, String(i === 0 ? detailBytes : itemsBytes), ms(summary.p50), ms(summary.p99), ratio(summary.p50 / detail.p50)]);
      }),
    ]),
    'Time from the request to the first body byte of a streamed reply in a new conversation, 150 of each interleaved, the offline model answering at once: a backend-api POST in the v1 encoding (its first frame is `delta_encoding`) and `POST /v1/responses` with `stream: true` (its first event is `response.created`). Both run the same pipeline — the live-stream cap, the turn limit, the user side of the turn, the model\'s first token, the recording — so the difference is the encoding and the parsing of the request.',
    markdownTable([
      ['request', 'p50 ms', 'p99 ms', 'p50 vs backend-api'],
      ...Object.entries(result.firstEvent).map(([name, summary]) => [name, ms(summary.p50), ms(summary.p99), ratio(summary.p50 / Object.values(result.firstEvent)[0].p50)]),
    ]),
  ];
}
