/**
 * The web client's API types (web/src/api.ts) held to the document's schemas, at the type level:
 * what the schemas say the API answers (TypeBox `Static<>` of the same schemas docs/openapi.json is
 * built from) must be assignable to what the client reads, and the fields the client sends must
 * be fields of the request schemas. `npm test` type-checks this file first (`tsc`), so a schema
 * change the client does not follow — or a client type the API does not answer — fails the build.
 */
import type { Static } from '@sinclair/typebox';
import type * as B from '../../layer/src/contracts/schemas/backend-api';
import type { Api, ConversationDetail, ConversationList, ListItem, ModelList, Rating, SearchPage, SharedConversation, ShareLink, TurnLimit } from '../../web/src/api';

/** `true` when every `From` is a `To`; `false` otherwise (a type error where `true` is required). */
type Assignable<From, To> = [From] extends [To] ? true : false;
/** `true` when the client sends no field the request schema does not know. */
type KnownFields<Sent, Schema> = Exclude<keyof Sent, keyof Schema> extends never ? true : false;

type PatchChange = Parameters<Api['patch']>[1];
type StreamStatusAnswer = Awaited<ReturnType<Api['streamStatus']>>;

const checks = {
  conversationList: true satisfies Assignable<Static<typeof B.ConversationList>, ConversationList>,
  listItem: true satisfies Assignable<Static<typeof B.ConversationList>['items'][number], ListItem>,
  conversationDetail: true satisfies Assignable<Static<typeof B.ConversationDetail>, ConversationDetail>,
  streamStatus: true satisfies Assignable<Static<typeof B.StreamStatus>, StreamStatusAnswer>,
  patchFields: true satisfies KnownFields<PatchChange, Static<typeof B.UpdateConversationBody>>,
  models: true satisfies Assignable<Static<typeof B.ModelsList>, ModelList>,
  turnLimit: true satisfies Assignable<Static<typeof B.Limits>['limits_progress'][number], TurnLimit>,
  searchPage: true satisfies Assignable<Static<typeof B.SearchResults>, SearchPage>,
  shareLink: true satisfies Assignable<Static<typeof B.CreatedShare>, ShareLink>,
  sharedConversation: true satisfies Assignable<Static<typeof B.SharedConversation>, SharedConversation>,
  // The rating the client sends is one the request schema takes, and the other way round.
  rating: true satisfies Assignable<Rating, Static<typeof B.RateMessageBody>['rating']>,
  ratingBack: true satisfies Assignable<Static<typeof B.RateMessageBody>['rating'], Rating>,
};

// What a drifted type looks like to the checks above (they would have to be `false`).
const drift = {
  missingField: false satisfies Assignable<{ items: unknown[] }, ConversationList>,
  unknownField: false satisfies KnownFields<{ colour: string }, Static<typeof B.UpdateConversationBody>>,
};

describe('web/src/api.ts and the OpenAPI schemas', () => {
  it('agree (checked by tsc when npm test type-checks; a drift fails the build)', () => {
    expect(Object.values(checks).every(Boolean)).toBe(true);
    expect(Object.values(drift).some(Boolean)).toBe(false);
  });
});
