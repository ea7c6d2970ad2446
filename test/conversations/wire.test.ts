import { buildMapping, conversationDetailHead, conversationDetailPrefix, serializeConversationDetail, serializeConversationList, toIsoTime, type ConversationRow, type MessageRow } from '@chatbot/shared/testing';

const row = (id: string, parentId: string | null, role: MessageRow['role']): MessageRow => ({
  id, parentId, role, contentType: 'text', parts: [id], status: 'finished_successfully', endTurn: null, weight: 1, metadata: {}, recipient: 'all', createTime: 1.5,
});
const conversation: ConversationRow = {
  id: 'c1', userId: 'u"1', title: null, rootNodeId: 'r', currentNodeId: 'a2', defaultModelSlug: null, isArchived: false, createTime: 1701830474.616844, updateTime: 1701830476.257054,
};

describe('ChatGPT wire shapes', () => {
  const nodes = [row('r', null, 'root'), row('s', 'r', 'system'), row('u1', 's', 'user'), row('a1', 'u1', 'assistant'), row('a2', 'u1', 'assistant')];

  it('builds the node tree with children in insertion order, and a bare root', () => {
    const mapping = buildMapping(nodes);
    expect(mapping.r).toEqual({ id: 'r', children: ['s'] });
    expect(mapping.u1.children).toEqual(['a1', 'a2']);
    expect(mapping.a2).toMatchObject({ id: 'a2', parent: 'u1', children: [], message: { author: { role: 'assistant' }, content: { parts: ['a2'] } } });
  });

  it('keeps nodes whose ids are prototype member names as nodes, in the body too', () => {
    const odd = [row('__proto__', null, 'root'), row('constructor', '__proto__', 'system'), row('prototype', 'constructor', 'user'), row('hasOwnProperty', 'prototype', 'assistant')];
    const mapping = JSON.parse(JSON.stringify(buildMapping(odd)));
    expect(Object.keys(mapping).sort()).toEqual(['__proto__', 'constructor', 'hasOwnProperty', 'prototype']);
    expect(Object.hasOwn(mapping, '__proto__')).toBe(true);
    expect(mapping.__proto__.children).toEqual(['constructor']);
    expect(mapping.prototype).toMatchObject({ parent: 'constructor', children: ['hasOwnProperty'] });
  });

  it('starts the detail body with the conversation id and owner, so a hit is checked without parsing', () => {
    const body = serializeConversationDetail(conversation, nodes);
    expect(body.startsWith(conversationDetailPrefix('c1', 'u"1'))).toBe(true);
    expect(body.startsWith(conversationDetailPrefix('c1', 'u'))).toBe(false);
    expect(JSON.parse(body)).toMatchObject({ title: 'New chat', create_time: 1701830474.616844, current_node: 'a2', moderation_results: [], is_archived: false });
  });

  it('reads the owner prefix back off a body, whatever the ids contain, and nothing off another shape', () => {
    for (const [id, user] of [['c1', 'u1'], ['c"2', 'u\\",\"user_id\":\"x'], ['c3', 'ü,"title":"']]) {
      const body = serializeConversationDetail({ ...conversation, id, userId: user }, nodes);
      expect(conversationDetailHead(body)).toBe(conversationDetailPrefix(id, user));
    }
    expect(conversationDetailHead('{"items":[]}')).toBe('');
    expect(conversationDetailHead('{"conversation_id":"unterminated')).toBe('');
  });

  it('reports list times as ISO-8601 UTC and keeps total, limit and offset', () => {
    expect(toIsoTime(1701830474.616844)).toBe('2023-12-06T02:41:14.617Z');
    const list = JSON.parse(serializeConversationList({ total: 7, items: [conversation] }, 5, 2));
    expect(list).toEqual({
      items: [{ id: 'c1', title: 'New chat', create_time: '2023-12-06T02:41:14.617Z', update_time: '2023-12-06T02:41:16.257Z', mapping: null, current_node: null, conversation_template_id: null, gizmo_id: null, is_archived: false, workspace_id: null }],
      total: 7, limit: 2, offset: 5, has_missing_conversations: false,
    });
  });
});
