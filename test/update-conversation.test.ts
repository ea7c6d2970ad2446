/**
 * The conversation lifecycle (docs/api.md#conversation-lifecycle) through the real update-conversation handler, against
 * the real Postgres and Redis: rename, archive, delete (one and all), gen_title, and the
 * cache invalidation each one owes the readers.
 */
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { closeDatabase, closeRedis, purgeDeletedConversations, resetConfig } from '@chatbot/shared/testing';
import {
  generateTitle,
  getConversation,
  listConversations,
  newUserId,
  patchAllConversations,
  patchConversation,
  postRaw,
  sendMessage,
} from './support/handlers';
import { rawRedis, runPrefix } from './support/redis';

const redis = rawRedis();
const db = new Client({ connectionString: process.env.DATABASE_URL });
const key = (name: string) => `${runPrefix()}${name}`;
const ids = (list: { json: { items: { id: string }[] } }) => list.json.items.map((item) => item.id);

beforeAll(() => db.connect());
afterAll(async () => {
  await closeRedis();
  await closeDatabase();
  await db.end();
  redis.disconnect();
});

/** The conversation row as stored, for "nothing changed" checks. */
async function storedRow(id: string) {
  const { rows } = await db.query('SELECT title, is_archived, deleted_at, update_time FROM conversations WHERE id = $1', [id]);
  return rows[0];
}

