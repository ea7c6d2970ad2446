-- How large each conversation is, so a turn that would take it past MAX_CONVERSATION_MESSAGES
-- or MAX_CONVERSATION_BYTES is refused from the row the turn reads anyway (no count(*) per POST).
-- Kept by the statements that insert messages (conversation-repository.ts).

-- User and assistant messages, every branch counted (root and system nodes are not).
ALTER TABLE conversations ADD COLUMN message_count integer NOT NULL DEFAULT 0;
-- The messages' `parts` as they travel in a buffered Lambda response: JSON in the body, and
-- that body escaped once more as a string in the response envelope (see messageContentBytes).
ALTER TABLE conversations ADD COLUMN content_bytes bigint NOT NULL DEFAULT 0;

-- Existing conversations. jsonb's text form has a space after each comma, so this counts a few
-- bytes more than the application does for multi-part messages: on the safe side.
UPDATE conversations c
   SET message_count = s.message_count, content_bytes = s.content_bytes
  FROM (SELECT conversation_id,
               count(*) FILTER (WHERE role IN ('user', 'assistant')) AS message_count,
               coalesce(sum(octet_length(to_json(parts::text)::text) - 2) FILTER (WHERE role IN ('user', 'assistant')), 0) AS content_bytes
          FROM messages GROUP BY conversation_id) s
 WHERE s.conversation_id = c.id;
