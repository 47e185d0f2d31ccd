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

/*
 * The sums behind the global importance (issue 20): per version of
 * model_name and week (date_trunc('week') of created_at in UTC: weeks start
 * on Monday, 00:00 UTC, whatever the session's time zone, as in SQLite),
 * over the window's rows that have an explanation, the rows (n), the
 * explanations' space, and per column of columns how many rows have its
 * contribution as a number (k) and the sum of their absolute values (s).
 * One scan, grouped by version and week only, each row's contributions
 * read by one jsonb_to_record with a column per input column (the
 * statement is written for the model's columns; a name longer than an
 * identifier is read by its path instead). A value that is not a number
 * (only a row written with the triggers disabled can have one) counts as
 * absent. Over a million explained rows, a row per (row, column) pair, as
 * jsonb_each gives, grouped by grouping sets took 28 s; each column read
 * by its path, 6 s; this, 4 s (bench/report.sh --explain).
 */
CREATE OR REPLACE FUNCTION predict_internal.report_importance_sums(model_name text, since timestamptz,
    until timestamptz, columns text[])
RETURNS TABLE (ver integer, week date, n bigint, space text, k bigint[], s float8[])
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    -- the log's name, quoted (its row type's, the schema not being on the search_path)
    log text := pg_typeof(NULL::@extschema@.predictions)::text;
    numbers text;
    fields text;
    counts text;
    sums text;
BEGIN
    SELECT string_agg(CASE WHEN octet_length(u.name) <= 63
                           THEN format('CASE WHEN jsonb_typeof(r.%1$I) = ''number'' THEN r.%1$I::float8 END'
                                       ' AS c%2$s', u.name, u.i)
                           ELSE format('CASE WHEN jsonb_typeof(p.explanation #> %1$L) = ''number'''
                                       ' THEN (p.explanation #>> %1$L)::float8 END AS c%2$s',
                                       ARRAY['contributions', u.name], u.i) END, ', ' ORDER BY u.i),
           string_agg(format('%I jsonb', u.name), ', ' ORDER BY u.i) FILTER (WHERE octet_length(u.name) <= 63),
           string_agg(format('count(x.c%s)', u.i), ', ' ORDER BY u.i),
           string_agg(format('sum(abs(x.c%s))', u.i), ', ' ORDER BY u.i)
      INTO numbers, fields, counts, sums
      FROM unnest(columns) WITH ORDINALITY AS u(name, i);
    RETURN QUERY EXECUTE format(
        'SELECT p.model_version, date_trunc(''week'', p.created_at AT TIME ZONE ''UTC'')::date,'
        ' count(*), min(p.explanation->>''space''), ARRAY[%s]::bigint[], ARRAY[%s]::float8[]'
        ' FROM %s p CROSS JOIN LATERAL (SELECT %s FROM %s) AS x'
        ' WHERE p.model = $1 AND p.explanation IS NOT NULL'
        ' AND ($2 IS NULL OR p.created_at >= $2) AND ($3 IS NULL OR p.created_at < $3)'
        ' GROUP BY 1, 2',
        coalesce(counts, ''), coalesce(sums, ''), log, coalesce(numbers, 'NULL AS none'),
        CASE WHEN fields IS NULL THEN '(SELECT) AS r'
             ELSE 'jsonb_to_record(CASE jsonb_typeof(p.explanation->''contributions'') WHEN ''object'''
                  ' THEN p.explanation->''contributions'' ELSE ''{}'' END) AS r(' || fields || ')' END)
    USING model_name, since, until;
END
$$;

/*
 * Global importance (issue 20): of each version, over the window's rows that
 * have an explanation, the mean |contribution| of each input column, for the
 * whole window (the weeks' sums added) and per week
 * (report_importance_sums), with each column's change from the version's
 * previous week that had explained rows. A
 * column's mean is over the rows whose explanation has it as a number (every
 * row's has each input column of its version). An object keyed by version;
 * versions without explained rows are absent.
 */
