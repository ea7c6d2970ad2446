/**
 * Start-up and who is signed in. A token from a link (`#token=`) is used only once the API has
 * accepted it and the person said yes in the page: a link must not silently sign someone out, or
 * into another account. The header names the account only after the API accepted its token.
 */
import { Api, ApiError, NETWORK_ERROR_MESSAGE } from './api';
import { accountName, cognitoLogoutUrl, completeCognitoSignIn, forgetToken, signInLocally, startCognitoSignIn, storedToken, storeToken, takeFragmentToken, tokenSubject } from './auth';
import { newChat, openConversation, routeConversation, showRoute } from './conversation';
import { ask } from './dialog';
import { $, h } from './dom';
import { notify } from './notice';
import { refreshTurns } from './limits';
import { loadModels } from './models';
import { leaveReply } from './reply';
import { continueShared, sharedRoute, showSharedPage, takePendingShare } from './share';
import { loadList } from './sidebar';
import { apiBase, state } from './state';

const DAMAGED_SIGN_IN_LINK = 'That sign-in link is damaged (its token cannot be read): ask for a new one.';

export async function boot(): Promise<void> {
  state.config = await fetch('/config.json')
    .then((res) => (res.ok ? (res.json() as Promise<typeof state.config>) : state.config))
    .catch(() => state.config);
  state.api = new Api(apiBase(), storedToken, showIdentity);
  if (state.config.auth === 'cognito') {
    try {
      await completeCognitoSignIn(state.config);
    } catch (error) {
      return showSignIn((error as Error).message);
    }
  }
  const fragment = takeFragmentToken();
  if (fragment && 'malformed' in fragment) {
    if (!storedToken()) return showSignIn(DAMAGED_SIGN_IN_LINK);
    showApp();
    return notify(new Error(DAMAGED_SIGN_IN_LINK));
  }
  const problem = fragment ? await offerToken(fragment.token) : undefined;
  // A share link reads without signing in.
  const share = sharedRoute();
  if (share && !problem) return showSharedPage(share, { signIn: showSignIn, show: showApp });
  if (!storedToken()) return showSignIn(problem);
  showApp();
  if (problem) notify(new Error(problem));
}

/** A `#token=` link opened while the page runs. */
export async function onFragmentToken(): Promise<boolean> {
  const fragment = takeFragmentToken();
  if (!fragment) return false;
  // The address keeps showing the conversation on screen.
  if (state.conversation) showRoute(state.conversation.conversation_id);
  const before = storedToken();
  const problem = 'malformed' in fragment ? DAMAGED_SIGN_IN_LINK : await offerToken(fragment.token);
  if (problem) {
    if ($('app').hidden) showSignIn(problem);
    else notify(new Error(problem));
  } else if (storedToken() !== before) {
    forgetAccountView();
    showApp();
  }
  return true;
}

/**
 * Checks a token from a link with the API, then asks before signing in with it; keeps the
 * current session (if any) otherwise. Returns why the link was not usable, if it was not.
 */
async function offerToken(token: string): Promise<string | undefined> {
  const current = storedToken();
  if (token === current) return undefined;
  const accepts = (candidate: string) =>
    new Api(apiBase(), () => candidate).list(0, 1, false).then(
      () => true,
      (error: unknown) => (error instanceof ApiError && error.signInAgain ? false : Promise.reject(error)),
    );
  let offered: boolean;
  let currentValid = false;
  try {
    [offered, currentValid] = await Promise.all([accepts(token), current ? accepts(current).catch(() => false) : false]);
  } catch (error) {
    return `The sign-in link could not be checked: ${(error as Error).message || NETWORK_ERROR_MESSAGE}`;
  }
  if (!offered) return 'That sign-in link is not valid here (expired, or made for another server).';
  const user = tokenSubject(token) ?? 'another user';
  const currentUser = current && currentValid ? accountName(current) : undefined;
  const yes = await ask({
    title: `Sign in as ${user}?`,
    detail: currentUser
      ? `You are signed in as ${currentUser}. The link you opened signs you in as ${user} instead.`
      : `The link you opened signs you in as ${user}.`,
    confirm: `Sign in as ${user}`,
    cancel: currentUser ? `Stay signed in as ${currentUser}` : 'Cancel',
  });
  if (yes) storeToken(token);
  return undefined;
}

export function showSignIn(message?: string): void {
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
          await signInLocally(apiBase(), input.value.trim());
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

/** Nothing of the previous account stays on screen or in the address. */
function forgetAccountView(): void {
  leaveReply();
  state.conversation = undefined;
  state.leaf = undefined;
  state.items = [];
  state.total = 0;
  state.listed = false;
  history.replaceState(null, '', location.pathname + location.search);
}

export function signOut(): void {
  forgetToken();
  forgetAccountView();
  if (state.config.auth === 'cognito') location.assign(cognitoLogoutUrl(state.config));
  else showSignIn();
}

export function showApp(): void {
  $('signin').hidden = true;
  $('app').hidden = false;
  // Filled in once the API accepts the token (showIdentity).
  $('user').textContent = '';
  void loadList(true);
  void loadModels();
  void refreshTurns();
  const share = takePendingShare();
  const route = routeConversation();
  if (share) continueShared(share);
  else if (route.malformed) {
    newChat();
    notify(new Error('That conversation link is damaged (its address cannot be read).'));
  } else if (route.id) void openConversation(route.id, { follow: true });
  else newChat();
}

/** The header's account name, for a token the API just accepted (if it is still the one in use). */
function showIdentity(token: string): void {
  if (token === storedToken()) $('user').textContent = accountName(token);
}
