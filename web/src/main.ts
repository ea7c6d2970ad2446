/**
 * The reference chat page: sidebar (paged list, rename, archive, delete, archived view),
 * the current branch of a conversation, edit-and-resend and regenerate, streaming in the v1
 * delta encoding with resume after a dropped connection (docs/api.md#resumable-replies), and errors a person can act on.
 */
import { Api, ApiError, NETWORK_ERROR_MESSAGE, type ClientConfig, type ConversationDetail, type ListItem, type WireNode } from './api';
import {
  cognitoLogoutUrl,
  completeCognitoSignIn,
  forgetToken,
  signInLocally,
  startCognitoSignIn,
  signedInUser,
  storedToken,
  takeFragmentToken,
} from './auth';
import { ReplyReader, SseParser, type StreamDocument } from './stream';

const PAGE_SIZE = 20;
/** Attempts to get a dropped reply back before giving up (about half a minute in total). */
const RESUME_ATTEMPTS = 12;
/** Looks, 300 ms apart, for a stopped reply to be stored. */
const STOPPED_REPLY_CHECKS = 10;

type Child = Node | string | false | null | undefined;

function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Record<string, unknown> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value as EventListener);
    else if (key === 'class') el.className = String(value);
    else if (value === true) el.setAttribute(key, '');
    else if (value !== false && value !== undefined && value !== null) el.setAttribute(key, String(value));
  }
  for (const child of children) if (child) el.append(child);
  return el;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** A message as shown: from the stored tree or still streaming. */
interface Shown {
  readonly id: string;
  readonly role: string;
  readonly text: string;
  readonly status?: string;
  /** Ids of this message and its siblings, for the branch switcher. */
  readonly siblings: readonly string[];
  readonly parent?: string;
}

const state = {
  config: { apiUrl: '', auth: 'local' } as ClientConfig,
  api: undefined as unknown as Api,
  archived: false,
  items: [] as ListItem[],
  total: 0,
  conversation: undefined as ConversationDetail | undefined,
  /** The leaf whose branch is on screen (current_node unless the reader switched branches). */
  leaf: undefined as string | undefined,
  streaming: undefined as AbortController | undefined,
};

// ---------------------------------------------------------------------------------------------
// Start-up and sign-in

async function boot(): Promise<void> {
  state.config = await fetch('config.json')
    .then((res) => (res.ok ? (res.json() as Promise<ClientConfig>) : state.config))
    .catch(() => state.config);
  state.api = new Api(state.config.apiUrl.replace(/\/+$/, ''), storedToken);
  takeFragmentToken();
  if (state.config.auth === 'cognito') {
    try {
      await completeCognitoSignIn(state.config);
    } catch (error) {
      return showSignIn((error as Error).message);
    }
  }
  if (!storedToken()) return showSignIn();
  showApp();
}

function showSignIn(message?: string): void {
  $('app').hidden = true;
  const screen = $('signin');
  screen.hidden = false;
  const error = h('p', { class: 'error', role: 'alert' }, message);
  if (state.config.auth === 'cognito') {
    screen.replaceChildren(
      h('h1', {}, 'Chatbot'),
      h('button', { type: 'button', onclick: () => void startCognitoSignIn(state.config) }, 'Sign in'),
      error,
    );
    return;
  }
  const input = h('input', { id: 'signin-user', name: 'user', value: 'demo-user', autocomplete: 'username', required: true, maxlength: 128 });
  const form = h(
    'form',
    {
      onsubmit: async (event: Event) => {
        event.preventDefault();
        try {
          await signInLocally(state.config.apiUrl.replace(/\/+$/, ''), input.value.trim());
          showApp();
        } catch (failure) {
          error.textContent = (failure as Error).message || NETWORK_ERROR_MESSAGE;
        }
      },
    },
    h('label', { for: 'signin-user' }, 'User name'),
    input,
    h('button', { type: 'submit' }, 'Sign in'),
  );
  screen.replaceChildren(h('h1', {}, 'Chatbot (local)'), h('p', {}, 'Local sign-in: any name is a separate user.'), form, error);
  input.focus();
}

function signOut(): void {
  forgetToken();
  if (state.config.auth === 'cognito') location.assign(cognitoLogoutUrl(state.config));
  else showSignIn();
}

