-- Ratings of assistant replies (POST /backend-api/conversation/message_feedback): one per user and
-- message, a second rating replacing the first. They go with their message: a purged
-- conversation takes its ratings along.

CREATE TABLE message_feedback (
  conversation_id  uuid        NOT NULL,
  message_id       text        NOT NULL,
  user_id          text        NOT NULL,
  rating           text        NOT NULL CHECK (rating IN ('thumbsUp', 'thumbsDown')),
  tags             jsonb       NOT NULL DEFAULT '[]'::jsonb,
  text             text,
  create_time      timestamptz NOT NULL DEFAULT clock_timestamp(),
  update_time      timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (conversation_id, message_id, user_id),
  FOREIGN KEY (conversation_id, message_id) REFERENCES messages (conversation_id, id) ON DELETE CASCADE
);

-- The export for the team that tunes prompts: the newest ratings first, or those since a date.
CREATE INDEX message_feedback_update_time_idx ON message_feedback (update_time);
