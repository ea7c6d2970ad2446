import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import {
  closeDatabase,
  createConversationWithMessage,
  databaseStats,
  getBranchMessagesByLeafId,
  getConversationWithMessagesById,
  getTurnTargetByConversationId,
  insertMessageAndMoveCurrentNode,
  MessageConflictError,
  releaseReplyRoomById,
  reserveReplyRoomById,
  listConversationsByUserId,
} from '@chatbot/shared/testing';

const db = new Client({ connectionString: process.env.DATABASE_URL });
beforeAll(() => db.connect());
afterAll(async () => {
  await db.end();
  await closeDatabase();
});

const getConversationById = async ({ id }: { id: string }) => (await getConversationWithMessagesById({ id }))?.conversation ?? null;

/** A conversation whose main branch alternates user/assistant for `turns` turns. */
async function seedConversation(userId: string, turns: number) {
  const id = randomUUID();
  const rootNodeId = randomUUID();
  const systemNodeId = randomUUID();
  const first = await createConversationWithMessage({ id, userId, rootNodeId, systemNodeId, message: { id: randomUUID(), parts: ['u1'] } });
  const ids = [first.id];
  let parent = first.id;
  for (let i = 1; i < turns * 2; i++) {
    const role = i % 2 === 1 ? 'assistant' : 'user';
    const row = (await insertMessageAndMoveCurrentNode({ conversationId: id, message: { id: randomUUID(), parentId: parent, role, parts: [`${role[0]}${Math.ceil((i + 1) / 2)}`] } }))!;
    ids.push(row.id);
    parent = row.id;
  }
  return { id, rootNodeId, systemNodeId, ids };
}

