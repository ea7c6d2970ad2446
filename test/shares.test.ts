/**
 * Share links through the real handlers, on the real Postgres and Redis (docs/api.md#share-links):
 * a share is a snapshot of one branch, readable without a token, cached, and gone at once when
 * revoked or when its conversation is deleted; its owner renames, revokes and lists shares; a
 * reader continues one as a conversation of their own.
 */
import { randomUUID } from 'node:crypto';
import { closeDatabase, closeRedis, createConversationFromShare, resetConfig } from '@chatbot/shared/testing';
import {
  createShare,
  getConversation,
  getSharedConversation,
  listShares,
  newUserId,
  patchAllConversations,
  patchConversation,
  patchShare,
  postRaw,
  sendMessage,
  type SentMessage,
} from './support/handlers';
import { rawRedis, runPrefix } from './support/redis';
import { AssertionDatabase } from './reliability/support/database';

const redis = rawRedis();
const db = new AssertionDatabase();
afterAll(async () => {
  redis.disconnect();
  await db.close();
  await closeRedis();
  await closeDatabase();
});

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A conversation of two turns: first question, its answer, second question, its answer. */
async function twoTurns(userId: string): Promise<{ first: SentMessage; second: SentMessage; conversationId: string }> {
  const first = await sendMessage(userId, 'What is a fill lease?');
  const second = await sendMessage(userId, 'And a single flight?', { conversationId: first.conversationId, parentMessageId: first.assistantMessageId });
  return { first, second, conversationId: first.conversationId };
}

async function share(userId: string, conversationId: string, nodeId: string, extra: Record<string, unknown> = {}): Promise<{ share_id: string; share_url: string; title: string; is_public: boolean; already_exists: boolean }> {
  const response = await createShare({ conversation_id: conversationId, current_node_id: nodeId, is_anonymous: true, ...extra }, userId);
  expect(response.statusCode).toBe(200);
  return response.json;
}

describe('creating and reading a share', () => {
  it('shares a branch once: the same node again is the same share; the link works without a token', async () => {
    const owner = newUserId();
    const { conversationId, second } = await twoTurns(owner);

    const created = await share(owner, conversationId, second.assistantMessageId);
    const again = await share(owner, conversationId, second.assistantMessageId);

    expect(created).toEqual({ share_id: expect.stringMatching(UUID_V4), share_url: `https://chat.example.com/share/${created.share_id}`, title: expect.any(String), is_public: true, already_exists: false });
    expect(again).toEqual({ ...created, already_exists: true });
    const read = await getSharedConversation(created.share_id);
    expect(read.statusCode).toBe(200);
    expect(Object.keys(read.json)).toEqual(['share_id', 'title', 'create_time', 'update_time', 'mapping', 'current_node', 'is_anonymous']);
    expect(read.json).toMatchObject({ share_id: created.share_id, title: created.title, current_node: second.assistantMessageId, is_anonymous: true });
    // Nothing in it names the owner.
    expect(read.body).not.toContain(owner);
    expect(read.headers['cache-control']).toBe('public, max-age=60');
    expect(read.headers['access-control-allow-origin']).toBe('*');
  });

  it('is a snapshot of the branch ending at the shared node: later messages and other branches are not in it', async () => {
    const owner = newUserId();
    const { conversationId, first, second } = await twoTurns(owner);
    // An edit of the second question: a sibling branch.
    const edit = await sendMessage(owner, 'Or rather: a write-through cache?', { conversationId, parentMessageId: first.assistantMessageId });

    const { share_id: shareId } = await share(owner, conversationId, first.assistantMessageId);
    const later = await sendMessage(owner, 'One more thing', { conversationId, parentMessageId: first.assistantMessageId });
    const read = (await getSharedConversation(shareId)).json;

    const nodes = Object.values(read.mapping) as { id: string; parent?: string; children: string[]; message?: { author: { role: string } } }[];
    expect(nodes.map((n) => n.message?.author.role ?? 'root')).toEqual(['root', 'system', 'user', 'assistant']);
    expect(read.mapping[first.userMessageId].children).toEqual([first.assistantMessageId]);
    expect(read.mapping[first.assistantMessageId].children).toEqual([]);
    for (const absent of [second.userMessageId, second.assistantMessageId, edit.userMessageId, later.userMessageId, later.assistantMessageId]) expect(read.mapping[absent]).toBeUndefined();
    expect(read.current_node).toBe(first.assistantMessageId);
    // The owner still sees the whole conversation.
    expect(Object.keys((await getConversation(conversationId, owner)).json.mapping)).toHaveLength(2 + 8);
  });

  it('serves the second read from the cache, and keeps is_anonymous as given', async () => {
    const owner = newUserId();
    const sent = await sendMessage(owner, 'cache me');
    const { share_id: shareId } = await share(owner, sent.conversationId, sent.assistantMessageId, { is_anonymous: false });

    const [firstRead, secondRead] = [await getSharedConversation(shareId), await getSharedConversation(shareId)];

    expect([firstRead.headers['x-cache'], secondRead.headers['x-cache']]).toEqual(['MISS', 'HIT']);
    expect(secondRead.body).toBe(firstRead.body);
    expect(firstRead.json.is_anonymous).toBe(false);
    expect(await redis.get(`${runPrefix()}share:${shareId}`)).toBe(firstRead.body);
    expect(await redis.ttl(`${runPrefix()}share:${shareId}`)).toBeGreaterThan(3500);
  });

  it('refuses what it cannot share: another user\'s conversation (404), a node that is not a user or assistant message (422)', async () => {
    const owner = newUserId();
    const sent = await sendMessage(owner, 'mine');
    const detail = (await getConversation(sent.conversationId, owner)).json;
    const root = Object.values(detail.mapping as Record<string, { id: string; parent?: string }>).find((n) => !n.parent)!.id;
    const system = detail.mapping[root].children[0];

    expect((await createShare({ conversation_id: sent.conversationId, current_node_id: sent.assistantMessageId }, newUserId())).json.detail.code).toBe('conversation_not_found');
    for (const node of [root, system, 'no-such-node']) {
      const response = await createShare({ conversation_id: sent.conversationId, current_node_id: node }, owner);
      expect([node, response.statusCode, response.json.detail[0].loc]).toEqual([node, 422, ['body', 'current_node_id']]);
    }
    expect((await listShares(owner)).json).toEqual({ items: [], total: 0 });
  });

  it('answers 404 share_not_found for an unknown share and 422 for an id that is not a UUID, without a token', async () => {
    expect((await getSharedConversation(randomUUID())).json).toEqual({ detail: { message: 'Shared conversation not found', code: 'share_not_found' } });
    expect((await getSharedConversation('not-a-share')).statusCode).toBe(422);
  });
});

