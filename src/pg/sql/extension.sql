/*
 * extension.sql - what the predict extension adds to the tables: the C
 * functions of the registry, scoring and the triggers, and what pg_dump
 * needs to back the tables up and restore them.
 */

-- ---------- the model registry ----------

CREATE OR REPLACE FUNCTION @extschema@.predict_deploy(name text, model jsonb)
RETURNS integer
AS 'MODULE_PATHNAME', 'predict_deploy'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- An untyped document ('{...}', psql's :'model') is text: this overload
-- takes it, so that no same-named function of another role can.
CREATE OR REPLACE FUNCTION @extschema@.predict_deploy(name text, model text)
RETURNS integer LANGUAGE sql VOLATILE PARALLEL UNSAFE
RETURN @extschema@.predict_deploy(name, model::jsonb);

CREATE OR REPLACE FUNCTION @extschema@.predict_activate(name text, version integer)
RETURNS void
AS 'MODULE_PATHNAME', 'predict_activate'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE OR REPLACE FUNCTION @extschema@.predict_set_default(name text)
RETURNS void
AS 'MODULE_PATHNAME', 'predict_set_default'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

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

-- Lets an UPDATE change true_class only, and sets updated_at.
CREATE OR REPLACE FUNCTION @extschema@.predictions_protect()
RETURNS trigger
AS 'MODULE_PATHNAME', 'predictions_protect'
LANGUAGE C;

CREATE OR REPLACE TRIGGER predictions_score
    BEFORE INSERT ON @extschema@.predictions
    FOR EACH ROW EXECUTE FUNCTION @extschema@.predictions_score();

CREATE OR REPLACE TRIGGER predictions_protect
    BEFORE UPDATE ON @extschema@.predictions
    FOR EACH ROW EXECUTE FUNCTION @extschema@.predictions_protect();
