-- Room held for replies still being generated, so that concurrent turns cannot together take a
-- conversation past MAX_CONVERSATION_MESSAGES / MAX_CONVERSATION_BYTES (docs/api.md#limits).
-- A turn reserves one message and MAX_REPLY_BYTES in the same statement that checks the room
-- (the conversation's row lock serialises concurrent turns); storing the reply releases it.
-- A reply whose container died never releases: every reservation of a conversation lapses at
-- reserved_until (a new one pushes it out), so such a leak holds room for minutes, not forever.
ALTER TABLE conversations ADD COLUMN reserved_messages integer NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN reserved_bytes bigint NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN reserved_until timestamptz;
