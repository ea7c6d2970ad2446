/**
 * The schemas of every route of the route table (`API_ROUTES`), keyed by route id: path and
 * query parameters, the JSON body, the success answer and the statuses a route may answer
 * besides it. Typed `Record<RouteId, …>`, so a route added to the table without schemas fails
 * to compile. The OpenAPI document (`layer/src/contracts/openapi.ts`, `npm run openapi` →
 * docs/openapi.json) is built from the route table and this map; the tests validate the
 * handlers' requests and real responses against the same schemas with ajv.
 */
import type { TObject, TSchema } from '@sinclair/typebox';
import type { RouteId } from './route-table';
import * as B from './schemas/backend-api';
import { EventStream, Success } from './schemas/common';
import * as O from './schemas/openai';

export interface RouteSchemas {
  readonly summary: string;
  readonly pathParams?: TObject;
  readonly query?: TObject;
  readonly body?: TSchema;
  /** The body may be absent (`POST /v1/conversations`). @default false */
  readonly bodyOptional?: boolean;
  /** The 200 answer: a JSON schema, and whether it is (or may be) an event stream. */
  readonly ok: { readonly schema: TSchema; readonly stream?: 'always' | 'optional' };
  /** Statuses the function itself may answer, besides the ones every route has (see openapi.ts). */
  readonly errors: readonly number[];
}

/** Statuses of a route that reads and writes conversations. */
const READ = [404, 422, 503];
const WRITE = [404, 413, 415, 422, 503];

export const ROUTE_SCHEMAS: Readonly<Record<RouteId, RouteSchemas>> = {
  getConversation: { summary: 'A conversation, every branch', pathParams: B.ConversationPath, ok: { schema: B.ConversationDetail }, errors: READ },
  listConversations: { summary: 'The conversations of a view, newest first', query: B.ListConversationsQuery, ok: { schema: B.ConversationList }, errors: [422, 503] },
  postConversation: { summary: 'Post a turn; the reply streams', body: B.PostConversationBody, ok: { schema: EventStream, stream: 'always' }, errors: [404, 409, 413, 415, 422, 429, 502, 503] },
  postConversationLegacyPath: { summary: 'Post a turn (the path older clients post to)', body: B.PostConversationBody, ok: { schema: EventStream, stream: 'always' }, errors: [404, 409, 413, 415, 422, 429, 502, 503] },
  updateConversation: { summary: 'Rename, archive or delete a conversation', pathParams: B.ConversationPath, body: B.UpdateConversationBody, ok: { schema: Success }, errors: WRITE },
  updateAllConversations: { summary: 'Archive or delete all conversations', body: B.UpdateAllConversationsBody, ok: { schema: Success }, errors: [413, 415, 422, 503] },
  generateTitle: { summary: 'Name a conversation after a message', pathParams: B.ConversationPath, body: B.GenerateTitleBody, ok: { schema: B.GeneratedTitle }, errors: [...WRITE, 429, 502] },
  getStreamStatus: { summary: 'Whether a reply is being generated', pathParams: B.ConversationPath, ok: { schema: B.StreamStatus }, errors: READ },
  stopReply: { summary: 'Stop the running reply', pathParams: B.ConversationPath, ok: { schema: B.StopResult }, errors: READ },
  resumeReply: { summary: 'Resume a reply stream from a frame', body: B.ResumeBody, ok: { schema: EventStream, stream: 'always' }, errors: [...WRITE, 429] },
  rateMessage: { summary: 'Rate a reply', body: B.RateMessageBody, ok: { schema: B.FeedbackResult }, errors: WRITE },
  listModels: { summary: 'The models a client may pick', ok: { schema: B.ModelsList }, errors: [] },
  getLimits: { summary: "What is left of the caller's turn limit", ok: { schema: B.Limits }, errors: [] },
  searchConversations: { summary: 'Full-text search of the caller\'s conversations', query: B.SearchQuery, ok: { schema: B.SearchResults }, errors: [422, 503] },
  createShare: { summary: 'Create a share link of a branch', body: B.CreateShareBody, ok: { schema: B.CreatedShare }, errors: WRITE },
  updateShare: { summary: 'Rename or revoke a share link', pathParams: B.SharePath, body: B.UpdateShareBody, ok: { schema: Success }, errors: WRITE },
  listShares: { summary: "The caller's share links", query: B.ListSharesQuery, ok: { schema: B.SharesList }, errors: [422, 503] },
  getSharedConversation: { summary: 'Read a share link (public, no token)', pathParams: B.SharePath, ok: { schema: B.SharedConversation }, errors: READ },
  createOpenAiConversation: { summary: 'Create a conversation', body: O.CreateOpenAiConversationBody, bodyOptional: true, ok: { schema: O.OpenAiConversation }, errors: [400, 503] },
  getOpenAiConversation: { summary: 'A conversation', pathParams: O.OpenAiConversationPath, ok: { schema: O.OpenAiConversation }, errors: [400, 404, 503] },
  updateOpenAiConversation: { summary: "Replace a conversation's metadata", pathParams: O.OpenAiConversationPath, body: O.UpdateOpenAiConversationBody, ok: { schema: O.OpenAiConversation }, errors: [400, 404, 503] },
  deleteOpenAiConversation: { summary: 'Delete a conversation', pathParams: O.OpenAiConversationPath, ok: { schema: O.OpenAiConversationDeleted }, errors: [400, 404, 503] },
  listOpenAiConversationItems: { summary: "The items of a conversation's current branch", pathParams: O.OpenAiConversationPath, query: O.ListItemsQuery, ok: { schema: O.ItemList }, errors: [400, 404, 503] },
  createOpenAiConversationItems: { summary: 'Append items to a conversation', pathParams: O.OpenAiConversationPath, query: O.IncludeQuery, body: O.CreateItemsBody, ok: { schema: O.ItemList }, errors: [400, 404, 503] },
  getOpenAiConversationItem: { summary: 'One item of a conversation', pathParams: O.ItemPath, query: O.IncludeQuery, ok: { schema: O.OutputItem }, errors: [400, 404, 503] },
  deleteOpenAiConversationItem: { summary: 'Remove an item from a conversation', pathParams: O.ItemPath, ok: { schema: O.OpenAiConversation }, errors: [400, 404, 503] },
  createResponse: { summary: 'Create a response (a turn); streams with stream: true', body: O.CreateResponseBody, ok: { schema: O.OpenAiResponse, stream: 'optional' }, errors: [400, 404, 429, 502, 503] },
  getResponse: { summary: 'A response; with stream=true, its events from starting_after', pathParams: O.ResponsePath, query: O.GetResponseQuery, ok: { schema: O.OpenAiResponse, stream: 'optional' }, errors: [400, 404, 503] },
  cancelResponse: { summary: 'Cancel a response', pathParams: O.ResponsePath, ok: { schema: O.OpenAiResponse }, errors: [400, 404, 503] },
  createChatCompletion: { summary: 'A stateless chat completion; streams with stream: true', body: O.CreateChatCompletionBody, ok: { schema: O.ChatCompletion, stream: 'optional' }, errors: [400, 429, 502, 503] },
  listOpenAiModels: { summary: 'The models', ok: { schema: O.OpenAiModelList }, errors: [] },
  getOpenAiModel: { summary: 'One model', pathParams: O.ModelPath, ok: { schema: O.OpenAiModel }, errors: [404] },
};