function showApp(): void {
  $('signin').hidden = true;
  $('app').hidden = false;
  $('user').textContent = signedInUser();
  void loadList(true);
  const id = routeConversationId();
  if (id) void openConversation(id);
  else newChat();
}

function routeConversationId(): string | undefined {
  const match = /^#c\/([^/&]+)$/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Notices

function notify(error: unknown): void {
  if (error instanceof DOMException && error.name === 'AbortError') return;
  const notice = $('notice');
  if (error instanceof ApiError && error.signInAgain) {
    forgetToken();
    notice.replaceChildren(error.message, ' ', h('button', { type: 'button', onclick: () => (clearNotice(), showSignIn()) }, 'Sign in again'));
  } else {
    notice.replaceChildren(error instanceof Error ? error.message : String(error), ' ', h('button', { type: 'button', class: 'link', onclick: clearNotice }, 'Dismiss'));
  }
  notice.hidden = false;
}

function clearNotice(): void {
  $('notice').hidden = true;
}

// ---------------------------------------------------------------------------------------------
// Sidebar

async function loadList(reset: boolean): Promise<void> {
  try {
    const page = await state.api.list(reset ? 0 : state.items.length, PAGE_SIZE, state.archived);
    state.items = reset ? page.items : [...state.items, ...page.items.filter((item) => !state.items.some((known) => known.id === item.id))];
    state.total = page.total;
    renderList();
  } catch (error) {
    notify(error);
  }
}

function renderList(): void {
  const list = $('list');
  list.replaceChildren(
    ...state.items.map((item) => {
      const active = item.id === state.conversation?.conversation_id;
      const title = h('a', { href: `#c/${encodeURIComponent(item.id)}`, class: 'title', title: item.title }, item.title);
      return h(
        'li',
        { 'data-id': item.id, class: active ? 'active' : '' },
        title,
        h('span', { class: 'actions' },
          h('button', { type: 'button', title: 'Rename', 'aria-label': 'Rename', 'data-action': 'rename', onclick: () => startRename(item, title) }, '✎'),
          h('button', {
            type: 'button',
            title: item.is_archived ? 'Unarchive' : 'Archive',
            'aria-label': item.is_archived ? 'Unarchive' : 'Archive',
            'data-action': 'archive',
            onclick: () => void setArchived(item, !item.is_archived),
          }, item.is_archived ? '⇡' : '⇣'),
          h('button', { type: 'button', title: 'Delete', 'aria-label': 'Delete', 'data-action': 'delete', onclick: () => void remove(item) }, '×'),
        ),
      );
    }),
  );
  $('empty-list').hidden = state.items.length > 0;
  $('more').hidden = state.items.length >= state.total;
}

function startRename(item: ListItem, title: HTMLElement): void {
  const input = h('input', { class: 'rename', value: item.title, maxlength: 256, 'aria-label': 'New title' });
  let done = false;
  const finish = async (save: boolean) => {
    if (done) return;
    done = true;
    const value = input.value.trim();
    if (save && value && value !== item.title) {
      try {
        await state.api.patch(item.id, { title: value });
        setItemTitle(item.id, value);
      } catch (error) {
        notify(error);
      }
    }
    renderList();
  };
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') void finish(true);
    if (event.key === 'Escape') void finish(false);
  });
  input.addEventListener('blur', () => void finish(true));
  title.replaceWith(input);
  input.focus();
  input.select();
}

function setItemTitle(id: string, title: string): void {
  state.items = state.items.map((item) => (item.id === id ? { ...item, title } : item));
  if (state.conversation?.conversation_id === id) {
    state.conversation = { ...state.conversation, title };
    $('conversation-title').textContent = title;
  }
  renderList();
}

async function setArchived(item: ListItem, archived: boolean): Promise<void> {
  try {
    await state.api.patch(item.id, { is_archived: archived });
    dropFromList(item.id);
  } catch (error) {
    notify(error);
  }
}

async function remove(item: ListItem): Promise<void> {
  if (!confirm(`Delete "${item.title}"? This cannot be undone.`)) return;
  try {
    await state.api.patch(item.id, { is_visible: false });
    dropFromList(item.id);
    if (state.conversation?.conversation_id === item.id) newChat();
  } catch (error) {
    notify(error);
  }
}

