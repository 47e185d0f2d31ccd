-- Sets the psql variable predict_schema to the schema of the predict tables,
-- in either mode (the schema whose predictions table has the scoring
-- trigger). Included by tools/grant-gateway.sql and tools/grant-analyst.sql.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
                    WHERE t.tgname = 'predictions_score' AND c.relname = 'predictions') THEN
        RAISE EXCEPTION 'this database has no predict schema'
            USING HINT = 'Create it first: CREATE EXTENSION predict, or start the gateway once as the owner.';
    END IF;
END
$$;
SELECT n.nspname AS predict_schema
  FROM pg_catalog.pg_trigger t
  JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE t.tgname = 'predictions_score' AND c.relname = 'predictions' \gset
