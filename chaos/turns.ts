/**
 * The writes, as a client performs them and as the history records them: a chat turn (POST
 * /f/conversation, read to its end, frame by frame, with a resume follower on some v1
 * replies) and the lifecycle PATCHes (rename, archive, delete).
 *
 * When a turn counts as acknowledged: its user message (and, for a new conversation, the
 * conversation) once the stream has started, since the server stores them before it answers
 * 200; its reply once the stream ended with `[DONE]` after the reply's completion frame; a new
 * conversation's title with the reply (it is stored with it).
 */
import { randomUUID } from 'node:crypto';
import { parseSse, sseFrames } from '../test/support/sse';
import { framesOf } from './checker';
import { Conversation, UNKNOWN, type InsertRecord, type MessageRecord, type User, type Write } from './history';
import type { ApiTarget } from './http-client';
import type { WorkloadContext } from './workload';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const WORDS = (
  'cache slot shard replica primary failover latency quorum lease ledger stream resume token cluster ' +
  'postgres redis lambda gateway burst herd zipf tail budget window epoch gossip migrate ask moved ' +
  'partition heal retry backoff jitter queue drain flush commit snapshot delta frame title archive'
).split(' ');

export function sentence(random: () => number, user: User): string {
  const words = Array.from({ length: 8 + Math.floor(random() * 8) }, () => WORDS[Math.floor(random() * WORDS.length)]);
  return `${words.slice(0, 3).join(' ')} from ${user.id} ${words.slice(3).join(' ')}`;
}

/** Statuses after which a turn certainly wrote nothing. */
const REFUSED = new Set([404, 409, 413, 422, 429]);

/** What the client learned from the frames of one reply. */
interface TurnProgress {
  frames: number;
  conversationId?: string;
  assistantId?: string;
  title?: string;
  /** The reply's completion frame arrived: legacy `is_completion`, v1 final patch with status finished_successfully. */
  completed: boolean;
  resumeToken?: string;
}

function readFrame(frame: string, progress: TurnProgress): void {
  const [event] = parseSse(frame);
  const json = event?.json;
  if (!json || typeof json !== 'object') return;
  progress.conversationId ??= json.conversation_id ?? json.v?.conversation_id;
  const message = json.message ?? json.v?.message;
  if (message?.author?.role === 'assistant') progress.assistantId ??= message.id;
  if (json.type === 'title_generation') progress.title = json.title;
  if (json.type === 'resume_conversation_token') progress.resumeToken = json.token;
  if (json.is_completion === true) progress.completed = true;
  if (event.event === 'delta' && json.o === 'patch' && Array.isArray(json.v)) {
    const ops = json.v as { p: string; v: unknown }[];
    const status = ops.find((op) => op.p === '/message/status')?.v;
    progress.completed = status === 'finished_successfully' && !ops.some((op) => op.p === '/error');
  }
}

/**
 * One chat turn by `user`: into `conversation`, or a new one when it is undefined. Returns
 * the conversation (undefined when a new one was never confirmed).
 */