function dropFromList(id: string): void {
  state.items = state.items.filter((item) => item.id !== id);
  state.total = Math.max(0, state.total - 1);
  renderList();
}

function showArchived(archived: boolean): void {
  state.archived = archived;
  $('tab-chats').setAttribute('aria-pressed', String(!archived));
  $('tab-archived').setAttribute('aria-pressed', String(archived));
  void loadList(true);
}

// ---------------------------------------------------------------------------------------------
// Conversation view

function newChat(): void {
  state.conversation = undefined;
  state.leaf = undefined;
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  $('conversation-title').textContent = 'New chat';
  renderMessages([]);
  renderList();
  $<HTMLTextAreaElement>('input').focus();
}

async function openConversation(id: string, leaf?: string): Promise<void> {
  try {
    const conversation = await state.api.conversation(id);
    state.conversation = conversation;
    state.leaf = leaf && conversation.mapping[leaf] ? leaf : conversation.current_node;
    if (routeConversationId() !== id) history.replaceState(null, '', `#c/${encodeURIComponent(id)}`);
    $('conversation-title').textContent = conversation.title;
    renderMessages(branch(conversation, state.leaf));
    renderList();
  } catch (error) {
    notify(error);
    if (error instanceof ApiError && error.status === 404) newChat();
  }
}

/** The messages from the root down to `leaf`, following parent links up from the leaf. */
function branch(conversation: ConversationDetail, leaf: string | undefined): Shown[] {
  const shown: Shown[] = [];
  for (let node: WireNode | undefined = leaf ? conversation.mapping[leaf] : undefined; node; node = node.parent ? conversation.mapping[node.parent] : undefined) {
    const message = node.message;
    if (!message || !isVisible(message)) continue;
    const siblings = node.parent ? conversation.mapping[node.parent]?.children ?? [node.id] : [node.id];
    shown.push({ id: node.id, role: message.author.role, text: textOf(message.content.parts), status: message.status, siblings, parent: node.parent });
  }
  return shown.reverse();
}

function isVisible(message: NonNullable<WireNode['message']>): boolean {
  if (message.author.role !== 'user' && message.author.role !== 'assistant') return false;
  return !message.metadata?.is_visually_hidden_from_conversation;
}

function textOf(parts: readonly unknown[]): string {
  return parts.map((part) => (typeof part === 'string' ? part : '')).join('');
}

/** Goes down from `id` along the newest child to a leaf: what showing another branch means. */
function leafBelow(conversation: ConversationDetail, id: string): string {
  let node = conversation.mapping[id];
  while (node && node.children.length > 0) node = conversation.mapping[node.children[node.children.length - 1]];
  return node?.id ?? id;
}

function renderMessages(messages: readonly Shown[]): void {
  const lastAssistant = [...messages].reverse().find((message) => message.role === 'assistant');
  $('messages').replaceChildren(...messages.map((message) => renderMessage(message, message === lastAssistant)));
  $('welcome').hidden = messages.length > 0;
  scrollToEnd();
}

function renderMessage(message: Shown, isLastAssistant: boolean): HTMLElement {
  const text = h('div', { class: 'text' }, message.text);
  const tools = h('div', { class: 'tools' });
  const index = message.siblings.indexOf(message.id);
  if (message.siblings.length > 1 && state.conversation) {
    const go = (delta: number) => {
      const conversation = state.conversation;
      const target = message.siblings[index + delta];
      if (!conversation || !target || state.streaming) return;
      state.leaf = leafBelow(conversation, target);
      renderMessages(branch(conversation, state.leaf));
    };
    tools.append(
      h('button', { type: 'button', class: 'link', 'aria-label': 'Previous version', disabled: index === 0, onclick: () => go(-1) }, '‹'),
      h('span', { class: 'branch' }, `${index + 1}/${message.siblings.length}`),
      h('button', { type: 'button', class: 'link', 'aria-label': 'Next version', disabled: index === message.siblings.length - 1, onclick: () => go(1) }, '›'),
    );
  }
  const article = h('article', { class: `message ${message.role}`, 'data-id': message.id, 'data-role': message.role }, text, tools);
  if (message.role === 'user' && message.parent) {
    tools.append(h('button', { type: 'button', class: 'link', 'data-action': 'edit', onclick: () => startEdit(article, message) }, 'Edit'));
  }
  if (message.role === 'assistant' && isLastAssistant && message.parent) {
    tools.append(h('button', { type: 'button', class: 'link', 'data-action': 'regenerate', onclick: () => void regenerate(message) }, 'Regenerate'));
  }
  if (message.status && message.status !== 'finished_successfully' && message.status !== 'in_progress') {
    article.append(h('div', { class: 'status' }, message.status === 'finished_partial_completion' ? 'Stopped before the end.' : `Status: ${message.status}`));
  }
  return article;
}

