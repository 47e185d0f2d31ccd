/*
 * extension.sql - what the predict extension adds to the tables and to
 * registry.sql: deploying with the core's validation, the C scoring
 * functions and the scoring trigger, and the triggers' creation.
 */

-- ---------- the model registry ----------

-- The registry's rules are registry.sql's, shared with managed mode; these
-- are what it asks of the extension: the hint of a missing model, and
-- whether a stored version can be scored (the core loads it).

CREATE OR REPLACE FUNCTION predict_internal.deploy_hint(name text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN name IS NULL
            THEN 'Deploy one first, for example: SELECT predict_deploy(''titanic'', '
                 'pg_read_file(''/path/to/titanic.json'')::jsonb); the first model deployed becomes the default.'
            ELSE 'Deploy it first, for example: SELECT predict_deploy(' || quote_literal(name)
                 || ', pg_read_file(''/path/to/model.json'')::jsonb);' END;

CREATE OR REPLACE FUNCTION predict_internal.document_check(model jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'predict_document_check'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

-- With explain (1.5): that the core can also explain the document.
CREATE OR REPLACE FUNCTION predict_internal.document_check(model jsonb, explain boolean)
RETURNS void
AS 'MODULE_PATHNAME', 'predict_document_check'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION predict_internal.version_check(name text, version integer, model jsonb)
RETURNS void LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT predict_internal.document_check(model);
END;

-- Deploy: the next version of a model, validated by the core, made active.
CREATE OR REPLACE FUNCTION @extschema@.predict_deploy(name text, model jsonb)
RETURNS integer LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM predict_internal.registry_check_deploy(name, model);
    PERFORM predict_internal.document_check(model);
    RETURN predict_internal.registry_add(name, model);
END
$$;

-- Deploy with explain (1.5): when true, the log's trigger also stores the
-- explanation of every row the version scores (docs/sql-reference.md);
-- a model the core cannot explain is refused (0A000).
CREATE OR REPLACE FUNCTION @extschema@.predict_deploy(name text, model jsonb, explain boolean)
RETURNS integer LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM predict_internal.registry_check_deploy(name, model);
    PERFORM predict_internal.registry_check_explain(explain);
    PERFORM predict_internal.document_check(model, explain);
    RETURN predict_internal.registry_add(name, model, explain);
END
$$;

-- An untyped document ('{...}', psql's :'model') is text: these overloads
-- take it, so that no same-named function of another role can.
CREATE OR REPLACE FUNCTION @extschema@.predict_deploy(name text, model text)
RETURNS integer LANGUAGE sql VOLATILE PARALLEL UNSAFE
RETURN @extschema@.predict_deploy(name, model::jsonb);

CREATE OR REPLACE FUNCTION @extschema@.predict_deploy(name text, model text, explain boolean)
RETURNS integer LANGUAGE sql VOLATILE PARALLEL UNSAFE
RETURN @extschema@.predict_deploy(name, model::jsonb, explain);

-- ---------- scoring ----------

-- COST 20: scoring the Titanic pipeline takes about as long as 20 simple
-- operators (docs/sql-reference.md, Costs), so that the planner runs cheap
-- filters first, without pushing ordinary queries over the JIT thresholds.
CREATE OR REPLACE FUNCTION @extschema@.predict_proba(obs jsonb)
RETURNS double precision
AS 'MODULE_PATHNAME', 'predict_proba'
LANGUAGE C STRICT STABLE PARALLEL SAFE COST 20;

CREATE OR REPLACE FUNCTION @extschema@.predict_proba(obs jsonb, model text)
RETURNS double precision
AS 'MODULE_PATHNAME', 'predict_proba'
LANGUAGE C STRICT STABLE PARALLEL SAFE COST 20;

CREATE OR REPLACE FUNCTION @extschema@.predict_class(obs jsonb)
RETURNS boolean
AS 'MODULE_PATHNAME', 'predict_class'
LANGUAGE C STRICT STABLE PARALLEL SAFE COST 20;

CREATE OR REPLACE FUNCTION @extschema@.predict_class(obs jsonb, model text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'predict_class'
LANGUAGE C STRICT STABLE PARALLEL SAFE COST 20;

-- ---------- the predictions log ----------

-- Scores each inserted row with the default model; a row that names its
-- model_version (a restored row) must carry that version's score.
CREATE OR REPLACE FUNCTION @extschema@.predictions_score()
RETURNS trigger
AS 'MODULE_PATHNAME', 'predictions_score'
LANGUAGE C;

-- predictions_protect, the audit rule (only true_class may change), is
-- registry.sql's.

CREATE OR REPLACE TRIGGER predictions_score
    BEFORE INSERT ON @extschema@.predictions
    FOR EACH ROW EXECUTE FUNCTION @extschema@.predictions_score();

CREATE OR REPLACE TRIGGER predictions_protect
    BEFORE UPDATE ON @extschema@.predictions
    FOR EACH ROW EXECUTE FUNCTION @extschema@.predictions_protect();
