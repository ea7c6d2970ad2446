/** The resume request (docs/api.md#resumable-replies): `{"conversation_id", "offset", "token"?}`. */
import { IssueCollector, isUuid, readJsonObjectBody } from '@chatbot/shared';
import type { APIGatewayProxyEvent } from 'aws-lambda';

export interface ResumeRequest {
  readonly conversationId: string;
  /** First frame to send, counted from 0 (the `delta_encoding` frame). */
  readonly offset: number;
  /** The `resume_conversation_token` the stream announced; absent means the conversation's latest reply. */
  readonly token?: string;
}

const MAX_OFFSET = 1_000_000_000;

/** Parses and validates; a missing offset means 0, a negative or non-integer one is a 422. */
export function parseResumeRequest(
  event: Pick<APIGatewayProxyEvent, 'body' | 'isBase64Encoded' | 'headers'>,
  limits: { readonly maxBodyBytes: number },
): ResumeRequest {
  const body = readJsonObjectBody(event, limits);
  const issues = new IssueCollector();
  const conversationId = body.conversation_id;
  if (!isUuid(conversationId)) issues.add(['body', 'conversation_id'], 'must be a UUID', 'uuid_parsing');
  const offset = body.offset ?? 0;
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0 || offset > MAX_OFFSET) {
    issues.add(['body', 'offset'], `must be an integer from 0 to ${MAX_OFFSET}`, 'int_parsing');
  }
  const token = body.token ?? undefined;
  if (token !== undefined && (typeof token !== 'string' || token.length > 4096)) issues.add(['body', 'token'], 'must be a string', 'string_type');
  issues.throwIfAny();
  return { conversationId: (conversationId as string).toLowerCase(), offset: offset as number, token: token as string | undefined };
}
