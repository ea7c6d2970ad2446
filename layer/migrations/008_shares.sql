-- Share links (docs/api.md#share-links): a public, read-only snapshot of one branch of a
-- conversation. A stored message is never changed, so the branch that ends at current_node_id
-- is the snapshot itself: a share records that node, not a copy, and whatever is added to the
-- conversation later (children of the node, other branches) is not on that branch.

CREATE TABLE shares (
  -- A random (version 4) UUID: 122 random bits, so share links cannot be guessed.
  id               uuid        PRIMARY KEY,
  user_id          text        NOT NULL,
  conversation_id  uuid        NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  current_node_id  text        NOT NULL,
  -- The share's own title: the conversation's at the time of sharing, renamable on its own.
  title            text        NOT NULL,
  is_anonymous     boolean     NOT NULL DEFAULT true,
  create_time      timestamptz NOT NULL DEFAULT clock_timestamp(),
  update_time      timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- Set by a revocation, or by deleting the conversation. A revoked share is never live again.
  revoked_at       timestamptz,
  FOREIGN KEY (conversation_id, current_node_id) REFERENCES messages (conversation_id, id) ON DELETE CASCADE
);

-- Sharing the same node again finds the live share instead of making a second one.
CREATE UNIQUE INDEX shares_live_node_idx ON shares (conversation_id, current_node_id) WHERE revoked_at IS NULL;
-- The owner's list, newest first, and the count the per-user cap reads.
CREATE INDEX shares_user_list_idx ON shares (user_id, create_time DESC, id DESC) WHERE revoked_at IS NULL;
