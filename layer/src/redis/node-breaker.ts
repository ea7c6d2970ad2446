/**
 * Cache operations skip a cluster node for a moment after one failed on it. A cluster client
 * keeps retrying a dead primary's commands (its failover handling) until the operation's
 * deadline — two command timeouts, 400 ms — and a failover takes seconds: without this, every
 * read of that node's keys would wait the whole deadline before being served from Postgres.
 * With it, one operation per node and cool-down probes the node, and the others are served
 * from Postgres at once (`CacheNodeSkipped`). A slot that moved to the promoted replica maps to
 * another node, which is not skipped. Not on a single node: with no offline queue, its commands
 * fail at once when it is down.
 */

/** How long a node is skipped after a failure before one operation probes it again. */
export const NODE_COOL_DOWN_MS = 1000;

export class NodeBreaker {
  private readonly openUntil = new Map<string, number>();

  /** Whether any node is being skipped (or probed): while none is, the cache needs no node lookups. */
  get active(): boolean {
    return this.openUntil.size > 0;
  }

  /** Whether to skip `node` now. When its cool-down has passed, this caller probes it and the others keep skipping. */
  skip(node: string, now = Date.now()): boolean {
    const until = this.openUntil.get(node);
    if (until === undefined) return false;
    if (now < until) return true;
    this.openUntil.set(node, now + NODE_COOL_DOWN_MS);
    return false;
  }

  /** An operation on `node` failed: skip it for a cool-down. (No node: not a cluster, nothing to skip.) */
  trip(node: string | undefined, now = Date.now()): void {
    if (node !== undefined) this.openUntil.set(node, now + NODE_COOL_DOWN_MS);
  }

  /** An operation on `node` succeeded: stop skipping it. */
  close(node: string | undefined): void {
    if (node !== undefined) this.openUntil.delete(node);
  }
}
