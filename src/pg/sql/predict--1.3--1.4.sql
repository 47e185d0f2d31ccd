/* predict--1.3--1.4.sql: upgrade from 1.3 to 1.4 (made by mk/pg.mk from src/pg/sql/) */
-- complain if the script is sourced in psql rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION predict" to load this file. \quit

-- Until the script ends, names resolve in pg_catalog only: nothing another
-- role created (in this schema or elsewhere) can be bound by it.
SET LOCAL search_path = pg_catalog, pg_temp;
/*
 * extension--1.3--1.4.sql - what the upgrade from 1.3 adds to the part
 * that follows it, explain.sql (mk/pg.mk puts predict--1.3--1.4.sql
 * together).
 *
 * 1.4: explanations, predict_explain and predict_reasons (issue 20). Nothing
 * of 1.3 changes: the registry, the log and the reports are as 1.3 made
 * them.
 */
/*
 * explain.sql - explanations (1.4): why a model gave an observation its
 * score, per input column (docs/model-format.md, "Explanations"), by the
 * core (managed mode has its own: src/managed/sql/managed.sql).
 */

-- COST 500: explaining a Titanic observation took about 25 times as long as
-- scoring it (20 µs a row against 0.8 µs, most of it writing the numbers as
-- JSON text, which jsonb then parses; TreeSHAP walks every path of every
-- tree), so that the planner runs every cheaper qual first
-- (docs/sql-reference.md, Costs).
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
