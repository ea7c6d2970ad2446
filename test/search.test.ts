/**
 * GET /backend-api/conversations/search through the real handler, on the real Postgres
 * (docs/api.md#search): what matches, in what order, one page at a time, and that a result
 * is fresh the moment a message, a rename or a deletion has been acknowledged.
 */
import { randomUUID } from 'node:crypto';
import { closeDatabase, closeRedis, createConversationWithMessage, insertMessageAndMoveCurrentNode } from '@chatbot/shared/testing';
import { newUserId, patchAllConversations, patchConversation, searchConversations, sendMessage } from './support/handlers';

afterAll(async () => {
  await closeRedis();
  await closeDatabase();
});

/** A word no other test uses: each test's matches are its own. */
const word = (): string => `w${randomUUID().replaceAll('-', '').slice(0, 10)}`;

/** A conversation of `texts` (user, assistant, user, …), written as the app writes them; its id and message ids. */
async function seed(userId: string, texts: readonly string[], title?: string): Promise<{ id: string; messageIds: string[] }> {
  const id = randomUUID();
  const first = await createConversationWithMessage({ id, userId, rootNodeId: randomUUID(), systemNodeId: randomUUID(), message: { id: randomUUID(), parts: [texts[0]] } });
  const messageIds = [first.id];
  for (const [i, text] of texts.slice(1).entries()) {
    const stored = await insertMessageAndMoveCurrentNode({
      conversationId: id,
      message: { id: randomUUID(), parentId: messageIds.at(-1)!, role: i % 2 === 0 ? 'assistant' : 'user', parts: [text] },
      title,
    });
    messageIds.push(stored!.id);
  }
  if (title !== undefined && texts.length === 1) await patchConversation(id, { title }, userId);
  return { id, messageIds };
}

const search = async (userId: string, query: string, extra: Record<string, string> = {}) => {
  const response = await searchConversations(userId, { query, ...extra });
  expect(response.statusCode).toBe(200);
  return response.json as { items: { conversation_id: string; current_node_id: string; title: string; is_archived: boolean; update_time: number; payload: { kind: string; message_id?: string; snippet: string } }[]; cursor: string | null };
};
const ids = (page: { items: { conversation_id: string }[] }) => page.items.map((item) => item.conversation_id);

