-- The metadata OpenAI's Conversations API attaches to a conversation (POST /v1/conversations):
-- at most 16 string pairs, checked by the function. A constant default: adding the column
-- rewrites nothing.
ALTER TABLE conversations ADD COLUMN IF NOT EXISTS metadata jsonb NOT NULL DEFAULT '{}'::jsonb;