describe('changing a share', () => {
  it('revoking answers 404 at once, even right after a cached read; sharing the node again makes a new link', async () => {
    const owner = newUserId();
    const sent = await sendMessage(owner, 'revoke me');
    const { share_id: shareId } = await share(owner, sent.conversationId, sent.assistantMessageId);
    await getSharedConversation(shareId);
    expect((await getSharedConversation(shareId)).headers['x-cache']).toBe('HIT');

    expect((await patchShare(shareId, { is_visible: false }, owner)).json).toEqual({ success: true });

    expect((await getSharedConversation(shareId)).statusCode).toBe(404);
    expect(await redis.exists(`${runPrefix()}share:${shareId}`)).toBe(0);
    expect((await patchShare(shareId, { title: 'back?' }, owner)).statusCode).toBe(404);
    const again = await share(owner, sent.conversationId, sent.assistantMessageId);
    expect(again.share_id).not.toBe(shareId);
    expect(again.already_exists).toBe(false);
  });

  it('renaming shows the new title at once; the conversation keeps its own', async () => {
    const owner = newUserId();
    const sent = await sendMessage(owner, 'rename me');
    const { share_id: shareId, title } = await share(owner, sent.conversationId, sent.assistantMessageId);
    await getSharedConversation(shareId);

    expect((await patchShare(shareId, { title: '  A better title ' }, owner)).statusCode).toBe(200);

    const read = (await getSharedConversation(shareId)).json;
    expect(read.title).toBe('A better title');
    expect(read.update_time).toBeGreaterThan(read.create_time);
    expect((await getConversation(sent.conversationId, owner)).json.title).toBe(title);
  });

  it('only the owner changes a share: anyone else gets 404 and nothing changes', async () => {
    const owner = newUserId();
    const sent = await sendMessage(owner, 'hands off');
    const { share_id: shareId, title } = await share(owner, sent.conversationId, sent.assistantMessageId);

    for (const body of [{ is_visible: false }, { title: 'mine now' }]) expect((await patchShare(shareId, body, newUserId())).json.detail.code).toBe('share_not_found');

    expect((await getSharedConversation(shareId)).json.title).toBe(title);
  });

  it('refuses malformed changes with a 422 naming the field', async () => {
    const owner = newUserId();
    const sent = await sendMessage(owner, 'strict');
    const { share_id: shareId } = await share(owner, sent.conversationId, sent.assistantMessageId);
    for (const [body, loc] of [[{}, ['body']], [{ is_visible: true }, ['body', 'is_visible']], [{ title: ' ' }, ['body', 'title']], [{ title: 'x'.repeat(257) }, ['body', 'title']], [{ title: 7 }, ['body', 'title']]] as const) {
      const response = await patchShare(shareId, body, owner);
      expect([JSON.stringify(body), response.statusCode, response.json.detail[0].loc]).toEqual([JSON.stringify(body), 422, loc]);
    }
    expect((await patchShare('nope', { title: 'x' }, owner)).json.detail[0].loc).toEqual(['path', 'share_id']);
  });
});

