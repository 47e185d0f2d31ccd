-- Explanations (1.4): predict_explain and predict_reasons, their errors,
-- and a call site that explains with models of different sizes.
CREATE EXTENSION predict;
\set tiny `cat test/pg/models/tiny.json`
-- tiny with the feature means a linear explanation needs: x 1, c "a" half
-- the time, "b" a quarter, "missing" a quarter
SELECT predict_deploy('tiny', jsonb_set(:'tiny'::jsonb, '{reference}',
    '{"rows": 4, "proba": {"edges": [0.5], "fractions": [0.5, 0.5]}, "columns": [],
      "feature_means": [1, 0.5, 0.25, 0.25]}'));
-- base 0 + 1 * 1 + 2 * 0.5 - 2 * 0.25 = 1.5; x contributes x - 1, c 2 ([c = a] - 0.5) - 2 ([c = b] - 0.25)
SELECT predict_explain('{"x": 3, "c": "b"}'::jsonb);
SELECT predict_explain('{"x": 3, "c": "b"}'::jsonb, 'tiny') = predict_explain('{"x": 3, "c": "b"}');
SELECT predict_reasons('{"x": -3, "c": "b"}'::jsonb, 3);
SELECT predict_reasons('{"x": -3, "c": "b"}', 1, 'tiny');
SELECT predict_reasons('{"x": 3, "c": "a"}'::jsonb, 3);
SELECT predict_reasons('{"x": -3}'::jsonb, 0);
-- base + contributions = the log-odds of predict_proba
SELECT abs((e->>'base')::float8 + (SELECT sum(value::text::float8) FROM jsonb_each(e->'contributions'))
           - ln(p / (1 - p))) < 1e-12 AS adds_up
  FROM (SELECT predict_explain(o) AS e, predict_proba(o) AS p
          FROM (VALUES ('{"x": 0.1, "c": "a"}'::jsonb), ('{"x": -7.25}'), ('{"c": "b", "x": 10}')) v(o)) s;
-- STRICT
SELECT predict_explain(NULL::jsonb) IS NULL, predict_reasons('{}'::jsonb, NULL) IS NULL,
       predict_reasons('{}'::jsonb, 1, NULL) IS NULL;
-- dearer than scoring
SELECT p.oid::regprocedure, p.procost, p.provolatile, p.proparallel, p.proisstrict
  FROM pg_proc p WHERE p.proname IN ('predict_explain', 'predict_reasons') ORDER BY p.oid::regprocedure::text COLLATE "C";
-- one call site, models of 2 and 3 columns in turn: the buffers grow with the model
SELECT predict_deploy('wide', jsonb_set(jsonb_set(jsonb_set(jsonb_set(:'tiny'::jsonb,
    '{columns}', (:'tiny'::jsonb)->'columns' || '[{"name": "y", "type": "number", "dtype": "float64"}]'),
    '{preprocessing}', (:'tiny'::jsonb)->'preprocessing' || '[{"column": "y", "steps": [], "features": ["y"]}]'),
    '{estimator,coef}', '[1, 2, -2, 0, -4]'),
    '{reference}', '{"rows": 4, "proba": {"edges": [0.5], "fractions": [0.5, 0.5]}, "columns": [],
                     "feature_means": [0, 0, 0, 0, 0]}'));
SELECT m, predict_reasons('{"x": -1, "c": "b", "y": 2}'::jsonb, 5, m)
  FROM (VALUES ('tiny'), ('wide'), ('tiny'), ('wide')) v(m);
-- errors
\set VERBOSITY default
SELECT predict_reasons('{}'::jsonb, 101);
SELECT predict_reasons('{}'::jsonb, -1, 'nope');
SELECT predict_explain('{"x": "old"}'::jsonb);
SELECT predict_explain('[1]'::jsonb);
SELECT predict_explain('{}'::jsonb, 'nope');
SELECT predict_deploy('plain', :'tiny');
SELECT predict_explain('{"x": 1}'::jsonb, 'plain');
SELECT predict_reasons('[1]'::jsonb, 2, 'plain');
DROP EXTENSION predict;
