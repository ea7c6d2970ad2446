/** The public share read's path: a share id, a UUID as every path id (422 otherwise). */
import { IssueCollector, isUuid } from '@chatbot/shared';
import type { APIGatewayProxyEvent } from 'aws-lambda';

export function parseGetSharedConversationRequest(event: Pick<APIGatewayProxyEvent, 'pathParameters'>): { shareId: string } {
  const issues = new IssueCollector();
  const shareId = event.pathParameters?.share_id;
  if (!isUuid(shareId)) issues.add(['path', 'share_id'], 'must be a UUID', 'uuid_parsing');
  issues.throwIfAny();
  return { shareId: (shareId as string).toLowerCase() };
}