describe('deleting the conversation', () => {
  it('revokes its shares: the link answers 404 at once, even right after a cached read, and leaves the list', async () => {
    const owner = newUserId();
    const sent = await sendMessage(owner, 'short-lived');
    const kept = await sendMessage(owner, 'kept');
    const { share_id: shareId } = await share(owner, sent.conversationId, sent.assistantMessageId);
    const { share_id: keptId } = await share(owner, kept.conversationId, kept.assistantMessageId);
    await getSharedConversation(shareId);
    expect((await getSharedConversation(shareId)).headers['x-cache']).toBe('HIT');

    await patchConversation(sent.conversationId, { is_visible: false }, owner);

    expect((await getSharedConversation(shareId)).statusCode).toBe(404);
    expect((await listShares(owner)).json.items.map((item: { id: string }) => item.id)).toEqual([keptId]);
    expect((await getSharedConversation(keptId)).statusCode).toBe(200);
  });

  it('"delete all" revokes every share of the user at once', async () => {
    const owner = newUserId();
    const shareIds = [];
    for (const text of ['one', 'two']) {
      const sent = await sendMessage(owner, text);
      shareIds.push((await share(owner, sent.conversationId, sent.assistantMessageId)).share_id);
      await getSharedConversation(shareIds.at(-1)!);
    }

    await patchAllConversations({ is_visible: false }, owner);

    for (const shareId of shareIds) expect((await getSharedConversation(shareId)).statusCode).toBe(404);
    expect((await listShares(owner)).json).toEqual({ items: [], total: 0 });
  });
});

describe('listing and the per-user cap', () => {
  afterEach(() => {
    delete process.env.SHARE_MAX_PER_USER;
    resetConfig();
  });

  it('lists the caller\'s live shares, newest first, paged', async () => {
    const owner = newUserId();
    const ids: string[] = [];
    for (const text of ['a', 'b', 'c']) {
      const sent = await sendMessage(owner, text);
      ids.push((await share(owner, sent.conversationId, sent.assistantMessageId)).share_id);
    }
    const someoneElse = newUserId();
    const theirs = await sendMessage(someoneElse, 'someone else');
    await share(someoneElse, theirs.conversationId, theirs.assistantMessageId);

    const all = (await listShares(owner)).json;
    const second = (await listShares(owner, { offset: '1', limit: '1' })).json;

    expect(all.total).toBe(3);
    expect(all.items.map((item: { id: string }) => item.id)).toEqual([...ids].reverse());
    expect(all.items[0]).toEqual({ id: ids[2], conversation_id: expect.any(String), title: expect.any(String), create_time: expect.stringMatching(/Z$/), update_time: expect.stringMatching(/Z$/) });
    expect(second).toEqual({ items: [all.items[1]], total: 3 });
    expect((await listShares(owner, { limit: '0' })).statusCode).toBe(422);
  });

  it('refuses a share beyond SHARE_MAX_PER_USER with 413 share_limit_exceeded, still finds an existing one, and has room again after a revocation', async () => {
    process.env.SHARE_MAX_PER_USER = '2';
    resetConfig();
    const owner = newUserId();
    const sent = [await sendMessage(owner, 'one'), await sendMessage(owner, 'two'), await sendMessage(owner, 'three')];
    const [first] = [await share(owner, sent[0].conversationId, sent[0].assistantMessageId), await share(owner, sent[1].conversationId, sent[1].assistantMessageId)];

    const over = await createShare({ conversation_id: sent[2].conversationId, current_node_id: sent[2].assistantMessageId }, owner);
    expect(over.statusCode).toBe(413);
    expect(over.json.detail.code).toBe('share_limit_exceeded');
    expect((await share(owner, sent[0].conversationId, sent[0].assistantMessageId)).already_exists).toBe(true);

    await patchShare(first.share_id, { is_visible: false }, owner);
    expect((await createShare({ conversation_id: sent[2].conversationId, current_node_id: sent[2].assistantMessageId }, owner)).statusCode).toBe(200);
  });
});

