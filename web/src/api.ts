/**
 * The public backend API as this page calls it: the same requests any other frontend sends,
 * and failures turned into sentences a person can act on.
 */

/** `config.json`: where the API is and how to sign in. */
export interface ClientConfig {
  /** Base URL of the API without `/backend-api` ('' = this origin). */
  readonly apiUrl: string;
  /** `local`: the emulator's sign-in; `cognito`: Cognito managed login (code + PKCE). */
  readonly auth: 'local' | 'cognito';
  readonly cognitoDomain?: string;
  readonly clientId?: string;
  /** OAuth scopes to ask for, space-separated: the API checks its scope in the access token. */
  readonly scope?: string;
}

/** A failed call, with a message for the person in front of the page. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    /** Seconds to wait before retrying, when the server said so. */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
  /** The session is no longer accepted: sign in again. */
  get signInAgain(): boolean {
    return this.status === 401;
  }
}

/** Status 0: the request never got an answer. */
export const NETWORK_ERROR_MESSAGE = 'Cannot reach the server. Check your connection; your text is kept.';

export interface ListItem {
  readonly id: string;
  readonly title: string;
  readonly update_time: string;
  readonly is_archived: boolean;
}

export interface ConversationList {
  readonly items: ListItem[];
  readonly total: number;
  readonly offset: number;
  readonly limit: number;
}

export interface WireNode {
  readonly id: string;
  readonly parent?: string;
  readonly children: string[];
  readonly message?: {
    readonly id: string;
    readonly author: { readonly role: string };
    readonly content: { readonly content_type: string; readonly parts: unknown[] };
    readonly status?: string;
    readonly metadata?: Record<string, unknown>;
  };
}

export interface ConversationDetail {
  readonly conversation_id: string;
  readonly title: string;
  readonly current_node: string;
  readonly is_archived: boolean;
  readonly mapping: Record<string, WireNode>;
}

export interface ModelInfo {
  readonly slug: string;
  readonly title: string;
  readonly description?: string;
}

export interface ModelList {
  readonly models: ModelInfo[];
  readonly default_model_slug: string;
}

export interface TurnLimit {
  readonly feature_name: string;
  readonly limit: number;
  readonly remaining: number | null;
  readonly reset_after: string | null;
}

export interface SearchItem {
  readonly conversation_id: string;
  readonly title: string;
  readonly is_archived: boolean;
  readonly payload: { readonly kind: 'message' | 'title'; readonly message_id?: string; readonly snippet: string };
}

export interface SearchPage {
  readonly items: SearchItem[];
  readonly cursor: string | null;
}

export interface ShareLink {
  readonly share_id: string;
  readonly share_url: string;
  readonly title: string;
}

/** The public read of a share link: the shared branch, with no owner. */
export interface SharedConversation {
  readonly share_id: string;
  readonly title: string;
  readonly mapping: Record<string, WireNode>;
  readonly current_node: string;
}

export type Rating = 'thumbsUp' | 'thumbsDown';

export class Api {
  constructor(
    private readonly baseUrl: string,
    private readonly token: () => string | undefined,
    /** Called with the token after the API accepted it (any 2xx answer to a request carrying it). */
    private readonly onAuthorized?: (token: string) => void,
  ) {}

