/**
 * The conversation on screen: its current branch (or one the reader switched to), opening one
 * from the address or the sidebar (following its reply when one is still streaming), and editing
 * a message into a new branch.
 */
import { ApiError, type ConversationDetail, type Rating, type WireNode } from './api';
import { $, h } from './dom';
import { renderMarkdown } from './markdown';
import { lastModel, showModelOf } from './models';
import { notify } from './notice';
import { followReply, regenerate, send } from './reply';
import { leaveSharedPage, sharedRoute } from './share';
import { renderList } from './sidebar';
import { state, type Shown } from './state';

export function newChat(): void {
  state.conversation = undefined;
  state.continuing = undefined;
  state.leaf = undefined;
  leaveSharedPage();
  showModelOf(undefined);
  // A share link's address (`/share/<id>`) too: a new chat is the page's own.
  if (location.hash || sharedRoute()) history.replaceState(null, '', (sharedRoute() ? '/' : location.pathname) + location.search);
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
  if (routeConversation().id !== id) history.replaceState(null, '', `/#c/${encodeURIComponent(id)}`);
}

/**
 * Shows a stored conversation. `follow`: opened by the person (the address, the sidebar, a reload),
 * so ask whether its reply is still streaming (another tab, a reload mid-reply) and follow it.
 */
export async function openConversation(id: string, options: { leaf?: string; follow?: boolean; at?: string } = {}): Promise<void> {
  try {
    const [conversation, status] = await Promise.all([
      state.api.conversation(id),
      options.follow ? state.api.streamStatus(id).catch(() => undefined) : undefined,
    ]);
    state.conversation = conversation;
    state.continuing = undefined;
    // `at` (a search result's message): the newest branch through it.
    const leaf = options.at && conversation.mapping[options.at] ? leafBelow(conversation, options.at) : options.leaf;
    state.leaf = leaf && conversation.mapping[leaf] ? leaf : conversation.current_node;
    showRoute(id);
    $('conversation-title').textContent = conversation.title;
    const shown = branch(conversation, state.leaf).filter((message) => message.id !== status?.message_id);
    renderMessages(shown);
    showModelOf(lastModel(shown));
    if (options.at) $('messages').querySelector(`[data-id="${CSS.escape(options.at)}"]`)?.scrollIntoView({ block: 'center' });
    renderList();
    if (status?.status === 'IS_STREAMING' && !state.streaming) await followReply(id, shown);
  } catch (error) {
    notify(error);
    if (error instanceof ApiError && error.status === 404) newChat();
  }
}

/** The messages from the root down to `leaf`, following parent links up from the leaf. */
export function branch(conversation: Pick<ConversationDetail, 'mapping'>, leaf: string | undefined): Shown[] {
  const shown: Shown[] = [];
  for (let node: WireNode | undefined = leaf ? conversation.mapping[leaf] : undefined; node; node = node.parent ? conversation.mapping[node.parent] : undefined) {
    const message = node.message;
    if (!message || !isVisible(message)) continue;
    const siblings = node.parent ? conversation.mapping[node.parent]?.children ?? [node.id] : [node.id];
    const metadata = message.metadata ?? {};
    const feedback = metadata.feedback as { rating?: unknown } | undefined;
    shown.push({
      id: node.id,
      role: message.author.role,
      text: textOf(message.content.parts),
      status: message.status,
      siblings,
      parent: node.parent,
      model: typeof metadata.model_slug === 'string' ? metadata.model_slug : undefined,
      rating: feedback?.rating === 'thumbsUp' || feedback?.rating === 'thumbsDown' ? feedback.rating : undefined,
    });
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

/** `readOnly`: a shared conversation (no edit, regenerate, rating). */
export function renderMessages(messages: readonly Shown[], readOnly = false): void {
  const lastAssistant = [...messages].reverse().find((message) => message.role === 'assistant');
  $('messages').replaceChildren(...messages.map((message) => (readOnly ? renderReadOnly(message) : renderMessage(message, message === lastAssistant))));
  $('share').hidden = readOnly || !state.conversation || messages.length === 0;
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

function renderReadOnly(message: Shown): HTMLElement {
  return h('article', { class: `message ${message.role}`, 'data-id': message.id, 'data-role': message.role }, messageBody(message.role, message.text));
}

/** Thumbs up and down under a stored reply; the pressed one is the reader's current rating. */
function ratingButtons(message: Shown): HTMLElement[] {
  const buttons = (['thumbsUp', 'thumbsDown'] as const).map((rating) =>
    h('button', {
      type: 'button',
      class: 'link rate',
      'data-action': rating === 'thumbsUp' ? 'thumbs-up' : 'thumbs-down',
      'aria-label': rating === 'thumbsUp' ? 'Good reply' : 'Bad reply',
      title: rating === 'thumbsUp' ? 'Good reply' : 'Bad reply',
      'aria-pressed': String(message.rating === rating),
      onclick: () => void rate(message, rating, buttons),
    }, thumbIcon(rating === 'thumbsDown')),
  );
  return buttons;
}

/** A thumb drawn inline (no emoji font needed, nothing fetched): Material's thumb_up, turned for down. */
function thumbIcon(down: boolean): SVGSVGElement {
  const NS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '16');
  svg.setAttribute('height', '16');
  svg.setAttribute('aria-hidden', 'true');
  if (down) svg.setAttribute('transform', 'rotate(180)');
  const path = document.createElementNS(NS, 'path');
  path.setAttribute('fill', 'currentColor');
  path.setAttribute('d', 'M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 7.59 7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z');
  svg.append(path);
  return svg;
}

async function rate(message: Shown, rating: Rating, buttons: HTMLElement[]): Promise<void> {
  const conversation = state.conversation;
  if (!conversation) return;
  try {
    await state.api.rate(conversation.conversation_id, message.id, rating);
    buttons.forEach((button, index) => button.setAttribute('aria-pressed', String((index === 0 ? 'thumbsUp' : 'thumbsDown') === rating)));
    // What a re-render of this conversation shows until it is read again.
    const stored = conversation.mapping[message.id]?.message;
    if (stored) (stored as { metadata?: Record<string, unknown> }).metadata = { ...stored.metadata, feedback: { rating } };
  } catch (error) {
    notify(error);
  }
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
  if (message.role === 'assistant' && state.conversation?.mapping[message.id]) tools.append(...ratingButtons(message));
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
