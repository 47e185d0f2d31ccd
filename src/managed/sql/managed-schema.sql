/*
 * managed-schema.sql - managed mode's internal functions and compiled
 * scorers live in schema predict_internal, which the gateway's role must
 * own: an owner of the schema could replace them.
 */
CREATE SCHEMA IF NOT EXISTS predict_internal;
DO $$
DECLARE
    owner name := (SELECT r.rolname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner
                    WHERE n.nspname = 'predict_internal');
BEGIN
    IF owner <> current_user THEN
        RAISE EXCEPTION 'schema "predict_internal" belongs to role "%", not to "%"', owner, current_user
            USING ERRCODE = '42501',
                  DETAIL = 'Managed mode keeps its internal functions in that schema, which only their owner may hold.',
                  HINT = format('Connect as "%s", or have it run ALTER SCHEMA predict_internal OWNER TO %I.',
                                owner, current_user);
    END IF;
END
$$;
GRANT USAGE ON SCHEMA predict_internal TO PUBLIC;
