-- DROP EXTENSION: everything goes, and a re-created registry never meets a
-- model this backend cached from the old one.
CREATE EXTENSION predict;
\set tiny `cat test/pg/models/tiny.json`
SELECT predict_deploy('tiny', :'tiny');
INSERT INTO predictions (observation_id, observation) VALUES (1, '{"x": 0, "c": "a"}');
SELECT predict_proba('{"x": 0, "c": "a"}');
SELECT ident FROM pg_backend_memory_contexts WHERE parent = 'predict model cache';

-- objects that depend on the extension block a plain DROP (terse: which
-- dependency the detail names follows the objects' OIDs)
CREATE VIEW scored AS SELECT observation_id, predict_proba(observation) AS p FROM predictions;
\set VERBOSITY terse
DROP EXTENSION predict;
\set VERBOSITY default
DROP VIEW scored;

DROP EXTENSION predict;
SELECT count(*) FROM pg_extension WHERE extname = 'predict';
SELECT to_regclass('predictions'), to_regclass('predict_models'), to_regclass('predict_model_versions'),
       to_regclass('predictions_id_seq');
SELECT count(*) FROM pg_proc WHERE proname LIKE 'predict%';
SELECT predict_proba('{}');
DROP EXTENSION predict;
DROP EXTENSION IF EXISTS predict;

-- again, in the same backend: version 1 of "tiny" is now another document
CREATE EXTENSION IF NOT EXISTS predict;
CREATE EXTENSION IF NOT EXISTS predict;
SELECT count(*) FROM predict_model_versions;
SELECT count(*) FROM predictions;
SELECT predict_proba('{}');
SELECT predict_deploy('tiny', jsonb_set(:'tiny', '{estimator,intercept}', '-2'));
SELECT predict_proba('{"x": 0, "c": "a"}') AS new_document;
SELECT ident FROM pg_backend_memory_contexts WHERE parent = 'predict model cache';
INSERT INTO predictions (observation_id, observation) VALUES (1, '{"x": 0, "c": "a"}')
RETURNING id, observation_id, proba, model_version;

-- DROP inside a transaction that rolls back keeps everything
BEGIN;
DROP EXTENSION predict;
ROLLBACK;
SELECT predict_proba('{"x": 0, "c": "a"}') AS still_there, (SELECT count(*) FROM predictions) AS rows;

-- CASCADE takes dependent objects along
CREATE VIEW scored AS SELECT observation_id, predict_proba(observation) AS p FROM predictions;
DROP EXTENSION predict CASCADE;
SELECT to_regclass('scored');
