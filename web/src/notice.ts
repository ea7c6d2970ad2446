/** The notice under the header: what went wrong, and what to do about it. */
import { ApiError } from './api';
import { forgetToken } from './auth';
import { $, h } from './dom';
import { showSignIn } from './signin';

export function notify(error: unknown): void {
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

export function clearNotice(): void {
  $('notice').hidden = true;
}
