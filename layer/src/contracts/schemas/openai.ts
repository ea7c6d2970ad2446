/** Request and response schemas of OpenAI's API routes under `/v1` (docs/api.md#openai-api-v1). */
import { Type } from '@sinclair/typebox';
import { IntegerParam, Nullable, STORABLE_TEXT } from './common';

export const OpenAiConversationId = Type.String({ pattern: '^conv_[0-9a-fA-F]{32}$', description: '"conv_" and 32 hexadecimal digits' });
export const ItemId = Type.String({ pattern: '^msg_[\\w.:-]{1,128}$', description: '"msg_" and a message id' });

// ---- path and query

export const OpenAiConversationPath = Type.Object({ conversation_id: OpenAiConversationId });
export const ItemPath = Type.Object({ conversation_id: OpenAiConversationId, item_id: ItemId });
export const ResponseId = Type.String({ pattern: '^resp_[0-9a-fA-F]{32}[\\w.:-]{1,128}$', description: '"resp_", the conversation\'s 32 hexadecimal digits and the reply\'s message id' });
/** Any id up to 200 characters: one that names no response is a 404. */
export const ResponsePath = Type.Object({ response_id: Type.String({ maxLength: 200, description: '"resp_…"' }) });
export const ModelPath = Type.Object({ model: Type.String() });
export const ListItemsQuery = Type.Object({
  limit: Type.Optional(IntegerParam(1, 100, 20)),
  order: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')], { default: 'desc' })),
  after: Type.Optional(ItemId),
  include: Type.Optional(Type.String({ description: 'Ignored' })),
});
export const IncludeQuery = Type.Object({ include: Type.Optional(Type.String({ description: 'Ignored' })) });
export const GetResponseQuery = Type.Object({
  stream: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])),
  starting_after: Type.Optional(Type.String({ pattern: '^\\d{1,9}$' })),
  include: Type.Optional(Type.String({ description: 'Ignored' })),
  include_obfuscation: Type.Optional(Type.String({ description: 'Ignored' })),
});

// ---- request bodies

const TextPart = Type.Object({ type: Type.Union([Type.Literal('input_text'), Type.Literal('output_text'), Type.Literal('text')]), text: Type.String({ pattern: STORABLE_TEXT }) });
/** A message item: text only (no tools, files or item references). */
export const MessageItem = Type.Object({
  type: Type.Optional(Type.Literal('message')),
  role: Type.Union([Type.Literal('user'), Type.Literal('assistant'), Type.Literal('system'), Type.Literal('developer')]),
  content: Type.Union([Type.String({ pattern: STORABLE_TEXT }), Type.Array(TextPart, { minItems: 1, maxItems: 100 })]),
  status: Type.Optional(Type.String()),
}, { $id: 'MessageItem' });
const Metadata = Nullable(Type.Record(Type.String({ minLength: 1, maxLength: 64, pattern: STORABLE_TEXT }), Type.String({ maxLength: 512, pattern: STORABLE_TEXT }), { maxProperties: 16 }));
const Items = (min: number) => Type.Array(MessageItem, { minItems: min, maxItems: 20 });

