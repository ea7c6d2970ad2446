/**
 * Many keys at once (a delete-all of thousands of conversations): sent in batches, one batch
 * in flight at a time, so each batch's commands — one auto-pipelined write per node — are
 * answered well within the command timeout, and other requests' commands interleave between
 * batches instead of queueing behind thousands.
 */

/** Single-key commands per batch. */
export const COMMAND_BATCH_SIZE = 256;

/** `items` in consecutive slices of at most `size`. */
export function inBatches<T>(items: readonly T[], size = COMMAND_BATCH_SIZE): T[][] {
  const batches: T[][] = [];
  for (let i = 0; i < items.length; i += size) batches.push(items.slice(i, i + size));
  return batches;
}
