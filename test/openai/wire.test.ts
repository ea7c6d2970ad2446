/** The pure parts of the OpenAI API: the id mapping, the error shape, and the two stream encodings. */
import { randomUUID } from 'node:crypto';
import {
  AppError,
  ConversationNotFoundError,
  createChatCompletionEncoder,
  createResponsesEncoder,
  InvalidParameterError,
  ModelProviderError,
  parseConversationId,
  parseItemId,
  parseResponseId,
  streamTokenOf,
  toItemId,
  toOpenAiConversationId,
  toOpenAiError,
  toResponseId,
  TurnLimitExceededError,
  ValidationError,
  type WireMessage,
} from '@chatbot/shared/testing';

const message = (parts: string[], metadata: Record<string, unknown>): WireMessage => ({
  id: 'a1b2',
  author: { role: 'assistant', name: null, metadata: {} },
  create_time: 1,
  update_time: null,
  content: { content_type: 'text', parts },
  status: 'finished_successfully',
  end_turn: true,
  weight: 1,
  metadata,
  recipient: 'all',
});

describe('ids', () => {
  it('maps conversations, items and responses to OpenAI ids and back, and refuses anything else', () => {
    const conversation = randomUUID();
    expect(toOpenAiConversationId(conversation)).toMatch(/^conv_[0-9a-f]{32}$/);
    expect(parseConversationId(toOpenAiConversationId(conversation))).toBe(conversation);
    expect(parseConversationId(toOpenAiConversationId(conversation).toUpperCase().replace('CONV_', 'conv_'))).toBe(conversation);
    expect(parseItemId(toItemId('m-1.x:y'))).toBe('m-1.x:y');
    expect(parseResponseId(toResponseId(conversation, 'reply-7'))).toEqual({ conversationId: conversation, messageId: 'reply-7' });
    for (const bad of ['', 'conv_', `conv_${'g'.repeat(32)}`, `conv_${'a'.repeat(31)}`, conversation, 7, null, { id: 'conv_x' }]) expect(parseConversationId(bad)).toBeUndefined();
    for (const bad of ['msg_', 'msg_a/b', `msg_${'a'.repeat(129)}`, 'item_1', 5]) expect(parseItemId(bad)).toBeUndefined();
    for (const bad of ['resp_', `resp_${'a'.repeat(32)}`, `resp_${'a'.repeat(32)}x y`, 'resp_short']) expect(parseResponseId(bad)).toBeUndefined();
  });

  it('names a /v1 reply\'s recorded stream by its id: the 16 bytes of its hex id in base64url, 22 characters', () => {
    const hex = 'ff'.repeat(16);
    expect(streamTokenOf(hex)).toBe(Buffer.from(hex, 'hex').toString('base64url'));
    expect(streamTokenOf(hex)).toHaveLength(22);
    expect(streamTokenOf(randomUUID())).toBeUndefined();
  });
});

describe('errors in OpenAI\'s shape', () => {
  const body = (error: AppError) => JSON.parse(toOpenAiError(error).body).error;

  it('makes a validation error a 400 naming the first parameter in OpenAI\'s path notation', () => {
    const rendered = toOpenAiError(new ValidationError([
      { loc: ['body', 'input', 2, 'content', 0], msg: 'only text parts are supported', type: 'literal_error' },
      { loc: ['query', 'limit'], msg: 'must be an integer', type: 'int_parsing' },
    ]));
    expect(rendered.status).toBe(400);
    expect(JSON.parse(rendered.body)).toEqual({
      error: { message: 'input[2].content[0]: only text parts are supported; limit: must be an integer', type: 'invalid_request_error', param: 'input[2].content[0]', code: 'invalid_value' },
    });
    expect(body(new ValidationError([{ loc: ['body', 'items'], msg: 'is required', type: 'missing' }])).code).toBe('missing_required_parameter');
  });

  it('keeps 401, 404, 429 (with Retry-After) and 5xx, and makes every other refusal a 400', () => {
    expect(toOpenAiError(new ConversationNotFoundError())).toMatchObject({ status: 404 });
    expect(body(new AppError(401, 'invalid_jwt', 'Missing or invalid credentials'))).toEqual({ message: 'Missing or invalid credentials', type: 'invalid_request_error', param: null, code: 'invalid_api_key' });
    const limited = toOpenAiError(new TurnLimitExceededError(42, 60, 3600));
    expect(limited.status).toBe(429);
    expect(limited.headers).toEqual({ 'Retry-After': '42' });
    expect(JSON.parse(limited.body).error).toMatchObject({ type: 'requests', code: 'rate_limit_exceeded' });
    expect(toOpenAiError(new AppError(413, 'conversation_too_long', 'too long')).status).toBe(400);
    expect(toOpenAiError(new AppError(415, 'unsupported_media_type', 'json only')).status).toBe(400);
    expect(body(new InvalidParameterError('model', 'no such model', 'model_not_found'))).toEqual({ message: 'no such model', type: 'invalid_request_error', param: 'model', code: 'model_not_found' });
    expect(toOpenAiError(new AppError(503, 'database_unavailable', 'retry'))).toMatchObject({ status: 503, headers: {} });
    // A model that failed after the user message was stored: the SDKs must not retry.
    expect(toOpenAiError(new ModelProviderError(undefined, undefined, randomUUID())).headers).toEqual({ 'X-Should-Retry': 'false' });
    expect(toOpenAiError(new ModelProviderError()).headers).toEqual({});
  });
});

