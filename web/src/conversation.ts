/**
 * The conversation on screen: its current branch (or one the reader switched to), opening one
 * from the address or the sidebar (following its reply when one is still streaming), and editing
 * a message into a new branch.
 */
import { ApiError, type ConversationDetail, type WireNode } from './api';
import { $, h } from './dom';
import { renderMarkdown } from './markdown';
import { notify } from './notice';
import { followReply, regenerate, send } from './reply';
import { renderList } from './sidebar';
import { state, type Shown } from './state';

export function newChat(): void {
  state.conversation = undefined;
  state.leaf = undefined;
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  $('conversation-title').textContent = 'New chat';
  renderMessages([]);
  renderList();
  $<HTMLTextAreaElement>('input').focus();
}

/** `#c/<id>` of the address; `malformed` when its escapes cannot be decoded. */
export function routeConversation(): { id?: string; malformed?: boolean } {
  const match = /^#c\/([^/&]+)$/.exec(location.hash);
  if (!match) return {};
  try {
    return { id: decodeURIComponent(match[1]) };
  } catch {
    return { malformed: true };
  }
}

export function showRoute(id: string): void {
  if (routeConversation().id !== id) history.replaceState(null, '', `#c/${encodeURIComponent(id)}`);
}

/**
 * Shows a stored conversation. `follow`: opened by the person (the address, the sidebar, a reload),
 * so ask whether its reply is still streaming (another tab, a reload mid-reply) and follow it.
 */
export async function openConversation(id: string, options: { leaf?: string; follow?: boolean } = {}): Promise<void> {
  try {
    const [conversation, status] = await Promise.all([
      state.api.conversation(id),
      options.follow ? state.api.streamStatus(id).catch(() => undefined) : undefined,
    ]);
    state.conversation = conversation;
    state.leaf = options.leaf && conversation.mapping[options.leaf] ? options.leaf : conversation.current_node;
    showRoute(id);
    $('conversation-title').textContent = conversation.title;
    const shown = branch(conversation, state.leaf).filter((message) => message.id !== status?.message_id);
    renderMessages(shown);
    renderList();
    if (status?.status === 'IS_STREAMING' && !state.streaming) await followReply(id, shown);
  } catch (error) {
    notify(error);
    if (error instanceof ApiError && error.status === 404) newChat();
  }
}

/** The messages from the root down to `leaf`, following parent links up from the leaf. */
export function branch(conversation: ConversationDetail, leaf: string | undefined): Shown[] {
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

export function textOf(parts: readonly unknown[]): string {
  return parts.map((part) => (typeof part === 'string' ? part : '')).join('');
}

/** Goes down from `id` along the newest child to a leaf: what showing another branch means. */
function leafBelow(conversation: ConversationDetail, id: string): string {
  let node = conversation.mapping[id];
  while (node && node.children.length > 0) node = conversation.mapping[node.children[node.children.length - 1]];
  return node?.id ?? id;
}

export function renderMessages(messages: readonly Shown[]): void {
  const lastAssistant = [...messages].reverse().find((message) => message.role === 'assistant');
  $('messages').replaceChildren(...messages.map((message) => renderMessage(message, message === lastAssistant)));
  $('welcome').hidden = messages.length > 0;
  scrollToEnd();
}

/** The text of a message: a reply is Markdown, what the person typed is shown as typed. */
export function messageBody(role: string, text: string): HTMLElement {
  if (role === 'assistant') {
    const body = h('div', { class: 'text markdown' });
    body.append(renderMarkdown(text));
    return body;
  }
  return h('div', { class: 'text' }, text);
}

function renderMessage(message: Shown, isLastAssistant: boolean): HTMLElement {
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
  const article = h('article', { class: `message ${message.role}`, 'data-id': message.id, 'data-role': message.role }, messageBody(message.role, message.text), tools);
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
    if (event.key === 'Escape') {
      event.preventDefault();
      article.replaceWith(renderMessage(message, false));
    }
  });
  article.replaceChildren(
    area,
    h('div', { class: 'tools' },
      h('button', { type: 'button', 'data-action': 'save-edit', onclick: save }, 'Save & send'),
      h('button', { type: 'button', class: 'link', onclick: () => void openConversation(state.conversation!.conversation_id, { leaf: state.leaf }) }, 'Cancel'),
    ),
  );
  area.focus();
}

/** Whether the end of the conversation was in view when the reader last scrolled. */
let atEnd = true;

export function scrollToEnd(): void {
  const scroller = $('scroller');
  scroller.scrollTop = scroller.scrollHeight;
  atEnd = true;
}

/** As a reply grows: keeps its end in view, unless the reader scrolled up to read. */
export function keepEndInView(): void {
  if (atEnd) scrollToEnd();
}

export function wireConversationView(): void {
  const scroller = $('scroller');
  scroller.addEventListener('scroll', () => {
    atEnd = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
  }, { passive: true });
}
