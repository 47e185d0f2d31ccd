/*
 * explain.sql - explanations (1.4): why a model gave an observation its
 * score, per input column (docs/model-format.md, "Explanations"), by the
 * core (managed mode has its own: src/managed/sql/managed.sql).
 */

-- COST 500: explaining a Titanic observation took 12 to 25 times as long as
-- scoring it (docs/sql-reference.md, Costs; TreeSHAP walks every path of
-- every tree), so that the planner runs every cheaper qual first.
CREATE OR REPLACE FUNCTION @extschema@.predict_explain(obs jsonb)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'predict_explain_jsonb'
LANGUAGE C STRICT STABLE PARALLEL SAFE COST 500;

CREATE OR REPLACE FUNCTION @extschema@.predict_explain(obs jsonb, model text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'predict_explain_jsonb'
LANGUAGE C STRICT STABLE PARALLEL SAFE COST 500;

-- The reasons of an adverse-action notice: the k columns that lowered the
-- score the most. As dear as predict_explain.
CREATE OR REPLACE FUNCTION @extschema@.predict_reasons(obs jsonb, k integer)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'predict_reasons_jsonb'
LANGUAGE C STRICT STABLE PARALLEL SAFE COST 500;

CREATE OR REPLACE FUNCTION @extschema@.predict_reasons(obs jsonb, k integer, model text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'predict_reasons_jsonb'
LANGUAGE C STRICT STABLE PARALLEL SAFE COST 500;

-- Untyped observations are text, as for predict_proba (untyped.sql): these
-- take them, so that no same-named function of another role can.
CREATE OR REPLACE FUNCTION @extschema@.predict_explain(obs text)
RETURNS jsonb LANGUAGE sql STRICT STABLE PARALLEL SAFE
RETURN @extschema@.predict_explain(obs::jsonb);

CREATE OR REPLACE FUNCTION @extschema@.predict_explain(obs text, model text)
RETURNS jsonb LANGUAGE sql STRICT STABLE PARALLEL SAFE
RETURN @extschema@.predict_explain(obs::jsonb, model);

CREATE OR REPLACE FUNCTION @extschema@.predict_reasons(obs text, k integer)
RETURNS jsonb LANGUAGE sql STRICT STABLE PARALLEL SAFE
RETURN @extschema@.predict_reasons(obs::jsonb, k);

CREATE OR REPLACE FUNCTION @extschema@.predict_reasons(obs text, k integer, model text)
RETURNS jsonb LANGUAGE sql STRICT STABLE PARALLEL SAFE
RETURN @extschema@.predict_reasons(obs::jsonb, k, model);