describe('matching', () => {
  it('answers ChatGPT\'s shape: the conversation, its best message and a snippet around the match', async () => {
    const userId = newUserId();
    const [a, b] = [word(), word()];
    const conversation = await seed(userId, ['How do I configure the cache?', `Set ${a} in the stack and then ${b} for the functions.`], 'Cache setup');

    const page = await search(userId, `${b} ${a}`);

    expect(page).toEqual({
      items: [
        {
          conversation_id: conversation.id,
          current_node_id: conversation.messageIds[1],
          title: 'Cache setup',
          is_archived: false,
          update_time: expect.any(Number),
          // ts_headline cuts at word boundaries: the final period is not a word.
          payload: { kind: 'message', message_id: conversation.messageIds[1], snippet: `Set ${a} in the stack and then ${b} for the functions` },
        },
      ],
      cursor: null,
    });
  });

  it('matches titles too: a title-only match has kind "title" and the title as its snippet', async () => {
    const userId = newUserId();
    const topic = word();
    const conversation = await seed(userId, ['nothing to see here']);
    expect((await patchConversation(conversation.id, { title: `Notes on ${topic}` }, userId)).statusCode).toBe(200);

    const page = await search(userId, topic);

    expect(page.items).toEqual([expect.objectContaining({ conversation_id: conversation.id, title: `Notes on ${topic}`, payload: { kind: 'title', snippet: `Notes on ${topic}` } })]);
  });

  it('supports "quoted phrases", -excluded words and words in any order', async () => {
    const userId = newUserId();
    const [x, y, z] = [word(), word(), word()];
    const ordered = await seed(userId, [`${x} ${y} first`]);
    const reversed = await seed(userId, [`${y} ${x} second`]);
    const excluded = await seed(userId, [`${x} ${y} ${z} third`]);

    expect(ids(await search(userId, `${y} ${x}`)).sort()).toEqual([ordered.id, reversed.id, excluded.id].sort());
    expect(ids(await search(userId, `"${x} ${y}"`)).sort()).toEqual([ordered.id, excluded.id].sort());
    expect(ids(await search(userId, `${x} ${y} -${z}`)).sort()).toEqual([ordered.id, reversed.id].sort());
    expect(ids(await search(userId, `${x} or nothingmatches${z}`)).sort()).toEqual([ordered.id, reversed.id, excluded.id].sort());
  });

  it('matches the last word as a prefix while it is being typed, and whole once a space follows it', async () => {
    const userId = newUserId();
    const stem = word();
    const conversation = await seed(userId, [`the ${stem}ing part`]);

    expect(ids(await search(userId, stem.slice(0, 6)))).toEqual([conversation.id]);
    expect(ids(await search(userId, `part ${stem}`))).toEqual([conversation.id]);
    expect(ids(await search(userId, `${stem} `))).toEqual([]);
    expect(ids(await search(userId, `"${stem}"`))).toEqual([]);
    // An excluded word is never a prefix: "-wor" excludes "wor", not every word starting so.
    expect(ids(await search(userId, `part -${stem.slice(0, 6)}`))).toEqual([conversation.id]);
  });

  it('matches any script and case, and keeps other users\' conversations out, whatever matches', async () => {
    const [owner, other] = [newUserId(), newUserId()];
    const tag = word();
    const mine = await seed(owner, [`Привет мир ${tag} 你好 café`]);
    await seed(other, [`Привет мир ${tag} 你好 café`]);

    for (const query of ['привет', 'МИР', tag.toUpperCase(), 'café', '你好']) expect(ids(await search(owner, query))).toEqual([mine.id]);
    expect(ids(await search(newUserId(), tag))).toEqual([]);
  });

  it('ranks by relevance, then by the matching message\'s time', async () => {
    const userId = newUserId();
    const term = word();
    const once = await seed(userId, [`one ${term} among many other words here`]);
    const often = await seed(userId, [`${term} ${term} ${term} again ${term}`]);
    const onceLater = await seed(userId, [`one ${term} among many other words here`]);

    expect(ids(await search(userId, term))).toEqual([often.id, onceLater.id, once.id]);
  });

  it('finds one item per conversation, with its best-matching message', async () => {
    const userId = newUserId();
    const term = word();
    const conversation = await seed(userId, [`a ${term}`, 'no match', `${term} ${term} ${term}`, 'no match again']);

    const page = await search(userId, term);

    expect(page.items).toHaveLength(1);
    expect(page.items[0].payload).toEqual({ kind: 'message', message_id: conversation.messageIds[2], snippet: `${term} ${term} ${term}` });
  });

  it('cuts a snippet from a long message around the match', async () => {
    const userId = newUserId();
    const term = word();
    const long = `${'filler words before '.repeat(400)}the ${term} is here${' and filler words after'.repeat(400)}`;
    await seed(userId, [long]);

    const [item] = (await search(userId, term)).items;

    expect(item.payload.snippet).toContain(term);
    expect(item.payload.snippet.length).toBeLessThan(400);
  });
});

describe('freshness', () => {
  it('finds an acknowledged message, a new title and not an old one, flags an archive, and loses a deletion at once', async () => {
    const userId = newUserId();
    const [said, renamed] = [word(), word()];

    const first = await sendMessage(userId, `tell me about ${said}`);
    expect(ids(await search(userId, said))).toEqual([first.conversationId]);

    const follow = word();
    await sendMessage(userId, `and ${follow}?`, { conversationId: first.conversationId, parentMessageId: first.assistantMessageId });
    expect(ids(await search(userId, follow))).toEqual([first.conversationId]);

    await patchConversation(first.conversationId, { title: `About ${renamed}` }, userId);
    expect((await search(userId, renamed)).items).toEqual([expect.objectContaining({ conversation_id: first.conversationId, title: `About ${renamed}` })]);
    expect((await search(userId, said)).items[0].title).toBe(`About ${renamed}`);
    const renamedAgain = word();
    await patchConversation(first.conversationId, { title: `About ${renamedAgain}` }, userId);
    expect(ids(await search(userId, renamedAgain))).toEqual([first.conversationId]);
    expect(ids(await search(userId, renamed))).toEqual([]);

    await patchConversation(first.conversationId, { is_archived: true }, userId);
    expect((await search(userId, said)).items).toEqual([expect.objectContaining({ conversation_id: first.conversationId, is_archived: true })]);

    await patchConversation(first.conversationId, { is_visible: false }, userId);
    expect(await search(userId, said)).toEqual({ items: [], cursor: null });
    expect(await search(userId, renamedAgain)).toEqual({ items: [], cursor: null });
  });

  it('loses every conversation at once after "delete all"', async () => {
    const userId = newUserId();
    const term = word();
    await seed(userId, [`${term} one`]);
    await seed(userId, [`${term} two`]);
    expect(ids(await search(userId, term))).toHaveLength(2);

    await patchAllConversations({ is_visible: false }, userId);

    expect(ids(await search(userId, term))).toEqual([]);
  });
});

