/**
 * OpenAI's Conversations API (docs/api.md#openai-api-v1) driven by the official `openai` SDK,
 * unmodified, over HTTP against the local server, the real Postgres and Redis: the same
 * conversation through `/v1` and `/backend-api`, the items of its current branch, the cache
 * and its invalidation, deletes, and the errors the SDK maps to its classes.
 */
import { randomUUID } from 'node:crypto';
import OpenAI from 'openai';
import { startOpenAiTestServer, type OpenAiTestServer } from './support';

let t: OpenAiTestServer;
beforeAll(async () => {
  t = await startOpenAiTestServer('openai-conversations-test');
});
afterAll(() => t.close());

/** The backend-api's UUID of a `conv_` id. */
const uuidOf = (conversationId: string): string => {
  const hex = conversationId.slice(5);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
};
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
const texts = (items: readonly Json[]): string[] => items.map((item) => item.content.map((part: Json) => part.text).join(''));

/** A legacy-format POST through the backend-api; returns the conversation id and the stored reply's id. */
async function postTurn(token: string, text: string, conversation?: { id: string; parent: string }): Promise<{ conversationId: string; replyId: string }> {
  const response = await t.fetch('/backend-api/f/conversation', token, {
    method: 'POST',
    body: JSON.stringify({
      action: 'next',
      messages: [{ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: [text] } }],
      conversation_id: conversation?.id ?? null,
      parent_message_id: conversation?.parent ?? randomUUID(),
    }),
  });
  expect(response.status).toBe(200);
  const completion = (await response.text()).split('\n\n').map((frame) => frame.slice(6)).map((data) => { try { return JSON.parse(data); } catch { return undefined; } }).find((event) => event?.is_completion);
  return { conversationId: completion.conversation_id, replyId: completion.message_id };
}

it('creates a conversation with items and metadata, reads and updates it; the backend-api lists and shows the same conversation', async () => {
  const { client, token } = t.client();

  const conversation = await client.conversations.create({
    metadata: { topic: 'trees' },
    items: [
      { type: 'message', role: 'user', content: 'What is a B-tree?' },
      { role: 'assistant', content: [{ type: 'output_text', text: 'A balanced search tree.' }] } as never,
    ],
  });

  expect(conversation.id).toMatch(/^conv_[0-9a-f]{32}$/);
  expect(conversation).toMatchObject({ object: 'conversation', metadata: { topic: 'trees' } });
  expect(Math.abs(conversation.created_at - Date.now() / 1000)).toBeLessThan(60);
  expect(await client.conversations.retrieve(conversation.id)).toEqual(conversation);
  const updated = await client.conversations.update(conversation.id, { metadata: { topic: 'b-trees', level: 'intro' } });
  expect(updated.metadata).toEqual({ topic: 'b-trees', level: 'intro' });
  // The cached object was dropped by the update.
  expect((await client.conversations.retrieve(conversation.id)).metadata).toEqual({ topic: 'b-trees', level: 'intro' });

  const id = uuidOf(conversation.id);
  const list: Json = await (await t.fetch('/backend-api/conversations', token)).json();
  expect(list.items.map((item: Json) => item.id)).toEqual([id]);
  const detail: Json = await (await t.fetch(`/backend-api/conversation/${id}`, token)).json();
  const reply = detail.mapping[detail.current_node];
  expect(reply.message.author.role).toBe('assistant');
  expect(reply.message.content.parts).toEqual(['A balanced search tree.']);
  expect(detail.mapping[reply.parent].message.content.parts).toEqual(['What is a B-tree?']);
});

it('lists the current branch as items in either order, pages with after (the SDK auto-paginates), and reads one item', async () => {
  const { client } = t.client();
  const conversation = await client.conversations.create({ items: [{ role: 'user', content: 'one' }] });
  const added = await client.conversations.items.create(conversation.id, {
    items: [
      { role: 'assistant', content: 'two' } as never,
      { role: 'user', content: [{ type: 'input_text', text: 'three' }, { type: 'input_text', text: 'and a half' }] },
      { role: 'assistant', content: 'four' } as never,
    ],
  });
  expect(added.object).toBe('list');
  expect(texts(added.data)).toEqual(['two', 'threeand a half', 'four']);
  expect(added.data[1]).toMatchObject({ type: 'message', role: 'user', status: 'completed', content: [{ type: 'input_text', text: 'three' }, { type: 'input_text', text: 'and a half' }] });

  const newestFirst = await client.conversations.items.list(conversation.id);
  expect(texts(newestFirst.data)).toEqual(['four', 'threeand a half', 'two', 'one']);
  expect(newestFirst.data[0]).toMatchObject({ role: 'assistant', content: [{ type: 'output_text', text: 'four', annotations: [] }] });
  expect(newestFirst.has_more).toBe(false);
  const firstPage = await client.conversations.items.list(conversation.id, { order: 'asc', limit: 3 });
  expect(texts(firstPage.data)).toEqual(['one', 'two', 'threeand a half']);
  expect(firstPage.has_more).toBe(true);
  const walked: Json[] = [];
  for await (const item of client.conversations.items.list(conversation.id, { order: 'asc', limit: 1 })) walked.push(item);
  expect(texts(walked)).toEqual(['one', 'two', 'threeand a half', 'four']);

  const item = await client.conversations.items.retrieve(newestFirst.data[2].id as string, { conversation_id: conversation.id });
  expect(item).toEqual(newestFirst.data[2]);
});