CREATE OR REPLACE FUNCTION predict_internal.report_importance(model_name text, since timestamptz, until timestamptz)
RETURNS jsonb LANGUAGE sql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
SET extra_float_digits = 3          -- every float8 exact in the jsonb
BEGIN ATOMIC
    WITH cols AS (
        -- the input columns of the model's versions: the keys of their explanations
        SELECT coalesce(array_agg(DISTINCT c->>'name'), '{}') AS names
          FROM predict_internal.report_versions(report_importance.model_name) AS v
         CROSS JOIN LATERAL jsonb_array_elements(CASE jsonb_typeof(v.doc->'columns')
                                                     WHEN 'array' THEN v.doc->'columns' END) AS c),
    weekly AS (
        SELECT t.* FROM cols, predict_internal.report_importance_sums(report_importance.model_name,
                                  report_importance.since, report_importance.until, cols.names) AS t),
    -- the explained rows of each version (whole) and week, and the week before that had some
    counted AS (
        SELECT t.ver, false AS whole, t.week, t.n AS rows, t.space,
               lag(t.week) OVER (PARTITION BY t.ver ORDER BY t.week) AS previous
          FROM weekly t
        UNION ALL
        SELECT t.ver, true, NULL, sum(t.n)::bigint, min(t.space), NULL
          FROM weekly t GROUP BY t.ver),
    pairs AS (
        SELECT t.ver, t.week, u.col, u.k, u.s
          FROM weekly t, cols CROSS JOIN LATERAL unnest(cols.names, t.k, t.s) AS u(col, k, s)),
    means AS (
        SELECT p.ver, false AS whole, p.week, p.col, p.s / p.k AS mean
          FROM pairs p WHERE p.k > 0
        UNION ALL
        SELECT p.ver, true, NULL, p.col, sum(p.s) / sum(p.k)::float8
          FROM pairs p GROUP BY p.ver, p.col HAVING sum(p.k) > 0),
    -- rank 1 is the largest mean; equal means in the order of the names' bytes (as in SQLite)
    ranked AS (
        SELECT m.ver, m.whole, m.week, m.col, m.mean, m.mean - b.mean AS change,
               row_number() OVER (PARTITION BY m.ver, m.whole, m.week ORDER BY m.mean DESC, m.col COLLATE "C") AS rank
          FROM means m
          JOIN counted t ON t.ver = m.ver AND t.whole = m.whole AND t.week IS NOT DISTINCT FROM m.week
          LEFT JOIN means b ON b.ver = m.ver AND NOT b.whole AND b.week = t.previous AND b.col = m.col)
    SELECT jsonb_object_agg(t.ver::text, jsonb_build_object(
               'rows', t.rows,
               'space', t.space,
               'columns', coalesce((
                   SELECT jsonb_agg(jsonb_build_object('column', r.col, 'mean_abs_contribution', r.mean,
                                                       'rank', r.rank) ORDER BY r.rank)
                     FROM ranked r WHERE r.ver = t.ver AND r.whole), '[]'),
               'weekly', coalesce((
                   SELECT jsonb_agg(jsonb_build_object(
                              'week', w.week,
                              'rows', w.rows,
                              'columns', coalesce((
                                  SELECT jsonb_agg(jsonb_build_object('column', r.col, 'mean_abs_contribution', r.mean,
                                                                      'change', r.change, 'rank', r.rank)
                                                   ORDER BY r.rank)
                                    FROM ranked r WHERE r.ver = w.ver AND NOT r.whole AND r.week = w.week), '[]'))
                          ORDER BY w.week)
                     FROM counted w WHERE w.ver = t.ver AND NOT w.whole), '[]')))
      FROM counted t WHERE t.whole;
END;

-- A report with each version's importance (report_importance), or null
-- with the reason in the version's reasons.
CREATE OR REPLACE FUNCTION predict_internal.report_explained(report jsonb, since timestamptz, until timestamptz)
RETURNS jsonb LANGUAGE sql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT jsonb_set(report_explained.report, '{versions}', coalesce(jsonb_agg(
               CASE WHEN i.x ? (v->>'version') THEN v || jsonb_build_object('importance', i.x -> (v->>'version'))
                    ELSE jsonb_set(v || '{"importance": null}', '{reasons,importance}',
                                   '"no row of this version has an explanation; deploy it with explain or insert with explanation = true"')
               END ORDER BY o) FILTER (WHERE e.v IS NOT NULL), '[]'))
      FROM (SELECT coalesce(predict_internal.report_importance(report_explained.report->>'model',
                                                                report_explained.since, report_explained.until),
                            '{}') AS x) AS i
      LEFT JOIN jsonb_array_elements(report_explained.report->'versions') WITH ORDINALITY AS e(v, o) ON true
     GROUP BY i.x;
END;

-- The report of a model (the default one when model is NULL) over the
-- predictions created in [since, until), as one jsonb document.
CREATE OR REPLACE FUNCTION @extschema@.predict_report(model text DEFAULT NULL,
    since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL)
RETURNS jsonb LANGUAGE sql STABLE PARALLEL RESTRICTED
RETURN predict_internal.report_explained(predict_internal.report(model, since, until, 10, true, true), since, until);

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

-- The global importance of each version (the report's importance), one row
-- per column for the whole window (week NULL) and per week (Monday, UTC);
-- change is from the version's previous week that had explained rows.
CREATE OR REPLACE FUNCTION @extschema@.predict_report_importance(model text DEFAULT NULL,
    since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL)
RETURNS TABLE (model_version integer, week date, "column" text, rows bigint,
               mean_abs_contribution double precision, change double precision, rank integer)
LANGUAGE sql STABLE PARALLEL RESTRICTED
BEGIN ATOMIC
    SELECT (v->>'version')::integer, w.week, c->>'column', w.rows,
           (c->>'mean_abs_contribution')::float8, (c->>'change')::float8, (c->>'rank')::integer
      FROM jsonb_array_elements(predict_internal.report_explained(
               predict_internal.report(model, since, until, 10, false, false), since, until) -> 'versions') AS v
     CROSS JOIN LATERAL (
           SELECT NULL::date AS week, (v #>> '{importance,rows}')::bigint AS rows, v #> '{importance,columns}' AS cols
            WHERE jsonb_typeof(v->'importance') = 'object'
           UNION ALL
           SELECT (x->>'week')::date, (x->>'rows')::bigint, x->'columns'
             FROM jsonb_array_elements(CASE jsonb_typeof(v #> '{importance,weekly}') WHEN 'array'
                                            THEN v #> '{importance,weekly}' END) AS x) AS w
     CROSS JOIN LATERAL jsonb_array_elements(w.cols) AS c
     ORDER BY 1, 2 NULLS FIRST, 7;
END;
