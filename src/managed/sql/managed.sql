/*
 * managed.sql - the functions of the predict schema for PostgreSQL
 * databases where the C extension cannot be installed (Heroku Postgres and
 * other managed services): "managed mode" of the gateway.
 *
 * The same user-facing functions as the extension (src/pg/sql/extension.sql)
 * in the schema of the tables (@extschema@, replaced by the gateway), in
 * PL/pgSQL; scoring uses one PL/pgSQL function per model version, compiled
 * from the model by the C core (src/managed/sql_codegen.c) when the version is
 * deployed. Internal functions, the compiled scorers among them, live in
 * schema predict_internal. Results equal the C scorer's, and errors carry
 * the same messages and SQLSTATEs.
 *
 * Every function is CREATE OR REPLACE: the gateway runs this part both for a
 * new schema and to migrate an older one (mk/gateway.mk puts the pieces
 * together; pg_setup.c runs them in one transaction, with search_path set to
 * pg_catalog, pg_temp). Every PL/pgSQL function runs with that search_path;
 * SQL functions have SQL-standard bodies, bound when created.
 */

/* ---------- helpers of the compiled scorers ---------- */

-- Raise a scoring error: the core's message, SQLSTATE 22023 as the extension.
-- It never returns: its type lets an expression raise. STABLE, so that the
-- planner never evaluates it ahead of time on constant arguments (the readers
-- below are inlined with their constant labels).
CREATE OR REPLACE FUNCTION predict_internal.fail(message text)
RETURNS float8 LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = message;
END
$$;

-- The core's predict_quote: at most 40 bytes, escaped, cut on a UTF-8
-- boundary, within a buffer of size bytes.
CREATE OR REPLACE FUNCTION predict_internal.quote(s text, size integer)
RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
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

CREATE OR REPLACE FUNCTION predict_internal.kind(v jsonb)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE jsonb_typeof(v)
        WHEN 'object' THEN 'an object' WHEN 'array' THEN 'an array'
        WHEN 'string' THEN 'a string' WHEN 'number' THEN 'a number'
        WHEN 'boolean' THEN 'a boolean' ELSE 'null' END;

CREATE OR REPLACE FUNCTION predict_internal.not_object(obs jsonb)
RETURNS void LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM predict_internal.fail('observation: expected a JSON object, got '
                                      || predict_internal.kind(obs));
END
$$;

