/**
 * The sidebar's search box: `GET /conversations/search` as the person types (debounced; an
 * answer to an older query is dropped), one result per conversation with its title and the words
 * around the match, "More results" while the API has a cursor. A result opens its conversation
 * at the matching message.
 */
import type { SearchItem } from './api';
import { openConversation } from './conversation';
import { $, h } from './dom';
import { notify } from './notice';
import { leaveReply } from './reply';
import { closeDrawer } from './sidebar';
import { state } from './state';

/** Typing pauses this long before a search goes out. */
export const SEARCH_DEBOUNCE_MS = 250;

let timer: ReturnType<typeof setTimeout> | undefined;
let inFlight: AbortController | undefined;
let query = '';
let cursor: string | null = null;

const input = () => $<HTMLInputElement>('search');

function schedule(): void {
  clearTimeout(timer);
  const text = input().value.trim();
  if (!text) return endSearch();
  timer = setTimeout(() => void run(text, false), SEARCH_DEBOUNCE_MS);
}

async function run(text: string, more: boolean): Promise<void> {
  inFlight?.abort();
  const controller = new AbortController();
  inFlight = controller;
  try {
    const page = await state.api.search(text, more ? cursor : undefined, controller.signal);
    if (inFlight !== controller) return;
    query = text;
    cursor = page.cursor;
    $('sidebar').classList.add('searching');
    const results = $('results');
    const items = page.items.map(resultItem);
    if (more) results.append(...items);
    else results.replaceChildren(...items);
    results.hidden = false;
    $('no-results').hidden = results.childElementCount > 0;
    $('more-results').hidden = !cursor;
  } catch (error) {
    if (inFlight === controller) notify(error);
  } finally {
    if (inFlight === controller) inFlight = undefined;
  }
}

function resultItem(item: SearchItem): HTMLElement {
  const at = item.payload.kind === 'message' ? item.payload.message_id : undefined;
  const open = (event: Event) => {
    event.preventDefault();
    leaveReply();
    closeDrawer(false);
    void openConversation(item.conversation_id, { at, follow: true });
  };
  return h(
    'li',
    { 'data-id': item.conversation_id },
    h('a', { href: `/#c/${encodeURIComponent(item.conversation_id)}`, class: 'result', onclick: open },
      h('span', { class: 'title' }, item.title, item.is_archived && h('span', { class: 'tag' }, ' (archived)')),
      h('span', { class: 'snippet' }, item.payload.snippet),
    ),
  );
}

function endSearch(): void {
  inFlight?.abort();
  inFlight = undefined;
  query = '';
  cursor = null;
  $('sidebar').classList.remove('searching');
  $('results').replaceChildren();
  $('results').hidden = true;
  $('no-results').hidden = true;
  $('more-results').hidden = true;
}

export function wireSearch(): void {
  input().addEventListener('input', schedule);
  input().addEventListener('keydown', (event) => {
    // Escape empties the box first (the drawer around it stays open).
    if (event.key === 'Escape' && input().value) {
      event.preventDefault();
      input().value = '';
      clearTimeout(timer);
      endSearch();
    }
  });
  $('more-results').addEventListener('click', () => void (query && cursor ? run(query, true) : undefined));
}
