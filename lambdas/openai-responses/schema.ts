/**
 * The requests of OpenAI's Responses API (docs/api.md#openai-api-v1). The input's trailing
 * user messages are the turn's user message (their parts together); the messages before them
 * are stored before it; system and developer messages join `instructions`, for this response
 * only. Everything is checked before anything is written; a bad request is a 400 naming the
 * parameter.
 */
import {
  assertListedModel,
  IssueCollector,
  isJsonObject,
  MAX_REQUEST_ITEMS,
  parseResponseId,
  readJsonObjectBody,
  readMessageItems,
  readModel,
  readOptionalBoolean,
  readOptionalInteger,
  isStorableText,
  assertMessageLength,
  type CreateResponseRequest,
  type IncomingUserMessage,
  type NewItem,
  type RequestMessage,
} from '@chatbot/shared';
import { randomBytes } from 'node:crypto';
import type { APIGatewayProxyEvent } from 'aws-lambda';

export interface RequestLimits {
  readonly maxBodyBytes: number;
  readonly maxMessageChars: number;
}

/** POST /v1/responses, parsed; the caller adds the user and the deadline. */
export type CreateResponseBody = Omit<CreateResponseRequest, 'userId' | 'deadline'>;

const newId = () => randomBytes(16).toString('hex');

/** `input`: a string (one user message) or a list of message items. */
function readInput(issues: IssueCollector, value: unknown, limits: RequestLimits): RequestMessage[] {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') return readMessageItems(issues, [{ role: 'user', content: value }], ['body', 'input'], { max: 1, maxMessageChars: limits.maxMessageChars }) ?? [];
  return readMessageItems(issues, value, ['body', 'input'], { max: MAX_REQUEST_ITEMS, maxMessageChars: limits.maxMessageChars }) ?? [];
}

/** Splits the input: system/developer messages → instructions; trailing user messages → the user's message; the rest → stored before it. */
function splitInput(issues: IssueCollector, input: readonly RequestMessage[], instructions: string | undefined, maxMessageChars: number) {
  const system = input.filter((message) => message.role === 'system' || message.role === 'developer').map((message) => message.parts.join('\n'));
  const conversational = input.filter((message) => message.role === 'user' || message.role === 'assistant');
  let firstTrailingUser = conversational.length;
  while (firstTrailingUser > 0 && conversational[firstTrailingUser - 1].role === 'user') firstTrailingUser -= 1;
  const trailing = conversational.slice(firstTrailingUser);
  if (conversational.length > 0 && trailing.length === 0) issues.add(['body', 'input'], 'the last message must be a user message', 'value_error');
  let message: IncomingUserMessage | undefined;
  if (trailing.length > 0) {
    const parts = trailing.flatMap((item) => item.parts);
    const text = parts.join('\n');
    assertMessageLength(text, maxMessageChars);
    message = { id: newId(), contentType: 'text', parts, text };
  }
  const precedingMessages: NewItem[] = conversational.slice(0, firstTrailingUser).map((item) => ({
    id: newId(),
    role: item.role as 'user' | 'assistant',
    parts: item.parts,
    status: item.role === 'assistant' && item.incomplete ? 'finished_partial_completion' : 'finished_successfully',
  }));
  const allInstructions = [...system, ...(instructions === undefined ? [] : [instructions])].join('\n\n');
  return { message, precedingMessages, instructions: allInstructions === '' ? undefined : allInstructions };
}

