-- The predictions table and its triggers: scored on INSERT, an audit log
-- afterwards (only true_class may change).
CREATE EXTENSION predict;
\set tiny `cat test/pg/models/tiny.json`
SELECT predict_deploy('tiny', :'tiny');

-- without a model_version, what the client supplies for the scored columns
-- is overwritten
INSERT INTO predictions (observation_id, observation, proba, predicted_class, model)
VALUES (1, '{"x": 0, "c": "a"}', 0.123, false, 'forged')
RETURNING id, observation_id, observation, proba, predicted_class, true_class, model, model_version,
          created_at = now() AS created_now, updated_at = now() AS updated_now;
SELECT proba = predict_proba(observation) AS same_as_function,
       predicted_class = predict_class(observation) AS same_class
FROM predictions WHERE observation_id = 1;

-- many rows in one statement, from a query and from COPY
INSERT INTO predictions (observation_id, observation)
SELECT i, jsonb_build_object('x', i - 5, 'c', (ARRAY['a', 'b', null])[1 + i % 3])
FROM generate_series(2, 10) i;
COPY predictions (observation_id, observation) FROM stdin;
11	{"x": 1}
12	{"c": "b"}
\.
SELECT observation_id, observation, proba, predicted_class, model, model_version
FROM predictions ORDER BY observation_id;
SELECT count(*) FILTER (WHERE proba = predict_proba(observation)) AS all_same, count(*) FROM predictions;

-- duplicate observation_id: refused, nothing inserted
INSERT INTO predictions (observation_id, observation) VALUES (1, '{"x": 5}');
INSERT INTO predictions (observation_id, observation) VALUES (100, '{"x": 5}'), (100, '{"x": 6}');
-- the /predict upsert: a repeated observation keeps its first score
INSERT INTO predictions (observation_id, observation) VALUES (1, '{"x": 5}')
ON CONFLICT (observation_id) DO NOTHING RETURNING *;
SELECT observation, proba FROM predictions WHERE observation_id = 1;

-- the rows the constraints refuse (terse: the details show timestamps)
\set VERBOSITY terse
INSERT INTO predictions (observation_id, observation) VALUES (NULL, '{"x": 0}');
INSERT INTO predictions (observation_id, observation) VALUES (200, NULL);
INSERT INTO predictions (observation_id) VALUES (201);
INSERT INTO predictions (observation_id, observation, true_class) VALUES (202, '{}', 2);
\set VERBOSITY default
-- an observation that cannot be scored is refused with the core's message
INSERT INTO predictions (observation_id, observation) VALUES (203, '[{"x": 1}]');
INSERT INTO predictions (observation_id, observation) VALUES (204, '{"x": "one"}');
INSERT INTO predictions (observation_id, observation) VALUES (205, '{"c": "zz"}');
-- ... and one bad row fails the whole statement
INSERT INTO predictions (observation_id, observation)
SELECT i, CASE WHEN i = 305 THEN '{"x": [1]}' ELSE '{}' END::jsonb FROM generate_series(300, 310) i;
SELECT count(*) FROM predictions WHERE observation_id >= 100;

-- ---------- UPDATE: only true_class ----------
UPDATE predictions SET true_class = 1 WHERE observation_id = 1
RETURNING observation_id, proba, true_class, updated_at = now() AS updated_now, created_at < updated_at AS later;
UPDATE predictions SET true_class = 0 WHERE observation_id BETWEEN 2 AND 4;
UPDATE predictions SET true_class = NULL WHERE observation_id = 4;
SELECT observation_id, true_class FROM predictions WHERE observation_id <= 4 ORDER BY 1;
\set VERBOSITY terse
UPDATE predictions SET true_class = 2 WHERE observation_id = 1;
\set VERBOSITY default
-- setting a column to the value it has is no change
UPDATE predictions SET proba = proba, model = model, observation = observation, true_class = 1
WHERE observation_id = 2 RETURNING observation_id, true_class;
-- updated_at is set by the trigger, whatever the client says
UPDATE predictions SET true_class = 0, updated_at = '2000-01-01' WHERE observation_id = 3
RETURNING updated_at = now() AS updated_now;
-- every other column is refused
UPDATE predictions SET id = 1000 WHERE observation_id = 1;
UPDATE predictions SET observation_id = 1000 WHERE observation_id = 1;
UPDATE predictions SET observation = '{"x": 9}' WHERE observation_id = 1;
-- (an equal observation written differently is a change too)
UPDATE predictions SET observation = '{"x": 0.0, "c": "a"}' WHERE observation_id = 1;
UPDATE predictions SET proba = 0.99 WHERE observation_id = 1;
UPDATE predictions SET predicted_class = NOT predicted_class WHERE observation_id = 1;
UPDATE predictions SET model = 'other' WHERE observation_id = 1;
UPDATE predictions SET model_version = 2 WHERE observation_id = 1;
UPDATE predictions SET created_at = '2000-01-01' WHERE observation_id = 1;
UPDATE predictions SET true_class = 0, proba = 0 WHERE observation_id = 1;
-- ... also through ON CONFLICT DO UPDATE
INSERT INTO predictions (observation_id, observation) VALUES (1, '{"x": 5}')
ON CONFLICT (observation_id) DO UPDATE SET observation = excluded.observation;
INSERT INTO predictions (observation_id, observation) VALUES (1, '{"x": 5}')
ON CONFLICT (observation_id) DO UPDATE SET true_class = 0 RETURNING observation_id, observation, true_class;
-- the SQLSTATE of the refusal
DO $$
BEGIN
  UPDATE predictions SET proba = 0 WHERE observation_id = 1;