function startEdit(article: HTMLElement, message: Shown): void {
  if (state.streaming) return;
  const area = h('textarea', { class: 'edit', rows: 3, 'aria-label': 'Edit message' });
  area.value = message.text;
  const save = () => {
    const text = area.value.trim();
    if (!text || !state.conversation || !message.parent) return;
    void send(text, message.parent);
  };
  area.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      save();
    }
    if (event.key === 'Escape') article.replaceWith(renderMessage(message, false));
  });
  article.replaceChildren(
    area,
    h('div', { class: 'tools' },
      h('button', { type: 'button', 'data-action': 'save-edit', onclick: save }, 'Save & send'),
      h('button', { type: 'button', class: 'link', onclick: () => void openConversation(state.conversation!.conversation_id, state.leaf) }, 'Cancel'),
    ),
  );
  area.focus();
}

function scrollToEnd(): void {
  const scroller = $('scroller');
  scroller.scrollTop = scroller.scrollHeight;
}

// ---------------------------------------------------------------------------------------------
// Sending and streaming

function composerText(): string {
  return $<HTMLTextAreaElement>('input').value.trim();
}

async function sendFromComposer(): Promise<void> {
  const text = composerText();
  if (!text || state.streaming) return;
  const conversation = state.conversation;
  // Continue from the message on screen; a new conversation hangs under the client's root.
  const parent = conversation ? (state.leaf ?? conversation.current_node) : 'client-created-root';
  const sent = await send(text, parent);
  if (sent) $<HTMLTextAreaElement>('input').value = '';
}

/** A user message under `parent` (the end of the branch, or an edited message's parent). */
async function send(text: string, parent: string): Promise<boolean> {
  const conversation = state.conversation;
  const id = crypto.randomUUID();
  const before = conversation ? branch(conversation, parent) : [];
  const user: Shown = { id, role: 'user', text, siblings: [id], parent };
  return stream(
    { action: 'next', conversation_id: conversation?.conversation_id, parent_message_id: parent, messages: [wireUser(id, text)] },
    [...before, user],
  );
}

/** Another answer to the user message under this assistant message (action "variant"). */
async function regenerate(message: Shown): Promise<void> {
  const conversation = state.conversation;
  const userNode = message.parent ? conversation?.mapping[message.parent] : undefined;
  if (!conversation || !userNode?.message || !userNode.parent || state.streaming) return;
  await stream(
    {
      action: 'variant',
      conversation_id: conversation.conversation_id,
      parent_message_id: userNode.parent,
      messages: [wireUser(userNode.id, textOf(userNode.message.content.parts))],
    },
    branch(conversation, userNode.id),
  );
}

function wireUser(id: string, text: string) {
  return { id, author: { role: 'user' }, content: { content_type: 'text', parts: [text] } };
}

/**
 * POSTs a turn and shows the reply as it streams. When the connection drops mid-reply it asks
 * `stream_status` and resumes from the frames it has (docs/api.md#resumable-replies); a reply that already ended is
 * read back from the conversation instead. Returns whether the turn was accepted.
 */
