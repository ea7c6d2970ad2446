/**
 * Replies: posting a turn and showing the reply as it streams (v1 delta encoding), getting it
 * back after a dropped connection (`stream_status`, then `resume` from the frames already read),
 * following a reply another tab or an earlier load of this page started (`resume` from 0), and
 * stopping one.
 */
import { ApiError, NETWORK_ERROR_MESSAGE } from './api';
import { branch, keepEndInView, openConversation, renderMessages, routeConversation, textOf } from './conversation';
import { $, h } from './dom';
import { refreshTurns } from './limits';
import { MarkdownStream } from './markdown';
import { chosenModel } from './models';
import { clearNotice, notify } from './notice';
import { adoptConversation, loadList, setItemTitle } from './sidebar';
import { state, type Shown } from './state';
import { ReplyReader, SseParser, type StreamDocument } from './stream';

/** Replies the page stopped showing to show something else; the server carries on with them. */
const left = new WeakSet<AbortController>();

/** Attempts to get a dropped reply back before giving up (about half a minute in total). */
const RESUME_ATTEMPTS = 12;
/** Looks, 300 ms apart, for a stopped reply to be stored. */
const STOPPED_REPLY_CHECKS = 10;

/** A user message under `parent` (the end of the branch, or an edited message's parent). Returns whether the server took it. */
export async function send(text: string, parent: string): Promise<boolean> {
  const conversation = state.conversation;
  const id = crypto.randomUUID();
  const shared = conversation ? undefined : state.continuing;
  if (shared) {
    // A share link continued: a new conversation of the reader's, starting with a copy of the shared branch.
    const before = branch(shared, shared.current_node);
    return streamReply([...before, { id, role: 'user', text, siblings: [id], parent: shared.current_node }], {
      post: {
        action: 'next',
        continue_from_shared_conversation_id: shared.share_id,
        parent_message_id: shared.current_node,
        messages: [wireUser(id, text)],
        ...withModel(),
      },
    });
  }
  const before = conversation ? branch(conversation, parent) : [];
  const user: Shown = { id, role: 'user', text, siblings: [id], parent };
  return streamReply([...before, user], {
    post: { action: 'next', conversation_id: conversation?.conversation_id, parent_message_id: parent, messages: [wireUser(id, text)], ...withModel() },
  });
}

/** Another answer to the user message under this assistant message (action "variant"). */
export async function regenerate(message: Shown): Promise<void> {
  const conversation = state.conversation;
  const userNode = message.parent ? conversation?.mapping[message.parent] : undefined;
  if (!conversation || !userNode?.message || !userNode.parent || state.streaming) return;
  await streamReply(branch(conversation, userNode.id), {
    post: {
      action: 'variant',
      conversation_id: conversation.conversation_id,
      parent_message_id: userNode.parent,
      messages: [wireUser(userNode.id, textOf(userNode.message.content.parts))],
      ...withModel(),
    },
  });
}

/** Shows a reply that is streaming without this page (another tab, before a reload) from its first frame to its end. */
export async function followReply(conversationId: string, before: readonly Shown[]): Promise<void> {
  await streamReply(before, { follow: conversationId });
}

/** The picker's model, when the API listed models (else the server chooses). */
function withModel(): { model?: string } {
  const model = chosenModel();
  return model ? { model } : {};
}

function wireUser(id: string, text: string) {
  return { id, author: { role: 'user' }, content: { content_type: 'text', parts: [text] } };
}

/**
 * Shows a reply as it streams under `before`: one this page posts (`post`), or one already
 * running (`follow`: resumed from frame 0, no second POST). When the connection drops mid-reply
 * it asks `stream_status` and resumes from the frames it has; a reply that already ended is read
 * back from the conversation instead. Returns whether the server took the turn.
 */
