-- The role the API functions connect as: it reads and writes rows, and nothing else. The RDS master
-- user (whose secret only the migrate function and the rotation read) keeps owning the schema.
-- Created NOLOGIN: the migrate function gives it a login with the password from its own secret
-- (ensureAppRoleLogin), so the password never appears in SQL kept anywhere.

-- Roles are per server, databases per app: another database on the same server may have created it.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'chatbot_app') THEN
    CREATE ROLE chatbot_app NOLOGIN;
  END IF;
EXCEPTION
  -- Two databases migrating at once both saw it missing.
  WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

DO $$
BEGIN
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO chatbot_app', current_database());
END
$$;
GRANT USAGE ON SCHEMA public TO chatbot_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO chatbot_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO chatbot_app;
-- The migration bookkeeping is the migrator's alone.
REVOKE ALL ON schema_migrations FROM chatbot_app;

-- Tables and sequences later migrations create (as this same user) get the same grants.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO chatbot_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO chatbot_app;
