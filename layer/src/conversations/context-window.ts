/**
 * The context window a turn sends to the model: the last `CONTEXT_MAX_MESSAGES` messages of the
 * branch being continued, kept in `chat:{id}:context` (`redis/context-list.ts`) so a warm turn
 * costs one script call instead of a walk of the tree in Postgres.
 */
import type { ChatMessage } from '../ai/types';
import { getConfig } from '../platform/config';
import { countMetric } from '../platform/observability';
import { appendToList, readList } from '../redis/context-list';
import { redisKeys } from '../redis/keys';
import { messageText, type MessageRow } from './records';
import { getBranchMessagesByLeafId } from './repository';

/** One entry of the list. `id` comes first so the list's tail can be matched by prefix. */
interface ContextEntry {
  readonly id: string;
  readonly role: 'user' | 'assistant';
  readonly content: string;
}

/** One serialized entry of the list. */
export const contextEntry = (id: string, role: 'user' | 'assistant', content: string): string => JSON.stringify({ id, role, content } satisfies ContextEntry);
/** What every entry of message `id` starts with: matches the list's tail without parsing it. */
export const contextTailPrefix = (id: string): string => `{"id":${JSON.stringify(id)},`;
const toModel = (entries: readonly string[]): ChatMessage[] =>
  entries.map((raw) => {
    const { role, content } = JSON.parse(raw) as ContextEntry;
    return { role, content };
  });
const bounds = () => {
  const { contextMaxMessages: maxLength, contextTtlSeconds: ttlSeconds } = getConfig().cache;
  return { maxLength, ttlSeconds };
};

/**
 * The window for a reply under `leafId`, with the turn's new user message (`appended`, stored
 * under `appendedAfter`) in it. Warm case: the list's tail is the new message's parent, so one
 * script appends and returns it. Otherwise (expired, evicted, an edit or regenerate, another
 * device) it is rebuilt from Postgres.
 */
export async function prepareContextWindow(args: {
  readonly conversationId: string;
  readonly isNew: boolean;
  readonly leafId: string;
  readonly appended?: MessageRow;
  readonly appendedAfter?: string;
}): Promise<ChatMessage[]> {
  const key = redisKeys.contextWindow(args.conversationId);
  const { maxLength, ttlSeconds } = bounds();

  if (args.appended) {
    const entry = contextEntry(args.appended.id, 'user', messageText(args.appended));
    if (args.isNew) {
      const list = await appendToList(key, [entry], { maxLength, ttlSeconds, replace: true });
      return toModel(list ?? [entry]);
    }
    if (args.appendedAfter !== undefined) {
      const list = await appendToList(key, [entry], { maxLength, ttlSeconds, ifTailStartsWith: contextTailPrefix(args.appendedAfter) });
      if (list) return toModel(list);
    }
  } else {
    const list = await readList(key);
    if (list && list[list.length - 1].startsWith(contextTailPrefix(args.leafId))) return toModel(list);
  }

  countMetric('ContextRebuilt');
  const branch = await getBranchMessagesByLeafId({ conversationId: args.conversationId, leafId: args.leafId, limit: maxLength });
  const entries = branch.map((row) => contextEntry(row.id, row.role as 'user' | 'assistant', messageText(row)));
  await appendToList(key, entries, { maxLength, ttlSeconds, replace: true });
  return toModel(entries);
}

/** Appends a stored reply to the window, when the window still ends with the message it answers (else the next turn rebuilds it). */
export async function appendReplyToContextWindow(args: { readonly conversationId: string; readonly reply: MessageRow; readonly text: string; readonly parentId: string }): Promise<void> {
  const { maxLength, ttlSeconds } = bounds();
  await appendToList(redisKeys.contextWindow(args.conversationId), [contextEntry(args.reply.id, 'assistant', args.text)], {
    maxLength,
    ttlSeconds,
    ifTailStartsWith: contextTailPrefix(args.parentId),
  });
}
