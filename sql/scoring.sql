-- Scoring: predict_proba and predict_class, how observations are read from
-- jsonb, equality with bin/predict-score, parallel query.
CREATE EXTENSION predict;
\set tiny `cat test/pg/models/tiny.json`
\set titanic `cat models/titanic.json`
-- tiny: proba = 1 / (1 + exp(-(x + 2 [c = a] - 2 [c = b]))), x imputed with 0
SELECT predict_deploy('tiny', :'tiny');

SELECT predict_proba('{"x": 0}'), predict_class('{"x": 0}');
SELECT predict_proba('{"x": 0, "c": "a"}'), predict_class('{"x": 0, "c": "a"}', 'tiny');
SELECT predict_proba('{"x": 0, "c": "b"}', 'tiny'), predict_class('{"x": 0, "c": "b"}');
-- STRICT: a NULL argument gives NULL without looking for a model
SELECT predict_proba(NULL), predict_proba(NULL, 'tiny'), predict_proba('{}', NULL),
       predict_class(NULL), predict_class('{}', NULL), predict_proba('{}', 'no such model' || NULL);

-- ---------- how values are read ----------
-- numbers are read exactly (the nearest double of the decimal), as float8 reads them
SELECT t.x, predict_proba(jsonb_build_object('x', t.x::numeric)) = 1 / (1 + exp(-(t.x::float8))) AS exact
FROM (VALUES ('0.1'), ('0.30000000000000004'), ('-2.5'), ('1e-5'), ('3.14159265358979323846264338327950288'),
             ('0.1000000000000000055511151231257827021181583404541015625'),
             ('0.49999999999999999999999999999999999999999'), ('-0'),
             ('2.2250738585072011e-308'), ('7.000000000000000444089209850062616169452667236328125'),
             ('36.7368005696771'), ('-700.5'), ('700.25')) t(x);
-- every number is converted to the double the loader (strtod) gives the same
-- decimal: about 4000 random decimals (1 to 20 digits, 0 to 27 decimal
-- places) are the categories of a one-hot encoder with handle_unknown
-- "error", which matches numbers as doubles, and then the observations
SELECT setseed(0.25);
CREATE TEMP TABLE decimals AS
SELECT v, row_number() OVER (ORDER BY v) AS j FROM (
  SELECT DISTINCT ON (v::float8) v FROM (
    SELECT ((CASE WHEN random() < 0.5 THEN '-' ELSE '' END)
            || floor(random() * 10 ^ (1 + floor(random() * 20)))::numeric
            || 'e-' || floor(random() * 28))::numeric AS v
    FROM generate_series(1, 4000)) s
  WHERE v <> 0) d;
SELECT predict_deploy('exact', jsonb_build_object(
  'format', 'predict-model/1', 'name', 'exact',
  'columns', jsonb_build_array(jsonb_build_object('name', 'x', 'type', 'number')),
  'preprocessing', jsonb_build_array(jsonb_build_object('column', 'x',
     'steps', jsonb_build_array(jsonb_build_object('type', 'one_hot',
        'categories', (SELECT jsonb_agg(v ORDER BY j) FROM decimals), 'drop', null, 'handle_unknown', 'error')),
     'features', (SELECT jsonb_agg('x_' || j ORDER BY j) FROM decimals))),
  'estimator', jsonb_build_object('type', 'logistic_regression', 'link', 'logistic', 'intercept', 0,
     'coef', (SELECT jsonb_agg(j * 0.0001 ORDER BY j) FROM decimals)),
  'positive_class', 1,
  'provenance', jsonb_build_object('sklearn_version', '1.2.1', 'exported_at', '2026-11-26T00:00:00Z', 'training_rows', null)));
SELECT count(*) > 3500 AS many, max(length(v::text)) > 25 AS long_ones,
       count(*) = count(*) FILTER (WHERE predict_proba(jsonb_build_object('x', v), 'exact')
                                         = 1 / (1 + exp(-(j * 0.0001)::float8))) AS all_exact
FROM decimals;
-- beyond float8's range: underflow to zero, overflow to infinity (an error, see errors.sql)
SELECT predict_proba('{"x": 1e-400}') = predict_proba('{"x": 0}') AS underflow_is_zero,
       predict_proba('{"x": -1e-400}') = predict_proba('{"x": 0}') AS negative_underflow_is_zero;
-- true and false are 1 and 0
SELECT predict_proba('{"x": true}') = predict_proba('{"x": 1}') AS true_is_1,
       predict_proba('{"x": false}') = predict_proba('{"x": 0}') AS false_is_0;
