/**
 * docs/api.md#cache-contract rule 2 and docs/api.md#endpoints: another user can neither read (from the cache or not), list, nor
 * post into a conversation; the user id only ever comes from the authorizer's `sub`. Two
 * isolated layer copies stand in for two containers sharing one Redis. Token checks belong
 * to the local authorizer (`local/auth.ts`) and are exercised against its verify function.
 */
import { randomUUID } from 'node:crypto';
import { buildRestApiEvent, invokeHandler } from '../../local/lambda-runtime';
import { authenticateAuthorizationHeader, InvalidTokenError, signLocalToken, verifyLocalToken } from '../../local/auth';
import { newUserId } from '../support/handlers';
import { rawRedis, runPrefix } from '../support/redis';
import { AssertionDatabase } from './support/database';
import { closeAllLayerInstances, loadLayerInstance, type LayerInstance } from './support/layer-instance';
import { AckLedger } from './support/ledger';
import { seedConversations, type TrackedConversation } from './support/traffic';

const db = new AssertionDatabase();
const redis = rawRedis();
let a: LayerInstance;
let b: LayerInstance;
const owner = newUserId();
const stranger = newUserId();
let conversation: TrackedConversation;
const historyKey = (id: string) => `${runPrefix()}conv:${id}:history`;
const listKey = (userId: string) => `${runPrefix()}user:${userId}:conversation_list`;

beforeAll(async () => {
  a = loadLayerInstance();
  b = loadLayerInstance();
  [conversation] = await seedConversations(a, new AckLedger(), owner, 1);
});

afterAll(async () => {
  await closeAllLayerInstances();
  await db.close();
  redis.disconnect();
});

const NOT_FOUND = { detail: { message: 'Conversation not found', code: 'conversation_not_found' } };

describe('authorization between users', () => {
  it('a stranger cannot read a conversation, uncached or cached by another container', async () => {
    await redis.del(historyKey(conversation.id));
    const uncached = await b.api.getConversation(conversation.id, stranger);
    expect(uncached.statusCode).toBe(404);
    expect(uncached.json).toEqual(NOT_FOUND);

    expect((await a.api.getConversation(conversation.id, owner)).statusCode).toBe(200);
    expect(await redis.exists(historyKey(conversation.id))).toBe(1);
    for (const layer of [a, b]) {
      const cached = await layer.api.getConversation(conversation.id, stranger);
      expect(cached.statusCode).toBe(404);
      expect(cached.json).toEqual(NOT_FOUND);
      expect(cached.body).not.toContain('seed 0');
    }
    // A user id that is a prefix of the owner's must not pass the ownership check on a hit.
    const prefixOfOwner = await b.api.getConversation(conversation.id, owner.slice(0, -1));
    expect(prefixOfOwner.statusCode).toBe(404);
    expect((await b.api.getConversation(conversation.id, owner)).headers['x-cache']).toBe('HIT');
  });

  it('a stranger does not see it listed, cached or not, whatever the query says', async () => {
    expect((await a.api.listConversations(owner)).json.items.map((i: { id: string }) => i.id)).toEqual([conversation.id]);
    for (const query of [{}, { user_id: owner }, { sub: owner }, { userId: owner, offset: '0', limit: '20' }] as Record<string, string>[]) {
      const listed = await b.api.listConversations(stranger, query);
      expect(listed.statusCode).toBe(200);
      expect(listed.json.items).toEqual([]);
      expect(listed.json.total).toBe(0);
    }
    expect(await redis.exists(listKey(owner))).toBe(1);
  });

  it('a stranger cannot post into it (404, nothing stored, nothing invalidated), with any action', async () => {
    await a.api.getConversation(conversation.id, owner);
    const cachedBefore = await redis.get(historyKey(conversation.id));
    expect(cachedBefore).not.toBeNull();
    const rowsBefore = await db.rowCounts();
    const attempts = [
      { action: 'next', parent_message_id: conversation.lastAssistantId, messages: [{ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: ['intrusion'] } }] },
      { action: 'variant', parent_message_id: conversation.acked[0], messages: [{ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: ['edit'] } }] },
      { action: 'variant', parent_message_id: conversation.acked[0], messages: [{ id: conversation.acked[0], author: { role: 'user' }, content: { content_type: 'text', parts: ['regenerate'] } }] },
      { action: 'continue', parent_message_id: conversation.lastAssistantId },
    ];
    for (const attempt of attempts) {
      // Claiming to be the owner in the body changes nothing.
      const response = await b.api.postRaw({ ...attempt, conversation_id: conversation.id, user_id: owner, sub: owner }, stranger);
      expect({ action: attempt.action, status: response.statusCode }).toEqual({ action: attempt.action, status: 404 });
      expect(response.json).toEqual(NOT_FOUND);
    }
    expect(await db.rowCounts()).toEqual(rowsBefore);
    expect(await redis.get(historyKey(conversation.id))).toBe(cachedBefore);
    const read = await a.api.getConversation(conversation.id, owner);
    expect(read.json.current_node).toBe(conversation.lastAssistantId);
    expect(Object.keys(read.json.mapping)).toHaveLength(4);
  });

  it('takes the user id only from the authorizer: body, query and headers naming someone else are ignored', async () => {
    const userMessageId = randomUUID();
    const event = buildRestApiEvent({
      method: 'POST',
      resource: '/backend-api/f/conversation',
      path: '/backend-api/f/conversation',
      query: { user_id: owner, sub: owner },
      headers: { 'Content-Type': 'application/json', 'X-User-Id': owner, 'X-Amzn-Oidc-Identity': owner, 'X-Forwarded-User': owner },
      body: JSON.stringify({
        action: 'next',
        user_id: owner,
        sub: owner,
        requestContext: { authorizer: { claims: { sub: owner } } },
        messages: [{ id: userMessageId, author: { role: 'user', user_id: owner }, content: { content_type: 'text', parts: ['whose is this?'] }, metadata: { user_id: owner } }],
      }),
      userId: stranger,
    });
    // b's own copy of the handler (the emulator's event builder is the only thing used directly).
    const result = await invokeHandler(b.handlers.post, event);
    expect(result.statusCode).toBe(200);
    if (result.streamed) for await (const chunk of result.body) void chunk;
    const stored = await db.conversationsWithMessage(userMessageId);
    expect(stored).toHaveLength(1);
    expect(await db.conversationOwner(stored[0])).toBe(stranger);
    expect((await b.api.getConversation(stored[0], owner)).statusCode).toBe(404);
    expect((await b.api.listConversations(owner)).json.items.map((i: { id: string }) => i.id)).toEqual([conversation.id]);
  });
});

