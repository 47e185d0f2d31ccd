/* predict--1.4.sql: the predict extension, version 1.4 (made by mk/pg.mk from src/pg/sql/) */
-- complain if the script is sourced in psql rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION predict" to load this file. \quit

-- Until the script ends, names resolve in pg_catalog only: nothing another
-- role created (in this schema or elsewhere) can be bound by it.
SET LOCAL search_path = pg_catalog, pg_temp;
/*
 * extension-schema.sql - the extension's internal functions live in their
 * own schema, out of the users' way (\df shows what they call). Callers of
 * the user-facing functions look their internal functions up there: USAGE
 * for everyone, CREATE for no one but its owner.
 */
CREATE SCHEMA predict_internal;
GRANT USAGE ON SCHEMA predict_internal TO PUBLIC;
/*
 * tables.sql - the registry and the predictions log, the same in both
 * PostgreSQL modes (predict_models' versions are checked by the triggers of
 * registry-checks.sql). Like every part of the schema, it runs with search_path
 * set to pg_catalog, pg_temp: the operators and functions of its checks and
 * defaults are PostgreSQL's, whatever others created elsewhere.
 */

-- ---------- the model registry ----------

-- Every deployed version of every model, immutable once deployed.
CREATE TABLE @extschema@.predict_model_versions (
    name text NOT NULL CHECK (name ~ '^[A-Za-z0-9_.-]{1,63}$'),
    version integer NOT NULL CHECK (version > 0),
    model jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    deployed_by text NOT NULL DEFAULT current_user,
    PRIMARY KEY (name, version)
);

