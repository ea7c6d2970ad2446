/**
 * The sidebar: the paged conversation list ("Load more" until `total`), rename, archive, delete,
 * the archived view, and on a phone the drawer it becomes.
 */
import type { ListItem } from './api';
import { newChat } from './conversation';
import { ask } from './dialog';
import { $, h, isNarrow } from './dom';
import { notify } from './notice';
import { state } from './state';

export const PAGE_SIZE = 20;

export async function loadList(reset: boolean): Promise<void> {
  const known = reset ? 0 : state.items.length;
  try {
    const page = await state.api.list(known, PAGE_SIZE, state.archived);
    state.items = reset ? page.items : [...state.items, ...page.items.filter((item) => !state.items.some((seen) => seen.id === item.id))];
    state.total = page.total;
    state.listed = true;
    renderList();
    // The last "Load more" hides itself: carry on at the first new conversation, not back at the top.
    if (!reset && document.activeElement === document.body) focusItem(state.items[known]?.id);
  } catch (error) {
    notify(error);
  }
}

export function renderList(): void {
  const list = $('list');
  list.replaceChildren(
    ...state.items.map((item) => {
      const active = item.id === state.conversation?.conversation_id;
      const title = h('a', { href: `/#c/${encodeURIComponent(item.id)}`, class: 'title', title: item.title, 'aria-current': active ? 'page' : false, onclick: () => closeDrawer(false) }, item.title);
      return h(
        'li',
        { 'data-id': item.id, class: active ? 'active' : '' },
        title,
        h('span', { class: 'actions' },
          h('button', { type: 'button', title: 'Rename', 'aria-label': `Rename "${item.title}"`, 'data-action': 'rename', onclick: () => startRename(item, title) }, '✎'),
          h('button', {
            type: 'button',
            title: item.is_archived ? 'Unarchive' : 'Archive',
            'aria-label': `${item.is_archived ? 'Unarchive' : 'Archive'} "${item.title}"`,
            'data-action': 'archive',
            onclick: () => void setArchived(item, !item.is_archived),
          }, item.is_archived ? '⇡' : '⇣'),
          h('button', { type: 'button', title: 'Delete', 'aria-label': `Delete "${item.title}"`, 'data-action': 'delete', onclick: () => void remove(item) }, '×'),
        ),
      );
    }),
  );
  $('empty-list').hidden = !state.listed || state.items.length > 0;
  $('more').hidden = state.items.length >= state.total;
}

/** Moves the keyboard focus to a conversation's link (or, with none, to "New chat"). */
function focusItem(id: string | undefined): void {
  const link = id ? $('list').querySelector<HTMLElement>(`li[data-id="${CSS.escape(id)}"] .title`) : null;
  (link ?? $('new-chat')).focus();
}

/** A conversation this page just started: at the top of the chats, until the list is reloaded. */
export function adoptConversation(id: string): void {
  if (state.items.some((item) => item.id === id)) return;
  state.items = [{ id, title: 'New chat', update_time: new Date().toISOString(), is_archived: false }, ...state.items];
  state.total += 1;
  if (!state.archived) renderList();
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
    const hadFocus = document.activeElement === input || document.activeElement === document.body;
    renderList();
    if (hadFocus) focusItem(item.id);
  };
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') void finish(true);
    if (event.key === 'Escape') {
      // Cancels the rename only (not the drawer around it).
      event.preventDefault();
      void finish(false);
    }
  });
  input.addEventListener('blur', () => void finish(true));
  title.replaceWith(input);
  input.focus();
  input.select();
}

export function setItemTitle(id: string, title: string): void {
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
  const confirmed = await ask({ title: `Delete "${item.title}"?`, detail: 'This cannot be undone.', confirm: 'Delete', cancel: 'Cancel', danger: true });
  if (!confirmed) return;
  try {
    await state.api.patch(item.id, { is_visible: false });
    dropFromList(item.id);
    if (state.conversation?.conversation_id === item.id) newChat();
  } catch (error) {
    notify(error);
  }
}

/** Takes a conversation off the list; the keyboard focus goes to the next one. */
function dropFromList(id: string): void {
  const index = state.items.findIndex((item) => item.id === id);
  const hadFocus = $('list').contains(document.activeElement) || document.activeElement === document.body;
  state.items = state.items.filter((item) => item.id !== id);
  state.total = Math.max(0, state.total - 1);
  renderList();
  if (hadFocus) focusItem((state.items[index] ?? state.items[index - 1])?.id);
}

function showArchived(archived: boolean): void {
  state.archived = archived;
  $('tab-chats').setAttribute('aria-pressed', String(!archived));
  $('tab-archived').setAttribute('aria-pressed', String(archived));
  void loadList(true);
}

// ---------------------------------------------------------------------------------------------
// The drawer (phone width)

export function openDrawer(): void {
  if (!isNarrow()) return;
  $('app').classList.add('drawer-open');
  $('menu').setAttribute('aria-expanded', 'true');
  $('backdrop').hidden = false;
  // The page behind is out of reach while the drawer covers it.
  $('chat').inert = true;
  $('new-chat').focus();
}

export function closeDrawer(returnFocus = true): void {
  if (!$('app').classList.contains('drawer-open')) return;
  $('app').classList.remove('drawer-open');
  $('menu').setAttribute('aria-expanded', 'false');
  $('backdrop').hidden = true;
  $('chat').inert = false;
  if (returnFocus) $('menu').focus();
}

export function wireSidebar(): void {
  $('more').addEventListener('click', () => void loadList(false));
  $('tab-chats').addEventListener('click', () => showArchived(false));
  $('tab-archived').addEventListener('click', () => showArchived(true));
  $('menu').addEventListener('click', () => ($('app').classList.contains('drawer-open') ? closeDrawer() : openDrawer()));
  $('backdrop').addEventListener('click', () => closeDrawer());
  document.addEventListener('keydown', (event) => {
    // A dialog handles its own Escape; an input that used it (rename) marks it handled.
    if (event.key === 'Escape' && !event.defaultPrevented && !document.querySelector('dialog[open]')) closeDrawer();
  });
  matchMedia('(max-width: 700px)').addEventListener('change', () => closeDrawer(false));
}