describe('PATCH /backend-api/conversation/{id}', () => {
  it('renames: 200 {"success": true}; a detail and a list cached a moment before show the new title at once', async () => {
    // Prepare
    const userId = newUserId();
    const sent = await sendMessage(userId, 'hello there');
    await getConversation(sent.conversationId, userId);
    expect((await getConversation(sent.conversationId, userId)).headers['x-cache']).toBe('HIT');
    await listConversations(userId);
    const before = await storedRow(sent.conversationId);

    // Act
    const res = await patchConversation(sent.conversationId, { title: '  Renamed chat ' }, userId);

    // Assess
    expect(res.statusCode).toBe(200);
    expect(res.json).toEqual({ success: true });
    const detail = await getConversation(sent.conversationId, userId);
    expect(detail.headers['x-cache']).toBe('MISS');
    expect(detail.json.title).toBe('Renamed chat');
    expect((await listConversations(userId)).json.items[0].title).toBe('Renamed chat');
    // A rename does not reorder the sidebar.
    expect((await storedRow(sent.conversationId)).update_time).toEqual(before.update_time);
  });

  it('archives: the conversation leaves the default list, appears in ?is_archived=true, and its detail says so', async () => {
    // Prepare
    const userId = newUserId();
    const kept = await sendMessage(userId, 'kept');
    const archived = await sendMessage(userId, 'archived');
    await listConversations(userId);
    await listConversations(userId, { is_archived: 'true' });
    await getConversation(archived.conversationId, userId);

    // Act
    const res = await patchConversation(archived.conversationId, { is_archived: true }, userId);

    // Assess
    expect(res.json).toEqual({ success: true });
    const list = await listConversations(userId);
    expect(ids(list)).toEqual([kept.conversationId]);
    expect(list.json.total).toBe(1);
    const archivedList = await listConversations(userId, { is_archived: 'true' });
    expect(ids(archivedList)).toEqual([archived.conversationId]);
    expect(archivedList.json.items[0].is_archived).toBe(true);
    expect(archivedList.json.total).toBe(1);
    const detail = await getConversation(archived.conversationId, userId);
    expect(detail.statusCode).toBe(200);
    expect(detail.json.is_archived).toBe(true);
    // Both views' pages live under the one list key.
    expect(await redis.hkeys(key(`user:${userId}:conversation_list`))).toEqual(expect.arrayContaining(['0:20', 'archived:0:20']));
  });

  it('posting into an archived conversation un-archives it', async () => {
    // Prepare
    const userId = newUserId();
    const sent = await sendMessage(userId, 'first');
    await patchConversation(sent.conversationId, { is_archived: true }, userId);
    await listConversations(userId, { is_archived: 'true' });

    // Act
    await sendMessage(userId, 'back again', { conversationId: sent.conversationId, parentMessageId: sent.assistantMessageId });

    // Assess
    expect(ids(await listConversations(userId))).toEqual([sent.conversationId]);
    expect((await listConversations(userId, { is_archived: 'true' })).json.total).toBe(0);
    expect((await getConversation(sent.conversationId, userId)).json.is_archived).toBe(false);
  });

  it('unarchives with is_archived: false', async () => {
    // Prepare
    const userId = newUserId();
    const sent = await sendMessage(userId, 'first');
    await patchConversation(sent.conversationId, { is_archived: true }, userId);

    // Act
    const res = await patchConversation(sent.conversationId, { is_archived: false }, userId);

    // Assess
    expect(res.statusCode).toBe(200);
    expect(ids(await listConversations(userId))).toEqual([sent.conversationId]);
  });

  it('deletes (is_visible: false): a detail cached a moment before answers 404 right after; it leaves the list; POST and PATCH into it are 404; its context is dropped', async () => {
    // Prepare
    const userId = newUserId();
    const kept = await sendMessage(userId, 'kept');
    const doomed = await sendMessage(userId, 'doomed');
    await getConversation(doomed.conversationId, userId);
    expect((await getConversation(doomed.conversationId, userId)).headers['x-cache']).toBe('HIT');
    await listConversations(userId);
    expect(await redis.exists(key(`chat:${doomed.conversationId}:context`))).toBe(1);

    // Act
    const res = await patchConversation(doomed.conversationId, { is_visible: false }, userId);

    // Assess
    expect(res.json).toEqual({ success: true });
    const detail = await getConversation(doomed.conversationId, userId);
    expect(detail.statusCode).toBe(404);
    expect(detail.json.detail.code).toBe('conversation_not_found');
    expect(ids(await listConversations(userId))).toEqual([kept.conversationId]);
    expect((await listConversations(userId, { is_archived: 'true' })).json.total).toBe(0);
    expect(await redis.exists(key(`chat:${doomed.conversationId}:context`))).toBe(0);
    const post = await postRaw(
      {
        action: 'next',
        conversation_id: doomed.conversationId,
        parent_message_id: doomed.assistantMessageId,
        messages: [{ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: ['still there?'] } }],
      },
      userId,
    );
    expect(post.statusCode).toBe(404);
    expect((await patchConversation(doomed.conversationId, { title: 'x' }, userId)).statusCode).toBe(404);
    expect((await patchConversation(doomed.conversationId, { is_visible: false }, userId)).statusCode).toBe(404);
    // Soft: the rows stay until the purge.
    expect((await storedRow(doomed.conversationId)).deleted_at).toBeInstanceOf(Date);
  });

  it('sets several fields at once', async () => {
    // Prepare
    const userId = newUserId();
    const sent = await sendMessage(userId, 'first');

    // Act
    const res = await patchConversation(sent.conversationId, { title: 'Both', is_archived: true }, userId);

    // Assess
    expect(res.statusCode).toBe(200);
    const row = await storedRow(sent.conversationId);
    expect(row).toMatchObject({ title: 'Both', is_archived: true, deleted_at: null });
  });

  it('is 404 for an unknown or a foreign conversation, and changes nothing', async () => {
    // Prepare
    const owner = newUserId();
    const sent = await sendMessage(owner, 'mine');
    const before = await storedRow(sent.conversationId);

    // Act
    const foreign = await patchConversation(sent.conversationId, { is_visible: false }, newUserId());
    const unknown = await patchConversation(randomUUID(), { title: 'x' }, owner);

    // Assess
    expect(foreign.statusCode).toBe(404);
    expect(unknown.statusCode).toBe(404);
    expect(foreign.json).toEqual(unknown.json);
    expect(await storedRow(sent.conversationId)).toEqual(before);
  });

  it.each([
    ['no known field', { color: 'blue' }, ['body']],
    ['an empty object', {}, ['body']],
    ['a blank title', { title: '   ' }, ['body', 'title']],
    ['an empty title', { title: '' }, ['body', 'title']],
    ['a 257-character title', { title: 'x'.repeat(257) }, ['body', 'title']],
    ['a title that is not a string', { title: 42 }, ['body', 'title']],
    ['a title object', { title: { toString: 1 } }, ['body', 'title']],
    ['a title with NUL', { title: 'a\u0000b' }, ['body', 'title']],
    ['is_archived as a string', { is_archived: 'true' }, ['body', 'is_archived']],
    ['is_visible: true', { is_visible: true }, ['body', 'is_visible']],
    ['is_visible: null', { is_visible: null }, ['body', 'is_visible']],
    ['a good field next to a bad one', { title: 'ok', is_archived: 1 }, ['body', 'is_archived']],
    ['a JSON array', [], ['body']],
    ['malformed JSON', '{"title": ', ['body']],
    ['prototype-member keys only', '{"__proto__": {"title": "x"}, "constructor": 1}', ['body']],
  ])('422 for %s, naming the field, and nothing changes', async (_case, body, loc) => {
    // Prepare
    const userId = newUserId();
    const sent = await sendMessage(userId, 'unchanged');
    const before = await storedRow(sent.conversationId);

    // Act
    const res = await patchConversation(sent.conversationId, body, userId);

    // Assess
    expect(res.statusCode).toBe(422);
    expect(res.json.detail).toEqual(expect.arrayContaining([expect.objectContaining({ loc })]));
    expect(await storedRow(sent.conversationId)).toEqual(before);
  });

  it('422 for a conversation id that is not a UUID; 256-character titles are fine', async () => {
    // Prepare
    const userId = newUserId();
    const sent = await sendMessage(userId, 'long title');

    // Act
    const badId = await patchConversation('not-a-uuid', { title: 'x' }, userId);
    const longest = await patchConversation(sent.conversationId, { title: 'y'.repeat(256) }, userId);

    // Assess
    expect(badId.statusCode).toBe(422);
    expect(longest.statusCode).toBe(200);
    expect((await storedRow(sent.conversationId)).title).toBe('y'.repeat(256));
  });

  it('401 without an identity', async () => {
    expect((await patchConversation(randomUUID(), { title: 'x' }, undefined)).statusCode).toBe(401);
  });
});

