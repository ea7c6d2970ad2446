import { IssueCollector, isUuid } from '@chatbot/shared';
import type { APIGatewayProxyEvent } from 'aws-lambda';

export interface GetConversationRequest {
  readonly conversationId: string;
}

/** `GET /backend-api/conversation/{conversation_id}`: the id must be a UUID. */
export function parseGetConversationRequest(event: Pick<APIGatewayProxyEvent, 'pathParameters'>): GetConversationRequest {
  const issues = new IssueCollector();
  const conversationId = event.pathParameters?.conversation_id;
  if (!isUuid(conversationId)) issues.add(['path', 'conversation_id'], 'must be a UUID', 'uuid_parsing');
  issues.throwIfAny();
  return { conversationId: (conversationId as string).toLowerCase() };
}