describe('conversation repository on a real Postgres', () => {
  it('creates a conversation with its root, hidden system node and first message in one statement', async () => {
    const userId = `u-${randomUUID()}`;
    const before = databaseStats.queries;
    const { id, rootNodeId, systemNodeId, ids } = await seedConversation(userId, 1);
    const { conversation, messages: nodes } = (await getConversationWithMessagesById({ id }))!;
    expect(conversation).toMatchObject({ id, userId, rootNodeId, currentNodeId: ids[1], title: null, isArchived: false });
    expect(conversation.updateTime).toBeGreaterThan(conversation.createTime);
    expect(databaseStats.queries - before).toBe(3); // create, one insert, one read of everything
    const byRole = Object.fromEntries(nodes.map((n) => [n.role, n]));
    expect(nodes).toHaveLength(4);
    expect(byRole.root).toMatchObject({ id: rootNodeId, parentId: null });
    expect(byRole.system).toMatchObject({ id: systemNodeId, parentId: rootNodeId, metadata: { is_visually_hidden_from_conversation: true } });
    expect(byRole.user).toMatchObject({ id: ids[0], parentId: systemNodeId, contentType: 'text', parts: ['u1'], status: 'finished_successfully', weight: 1 });
    expect(byRole.assistant).toMatchObject({ id: ids[1], parentId: ids[0] });
  });

  it('returns null for an unknown conversation', async () => {
    expect(await getConversationById({ id: randomUUID() })).toBeNull();
    expect(await getTurnTargetByConversationId({ conversationId: randomUUID(), parentId: 'x' })).toBeNull();
  });

  it('reads the owner, the parent role and an existing message id in one query', async () => {
    const userId = `u-${randomUUID()}`;
    const { id, ids } = await seedConversation(userId, 1);
    // The size counters (migration 003) come with it: the user and assistant message, and their
    // parts' bytes; the room running replies hold (migration 005): none here; and the last model,
    // with the replies under the reply's parent only when asked (a regenerate).
    const size = { messageCount: 2, contentBytes: expect.any(Number), reservedMessages: 0, reservedBytes: 0, defaultModelSlug: null, replyCount: 0 };
    expect(await getTurnTargetByConversationId({ conversationId: id, parentId: ids[1], messageId: randomUUID() })).toEqual({
      userId, parentId: ids[1], parentRole: 'assistant', existing: null, untitled: true, ...size,
    });
    expect(await getTurnTargetByConversationId({ conversationId: id, parentId: 'nope', messageId: ids[1] })).toEqual({
      userId, parentId: 'nope', parentRole: null, existing: { parentId: ids[0], role: 'assistant' }, untitled: true, ...size,
    });
    // No parent asked for: the conversation's current node (the reply) is the parent.
    expect(await getTurnTargetByConversationId({ conversationId: id, parentId: null })).toMatchObject({ parentId: ids[1], parentRole: 'assistant' });
    // ids[0] (the user message) has one reply: under it (as the parent, or as the message re-sent), a regenerate is the second.
    expect(await getTurnTargetByConversationId({ conversationId: id, parentId: ids[0], countReplies: true })).toMatchObject({ replyCount: 1 });
    expect(await getTurnTargetByConversationId({ conversationId: id, parentId: 'x', messageId: ids[0], countReplies: true })).toMatchObject({ replyCount: 1 });
    expect(await getTurnTargetByConversationId({ conversationId: id, parentId: ids[1], countReplies: true })).toMatchObject({ replyCount: 0 });
  });

  it('holds room for running replies only while they fit, gives it back, and lets a forgotten hold lapse', async () => {
    const { id, ids } = await seedConversation(`u-${randomUUID()}`, 1);
    const target = () => getTurnTargetByConversationId({ conversationId: id, parentId: ids[1] });
    const { contentBytes } = (await target())!;
    const room = { bytes: 1000, holdSeconds: 60, maxMessages: 4, maxBytes: contentBytes + 2000 };

    // Two replies fit (4 messages, 2,000 bytes of room); a third does not, and changes nothing.
    expect(await reserveReplyRoomById({ id, room })).toBe(true);
    expect(await reserveReplyRoomById({ id, room })).toBe(true);
    expect(await reserveReplyRoomById({ id, room })).toBe(false);
    expect(await target()).toMatchObject({ reservedMessages: 2, reservedBytes: 2000 });

    // One stores nothing and gives its room back; the other's hold is forgotten (its container died) and lapses.
    await releaseReplyRoomById({ id, room });
    expect(await target()).toMatchObject({ reservedMessages: 1, reservedBytes: 1000 });
    await db.query(`UPDATE conversations SET reserved_until = now() - interval '1 second' WHERE id = $1`, [id]);
    expect(await target()).toMatchObject({ reservedMessages: 0, reservedBytes: 0 });
    expect(await reserveReplyRoomById({ id, room })).toBe(true);
    expect(await target()).toMatchObject({ reservedMessages: 1, reservedBytes: 1000 });
  });

  it('refuses a parent that is not in the conversation and a duplicate id (constraints, not code), as typed conflicts', async () => {
    const { id, ids } = await seedConversation(`u-${randomUUID()}`, 1);
    const missingParent = insertMessageAndMoveCurrentNode({ conversationId: id, message: { id: randomUUID(), parentId: 'ghost', role: 'user', parts: ['x'] } });
    await expect(missingParent).rejects.toBeInstanceOf(MessageConflictError);
    await expect(missingParent).rejects.toMatchObject({ reason: 'parent_missing', cause: { code: '23503' } });
    await expect(insertMessageAndMoveCurrentNode({ conversationId: id, message: { id: ids[0], parentId: ids[1], role: 'user', parts: ['x'] } })).rejects.toMatchObject({
      reason: 'id_taken',
      cause: { code: '23505' },
    });
    expect((await getConversationById({ id }))!.currentNodeId).toBe(ids[1]); // the failed statements moved nothing
  });

  it('sets the title with the message when given', async () => {
    const { id, ids } = await seedConversation(`u-${randomUUID()}`, 1);
    await insertMessageAndMoveCurrentNode({ conversationId: id, message: { id: randomUUID(), parentId: ids[1], role: 'user', parts: ['x'] }, title: 'Named' });
    expect((await getConversationById({ id }))!.title).toBe('Named');
  });

  it('returns the last N user/assistant messages of a branch, oldest first, whatever its length', async () => {
    const { id, ids } = await seedConversation(`u-${randomUUID()}`, 15);
    const last20 = await getBranchMessagesByLeafId({ conversationId: id, leafId: ids.at(-1)!, limit: 20 });
    expect(last20.map((m) => m.id)).toEqual(ids.slice(-20));
    const fromMiddle = await getBranchMessagesByLeafId({ conversationId: id, leafId: ids[5], limit: 20 });
    expect(fromMiddle.map((m) => m.id)).toEqual(ids.slice(0, 6));
    // A sibling branch off message 3 does not include what came after 3 on the main branch.
    const branch = (await insertMessageAndMoveCurrentNode({ conversationId: id, message: { id: randomUUID(), parentId: ids[3], role: 'user', parts: ['edit'] } }))!;
    const edited = await getBranchMessagesByLeafId({ conversationId: id, leafId: branch.id, limit: 3 });
    expect(edited.map((m) => m.id)).toEqual([ids[2], ids[3], branch.id]);
  });

  it('pages a user\'s conversations newest first, with the total of all of them', async () => {
    const userId = `u-${randomUUID()}`;
    const created = [];
    for (let i = 0; i < 5; i++) created.push((await seedConversation(userId, 1)).id);
    await seedConversation(`other-${randomUUID()}`, 1);
    const newestFirst = [...created].reverse();
    const page = await listConversationsByUserId({ userId, offset: 1, limit: 2 });
    expect(page.total).toBe(5);
    expect(page.items.map((c) => c.id)).toEqual(newestFirst.slice(1, 3));
    expect((await listConversationsByUserId({ userId, offset: 10, limit: 2 }))).toEqual({ total: 5, items: [] });
    // Touching the oldest moves it to the top.
    const oldest = await getConversationById({ id: created[0] });
    await insertMessageAndMoveCurrentNode({ conversationId: created[0], message: { id: randomUUID(), parentId: oldest!.currentNodeId, role: 'user', parts: ['bump'] } });
    expect((await listConversationsByUserId({ userId, offset: 0, limit: 1 })).items[0].id).toBe(created[0]);
  });

  describe('query plans (EXPLAIN) use the indexes', () => {
    beforeAll(async () => {
      // Enough rows that the planner would rather not scan, and fresh statistics.
      const rows = [];
      for (let i = 0; i < 2000; i++) rows.push(`('${randomUUID()}', 'bulk-${i % 200}', 'r', 's')`);
      await db.query(`INSERT INTO conversations (id, user_id, root_node_id, current_node_id) VALUES ${rows.join(',')}`);
      await db.query(`INSERT INTO messages (conversation_id, id, role)
                      SELECT c.id, 'n' || g, 'root' FROM conversations c, generate_series(1, 5) g WHERE c.user_id LIKE 'bulk-%'`);
      await db.query('ANALYZE conversations; ANALYZE messages');
    });
    const plan = async (sql: string, params: unknown[]) => (await db.query(`EXPLAIN ${sql}`, params)).rows.map((r) => r['QUERY PLAN']).join('\n');

    it.each([false, true])('list by user ordered by update_time, archived view = %s, and its total', async (archived) => {
      const live = 'user_id = $1 AND is_archived = $2 AND deleted_at IS NULL';
      const page = await plan(`SELECT id FROM conversations WHERE ${live} ORDER BY update_time DESC, id DESC LIMIT 20 OFFSET 0`, ['bulk-7', archived]);
      expect(page).toContain('conversations_user_list_idx');
      expect(page).not.toContain('Seq Scan');
      const total = await plan(`SELECT count(*) FROM conversations WHERE ${live}`, ['bulk-7', archived]);
      expect(total).toContain('conversations_user_list_idx');
      expect(total).not.toContain('Seq Scan');
    });

    it('the purge finds expired deletions without scanning live rows', async () => {
      const text = await plan(
        `SELECT id FROM conversations WHERE deleted_at IS NOT NULL AND deleted_at < $1 ORDER BY deleted_at LIMIT 500 FOR UPDATE SKIP LOCKED`,
        [new Date()],
      );
      expect(text).toContain('conversations_deleted_at_idx');
      expect(text).not.toContain('Seq Scan');
    });

    it('a conversation\'s nodes and a branch walk', async () => {
      const nodes = await plan('SELECT id FROM messages WHERE conversation_id = $1 ORDER BY seq', [randomUUID()]);
      expect(nodes).toContain('messages_pkey');
      const step = await plan('SELECT id FROM messages WHERE conversation_id = $1 AND id = $2', [randomUUID(), 'x']);
      expect(step).toMatch(/Index (Only )?Scan using messages_pkey/);
    });
  });
});