EXCEPTION WHEN insufficient_privilege THEN
  RAISE NOTICE 'refused with SQLSTATE %: %', SQLSTATE, SQLERRM;
END $$;

-- ---------- a new model version scores new rows; old rows keep theirs ----------
SELECT predict_deploy('tiny', jsonb_set(:'tiny', '{estimator,intercept}', '1'));
INSERT INTO predictions (observation_id, observation) VALUES (13, '{"x": 0, "c": "a"}')
RETURNING observation_id, proba, model, model_version;
SELECT observation_id, proba, model, model_version FROM predictions WHERE observation_id IN (1, 13) ORDER BY 1;
SELECT predict_deploy('other', jsonb_set(:'tiny', '{estimator,intercept}', '-1'));
SELECT predict_set_default('other');
INSERT INTO predictions (observation_id, observation) VALUES (14, '{"x": 0, "c": "a"}')
RETURNING observation_id, proba, model, model_version;
-- a deploy inside the inserting transaction is used by its next statement
BEGIN;
SELECT predict_activate('tiny', 1);
SELECT predict_set_default('tiny');
INSERT INTO predictions (observation_id, observation) VALUES (15, '{"x": 0, "c": "a"}')
RETURNING observation_id, proba, model, model_version;
ROLLBACK;
SELECT count(*) FROM predictions WHERE observation_id = 15;
SELECT model, model_version, count(*) FROM predictions GROUP BY 1, 2 ORDER BY 1, 2;

-- ---------- rows that arrive with their model_version (as a restore does) ----------
-- the score that version computes is kept, active or not, with every column
INSERT INTO predictions (id, observation_id, observation, proba, predicted_class, true_class, model,
                         model_version, created_at, updated_at)
SELECT 1000, 20, observation, proba, predicted_class, true_class, model, model_version,
       created_at - interval '1 day', updated_at - interval '1 hour'
  FROM predictions WHERE observation_id = 1
RETURNING id, observation_id, proba, predicted_class, true_class, model, model_version,
          created_at < now() AS created_kept, updated_at < now() AS updated_kept;
COPY predictions (observation_id, observation, proba, predicted_class, model, model_version) FROM stdin;
21	{"x": 0, "c": "a"}	0.8807970779778823	t	tiny	1
\.
-- a missing proba and predicted_class are the version's
INSERT INTO predictions (observation_id, observation, model, model_version)
VALUES (22, '{"x": 0, "c": "a"}', 'tiny', 1) RETURNING observation_id, proba, predicted_class, model_version;
-- any other score is refused: a restore cannot forge a prediction
INSERT INTO predictions (observation_id, observation, proba, predicted_class, model, model_version)
VALUES (23, '{"x": 0, "c": "a"}', 0.5, true, 'tiny', 1);
INSERT INTO predictions (observation_id, observation, proba, predicted_class, model, model_version)
VALUES (23, '{"x": 0, "c": "a"}', 0.88079707797788, true, 'tiny', 1);
INSERT INTO predictions (observation_id, observation, proba, predicted_class, model, model_version)
VALUES (23, '{"x": 0, "c": "a"}', 0.8807970779778823, false, 'tiny', 1);
COPY predictions (observation_id, observation, proba, predicted_class, model, model_version) FROM stdin;
23	{"x": 0, "c": "b"}	0.8807970779778823	t	tiny	1
\.
-- ... and so is a version that does not exist, or no model
INSERT INTO predictions (observation_id, observation, model, model_version) VALUES (23, '{}', 'tiny', 9);
INSERT INTO predictions (observation_id, observation, model, model_version) VALUES (23, '{}', 'nope', 1);
INSERT INTO predictions (observation_id, observation, model_version) VALUES (23, '{}', 1);
SELECT count(*) FROM predictions WHERE observation_id = 23;
-- the active version of a model cannot be deleted (a trigger: pg_restore -j
-- loads the registry's tables in any order, which a foreign key refuses)
\set SHOW_CONTEXT never
DELETE FROM predict_model_versions WHERE name = 'tiny' AND version = 2;
UPDATE predict_models SET active_version = 7 WHERE name = 'tiny';
UPDATE predict_model_versions SET version = 9 WHERE name = 'tiny' AND version = 2;
\set SHOW_CONTEXT errors
SELECT tgname, tgfoid::regproc FROM pg_trigger
WHERE tgrelid IN ('predict_models'::regclass, 'predict_model_versions'::regclass) ORDER BY 1;
SELECT conname FROM pg_constraint WHERE contype = 'f'
  AND conrelid IN ('predictions'::regclass, 'predict_models'::regclass);

-- DELETE is not restricted (retention is the owner's business)
DELETE FROM predictions WHERE observation_id = 14;
SELECT count(*) FROM predictions;

-- the triggers and the function of each
SELECT tgname, tgtype, tgfoid::regproc FROM pg_trigger
WHERE tgrelid = 'predictions'::regclass AND NOT tgisinternal ORDER BY tgname;

DROP EXTENSION predict;
