/**
 * Errors in OpenAI's shape, for the `/v1` routes (`errorFormat: 'openai'` in the route table):
 * `{"error": {"message", "type", "param", "code"}}` with the statuses the OpenAI SDKs map to
 * their error classes (400 `BadRequestError`, 401, 404, 429 `RateLimitError`, 5xx). The same
 * `AppError`s the `backend-api` routes render as `{"detail": ...}`, translated here. Pure: no I/O.
 */
import { AppError, ModelProviderError, ValidationError, type ValidationIssue } from '../errors';

/** OpenAI's error object. */
export interface OpenAiError {
  readonly message: string;
  readonly type: string;
  readonly param: string | null;
  readonly code: string | null;
}

/** A rendered error: status, body and headers. */
export interface RenderedOpenAiError {
  readonly status: number;
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
}

/** `['body', 'input', 0, 'content']` → `input[0].content`, as OpenAI names a parameter. */
export function openAiParamOf(loc: readonly (string | number)[]): string | null {
  const path = loc[0] === 'body' || loc[0] === 'query' || loc[0] === 'path' ? loc.slice(1) : loc;
  let param = '';
  for (const part of path) param += typeof part === 'number' ? `[${part}]` : param === '' ? part : `.${part}`;
  return param === '' ? null : param;
}

/** OpenAI's codes for a bad parameter: missing, of the wrong type, or of a wrong value. */
function codeOfIssue(issue: ValidationIssue): string {
  if (issue.type === 'missing') return 'missing_required_parameter';
  if (/_type$|_parsing$/.test(issue.type)) return 'invalid_type';
  return 'invalid_value';
}

/** The statuses OpenAI answers: a request it cannot take is a 400, whatever the reason. */
function statusOf(error: AppError): number {
  if ([401, 403, 404, 429].includes(error.status) || error.status >= 500) return error.status;
  return 400;
}

function typeOf(status: number): string {
  if (status === 429) return 'requests';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** What the error says in OpenAI's shape. */
export function toOpenAiError(error: AppError): RenderedOpenAiError {
  const status = statusOf(error);
  const headers: Record<string, string> = { ...error.headers };
  // A model that failed before its first token leaves the stored user message behind: a retry would store it twice.
  if (error instanceof ModelProviderError && error.conversationId !== undefined) headers['X-Should-Retry'] = 'false';
  let body: OpenAiError;
  if (error instanceof ValidationError) {
    const first = error.issues[0];
    body = {
      message: error.issues.map((issue) => `${openAiParamOf(issue.loc) ?? 'body'}: ${issue.msg}`).join('; '),
      type: 'invalid_request_error',
      param: first ? openAiParamOf(first.loc) : null,
      code: first ? codeOfIssue(first) : null,
    };
  } else {
    const detail = typeof error.detail === 'object' && !Array.isArray(error.detail) ? error.detail : undefined;
    const param = typeof detail?.param === 'string' ? detail.param : null;
    body = { message: error.message, type: typeOf(status), param, code: status === 401 ? 'invalid_api_key' : error.code };
  }
  return { status, body: JSON.stringify({ error: body }), headers };
}

/** The 500 an unexpected error gets: nothing about its cause. */
export const OPENAI_INTERNAL_ERROR: RenderedOpenAiError = {
  status: 500,
  body: JSON.stringify({ error: { message: 'Internal server error', type: 'server_error', param: null, code: 'internal_error' } }),
  headers: {},
};
