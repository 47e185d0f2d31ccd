/*
 * managed.sql - the predict schema for PostgreSQL databases where the C
 * extension cannot be installed (Heroku Postgres and other managed services).
 *
 * The gateway runs this script in "managed mode", with @extschema@ replaced
 * by the schema's quoted name. It creates the same tables, columns,
 * constraints and triggers as the extension (sql/predict--1.0.sql), with
 * PL/pgSQL in place of the C functions. Scoring uses one PL/pgSQL function
 * per model version, compiled from the model by the C core
 * (src/sql_codegen.c) when the version is deployed; the helper functions
 * below (predict__*) are what the compiled functions call. Results equal
 * the C scorer's, and errors carry the same messages and SQLSTATEs.
 *
 * Everything is idempotent (IF NOT EXISTS, OR REPLACE) so that several
 * gateways may run it; the gateway serialises them with an advisory lock,
 * and runs it only when predict__schema_version() is missing or differs from
 * its own (so that a gateway whose role has only the grants of
 * tools/grant-gateway.sql starts without the owner's privileges).
 */

CREATE TABLE IF NOT EXISTS @extschema@.predict_model_versions (
    name text NOT NULL CHECK (name ~ '^[A-Za-z0-9_.-]{1,63}$'),
    version integer NOT NULL CHECK (version > 0),
    model jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    deployed_by text NOT NULL DEFAULT current_user,
    PRIMARY KEY (name, version)
);

CREATE TABLE IF NOT EXISTS @extschema@.predict_models (
    name text PRIMARY KEY,
    active_version integer NOT NULL,
    is_default boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (name, active_version)
        REFERENCES @extschema@.predict_model_versions (name, version)
);

CREATE UNIQUE INDEX IF NOT EXISTS predict_models_one_default
    ON @extschema@.predict_models (is_default) WHERE is_default;