-- A jsonb number as the nearest double, as strtod reads its decimal text:
-- beyond the largest double (from its rounding midpoint up) it is infinite
-- and below half the smallest subnormal it is 0, where float8 casts raise.
-- (The readers of a column, per row, are SQL expressions that the compiled
-- scorer's statements inline: no call, no SET.)
CREATE OR REPLACE FUNCTION predict_internal.exact_double(n numeric)
RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN abs(n) >= 179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792 THEN
        CASE WHEN n > 0 THEN 'Infinity'::float8 ELSE '-Infinity'::float8 END
    WHEN abs(n) < 1e-300 AND abs(n) * (2::numeric ^ 1075) <= 1 THEN 0.0::float8
    ELSE n::float8 END;

-- A string read as Python's float() reads it (ASCII; see docs/model-format.md).
CREATE OR REPLACE FUNCTION predict_internal.parse_number(s text, label text)
RETURNS float8 LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
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
            RETURN predict_internal.exact_double(n);
        END IF;
    END IF;
    PERFORM predict_internal.fail(label || ': expected a number, got the string '
                                      || predict_internal.quote(s, 80));
    RETURN NULL;
END
$$;

-- A value of a "number" column: NaN when missing.
CREATE OR REPLACE FUNCTION predict_internal.read_number(v jsonb, label text)
RETURNS float8 LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE jsonb_typeof(v)
    WHEN 'number' THEN predict_internal.exact_double(v::numeric)
    WHEN 'string' THEN predict_internal.parse_number(v #>> '{}', label)
    WHEN 'boolean' THEN CASE WHEN v::boolean THEN 1.0::float8 ELSE 0.0::float8 END
    WHEN 'object' THEN predict_internal.fail(label || ': expected a number, got an object')
    WHEN 'array' THEN predict_internal.fail(label || ': expected a number, got an array')
    ELSE 'NaN'::float8 END;

-- A value of a "string" column is a string, or a number (NaN when missing):
-- the string, or NULL ...
CREATE OR REPLACE FUNCTION predict_internal.read_cell_string(v jsonb)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE jsonb_typeof(v) WHEN 'string' THEN v #>> '{}' END;

-- ... and the number, or NULL for a string.
CREATE OR REPLACE FUNCTION predict_internal.read_cell_number(v jsonb, label text)
RETURNS float8 LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE jsonb_typeof(v)
    WHEN 'string' THEN NULL::float8
    WHEN 'number' THEN predict_internal.exact_double(v::numeric)
    WHEN 'boolean' THEN CASE WHEN v::boolean THEN 1.0::float8 ELSE 0.0::float8 END
    WHEN 'object' THEN predict_internal.fail(label || ': expected a string or a number, got an object')
    WHEN 'array' THEN predict_internal.fail(label || ': expected a string or a number, got an array')
    ELSE 'NaN'::float8 END;

-- x * y and x / y for |x| < 1e-290, where PostgreSQL raises "underflow"
-- when C rounds to zero: scaled by 2^600 (exact), computed, scaled back.
-- The result is C's for every normal result; below that (subnormal) it can
-- differ from C's by the last subnormal step, far below any probability.
CREATE OR REPLACE FUNCTION predict_internal.tiny_product(x float8, y float8)
RETURNS float8 LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
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

CREATE OR REPLACE FUNCTION predict_internal.tiny_quotient(x float8, y float8)
RETURNS float8 LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
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
CREATE OR REPLACE FUNCTION predict_internal.big_product(x float8, y float8)
RETURNS float8 LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
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

CREATE OR REPLACE FUNCTION predict_internal.big_quotient(x float8, y float8)
RETURNS float8 LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
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

CREATE OR REPLACE FUNCTION predict_internal.add(x float8, y float8)
RETURNS float8 LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
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
CREATE OR REPLACE FUNCTION predict_internal.shown(s text, x float8)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET extra_float_digits = 1
RETURN CASE WHEN s IS NOT NULL THEN predict_internal.quote(s, 100)
                WHEN x = 'NaN' THEN '(missing)'
                ELSE x::text END;

-- HistGradientBoosting's category code (src/core/score.c, category_code).
CREATE OR REPLACE FUNCTION predict_internal.category_code(x float8)
RETURNS integer LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE WHEN x = 'NaN' OR x < 0 THEN 256
                WHEN x < 2147483648 THEN (trunc(x)::bigint & 255)::integer
                ELSE 0 END;

-- scipy's expit; exp() is only called where it neither overflows nor
-- underflows (PostgreSQL raises there, C returns the limit).
CREATE OR REPLACE FUNCTION predict_internal.expit(d float8)
RETURNS float8 LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE WHEN d > 700 THEN 1.0::float8
                WHEN d < -709.78 THEN 0.0::float8
                ELSE 1.0::float8 / (1.0::float8 + exp(-d)) END;

/*
 * Path-dependent TreeSHAP (src/core/explain_tree.c) over the trees of an
 * estimator, for the compiled explanation functions (<scorer>_explain):
 * phi, per slot, the sum of scale times each tree's attribution, and
 * expected, the sum of scale times each tree's cover-weighted mean leaf
 * value. The trees are arrays over the nodes (numbered from 0 as the core
 * numbers them: each tree's splits, then its leaves): children and slot
 * (-1 for a leaf), cover, leaf value; goes_left is the row's way at each
 * split, by the scorer's own conditions. depth is the deepest tree's.
 *
 * The same operations in the same order as explain_tree.c (each leaf's
 * product game, from the path's features' fractions, without division), so
 * the result is the core's bit for bit: its recursion is a loop over a
 * stack of the calls to come (the hot child's on top of the cold one's),
 * its scratch, one copy of the path per level, the arrays p* (0-based
 * offsets as in C, plus one to index them), and leaf_terms' polynomials
 * the arrays of the leaf's block.
 */
CREATE OR REPLACE FUNCTION predict_internal.tree_shap(roots integer[], lefts integer[], rights integer[],
    slots integer[], covers float8[], leaves float8[], goes_left boolean[], depth integer,
    nslots integer, scale float8, OUT phi float8[], OUT expected float8)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    npath integer := (depth + 2) * (depth + 3) / 2;     -- shap_path_elements
    pslot integer[] := array_fill(0, ARRAY[npath]);
    pzero float8[] := array_fill(0.0::float8, ARRAY[npath]);
    pone float8[] := array_fill(0.0::float8, ARRAY[npath]);
    -- the calls to come: node, parent path's offset and size, the split above
    cnode integer[] := array_fill(0, ARRAY[2 * depth + 4]);
    cparent integer[] := array_fill(0, ARRAY[2 * depth + 4]);
    cn integer[] := array_fill(0, ARRAY[2 * depth + 4]);
    cslot integer[] := array_fill(0, ARRAY[2 * depth + 4]);
    czero float8[] := array_fill(0.0::float8, ARRAY[2 * depth + 4]);
    cone float8[] := array_fill(0.0::float8, ARRAY[2 * depth + 4]);
    -- leaf_terms' arrays, 0-based as in C, plus one
    poly float8[] := array_fill(0.0::float8, ARRAY[depth + 2]);
    weight float8[] := array_fill(0.0::float8, ARRAY[depth + 2]);
    after float8[] := array_fill(0.0::float8, ARRAY[depth + 2]);
    pre float8[] := array_fill(0.0::float8, ARRAY[depth + 2]);
    hot_zero float8[] := array_fill(0.0::float8, ARRAY[depth + 2]);
    g float8[] := array_fill(0.0::float8, ARRAY[(depth + 1) * (depth + 2) / 2 + 1]);
    top integer;
    parent integer;
    tree_expected float8;
    node integer;
    p integer;                  -- this call's path: p + 1 .. p + n
    n integer;
    k integer;
    h integer;
    j integer;
    slot integer;
    hot integer;
    cold integer;
    cover float8;
    value float8;
    coldp float8;
    total float8;
    before float8;
    share float8;
    s float8;
    gk integer;
    gd integer;
BEGIN
    phi := array_fill(0.0::float8, ARRAY[nslots]);
    expected := 0.0;
    FOR t IN 1 .. coalesce(array_length(roots, 1), 0) LOOP
        tree_expected := 0.0;
        top := 1;
        cnode[1] := roots[t]; cparent[1] := 0; cn[1] := 0; cslot[1] := -1;
        czero[1] := 1.0; cone[1] := 1.0;
        WHILE top > 0 LOOP
            node := cnode[top]; n := cn[top]; slot := cslot[top]; parent := cparent[top];
            p := parent + n;
            FOR i IN 0 .. n - 1 LOOP
                pslot[p + i + 1] := pslot[parent + i + 1];
                pzero[p + i + 1] := pzero[parent + i + 1];
                pone[p + i + 1] := pone[parent + i + 1];
            END LOOP;
            IF slot >= 0 THEN
                k := 0;
                WHILE k < n AND pslot[p + k + 1] <> slot LOOP
                    k := k + 1;
                END LOOP;
                IF k = n THEN
                    pslot[p + n + 1] := slot; pzero[p + n + 1] := 1.0; pone[p + n + 1] := 1.0;
                    n := n + 1;
                END IF;
                pzero[p + k + 1] := pzero[p + k + 1] * czero[top];
                pone[p + k + 1] := pone[p + k + 1] * cone[top];
            END IF;
            top := top - 1;

            IF lefts[node + 1] < 0 THEN
                value := leaves[node + 1];
                IF n = 0 THEN
                    tree_expected := tree_expected + value;
                    CONTINUE;
                END IF;
                -- leaf_terms(path, n, value)
                coldp := 1.0; total := 0.0; before := 1.0; h := 0; j := 0;
                poly[1] := 1.0;
                after[n + 1] := 1.0;
                FOR u IN REVERSE n - 1 .. 0 LOOP
                    after[u + 1] := CASE WHEN pone[p + u + 1] = 0 THEN after[u + 2] * pzero[p + u + 1]
                                         ELSE after[u + 2] END;
                END LOOP;
                FOR u IN 0 .. n - 1 LOOP
                    IF pone[p + u + 1] = 0 THEN
                        coldp := coldp * pzero[p + u + 1];
                        CONTINUE;
                    END IF;
                    poly[h + 2] := poly[h + 1];
                    FOR kk IN REVERSE h .. 1 LOOP
                        poly[kk + 1] := poly[kk + 1] * pzero[p + u + 1] + poly[kk];
                    END LOOP;
                    poly[1] := poly[1] * pzero[p + u + 1];
                    h := h + 1;
                    hot_zero[h + 1] := pzero[p + u + 1];
                END LOOP;
                tree_expected := tree_expected + value * coldp * poly[1];
                -- coalition_weights(n, weight)
                weight[1] := 1.0::float8 / n::float8;
                FOR kk IN 0 .. n - 2 LOOP
                    weight[kk + 2] := weight[kk + 1] * (kk + 1)::float8 / (n - kk - 1)::float8;
                END LOOP;
                FOR kk IN 0 .. least(h, n - 1) LOOP
                    total := total + weight[kk + 1] * poly[kk + 1];
                END LOOP;
                IF h > 0 THEN
                    gk := (h - 1) * h / 2;
                    FOR a IN 0 .. h - 1 LOOP
                        g[gk + a + 1] := weight[a + 1];
                    END LOOP;
                    FOR kk IN REVERSE h .. 2 LOOP
                        gk := (kk - 1) * kk / 2;
                        gd := (kk - 2) * (kk - 1) / 2;
                        FOR a IN 0 .. kk - 2 LOOP
                            g[gd + a + 1] := hot_zero[kk + 1] * g[gk + a + 1] + g[gk + a + 2];
                        END LOOP;
                    END LOOP;
                END IF;
                pre[1] := 1.0;
                FOR u IN 0 .. n - 1 LOOP
                    IF pone[p + u + 1] = 0 THEN
                        share := -pzero[p + u + 1] * before * after[u + 2] * total;
                        before := before * pzero[p + u + 1];
                    ELSE
                        gk := j * (j + 1) / 2;
                        s := 0.0;
                        FOR a IN 0 .. j LOOP
                            s := s + pre[a + 1] * g[gk + a + 1];
                        END LOOP;
                        share := (1.0::float8 - pzero[p + u + 1]) * coldp * s;
                        pre[j + 2] := pre[j + 1];
                        FOR kk IN REVERSE j .. 1 LOOP
                            pre[kk + 1] := pre[kk + 1] * pzero[p + u + 1] + pre[kk];
                        END LOOP;
                        pre[1] := pre[1] * pzero[p + u + 1];
                        j := j + 1;
                    END IF;
                    phi[pslot[p + u + 1] + 1] := phi[pslot[p + u + 1] + 1] + scale * value * share;
                END LOOP;
                CONTINUE;
            END IF;

            IF goes_left[node + 1] THEN
                hot := lefts[node + 1]; cold := rights[node + 1];
            ELSE
                hot := rights[node + 1]; cold := lefts[node + 1];
            END IF;
            cover := covers[node + 1];
            -- the cold call waits under the hot one; a way no training row took adds nothing
            IF covers[cold + 1] > 0 THEN
                top := top + 1;
                cnode[top] := cold; cparent[top] := p; cn[top] := n; cslot[top] := slots[node + 1];
                czero[top] := covers[cold + 1] / cover; cone[top] := 0.0;
            END IF;
            top := top + 1;
            cnode[top] := hot; cparent[top] := p; cn[top] := n; cslot[top] := slots[node + 1];
            czero[top] := covers[hot + 1] / cover; cone[top] := 1.0;
        END LOOP;
        expected := expected + scale * tree_expected;
    END LOOP;
END
$$;

/* ---------- registry ---------- */

-- The version of managed mode's schema, which the gateway compares with its
-- own (pg_setup.c, MANAGED_SCHEMA_VERSION).
CREATE OR REPLACE FUNCTION predict_internal.schema_version()
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN '1.10';

-- The schema of the tables and of the user-facing functions (one managed
-- schema per database, as one extension).
CREATE OR REPLACE FUNCTION predict_internal.tables_schema()
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN '@extschema_name@';

/*
 * Gateways before 1.1 looked for the schema through this function in the
 * tables' schema, and re-ran their own script when it returned another
 * version: it stays, and stops them with a message instead.
 */
CREATE OR REPLACE FUNCTION @extschema@.predict__schema_version()
RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION 'this database''s predict schema is version %, newer than this gateway understands',
        predict_internal.schema_version()
        USING ERRCODE = '55000',
              HINT = 'Run a predict-gateway of the same version or later.';
END
$$;

-- The compiled scorer of a model version (named by a hash: model names may
-- be 63 bytes long).
CREATE OR REPLACE FUNCTION predict_internal.function_name(name text, version integer)
RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN 'model_' || left(md5(name), 16) || '_' || version;

/*
 * A version's threshold: the class is proba >= it; absent, 0.5; null, the
 * class is scikit-learn's predict() (docs/model-format.md), which the
 * version's class function computes.
 */
CREATE OR REPLACE FUNCTION predict_internal.threshold(model jsonb)
RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN jsonb_typeof(model->'threshold') = 'null' THEN NULL
            ELSE coalesce((model->>'threshold')::float8, 0.5) END;

/*
 * A version of a model: the active one of requested (of the default model
 * when requested is NULL), or version wanted of it. Reads the registry as
 * its owner, so that scoring needs no privilege on the model documents.
 */
CREATE OR REPLACE FUNCTION predict_internal.resolve(requested text, wanted integer DEFAULT NULL,
    OUT name text, OUT version integer, OUT threshold float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF wanted IS NOT NULL THEN
        SELECT v.name, v.version, predict_internal.threshold(v.model)
          INTO name, version, threshold
          FROM @extschema@.predict_model_versions v
         WHERE v.name = requested AND v.version = wanted;
        IF NOT FOUND THEN
            PERFORM predict_internal.registry_raise('unknown version', requested, wanted);
        END IF;
        RETURN;
    END IF;
    SELECT m.name, m.active_version, predict_internal.threshold(v.model)
      INTO name, version, threshold
      FROM @extschema@.predict_models m
      JOIN @extschema@.predict_model_versions v
        ON v.name = m.name AND v.version = m.active_version
     WHERE CASE WHEN requested IS NULL THEN m.is_default ELSE m.name = requested END;
    IF NOT FOUND THEN
        PERFORM predict_internal.registry_raise(
            CASE WHEN requested IS NULL THEN 'no default model' ELSE 'unknown model' END, requested);
    END IF;
END
$$;

-- A version's probability, by its PL/pgSQL scorer: a dynamic statement,
-- planned on each call, which the inlinable scorer would make costly.
CREATE OR REPLACE FUNCTION predict_internal.score(obs jsonb, name text, version integer)
RETURNS float8 LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    p float8;
BEGIN
    EXECUTE format('SELECT predict_internal.%I($1)', predict_internal.function_name(name, version))
       INTO p USING obs;
    RETURN p;
END
$$;

-- The default model's probability, and a model's, looked up on each call:
-- what default_score and named_score call for a model whose scorer they do
-- not name.
CREATE OR REPLACE FUNCTION predict_internal.resolve_score(obs jsonb)
RETURNS float8 LANGUAGE plpgsql STRICT STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
BEGIN
    r := predict_internal.resolve(NULL);
    RETURN predict_internal.score(obs, r.name, r.version);
END
$$;

CREATE OR REPLACE FUNCTION predict_internal.resolve_score(obs jsonb, model text)
RETURNS float8 LANGUAGE plpgsql STRICT STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
BEGIN
    r := predict_internal.resolve(model);
    RETURN predict_internal.score(obs, r.name, r.version);
END
$$;

/*
 * The default model's probability, class, name and version, looked up on
 * each call: what default_score_class and the log's trigger call when there
 * is no default model with installed scorers.
 */
CREATE OR REPLACE FUNCTION predict_internal.resolve_score_class(obs jsonb,
    OUT proba float8, OUT predicted boolean, OUT name text, OUT version integer)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
BEGIN
    r := predict_internal.resolve(NULL);
    SELECT s.proba, s.predicted INTO proba, predicted
      FROM predict_internal.score_class(obs, r.name, r.version, r.threshold) s;
    name := r.name;
    version := r.version;
END
$$;

/*
 * predict_proba(obs) and predict_proba(obs, model): the active versions,
 * whose inlinable scorers these functions call by name, so that the planner
 * inlines them into the query (no registry lookup, no dynamic statement, no
 * PL/pgSQL call per row; with a constant model, only that model's scorer).
 * default_score_class (for predict_class(obs)) and the log's trigger name
 * the default version, its scorers and its threshold as constants (no
 * registry lookup or dynamic statement per row either). refresh_default
 * writes them all whenever a model's active version or the default changes
 * (the registry's trigger, install_scorer, and the end of this script); a
 * model without installed scorers, or unknown, is looked up.
 */
CREATE OR REPLACE FUNCTION predict_internal.default_score(obs jsonb)
RETURNS float8 LANGUAGE sql STABLE PARALLEL SAFE
RETURN predict_internal.resolve_score(obs);

CREATE OR REPLACE FUNCTION predict_internal.named_score(obs jsonb, model text)
RETURNS float8 LANGUAGE sql STABLE PARALLEL SAFE
RETURN predict_internal.resolve_score(obs, model);

/*
 * The statements that score obs with the default version (name, version,
 * threshold) into targets (the probability, the class, the model's name and
 * version): the probability by its inlinable scorer and the class by its
 * threshold; where the threshold is null, the class from the inline
 * probability (its _inline_class), else both by its class function.
 * Without a default version with installed scorers (name NULL, or a
 * migration that has not compiled them yet), the registry lookup
 * (resolve_score_class). The threshold is written back as
 * the shortest text that reads as the same float8 (extra_float_digits, set
 * on refresh_default).
 */
CREATE OR REPLACE FUNCTION predict_internal.default_body(name text, version integer, threshold float8,
    obs text, targets text[])
RETURNS text LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    scorer text := predict_internal.function_name(name, version);
    named text := format('%s := %L; %s := %s;', targets[3], name, targets[4], version);
BEGIN
    -- install_scorer creates a version's functions together: with _inline, the others it has
    IF name IS NULL THEN
        NULL;
    ELSIF to_regprocedure(format('predict_internal.%I(jsonb)', scorer || '_inline')) IS NULL THEN
        NULL;
    ELSIF threshold IS NOT NULL THEN
        RETURN format('%s := predict_internal.%I(%s); %s := %s OPERATOR(pg_catalog.>=) %s::pg_catalog.float8; ',
                      targets[1], scorer || '_inline', obs, targets[2], targets[1], threshold) || named;
    ELSIF to_regprocedure(format('predict_internal.%I(jsonb, float8)', scorer || '_inline_class')) IS NOT NULL THEN
        RETURN format('%s := predict_internal.%I(%s); %s := predict_internal.%I(%s, %s); ',
                      targets[1], scorer || '_inline', obs,
                      targets[2], scorer || '_inline_class', obs, targets[1]) || named;
    ELSE
        RETURN format('SELECT c.proba, c.predicted INTO %s, %s FROM predict_internal.%I(%s) c; ',
                      targets[1], targets[2], scorer || '_class', obs) || named;
    END IF;
    RETURN format('SELECT * INTO %s FROM predict_internal.resolve_score_class(%s);',
                  array_to_string(targets, ', '), obs);
END
$$;

/*
 * A row that names its model_version (a restored or copied row) keeps its
 * score only if it is that version's: proba and predicted_class, when
 * given, must be what the version computes for the observation. The log's
 * trigger (below), for relation.
 */
CREATE OR REPLACE FUNCTION predict_internal.score_named_version(given @extschema@.predictions, relation text)
RETURNS @extschema@.predictions LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
    p float8;
    c boolean;
BEGIN
    IF given.model IS NULL THEN
        PERFORM predict_internal.registry_raise('row without model', relation => relation);
    END IF;
    r := predict_internal.resolve(given.model, given.model_version);
    SELECT s.proba, s.predicted INTO p, c
      FROM predict_internal.score_class(given.observation, r.name, r.version, r.threshold) s;
    IF float8send(given.proba) <> float8send(p) OR given.predicted_class <> c THEN
        PERFORM predict_internal.registry_raise('row not scored by its version', r.name, r.version,
                                                relation, given.proba, given.predicted_class, p, c);
    END IF;
    given.proba := coalesce(given.proba, p);
    given.predicted_class := coalesce(given.predicted_class, c);
    given.explanation := predict_internal.log_explanation(given.explanation,
        predict_internal.version_explains(r.name, r.version), given.observation, r.name, r.version,
        relation, true);
    RETURN given;
END
$$;

/*
 * Write default_score, named_score and default_score_class for the
 * registry there is, and the predictions log's trigger: BEFORE INSERT, it
 * scores a row with the default version, whatever the client supplied, by
 * the same statements as default_score_class (default_body), written into
 * the trigger itself (a PL/pgSQL call fewer per row); a row that names its
 * version goes to score_named_version.
 */
CREATE OR REPLACE FUNCTION predict_internal.refresh_default()
RETURNS void LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET extra_float_digits = 3 AS $$
DECLARE
    scorer text;
    cases text;
    default_name text;
    default_version integer;
    default_threshold float8;
    default_explains boolean;
    explains text;
BEGIN
    SELECT string_agg(format('WHEN %L THEN predict_internal.%I(obs)', s.name, s.inline), ' ' ORDER BY s.name)
      INTO cases
      FROM (SELECT m.name, predict_internal.function_name(m.name, m.active_version) || '_inline' AS inline
              FROM @extschema@.predict_models m) s
     WHERE to_regprocedure(format('predict_internal.%I(jsonb)', s.inline)) IS NOT NULL;
    SELECT m.name, m.active_version, predict_internal.threshold(v.model), v.explain
      INTO default_name, default_version, default_threshold, default_explains
      FROM @extschema@.predict_models m
      JOIN @extschema@.predict_model_versions v ON v.name = m.name AND v.version = m.active_version
     WHERE m.is_default;
    IF default_name IS NOT NULL THEN
        scorer := predict_internal.function_name(default_name, default_version) || '_inline';
        IF to_regprocedure(format('predict_internal.%I(jsonb)', scorer)) IS NULL THEN
            scorer := NULL;
        END IF;
    END IF;
    -- the log's: the default version's setting, or looked up with the version
    explains := CASE WHEN scorer IS NULL THEN 'predict_internal.version_explains(NEW.model, NEW.model_version)'
                     ELSE default_explains::text END;
    EXECUTE format('CREATE OR REPLACE FUNCTION predict_internal.default_score(obs jsonb) '
                   'RETURNS float8 LANGUAGE sql STABLE PARALLEL SAFE RETURN %s',
                   CASE WHEN scorer IS NULL THEN 'predict_internal.resolve_score(obs)'
                        ELSE format('predict_internal.%I(obs)', scorer) END);
    EXECUTE format('CREATE OR REPLACE FUNCTION predict_internal.named_score(obs jsonb, model text) '
                   'RETURNS float8 LANGUAGE sql STABLE PARALLEL SAFE RETURN %s',
                   coalesce('CASE model ' || cases || ' ELSE predict_internal.resolve_score(obs, model) END',
                            'predict_internal.resolve_score(obs, model)'));
    EXECUTE format('CREATE OR REPLACE FUNCTION predict_internal.default_score_class(obs jsonb, '
                   'OUT proba float8, OUT predicted boolean, OUT name text, OUT version integer) '
                   'LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS %L',
                   'BEGIN ' || predict_internal.default_body(default_name, default_version, default_threshold,
                                   'obs', ARRAY['proba', 'predicted', 'name', 'version']) || ' END');
    -- no SET search_path, which costs every row a save and restore of the
    -- setting (11-25% of a bulk insert): the body names no function,
    -- operator or type but by its schema (default_body's too), so the
    -- caller's search_path finds nothing in it
    EXECUTE format('CREATE OR REPLACE FUNCTION @extschema@.predictions_score() RETURNS trigger '
                   'LANGUAGE plpgsql AS %L', format($body$
BEGIN
    IF NEW.observation IS NULL THEN
        RETURN NEW;             -- the NOT NULL constraint reports it
    END IF;
    IF NEW.model_version IS NOT NULL THEN
        RETURN predict_internal.score_named_version(NEW, TG_TABLE_NAME);
    END IF;
    %s
    %s
    RETURN NEW;
END
$body$, predict_internal.default_body(default_name, default_version, default_threshold, 'NEW.observation',
            ARRAY['NEW.proba', 'NEW.predicted_class', 'NEW.model', 'NEW.model_version']),
        -- the explanation: for a version that does not explain every row,
        -- only when asked; looked up where the version is
        format(CASE explains WHEN 'false' THEN 'IF NEW.explanation IS NOT NULL THEN %s END IF;' ELSE '%s' END,
               'NEW.explanation := predict_internal.log_explanation(NEW.explanation, ' || explains
               || ', NEW.observation, NEW.model, NEW.model_version, TG_TABLE_NAME, false);')));
END
$$;

-- The registry's trigger: as the owner, who owns default_score.
CREATE OR REPLACE FUNCTION predict_internal.default_changed()
RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM predict_internal.refresh_default();
    RETURN NULL;
END
$$;

REVOKE EXECUTE ON FUNCTION predict_internal.refresh_default() FROM PUBLIC;

/*
 * The probability and the class of a version: proba >= threshold, or where
 * the threshold is null the version's class function (one scoring, both).
 */
CREATE OR REPLACE FUNCTION predict_internal.score_class(obs jsonb, name text, version integer,
    threshold float8, OUT proba float8, OUT predicted boolean)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF threshold IS NOT NULL THEN
        proba := predict_internal.score(obs, name, version);
        predicted := proba >= threshold;
        RETURN;
    END IF;
    EXECUTE format('SELECT * FROM predict_internal.%I($1)',
                   predict_internal.function_name(name, version) || '_class')
       INTO proba, predicted USING obs;
END
$$;

/*
 * How to deploy a model in managed mode, where SQL has no predict_deploy:
 * the hint of a missing model (registry.sql).
 */
CREATE OR REPLACE FUNCTION predict_internal.deploy_hint(name text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN name IS NULL
            THEN 'Deploy one first: the gateway deploys PREDICT_MODEL when it starts, or run '
                 'bin/predict-gateway deploy MODEL.json; the first model deployed becomes the default.'
            ELSE 'Deploy it first: bin/predict-gateway deploy --name ' || name || ' /path/to/model.json' END;

/*
 * A stored version can be scored when it has its compiled scorer: one
 * inserted by hand, not deployed, has none (registry.sql's predict_activate).
 */
CREATE OR REPLACE FUNCTION predict_internal.version_check(name text, version integer, model jsonb)
RETURNS void LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF to_regprocedure(format('predict_internal.%I(jsonb)',
                              predict_internal.function_name(name, version))) IS NULL OR
       (jsonb_typeof(model->'threshold') = 'null' AND
        to_regprocedure(format('predict_internal.%I(jsonb)',
                               predict_internal.function_name(name, version) || '_class')) IS NULL) THEN
        RAISE EXCEPTION 'model "%" version % has no compiled scorer', name, version
            USING ERRCODE = '55000',
                  DETAIL = 'Managed mode scores the versions the gateway compiled when it deployed them.',
                  HINT = format('Deploy the model again: bin/predict-gateway deploy --name %s /path/to/model.json', name);
    END IF;
END
$$;

/*
 * Store a validated model and its compiled scorer (the CREATE FUNCTION
 * statement made by the C core, with @function@ standing for the
 * function's name) as the next version of name; make it active, and the
 * default model if there is none (registry.sql's registry_add). The client
 * validates and compiles (the gateway's deploy command); deploying is the
 * owner's privilege.
 */
CREATE OR REPLACE FUNCTION predict_internal.deploy_compiled(name text, model jsonb, compiled text,
    explain boolean DEFAULT false)
RETURNS integer LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    version integer;
BEGIN
    PERFORM predict_internal.registry_check_deploy(name, model);
    PERFORM predict_internal.registry_check_explain(explain);
    IF compiled IS NULL THEN
        RAISE EXCEPTION 'compiled scorer must not be null' USING ERRCODE = '22004';
    END IF;
    version := predict_internal.registry_add(name, model, explain);
    PERFORM predict_internal.install_scorer(compiled, name, version);
    RETURN version;
END
$$;

-- Create (or replace) the compiled scorer of a version: deploying, and
-- migrating an older schema (whose scorers the gateway compiles again).
CREATE OR REPLACE FUNCTION predict_internal.install_scorer(compiled text, name text, version integer)
RETURNS void LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- the suffixed functions first (predict_model_to_sql: _inline, _explain, and a null
    -- threshold's _class and _inline_class, which becomes the _inline name's with _class after it)
    EXECUTE replace(replace(replace(replace(compiled,
                '@function@_class', format('predict_internal.%I', predict_internal.function_name(name, version) || '_class')),
                '@function@_inline', format('predict_internal.%I', predict_internal.function_name(name, version) || '_inline')),
                '@function@_explain', format('predict_internal.%I', predict_internal.function_name(name, version) || '_explain')),
                '@function@', format('predict_internal.%I', predict_internal.function_name(name, version)));
    PERFORM predict_internal.refresh_default();
END
$$;

REVOKE EXECUTE ON FUNCTION predict_internal.deploy_compiled(text, jsonb, text, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION predict_internal.install_scorer(text, text, integer) FROM PUBLIC;

/* ---------- scoring ---------- */

-- Not strict, which would keep the planner from inlining it; a null
-- observation is scored null all the same.
CREATE OR REPLACE FUNCTION @extschema@.predict_proba(obs jsonb)
RETURNS double precision LANGUAGE sql STABLE PARALLEL SAFE
RETURN predict_internal.default_score(obs);

CREATE OR REPLACE FUNCTION @extschema@.predict_proba(obs jsonb, model text)
RETURNS double precision LANGUAGE sql STABLE PARALLEL SAFE
RETURN predict_internal.named_score(obs, model);

CREATE OR REPLACE FUNCTION @extschema@.predict_class(obs jsonb)
RETURNS boolean LANGUAGE plpgsql STRICT STABLE PARALLEL SAFE COST 20
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN (predict_internal.default_score_class(obs)).predicted;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.predict_class(obs jsonb, model text)
RETURNS boolean LANGUAGE plpgsql STRICT STABLE PARALLEL SAFE COST 20
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
BEGIN
    r := predict_internal.resolve(model);
    RETURN (predict_internal.score_class(obs, r.name, r.version, r.threshold)).predicted;
END
$$;

/* ---------- explanations (docs/model-format.md, "Explanations") ---------- */

/*
 * The explanation of obs by a version (the active one of requested, of the
 * default model when requested is NULL): its compiled function's
 * (predict_model_to_sql's <scorer>_explain), called by a dynamic statement
 * as score_class calls the class function. That function refuses a model
 * that cannot be explained (0A000) before it reads obs, as the extension
 * does.
 */
CREATE OR REPLACE FUNCTION predict_internal.explanation(obs jsonb, requested text,
    OUT space text, OUT base float8, OUT columns text[], OUT contributions float8[])
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
BEGIN
    r := predict_internal.resolve(requested);
    SELECT * INTO space, base, columns, contributions
      FROM predict_internal.version_explanation(obs, r.name, r.version);
END
$$;

-- The explanation of obs by version (name, version), by its compiled function.
CREATE OR REPLACE FUNCTION predict_internal.version_explanation(obs jsonb, name text, version integer,
    OUT space text, OUT base float8, OUT columns text[], OUT contributions float8[])
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    explainer text := predict_internal.function_name(name, version) || '_explain';
BEGIN
    IF to_regprocedure(format('predict_internal.%I(jsonb)', explainer)) IS NULL THEN
        RAISE EXCEPTION 'model "%" version % has no compiled explanation', name, version
            USING ERRCODE = '55000',
                  DETAIL = 'Managed mode explains with the functions the gateway compiled when it deployed the version.',
                  HINT = format('Deploy the model again: bin/predict-gateway deploy --name %s /path/to/model.json', name);
    END IF;
    EXECUTE format('SELECT * FROM predict_internal.%I($1)', explainer)
       INTO space, base, columns, contributions USING obs;
END
$$;

/*
 * The explanation as the extension writes it (predict_explanation_json,
 * then jsonb): {"space": ..., "base": b, "contributions": {column: c}}. A
 * float8 becomes a jsonb number by its output text, the shortest that reads
 * back (extra_float_digits >= 1), which is predict_format_number's.
 */
CREATE OR REPLACE FUNCTION predict_internal.explanation_json(space text, base float8, columns text[],
    contributions float8[])
RETURNS jsonb LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET extra_float_digits = 1
RETURN jsonb_build_object('space', space, 'base', base, 'contributions',
    (SELECT coalesce(jsonb_object_agg(c.name, c.value), '{}'::jsonb)
       FROM unnest(columns, contributions) AS c(name, value)));

-- Whether a version explains every row it logs (deployed with explain),
-- read as the registry's owner as resolve reads it.
CREATE OR REPLACE FUNCTION predict_internal.version_explains(name text, version integer)
RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN coalesce((SELECT v.explain FROM @extschema@.predict_model_versions v
                  WHERE v.name = version_explains.name AND v.version = version_explains.version), false);

/*
 * The explanation column of a row version (name, version) scored, as the
 * extension's trigger writes it (src/pg/triggers.c, row_explanation): the
 * version's explanation of obs when it explains every row (explains) or the
 * insert asked with true; null when neither (false, or null). A new row may
 * carry nothing else; a restored row (restored) may carry the explanation
 * its version computes, equal as jsonb, and nothing else.
 */
CREATE OR REPLACE FUNCTION predict_internal.log_explanation(given jsonb, explains boolean, obs jsonb,
    name text, version integer, relation text, restored boolean)
RETURNS jsonb LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    asked boolean := coalesce(given = 'true'::jsonb, false);
    supplied boolean := coalesce(jsonb_typeof(given) <> 'boolean', false);
    e record;
    computed jsonb;
BEGIN
    IF supplied AND NOT restored THEN
        PERFORM predict_internal.registry_raise('explanation supplied', relation => relation);
    END IF;
    IF NOT (asked OR supplied OR explains) THEN
        RETURN NULL;
    END IF;
    e := predict_internal.version_explanation(obs, name, version);
    computed := predict_internal.explanation_json(e.space, e.base, e.columns, e.contributions);
    IF supplied AND computed <> given THEN
        PERFORM predict_internal.registry_raise('row not explained by its version', name, version, relation);
    END IF;
    RETURN computed;
END
$$;

-- An observation's value as a reason shows it (explain.c, append_value):
-- a number as the double it was read as, a string or boolean as it came,
-- missing as null (objects and arrays are refused by scoring).
CREATE OR REPLACE FUNCTION predict_internal.reason_value(v jsonb)
RETURNS jsonb LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET extra_float_digits = 1
RETURN CASE jsonb_typeof(v)
    WHEN 'number' THEN to_jsonb(predict_internal.exact_double(v::numeric))
    WHEN 'string' THEN v WHEN 'boolean' THEN v
    ELSE 'null'::jsonb END;

/*
 * The reasons as the extension writes them (predict_reasons_json): up to k
 * columns whose contributions are negative, the most negative first, ties
 * in the columns' order, each {"column", "value", "contribution"}.
 */
CREATE OR REPLACE FUNCTION predict_internal.reasons_json(obs jsonb, k integer, columns text[],
    contributions float8[])
RETURNS jsonb LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET extra_float_digits = 1
RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object('column', c.name,
                                                     'value', predict_internal.reason_value(obs -> c.name),
                                                     'contribution', c.value)
                                  ORDER BY c.value, c.i), '[]'::jsonb)
          FROM (SELECT u.name, u.value, u.i
                  FROM unnest(columns, contributions) WITH ORDINALITY AS u(name, value, i)
                 WHERE u.value < 0
                 ORDER BY u.value, u.i
                 LIMIT k) c);

-- k of predict_reasons, checked before anything else as the extension does.
CREATE OR REPLACE FUNCTION predict_internal.reasons_k(k integer)
RETURNS void LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- PREDICT_REASONS_K_RANGE with PREDICT_MAX_REASONS (src/core/predict.h)
    IF k < 0 OR k > 100 THEN
        RAISE EXCEPTION 'k must be between 0 and 100, got %', k USING ERRCODE = '22023';
    END IF;
END
$$;

-- Explaining costs a scoring, the features again and, for trees, TreeSHAP
-- over every path in PL/pgSQL (docs/heroku.md): COST 500, as the extension's,
-- so that the planner evaluates every cheaper condition first.
CREATE OR REPLACE FUNCTION @extschema@.predict_explain(obs jsonb)
RETURNS jsonb LANGUAGE plpgsql STRICT STABLE PARALLEL SAFE COST 500
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    e record;
BEGIN
    e := predict_internal.explanation(obs, NULL);
    RETURN predict_internal.explanation_json(e.space, e.base, e.columns, e.contributions);
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.predict_explain(obs jsonb, model text)
RETURNS jsonb LANGUAGE plpgsql STRICT STABLE PARALLEL SAFE COST 500
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    e record;
BEGIN
    e := predict_internal.explanation(obs, model);
    RETURN predict_internal.explanation_json(e.space, e.base, e.columns, e.contributions);
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.predict_reasons(obs jsonb, k integer)
RETURNS jsonb LANGUAGE plpgsql STRICT STABLE PARALLEL SAFE COST 500
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    e record;
BEGIN
    PERFORM predict_internal.reasons_k(k);
    e := predict_internal.explanation(obs, NULL);
    RETURN predict_internal.reasons_json(obs, k, e.columns, e.contributions);
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.predict_reasons(obs jsonb, k integer, model text)
RETURNS jsonb LANGUAGE plpgsql STRICT STABLE PARALLEL SAFE COST 500
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    e record;
BEGIN
    PERFORM predict_internal.reasons_k(k);
    e := predict_internal.explanation(obs, model);
    RETURN predict_internal.reasons_json(obs, k, e.columns, e.contributions);
END
$$;

-- Untyped observations are text, as for predict_proba (untyped.sql).
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

/* ---------- the predictions log ---------- */

-- predictions_score, the log's scoring trigger, is written by refresh_default.
-- predictions_protect, the audit rule, is registry.sql's.


-- default_score follows the default model and its active version.
CREATE OR REPLACE TRIGGER predict_models_default
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.predict_models
    FOR EACH STATEMENT EXECUTE FUNCTION predict_internal.default_changed();

-- and now, for the registry there is (a migration rewrites these functions).
SELECT predict_internal.refresh_default();
