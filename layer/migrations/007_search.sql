-- Full-text search over conversation titles and message text (docs/api.md#search).
--
-- The vectors are kept by BEFORE triggers rather than generated columns: the text search
-- configuration is a deployment setting (SEARCH_TEXT_CONFIG), and a generated column's
-- expression can only change by rewriting the table under an exclusive lock, while a trigger
-- function is replaced at once and the existing rows re-vectorised in batches, online
-- (search-configuration.ts). search_configuration records which configuration the triggers
-- use; queries read it from there, so a query and the rows it matches always agree.

CREATE TABLE search_configuration (
  singleton        boolean   PRIMARY KEY DEFAULT true CHECK (singleton),
  -- What the triggers below compute new vectors with.
  text_config      regconfig NOT NULL,
  -- What every existing row's vector was computed with; differs from text_config only while
  -- a reconfiguration re-vectorises the old rows.
  backfilled_config regconfig NOT NULL
);
INSERT INTO search_configuration (text_config, backfilled_config) VALUES ('simple', 'simple');

-- User and assistant text only: the root and the hidden system node are never results.
ALTER TABLE messages ADD COLUMN search_vector tsvector;
-- A search ranks every message it matches, reading each one's vector: kept in the row (MAIN),
-- so when a row outgrows a page's share it is the text (read only for the few snippets of a
-- page) that moves out to TOAST, not the vector. About 30 % faster on frequent words
-- (docs/benchmarks.md, "Search").
ALTER TABLE messages ALTER COLUMN search_vector SET STORAGE MAIN;
ALTER TABLE conversations ADD COLUMN title_vector tsvector;

CREATE FUNCTION messages_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.search_vector := CASE WHEN NEW.role IN ('user', 'assistant') THEN jsonb_to_tsvector('simple', NEW.parts, '["string"]') END;
  RETURN NEW;
END
$$;
-- Messages are never updated: their text is written once.
CREATE TRIGGER messages_search_vector BEFORE INSERT ON messages
  FOR EACH ROW EXECUTE FUNCTION messages_search_vector();

CREATE FUNCTION conversations_title_vector() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.title_vector := to_tsvector('simple', coalesce(NEW.title, ''));
  RETURN NEW;
END
$$;
CREATE TRIGGER conversations_title_vector_insert BEFORE INSERT ON conversations
  FOR EACH ROW EXECUTE FUNCTION conversations_title_vector();
-- Every stored message updates its conversation's row (and names it with `title = COALESCE(title, …)`):
-- the WHEN clause keeps the trigger function out of those updates unless the title really changes.
CREATE TRIGGER conversations_title_vector_update BEFORE UPDATE OF title ON conversations
  FOR EACH ROW WHEN (OLD.title IS DISTINCT FROM NEW.title) EXECUTE FUNCTION conversations_title_vector();

UPDATE messages SET search_vector = jsonb_to_tsvector('simple', parts, '["string"]') WHERE role IN ('user', 'assistant');
UPDATE conversations SET title_vector = to_tsvector('simple', coalesce(title, ''));

CREATE INDEX messages_search_idx ON messages USING gin (search_vector);
-- Deleted conversations (until purged) are never results: they cost no index space.
CREATE INDEX conversations_title_search_idx ON conversations USING gin (title_vector) WHERE deleted_at IS NULL;