describe('paging', () => {
  it('walks every match once with an opaque cursor, stable while new matching messages arrive', async () => {
    const userId = newUserId();
    const term = word();
    const seeded = [];
    for (let i = 0; i < 5; i += 1) seeded.push(await seed(userId, [`${term} number ${i}`]));

    const seen: string[] = [];
    let page = await search(userId, term, { limit: '2' });
    seen.push(...ids(page));
    expect(page.items).toHaveLength(2);
    // Between pages: a new matching conversation, and a new matching message in one already listed.
    await seed(userId, [`${term} arrived later`]);
    await insertMessageAndMoveCurrentNode({ conversationId: seeded[4].id, message: { id: randomUUID(), parentId: seeded[4].messageIds[0], role: 'assistant', parts: [`${term} ${term} ${term} ${term}`] } });
    while (page.cursor !== null) {
      expect(page.cursor).toMatch(/^[\w-]+$/);
      page = await search(userId, term, { limit: '2', cursor: page.cursor });
      seen.push(...ids(page));
    }

    expect(seen).toHaveLength(5);
    expect(new Set(seen)).toEqual(new Set(seeded.map((c) => c.id)));
    // A new search sees what arrived.
    expect(ids(await search(userId, term, { limit: '50' }))).toHaveLength(6);
  });

  it('refuses a cursor it did not issue, or one issued for another query, with a 422', async () => {
    const userId = newUserId();
    const term = word();
    for (let i = 0; i < 3; i += 1) await seed(userId, [`${term} ${i}`]);
    const { cursor } = await search(userId, term, { limit: '1' });
    expect(cursor).not.toBeNull();

    for (const bad of ['', 'abc', cursor!.slice(0, -3), Buffer.from('[1,"x","1",0.1,"1","not-a-uuid"]').toString('base64url'), Buffer.from('{}').toString('base64url'), 'a'.repeat(600)]) {
      const response = await searchConversations(userId, { query: term, cursor: bad });
      expect([bad, response.statusCode, response.json.detail[0].loc]).toEqual([bad, 422, ['query', 'cursor']]);
    }
    const other = await searchConversations(userId, { query: `${term} other`, cursor: cursor! });
    expect(other.statusCode).toBe(422);
    expect(other.json.detail[0].msg).toMatch(/another query/);
  });
});

describe('bad queries', () => {
  it('answers 422 for a missing, blank, over-long or unstorable query, or a limit outside 1–50', async () => {
    const userId = newUserId();
    const cases: [Record<string, string>, string][] = [
      [{}, 'query'],
      [{ query: '' }, 'query'],
      [{ query: ' \t\n ' }, 'query'],
      [{ query: 'a'.repeat(257) }, 'query'],
      [{ query: 'a\u0000b' }, 'query'],
      [{ query: 'a\ud800' }, 'query'],
      [{ query: 'a', limit: '0' }, 'limit'],
      [{ query: 'a', limit: '51' }, 'limit'],
      [{ query: 'a', limit: 'x' }, 'limit'],
    ];
    for (const [query, field] of cases) {
      const response = await searchConversations(userId, query);
      expect([JSON.stringify(query), response.statusCode, response.json.detail[0].loc]).toEqual([JSON.stringify(query), 422, ['query', field]]);
    }
    expect((await searchConversations(userId, { query: 'a'.repeat(256) })).statusCode).toBe(200);
  });

  it('answers 401 without an identity', async () => {
    expect((await searchConversations(undefined, { query: 'a' })).statusCode).toBe(401);
  });
});