it('caches item pages and drops them on every write, through either API', async () => {
  const { client, token } = t.client();
  const { conversationId, replyId } = await postTurn(token, 'first through the backend-api');
  const convId = `conv_${conversationId.replaceAll('-', '')}`;
  const read = async () => {
    const response = await t.fetch(`/v1/conversations/${convId}/items?order=asc`, token);
    return { cache: response.headers.get('x-cache'), items: ((await response.json()) as Json).data as Json[] };
  };

  const miss = await read();
  const hit = await read();
  expect([miss.cache, hit.cache]).toEqual(['MISS', 'HIT']);
  expect(hit.items).toEqual(miss.items);
  expect(miss.items.map((item) => item.role)).toEqual(['user', 'assistant']);
  expect(miss.items[1].id).toBe(`msg_${replyId}`);

  // A backend-api turn: the next read shows it (no stale page).
  await postTurn(token, 'second through the backend-api', { id: conversationId, parent: replyId });
  const afterTurn = await read();
  expect(afterTurn.cache).toBe('MISS');
  expect(texts(afterTurn.items)[2]).toBe('second through the backend-api');
  // A /v1 append: the same.
  await client.conversations.items.create(convId, { items: [{ role: 'user', content: 'third through /v1' }] });
  expect(texts((await read()).items).at(-1)).toBe('third through /v1');
});

it('deletes an item (its children move up to its parent) and the conversation (the soft delete: gone from both APIs)', async () => {
  const { client, token } = t.client();
  const conversation = await client.conversations.create({ items: [{ role: 'user', content: 'u1' }, { role: 'assistant', content: 'a1' } as never, { role: 'user', content: 'u2' }] });
  const [u2, a1] = (await client.conversations.items.list(conversation.id)).data;

  // The current node goes: the branch ends at its parent.
  expect(await client.conversations.items.delete(u2.id as string, { conversation_id: conversation.id })).toMatchObject({ id: conversation.id, object: 'conversation' });
  expect(texts((await client.conversations.items.list(conversation.id, { order: 'asc' })).data)).toEqual(['u1', 'a1']);
  // A message in the middle: its child moves up.
  await client.conversations.items.create(conversation.id, { items: [{ role: 'user', content: 'u3' }] });
  await client.conversations.items.delete(a1.id as string, { conversation_id: conversation.id });
  expect(texts((await client.conversations.items.list(conversation.id, { order: 'asc' })).data)).toEqual(['u1', 'u3']);
  await expect(client.conversations.items.retrieve(a1.id as string, { conversation_id: conversation.id })).rejects.toMatchObject({ status: 404, code: 'item_not_found' });
  const detail: Json = await (await t.fetch(`/backend-api/conversation/${uuidOf(conversation.id)}`, token)).json();
  expect(Object.values(detail.mapping).filter((node: Json) => node.message?.author.role === 'user' || node.message?.author.role === 'assistant')).toHaveLength(2);

  expect(await client.conversations.delete(conversation.id)).toEqual({ id: conversation.id, object: 'conversation.deleted', deleted: true });
  await expect(client.conversations.retrieve(conversation.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  await expect(client.conversations.items.list(conversation.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  expect((await t.fetch(`/backend-api/conversation/${uuidOf(conversation.id)}`, token)).status).toBe(404);
  expect(((await (await t.fetch('/backend-api/conversations', token)).json()) as Json).items).toEqual([]);
});

it('answers errors in OpenAI\'s shape, which the SDK maps to its classes; the gateway\'s 401 keeps its own shape', async () => {
  const owner = t.client();
  const stranger = t.client();
  const conversation = await owner.client.conversations.create({});

  const notFound = await stranger.client.conversations.retrieve(conversation.id).catch((error: unknown) => error);
  expect(notFound).toBeInstanceOf(OpenAI.NotFoundError);
  expect((notFound as InstanceType<typeof OpenAI.NotFoundError>).error).toEqual({
    message: 'Conversation not found',
    type: 'invalid_request_error',
    param: null,
    code: 'conversation_not_found',
  });

  const cases: [Promise<unknown>, string][] = [
    [owner.client.conversations.create({ items: [{ role: 'user', content: [{ type: 'input_image', image_url: 'https://x.example/a.png', detail: 'auto' }] }] }), 'items[0].content[0]'],
    [owner.client.conversations.create({ items: [{ role: 'system', content: 'be brief' }] }), 'items[0].role'],
    [owner.client.conversations.update(conversation.id, { metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) }), 'metadata'],
    [owner.client.conversations.retrieve('conv_not-hex'), 'conversation_id'],
    [owner.client.conversations.items.list(conversation.id, { limit: 101 }), 'limit'],
    [owner.client.conversations.items.list(conversation.id, { after: 'msg_not-on-the-branch' }), 'after'],
  ];
  for (const [request, param] of cases) {
    const error = await request.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).error).toMatchObject({ type: 'invalid_request_error', param });
  }

  const anonymous = new OpenAI({ apiKey: 'not-a-token', baseURL: `${t.server.url}/v1`, maxRetries: 0 });
  await expect(anonymous.conversations.create({})).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  const raw = await fetch(`${t.server.url}/v1/conversations`, { method: 'POST', headers: { Authorization: 'Bearer not-a-token' } });
  expect(raw.status).toBe(401);
  expect(await raw.json()).toEqual({ detail: { message: 'Unauthorized', code: 'unauthorized' } });
});