async function stream(body: Record<string, unknown>, before: readonly Shown[]): Promise<boolean> {
  const controller = new AbortController();
  state.streaming = controller;
  setBusy(true);
  clearNotice();
  renderMessages(before);
  const bubble = h('article', { class: 'message assistant streaming', 'data-role': 'assistant' }, h('div', { class: 'text' }));
  const bubbleText = bubble.firstElementChild as HTMLElement;
  $('messages').append(bubble);
  scrollToEnd();

  const reader = new ReplyReader();
  let frames = 0;
  let conversationId = body.conversation_id as string | undefined;
  let token: string | undefined;
  let finished = false;
  let accepted = false;

  const show = (document: StreamDocument) => {
    if (document.conversation_id && !conversationId) adoptNewConversation(document.conversation_id);
    const text = textOf(document.message?.content.parts ?? []);
    if (bubbleText.textContent !== text) bubbleText.textContent = text;
    scrollToEnd();
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
    history.replaceState(null, '', `#c/${encodeURIComponent(id)}`);
    if (!state.items.some((item) => item.id === id)) {
      state.items = [{ id, title: 'New chat', update_time: new Date().toISOString(), is_archived: false }, ...state.items];
      state.total += 1;
      if (!state.archived) renderList();
    }
  };

  try {
    try {
      const res = await state.api.request('/f/conversation', {
        method: 'POST',
        json: { ...body, supported_encodings: ['v1'] },
        signal: controller.signal,
        headers: { Accept: 'text/event-stream' },
      });
      accepted = true;
      await consume(res);
    } catch (error) {
      if (!accepted || controller.signal.aborted) throw error;
    }
    if (!finished && !controller.signal.aborted) {
      if (!conversationId) throw new ApiError(NETWORK_ERROR_MESSAGE, 0);
      $('resuming').hidden = false;
      finished = await resume(conversationId, () => frames, token, consume, controller.signal);
    }
    if (reader.delta.document.error) notify(new Error(`The reply failed: ${reader.delta.document.error}`));
  } catch (error) {
    notify(error);
  } finally {
    $('resuming').hidden = true;
    state.streaming = undefined;
    setBusy(false);
  }
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

/** Gets a dropped reply back: resume from `frames()` while it streams, else it is stored already. */
async function resume(
  conversationId: string,
  frames: () => number,
  token: string | undefined,
  consume: (res: Response) => Promise<void>,
  signal: AbortSignal,
): Promise<boolean> {
  for (let attempt = 0; attempt < RESUME_ATTEMPTS && !signal.aborted; attempt += 1) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(4000, 250 * 2 ** attempt)));
    try {
      const status = await state.api.streamStatus(conversationId);
      // Ended while we were away: the whole reply is stored; the caller reloads the conversation.
      if (status.status !== 'IS_STREAMING') return true;
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

async function stop(): Promise<void> {
  const controller = state.streaming;
  if (!controller) return;
  const id = state.conversation?.conversation_id ?? routeConversationId();
  controller.abort();
  // v1 replies continue without the client; ask the server to end this one too.
  if (id) await state.api.request(`/conversation/${encodeURIComponent(id)}/stop`, { method: 'POST', json: {} }).catch(() => undefined);
}

function setBusy(busy: boolean): void {
  $<HTMLButtonElement>('send').hidden = busy;
  $<HTMLButtonElement>('stop').hidden = !busy;
  document.body.classList.toggle('busy', busy);
}

// ---------------------------------------------------------------------------------------------
// Wiring

function wire(): void {
  const input = $<HTMLTextAreaElement>('input');
  input.addEventListener('keydown', (event) => {
    // Enter sends, Shift+Enter starts a new line; an IME composition's Enter is not a send.
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      void sendFromComposer();
    }
  });
  $('composer').addEventListener('submit', (event) => {
    event.preventDefault();
    void sendFromComposer();
  });
  $('stop').addEventListener('click', () => void stop());
  $('new-chat').addEventListener('click', () => {
    if (!state.streaming) newChat();
  });
  $('more').addEventListener('click', () => void loadList(false));
  $('tab-chats').addEventListener('click', () => showArchived(false));
  $('tab-archived').addEventListener('click', () => showArchived(true));
  $('sign-out').addEventListener('click', signOut);
  window.addEventListener('hashchange', () => {
    if (takeFragmentToken()) return showApp();
    const id = routeConversationId();
    if (id && id !== state.conversation?.conversation_id && !state.streaming) void openConversation(id);
  });
  window.addEventListener('offline', () => notify(new ApiError(NETWORK_ERROR_MESSAGE, 0)));
  window.addEventListener('online', clearNotice);
}

wire();
void boot();