describe('encodings', () => {
  const settings = { id: 'resp_x', createdAt: 1, model: 'm', instructions: null, maxOutputTokens: null, previousResponseId: null, conversation: 'conv_x', background: false, store: true };

  it('numbers every Responses event by its frame index and ends a finished reply completed, with usage', () => {
    const encoder = createResponsesEncoder(settings);
    const frames = [
      ...encoder.encode({ type: 'start', message: message([''], {}) }),
      ...encoder.encode({ type: 'text', delta: 'Hel', message: message(['Hel'], {}) }),
      ...encoder.encode({ type: 'text', delta: 'lo', message: message(['Hello'], {}) }),
      ...encoder.encode({ type: 'complete', message: message(['Hello'], { finish_details: { type: 'stop' }, usage: { input_tokens: 3, output_tokens: 2 } }) }),
      ...encoder.encode({ type: 'title', title: 'ignored' }),
    ];
    const events = frames.map((frame) => ({ name: frame.split('\n')[0].slice(7), data: JSON.parse(frame.split('\n')[1].slice(6)) }));
    expect(events.map((event) => event.data.sequence_number)).toEqual(events.map((_, i) => i));
    expect(events.every((event) => event.name === event.data.type)).toBe(true);
    expect(events.at(-1)?.data.response).toMatchObject({ status: 'completed', usage: { input_tokens: 3, output_tokens: 2, total_tokens: 5 } });
    expect(encoder.current()).toMatchObject({ status: 'completed', output: [{ content: [{ text: 'Hello' }] }] });
  });

  it('reads how a reply ended from its finish details: cut by the token limit, stopped, failed', () => {
    const ended = (metadata: Record<string, unknown>, failure?: string) => {
      const encoder = createResponsesEncoder(settings);
      encoder.encode({ type: 'start', message: message([''], {}) });
      const frames = failure ? encoder.encode({ type: 'error', message: message(['x'], metadata), error: failure }) : encoder.encode({ type: 'complete', message: message(['x'], metadata) });
      return { frames: frames.map((frame) => frame.split('\n')[0].slice(7)), response: encoder.current() };
    };
    expect(ended({ finish_details: { type: 'max_tokens' } }).response).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } });
    expect(ended({ finish_details: { type: 'interrupted', reason: 'stopped' } }).response).toMatchObject({ status: 'cancelled' });
    expect(ended({ finish_details: { type: 'interrupted', reason: 'deadline' } })).toMatchObject({ response: { status: 'incomplete', incomplete_details: null }, frames: expect.arrayContaining(['response.incomplete']) });
    const failed = ended({ finish_details: { type: 'interrupted', reason: 'error' } }, 'The model provider failed');
    expect(failed.frames.slice(-2)).toEqual(['error', 'response.failed']);
    expect(failed.response).toMatchObject({ status: 'failed', error: { code: 'server_error', message: 'The model provider failed' } });
  });

  it('encodes chat completion chunks, the usage chunk only when asked, and the whole completion', () => {
    const withUsage = createChatCompletionEncoder('abc', { created: 1, model: 'm', includeUsage: true });
    const frames = [
      ...withUsage.encode({ type: 'start', message: message([''], {}) }),
      ...withUsage.encode({ type: 'text', delta: 'Hi', message: message(['Hi'], {}) }),
      ...withUsage.encode({ type: 'complete', message: message(['Hi'], { finish_details: { type: 'stop' }, usage: { input_tokens: 4, output_tokens: 1 } }) }),
    ].map((frame) => JSON.parse(frame.slice(6)));
    expect(frames.map((chunk) => [chunk.choices[0]?.delta, chunk.choices[0]?.finish_reason ?? null, chunk.usage])).toEqual([
      [{ role: 'assistant', content: '' }, null, null],
      [{ content: 'Hi' }, null, null],
      [{}, 'stop', null],
      [undefined, null, { prompt_tokens: 4, completion_tokens: 1, total_tokens: 5 }],
    ]);
    expect(withUsage.completion()).toMatchObject({ id: 'chatcmpl-abc', object: 'chat.completion', choices: [{ message: { content: 'Hi' }, finish_reason: 'stop' }], usage: { total_tokens: 5 } });
    const without = createChatCompletionEncoder('abc', { created: 1, model: 'm', includeUsage: false });
    const last = without.encode({ type: 'complete', message: message(['Hi'], { finish_details: { type: 'max_tokens' } }) });
    expect(last).toHaveLength(1);
    expect(JSON.parse(last[0].slice(6))).not.toHaveProperty('usage');
    expect(JSON.parse(last[0].slice(6)).choices[0].finish_reason).toBe('length');
  });
});
