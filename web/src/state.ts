/** What the page knows right now, shared by its parts. */
import type { Api, ClientConfig, ConversationDetail, ListItem, ModelList, Rating, SharedConversation } from './api';

/** A message as shown: from the stored tree or still streaming. */
export interface Shown {
  readonly id: string;
  readonly role: string;
  readonly text: string;
  readonly status?: string;
  /** Ids of this message and its siblings, for the branch switcher. */
  readonly siblings: readonly string[];
  readonly parent?: string;
  /** An assistant message's model (`metadata.model_slug`). */
  readonly model?: string;
  /** The reader's rating of an assistant message (`metadata.feedback.rating`). */
  readonly rating?: Rating;
}

export const state = {
  config: { apiUrl: '', auth: 'local' } as ClientConfig,
  api: undefined as unknown as Api,
  /** The sidebar shows the archive rather than the chats. */
  archived: false,
  items: [] as ListItem[],
  total: 0,
  /** A page of the list has arrived (until then, an empty list is not "no conversations"). */
  listed: false,
  conversation: undefined as ConversationDetail | undefined,
  /** The leaf whose branch is on screen (current_node unless the reader switched branches). */
  leaf: undefined as string | undefined,
  /** The models the API offers (undefined until listed, or when it could not say). */
  models: undefined as ModelList | undefined,
  /** A share link being continued: the next send starts a conversation from its branch. */
  continuing: undefined as SharedConversation | undefined,
  /** The reply being streamed or followed, to stop it. */
  streaming: undefined as AbortController | undefined,
};

/** The API base URL without a trailing slash ('' = this origin). */
export const apiBase = (): string => state.config.apiUrl.replace(/\/+$/, '');
