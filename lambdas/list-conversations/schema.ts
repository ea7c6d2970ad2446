import { IssueCollector, readIntegerParam } from '@chatbot/shared';
import type { APIGatewayProxyEvent } from 'aws-lambda';

export interface ListConversationsRequest {
  readonly offset: number;
  readonly limit: number;
}

export const MAX_PAGE_SIZE = 100;

/** `GET /backend-api/conversations?offset=0&limit=20`; unknown parameters (`order`, …) are ignored. */
export function parseListConversationsRequest(event: Pick<APIGatewayProxyEvent, 'queryStringParameters'>): ListConversationsRequest {
  const issues = new IssueCollector();
  const offset = readIntegerParam(issues, event.queryStringParameters, 'offset', { fallback: 0, min: 0, max: 1_000_000 });
  const limit = readIntegerParam(issues, event.queryStringParameters, 'limit', { fallback: 20, min: 1, max: MAX_PAGE_SIZE });
  issues.throwIfAny();
  return { offset, limit };
}
