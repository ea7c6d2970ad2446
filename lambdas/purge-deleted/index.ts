import { logger, purgeDeletedConversations } from '@chatbot/shared';

/**
 * Scheduled (daily, EventBridge) hard delete of conversations soft-deleted longer ago than
 * `DELETED_RETENTION_DAYS`. Bounded batches; idempotent; two overlapping runs skip each
 * other's rows instead of waiting on them.
 */
export async function handler(): Promise<{ purged: number }> {
  const purged = await purgeDeletedConversations();
  logger.info('Purged deleted conversations', { purged });
  return { purged };
}
