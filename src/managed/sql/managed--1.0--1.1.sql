/*
 * managed--1.0--1.1.sql - what the migration of a managed schema from 1.0
 * removes: 1.0 kept its internal functions and compiled scorers in the
 * tables' schema. The rest of the migration is the 1.1 functions
 * (managed.sql, report.sql), which replace the user-facing ones, and the
 * scorers of every deployed version, compiled again by the gateway into
 * predict_internal (pg_setup.c), all in one transaction.
 */
DROP FUNCTION @extschema@.predict__report(text, timestamptz, timestamptz, integer, boolean, boolean);
DROP FUNCTION @extschema@.predict__report_columns(text, integer, timestamptz, timestamptz, jsonb, bigint);
DROP FUNCTION @extschema@.predict__report_model(text);
DROP FUNCTION @extschema@.predict__report_below(float8);
DROP FUNCTION @extschema@.predict__report_number(jsonb);
DROP FUNCTION @extschema@.predict__report_parse(text);
DROP FUNCTION @extschema@.predict__report_double(numeric);
DROP FUNCTION @extschema@.predict__report_reading(float8);
DROP FUNCTION @extschema@.predict__report_psi_term(float8, float8);
DROP FUNCTION @extschema@.predict__deploy_compiled(text, jsonb, text);
DROP FUNCTION @extschema@.predict__score(jsonb, text, integer);
DROP FUNCTION @extschema@.predict__resolve(text);
DROP FUNCTION @extschema@.predict__function_name(text, integer);
DROP FUNCTION @extschema@.predict__expit(float8);
DROP FUNCTION @extschema@.predict__category_code(float8);
DROP FUNCTION @extschema@.predict__shown(text, float8);
DROP FUNCTION @extschema@.predict__sum(float8, float8);
DROP FUNCTION @extschema@.predict__big_quotient(float8, float8);
DROP FUNCTION @extschema@.predict__big_product(float8, float8);
DROP FUNCTION @extschema@.predict__tiny_quotient(float8, float8);
DROP FUNCTION @extschema@.predict__tiny_product(float8, float8);
DROP FUNCTION @extschema@.predict__read_cell(jsonb, text);
DROP FUNCTION @extschema@.predict__read_number(jsonb, text);
DROP FUNCTION @extschema@.predict__parse_number(text, text);
DROP FUNCTION @extschema@.predict__exact_double(numeric);
DROP FUNCTION @extschema@.predict__not_object(jsonb);
DROP FUNCTION @extschema@.predict__kind(jsonb);
DROP FUNCTION @extschema@.predict__quote(text, integer);
DROP FUNCTION @extschema@.predict__fail(text);

-- 1.0's compiled scorers (predict__m_<hash>_<version>)
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
              WHERE p.pronamespace = '@extschema@'::regnamespace AND p.proname LIKE 'predict\_\_m\_%'
    LOOP
        EXECUTE format('DROP FUNCTION %s', f);
    END LOOP;
END
$$;