CREATE TABLE IF NOT EXISTS @extschema@.predictions (
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

/* ---------- helpers of the compiled scorers ---------- */

-- The version of this script, which the gateway compares with its own.
CREATE OR REPLACE FUNCTION @extschema@.predict__schema_version()
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT '1.0' $$;

-- Raise a scoring error: the core's message, SQLSTATE 22023 as the extension.
CREATE OR REPLACE FUNCTION @extschema@.predict__fail(message text)
RETURNS void LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = message;
END
$$;

-- The core's predict_quote: at most 40 bytes, escaped, cut on a UTF-8
-- boundary, within a buffer of size bytes.
CREATE OR REPLACE FUNCTION @extschema@.predict__quote(s text, size integer)
RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    b bytea := convert_to(s, 'UTF8');
    len integer := length(b);
    result text := '"';
    used integer := 1;
    i integer := 0;
    c integer;
    n integer;
BEGIN
    WHILE i < len AND i < 40 AND used + 8 < size LOOP
        c := get_byte(b, i);
        IF c = 34 OR c = 92 THEN
            result := result || '\' || chr(c);
            used := used + 2;
            i := i + 1;
        ELSIF c < 32 OR c = 127 THEN
            result := result || '\u' || lpad(to_hex(c), 4, '0');
            used := used + 6;
            i := i + 1;
        ELSIF c < 128 THEN
            result := result || chr(c);
            used := used + 1;
            i := i + 1;
        ELSE
            n := CASE WHEN c >= 240 THEN 4 WHEN c >= 224 THEN 3 ELSE 2 END;
            EXIT WHEN used + n + 4 >= size;
            result := result || convert_from(substring(b FROM i + 1 FOR n), 'UTF8');
            used := used + n;
            i := i + n;
        END IF;
    END LOOP;
    IF i < len AND used + 4 < size THEN
        result := result || '...';
    END IF;
    RETURN result || '"';
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.predict__kind(v jsonb)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE jsonb_typeof(v)
        WHEN 'object' THEN 'an object' WHEN 'array' THEN 'an array'
        WHEN 'string' THEN 'a string' WHEN 'number' THEN 'a number'
        WHEN 'boolean' THEN 'a boolean' ELSE 'null' END
$$;

CREATE OR REPLACE FUNCTION @extschema@.predict__not_object(obs jsonb)
RETURNS void LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    PERFORM @extschema@.predict__fail('observation: expected a JSON object, got '
                                      || @extschema@.predict__kind(obs));
END
$$;

-- A jsonb number as the nearest double, as strtod reads its decimal text:
-- beyond the largest double (from its rounding midpoint up) it is infinite
-- and below half the smallest subnormal it is 0, where float8 casts raise.
CREATE OR REPLACE FUNCTION @extschema@.predict__exact_double(n numeric)
RETURNS float8 LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
    IF abs(n) >= 179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792 THEN
        RETURN CASE WHEN n > 0 THEN 'Infinity'::float8 ELSE '-Infinity'::float8 END;
    END IF;
    IF abs(n) < 1e-300 AND abs(n) * (2::numeric ^ 1075) <= 1 THEN
        RETURN 0.0::float8;
    END IF;
    RETURN n::float8;
END
$$;

-- A string read as Python's float() reads it (ASCII; see docs/model-format.md).
CREATE OR REPLACE FUNCTION @extschema@.predict__parse_number(s text, label text)
RETURNS float8 LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    t text := btrim(s, E' \t\n\r\f\x0b');   -- Python's float() strips these
    n numeric;
BEGIN
    IF octet_length(t) <= 512 THEN
        IF t ~* '^[+-]?(inf|infinity)$' THEN
            RETURN CASE WHEN left(t, 1) = '-' THEN '-Infinity'::float8 ELSE 'Infinity'::float8 END;
        ELSIF t ~* '^[+-]?nan$' THEN
            RETURN 'NaN'::float8;
        ELSIF t ~ '^[+-]?([0-9](_?[0-9])*(\.([0-9](_?[0-9])*)?)?|\.[0-9](_?[0-9])*)([eE][+-]?[0-9](_?[0-9])*)?$' THEN
            BEGIN
                n := replace(t, '_', '')::numeric;
            EXCEPTION WHEN numeric_value_out_of_range OR program_limit_exceeded THEN
                -- an exponent beyond numeric's range: infinite or zero, as strtod
                n := NULL;
            END;
            IF n IS NULL THEN
                IF substring(t FROM '[eE]([+-]?)') = '-' THEN
                    RETURN 0.0::float8;
                END IF;
                RETURN CASE WHEN left(t, 1) = '-' THEN '-Infinity'::float8 ELSE 'Infinity'::float8 END;
            END IF;
            RETURN @extschema@.predict__exact_double(n);
        END IF;
    END IF;
    PERFORM @extschema@.predict__fail(label || ': expected a number, got the string '
                                      || @extschema@.predict__quote(s, 80));
    RETURN NULL;
END
$$;

-- A value of a "number" column: NaN when missing.
CREATE OR REPLACE FUNCTION @extschema@.predict__read_number(v jsonb, label text)
RETURNS float8 LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    CASE jsonb_typeof(v)
        WHEN 'number' THEN RETURN @extschema@.predict__exact_double(v::numeric);
        WHEN 'string' THEN RETURN @extschema@.predict__parse_number(v #>> '{}', label);
        WHEN 'boolean' THEN RETURN CASE WHEN v::boolean THEN 1.0::float8 ELSE 0.0::float8 END;
        WHEN 'object', 'array' THEN
            PERFORM @extschema@.predict__fail(label || ': expected a number, got '
                                              || @extschema@.predict__kind(v));
        ELSE NULL;
    END CASE;
    RETURN 'NaN'::float8;
END
$$;

-- A value of a "string" column: a string s, or a number x (NaN when missing).
CREATE OR REPLACE FUNCTION @extschema@.predict__read_cell(v jsonb, label text, OUT s text, OUT x float8)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    CASE jsonb_typeof(v)
        WHEN 'string' THEN s := v #>> '{}';
        WHEN 'number' THEN x := @extschema@.predict__exact_double(v::numeric);
        WHEN 'boolean' THEN x := CASE WHEN v::boolean THEN 1.0::float8 ELSE 0.0::float8 END;
        WHEN 'object', 'array' THEN
            PERFORM @extschema@.predict__fail(label || ': expected a string or a number, got '
                                              || @extschema@.predict__kind(v));
        ELSE x := 'NaN'::float8;
    END CASE;
END
$$;

-- x * y and x / y for |x| < 1e-290, where PostgreSQL raises "underflow"
-- when C rounds to zero: scaled by 2^600 (exact), computed, scaled back.
-- The result is C's for every normal result; below that (subnormal) it can
-- differ from C's by the last subnormal step, far below any probability.
CREATE OR REPLACE FUNCTION @extschema@.predict__tiny_product(x float8, y float8)
RETURNS float8 LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    p float8;
BEGIN
    IF x = 0 OR y = 0 OR x <> x THEN
        RETURN x * y;
    END IF;
    p := (x * 4.149515568880993e+180::float8) * y;      -- 2^600
    IF abs(p) < 2.0501330894674953e-143 THEN            -- below 2^-474: under 2^-1074 once scaled back
        RETURN 0.0::float8;
    END IF;
    RETURN p * 2.409919865102884e-181::float8;          -- 2^-600
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.predict__tiny_quotient(x float8, y float8)
RETURNS float8 LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    p float8;
BEGIN
    IF x = 0 OR x <> x THEN
        RETURN x / y;
    END IF;
    p := (x * 4.149515568880993e+180::float8) / y;
    IF abs(p) < 2.0501330894674953e-143 THEN
        RETURN 0.0::float8;
    END IF;
    RETURN p * 2.409919865102884e-181::float8;
END
$$;

-- x * y, x / y and x + y where C overflows to infinity and PostgreSQL
-- raises: computed on operands scaled by 2^-600 (or halved, for sums),
-- which is exact for such large values, and infinite exactly where C's
-- result is (from the midpoint between the largest double and 2^1024 up).
CREATE OR REPLACE FUNCTION @extschema@.predict__big_product(x float8, y float8)
RETURNS float8 LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    p float8;
BEGIN
    IF x = 'NaN' OR y = 'NaN' OR x IN ('Infinity', '-Infinity') OR y IN ('Infinity', '-Infinity')
       OR abs(x) <= 1 OR abs(y) <= 1 THEN
        RETURN x * y;
    END IF;
    p := (x * 2.409919865102884e-181::float8) * y;
    IF abs(p) >= 4.332296397063773e+127::float8 THEN    -- 2^424: 2^1024 once scaled back
        RETURN CASE WHEN p > 0 THEN 'Infinity'::float8 ELSE '-Infinity'::float8 END;
    END IF;
    RETURN p * 4.149515568880993e+180::float8;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.predict__big_quotient(x float8, y float8)
RETURNS float8 LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    p float8;
BEGIN
    IF x = 'NaN' OR x IN ('Infinity', '-Infinity') OR abs(y) >= 1 THEN
        RETURN x / y;
    END IF;
    p := (x * 2.409919865102884e-181::float8) / y;
    IF abs(p) >= 4.332296397063773e+127::float8 THEN
        RETURN CASE WHEN p > 0 THEN 'Infinity'::float8 ELSE '-Infinity'::float8 END;
    END IF;
    RETURN p * 4.149515568880993e+180::float8;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.predict__sum(x float8, y float8)
RETURNS float8 LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    h float8;
BEGIN
    IF x = 'NaN' OR y = 'NaN' OR x IN ('Infinity', '-Infinity') OR y IN ('Infinity', '-Infinity') THEN
        RETURN x + y;           -- no overflow check on infinite operands
    END IF;
    h := x * 0.5::float8 + y * 0.5::float8;
    IF abs(h) >= 8.98846567431158e+307::float8 THEN      -- 2^1023: 2^1024 once doubled
        RETURN CASE WHEN h > 0 THEN 'Infinity'::float8 ELSE '-Infinity'::float8 END;
    END IF;
    RETURN h * 2.0::float8;
END
$$;

-- A value as an unknown-category message shows it.
CREATE OR REPLACE FUNCTION @extschema@.predict__shown(s text, x float8)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET extra_float_digits = 1 AS $$
    SELECT CASE WHEN s IS NOT NULL THEN @extschema@.predict__quote(s, 100)
                WHEN x = 'NaN' THEN '(missing)'
                ELSE x::text END
$$;

-- HistGradientBoosting's category code (src/score.c, category_code).
CREATE OR REPLACE FUNCTION @extschema@.predict__category_code(x float8)
RETURNS integer LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN x = 'NaN' OR x < 0 THEN 256
                WHEN x < 2147483648 THEN (trunc(x)::bigint & 255)::integer
                ELSE 0 END
$$;

-- scipy's expit; exp() is only called where it neither overflows nor
-- underflows (PostgreSQL raises there, C returns the limit).
CREATE OR REPLACE FUNCTION @extschema@.predict__expit(d float8)
RETURNS float8 LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN d > 700 THEN 1.0::float8
                WHEN d < -709.78 THEN 0.0::float8
                ELSE 1.0::float8 / (1.0::float8 + exp(-d)) END
$$;

/* ---------- registry ---------- */

-- The compiled scorer of a model version (named by a hash: model names may
-- be 63 bytes long).
CREATE OR REPLACE FUNCTION @extschema@.predict__function_name(name text, version integer)
RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT 'predict__m_' || left(md5(name), 16) || '_' || version
$$;

-- The active version of a model (the default one when requested is NULL).
CREATE OR REPLACE FUNCTION @extschema@.predict__resolve(requested text,
    OUT name text, OUT version integer, OUT threshold float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    SELECT m.name, m.active_version, coalesce((v.model->>'threshold')::float8, 0.5)
      INTO name, version, threshold
      FROM @extschema@.predict_models m
      JOIN @extschema@.predict_model_versions v
        ON v.name = m.name AND v.version = m.active_version
     WHERE CASE WHEN requested IS NULL THEN m.is_default ELSE m.name = requested END;
    IF NOT FOUND THEN
        IF requested IS NULL THEN
            RAISE EXCEPTION 'no default model is deployed' USING ERRCODE = '55000',
                HINT = 'Deploy one first: the gateway deploys PREDICT_MODEL when it starts, or run bin/predict-gateway --deploy NAME=FILE; the first model deployed becomes the default.';
        END IF;
        RAISE EXCEPTION 'model "%" does not exist', requested USING ERRCODE = '42704',
            HINT = format('Deploy it first: bin/predict-gateway --deploy %s=/path/to/model.json', requested);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.predict__score(obs jsonb, name text, version integer)
RETURNS float8 LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    p float8;
BEGIN
    EXECUTE format('SELECT %I.%I($1)', '@extschema_name@',
                   @extschema@.predict__function_name(name, version))
       INTO p USING obs;
    RETURN p;
END
$$;

/*
 * Store a validated model and its compiled scorer (the CREATE FUNCTION
 * statement made by the C core, with @function@ standing for the
 * function's name) as the next version of name; make it active, and the
 * default model if there is none. The client validates and compiles
 * (the gateway's --deploy); deploying is the owner's privilege.
 */
CREATE OR REPLACE FUNCTION @extschema@.predict__deploy_compiled(name text, model jsonb, compiled text)
RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    next_version integer;
BEGIN
    IF name IS NULL OR model IS NULL OR compiled IS NULL THEN
        RAISE EXCEPTION 'model name, document and compiled scorer must not be null' USING ERRCODE = '22004';
    END IF;
    IF name !~ '^[A-Za-z0-9_.-]{1,63}$' THEN
        RAISE EXCEPTION 'invalid model name "%"', name USING ERRCODE = '22023',
            DETAIL = 'A model name is 1 to 63 characters among letters, digits, "_", "." and "-".';
    END IF;
    LOCK TABLE @extschema@.predict_models IN SHARE ROW EXCLUSIVE MODE;
    SELECT coalesce(max(v.version), 0) + 1 INTO next_version
      FROM @extschema@.predict_model_versions v WHERE v.name = predict__deploy_compiled.name;
    EXECUTE replace(compiled, '@function@',
                    format('%I.%I', '@extschema_name@', @extschema@.predict__function_name(name, next_version)));
    INSERT INTO @extschema@.predict_model_versions (name, version, model)
         VALUES (name, next_version, model);
    INSERT INTO @extschema@.predict_models AS m (name, active_version, is_default)
         VALUES (name, next_version,
                 NOT EXISTS (SELECT 1 FROM @extschema@.predict_models d WHERE d.is_default))
    ON CONFLICT ON CONSTRAINT predict_models_pkey
       DO UPDATE SET active_version = excluded.active_version, updated_at = now();
    RETURN next_version;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.predict_activate(name text, version integer)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF name IS NULL THEN
        RAISE EXCEPTION 'model name must not be null' USING ERRCODE = '22004';
    END IF;
    IF version IS NULL THEN
        RAISE EXCEPTION 'model version must not be null' USING ERRCODE = '22004';
    END IF;
    LOCK TABLE @extschema@.predict_models IN SHARE ROW EXCLUSIVE MODE;
    IF NOT EXISTS (SELECT 1 FROM @extschema@.predict_model_versions v
                    WHERE v.name = predict_activate.name AND v.version = predict_activate.version) THEN
        RAISE EXCEPTION 'model "%" has no version %', name, version USING ERRCODE = '42704';
    END IF;
    UPDATE @extschema@.predict_models m SET active_version = predict_activate.version, updated_at = now()
     WHERE m.name = predict_activate.name;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.predict_set_default(name text)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF name IS NULL THEN
        RAISE EXCEPTION 'model name must not be null' USING ERRCODE = '22004';
    END IF;
    LOCK TABLE @extschema@.predict_models IN SHARE ROW EXCLUSIVE MODE;
    IF NOT EXISTS (SELECT 1 FROM @extschema@.predict_models m WHERE m.name = predict_set_default.name) THEN
        RAISE EXCEPTION 'model "%" does not exist', name USING ERRCODE = '42704';
    END IF;
    UPDATE @extschema@.predict_models m SET is_default = false WHERE m.is_default AND m.name <> predict_set_default.name;
    UPDATE @extschema@.predict_models m SET is_default = true, updated_at = now()
     WHERE m.name = predict_set_default.name AND NOT m.is_default;
END
$$;

REVOKE EXECUTE ON FUNCTION @extschema@.predict__deploy_compiled(text, jsonb, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION @extschema@.predict_activate(text, integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION @extschema@.predict_set_default(text) FROM PUBLIC;

/* ---------- scoring ---------- */

CREATE OR REPLACE FUNCTION @extschema@.predict_proba(obs jsonb)
RETURNS double precision LANGUAGE plpgsql STRICT STABLE PARALLEL SAFE AS $$
DECLARE
    r record;
BEGIN
    r := @extschema@.predict__resolve(NULL);
    RETURN @extschema@.predict__score(obs, r.name, r.version);
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.predict_proba(obs jsonb, model text)
RETURNS double precision LANGUAGE plpgsql STRICT STABLE PARALLEL SAFE AS $$
DECLARE
    r record;
BEGIN
    r := @extschema@.predict__resolve(model);
    RETURN @extschema@.predict__score(obs, r.name, r.version);
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.predict_class(obs jsonb)
RETURNS boolean LANGUAGE plpgsql STRICT STABLE PARALLEL SAFE AS $$
DECLARE
    r record;
BEGIN
    r := @extschema@.predict__resolve(NULL);
    RETURN @extschema@.predict__score(obs, r.name, r.version) >= r.threshold;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.predict_class(obs jsonb, model text)
RETURNS boolean LANGUAGE plpgsql STRICT STABLE PARALLEL SAFE AS $$
DECLARE
    r record;
BEGIN
    r := @extschema@.predict__resolve(model);
    RETURN @extschema@.predict__score(obs, r.name, r.version) >= r.threshold;
END
$$;

/* ---------- the predictions log ---------- */

-- BEFORE INSERT: score with the default model, whatever the client supplied.
CREATE OR REPLACE FUNCTION @extschema@.predictions_score()
RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    IF NEW.observation IS NULL THEN
        RETURN NEW;             -- the NOT NULL constraint reports it
    END IF;
    r := @extschema@.predict__resolve(NULL);
    NEW.proba := @extschema@.predict__score(NEW.observation, r.name, r.version);
    NEW.predicted_class := NEW.proba >= r.threshold;
    NEW.model := r.name;
    NEW.model_version := r.version;
    RETURN NEW;
END
$$;

-- BEFORE UPDATE: predictions are an audit log; only true_class may change.
CREATE OR REPLACE FUNCTION @extschema@.predictions_protect()
RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_row jsonb := to_jsonb(OLD);
    new_row jsonb := to_jsonb(NEW);
    col name;
BEGIN
    FOR col IN SELECT a.attname FROM pg_catalog.pg_attribute a
                WHERE a.attrelid = TG_RELID AND a.attnum > 0 AND NOT a.attisdropped
                  AND a.attname NOT IN ('true_class', 'updated_at')
                ORDER BY a.attnum LOOP
        IF old_row -> col IS DISTINCT FROM new_row -> col THEN
            RAISE EXCEPTION 'column "%" of relation "%" cannot be changed', col, TG_TABLE_NAME
                USING ERRCODE = '42501',
                      DETAIL = 'Predictions are an audit log: only true_class can be updated.';
        END IF;
    END LOOP;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger
                    WHERE tgrelid = '@extschema@.predictions'::regclass AND tgname = 'predictions_score') THEN
        CREATE TRIGGER predictions_score
            BEFORE INSERT ON @extschema@.predictions
            FOR EACH ROW EXECUTE FUNCTION @extschema@.predictions_score();
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger
                    WHERE tgrelid = '@extschema@.predictions'::regclass AND tgname = 'predictions_protect') THEN
        CREATE TRIGGER predictions_protect
            BEFORE UPDATE ON @extschema@.predictions
            FOR EACH ROW EXECUTE FUNCTION @extschema@.predictions_protect();
    END IF;
END
$$;

/*
 * The monitoring reports (docs/monitoring.md) come next: mk/gateway.mk
 * appends the extension's own report functions (the block between
 * "-- BEGIN REPORT" and "-- END REPORT" of sql/predict--1.0.sql), so that
 * both modes run one copy of them.
 */
