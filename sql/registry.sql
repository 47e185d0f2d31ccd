-- The model registry: predict_deploy, predict_activate, predict_set_default,
-- their tables, transactions, privileges and the model cache.
CREATE EXTENSION predict;
\set tiny `cat test/pg/models/tiny.json`
\set titanic `cat models/titanic.json`

-- an empty registry
SELECT count(*) FROM predict_model_versions;
SELECT count(*) FROM predict_models;

-- the first deploy is version 1, active and the default
BEGIN;
SELECT predict_deploy('tiny', :'tiny');
SELECT name, version, model = :'tiny'::jsonb AS same_document,
       deployed_by = current_user AS by_me, created_at = now() AS created_now
FROM predict_model_versions;
SELECT name, active_version, is_default, updated_at = now() AS updated_now FROM predict_models;
COMMIT;
SELECT predict_proba('{"x": 0}'), predict_proba('{"x": 0}', 'tiny');

-- the next deploy of the same name is version 2 and becomes active
SELECT predict_deploy('tiny', jsonb_set(:'tiny', '{estimator,intercept}', '1'));
SELECT name, active_version, is_default FROM predict_models;
SELECT predict_proba('{"x": 0}') AS v2_proba;
SELECT predict_proba('{"x": 0}') = 1 / (1 + exp(-1::float8)) AS v2_is_sigmoid_of_1;

-- a second model: active, but not the default
SELECT predict_deploy('titanic', :'titanic');
SELECT name, active_version, is_default FROM predict_models ORDER BY name;
SELECT predict_proba('{"x": 0}') AS default_still_tiny;
SELECT round(predict_proba('{"Sex": "female", "Pclass": 1}', 'titanic')::numeric, 4) AS titanic_female_first;

-- activate rolls back and forward
SELECT predict_activate('tiny', 1);
SELECT name, active_version FROM predict_models WHERE name = 'tiny';
SELECT predict_proba('{"x": 0}') AS v1_again;
SELECT predict_activate('tiny', 2);
SELECT predict_proba('{"x": 0}') = 1 / (1 + exp(-1::float8)) AS v2_again;
-- activating the active version changes nothing but updated_at
SELECT predict_activate('tiny', 2);
SELECT count(*) AS versions FROM predict_model_versions WHERE name = 'tiny';

-- set_default moves the single default
SELECT predict_set_default('titanic');
SELECT name, is_default FROM predict_models ORDER BY name;
SELECT round(predict_proba('{"Sex": "female", "Pclass": 1}')::numeric, 4) AS default_is_titanic;
SELECT predict_set_default('titanic');
SELECT count(*) FILTER (WHERE is_default) AS defaults FROM predict_models;
SELECT predict_set_default('tiny');
SELECT name, is_default FROM predict_models ORDER BY name;
-- the registry itself refuses a second default
UPDATE predict_models SET is_default = true WHERE name = 'titanic';

-- ---------- transactions ----------

-- a deploy that rolls back leaves nothing behind, even in this backend's cache
BEGIN;
SELECT predict_deploy('tiny', jsonb_set(:'tiny', '{estimator,intercept}', '5'));
SELECT predict_proba('{"x": 0}') = 1 / (1 + exp(-5::float8)) AS sees_own_v3;
ROLLBACK;
SELECT max(version) FROM predict_model_versions WHERE name = 'tiny';
SELECT predict_proba('{"x": 0}') = 1 / (1 + exp(-1::float8)) AS back_to_v2;
-- version 3 is deployed again with another document: the cache must not
-- return the rolled-back one, although name and version are the same
SELECT predict_deploy('tiny', jsonb_set(:'tiny', '{estimator,intercept}', '-1'));
SELECT predict_proba('{"x": 0}') = 1 / (1 + exp(1::float8)) AS new_v3;

-- activate and set_default roll back too
BEGIN;
SELECT predict_activate('tiny', 1);
SELECT predict_set_default('titanic');
SELECT name, active_version, is_default FROM predict_models ORDER BY name;
ROLLBACK;
SELECT name, active_version, is_default FROM predict_models ORDER BY name;

