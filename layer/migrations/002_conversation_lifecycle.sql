-- Conversation lifecycle: soft delete (hard-deleted by the purge job after a retention period),
-- and list indexes that keep the default and the archived sidebar index scans.

ALTER TABLE conversations ADD COLUMN deleted_at timestamptz;

-- The sidebar, per view: a user's live conversations, archived or not, newest first; id breaks ties.
-- Partial on deleted_at so deleted rows (until purged) cost neither list reads nor index space.
CREATE INDEX conversations_user_list_idx
  ON conversations (user_id, is_archived, update_time DESC, id DESC)
  WHERE deleted_at IS NULL;
DROP INDEX conversations_user_update_time_idx;

-- The purge job: the oldest deletions first, without scanning live rows.
CREATE INDEX conversations_deleted_at_idx ON conversations (deleted_at) WHERE deleted_at IS NOT NULL;
