/** Request and response schemas of the `backend-api` routes (docs/api.md has the prose contract). */
import { Type } from '@sinclair/typebox';
import { EpochSeconds, IntegerParam, IsoTime, MessageId, Nullable, STORABLE_TEXT, Uuid, VISIBLE_TEXT } from './common';

const Text = (extra: Record<string, unknown> = {}) => Type.String({ pattern: STORABLE_TEXT, ...extra });

// ---- path and query

export const ConversationPath = Type.Object({ conversation_id: Uuid });
export const SharePath = Type.Object({ share_id: Uuid });
export const ListConversationsQuery = Type.Object({
  offset: Type.Optional(IntegerParam(0, 1_000_000, 0)),
  limit: Type.Optional(IntegerParam(1, 100, 20)),
  is_archived: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')], { default: 'false' })),
  order: Type.Optional(Type.String({ description: 'Ignored' })),
});
export const SearchQuery = Type.Object(
  {
    query: Type.String({ minLength: 1, maxLength: 256, pattern: VISIBLE_TEXT, description: 'What the user typed: 1–256 characters, not blank' }),
    cursor: Type.Optional(Type.String({ description: 'The `cursor` of the previous page, as answered' })),
    limit: Type.Optional(IntegerParam(1, 50, 20)),
  },
  { required: ['query'] },
);
export const ListSharesQuery = Type.Object({
  offset: Type.Optional(IntegerParam(0, 1_000_000, 0)),
  limit: Type.Optional(IntegerParam(1, 100, 20)),
  order: Type.Optional(Type.String({ description: 'Ignored' })),
});

// ---- request bodies

export const PostConversationMessage = Type.Object({
  id: MessageId,
  author: Type.Optional(Type.Object({ role: Type.Literal('user') })),
  role: Type.Optional(Type.Literal('user')),
  content: Type.Object(
    {
      content_type: Type.Optional(Type.Union([Type.Literal('text'), Type.Literal('multimodal_text')])),
      parts: Type.Array(Type.Unknown(), { minItems: 1, maxItems: 100, description: 'Strings (text); other parts are kept but not read (multimodal_text)' }),
    },
    // Text parts are strings of storable text.
    { if: { properties: { content_type: { const: 'text' } } }, then: { properties: { parts: { type: 'array', items: { type: 'string', pattern: STORABLE_TEXT } } } } },
  ),
}, { $id: 'PostConversationMessage', description: 'A user message: the author role "user" (2023) or a "role" (2022)', anyOf: [{ required: ['author'] }, { required: ['role'] }] });

export const PostConversationBody = Type.Object(
  {
    action: Type.Optional(Type.Union([Type.Literal('next'), Type.Literal('variant'), Type.Literal('continue')], { default: 'next' })),
    conversation_id: Type.Optional(Nullable(Uuid)),
    parent_message_id: Type.Optional(Nullable(MessageId)),
    messages: Type.Optional(Nullable(Type.Array(PostConversationMessage, { maxItems: 10, description: 'The last one is the turn\'s user message' }))),
    model: Type.Optional(Nullable(Type.String({ description: 'A slug GET /backend-api/models lists, or "auto"' }))),
    continue_from_shared_conversation_id: Type.Optional(Nullable(Uuid)),
    supported_encodings: Type.Optional(Type.Array(Type.Unknown(), { description: 'Lists "v1" for the delta encoding' })),
  },
  {
    allOf: [
      // Continuing a conversation names the message to answer under.
      { if: { required: ['conversation_id'], properties: { conversation_id: { type: 'string' } } }, then: { required: ['parent_message_id'], properties: { parent_message_id: { type: 'string' } } } },
      // "next" (the default) needs a user message; "variant" and "continue" a conversation; "continue" no message.
      { if: { anyOf: [{ not: { required: ['action'] } }, { properties: { action: { const: 'next' } } }] }, then: { required: ['messages'], properties: { messages: { type: 'array', minItems: 1 } } } },
      { if: { required: ['action'], properties: { action: { enum: ['variant', 'continue'] } } }, then: { required: ['conversation_id'], properties: { conversation_id: { type: 'string' } } } },
      { if: { required: ['action'], properties: { action: { const: 'continue' } } }, then: { properties: { messages: { anyOf: [{ type: 'null' }, { type: 'array', maxItems: 0 }] } } } },
      // A share is continued as a new conversation.
      { if: { required: ['continue_from_shared_conversation_id'], properties: { continue_from_shared_conversation_id: { type: 'string' } } }, then: { properties: { conversation_id: { type: 'null' } } } },
    ],
    description:
      'A turn. Also checked by the function: the last message is a user message of text (not blank, at most MAX_MESSAGE_CHARS), "next" needs one, "variant"/"continue" need conversation_id, the model is listed.',
  },
);
export const ResumeBody = Type.Object({
  conversation_id: Uuid,
  offset: Type.Optional(Nullable(Type.Integer({ minimum: 0, maximum: 1_000_000_000, default: 0 }))),
  token: Type.Optional(Nullable(Type.String({ maxLength: 4096 }))),
});