async function streamReply(before: readonly Shown[], source: { post: Record<string, unknown> } | { follow: string }): Promise<boolean> {
  const controller = new AbortController();
  state.streaming = controller;
  setBusy(true);
  clearNotice();
  renderMessages(before);
  const text = h('div', { class: 'text markdown' });
  $('messages').append(h('article', { class: 'message assistant streaming', 'data-role': 'assistant', 'aria-busy': 'true' }, text));
  keepEndInView();
  const body = new MarkdownStream(text, keepEndInView);

  const reader = new ReplyReader();
  let frames = 0;
  let conversationId = 'post' in source ? (source.post.conversation_id as string | undefined) : source.follow;
  let token: string | undefined;
  let finished = false;
  let accepted = 'follow' in source;

  const show = (document: StreamDocument) => {
    if (document.conversation_id && !conversationId) adoptNewConversation(document.conversation_id);
    body.update(textOf(document.message?.content.parts ?? []));
  };
  const consume = async (res: Response) => {
    const parser = new SseParser();
    const bodyReader = res.body!.getReader();
    for (;;) {
      const { value, done } = await bodyReader.read();
      if (done) return;
      for (const frame of parser.push(value)) {
        frames += 1;
        const event = reader.read(frame);
        if (event.kind === 'message') show(event.document);
        else if (event.kind === 'resume-token') {
          token = event.token;
          if (!conversationId) adoptNewConversation(event.conversationId);
        } else if (event.kind === 'title') setItemTitle(event.conversationId, event.title);
        else if (event.kind === 'done') finished = true;
      }
    }
  };
  const adoptNewConversation = (id: string) => {
    conversationId = id;
    state.continuing = undefined;
    history.replaceState(null, '', `/#c/${encodeURIComponent(id)}`);
    adoptConversation(id);
  };

  try {
    if ('post' in source) {
      try {
        const res = await state.api.request('/f/conversation', {
          method: 'POST',
          json: { ...source.post, supported_encodings: ['v1'] },
          signal: controller.signal,
          headers: { Accept: 'text/event-stream' },
        });
        accepted = true;
        await consume(res);
      } catch (error) {
        if (!accepted || controller.signal.aborted) throw error;
      }
    }
    if (!finished && !controller.signal.aborted) {
      if (!conversationId) throw new ApiError(NETWORK_ERROR_MESSAGE, 0);
      // Following: the caller has just seen IS_STREAMING, so the first attempt goes straight to resume.
      finished = await resume(conversationId, () => frames, token, consume, controller.signal, 'follow' in source);
    }
    if (reader.delta.document.error) notify(new Error(`The reply failed: ${reader.delta.document.error}`));
  } catch (error) {
    notify(error);
  } finally {
    body.cancel();
    if (state.streaming === controller) {
      $('resuming').hidden = true;
      state.streaming = undefined;
      setBusy(false);
    }
  }
  // One turn fewer (or a refusal): what is left of the limit.
  void refreshTurns();
  // The page shows another conversation now: the reply is stored without it.
  if (left.has(controller)) return accepted;
  if (conversationId) {
    await openConversation(conversationId);
    // A stopped reply is stored by the server a moment after the connection closes: look again briefly.
    for (let attempt = 0; controller.signal.aborted && attempt < STOPPED_REPLY_CHECKS && !replyStored(); attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      await openConversation(conversationId);
    }
    void loadList(true);
  } else if (!accepted) {
    renderMessages(before.slice(0, -1));
  }
  return accepted;
}

/** Whether the conversation on screen ends in a stored (not in-progress) assistant message. */
function replyStored(): boolean {
  const message = state.conversation ? state.conversation.mapping[state.conversation.current_node]?.message : undefined;
  return message?.author.role === 'assistant' && message.status !== 'in_progress';
}

/**
 * Gets a reply back: resume from `frames()` while it streams, else it is stored already.
 * `streaming`: known to be streaming now, so the first attempt skips `stream_status`.
 */
async function resume(
  conversationId: string,
  frames: () => number,
  token: string | undefined,
  consume: (res: Response) => Promise<void>,
  signal: AbortSignal,
  streaming: boolean,
): Promise<boolean> {
  for (let attempt = 0; attempt < RESUME_ATTEMPTS && !signal.aborted; attempt += 1) {
    // A follower is not resuming anything until its own connection drops.
    $('resuming').hidden = streaming && attempt === 0;
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(4000, 250 * 2 ** attempt)));
    try {
      if (!(streaming && attempt === 0)) {
        const status = await state.api.streamStatus(conversationId);
        // Ended while we were away: the whole reply is stored; the caller reloads the conversation.
        if (status.status !== 'IS_STREAMING') return true;
      }
      const res = await state.api.request('/f/conversation/resume', {
        method: 'POST',
        json: { conversation_id: conversationId, offset: frames(), ...(token ? { token } : {}) },
        signal,
        headers: { Accept: 'text/event-stream' },
      });
      await consume(res);
      return true;
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return true;
      if (error instanceof ApiError && error.status !== 0 && error.status < 500) throw error;
      // Network loss or a 5xx: try again shortly.
    }
  }
  // Stopped by the person: nothing to report.
  if (signal.aborted) return false;
  throw new ApiError('The connection dropped and the reply could not be resumed. Reload to see what was stored.', 0);
}

/**
 * Stops showing the streaming reply, to show another conversation: only this page lets go of it
 * (a v1 reply runs to its end and is stored); `stop` ends the reply itself.
 */
export function leaveReply(): void {
  const controller = state.streaming;
  if (!controller) return;
  left.add(controller);
  state.streaming = undefined;
  $('resuming').hidden = true;
  setBusy(false);
  controller.abort();
}

export async function stop(): Promise<void> {
  const controller = state.streaming;
  if (!controller) return;
  const id = state.conversation?.conversation_id ?? routeConversation().id;
  controller.abort();
  // v1 replies continue without the client; ask the server to end this one too.
  if (id) await state.api.request(`/conversation/${encodeURIComponent(id)}/stop`, { method: 'POST', json: {} }).catch(() => undefined);
}

function setBusy(busy: boolean): void {
  $<HTMLButtonElement>('send').hidden = busy;
  $<HTMLButtonElement>('stop').hidden = !busy;
  document.body.classList.toggle('busy', busy);
}