describe('local authorizer tokens (local/auth.ts)', () => {
  const secret = 'reliability-secret';
  const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

  it('accepts a token it signed, with the sub as the user id', async () => {
    expect((await verifyLocalToken(signLocalToken('alice', { secret }), { secret })).sub).toBe('alice');
    expect((await authenticateAuthorizationHeader(`Bearer ${signLocalToken('alice', { secret })}`, { secret })).sub).toBe('alice');
  });

  it.each([
    ['forged (another secret)', () => signLocalToken('alice', { secret: 'not-the-secret' })],
    ['expired', () => signLocalToken('alice', { secret, expiresInSeconds: 60, now: Math.floor(Date.now() / 1000) - 3600 })],
    ['alg none, no signature', () => `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ sub: 'alice', exp: Date.now() / 1000 + 600 })}.`],
    ['alg none with the original signature', () => {
      const [, payload, signature] = signLocalToken('alice', { secret }).split('.');
      return `${base64url({ alg: 'none', typ: 'JWT' })}.${payload}.${signature}`;
    }],
    ['alg HS512 header swap', () => {
      const [, payload, signature] = signLocalToken('alice', { secret }).split('.');
      return `${base64url({ alg: 'HS512', typ: 'JWT' })}.${payload}.${signature}`;
    }],
    ['payload swapped to another sub', () => {
      const [header, , signature] = signLocalToken('alice', { secret }).split('.');
      return `${header}.${base64url({ sub: 'mallory', exp: Date.now() / 1000 + 600 })}.${signature}`;
    }],
    ['no sub', () => {
      const token = signLocalToken('alice', { secret });
      const [header] = token.split('.');
      const payload = base64url({ exp: Date.now() / 1000 + 600 });
      const { createHmac } = require('node:crypto') as typeof import('node:crypto');
      return `${header}.${payload}.${createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url')}`;
    }],
    ['exp as a string', () => {
      const [header] = signLocalToken('alice', { secret }).split('.');
      const payload = base64url({ sub: 'alice', exp: '9999999999' });
      const { createHmac } = require('node:crypto') as typeof import('node:crypto');
      return `${header}.${payload}.${createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url')}`;
    }],
    ['two segments', () => signLocalToken('alice', { secret }).split('.').slice(0, 2).join('.')],
    ['empty', () => ''],
    ['garbage', () => 'a.b.c'],
  ])('rejects a token that is %s', async (_name, token) => {
    await expect(verifyLocalToken(token(), { secret })).rejects.toThrow(InvalidTokenError);
  });

  it.each([[undefined], [''], ['Basic YWxpY2U6cHc='], ['Bearer'], ['bearer  ']])('rejects the Authorization header %j', async (header) => {
    await expect(authenticateAuthorizationHeader(header, { secret })).rejects.toThrow(InvalidTokenError);
  });
});
