/**
 * The Chat Completions request (docs/api.md#openai-api-v1): `model`, `messages` (system,
 * developer, user and assistant messages of text), `stream`, `stream_options.include_usage`,
 * `max_completion_tokens` (or `max_tokens`). Tools, images, audio and `n > 1` are refused,
 * naming the parameter; sampling settings (`temperature`, …) are ignored.
 */
import {
  assertListedModel,
  IssueCollector,
  isJsonObject,
  readJsonObjectBody,
  readMessageItems,
  readModel,
  readOptionalBoolean,
  readOptionalInteger,
  toChatMessages,
  type ChatCompletionRequest,
} from '@chatbot/shared';
import type { APIGatewayProxyEvent } from 'aws-lambda';

/** Most messages one request may send: a long chat's whole history fits (the body's size limit bounds it anyway). */
const MAX_MESSAGES = 1000;

/** Parses and validates; the caller adds the user and the deadline. */
export function parseChatCompletionRequest(
  event: Pick<APIGatewayProxyEvent, 'body' | 'isBase64Encoded' | 'headers'>,
  limits: { readonly maxBodyBytes: number; readonly maxMessageChars: number },
): Omit<ChatCompletionRequest, 'userId' | 'deadline'> {
  const body = readJsonObjectBody(event, limits);
  const issues = new IssueCollector();
  const model = readModel(issues, body.model);
  if (body.messages === undefined || body.messages === null) issues.add(['body', 'messages'], 'is required', 'missing');
  else if (Array.isArray(body.messages) && body.messages.length === 0) issues.add(['body', 'messages'], 'must hold at least one message', 'too_short');
  const messages = readMessageItems(issues, body.messages, ['body', 'messages'], { max: MAX_MESSAGES, maxMessageChars: limits.maxMessageChars }) ?? [];
  const stream = readOptionalBoolean(issues, body, 'stream', false);
  let includeUsage = false;
  if (isJsonObject(body.stream_options)) includeUsage = readOptionalBoolean(issues, body.stream_options, 'include_usage', false);
  else if (body.stream_options !== undefined && body.stream_options !== null) issues.add(['body', 'stream_options'], 'must be an object', 'dict_type');
  const maxTokens = readOptionalInteger(issues, body, 'max_completion_tokens', { min: 1, max: 200_000 }) ?? readOptionalInteger(issues, body, 'max_tokens', { min: 1, max: 200_000 });
  if (body.n !== undefined && body.n !== null && body.n !== 1) issues.add(['body', 'n'], 'only one choice (n: 1) is supported', 'value_error');
  if (Array.isArray(body.tools) && body.tools.length > 0) issues.add(['body', 'tools'], 'tools are not supported', 'value_error');
  issues.throwIfAny();
  assertListedModel(model);
  return { model, messages: toChatMessages(messages), stream, includeUsage, maxTokens };
}