describe('PATCH /backend-api/conversations', () => {
  it('deletes all of the caller\'s conversations (archived ones too): the list says total 0, details 404, others untouched', async () => {
    // Prepare
    const userId = newUserId();
    const other = newUserId();
    const mine = [await sendMessage(userId, 'a'), await sendMessage(userId, 'b'), await sendMessage(userId, 'c')];
    await patchConversation(mine[2].conversationId, { is_archived: true }, userId);
    const theirs = await sendMessage(other, 'not yours');
    for (const sent of mine) await getConversation(sent.conversationId, userId);
    await listConversations(userId);

    // Act
    const res = await patchAllConversations({ is_visible: false }, userId);

    // Assess
    expect(res.json).toEqual({ success: true });
    const list = await listConversations(userId);
    expect(list.json).toMatchObject({ items: [], total: 0 });
    expect((await listConversations(userId, { is_archived: 'true' })).json.total).toBe(0);
    for (const sent of mine) expect((await getConversation(sent.conversationId, userId)).statusCode).toBe(404);
    expect((await getConversation(theirs.conversationId, other)).statusCode).toBe(200);
    expect((await listConversations(other)).json.total).toBe(1);
  });

  it('archives all: the default list is empty, the archived list has them all', async () => {
    // Prepare
    const userId = newUserId();
    const mine = [await sendMessage(userId, 'a'), await sendMessage(userId, 'b')];
    await getConversation(mine[0].conversationId, userId);
    await listConversations(userId);

    // Act
    const res = await patchAllConversations({ is_archived: true }, userId);

    // Assess
    expect(res.statusCode).toBe(200);
    expect((await listConversations(userId)).json.total).toBe(0);
    expect(ids(await listConversations(userId, { is_archived: 'true' })).sort()).toEqual(mine.map((m) => m.conversationId).sort());
    expect((await getConversation(mine[0].conversationId, userId)).json.is_archived).toBe(true);
  });

  it.each([
    ['a title (per conversation only)', { title: 'x' }],
    ['is_visible: true', { is_visible: true }],
    ['nothing', {}],
  ])('422 for %s, and nothing changes', async (_case, body) => {
    // Prepare
    const userId = newUserId();
    const sent = await sendMessage(userId, 'stays');
    const before = await storedRow(sent.conversationId);

    // Act
    const res = await patchAllConversations(body, userId);

    // Assess
    expect(res.statusCode).toBe(422);
    expect(await storedRow(sent.conversationId)).toEqual(before);
  });

  it('succeeds for a user with no conversations', async () => {
    expect((await patchAllConversations({ is_visible: false }, newUserId())).json).toEqual({ success: true });
  });
});