  /** A raw request; throws ApiError on a network failure or a non-2xx answer. */
  async request(path: string, init: RequestInit & { json?: unknown } = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    const token = this.token();
    if (token) headers.set('Authorization', `Bearer ${token}`);
    let body = init.body;
    if (init.json !== undefined) {
      headers.set('Content-Type', 'application/json');
      body = JSON.stringify(init.json);
    }
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}/backend-api${path}`, { ...init, headers, body });
    } catch (error) {
      if ((error as Error).name === 'AbortError') throw error;
      throw new ApiError(NETWORK_ERROR_MESSAGE, 0);
    }
    if (!res.ok) throw await toApiError(res);
    if (token) this.onAuthorized?.(token);
    return res;
  }

  async json<T>(path: string, init: RequestInit & { json?: unknown } = {}): Promise<T> {
    const res = await this.request(path, init);
    try {
      return (await res.json()) as T;
    } catch {
      throw new ApiError(NETWORK_ERROR_MESSAGE, 0);
    }
  }

  list(offset: number, limit: number, archived: boolean): Promise<ConversationList> {
    return this.json(`/conversations?offset=${offset}&limit=${limit}${archived ? '&is_archived=true' : ''}`);
  }

  conversation(id: string): Promise<ConversationDetail> {
    return this.json(`/conversation/${encodeURIComponent(id)}`);
  }

  patch(id: string, change: { title?: string; is_archived?: boolean; is_visible?: boolean }): Promise<unknown> {
    return this.json(`/conversation/${encodeURIComponent(id)}`, { method: 'PATCH', json: change });
  }

  models(): Promise<ModelList> {
    return this.json('/models');
  }

  /** The turn limit's progress (undefined when the deployment has no limit). */
  async turns(): Promise<TurnLimit | undefined> {
    const body = await this.json<{ limits_progress: TurnLimit[] }>('/limits');
    return body.limits_progress.find((item) => item.feature_name === 'turns');
  }

  rate(conversationId: string, messageId: string, rating: Rating): Promise<unknown> {
    return this.json('/conversation/message_feedback', { method: 'POST', json: { conversation_id: conversationId, message_id: messageId, rating } });
  }

  search(query: string, cursor?: string | null, signal?: AbortSignal): Promise<SearchPage> {
    return this.json(`/conversations/search?query=${encodeURIComponent(query)}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { signal });
  }

  share(conversationId: string, nodeId: string): Promise<ShareLink> {
    return this.json('/share/create', { method: 'POST', json: { conversation_id: conversationId, current_node_id: nodeId } });
  }

  revokeShare(shareId: string): Promise<unknown> {
    return this.json(`/share/${encodeURIComponent(shareId)}`, { method: 'PATCH', json: { is_visible: false } });
  }

  /** A share link's public read (sent without a token). */
  async shared(shareId: string): Promise<SharedConversation> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}/backend-api/share/${encodeURIComponent(shareId)}`);
    } catch {
      throw new ApiError(NETWORK_ERROR_MESSAGE, 0);
    }
    if (res.status === 404 || res.status === 422) throw new ApiError('This shared link does not exist or was revoked.', 404);
    if (!res.ok) throw await toApiError(res);
    return (await res.json()) as SharedConversation;
  }

  streamStatus(id: string): Promise<{ status: string; message_id?: string }> {
    return this.json(`/conversation/${encodeURIComponent(id)}/stream_status`);
  }
}

/** Turns an error response into a sentence; `detail` may be a string, `{message}` or a validation list. */
export async function toApiError(res: Response): Promise<ApiError> {
  let detail: unknown;
  try {
    detail = ((await res.json()) as { detail?: unknown; message?: unknown }).detail;
  } catch {
    detail = undefined;
  }
  const info = (detail && typeof detail === 'object' && !Array.isArray(detail) ? detail : {}) as { message?: unknown; retry_after?: unknown };
  const header = Number(res.headers.get('Retry-After'));
  const fromBody = Number(info.retry_after);
  const retryAfter = Number.isFinite(header) && header > 0 ? header : Number.isFinite(fromBody) && fromBody > 0 ? fromBody : undefined;
  const serverText = typeof detail === 'string' ? detail : typeof info.message === 'string' ? info.message : undefined;
  switch (res.status) {
    case 401:
    case 403:
      return new ApiError('Your session has ended. Sign in again to continue.', 401);
    case 404:
      return new ApiError('This conversation no longer exists.', 404);
    case 413:
      return new ApiError('That message is too long to send.', 413);
    case 429:
      return new ApiError(
        retryAfter ? `Too many requests. Try again in ${Math.ceil(retryAfter)} s.` : 'Too many requests. Try again in a moment.',
        429,
        retryAfter,
      );
    case 502:
    case 503:
    case 504:
      return new ApiError(
        `The service is temporarily unavailable${retryAfter ? `; try again in ${Math.ceil(retryAfter)} s` : '; try again in a moment'}.`,
        res.status,
        retryAfter,
      );
    default:
      return new ApiError(serverText ? `The request failed: ${serverText}` : `The request failed (HTTP ${res.status}).`, res.status);
  }
}