-- The active version of each model, and which model is the default.
CREATE TABLE @extschema@.predict_models (
    name text PRIMARY KEY,
    active_version integer NOT NULL,
    is_default boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- At most one default model.
CREATE UNIQUE INDEX predict_models_one_default
    ON @extschema@.predict_models (is_default) WHERE is_default;

-- ---------- the predictions log ----------

CREATE TABLE @extschema@.predictions (
    id bigserial PRIMARY KEY,
    observation_id bigint NOT NULL UNIQUE,
    observation jsonb NOT NULL,
    proba double precision NOT NULL,
    predicted_class boolean NOT NULL,
    true_class smallint CHECK (true_class IN (0, 1)),
    model text NOT NULL,
    model_version integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
/*
 * registry-errors.sql - made by src/pg/gen/registry_errors_sql.c from the
 * core's table (src/core/registry_errors.c): do not edit.
 *
 * Every error of the registry and of the predictions log, by kind: its
 * SQLSTATE, message, detail and hint (NULL: none). Both PostgreSQL modes
 * raise them from here (registry.sql's registry_raise; the extension's C
 * code through src/pg/errors.c), SQLite from the same table.
 */
CREATE OR REPLACE FUNCTION predict_internal.registry_error(
    kind text, name text DEFAULT NULL, version integer DEFAULT NULL, relation text DEFAULT NULL,
    row_proba float8 DEFAULT NULL, row_class boolean DEFAULT NULL,
    proba float8 DEFAULT NULL, class boolean DEFAULT NULL,
    OUT sqlstate text, OUT message text, OUT detail text, OUT hint text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v text[] := ARRAY[coalesce(name, 'null'), coalesce(version::text, 'null'),
                      coalesce(relation, 'null'), coalesce(row_proba::text, 'null'),
                      coalesce(row_class::text, 'null'), coalesce(proba::text, 'null'),
                      coalesce(class::text, 'null')];
BEGIN
    CASE kind
    WHEN 'no default model' THEN
        sqlstate := '55000';
        message := format('no default model is deployed', VARIADIC v);
        detail := NULL;
        hint := predict_internal.deploy_hint(name);
    WHEN 'unknown model' THEN
        sqlstate := '42704';
        message := format('model "%1$s" does not exist', VARIADIC v);
        detail := NULL;
        hint := predict_internal.deploy_hint(name);
    WHEN 'unknown version' THEN
        sqlstate := '42704';
        message := format('model "%1$s" has no version %2$s', VARIADIC v);
        detail := NULL;
        hint := NULL;
    WHEN 'null name' THEN
        sqlstate := '22004';
        message := format('model name must not be null', VARIADIC v);
        detail := NULL;
        hint := NULL;
    WHEN 'null version' THEN
        sqlstate := '22004';
        message := format('model version must not be null', VARIADIC v);
        detail := NULL;
        hint := NULL;
    WHEN 'null document' THEN
        sqlstate := '22004';
        message := format('model document must not be null', VARIADIC v);
        detail := NULL;
        hint := NULL;
    WHEN 'invalid name' THEN
        sqlstate := '22023';
        message := format('invalid model name "%1$s"', VARIADIC v);
        detail := format('A model name is 1 to 63 characters among letters, digits, "_", "." and "-".', VARIADIC v);
        hint := NULL;
    WHEN 'maximum version' THEN
        sqlstate := '54000';
        message := format('model "%1$s" has reached the maximum version number', VARIADIC v);
        detail := NULL;
        hint := NULL;
    WHEN 'active version missing' THEN
        sqlstate := '23503';
        message := format('model "%1$s" has no version %2$s', VARIADIC v);
        detail := format('The active version of a model must be one of its versions in predict_model_versions.', VARIADIC v);
        hint := NULL;
    WHEN 'active version deleted' THEN
        sqlstate := '23503';
        message := format('model "%1$s" version %2$s is active', VARIADIC v);
        detail := format('The active version of a model cannot be deleted or renamed.', VARIADIC v);
        hint := format('Activate another version first (predict_activate).', VARIADIC v);
    WHEN 'row without model' THEN
        sqlstate := '23502';
        message := format('a row of relation "%3$s" with a model_version must name its model', VARIADIC v);
        detail := NULL;
        hint := NULL;
    WHEN 'row not scored by its version' THEN
        sqlstate := '23514';
        message := format('new row of relation "%3$s" does not carry the score of model "%1$s" version %2$s', VARIADIC v);
        detail := format('The row has proba %4$s and predicted_class %5$s; the version computes %6$s and %7$s for its observation.', VARIADIC v);
        hint := format('A row inserted with a model_version (as a restore does) keeps only the score that version computes; leave model_version out to have the row scored by the default model.', VARIADIC v);
    WHEN 'scored column changed' THEN
        sqlstate := '42501';
        message := format('column "%1$s" of relation "%3$s" cannot be changed', VARIADIC v);
        detail := format('Predictions are an audit log: only true_class can be updated.', VARIADIC v);
        hint := NULL;
    END CASE;
END
$$;

/*
 * registry.sql - the model registry and the predictions log's rules, one
 * definition for both PostgreSQL modes: the extension's install and upgrade
 * scripts (mk/pg.mk) and managed mode's schema (mk/gateway.mk) include it.
 *
 * What differs between the modes is how a model is scored, so each host
 * defines, before this part:
 *   predict_internal.deploy_hint(name text) returns text: how to deploy a
 *     model there (NULL: the first model), the hint of a missing one;
 *   predict_internal.version_check(name text, version integer, model jsonb):
 *     that a stored version can be scored (the extension loads the document
 *     with the core; managed mode looks for the version's compiled scorer);
 * and its own scorer and BEFORE INSERT trigger, which raise the log's errors
 * from here (registry_raise).
 *
 * Every function runs with search_path = pg_catalog, pg_temp and names the
 * tables by their schema, @extschema@.
 */

/* ---------- errors ---------- */

-- predict_internal.registry_error, every error of the registry and of the
-- log with its SQLSTATE, message, detail and hint, is written from the
-- core's table (registry-errors.sql, made by mk/pg.mk; it comes before this
-- part).

-- Raise an error of registry_error (its arguments).
CREATE OR REPLACE FUNCTION predict_internal.registry_raise(
    kind text, name text DEFAULT NULL, version integer DEFAULT NULL, relation text DEFAULT NULL,
    row_proba float8 DEFAULT NULL, row_class boolean DEFAULT NULL,
    proba float8 DEFAULT NULL, class boolean DEFAULT NULL)
RETURNS void LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    e record := predict_internal.registry_error(kind, name, version, relation, row_proba, row_class,
                                                proba, class);
BEGIN
    -- RAISE takes no NULL option: one statement per shape
    IF e.detail IS NOT NULL AND e.hint IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = e.sqlstate, MESSAGE = e.message, DETAIL = e.detail, HINT = e.hint;
    ELSIF e.detail IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = e.sqlstate, MESSAGE = e.message, DETAIL = e.detail;
    ELSIF e.hint IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = e.sqlstate, MESSAGE = e.message, HINT = e.hint;
    END IF;
    RAISE EXCEPTION USING ERRCODE = e.sqlstate, MESSAGE = e.message;
END
$$;

/* ---------- changing the registry ---------- */

/*
 * The arguments of a deploy, in the order they are checked: the name (not
 * null, 1 to 63 ASCII letters, digits, "_", "." or "-": the core's
 * predict_model_name_valid), then the document (not null).
 */
CREATE OR REPLACE FUNCTION predict_internal.registry_check_deploy(name text, model jsonb)
RETURNS void LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF name IS NULL THEN
        PERFORM predict_internal.registry_raise('null name');
    END IF;
    IF name !~ '^[A-Za-z0-9_.-]{1,63}$' THEN
        PERFORM predict_internal.registry_raise('invalid name', name);
    END IF;
    IF model IS NULL THEN
        PERFORM predict_internal.registry_raise('null document');
    END IF;
END
$$;

/*
 * Serialize registry changes: SHARE ROW EXCLUSIVE conflicts with itself and
 * with ordinary writes, not with the scoring path's reads. Statements after
 * the lock take a new snapshot (READ COMMITTED) and see every change
 * committed before it, so versions are numbered without gaps or duplicates.
 */
CREATE OR REPLACE FUNCTION predict_internal.registry_lock()
RETURNS void LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    LOCK TABLE @extschema@.predict_models IN SHARE ROW EXCLUSIVE MODE;
END
$$;

-- Make version the active one of name (adding the name when new); the
-- first model becomes the default.
CREATE OR REPLACE FUNCTION predict_internal.registry_set_active(name text, version integer)
RETURNS void LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO @extschema@.predict_models AS m (name, active_version, is_default)
         VALUES (name, version, NOT EXISTS (SELECT FROM @extschema@.predict_models d WHERE d.is_default))
    ON CONFLICT ON CONSTRAINT predict_models_pkey
       DO UPDATE SET active_version = excluded.active_version, updated_at = now();
END
$$;

/*
 * Store a checked document as the next version of name and make it active
 * (the default model if there is none): what deploying is, in both modes.
 * Returns the new version.
 */
CREATE OR REPLACE FUNCTION predict_internal.registry_add(name text, model jsonb)
RETURNS integer LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    next_version integer;
BEGIN
    PERFORM predict_internal.registry_lock();
    SELECT coalesce(max(v.version), 0) INTO next_version
      FROM @extschema@.predict_model_versions v WHERE v.name = registry_add.name;
    IF next_version = 2147483647 THEN
        PERFORM predict_internal.registry_raise('maximum version', name);
    END IF;
    next_version := next_version + 1;
    INSERT INTO @extschema@.predict_model_versions (name, version, model)
         VALUES (name, next_version, model);
    PERFORM predict_internal.registry_set_active(name, next_version);
    RETURN next_version;
END
$$;

-- predict_activate: roll back, or forward, to a stored version.
CREATE OR REPLACE FUNCTION @extschema@.predict_activate(name text, version integer)
RETURNS void LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    doc jsonb;
BEGIN
    IF name IS NULL THEN
        PERFORM predict_internal.registry_raise('null name');
    END IF;
    IF version IS NULL THEN
        PERFORM predict_internal.registry_raise('null version');
    END IF;
    PERFORM predict_internal.registry_lock();
    SELECT v.model INTO doc FROM @extschema@.predict_model_versions v
     WHERE v.name = predict_activate.name AND v.version = predict_activate.version;
    IF NOT FOUND THEN
        IF NOT EXISTS (SELECT FROM @extschema@.predict_model_versions v WHERE v.name = predict_activate.name) THEN
            PERFORM predict_internal.registry_raise('unknown model', name);
        END IF;
        PERFORM predict_internal.registry_raise('unknown version', name, version);
    END IF;
    -- a version stored by hand, not deployed, must still be one the host can score
    PERFORM predict_internal.version_check(name, version, doc);
    PERFORM predict_internal.registry_set_active(name, version);
END
$$;

-- predict_set_default: the model of predict_proba(obs) and of the log's trigger.
CREATE OR REPLACE FUNCTION @extschema@.predict_set_default(name text)
RETURNS void LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF name IS NULL THEN
        PERFORM predict_internal.registry_raise('null name');
    END IF;
    PERFORM predict_internal.registry_lock();
    IF NOT EXISTS (SELECT FROM @extschema@.predict_models m WHERE m.name = predict_set_default.name) THEN
        PERFORM predict_internal.registry_raise('unknown model', name);
    END IF;
    -- two statements: the unique index on is_default is checked row by row
    UPDATE @extschema@.predict_models m SET is_default = false, updated_at = now()
     WHERE m.is_default AND m.name <> predict_set_default.name;
    UPDATE @extschema@.predict_models m SET is_default = true, updated_at = now()
     WHERE m.name = predict_set_default.name AND NOT m.is_default;
END
$$;

/* ---------- the predictions log ---------- */

/*
 * BEFORE UPDATE: predictions are an audit log; only true_class may change,
 * and updated_at is set here. The rest of the row must stay the same byte
 * for byte (*=, as REFRESH MATERIALIZED VIEW compares rows: a number's 1.0
 * and 1 differ, as their stored forms do), whatever the table's columns
 * are; a column that changed is named. One comparison of the whole row in
 * the common case; the columns one by one only to name the one refused.
 */
CREATE OR REPLACE FUNCTION @extschema@.predictions_protect()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    kept record;
    same boolean;
    col name;
BEGIN
    IF TG_OP <> 'UPDATE' OR TG_WHEN <> 'BEFORE' OR TG_LEVEL <> 'ROW' THEN
        RAISE EXCEPTION 'predictions_protect() must be fired BEFORE UPDATE FOR EACH ROW'
            USING ERRCODE = '39P01';
    END IF;
    kept := NEW;
    kept.true_class := OLD.true_class;
    kept.updated_at := OLD.updated_at;
    IF NOT kept OPERATOR(pg_catalog.*=) OLD THEN
        FOR col IN SELECT a.attname FROM pg_attribute a
                    WHERE a.attrelid = TG_RELID AND a.attnum > 0 AND NOT a.attisdropped
                      AND a.attname NOT IN ('true_class', 'updated_at')
                    ORDER BY a.attnum LOOP
            EXECUTE format('SELECT pg_catalog.record_image_eq(ROW($1.%1$I), ROW($2.%1$I))', col)
               INTO same USING OLD, NEW;
            IF NOT same THEN
                PERFORM predict_internal.registry_raise('scored column changed', col, relation => TG_TABLE_NAME);
            END IF;
        END LOOP;
    END IF;
    NEW.updated_at := transaction_timestamp();
    RETURN NEW;
END
$$;

-- Changing the registry is the owner's (the extension grants it on,
-- extension-grants.sql; managed mode's tables belong to the gateway's role).
REVOKE EXECUTE ON FUNCTION @extschema@.predict_activate(text, integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION @extschema@.predict_set_default(text) FROM PUBLIC;
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

-- An untyped document ('{...}', psql's :'model') is text: this overload
-- takes it, so that no same-named function of another role can.
CREATE OR REPLACE FUNCTION @extschema@.predict_deploy(name text, model text)
RETURNS integer LANGUAGE sql VOLATILE PARALLEL UNSAFE
RETURN @extschema@.predict_deploy(name, model::jsonb);

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
-- Untyped observations ('{"Age": 22}') are text: these take them (inlined
-- into the caller's query), so that no same-named function of another role
-- can. The same in both PostgreSQL modes (after extension.sql or managed.sql).
CREATE OR REPLACE FUNCTION @extschema@.predict_proba(obs text)
RETURNS double precision LANGUAGE sql STRICT STABLE PARALLEL SAFE
RETURN @extschema@.predict_proba(obs::jsonb);

CREATE OR REPLACE FUNCTION @extschema@.predict_proba(obs text, model text)
RETURNS double precision LANGUAGE sql STRICT STABLE PARALLEL SAFE
RETURN @extschema@.predict_proba(obs::jsonb, model);

CREATE OR REPLACE FUNCTION @extschema@.predict_class(obs text)
RETURNS boolean LANGUAGE sql STRICT STABLE PARALLEL SAFE
RETURN @extschema@.predict_class(obs::jsonb);

CREATE OR REPLACE FUNCTION @extschema@.predict_class(obs text, model text)
RETURNS boolean LANGUAGE sql STRICT STABLE PARALLEL SAFE
RETURN @extschema@.predict_class(obs::jsonb, model);

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
/*
 * report.sql - the monitoring reports (docs/monitoring.md), the same in both
 * PostgreSQL modes: plain SQL and PL/pgSQL over the predictions table.
 * Internal functions live in schema predict_internal; every function runs
 * with search_path pg_catalog, pg_temp or has a SQL-standard body, which is
 * bound when it is created.
 *
 * A report reads the predictions as the caller (SELECT on predictions) and,
 * from the registry, only what reports need (the model names, and of each
 * version its threshold, columns and reference), through the two functions
 * below, which run as the registry's owner: a reader needs no privilege on
 * the model documents. Both are EXECUTE only for the owner and the roles it
 * grants (tools/grant-gateway.sql, tools/grant-analyst.sql).
 */

-- The model a report reads: the named one, or the default model.
CREATE OR REPLACE FUNCTION predict_internal.report_model(requested text)
RETURNS text LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    chosen text;
BEGIN
    IF requested IS NULL THEN
        SELECT m.name INTO chosen FROM @extschema@.predict_models m WHERE m.is_default;
        IF NOT FOUND THEN
            PERFORM predict_internal.registry_raise('no default model');
        END IF;
        RETURN chosen;
    END IF;
    PERFORM 1 FROM @extschema@.predict_model_versions v WHERE v.name = requested LIMIT 1;
    IF NOT FOUND THEN
        PERFORM predict_internal.registry_raise('unknown model', requested);
    END IF;
    RETURN requested;
END
$$;

-- Each version of a model with what a report reads of its document, and
-- whether it is the active one.
CREATE OR REPLACE FUNCTION predict_internal.report_versions(model_name text)
RETURNS TABLE (version integer, active boolean, doc jsonb)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT v.version, v.version IS NOT DISTINCT FROM m.active_version,
           (SELECT jsonb_object_agg(d.key, d.value) FROM jsonb_each(v.model) AS d
             WHERE d.key IN ('threshold', 'columns', 'reference'))
      FROM @extschema@.predict_model_versions v
      LEFT JOIN @extschema@.predict_models m ON m.name = v.name
     WHERE v.name = report_versions.model_name
     ORDER BY v.version;
END;

REVOKE EXECUTE ON FUNCTION predict_internal.report_model(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION predict_internal.report_versions(text) FROM PUBLIC;

-- The largest double below x, for x >= 0: width_bucket(below(x), edges)
-- counts the edges < x (sklearn's calibration_curve bins, searchsorted
-- side "left"), where width_bucket(x, edges) counts the edges <= x.
CREATE OR REPLACE FUNCTION predict_internal.report_below(x float8)
RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN x < 4.450147717014403e-308::float8 THEN x - 5e-324::float8
            ELSE x * 0.99999999999999988897769753748434595763683319091796875::float8 END;

-- A JSON number as the nearest double, as the scorer (strtod) reads it:
-- infinite from the rounding midpoint beyond the largest double, 0 below half
-- the smallest one (where a float8 cast raises instead).
CREATE OR REPLACE FUNCTION predict_internal.report_double(n numeric)
RETURNS float8 LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE
        WHEN n = 'NaN'::numeric OR n = 'Infinity'::numeric OR n = '-Infinity'::numeric THEN n::float8
        WHEN abs(n) >= 179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792 THEN
            CASE WHEN n > 0 THEN 'Infinity'::float8 ELSE '-Infinity'::float8 END
        WHEN abs(n) < 1e-300 AND abs(n) * (2::numeric ^ 1075) <= 1 THEN 0::float8
        ELSE n::float8 END;

-- A string of a number column read as Python's float() reads it (ASCII);
-- NULL for anything else (a scored row never has one).
CREATE OR REPLACE FUNCTION predict_internal.report_parse(s text)
RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT CASE
        WHEN t ~* '^[+-]?(inf|infinity)$' THEN
            CASE WHEN left(t, 1) = '-' THEN '-Infinity'::float8 ELSE 'Infinity'::float8 END
        WHEN t ~* '^[+-]?nan$' THEN 'NaN'::float8
        WHEN t !~ '^[+-]?([0-9](_?[0-9])*(\.([0-9](_?[0-9])*)?)?|\.[0-9](_?[0-9])*)([eE][+-]?[0-9](_?[0-9])*)?$' THEN NULL
        -- an exponent of 5 digits or more: beyond any double (or below)
        WHEN octet_length(t) > 1000 OR length(substring(t FROM '[eE][+-]?0*([0-9_]*)$')) > 4 THEN
            CASE WHEN substring(t FROM '[eE]([+-]?)') = '-' THEN 0::float8
                 WHEN left(t, 1) = '-' THEN '-Infinity'::float8 ELSE 'Infinity'::float8 END
        ELSE predict_internal.report_double(replace(t, '_', '')::numeric) END
    FROM (SELECT btrim(s, E' \t\n\r\f\x0b') AS t) AS trimmed;
END;

-- A value of a number column as the scorer reads it: NULL when missing
-- (absent or null), NaN for a NaN string (missing too); true and false are
-- 1 and 0.
CREATE OR REPLACE FUNCTION predict_internal.report_number(x jsonb)
RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE jsonb_typeof(x)
        WHEN 'number' THEN predict_internal.report_double(x::numeric)
        WHEN 'boolean' THEN CASE WHEN x::boolean THEN 1::float8 ELSE 0::float8 END
        WHEN 'string' THEN predict_internal.report_parse(x #>> '{}')
    END;

-- The usual reading of a population stability index; 'unknown' where it
-- cannot be computed (the feature's reason says why), never NULL, so that
-- an alert on reading <> 'stable' reports what it cannot see.
CREATE OR REPLACE FUNCTION predict_internal.report_reading(psi float8)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN psi IS NULL THEN 'unknown'
                WHEN psi < 0.1 THEN 'stable'
                WHEN psi <= 0.25 THEN 'moderate'
                ELSE 'significant' END;

-- One bin's PSI term: (a - e) ln(a / e), both fractions floored at 1e-4 so
-- that an empty bin counts without an infinite term.
CREATE OR REPLACE FUNCTION predict_internal.report_psi_term(actual float8, expected float8)
RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (greatest(actual, 1e-4::float8) - greatest(expected, 1e-4::float8))
           * ln(greatest(actual, 1e-4::float8) / greatest(expected, 1e-4::float8));

/*
 * Drift of the input columns of one model version: for each column of the
 * model, the missing rate and, against the version's reference, the PSI over
 * the reference bins (numbers: missing + the decile bins; strings: missing +
 * each listed category + everything else) and the unseen categories. One
 * scan: each row's column values are binned and the combinations counted,
 * then each column is rolled up from the combinations.
 */
CREATE OR REPLACE FUNCTION predict_internal.report_columns(model_name text, model_version integer,
    since timestamptz, until timestamptz, doc jsonb, total bigint)
RETURNS jsonb LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
SET enable_sort = off               -- hash the combinations (the planner cannot estimate how few there are)
AS $$
DECLARE
    -- the predictions table's name for dynamic SQL, quoted and qualified
    -- (its row type's; @extschema@ is never written inside a string)
    log_table text := pg_typeof(NULL::@extschema@.predictions)::text;
    col record;
    fast_keys text[] := '{}';
    safe_keys text[] := '{}';
    rollup text[] := '{}';
    edges text;
    query text;
    counts jsonb;
    features jsonb;
    k integer := 0;
BEGIN
    FOR col IN
        SELECT c.e->>'name' AS cname, c.e->>'type' AS ctype, r.e AS ref
          FROM jsonb_array_elements(doc->'columns') WITH ORDINALITY AS c(e, i)
          LEFT JOIN jsonb_array_elements(coalesce(doc #> '{reference,columns}', '[]')) AS r(e)
            ON r.e->>'column' = c.e->>'name'
         ORDER BY c.i
    LOOP
        IF col.ctype = 'number' THEN
            -- the edges, then NaN (above every number): bin k + 1 is a NaN, missing
            SELECT '{' || string_agg(e, ',' ORDER BY i) || '}' INTO edges
              FROM (SELECT e, i FROM jsonb_array_elements_text(coalesce(col.ref->'edges', '[]')) WITH ORDINALITY AS t(e, i)
                    UNION ALL SELECT 'NaN', 2147483647) AS t;
            fast_keys := fast_keys || format('width_bucket((p.observation ->> %L)::float8, %L::float8[])', col.cname, edges);
            safe_keys := safe_keys || format('width_bucket(predict_internal.report_number(p.observation -> %L), %L::float8[])',
                                             col.cname, edges);
            rollup := rollup || format('SELECT %s AS i, k%s AS b, NULL::text AS s, sum(n) AS n FROM c GROUP BY 2', k, k);
        ELSE
            fast_keys := fast_keys || format('p.observation ->> %L', col.cname);
            safe_keys := safe_keys || format('p.observation ->> %L', col.cname);
            rollup := rollup || format('SELECT %s AS i, NULL::integer AS b, k%s AS s, sum(n) AS n FROM c GROUP BY 3', k, k);
        END IF;
        k := k + 1;
    END LOOP;

    query := 'WITH c AS MATERIALIZED (SELECT %2$s, count(*) AS n FROM %1$s p'
          || ' WHERE p.model = $1 AND p.model_version = $2'
          || ' AND ($3::timestamptz IS NULL OR p.created_at >= $3) AND ($4::timestamptz IS NULL OR p.created_at < $4)'
          || ' GROUP BY %3$s) SELECT coalesce(jsonb_agg(jsonb_build_array(i, b, s, n)), ''[]'') FROM ('
          || array_to_string(rollup, ' UNION ALL ') || ') AS q';
    IF total = 0 THEN
        counts := '[]';
    ELSE
        BEGIN
            -- numbers read with a cast, which refuses what a number column rarely holds
            -- (true, false, Python's 1_000, 1e400): then again with the full reading
            EXECUTE format(query, log_table,
                           (SELECT string_agg(format('%s AS k%s', e, i - 1), ', ' ORDER BY i) FROM unnest(fast_keys) WITH ORDINALITY AS t(e, i)),
                           (SELECT string_agg(i::text, ', ') FROM generate_series(1, k) AS i))
               INTO counts USING model_name, model_version, since, until;
        EXCEPTION WHEN invalid_text_representation OR numeric_value_out_of_range THEN
            EXECUTE format(query, log_table,
                           (SELECT string_agg(format('%s AS k%s', e, i - 1), ', ' ORDER BY i) FROM unnest(safe_keys) WITH ORDINALITY AS t(e, i)),
                           (SELECT string_agg(i::text, ', ') FROM generate_series(1, k) AS i))
               INTO counts USING model_name, model_version, since, until;
        END;
    END IF;

    WITH cols AS (
        SELECT (c.i - 1)::integer AS i, c.e->>'name' AS name, c.e->>'type' AS kind, r.e AS ref
          FROM jsonb_array_elements(doc->'columns') WITH ORDINALITY AS c(e, i)
          LEFT JOIN jsonb_array_elements(coalesce(doc #> '{reference,columns}', '[]')) AS r(e)
            ON r.e->>'column' = c.e->>'name'),
    counted AS (
        SELECT (x->>0)::integer AS i, (x->>1)::integer AS b, x->>2 AS s, (x->>3)::bigint AS n
          FROM jsonb_array_elements(counts) AS x),
    -- every bin of every column: the reference's bins and, for strings, the values seen
    bins AS (
        -- number columns: missing, then one bin per edge interval
        SELECT c.i, -1 AS bin, 'missing' AS label, NULL::float8 AS lower, NULL::float8 AS upper,
               (c.ref->>'missing')::float8 AS expected,
               coalesce((SELECT sum(n) FROM counted d WHERE d.i = c.i
                          AND (d.b IS NULL OR d.b = jsonb_array_length(coalesce(c.ref->'edges', '[]')) + 1)), 0) AS rows
          FROM cols c WHERE c.kind = 'number'
        UNION ALL
        SELECT c.i, f.j::integer - 1,
               CASE WHEN f.j = 1 AND m = 0 THEN 'all'
                    WHEN f.j = 1 THEN '< ' || (c.ref->'edges'->>0)::float8
                    WHEN f.j = m + 1 THEN '>= ' || (c.ref->'edges'->>(m - 1))::float8
                    ELSE '[' || (c.ref->'edges'->>(f.j::integer - 2))::float8 || ', '
                         || (c.ref->'edges'->>(f.j::integer - 1))::float8 || ')' END,
               CASE WHEN f.j > 1 THEN (c.ref->'edges'->>(f.j::integer - 2))::float8 END,
               (c.ref->'edges'->>(f.j::integer - 1))::float8,
               f.x::float8,
               coalesce((SELECT sum(n) FROM counted d WHERE d.i = c.i AND d.b = f.j - 1), 0)
          FROM cols c CROSS JOIN LATERAL jsonb_array_length(c.ref->'edges') AS m
          CROSS JOIN LATERAL jsonb_array_elements_text(c.ref->'fractions') WITH ORDINALITY AS f(x, j)
         WHERE c.kind = 'number'
        UNION ALL
        -- string columns: missing, each listed category, then the others
        SELECT c.i, -1, 'missing', NULL, NULL, (c.ref->>'missing')::float8,
               coalesce((SELECT sum(n) FROM counted d WHERE d.i = c.i AND d.s IS NULL), 0)
          FROM cols c WHERE c.kind = 'string'
        UNION ALL
        SELECT c.i, f.j::integer - 1, f.cat, NULL, NULL, (c.ref->'fractions'->>(f.j::integer - 1))::float8,
               coalesce((SELECT sum(n) FROM counted d WHERE d.i = c.i AND d.s = f.cat), 0)
          FROM cols c CROSS JOIN LATERAL jsonb_array_elements_text(c.ref->'categories') WITH ORDINALITY AS f(cat, j)
         WHERE c.kind = 'string' AND f.j <= 20
        UNION ALL
        -- the categories after the 20 most frequent, the reference's "other" and
        -- the unseen values: one bin, so that rare categories do not each add noise
        SELECT c.i, least(jsonb_array_length(c.ref->'categories'), 20), 'other', NULL, NULL,
               (c.ref->>'other')::float8
               + coalesce((SELECT sum(x::float8) FROM jsonb_array_elements_text(c.ref->'fractions') WITH ORDINALITY AS t(x, j)
                            WHERE t.j > 20), 0),
               coalesce((SELECT sum(n) FROM counted d WHERE d.i = c.i AND d.s IS NOT NULL
                           AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(c.ref->'categories') WITH ORDINALITY AS t(cat, j)
                                            WHERE t.j <= 20 AND t.cat = d.s)), 0)
          FROM cols c WHERE c.kind = 'string' AND c.ref IS NOT NULL),
    unseen AS (
        SELECT d.i, sum(d.n) AS rows,
               (array_agg(jsonb_build_object('value', d.s, 'rows', d.n) ORDER BY d.n DESC, d.s COLLATE "C"))[1:10] AS top
          FROM counted d JOIN cols c ON c.i = d.i
         WHERE c.kind = 'string' AND c.ref IS NOT NULL AND d.s IS NOT NULL AND NOT (c.ref->'categories') ? d.s
         GROUP BY d.i),
    per_column AS (
        SELECT c.i, c.name, c.kind, c.ref,
               CASE WHEN total > 0 AND c.ref IS NOT NULL
                    THEN (SELECT sum(predict_internal.report_psi_term(b.rows::float8 / total, b.expected))
                            FROM bins b WHERE b.i = c.i) END AS psi,
               (SELECT b.rows FROM bins b WHERE b.i = c.i AND b.bin = -1) AS missing_rows,
               (SELECT jsonb_agg(jsonb_build_object('bin', b.bin, 'label', b.label, 'lower', b.lower, 'upper', b.upper,
                                                    'reference', b.expected, 'rows', b.rows,
                                                    'fraction', CASE WHEN total > 0 THEN b.rows::float8 / total END)
                                 ORDER BY b.bin)
                  FROM bins b WHERE b.i = c.i AND (c.ref IS NOT NULL OR b.bin = -1)) AS bins
          FROM cols c)
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'feature', p.name,
               'kind', p.kind,
               'psi', p.psi,
               'reading', predict_internal.report_reading(p.psi),
               'rows', total,
               'missing_rate', CASE WHEN total > 0 THEN p.missing_rows::float8 / total END,
               'reference_missing_rate', (p.ref->>'missing')::float8,
               'unseen_rows', CASE WHEN p.kind = 'string' AND p.ref IS NOT NULL THEN coalesce(u.rows, 0) END,
               'unseen_rate', CASE WHEN p.kind = 'string' AND p.ref IS NOT NULL AND total > 0
                                   THEN coalesce(u.rows, 0)::float8 / total END,
               'unseen_values', CASE WHEN p.kind = 'string' AND p.ref IS NOT NULL
                                     THEN coalesce(to_jsonb(u.top), '[]') END,
               'reference_other', (p.ref->>'other')::float8,
               'reason', CASE WHEN p.ref IS NULL AND doc ? 'reference' THEN 'the reference has no entry for this column'
                              WHEN p.ref IS NULL THEN 'the model version has no reference (export it with --reference)'
                              WHEN total = 0 THEN 'no predictions' END,
               'bins', p.bins) ORDER BY p.i), '[]')
      INTO features
      FROM per_column p LEFT JOIN unseen u ON u.i = p.i;
    RETURN features;
END
$$;

/*
 * The report of one model: per version, the volume, the metrics computed
 * from the labelled rows, the calibration table, the drift of the
 * probability and of the input columns against the version's reference,
 * and the predictions per day (docs/monitoring.md). ranking: compute ROC
 * AUC and average precision; columns: the input columns' drift.
 */
CREATE OR REPLACE FUNCTION predict_internal.report(requested text, since timestamptz, until timestamptz,
    bins integer, ranking boolean, columns boolean)
RETURNS jsonb LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
SET extra_float_digits = 3          -- every float8 exact in the jsonb
SET work_mem = '64MB'
SET jit = off
SET parallel_setup_cost = 100
SET parallel_tuple_cost = 0.01
SET enable_sort = off               -- hash the groups (the planner cannot estimate how few there are)
AS $$
DECLARE
    -- the predictions table's name for dynamic SQL, quoted and qualified
    -- (its row type's; @extschema@ is never written inside a string)
    log_table text := pg_typeof(NULL::@extschema@.predictions)::text;
    model_name text;
    docs jsonb;
    edges text;
    scanned jsonb;
    active integer;
    v record;
    doc jsonb;
    ref jsonb;
    base jsonb;
    metrics jsonb;
    reasons jsonb;
    drift jsonb;
    proba_feature jsonb;
    versions jsonb := '[]';
    threshold float8;
    pos float8[];
    neg float8[];
    n_pos bigint;
    n_neg bigint;
    auc float8;
    ap float8;
    psi float8;
BEGIN
    IF bins IS NULL OR bins < 1 OR bins > 1000 THEN
        RAISE EXCEPTION 'bins must be between 1 and 1000, got %', coalesce(bins::text, 'null') USING ERRCODE = '22023';
    END IF;
    IF since IS NOT NULL AND until IS NOT NULL AND since > until THEN
        RAISE EXCEPTION 'since (%) is after until (%)', since, until USING ERRCODE = '22023';
    END IF;
    IF NOT has_function_privilege('predict_internal.report_versions(text)', 'EXECUTE') THEN
        RAISE EXCEPTION 'permission denied for the predict reports' USING ERRCODE = '42501',
            DETAIL = 'A report reads the model registry through predict_internal.report_versions(text), '
                     'which this role may not execute.',
            HINT = 'Grant it with tools/grant-analyst.sql (a reader) or tools/grant-gateway.sql (a gateway).';
    END IF;
    model_name := predict_internal.report_model(requested);
    SELECT jsonb_object_agg(r.version::text, r.doc), max(r.version) FILTER (WHERE r.active)
      INTO docs, active
      FROM predict_internal.report_versions(model_name) AS r;

    -- each version's probability edges, as a VALUES list (a CTE would keep
    -- the scan below from running in parallel workers)
    SELECT string_agg(format('(%s, %L::float8[])', d.key,
                             ARRAY(SELECT e::float8 FROM jsonb_array_elements_text(d.value #> '{reference,proba,edges}')
                                                         WITH ORDINALITY AS t(e, i) ORDER BY i)), ', ')
      INTO edges
      FROM jsonb_each(docs) AS d;

    -- one scan: every row's calibration bin (labelled rows) and reference bin,
    -- grouped with its day and classes; the rest is computed from the groups
    -- (into a value, not in a FOR loop: a loop's cursor would run it serially)
    EXECUTE format($query$
        WITH g AS MATERIALIZED (
            SELECT p.model_version AS ver, p.created_at::date AS day,
                   CASE WHEN p.true_class IS NOT NULL
                        THEN width_bucket(predict_internal.report_below(p.proba), $4) END AS cbin,
                   width_bucket(p.proba, r.edges) AS rbin,
                   p.predicted_class AS predicted, p.true_class AS y,
                   count(*) AS n,
                   sum(p.proba) AS sum_proba,
                   sum((p.proba - p.true_class) * (p.proba - p.true_class)) AS brier,
                   -- log_loss of scikit-learn 1.2: clipped to [eps, 1 - eps], then [1 - p, p] renormalised
                   sum(CASE p.true_class WHEN 1 THEN -ln(c.p / ((1 - c.p) + c.p))
                                         WHEN 0 THEN -ln((1 - c.p) / ((1 - c.p) + c.p)) END) AS log_loss,
                   min(p.created_at) AS first_at, max(p.created_at) AS last_at
              FROM %1$s p
              LEFT JOIN (VALUES %2$s) AS r(version, edges) ON r.version = p.model_version
              CROSS JOIN LATERAL (SELECT least(greatest(p.proba, 2.220446049250313e-16::float8),
                                               1 - 2.220446049250313e-16::float8) AS p) AS c
             WHERE p.model = $1 AND ($2::timestamptz IS NULL OR p.created_at >= $2)
               AND ($3::timestamptz IS NULL OR p.created_at < $3)
             GROUP BY 1, 2, 3, 4, 5, 6),
        totals AS (
            SELECT g.ver, sum(g.n)::bigint AS n, sum(g.sum_proba) AS sum_proba,
                   coalesce(sum(g.n) FILTER (WHERE g.predicted), 0)::bigint AS predicted,
                   coalesce(sum(g.n) FILTER (WHERE g.y IS NOT NULL), 0)::bigint AS labelled,
                   coalesce(sum(g.n) FILTER (WHERE g.y = 1), 0)::bigint AS positives,
                   sum(g.brier) AS brier, sum(g.log_loss) AS log_loss,
                   coalesce(sum(g.n) FILTER (WHERE g.predicted AND g.y = 1), 0)::bigint AS tp,
                   coalesce(sum(g.n) FILTER (WHERE g.predicted AND g.y = 0), 0)::bigint AS fp,
                   coalesce(sum(g.n) FILTER (WHERE NOT g.predicted AND g.y = 1), 0)::bigint AS fn,
                   coalesce(sum(g.n) FILTER (WHERE NOT g.predicted AND g.y = 0), 0)::bigint AS tn,
                   min(g.first_at) AS first_at, max(g.last_at) AS last_at
              FROM g GROUP BY g.ver
            UNION ALL
            -- the active version, listed even without predictions
            SELECT $5, 0, NULL, 0, 0, 0, NULL, NULL, 0, 0, 0, 0, NULL, NULL
             WHERE $5 IS NOT NULL AND NOT EXISTS (SELECT 1 FROM g WHERE g.ver = $5)),
        calibration AS (
            SELECT s.ver, jsonb_agg(jsonb_build_object(
                       'bin', s.cbin,
                       'lower', s.cbin * (1.0::float8 / $6),
                       'upper', CASE WHEN s.cbin + 1 = $6 THEN 1.0::float8 ELSE (s.cbin + 1) * (1.0::float8 / $6) END,
                       'rows', s.n,
                       'mean_proba', s.sum_proba / s.n,
                       'observed_rate', s.positives::float8 / s.n) ORDER BY s.cbin) AS rows
              FROM (SELECT g.ver, g.cbin, sum(g.n) AS n, sum(g.sum_proba) AS sum_proba,
                           coalesce(sum(g.n) FILTER (WHERE g.y = 1), 0) AS positives
                      FROM g WHERE g.cbin IS NOT NULL GROUP BY 1, 2) AS s
             GROUP BY s.ver),
        histogram AS (
            SELECT s.ver, jsonb_agg(jsonb_build_array(s.rbin, s.n) ORDER BY s.rbin) AS rows
              FROM (SELECT g.ver, g.rbin, sum(g.n) AS n FROM g GROUP BY 1, 2) AS s
             GROUP BY s.ver),
        daily AS (
            SELECT s.ver, jsonb_agg(jsonb_build_object(
                       'day', s.day, 'rows', s.n, 'labelled_rows', s.labelled,
                       'positive_rate', s.predicted::float8 / s.n, 'mean_proba', s.sum_proba / s.n,
                       'observed_positive_rate', CASE WHEN s.labelled > 0 THEN s.positives::float8 / s.labelled END)
                       ORDER BY s.day) AS rows
              FROM (SELECT g.ver, g.day, sum(g.n) AS n, coalesce(sum(g.n) FILTER (WHERE g.y IS NOT NULL), 0) AS labelled,
                           coalesce(sum(g.n) FILTER (WHERE g.predicted), 0) AS predicted,
                           sum(g.sum_proba) AS sum_proba, coalesce(sum(g.n) FILTER (WHERE g.y = 1), 0) AS positives
                      FROM g GROUP BY 1, 2) AS s
             GROUP BY s.ver)
        SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'ver', t.ver, 'n', t.n, 'sum_proba', t.sum_proba, 'predicted', t.predicted,
                   'labelled', t.labelled, 'positives', t.positives, 'brier', t.brier, 'log_loss', t.log_loss,
                   'tp', t.tp, 'fp', t.fp, 'fn', t.fn, 'tn', t.tn, 'first_at', t.first_at, 'last_at', t.last_at,
                   'calibration', coalesce(c.rows, '[]'), 'histogram', coalesce(h.rows, '[]'),
                   'daily', coalesce(d.rows, '[]')) ORDER BY t.ver), '[]')
          FROM totals t
          LEFT JOIN calibration c ON c.ver = t.ver
          LEFT JOIN histogram h ON h.ver = t.ver
          LEFT JOIN daily d ON d.ver = t.ver
        $query$, log_table, concat_ws(', ', edges, '(NULL::integer, NULL::float8[])'))
        INTO scanned
        USING model_name, since, until,
              -- numpy.linspace(0, 1, bins + 1)[1:-1], as calibration_curve builds them
              ARRAY(SELECT i * (1.0::float8 / bins) FROM generate_series(1, bins - 1) AS i ORDER BY i),
              active, bins;

    FOR v IN
        SELECT * FROM jsonb_to_recordset(scanned) AS x(
            ver integer, n bigint, sum_proba float8, predicted bigint, labelled bigint, positives bigint,
            brier float8, log_loss float8, tp bigint, fp bigint, fn bigint, tn bigint,
            first_at timestamptz, last_at timestamptz, calibration jsonb, histogram jsonb, daily jsonb)
    LOOP
        doc := docs -> v.ver::text;
        ref := doc->'reference';
        threshold := coalesce((doc->>'threshold')::float8, CASE WHEN doc IS NOT NULL THEN 0.5 END);
        n_pos := v.positives;
        n_neg := v.labelled - v.positives;
        reasons := '{}';

        -- ranking metrics: the labelled probabilities of each class, sorted; each
        -- row's rank among the other class found by binary search (width_bucket)
        auc := NULL;
        ap := NULL;
        IF ranking AND n_pos > 0 THEN
            SELECT array_agg(p.proba ORDER BY p.proba) FILTER (WHERE p.true_class = 1),
                   array_agg(p.proba ORDER BY p.proba) FILTER (WHERE p.true_class = 0)
              INTO pos, neg
              FROM @extschema@.predictions p
             WHERE p.model = model_name AND p.model_version = v.ver AND p.true_class IS NOT NULL
               AND (since IS NULL OR p.created_at >= since) AND (until IS NULL OR p.created_at < until);
            IF n_neg > 0 THEN
                -- each negative scores 1 per positive above it and 1/2 per tie
                SELECT sum(2 * n_pos - width_bucket(x, pos) - width_bucket(predict_internal.report_below(x), pos))::float8
                       / (2.0::float8 * n_pos * n_neg)
                  INTO auc FROM unnest(neg) AS x;
            END IF;
            -- each positive adds the precision at its threshold: the rows >= it
            SELECT sum((n_pos - t.pos_below)::float8
                       / (n_pos - t.pos_below + coalesce(n_neg - width_bucket(t.y, neg), 0))) / n_pos
              INTO ap
              FROM (SELECT width_bucket(s.y, pos) AS pos_below, s.y
                      FROM (SELECT predict_internal.report_below(x) AS y FROM unnest(pos) AS x) AS s) AS t;
        END IF;

        metrics := jsonb_build_object(
            'rows', v.n,
            'labelled_rows', v.labelled,
            'positive_rate', CASE WHEN v.n > 0 THEN v.predicted::float8 / v.n END,
            'mean_proba', CASE WHEN v.n > 0 THEN v.sum_proba / v.n END,
            'observed_positive_rate', CASE WHEN v.labelled > 0 THEN v.positives::float8 / v.labelled END,
            'roc_auc', auc,
            'average_precision', ap,
            'log_loss', CASE WHEN v.labelled > 0 THEN v.log_loss / v.labelled END,
            'brier_score', CASE WHEN v.labelled > 0 THEN v.brier / v.labelled END,
            'accuracy', CASE WHEN v.labelled > 0 THEN (v.tp + v.tn)::float8 / v.labelled END,
            'precision', CASE WHEN v.tp + v.fp > 0 THEN v.tp::float8 / (v.tp + v.fp) END,
            'recall', CASE WHEN v.tp + v.fn > 0 THEN v.tp::float8 / (v.tp + v.fn) END,
            'f1', CASE WHEN 2 * v.tp + v.fp + v.fn > 0 THEN 2.0::float8 * v.tp / (2 * v.tp + v.fp + v.fn) END,
            'true_negatives', v.tn, 'false_positives', v.fp, 'false_negatives', v.fn, 'true_positives', v.tp);

        -- why a metric is null
        IF v.n = 0 THEN
            reasons := reasons || jsonb_build_object('positive_rate', 'no predictions', 'mean_proba', 'no predictions');
        END IF;
        IF v.labelled = 0 THEN
            reasons := reasons || jsonb_build_object(
                'observed_positive_rate', 'no labelled predictions (true_class is null in every row)',
                'roc_auc', 'no labelled predictions (true_class is null in every row)',
                'average_precision', 'no labelled predictions (true_class is null in every row)',
                'log_loss', 'no labelled predictions (true_class is null in every row)',
                'brier_score', 'no labelled predictions (true_class is null in every row)',
                'accuracy', 'no labelled predictions (true_class is null in every row)');
        ELSE
            IF n_pos = 0 OR n_neg = 0 THEN
                reasons := reasons || jsonb_build_object('roc_auc',
                    format('the labelled predictions have one class only (%s); ROC AUC needs both',
                           CASE WHEN n_pos = 0 THEN 'true_class 0' ELSE 'true_class 1' END));
            END IF;
            IF n_pos = 0 THEN
                reasons := reasons || jsonb_build_object('average_precision', 'no labelled prediction has true_class 1');
            END IF;
            IF NOT ranking THEN
                reasons := reasons || jsonb_build_object('roc_auc', 'not computed', 'average_precision', 'not computed');
            END IF;
        END IF;
        IF v.tp + v.fp = 0 THEN
            reasons := reasons || jsonb_build_object('precision', CASE WHEN v.labelled = 0
                THEN 'no labelled predictions (true_class is null in every row)'
                ELSE 'no labelled prediction has predicted_class true' END);
        END IF;
        IF v.tp + v.fn = 0 THEN
            reasons := reasons || jsonb_build_object('recall', CASE WHEN v.labelled = 0
                THEN 'no labelled predictions (true_class is null in every row)'
                ELSE 'no labelled prediction has true_class 1' END);
        END IF;
        IF 2 * v.tp + v.fp + v.fn = 0 THEN
            reasons := reasons || jsonb_build_object('f1', CASE WHEN v.labelled = 0
                THEN 'no labelled predictions (true_class is null in every row)'
                ELSE 'no positives, predicted or labelled' END);
        END IF;

        -- the probability against the reference's histogram
        psi := NULL;
        IF ref IS NOT NULL AND v.n > 0 THEN
            SELECT sum(predict_internal.report_psi_term(coalesce(h.n, 0)::float8 / v.n, f.x::float8))
              INTO psi
              FROM jsonb_array_elements_text(ref #> '{proba,fractions}') WITH ORDINALITY AS f(x, j)
              LEFT JOIN (SELECT (e->>0)::integer AS b, (e->>1)::bigint AS n FROM jsonb_array_elements(v.histogram) AS e) AS h
                ON h.b = f.j - 1;
        END IF;
        SELECT jsonb_build_object(
                   'feature', '(probability)',
                   'kind', 'probability',
                   'psi', psi,
                   'reading', predict_internal.report_reading(psi),
                   'rows', v.n,
                   'missing_rate', NULL, 'reference_missing_rate', NULL, 'unseen_rows', NULL, 'unseen_rate', NULL,
                   'unseen_values', NULL, 'reference_other', NULL,
                   'reason', CASE WHEN ref IS NULL THEN 'the model version has no reference (export it with --reference)'
                                  WHEN v.n = 0 THEN 'no predictions' END,
                   'bins', CASE WHEN ref IS NOT NULL THEN (
                       SELECT jsonb_agg(jsonb_build_object(
                                  'bin', f.j - 1,
                                  'label', CASE WHEN f.j = 1 THEN '< ' || (ref #>> ARRAY['proba', 'edges', '0'])::float8
                                                WHEN f.j = m THEN '>= ' || (ref #>> ARRAY['proba', 'edges', (m - 2)::text])::float8
                                                ELSE '[' || (ref #>> ARRAY['proba', 'edges', (f.j - 2)::text])::float8 || ', '
                                                     || (ref #>> ARRAY['proba', 'edges', (f.j - 1)::text])::float8 || ')' END,
                                  'lower', CASE WHEN f.j > 1 THEN (ref #>> ARRAY['proba', 'edges', (f.j - 2)::text])::float8 END,
                                  'upper', CASE WHEN f.j < m THEN (ref #>> ARRAY['proba', 'edges', (f.j - 1)::text])::float8 END,
                                  'reference', f.x::float8,
                                  'rows', coalesce(h.n, 0),
                                  'fraction', CASE WHEN v.n > 0 THEN coalesce(h.n, 0)::float8 / v.n END) ORDER BY f.j)
                         FROM jsonb_array_elements_text(ref #> '{proba,fractions}') WITH ORDINALITY AS f(x, j)
                        CROSS JOIN LATERAL jsonb_array_length(ref #> '{proba,fractions}') AS m
                         LEFT JOIN (SELECT (e->>0)::integer AS b, (e->>1)::bigint AS n
                                      FROM jsonb_array_elements(v.histogram) AS e) AS h ON h.b = f.j - 1) END)
          INTO proba_feature;
        drift := jsonb_build_object(
            'reference_rows', (ref->>'rows')::bigint,
            'features', jsonb_build_array(proba_feature)
                        || CASE WHEN columns AND doc IS NOT NULL
                                THEN predict_internal.report_columns(model_name, v.ver, since, until, doc, v.n)
                                ELSE '[]' END);

        versions := versions || jsonb_build_object(
            'version', v.ver,
            'active', v.ver IS NOT DISTINCT FROM active,
            'threshold', threshold,
            'first_at', v.first_at,
            'last_at', v.last_at,
            'metrics', metrics,
            'reasons', reasons,
            'calibration', v.calibration,
            'drift', drift,
            'daily', v.daily);
    END LOOP;

    RETURN jsonb_build_object('model', model_name, 'since', since, 'until', until,
                              'active_version', active, 'calibration_bins', bins, 'versions', versions);
END
$$;

-- The report of a model (the default one when model is NULL) over the
-- predictions created in [since, until), as one jsonb document.
CREATE OR REPLACE FUNCTION @extschema@.predict_report(model text DEFAULT NULL,
    since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL)
RETURNS jsonb LANGUAGE sql STABLE PARALLEL RESTRICTED
RETURN predict_internal.report(model, since, until, 10, true, true);

-- The metrics of each version, one row per metric (null with a reason).
CREATE OR REPLACE FUNCTION @extschema@.predict_report_metrics(model text DEFAULT NULL,
    since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL)
RETURNS TABLE (model_version integer, metric text, value double precision, reason text)
LANGUAGE sql STABLE PARALLEL RESTRICTED
BEGIN ATOMIC
    SELECT (v->>'version')::integer, m.key, (m.value #>> '{}')::float8, v #>> ARRAY['reasons', m.key]
      FROM jsonb_array_elements(predict_internal.report(model, since, until, 10, true, false) -> 'versions') AS v
     CROSS JOIN LATERAL jsonb_each(v->'metrics') AS m(key, value)
     ORDER BY 1, array_position(ARRAY['rows', 'labelled_rows', 'positive_rate', 'mean_proba', 'observed_positive_rate',
                                      'roc_auc', 'average_precision', 'log_loss', 'brier_score', 'accuracy',
                                      'precision', 'recall', 'f1', 'true_negatives', 'false_positives',
                                      'false_negatives', 'true_positives'], m.key);
END;

-- The calibration table of each version (labelled rows, non-empty bins):
-- scikit-learn's calibration_curve(y, p, n_bins=bins, strategy="uniform").
CREATE OR REPLACE FUNCTION @extschema@.predict_report_calibration(model text DEFAULT NULL,
    since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL, bins integer DEFAULT 10)
RETURNS TABLE (model_version integer, bin integer, lower double precision, upper double precision,
               rows bigint, mean_proba double precision, observed_rate double precision)
LANGUAGE sql STABLE PARALLEL RESTRICTED
BEGIN ATOMIC
    SELECT (v->>'version')::integer, (c->>'bin')::integer, (c->>'lower')::float8, (c->>'upper')::float8,
           (c->>'rows')::bigint, (c->>'mean_proba')::float8, (c->>'observed_rate')::float8
      FROM jsonb_array_elements(predict_internal.report(model, since, until, bins, false, false) -> 'versions') AS v
     CROSS JOIN LATERAL jsonb_array_elements(v->'calibration') AS c
     ORDER BY 1, 2;
END;

-- The population stability index of the probability and of each input
-- column, per version, against the version's reference.
CREATE OR REPLACE FUNCTION @extschema@.predict_report_psi(model text DEFAULT NULL,
    since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL)
RETURNS TABLE (model_version integer, feature text, kind text, psi double precision, reading text,
               rows bigint, missing_rate double precision, reference_missing_rate double precision,
               unseen_rows bigint, unseen_rate double precision, unseen_values text, reason text)
LANGUAGE sql STABLE PARALLEL RESTRICTED
BEGIN ATOMIC
    SELECT (v->>'version')::integer, f->>'feature', f->>'kind', (f->>'psi')::float8, f->>'reading',
           (f->>'rows')::bigint, (f->>'missing_rate')::float8, (f->>'reference_missing_rate')::float8,
           (f->>'unseen_rows')::bigint, (f->>'unseen_rate')::float8,
           (SELECT string_agg(format('%s (%s)', u->>'value', u->>'rows'), ', ' ORDER BY i)
              FROM jsonb_array_elements(CASE jsonb_typeof(f->'unseen_values') WHEN 'array' THEN f->'unseen_values' END)
                   WITH ORDINALITY AS x(u, i)),
           f->>'reason'
      FROM jsonb_array_elements(predict_internal.report(model, since, until, 10, false, true) -> 'versions') AS v
     CROSS JOIN LATERAL jsonb_array_elements(v #> '{drift,features}') WITH ORDINALITY AS d(f, i)
     ORDER BY 1, d.i;
END;

-- The bins behind each PSI: the reference's fraction and the predictions'.
CREATE OR REPLACE FUNCTION @extschema@.predict_report_bins(model text DEFAULT NULL,
    since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL)
RETURNS TABLE (model_version integer, feature text, bin integer, label text, reference double precision,
               fraction double precision, rows bigint)
LANGUAGE sql STABLE PARALLEL RESTRICTED
BEGIN ATOMIC
    SELECT (v->>'version')::integer, f->>'feature', (b->>'bin')::integer, b->>'label', (b->>'reference')::float8,
           (b->>'fraction')::float8, (b->>'rows')::bigint
      FROM jsonb_array_elements(predict_internal.report(model, since, until, 10, false, true) -> 'versions') AS v
     CROSS JOIN LATERAL jsonb_array_elements(v #> '{drift,features}') WITH ORDINALITY AS d(f, i)
     CROSS JOIN LATERAL jsonb_array_elements(CASE jsonb_typeof(f->'bins') WHEN 'array' THEN f->'bins' END)
           WITH ORDINALITY AS x(b, j)
     ORDER BY 1, d.i, x.j;
END;

-- The predictions per day (in the session's time zone) of each version.
CREATE OR REPLACE FUNCTION @extschema@.predict_report_daily(model text DEFAULT NULL,
    since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL)
RETURNS TABLE (model_version integer, day date, rows bigint, labelled_rows bigint, positive_rate double precision,
               mean_proba double precision, observed_positive_rate double precision)
LANGUAGE sql STABLE PARALLEL RESTRICTED
BEGIN ATOMIC
    SELECT (v->>'version')::integer, (d->>'day')::date, (d->>'rows')::bigint, (d->>'labelled_rows')::bigint,
           (d->>'positive_rate')::float8, (d->>'mean_proba')::float8, (d->>'observed_positive_rate')::float8
      FROM jsonb_array_elements(predict_internal.report(model, since, until, 10, false, false) -> 'versions') AS v
     CROSS JOIN LATERAL jsonb_array_elements(v->'daily') AS d
     ORDER BY 1, 2;
END;
/*
 * registry-checks.sql - the active version of a model is one of its
 * versions, and an active version stays: triggers, the same in both
 * PostgreSQL modes (since the extension's 1.3 and managed mode's 1.4,
 * which had a foreign key), raising the core's errors.
 *
 * pg_dump orders the data of an extension's tables only for a serial
 * restore (by their foreign keys, else by name: the registry first);
 * pg_restore -j loads them in parallel, in any order. So predict_models'
 * versions are checked by a trigger rather than a foreign key, and, as the
 * predictions' trigger does, while a dump loads (pg_restore's sessions, or
 * any COPY: pg_restore under another PGAPPNAME) and the registry is still
 * empty it waits for the registry to be loaded by the restore's other
 * sessions (an INSERT, or any other statement, never waits).
 */
CREATE OR REPLACE FUNCTION predict_internal.models_check()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    waited integer := 0;
    restoring boolean;
BEGIN
    LOOP
        -- (each statement of this volatile function sees what was committed
        -- before it; the registry is loaded whole by one COPY, so a registry
        -- that was not empty before the lookup has all its versions)
        restoring := (current_setting('application_name') = 'pg_restore'
                      OR current_query() ~* '^\s*copy\s')
                     AND NOT EXISTS (SELECT FROM @extschema@.predict_model_versions);
        PERFORM FROM @extschema@.predict_model_versions v
          WHERE v.name = NEW.name AND v.version = NEW.active_version;
        IF FOUND THEN
            RETURN NEW;
        END IF;
        EXIT WHEN NOT restoring;
        PERFORM pg_sleep(0.1);
        waited := waited + 1;
        IF waited % 600 = 0 THEN
            RAISE WARNING 'restored models wait for the model registry, which this restore has not loaded yet'
                USING HINT = 'pg_restore -j loads the extension''s tables in parallel; if predict_model_versions '
                             'is not part of this restore, cancel it and restore the registry first.';
        END IF;
    END LOOP;
    PERFORM predict_internal.registry_raise('active version missing', NEW.name, NEW.active_version);
    RETURN NULL;
END
$$;

-- A version that is active cannot be deleted or renamed.
CREATE OR REPLACE FUNCTION predict_internal.versions_protect()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF (TG_OP = 'DELETE' OR (NEW.name, NEW.version) IS DISTINCT FROM (OLD.name, OLD.version))
       AND EXISTS (SELECT FROM @extschema@.predict_models m
                    WHERE m.name = OLD.name AND m.active_version = OLD.version) THEN
        PERFORM predict_internal.registry_raise('active version deleted', OLD.name, OLD.version);
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;

CREATE OR REPLACE TRIGGER predict_models_check
    BEFORE INSERT OR UPDATE ON @extschema@.predict_models
    FOR EACH ROW EXECUTE FUNCTION predict_internal.models_check();

CREATE OR REPLACE TRIGGER predict_model_versions_protect
    BEFORE UPDATE OR DELETE ON @extschema@.predict_model_versions
    FOR EACH ROW EXECUTE FUNCTION predict_internal.versions_protect();

/*
 * extension-backup.sql - what pg_dump needs of the extension's tables (in
 * the install, and in the upgrade to 1.1); the checks that let pg_restore
 * -j load them in any order are registry-checks.sql's.
 */

-- pg_dump dumps the contents of these tables (they are user data).
SELECT pg_catalog.pg_extension_config_dump('@extschema@.predict_model_versions', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.predict_models', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.predictions', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.predictions_id_seq', '');

/*
 * extension-grants.sql - the privileges of the extension's objects (the
 * last part of the install, and of the upgrade to 1.1).
 */

/*
 * Privileges. The extension is trusted: a role with CREATE on the database
 * may create it, and then owns the extension, while its objects belong to
 * the superuser that ran the script. That role (@extowner@) gets what an
 * owner of the data needs, and may grant it on (tools/grant-gateway.sql,
 * tools/grant-analyst.sql): deploying, reading and writing the registry,
 * logging and deleting predictions (retention), restoring them (pg_restore
 * as the database's owner). No role may change a scored column
 * (predictions_protect) or disable the triggers.
 */
REVOKE EXECUTE ON FUNCTION @extschema@.predict_deploy(text, jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION @extschema@.predict_deploy(text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION @extschema@.predict_activate(text, integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION @extschema@.predict_set_default(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.predict_deploy(text, jsonb), @extschema@.predict_deploy(text, text),
                          @extschema@.predict_activate(text, integer), @extschema@.predict_set_default(text)
    TO @extowner@ WITH GRANT OPTION;
GRANT SELECT, INSERT, UPDATE, DELETE ON @extschema@.predict_model_versions, @extschema@.predict_models
    TO @extowner@ WITH GRANT OPTION;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON @extschema@.predictions TO @extowner@ WITH GRANT OPTION;
GRANT USAGE, SELECT, UPDATE ON SEQUENCE @extschema@.predictions_id_seq TO @extowner@ WITH GRANT OPTION;
-- the reports' view of the registry (report.sql)
GRANT EXECUTE ON FUNCTION predict_internal.report_model(text), predict_internal.report_versions(text)
    TO @extowner@ WITH GRANT OPTION;