export async function postTurn(context: WorkloadContext, user: User, conversation: Conversation | undefined, op: string): Promise<Conversation | undefined> {
  const { history, api, random, settings } = context;
  const v1 = random() < settings.v1Share;
  const userMessageId = randomUUID();
  const issuedAt = performance.now();
  const userMessage: MessageRecord = { id: userMessageId, role: 'user', issuedAt, failed: false };
  const userInsert: InsertRecord = user.insert(issuedAt);
  let target = conversation;
  let archived: Write<boolean> | undefined;
  let title: Write<string> | undefined;
  if (target) {
    target.messages.set(userMessageId, userMessage);
    target.inserts.push(userInsert);
    // Posting into an archived conversation un-archives it.
    archived = target.archived.begin(false, issuedAt);
  }
  let reply: { message: MessageRecord; insert: InsertRecord } | undefined;
  const progress: TurnProgress = { frames: 0, completed: false };
  const worker = api.pickWorker();
  const followers: Promise<void>[] = [];
  const replyEnd: { frames: string[]; done: boolean; startedAt: number; endedAt: number }[] = [];

  const onFrame = (frame: string) => {
    const known = progress.conversationId;
    readFrame(frame, progress);
    const now = performance.now();
    if (!known && progress.conversationId) {
      // The stream started: the user message (and a new conversation) is stored.
      if (!target) {
        target = new Conversation(progress.conversationId, user, now);
        history.addConversation(target);
        target.messages.set(userMessageId, userMessage);
        target.inserts.push(userInsert);
        title = target.title.begin(UNKNOWN, issuedAt);
        context.population.add(target);
      }
      userMessage.ackedAt = now;
      userInsert.ackedAt = now;
      if (archived) archived.ackedAt = now;
    }
    if (progress.assistantId && !reply && target) {
      reply = { message: { id: progress.assistantId, role: 'assistant', issuedAt, failed: false }, insert: user.insert(issuedAt) };
      target.messages.set(reply.message.id, reply.message);
      target.inserts.push(reply.insert);
    }
    if (title && progress.title !== undefined) title.value = progress.title;
    if (progress.resumeToken && followers.length === 0 && random() < settings.followerShare) {
      followers.push(follow(context, user, worker, progress.conversationId as string, progress.resumeToken, () => progress.frames, replyEnd));
    }
  };

  const result = await api.send(
    op,
    'write',
    user,
    {
      method: 'POST',
      path: '/backend-api/f/conversation',
      body: {
        action: 'next',
        messages: [{ id: userMessageId, author: { role: 'user' }, content: { content_type: 'text', parts: [sentence(random, user)] } }],
        conversation_id: target?.id ?? null,
        parent_message_id: target?.leafId ?? randomUUID(),
        model: 'auto',
        ...(v1 ? { supported_encodings: ['v1'] } : {}),
      },
      onChunk: (text) => {
        const frames = sseFrames(text);
        for (; progress.frames < frames.length; progress.frames += 1) onFrame(frames[progress.frames]);
      },
    },
    worker,
  );
  const { frames, done } = framesOf(result.body);
  replyEnd.push({ frames, done, startedAt: result.startedAt, endedAt: result.endedAt });

  if (result.status === 200) {
    if (done && progress.completed && reply && target) {
      reply.message.ackedAt = result.endedAt;
      reply.insert.ackedAt = result.endedAt;
      if (title) title.ackedAt = result.endedAt;
      target.leafId = reply.message.id;
    } else if (!reply && target) {
      target.unseenReplies += 1;
    }
  } else if (REFUSED.has(result.status)) {
    userMessage.failed = true;
    userInsert.failed = true;
    if (archived) archived.failed = true;
    if (target && result.status === 413) target.full = true;
    if (target) context.checker.checkWriteNotFound(target, result, op);
  } else if (!target) {
    // No answer we can trust (a 503, a hang): the conversation may exist; Postgres will say.
    history.unresolvedCreations.push({ user, userMessageId });
  }
  await Promise.all(followers);
  return target;
}

/**
 * A resume follower of a v1 reply on another worker, as a client that dropped after some
 * frames would send it: from a frame it had received. Checked at the end against the reply.
 */
async function follow(
  context: WorkloadContext,
  user: User,
  producer: ApiTarget,
  conversationId: string,
  token: string,
  framesReceived: () => number,
  replyEnd: readonly { frames: string[]; done: boolean; startedAt: number; endedAt: number }[],
): Promise<void> {
  // Some followers start at once, some when the reply is further along or already over.
  await sleep(context.random() * 600);
  const offset = Math.floor(context.random() * (framesReceived() + 1));
  const result = await context.api.send(
    'resume',
    'follower',
    user,
    { method: 'POST', path: '/backend-api/f/conversation/resume', body: { conversation_id: conversationId, offset, token } },
    context.api.pickWorker(producer),
  );
  // The reply's own stream may still be running: compare once it has ended.
  while (replyEnd.length === 0) await sleep(20);
  const [end] = replyEnd;
  context.followers.push({ conversationId, offset, result, replyFrames: end.frames, replyDone: end.done, replyStartedAt: end.startedAt, replyEndedAt: end.endedAt });
}

/** PATCH /conversation/{id} with one lifecycle change, recorded on its register. */
export async function patchConversation(
  context: WorkloadContext,
  conversation: Conversation,
  op: 'rename' | 'archive' | 'delete',
  change: { title: string } | { is_archived: boolean } | { is_visible: false },
): Promise<void> {
  const issuedAt = performance.now();
  const write: Write<string> | Write<boolean> =
    'title' in change
      ? conversation.title.begin(change.title, issuedAt)
      : 'is_archived' in change
        ? conversation.archived.begin(change.is_archived, issuedAt)
        : conversation.deleted.begin(true, issuedAt);
  const result = await context.api.send(op, 'write', conversation.owner, { method: 'PATCH', path: `/backend-api/conversation/${conversation.id}`, body: change });
  if (result.status === 200) {
    write.ackedAt = result.endedAt;
    if (op === 'delete') conversation.deletedForSure = true;
  } else if (REFUSED.has(result.status)) {
    write.failed = true;
    context.checker.checkWriteNotFound(conversation, result, op);
  }
}