/** A title: no control characters, well-formed, at least one visible character (not only spaces, format characters or blank letters). */
const Title = Type.String({
  minLength: 1,
  maxLength: 256,
  pattern: '^(?=[\\s\\S]*[^\\p{Cf}\\p{Z}\\s\\u115F\\u1160\\u3164\\uFFA0\\u2800])[^\\p{Cc}\\uD800-\\uDFFF]*$',
  description: '1–256 characters once trimmed, with a visible one; no control characters',
});
const ChangesBase = {
  is_archived: Type.Optional(Type.Boolean()),
  is_visible: Type.Optional(Type.Literal(false, { description: 'false deletes' })),
};
const atLeastOne = (fields: string[]) => ({ anyOf: fields.map((field) => ({ required: [field] })) });
export const UpdateConversationBody = Type.Object({ title: Type.Optional(Title), ...ChangesBase }, atLeastOne(['title', 'is_archived', 'is_visible']));
export const UpdateAllConversationsBody = Type.Object(ChangesBase, atLeastOne(['is_archived', 'is_visible']));
export const GenerateTitleBody = Type.Object({ message_id: MessageId });
export const RateMessageBody = Type.Object({
  conversation_id: Uuid,
  message_id: MessageId,
  rating: Type.Union([Type.Literal('thumbsUp'), Type.Literal('thumbsDown')]),
  tags: Type.Optional(Nullable(Type.Array(Type.String({ pattern: '^[A-Za-z0-9][\\w-]{0,63}$' }), { maxItems: 10, uniqueItems: true }))),
  text: Type.Optional(Nullable(Text({ maxLength: 2000 }))),
});
export const CreateShareBody = Type.Object({
  conversation_id: Uuid,
  current_node_id: MessageId,
  is_anonymous: Type.Optional(Type.Boolean({ default: true })),
});
export const UpdateShareBody = Type.Object(
  { title: Type.Optional(Type.String({ minLength: 1, maxLength: 256, pattern: VISIBLE_TEXT })), is_visible: Type.Optional(Type.Literal(false, { description: 'false revokes' })) },
  atLeastOne(['title', 'is_visible']),
);

// ---- responses

const WireMessage = Type.Object({
  id: Type.String(),
  author: Type.Object({ role: Type.String() }),
  content: Type.Object({ content_type: Type.String(), parts: Type.Array(Type.Unknown()) }),
  status: Type.Optional(Type.String()),
  metadata: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});
export const WireNode = Type.Object({
  id: Type.String(),
  message: Type.Optional(WireMessage),
  parent: Type.Optional(Type.String()),
  children: Type.Array(Type.String()),
}, { $id: 'WireNode' });
export const ConversationDetail = Type.Object(
  {
    conversation_id: Uuid,
    user_id: Type.String(),
    title: Type.String(),
    create_time: EpochSeconds,
    update_time: EpochSeconds,
    mapping: Type.Record(Type.String(), WireNode),
    current_node: Type.String(),
    is_archived: Type.Boolean(),
    default_model_slug: Nullable(Type.String()),
  },
  { $id: 'ConversationDetail' },
);
export const ConversationList = Type.Object(
  {
    items: Type.Array(Type.Object({ id: Type.String(), title: Type.String(), create_time: IsoTime, update_time: IsoTime, is_archived: Type.Boolean() })),
    total: Type.Integer({ minimum: 0 }),
    limit: Type.Integer(),
    offset: Type.Integer(),
    has_missing_conversations: Type.Boolean(),
  },
  { $id: 'ConversationList' },
);
export const StreamStatus = Type.Object({
  status: Type.Union([Type.Literal('IS_STREAMING'), Type.Literal('NOT_STREAMING')]),
  message_id: Type.Optional(Type.String()),
});
export const StopResult = Type.Object({ success: Type.Literal(true), message_id: Nullable(Type.String()) });
export const GeneratedTitle = Type.Object({ title: Type.String() });
export const FeedbackResult = Type.Object({
  message_id: Type.String(),
  conversation_id: Type.String(),
  user_id: Type.String(),
  rating: Type.Union([Type.Literal('thumbsUp'), Type.Literal('thumbsDown')]),
  content: Type.String({ description: 'The tags and text as a JSON string' }),
});
export const ModelsList = Type.Object({
  models: Type.Array(
    Type.Object({ slug: Type.String(), title: Type.String(), description: Type.String(), max_tokens: Type.Integer({ minimum: 1 }), tags: Type.Array(Type.String()) }),
    { minItems: 1 },
  ),
  default_model_slug: Type.String(),
});
export const Limits = Type.Object({
  limits_progress: Type.Array(
    Type.Object({ feature_name: Type.Literal('turns'), limit: Type.Integer(), remaining: Nullable(Type.Integer({ minimum: 0 })), reset_after: Nullable(IsoTime) }),
  ),
});
export const SearchResults = Type.Object({
  items: Type.Array(
    Type.Object({
      conversation_id: Type.String(),
      current_node_id: Type.String(),
      title: Type.String(),
      is_archived: Type.Boolean(),
      update_time: EpochSeconds,
      payload: Type.Union([
        Type.Object({ kind: Type.Literal('message'), message_id: Type.String(), snippet: Type.String() }),
        Type.Object({ kind: Type.Literal('title'), snippet: Type.String() }),
      ]),
    }),
  ),
  cursor: Nullable(Type.String()),
});
export const CreatedShare = Type.Object({
  share_id: Uuid,
  share_url: Type.String(),
  title: Type.String(),
  is_public: Type.Boolean(),
  already_exists: Type.Boolean(),
});
export const SharesList = Type.Object({
  items: Type.Array(Type.Object({ id: Type.String(), conversation_id: Type.String(), title: Type.String(), create_time: Type.Unknown(), update_time: Type.Unknown() })),
  total: Type.Integer({ minimum: 0 }),
});
export const SharedConversation = Type.Object({
  share_id: Type.String(),
  title: Type.String(),
  create_time: EpochSeconds,
  update_time: EpochSeconds,
  mapping: Type.Record(Type.String(), WireNode),
  current_node: Type.String(),
  is_anonymous: Type.Boolean(),
}, { $id: 'SharedConversation' });
