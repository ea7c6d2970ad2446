/** The scheduled hard delete of conversations soft-deleted longer ago than the retention (docs/api.md#conversation-lifecycle). */
import { getConfig } from '../platform/config';
import { deleteConversationsDeletedBefore } from './repository';

/**
 * Hard-deletes, in batches of `PURGE_BATCH_SIZE`, every conversation soft-deleted more than
 * `DELETED_RETENTION_DAYS` ago. Idempotent, and safe to run twice at once (`SKIP LOCKED`).
 */
export async function purgeDeletedConversations(args: { readonly now?: Date } = {}): Promise<number> {
  const { deletedRetentionDays, purgeBatchSize } = getConfig().lifecycle;
  const deletedBefore = new Date((args.now ?? new Date()).getTime() - deletedRetentionDays * 86_400_000);
  let purged = 0;
  for (;;) {
    const deleted = await deleteConversationsDeletedBefore({ deletedBefore, limit: purgeBatchSize });
    purged += deleted;
    if (deleted < purgeBatchSize) return purged;
  }
}