describe('continuing a shared conversation', () => {
  it('starts a conversation of the reader\'s own with a copy of the snapshot, its context window included', async () => {
    const owner = newUserId();
    const reader = newUserId();
    const { conversationId, second } = await twoTurns(owner);
    const { share_id: shareId, title } = await share(owner, conversationId, second.assistantMessageId);

    const continued = await sendMessage(reader, 'Tell me more', { continueFromShareId: shareId, parentMessageId: second.assistantMessageId });

    expect(continued.conversationId).not.toBe(conversationId);
    const detail = (await getConversation(continued.conversationId, reader)).json;
    expect(detail.title).toBe(title);
    const shared = (await getSharedConversation(shareId)).json;
    for (const id of Object.keys(shared.mapping)) expect(detail.mapping[id].message?.content).toEqual(shared.mapping[id].message?.content);
    expect(detail.mapping[second.assistantMessageId].children).toEqual([continued.userMessageId]);
    expect(detail.current_node).toBe(continued.assistantMessageId);
    // The model saw the four copied messages and the new question.
    expect(detail.mapping[continued.assistantMessageId].message.content.parts[0]).toContain('5 messages in context');
    expect(await redis.llen(`${runPrefix()}chat:${continued.conversationId}:context`)).toBe(6);
    // No title was generated over the share's, and the owner's conversation did not change.
    expect(continued.response.events.some((e) => e.json?.type === 'title_generation')).toBe(false);
    expect(Object.keys((await getConversation(conversationId, owner)).json.mapping)).toHaveLength(6);
    expect((await getConversation(continued.conversationId, owner)).statusCode).toBe(404);
  });

  it('holds room for the first reply of a continued conversation, like any turn, and gives it back when the reply is stored', async () => {
    const owner = newUserId();
    const { conversationId, second } = await twoTurns(owner);
    const { share_id: shareId } = await share(owner, conversationId, second.assistantMessageId);

    // The statement that copies the share holds the room in the same write.
    const heldId = randomUUID();
    const message = { id: randomUUID(), parentId: second.assistantMessageId, role: 'user' as const, parts: ['held'] };
    await createConversationFromShare({ shareId, id: heldId, userId: newUserId(), message, messageCount: 5, contentBytes: 100, replyRoom: { bytes: 4096, holdSeconds: 60 } });
    expect(await db.conversationSize(heldId)).toEqual({ messageCount: 5, contentBytes: 100, reservedMessages: 1, reservedBytes: 4096 });

    // Through the handler: the reply came back, so nothing is held and the counters are what is stored.
    const continued = await sendMessage(newUserId(), 'Tell me more', { continueFromShareId: shareId });
    const copied = await db.conversationSize(conversationId);
    const size = await db.conversationSize(continued.conversationId);
    expect(size).toMatchObject({ messageCount: copied!.messageCount + 2, reservedMessages: 0, reservedBytes: 0 });
    expect(size!.contentBytes).toBeGreaterThan(copied!.contentBytes);
  });

  it('defaults the parent to the share\'s node, and refuses another parent (422) or a revoked share (404), writing nothing', async () => {
    const owner = newUserId();
    const reader = newUserId();
    const { conversationId, first, second } = await twoTurns(owner);
    const { share_id: shareId } = await share(owner, conversationId, second.assistantMessageId);

    const withoutParent = await sendMessage(reader, 'no parent given', { continueFromShareId: shareId });
    expect((await getConversation(withoutParent.conversationId, reader)).json.mapping[second.assistantMessageId].children).toEqual([withoutParent.userMessageId]);

    const before = await db.rowCounts();
    const message = { id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: ['x'] } };
    const wrongParent = await postRaw({ action: 'next', messages: [message], parent_message_id: first.assistantMessageId, continue_from_shared_conversation_id: shareId }, reader);
    expect([wrongParent.statusCode, wrongParent.json.detail[0].loc]).toEqual([422, ['body', 'parent_message_id']]);
    const withConversation = await postRaw({ action: 'next', messages: [message], conversation_id: conversationId, parent_message_id: second.assistantMessageId, continue_from_shared_conversation_id: shareId }, reader);
    expect([withConversation.statusCode, withConversation.json.detail[0].loc]).toEqual([422, ['body', 'continue_from_shared_conversation_id']]);
    await patchShare(shareId, { is_visible: false }, owner);
    const revoked = await postRaw({ action: 'next', messages: [message], continue_from_shared_conversation_id: shareId }, reader);
    expect([revoked.statusCode, revoked.json.detail.code]).toEqual([404, 'share_not_found']);
    expect(await db.rowCounts()).toEqual(before);
  });
});