-- a savepoint rolled back undoes only what came after it
BEGIN;
SELECT predict_deploy('tiny', jsonb_set(:'tiny', '{estimator,intercept}', '2'));
SAVEPOINT s;
SELECT predict_deploy('tiny', jsonb_set(:'tiny', '{estimator,intercept}', '3'));
SELECT predict_proba('{"x": 0}') = 1 / (1 + exp(-3::float8)) AS sees_v5;
ROLLBACK TO SAVEPOINT s;
SELECT predict_proba('{"x": 0}') = 1 / (1 + exp(-2::float8)) AS sees_v4;
COMMIT;
SELECT name, version FROM predict_model_versions WHERE name = 'tiny' ORDER BY version;
SELECT active_version FROM predict_models WHERE name = 'tiny';

-- one statement sees one registry: a volatile deploy in the same query does
-- not change the model the query's other calls use
SELECT predict_proba('{"x": 0}') = 1 / (1 + exp(-2::float8)) AS before,
       predict_deploy('tiny', :'tiny') AS deployed;
SELECT predict_proba('{"x": 0}') AS after;

-- in a PL/pgSQL loop each statement sees the registry anew
DO $$
DECLARE
  p float8;
BEGIN
  FOR i IN 1..3 LOOP
    PERFORM predict_activate('tiny', i);
    p := predict_proba('{"x": 0}');
    RAISE NOTICE 'version %: %', i, p;
  END LOOP;
END $$;
SELECT active_version FROM predict_models WHERE name = 'tiny';

-- an open cursor keeps the model of its snapshot while the registry changes
SELECT predict_activate('tiny', 1);
BEGIN;
DECLARE c CURSOR FOR SELECT i, predict_proba('{"x": 0}', 'tiny') FROM generate_series(1, 4) i;
FETCH 2 FROM c;
SELECT predict_activate('tiny', 2);
SELECT predict_proba('{"x": 0}', 'tiny') = 1 / (1 + exp(-1::float8)) AS new_statement_sees_v2;
FETCH 2 FROM c;
COMMIT;

-- ---------- the model cache ----------

-- only active versions stay loaded: superseded ones are freed at the next
-- statement that finds the newer version
SELECT predict_proba('{"x": 0}', 'tiny') IS NOT NULL, predict_proba('{}', 'titanic') IS NOT NULL;
SELECT ident FROM pg_backend_memory_contexts WHERE parent = 'predict model cache' ORDER BY ident;
SELECT predict_activate('tiny', 1);
SELECT predict_proba('{"x": 0}', 'tiny');
SELECT ident FROM pg_backend_memory_contexts WHERE parent = 'predict model cache' ORDER BY ident;

-- ---------- privileges ----------

SELECT p.oid::regprocedure AS function, has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'predict')
ORDER BY p.oid::regprocedure::text;
CREATE ROLE regress_predict_app;
GRANT INSERT, SELECT ON predictions TO regress_predict_app;
GRANT USAGE ON SEQUENCE predictions_id_seq TO regress_predict_app;
SET ROLE regress_predict_app;
-- scoring needs no privilege on the registry tables
SELECT predict_proba('{"x": 0}');
SELECT predict_class('{"x": 0}', 'tiny');
INSERT INTO predictions (observation_id, observation) VALUES (1, '{"x": 1}')
RETURNING observation_id, proba, model, model_version;
-- deploying is not for everyone
SELECT predict_deploy('tiny', :'tiny');
SELECT predict_activate('tiny', 1);
SELECT predict_set_default('tiny');
SELECT count(*) FROM predict_model_versions;
RESET ROLE;
DELETE FROM predictions;
REVOKE ALL ON predictions FROM regress_predict_app;
REVOKE ALL ON SEQUENCE predictions_id_seq FROM regress_predict_app;
DROP ROLE regress_predict_app;

-- ---------- predict.max_model_bytes ----------

SHOW predict.max_model_bytes;
SET predict.max_model_bytes = '2kB';
SELECT predict_deploy('tiny', jsonb_set(:'tiny', '{provenance,note}', to_jsonb(repeat('x', 1000))));
SELECT predict_deploy('tiny', jsonb_set(:'tiny', '{provenance,note}', to_jsonb(repeat('x', 2000))));
SELECT active_version FROM predict_models WHERE name = 'tiny';
-- the model this backend already loaded is not affected
SELECT predict_proba('{}', 'titanic') IS NOT NULL AS cached;
RESET predict.max_model_bytes;
SET predict.max_model_bytes = 100;
SET predict.no_such_setting = 1;

DROP EXTENSION predict;
