/** The path of stream_status and stop: a conversation id. */
import { IssueCollector, isUuid } from '@chatbot/shared';
import type { APIGatewayProxyEvent } from 'aws-lambda';

/** The path's conversation id (a UUID, as everywhere); 422 otherwise. */
export function parseConversationPath(event: Pick<APIGatewayProxyEvent, 'pathParameters'>): { conversationId: string } {
  const issues = new IssueCollector();
  const id = event.pathParameters?.conversation_id;
  if (!isUuid(id)) issues.add(['path', 'conversation_id'], 'must be a UUID', 'uuid_parsing');
  issues.throwIfAny();
  return { conversationId: (id as string).toLowerCase() };
}
