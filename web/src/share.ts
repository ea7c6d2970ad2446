/**
 * Share links. The header's Share button makes a public, read-only link to the branch on screen
 * (`POST /share/create`), shows it, copies it, and revokes it (`PATCH /share/{id}`). The page at
 * `/share/<id>` shows such a link read-only (`GET /share/{id}`, no token needed) with "Continue
 * this conversation": signed in, the next message starts a conversation of the reader's from a
 * copy of the shared branch (`continue_from_shared_conversation_id`).
 */
import type { SharedConversation } from './api';
import { storedToken } from './auth';
import { branch, renderMessages } from './conversation';
import { $, h } from './dom';
import { notify } from './notice';
import { state } from './state';

/** The share id of a `/share/<id>` address. */
export function sharedRoute(): string | undefined {
  return /^\/share\/([0-9A-Fa-f-]{36})$/.exec(location.pathname)?.[1];
}

/** A share link the reader asked to continue before signing in. */
let pending: SharedConversation | undefined;

export function takePendingShare(): SharedConversation | undefined {
  const share = pending;
  pending = undefined;
  return share;
}

/** The read-only page of a share link (signed in or not). */
export async function showSharedPage(shareId: string, app: { signIn(message: string): void; show(): void }): Promise<void> {
  $('signin').hidden = true;
  $('app').hidden = false;
  $('app').classList.add('shared');
  $('conversation-title').textContent = 'Shared conversation';
  $('model').hidden = true;
  const bar = $('shared-bar');
  bar.hidden = false;
  try {
    const share = await state.api.shared(shareId);
    $('conversation-title').textContent = share.title;
    document.title = `${share.title} · Chatbot`;
    renderMessages(branch(share, share.current_node), true);
    bar.replaceChildren(
      h('span', { class: 'muted' }, 'A shared conversation, read-only.'),
      h('button', {
        type: 'button',
        class: 'primary',
        id: 'continue-shared',
        // The app (list, models, turns left) opens with the share in it; signed out, after the sign-in.
        onclick: () => {
          pending = share;
          if (storedToken()) app.show();
          else app.signIn('Sign in to continue this conversation.');
        },
      }, 'Continue this conversation'),
    );
  } catch (error) {
    notify(error);
    renderMessages([], true);
    bar.replaceChildren(h('a', { href: '/' }, 'Go to your chats'));
  }
}

/** Shows the shared branch above the message box: the next message continues it as the reader's own conversation. */
export function continueShared(share: SharedConversation): void {
  state.conversation = undefined;
  state.leaf = undefined;
  state.continuing = share;
  $('app').classList.remove('shared');
  $('shared-bar').hidden = true;
  $('conversation-title').textContent = share.title;
  renderMessages(branch(share, share.current_node), true);
  $('model').hidden = !state.models || state.models.models.length < 2;
  $<HTMLTextAreaElement>('input').focus();
}

/** Leaves the share page's layout (the reader opened a conversation or a new chat). */
export function leaveSharedPage(): void {
  $('app').classList.remove('shared');
  $('shared-bar').hidden = true;
  closeSharePanel();
}

// ---------------------------------------------------------------------------------------------
// The Share button

async function shareConversation(): Promise<void> {
  const conversation = state.conversation;
  if (!conversation) return;
  const panel = $('share-panel');
  try {
    const link = await state.api.share(conversation.conversation_id, state.leaf ?? conversation.current_node);
    const url = new URL(link.share_url, location.origin).href;
    const field = h('input', { id: 'share-url', readonly: true, value: url, 'aria-label': 'Share link' });
    const status = h('span', { role: 'status', id: 'share-status' }, 'Anyone with this link can read the conversation up to here.');
    const copy = async () => {
      try {
        await navigator.clipboard.writeText(url);
        status.textContent = 'Link copied.';
      } catch {
        // No clipboard permission: the link is selected for the person to copy.
        field.select();
        status.textContent = 'Copy the selected link.';
      }
    };
    const revoke = async () => {
      try {
        await state.api.revokeShare(link.share_id);
        field.remove();
        copyButton.remove();
        revokeButton.remove();
        status.textContent = 'Link revoked: it no longer opens the conversation.';
      } catch (error) {
        notify(error);
      }
    };
    const copyButton = h('button', { type: 'button', 'data-action': 'copy-link', onclick: () => void copy() }, 'Copy link');
    const revokeButton = h('button', { type: 'button', class: 'link', 'data-action': 'revoke-link', onclick: () => void revoke() }, 'Revoke');
    panel.replaceChildren(status, field, copyButton, revokeButton, h('button', { type: 'button', class: 'link', 'aria-label': 'Close', onclick: () => closeSharePanel(true) }, '×'));
    panel.hidden = false;
    await copy();
    copyButton.focus();
  } catch (error) {
    notify(error);
  }
}

export function closeSharePanel(returnFocus = false): void {
  const panel = $('share-panel');
  if (panel.hidden) return;
  panel.hidden = true;
  panel.replaceChildren();
  if (returnFocus) $('share').focus();
}

export function wireShare(): void {
  $('share').addEventListener('click', () => void shareConversation());
  $('share-panel').addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      closeSharePanel(true);
    }
  });
}
