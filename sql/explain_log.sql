-- Explanations in the log (1.5): a version deployed with explain explains
-- every row it logs; an insert may ask with true; a restored row keeps only
-- its version's explanation; the audit rule covers the column.
CREATE EXTENSION predict;
\set tiny `cat test/pg/models/tiny.json`
\set explained '{"rows": 4, "proba": {"edges": [0.5], "fractions": [0.5, 0.5]}, "columns": [], "feature_means": [1, 0.5, 0.25, 0.25]}'
SELECT predict_deploy('tiny', jsonb_set(:'tiny'::jsonb, '{reference}', :'explained'), explain => true);
SELECT name, version, explain FROM predict_model_versions;
INSERT INTO predictions (observation_id, observation) VALUES (1, '{"x": 3, "c": "b"}')
RETURNING observation_id, model_version, explanation;
-- the same as predict_explain's, and as the row's score
SELECT explanation = predict_explain(observation) AS same,
       abs((explanation->>'base')::float8
           + (SELECT sum(value::text::float8) FROM jsonb_each(explanation->'contributions'))
           - ln(proba / (1 - proba))) < 1e-12 AS adds_up
  FROM predictions;
-- whatever a new row supplies but an object: true, false and null are the version's
INSERT INTO predictions (observation_id, observation, explanation)
VALUES (2, '{"x": 1}', 'false'), (3, '{"x": 1}', 'true'), (4, '{"x": 1}', NULL)
RETURNING observation_id, explanation IS NOT NULL AS explained;
-- a version without explain: only the rows that ask
SELECT predict_deploy('tiny', jsonb_set(:'tiny'::jsonb, '{reference}', :'explained'));
INSERT INTO predictions (observation_id, observation, explanation)
VALUES (5, '{"x": 1}', NULL), (6, '{"x": 1}', 'false'), (7, '{"x": 1, "c": "a"}', 'true')
RETURNING observation_id, model_version, explanation;
-- a restored row (with its model_version): its explanation is checked; a
-- null one is its version's
INSERT INTO predictions (observation_id, observation, model, model_version, explanation)
SELECT observation_id + 100, observation, model, model_version, explanation FROM predictions
RETURNING observation_id, model_version, explanation IS NOT NULL AS explained;
SELECT count(*) FILTER (WHERE r.explanation IS NOT DISTINCT FROM o.explanation) AS same, count(*)
  FROM predictions r JOIN predictions o ON o.observation_id = r.observation_id - 100;
INSERT INTO predictions (observation_id, observation, model, model_version, explanation)
VALUES (201, '{"x": 3, "c": "b"}', 'tiny', 1, NULL), (202, '{"x": 3, "c": "b"}', 'tiny', 2, 'true'),
       (203, '{"x": 3, "c": "b"}', 'tiny', 2, 'false')
RETURNING observation_id, explanation IS NOT NULL AS explained;
-- equal as jsonb: the keys in any order, 2.0 for 2
INSERT INTO predictions (observation_id, observation, model, model_version, explanation)
VALUES (204, '{"x": 3, "c": "b"}', 'tiny', 1,
        '{"contributions": {"x": 2.0, "c": -2.50}, "space": "log-odds", "base": 1.50}')
RETURNING observation_id, explanation;
-- errors
\set VERBOSITY default
INSERT INTO predictions (observation_id, observation, explanation) VALUES (8, '{"x": 1}', '{}');
INSERT INTO predictions (observation_id, observation, explanation) VALUES (8, '{"x": 1}', '1');
INSERT INTO predictions (observation_id, observation, model, model_version, explanation)
VALUES (205, '{"x": 3, "c": "b"}', 'tiny', 1,
        '{"contributions": {"x": 2, "c": -2.5}, "space": "log-odds", "base": 1.5000000000000002}');
INSERT INTO predictions (observation_id, observation, model, model_version, explanation)
VALUES (205, '{"x": 3, "c": "b"}', 'tiny', 2, '{"contributions": {}, "space": "log-odds", "base": 1}');
UPDATE predictions SET explanation = NULL WHERE observation_id = 1;
UPDATE predictions SET explanation = 'true' WHERE observation_id = 5;
-- a model that cannot be explained cannot be deployed with explain, nor
-- explain a row that asks
SELECT predict_deploy('plain', :'tiny', explain => true);
SELECT predict_deploy('plain', :'tiny', explain => NULL);
SELECT predict_deploy('plain', :'tiny', false);
SELECT predict_set_default('plain');
INSERT INTO predictions (observation_id, observation, explanation) VALUES (9, '{"x": 1}', 'true');
INSERT INTO predictions (observation_id, observation) VALUES (9, '{"x": 1}')
RETURNING observation_id, model, explanation;
SELECT count(*) FROM predictions WHERE observation_id IN (8, 205);
-- deploying is the owner's, with explain too
SELECT p.oid::regprocedure, has_function_privilege('public', p.oid, 'EXECUTE') AS public
  FROM pg_proc p WHERE p.proname = 'predict_deploy' ORDER BY p.oid::regprocedure::text COLLATE "C";
DROP EXTENSION predict;
