-- Conversations and their message trees, in the shape the ChatGPT backend-api serves.

CREATE TABLE conversations (
  id               uuid        PRIMARY KEY,
  user_id          text        NOT NULL,
  title            text,
  -- The mapping's root: the first parent_message_id the client sent (a UUID, or 'client-created-root').
  root_node_id     text        NOT NULL,
  current_node_id  text        NOT NULL,
  default_model_slug text,
  is_archived      boolean     NOT NULL DEFAULT false,
  create_time      timestamptz NOT NULL DEFAULT clock_timestamp(),
  update_time      timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The sidebar: a user's conversations, newest first, paged; id breaks update_time ties so pages never overlap.
CREATE INDEX conversations_user_update_time_idx ON conversations (user_id, update_time DESC, id DESC);

-- Every node of a conversation's tree, the root included (role 'root', no content).
CREATE TABLE messages (
  conversation_id  uuid        NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  id               text        NOT NULL,
  parent_id        text,
  role             text        NOT NULL CHECK (role IN ('root', 'system', 'user', 'assistant')),
  content_type     text        NOT NULL DEFAULT 'text',
  parts            jsonb       NOT NULL DEFAULT '[]'::jsonb,
  status           text        NOT NULL DEFAULT 'finished_successfully',
  end_turn         boolean,
  weight           real        NOT NULL DEFAULT 1,
  metadata         jsonb       NOT NULL DEFAULT '{}'::jsonb,
  recipient        text        NOT NULL DEFAULT 'all',
  create_time      timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- Insertion order within a conversation; children are listed in it.
  seq              bigserial   NOT NULL,
  PRIMARY KEY (conversation_id, id),
  FOREIGN KEY (conversation_id, parent_id) REFERENCES messages (conversation_id, id)
);
