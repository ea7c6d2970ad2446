/**
 * The reference chat page. Its parts: sign-in and start-up (signin.ts), the sidebar
 * (sidebar.ts), the conversation on screen (conversation.ts), replies streaming in (reply.ts),
 * the message box (composer.ts), Markdown (markdown.ts), and the API and stream readers (api.ts,
 * stream.ts), the model picker (models.ts), ratings (in conversation.ts), the turns left
 * (limits.ts), search (search.ts) and share links (share.ts). This file wires them to the page.
 */
import { ApiError, NETWORK_ERROR_MESSAGE } from './api';
import { wireComposer } from './composer';
import { newChat, openConversation, routeConversation, wireConversationView } from './conversation';
import { $ } from './dom';
import { clearNotice, notify } from './notice';
import { leaveReply } from './reply';
import { boot, onFragmentToken, signOut } from './signin';
import { wireSearch } from './search';
import { wireShare } from './share';
import { closeDrawer, wireSidebar } from './sidebar';
import { state } from './state';

function wire(): void {
  wireComposer();
  wireSidebar();
  wireSearch();
  wireShare();
  wireConversationView();
  $('new-chat').addEventListener('click', () => {
    leaveReply();
    newChat();
    closeDrawer(false);
  });
  $('sign-out').addEventListener('click', signOut);
  window.addEventListener('hashchange', () => {
    void (async () => {
      if (await onFragmentToken()) return;
      const route = routeConversation();
      if (route.malformed) return notify(new Error('That conversation link is damaged (its address cannot be read).'));
      if (!route.id || route.id === state.conversation?.conversation_id) return;
      // Another conversation: the reply on screen carries on without this page (and is followed again on return).
      leaveReply();
      await openConversation(route.id, { follow: true });
    })();
  });
  window.addEventListener('offline', () => notify(new ApiError(NETWORK_ERROR_MESSAGE, 0)));
  window.addEventListener('online', clearNotice);
}

wire();
void boot();