describe('POST /backend-api/conversation/gen_title/{id}', () => {
  it('regenerates the title from a message, stores it and invalidates the cached reads', async () => {
    // Prepare
    const userId = newUserId();
    const sent = await sendMessage(userId, 'Plan a weekend trip to Lisbon with kids');
    await patchConversation(sent.conversationId, { title: 'placeholder' }, userId);
    await getConversation(sent.conversationId, userId);
    await listConversations(userId);

    // Act
    const res = await generateTitle(sent.conversationId, { message_id: sent.assistantMessageId }, userId);

    // Assess
    expect(res.statusCode).toBe(200);
    expect(typeof res.json.title).toBe('string');
    expect(res.json.title).not.toBe('placeholder');
    expect(res.json.title.length).toBeGreaterThan(0);
    expect((await getConversation(sent.conversationId, userId)).json.title).toBe(res.json.title);
    expect((await listConversations(userId)).json.items[0].title).toBe(res.json.title);
  });

  it('422 for a message that is not in the conversation or a bad message_id; 404 for a stranger or a deleted conversation', async () => {
    // Prepare
    const userId = newUserId();
    const sent = await sendMessage(userId, 'title me');
    const deleted = await sendMessage(userId, 'gone');
    await patchConversation(deleted.conversationId, { is_visible: false }, userId);

    // Act
    const unknownMessage = await generateTitle(sent.conversationId, { message_id: randomUUID() }, userId);
    const badMessageId = await generateTitle(sent.conversationId, { message_id: { toString: 1 } }, userId);
    const stranger = await generateTitle(sent.conversationId, { message_id: sent.userMessageId }, newUserId());
    const gone = await generateTitle(deleted.conversationId, { message_id: deleted.userMessageId }, userId);

    // Assess
    expect(unknownMessage.statusCode).toBe(422);
    expect(badMessageId.statusCode).toBe(422);
    expect(stranger.statusCode).toBe(404);
    expect(gone.statusCode).toBe(404);
    expect((await storedRow(sent.conversationId)).title).toBe('title me');
  });
});

describe('the purge job', () => {
  afterEach(() => {
    delete process.env.DELETED_RETENTION_DAYS;
    delete process.env.PURGE_BATCH_SIZE;
    resetConfig();
  });

  it('hard-deletes only conversations deleted longer ago than the retention, in batches, idempotently, and safely twice at once', async () => {
    // Prepare
    process.env.DELETED_RETENTION_DAYS = '30';
    process.env.PURGE_BATCH_SIZE = '2';
    resetConfig();
    const userId = newUserId();
    const expired = [];
    for (let i = 0; i < 5; i += 1) expired.push(await sendMessage(userId, `old ${i}`));
    const recent = await sendMessage(userId, 'recently deleted');
    const live = await sendMessage(userId, 'live');
    await patchAllConversations({ is_visible: false }, userId);
    const restored = await db.query('UPDATE conversations SET deleted_at = NULL WHERE id = $1', [live.conversationId]);
    expect(restored.rowCount).toBe(1);
    await db.query(`UPDATE conversations SET deleted_at = now() - interval '31 days' WHERE id = ANY($1)`, [expired.map((e) => e.conversationId)]);
    await db.query(`UPDATE conversations SET deleted_at = now() - interval '29 days' WHERE id = $1`, [recent.conversationId]);

    // Act
    const [first, second] = await Promise.all([purgeDeletedConversations(), purgeDeletedConversations()]);
    const again = await purgeDeletedConversations();

    // Assess
    expect(first + second).toBe(5);
    expect(again).toBe(0);
    const { rows } = await db.query('SELECT id FROM conversations WHERE user_id = $1 ORDER BY id', [userId]);
    expect(rows.map((r) => r.id).sort()).toEqual([recent.conversationId, live.conversationId].sort());
    const orphans = await db.query('SELECT count(*)::int AS n FROM messages WHERE conversation_id = ANY($1)', [expired.map((e) => e.conversationId)]);
    expect(orphans.rows[0].n).toBe(0);
  });
});
