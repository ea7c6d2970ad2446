/**
 * The operation table: what the clients do, and how often. About 95 % reads (a conversation's
 * detail, the sidebar list, and a probe of someone else's conversation) and 5 % writes (turns,
 * renames, archives, deletes). Conversations are picked by popularity (Zipf), so a few are hot.
 *
 * Adding an operation is one row. For example, once search and feedback exist:
 *
 *   { name: 'search', kind: 'read', weight: 3, run: async (context) => {
 *       const conversation = readTarget(context);
 *       const result = await context.api.send('search', 'read', conversation.owner,
 *         { method: 'GET', path: `/backend-api/conversations/search?query=${encodeURIComponent(firstWord(conversation))}` });
 *       // check it like a list: context.checker.checkSearch(conversation.owner, result) — every hit the user's own,
 *       // and a conversation renamed before the search started found under its new title
 *       return true;
 *   } },
 *   { name: 'feedback', kind: 'write', weight: 0.5, run: async (context) => withUserWriting(...) },
 *
 * plus the route's documented statuses in checker.ts DOCUMENTED_STATUSES.
 */
import type { Conversation, User } from './history';
import { patchConversation, postTurn, sentence } from './turns';
import type { Operation, WorkloadContext } from './workload';

/** A conversation to read: by popularity; a deleted one is mostly skipped, as a client stops opening it. */
export function readTarget(context: WorkloadContext): Conversation {
  for (let attempt = 0; ; attempt += 1) {
    const conversation = context.population.pick(context.random);
    if (!conversation.deletedForSure || attempt >= 3 || context.random() < 0.05) return conversation;
  }
}

/** Runs `write` for the conversation's owner unless they already have a write in flight; false if they do. */
async function asOwner(user: User, write: () => Promise<unknown>): Promise<boolean> {
  if (user.writing) return false;
  user.writing = true;
  try {
    await write();
    return true;
  } finally {
    user.writing = false;
  }
}

/**
 * A live conversation to write into, by popularity, whose owner has no write in flight (a few
 * tries: the hot conversations' owners are often busy, and the mix should stay about 5 % writes).
 */
function writeTarget(context: WorkloadContext, fits: (conversation: Conversation) => boolean = () => true): Conversation | undefined {
  for (let attempt = 0; attempt < 4; attempt += 1) {
    const conversation = context.population.pick(context.random);
    if (!conversation.deletedForSure && !conversation.owner.writing && fits(conversation)) return conversation;
  }
  return undefined;
}

export const detailRead: Operation = {
  name: 'detail',
  kind: 'read',
  weight: 70,
  async run(context) {
    const conversation = readTarget(context);
    context.hotSlots.touch(`conv:${conversation.id}:history`);
    const result = await context.api.send('detail', 'read', conversation.owner, { method: 'GET', path: `/backend-api/conversation/${conversation.id}` });
    context.checker.checkDetail(conversation, result);
    return true;
  },
};

export const OPERATIONS: readonly Operation[] = [
  detailRead,
  {
    name: 'list',
    kind: 'read',
    weight: 22,
    async run(context) {
      const { owner } = readTarget(context);
      context.hotSlots.touch(`user:${owner.id}:conversation_list`);
      const result = await context.api.send('list', 'read', owner, { method: 'GET', path: `/backend-api/conversations?offset=0&limit=${context.settings.listLimit}` });
      context.checker.checkList(owner, result);
      return true;
    },
  },
  {
    // Someone else's conversation id: the same 404 as an unknown one, from the cache or not.
    name: 'detail-foreign',
    kind: 'read',
    weight: 3,
    async run(context) {
      const conversation = readTarget(context);
      const users = context.history.users;
      const viewer = users[(conversation.owner.index + 1 + Math.floor(context.random() * (users.length - 1))) % users.length];
      const result = await context.api.send('detail-foreign', 'read', viewer, { method: 'GET', path: `/backend-api/conversation/${conversation.id}` });
      context.checker.checkForeignDetail(viewer, conversation, result);
      return true;
    },
  },
  {
    name: 'post',
    kind: 'write',
    weight: 2.2,
    async run(context) {
      const conversation = writeTarget(context, (c) => !c.full && c.leafId !== undefined);
      if (!conversation) return false;
      const { owner } = conversation;
      if (conversation.acknowledgedMessages() >= context.settings.maxMessagesPerConversation) {
        // This one is long enough: its owner starts another.
        if (owner.liveConversations().length >= context.settings.maxConversationsPerUser) return false;
        return asOwner(owner, () => postTurn(context, owner, undefined, 'post-new'));
      }
      return asOwner(owner, () => postTurn(context, owner, conversation, 'post'));
    },
  },
  {
    name: 'post-new',
    kind: 'write',
    weight: 0.8,
    async run(context) {
      const owner = writeTarget(context, (c) => c.owner.liveConversations().length < context.settings.maxConversationsPerUser)?.owner;
      if (!owner) return false;
      return asOwner(owner, () => postTurn(context, owner, undefined, 'post-new'));
    },
  },
  {
    name: 'rename',
    kind: 'write',
    weight: 1,
    async run(context) {
      const conversation = writeTarget(context);
      if (!conversation) return false;
      const title = sentence(context.random, conversation.owner).split(' ').slice(0, 4).join(' ');
      return asOwner(conversation.owner, () => patchConversation(context, conversation, 'rename', { title: `${title} ${Math.floor(context.random() * 1e6)}` }));
    },
  },
  {
    name: 'archive',
    kind: 'write',
    weight: 0.6,
    async run(context) {
      const conversation = writeTarget(context);
      if (!conversation) return false;
      // Archive, or bring back what is archived (the last value asked for).
      const archived = conversation.archived.writes.at(-1)?.value === true;
      return asOwner(conversation.owner, () => patchConversation(context, conversation, 'archive', { is_archived: !archived }));
    },
  },
  {
    name: 'delete',
    kind: 'write',
    weight: 0.4,
    async run(context) {
      const picked = writeTarget(context);
      if (!picked) return false;
      // Not a hot one: the hot set stays the same from phase to phase.
      const candidates = picked.owner.liveConversations().filter((c) => c.rank >= context.settings.protectedRanks);
      if (candidates.length === 0) return false;
      const conversation = candidates[Math.floor(context.random() * candidates.length)];
      return asOwner(conversation.owner, () => patchConversation(context, conversation, 'delete', { is_visible: false }));
    },
  },
];
