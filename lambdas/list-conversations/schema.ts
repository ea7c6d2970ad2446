import { IssueCollector, readIntegerParam } from '@chatbot/shared';
import type { APIGatewayProxyEvent } from 'aws-lambda';

export interface ListConversationsRequest {
  readonly offset: number;
  readonly limit: number;
  /** The archived view (`?is_archived=true`) instead of the default one. */
  readonly isArchived: boolean;
}

export const MAX_PAGE_SIZE = 100;

/** `GET /backend-api/conversations?offset=0&limit=20[&is_archived=true]`; unknown parameters (`order`, …) are ignored. */
export function parseListConversationsRequest(event: Pick<APIGatewayProxyEvent, 'queryStringParameters'>): ListConversationsRequest {
  const issues = new IssueCollector();
  const offset = readIntegerParam(issues, event.queryStringParameters, 'offset', { fallback: 0, min: 0, max: 1_000_000 });
  const limit = readIntegerParam(issues, event.queryStringParameters, 'limit', { fallback: 20, min: 1, max: MAX_PAGE_SIZE });
  const archived = event.queryStringParameters?.is_archived;
  if (archived !== undefined && archived !== 'true' && archived !== 'false') {
    issues.add(['query', 'is_archived'], 'must be true or false', 'bool_parsing');
  }
  issues.throwIfAny();
  return { offset, limit, isArchived: archived === 'true' };
}