export const CreateOpenAiConversationBody = Type.Object({ items: Type.Optional(Nullable(Items(0))), metadata: Type.Optional(Metadata) });
export const UpdateOpenAiConversationBody = Type.Object({ metadata: Metadata }, { required: ['metadata'] });
export const CreateItemsBody = Type.Object({ items: Items(1) });
const Model = Type.Optional(Nullable(Type.String({ description: 'A model GET /v1/models lists; absent, null or "": the default' })));
const MaxTokens = Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 200_000 })));
export const CreateResponseBody = Type.Object({
  model: Model,
  input: Type.Optional(Nullable(Type.Union([Type.String({ pattern: STORABLE_TEXT }), Items(0)]))),
  instructions: Type.Optional(Nullable(Type.String({ pattern: STORABLE_TEXT }))),
  conversation: Type.Optional(Nullable(Type.Union([OpenAiConversationId, Type.Object({ id: OpenAiConversationId })]))),
  previous_response_id: Type.Optional(Nullable(ResponseId)),
  stream: Type.Optional(Nullable(Type.Boolean())),
  background: Type.Optional(Nullable(Type.Boolean())),
  store: Type.Optional(Nullable(Type.Boolean())),
  max_output_tokens: MaxTokens,
  tools: Type.Optional(Type.Unknown({ description: 'Must be absent or empty' })),
}, {
  allOf: [
    // Either a conversation or a previous response, not both.
    { not: { required: ['conversation', 'previous_response_id'], properties: { conversation: { not: { type: 'null' } }, previous_response_id: { type: 'string' } } } },
    // Not stored: not in the background, not in a conversation.
    {
      if: { required: ['store'], properties: { store: { const: false } } },
      then: { properties: { background: { not: { const: true } }, conversation: { type: 'null' }, previous_response_id: { type: 'null' } } },
    },
    // Without a conversation, an input is required.
    { if: { not: { required: ['conversation'], properties: { conversation: { not: { type: 'null' } } } } }, then: { required: ['input'], properties: { input: { not: { type: 'null' } } } } },
    { properties: { tools: { not: { type: 'array', minItems: 1 } } } },
  ],
  description: 'Also checked by the function: the last conversational message is a user message; each within MAX_MESSAGE_CHARS; the model is listed.',
});
export const CreateChatCompletionBody = Type.Object({
  model: Model,
  messages: Type.Array(MessageItem, { minItems: 1, maxItems: 1000 }),
  stream: Type.Optional(Nullable(Type.Boolean())),
  stream_options: Type.Optional(Nullable(Type.Object({ include_usage: Type.Optional(Nullable(Type.Boolean())) }))),
  max_completion_tokens: MaxTokens,
  max_tokens: MaxTokens,
  n: Type.Optional(Nullable(Type.Literal(1))),
  tools: Type.Optional(Type.Unknown({ description: 'Must be absent or empty' })),
}, { allOf: [{ properties: { tools: { not: { type: 'array', minItems: 1 } } } }] });

// ---- responses

export const OpenAiConversation = Type.Object(
  { id: OpenAiConversationId, object: Type.Literal('conversation'), created_at: Type.Integer(), metadata: Type.Record(Type.String(), Type.String()) },
  { $id: 'OpenAiConversation' },
);
export const OpenAiConversationDeleted = Type.Object({ id: OpenAiConversationId, object: Type.Literal('conversation.deleted'), deleted: Type.Literal(true) });
export const OutputItem = Type.Object({
  type: Type.Literal('message'),
  id: Type.String({ pattern: '^msg_' }),
  status: Type.Union([Type.Literal('completed'), Type.Literal('incomplete'), Type.Literal('in_progress')]),
  role: Type.Union([Type.Literal('user'), Type.Literal('assistant')]),
  content: Type.Array(Type.Object({ type: Type.String(), text: Type.String() })),
}, { $id: 'OutputItem' });
export const ItemList = Type.Object({
  object: Type.Literal('list'),
  data: Type.Array(OutputItem),
  first_id: Nullable(Type.String()),
  last_id: Nullable(Type.String()),
  has_more: Type.Boolean(),
});
export const OpenAiResponse = Type.Object({
  id: Type.String({ pattern: '^resp_' }),
  object: Type.Literal('response'),
  created_at: Type.Number(),
  status: Type.Union(['completed', 'incomplete', 'cancelled', 'failed', 'in_progress', 'queued'].map((s) => Type.Literal(s))),
  background: Type.Boolean(),
  conversation: Nullable(Type.Object({ id: Type.String() })),
  error: Nullable(Type.Object({ code: Type.String(), message: Type.String() })),
  incomplete_details: Nullable(Type.Object({ reason: Type.String() })),
  model: Type.String(),
  output: Type.Array(OutputItem),
  store: Type.Boolean(),
  usage: Nullable(Type.Object({ input_tokens: Type.Integer(), output_tokens: Type.Integer(), total_tokens: Type.Integer() })),
}, { $id: 'OpenAiResponse' });
export const ChatCompletion = Type.Object({
  id: Type.String({ pattern: '^chatcmpl-' }),
  object: Type.Literal('chat.completion'),
  created: Type.Integer(),
  model: Type.String(),
  choices: Type.Array(
    Type.Object({
      index: Type.Integer(),
      message: Type.Object({ role: Type.Literal('assistant'), content: Nullable(Type.String()) }),
      finish_reason: Type.String(),
    }),
    { minItems: 1, maxItems: 1 },
  ),
  usage: Type.Optional(Nullable(Type.Object({ prompt_tokens: Type.Integer(), completion_tokens: Type.Integer(), total_tokens: Type.Integer() }))),
}, { $id: 'ChatCompletion' });
export const OpenAiModel = Type.Object({ id: Type.String(), object: Type.Literal('model'), created: Type.Integer(), owned_by: Type.String() });
export const OpenAiModelList = Type.Object({ object: Type.Literal('list'), data: Type.Array(OpenAiModel) });