-- strings in a number column are parsed like Python's float()
SELECT s, predict_proba(jsonb_build_object('x', s)) = predict_proba(jsonb_build_object('x', v)) AS same_as_number
FROM (VALUES ('1.5', 1.5), (' 2 ', 2), ('1_000', 1000), ('1e-3', 0.001), ('+3', 3), ('-0.25', -0.25), ('.5', 0.5)) t(s, v);
-- missing: absent key, JSON null, "nan" (then imputed with 0)
SELECT predict_proba('{}') AS absent, predict_proba('{"x": null}') AS null_value,
       predict_proba('{"x": "nan"}') AS nan, predict_proba('{"x": "NaN", "c": null}') AS nan_and_null;
-- keys match exactly; other keys are ignored; of duplicate keys the last wins
SELECT predict_proba('{"X": 5}') AS other_case, predict_proba('{"x ": 5}') AS trailing_space,
       predict_proba('{"y": {"x": 5}, "z": [1, 2, {"x": 5}]}') AS nested,
       predict_proba('{"x": 5, "x": 0}') AS last_wins;
SELECT predict_proba(jsonb_object_agg('k' || i, i) || '{"x": 0, "c": "a"}') = predict_proba('{"x": 0, "c": "a"}') AS ten_thousand_keys
FROM generate_series(1, 10000) i;
-- strings are compared byte for byte
SELECT predict_proba('{"c": "a"}') = predict_proba('{"c": "\u0061"}') AS escape_is_the_same_string;

-- the threshold decides the class: proba >= threshold
SELECT predict_deploy('threshold', jsonb_set(:'tiny', '{threshold}', '0.7310585786300049'));
SELECT x, predict_proba(jsonb_build_object('x', x), 'threshold'),
       predict_class(jsonb_build_object('x', x), 'threshold')
FROM (VALUES (0.999999), (1), (1.000001)) t(x);

-- ---------- equality with bin/predict-score ----------
-- every line of test/pg/observations.jsonl, scored by the CLI and in SQL:
-- the same probability to the last bit, or the same error message
SELECT predict_deploy('titanic', :'titanic');
CREATE TEMP TABLE obs (n int GENERATED ALWAYS AS IDENTITY, line text);
\copy obs (line) FROM 'test/pg/observations.jsonl' WITH (FORMAT csv, QUOTE E'\x01', DELIMITER E'\x02')
\set cli `bin/predict-score --model models/titanic.json test/pg/observations.jsonl || true`
CREATE TEMP TABLE cli AS
SELECT n::int, r::jsonb AS result FROM regexp_split_to_table(:'cli', E'\n') WITH ORDINALITY AS t(r, n);
CREATE FUNCTION pg_temp.score(obs jsonb, OUT proba float8, OUT predicted_class boolean, OUT error text)
LANGUAGE plpgsql AS $$
BEGIN
  proba := predict_proba(obs, 'titanic');
  predicted_class := predict_class(obs, 'titanic');
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS error = MESSAGE_TEXT;
END $$;
SELECT (SELECT count(*) FROM obs) AS observations, (SELECT count(*) FROM cli) AS cli_lines;
SELECT o.n, coalesce(s.error, 'scored') AS outcome,
       CASE WHEN c.result ? 'error' THEN s.error = c.result->>'error'
            ELSE s.proba = (c.result->>'proba')::float8
                 AND s.predicted_class = (c.result->>'predicted_class')::boolean END AS same_as_cli
FROM obs o JOIN cli c USING (n), LATERAL pg_temp.score(o.line::jsonb) s
ORDER BY o.n;

-- ---------- parallel query ----------
CREATE TABLE many AS
SELECT i, (SELECT line::jsonb FROM obs WHERE n = 1 + i % 16) || jsonb_build_object('Age', i % 77, 'x', i % 13 - 6, 'c', 'a') AS o
FROM generate_series(1, 5000) i;
ANALYZE many;
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE serial AS SELECT i, predict_proba(o) AS p, predict_proba(o, 'titanic') AS pt FROM many;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT i, predict_proba(o), predict_proba(o, 'titanic') FROM many;
SELECT count(*) AS rows,
       count(*) FILTER (WHERE s.p = m.p AND s.pt = m.pt) AS same_as_serial
FROM serial s JOIN (SELECT i, predict_proba(o) AS p, predict_proba(o, 'titanic') AS pt FROM many) m USING (i);
SELECT count(DISTINCT p) AS tiny_distinct, count(DISTINCT pt) > 100 AS titanic_varied FROM serial;
-- an error in a worker reaches the client with the core's message
SET parallel_leader_participation = off;
SELECT sum(predict_proba(CASE WHEN i = 4321 THEN '{"Age": "old"}' ELSE o END, 'titanic')) FROM many;
RESET ALL;
DROP TABLE many;

DROP EXTENSION predict;
