/**
 * `GET /backend-api/conversations/search?query=<q>[&cursor=<c>][&limit=<n>]`: the query as the
 * user typed it. Anything typed is searchable text; refused (422) are only a blank query, one
 * over 256 characters, and text that cannot be stored as itself (NUL, a lone surrogate).
 */
import { IssueCollector, isStorableText, MAX_SEARCH_QUERY_CHARS, readIntegerParam } from '@chatbot/shared';
import type { APIGatewayProxyEvent } from 'aws-lambda';

export interface SearchConversationsRequest {
  readonly query: string;
  readonly cursor?: string;
  readonly limit: number;
}

export const MAX_SEARCH_PAGE_SIZE = 50;

/** A string query parameter, own properties only (a hand-built event can carry anything). */
const stringParam = (params: Readonly<Record<string, unknown>> | null, name: string): unknown => (params && Object.hasOwn(params, name) ? params[name] : undefined);

export function parseSearchConversationsRequest(event: Pick<APIGatewayProxyEvent, 'queryStringParameters'>): SearchConversationsRequest {
  const issues = new IssueCollector();
  const params = event.queryStringParameters;
  const limit = readIntegerParam(issues, params, 'limit', { fallback: 20, min: 1, max: MAX_SEARCH_PAGE_SIZE });
  const query = stringParam(params, 'query');
  if (typeof query !== 'string' || query.trim() === '') issues.add(['query', 'query'], 'a search query is required', 'missing');
  else if (query.length > MAX_SEARCH_QUERY_CHARS) issues.add(['query', 'query'], `at most ${MAX_SEARCH_QUERY_CHARS} characters`, 'string_too_long');
  else if (!isStorableText(query)) issues.add(['query', 'query'], 'must be valid Unicode without NUL characters', 'string_unicode');
  const cursor = stringParam(params, 'cursor');
  if (cursor !== undefined && cursor !== null && typeof cursor !== 'string') issues.add(['query', 'cursor'], 'not a cursor this API issued', 'value_error');
  issues.throwIfAny();
  return { query: query as string, cursor: typeof cursor === 'string' ? cursor : undefined, limit };
}