/** POST /v1/responses. */
export function parseCreateResponseRequest(event: Pick<APIGatewayProxyEvent, 'body' | 'isBase64Encoded' | 'headers'>, limits: RequestLimits): CreateResponseBody {
  const body = readJsonObjectBody(event, limits);
  const issues = new IssueCollector();
  const model = readModel(issues, body.model);

  let instructions: string | undefined;
  if (typeof body.instructions === 'string') {
    if (!isStorableText(body.instructions)) issues.add(['body', 'instructions'], 'must be valid Unicode without NUL characters', 'string_unicode');
    else if (body.instructions.trim() !== '') instructions = body.instructions;
    assertMessageLength(body.instructions, limits.maxMessageChars);
  } else if (body.instructions !== undefined && body.instructions !== null) issues.add(['body', 'instructions'], 'must be a string', 'string_type');

  let conversationId: string | undefined;
  const conversation = isJsonObject(body.conversation) ? body.conversation.id : body.conversation;
  if (conversation !== undefined && conversation !== null) {
    const parsed = typeof conversation === 'string' && /^conv_[0-9a-f]{32}$/i.test(conversation) ? conversation.slice(5).toLowerCase() : undefined;
    if (parsed === undefined) issues.add(['body', 'conversation'], 'must be a conversation id ("conv_…") or {"id": "conv_…"}', 'string_pattern_mismatch');
    else conversationId = `${parsed.slice(0, 8)}-${parsed.slice(8, 12)}-${parsed.slice(12, 16)}-${parsed.slice(16, 20)}-${parsed.slice(20)}`;
  }
  let previousResponseId: string | undefined;
  if (body.previous_response_id !== undefined && body.previous_response_id !== null) {
    if (!parseResponseId(body.previous_response_id)) issues.add(['body', 'previous_response_id'], 'must be a response id ("resp_…")', 'string_pattern_mismatch');
    else previousResponseId = body.previous_response_id as string;
  }
  if (conversationId !== undefined && previousResponseId !== undefined) {
    issues.add(['body', 'previous_response_id'], 'give either conversation or previous_response_id, not both', 'value_error');
  }

  const stream = readOptionalBoolean(issues, body, 'stream', false);
  const background = readOptionalBoolean(issues, body, 'background', false);
  const store = readOptionalBoolean(issues, body, 'store', true);
  const maxOutputTokens = readOptionalInteger(issues, body, 'max_output_tokens', { min: 1, max: 200_000 });
  if (!store && background) issues.add(['body', 'background'], 'a background response must be stored (store: true)', 'value_error');
  if (!store && (conversationId !== undefined || previousResponseId !== undefined)) {
    issues.add(['body', 'store'], 'a response in a conversation is stored: store must be true with conversation or previous_response_id', 'value_error');
  }
  if (Array.isArray(body.tools) && body.tools.length > 0) issues.add(['body', 'tools'], 'tools are not supported', 'value_error');

  const input = readInput(issues, body.input, limits);
  const split = splitInput(issues, input, instructions, limits.maxMessageChars);
  if (!split.message && !issues.issues.some((issue) => issue.loc[1] === 'input') && (conversationId === undefined || split.precedingMessages.length > 0)) {
    // Without input, a response answers the conversation's last user message again: only with `conversation`.
    issues.add(['body', 'input'], 'is required (without input, a response answers the last user message of `conversation`)', 'missing');
  }
  issues.throwIfAny();
  assertListedModel(model);
  return { model, ...split, conversationId, previousResponseId, stream, background, store, maxOutputTokens };
}

/** A path that names a response. */
export function parseResponsePath(event: Pick<APIGatewayProxyEvent, 'pathParameters'>): { responseId: string } {
  const params = event.pathParameters;
  const id = params && Object.hasOwn(params, 'response_id') ? params.response_id : undefined;
  const issues = new IssueCollector();
  if (typeof id !== 'string' || id.length > 200) issues.add(['path', 'response_id'], 'must be a response id ("resp_…")', 'string_type');
  issues.throwIfAny();
  return { responseId: id as string };
}

/** GET /v1/responses/{id}: `stream` (`true` | `false`), `starting_after` (a sequence number). */
export function parseGetResponseRequest(event: Pick<APIGatewayProxyEvent, 'pathParameters' | 'queryStringParameters'>): {
  responseId: string;
  stream: boolean;
  startingAfter?: number;
} {
  const { responseId } = parseResponsePath(event);
  const query = event.queryStringParameters;
  const issues = new IssueCollector();
  const stream = query && Object.hasOwn(query, 'stream') ? query.stream : undefined;
  if (stream !== undefined && stream !== 'true' && stream !== 'false') issues.add(['query', 'stream'], 'must be true or false', 'bool_parsing');
  const after = query && Object.hasOwn(query, 'starting_after') ? query.starting_after : undefined;
  if (after !== undefined && (typeof after !== 'string' || !/^\d{1,9}$/.test(after))) issues.add(['query', 'starting_after'], 'must be an integer from 0 to 999999999', 'int_parsing');
  issues.throwIfAny();
  return { responseId, stream: stream === 'true', startingAfter: after === undefined ? undefined : Number(after) };
}
