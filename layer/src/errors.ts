/**
 * The one application error type. The HTTP edge (`http/middlewares.ts`) renders it as
 * `{"detail": ...}`, the shape ChatGPT clients parse; `cause` is logged, never returned.
 */
export type ErrorDetail = string | { message: string; code: string; [field: string]: unknown } | ValidationIssue[];

/** One entry of a 422 `detail` list, FastAPI style. */
export interface ValidationIssue {
  readonly loc: (string | number)[];
  readonly msg: string;
  readonly type: string;
}

export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly detail: ErrorDetail = { message, code },
    options?: { cause?: unknown; headers?: Readonly<Record<string, string>> },
  ) {
    super(message, options);
    this.name = new.target.name;
    this.headers = options?.headers ?? {};
  }

  /** Response headers the error needs (e.g. `Retry-After`). */
  readonly headers: Readonly<Record<string, string>>;
}

/** 422 with the offending fields listed. */
export class ValidationError extends AppError {
  constructor(readonly issues: ValidationIssue[]) {
    super(422, 'validation_error', issues.map((i) => `${i.loc.join('.')}: ${i.msg}`).join('; '), issues);
  }
}

/** Unknown and foreign conversations look the same, so no one can probe for ids. */
export class ConversationNotFoundError extends AppError {
  constructor() {
    super(404, 'conversation_not_found', 'Conversation not found');
  }
}

/** The conversation is the caller's, but it has no message with this id. */
export class MessageNotFoundError extends AppError {
  constructor() {
    super(404, 'message_not_found', 'Message not found');
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = 'Missing or invalid credentials') {
    super(401, 'invalid_jwt', message);
  }
}

export class PayloadTooLargeError extends AppError {
  constructor(code: string, message: string) {
    super(413, code, message);
  }
}

/**
 * The user started too many turns in the rolling window (docs/api.md#limits): 429 with `Retry-After`
 * and the same number of seconds in `detail.retry_after`.
 */
export class TurnLimitExceededError extends AppError {
  constructor(readonly retryAfterSeconds: number, limit: number, windowSeconds: number) {
    const message = `Too many messages: at most ${limit} every ${windowSeconds} seconds. Try again in ${retryAfterSeconds} seconds.`;
    super(429, 'rate_limit_exceeded', message, { message, code: 'rate_limit_exceeded', retry_after: retryAfterSeconds }, {
      headers: { 'Retry-After': String(retryAfterSeconds) },
    });
  }
}

/** The user already holds `USER_MAX_LIVE_STREAMS` streams (replies and followers): 429 with `Retry-After`. */
export class TooManyStreamsError extends AppError {
  constructor(readonly retryAfterSeconds: number, limit: number) {
    const message = `Too many replies streaming at once: at most ${limit}. Wait for one to end, or stop one.`;
    super(429, 'too_many_streams', message, { message, code: 'too_many_streams', limit, retry_after: retryAfterSeconds }, {
      headers: { 'Retry-After': String(retryAfterSeconds) },
    });
  }
}

/**
 * A POST named a model the deployment does not list (GET /backend-api/models): 422 with an
 * object `detail`, checked before anything is written or counted.
 */
export class ModelNotAllowedError extends AppError {
  constructor() {
    const message = 'This model is not available: GET /backend-api/models lists the models you may use';
    super(422, 'model_not_allowed', message);
  }
}

/** The turn would take the conversation past its size limits; the client should start a new conversation. */
export class ConversationTooLongError extends AppError {
  constructor(message: string) {
    super(413, 'conversation_too_long', message);
  }
}

/** Postgres is unreachable or timed out: the request can be retried. */
export class DatabaseUnavailableError extends AppError {
  constructor(cause?: unknown) {
    super(503, 'database_unavailable', 'The database is unavailable, please retry', undefined, { cause });
  }
}

/**
 * The model provider failed before the reply started streaming. The user message is stored
 * by then, so the body names its conversation: a retry continues it instead of starting a second one.
 */
export class ModelProviderError extends AppError {
  constructor(message = 'The model provider failed', cause?: unknown, readonly conversationId?: string) {
    super(502, 'model_error', message, { message, code: 'model_error', ...(conversationId ? { conversation_id: conversationId } : {}) }, { cause });
  }
}

/** A reply stream cannot be read because Redis is unavailable: the client may retry. */
export class ReplyStreamUnavailableError extends AppError {
  constructor(cause?: unknown) {
    super(503, 'stream_unavailable', 'Resuming replies is unavailable right now, please retry', undefined, { cause });
  }
}

/** No reply stream to resume: never existed, expired, foreign, or its frames were trimmed. */
export class ReplyStreamNotFoundError extends AppError {
  constructor(message = 'No reply stream to resume') {
    super(404, 'stream_not_found', message);
  }
}

/** Unknown, revoked, or its conversation deleted — and, for its owner's changes, someone else's: all look the same. */
export class ShareNotFoundError extends AppError {
  constructor() {
    super(404, 'share_not_found', 'Shared conversation not found');
  }
}

/**
 * A request parameter the OpenAI API routes (`/v1`) refuse: 400 `invalid_request_error` naming
 * the parameter (`param`), as OpenAI's API answers a bad model or body.
 */
export class InvalidParameterError extends AppError {
  constructor(readonly param: string, message: string, code = 'invalid_value') {
    super(400, code, message, { message, code, param });
  }
}

/** A response, item or model of the OpenAI API routes that does not exist or is not the caller's: 404, the cases alike. */
export class OpenAiObjectNotFoundError extends AppError {
  constructor(kind: 'response' | 'item' | 'model', id: string) {
    const message = `No ${kind} found with id '${id.length > 200 ? `${id.slice(0, 200)}…` : id}'.`;
    super(404, `${kind}_not_found`, message);
  }
}
