-- Every error the extension raises, with its SQLSTATE and message.
-- error_of(query) runs a query and returns the SQLSTATE and message of its
-- error (VERBOSITY verbose would also print C file and line numbers).
CREATE EXTENSION predict;
\set tiny `cat test/pg/models/tiny.json`
CREATE FUNCTION pg_temp.error_of(query text, OUT code text, OUT message text)
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE query;
  code := '-----';
  message := 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
END $$;
-- the queries below are quoted: they read the tiny model from a table
CREATE TEMP TABLE fixture AS SELECT :'tiny'::jsonb AS tiny;

-- ---------- no model deployed ----------
-- (the hints show how to deploy one)
SELECT predict_proba('{}');
SELECT predict_class('{}');
SELECT predict_proba('{}', 'titanic');
SELECT predict_class('{}', 'no such model');
INSERT INTO predictions (observation_id, observation) VALUES (1, '{}');
SELECT c.label, e.* FROM (VALUES
  ('proba, default', $q$SELECT predict_proba('{}')$q$),
  ('class, default', $q$SELECT predict_class('{}')$q$),
  ('proba, named', $q$SELECT predict_proba('{}', 'titanic')$q$),
  ('class, named', $q$SELECT predict_class('{}', 'titanic')$q$),
  ('trigger', $q$INSERT INTO predictions (observation_id, observation) VALUES (1, '{}')$q$)
) c(label, query), LATERAL pg_temp.error_of(c.query) e;

-- ---------- predict_deploy ----------
SELECT c.label, e.* FROM (VALUES
  ('null name', $q$SELECT predict_deploy(NULL, '{}')$q$),
  ('null model', $q$SELECT predict_deploy('tiny', NULL)$q$),
  ('empty name', $q$SELECT predict_deploy('', '{}')$q$),
  ('space in name', $q$SELECT predict_deploy('my model', '{}')$q$),
  ('quote in name', $q$SELECT predict_deploy('it''s', '{}')$q$),
  ('non-ASCII name', $q$SELECT predict_deploy('modèle', '{}')$q$),
  ('64-byte name', $q$SELECT predict_deploy(repeat('m', 64), '{}')$q$),
  ('array document', $q$SELECT predict_deploy('tiny', '[]')$q$),
  ('scalar document', $q$SELECT predict_deploy('tiny', '42')$q$),
  ('empty object', $q$SELECT predict_deploy('tiny', '{}')$q$)
) c(label, query), LATERAL pg_temp.error_of(c.query) e;

-- the loader's message starts with the JSON path of the offending value
SELECT predict_deploy('tiny', jsonb_set(:'tiny', '{estimator,coef,2}', '"two"'));
SELECT c.label, e.* FROM (VALUES
  ('format', $q$SELECT predict_deploy('tiny', jsonb_set((SELECT tiny FROM fixture), '{format}', '"predict-model/2"'))$q$),
  ('misspelt field', $q$SELECT predict_deploy('tiny', (SELECT tiny FROM fixture) || '{"treshold": 0.5}')$q$),
  ('threshold', $q$SELECT predict_deploy('tiny', jsonb_set((SELECT tiny FROM fixture), '{threshold}', '1.5'))$q$),
  ('coef count', $q$SELECT predict_deploy('tiny', jsonb_set((SELECT tiny FROM fixture), '{estimator,coef}', '[1, 2]'))$q$),
  ('coef 1e400', $q$SELECT predict_deploy('tiny', jsonb_set((SELECT tiny FROM fixture), '{estimator,coef,0}', '1e400'))$q$),
  ('unknown column', $q$SELECT predict_deploy('tiny', jsonb_set((SELECT tiny FROM fixture), '{preprocessing,0,column}', '"X"'))$q$),
  ('duplicate category', $q$SELECT predict_deploy('tiny', jsonb_set((SELECT tiny FROM fixture), '{preprocessing,1,steps,1,categories,1}', '"a"'))$q$),
  ('estimator type', $q$SELECT predict_deploy('tiny', jsonb_set((SELECT tiny FROM fixture), '{estimator,type}', '"svc"'))$q$),
  ('missing provenance', $q$SELECT predict_deploy('tiny', (SELECT tiny FROM fixture) - 'provenance')$q$),
  ('1001 levels deep', $q$SELECT predict_deploy('tiny', jsonb_set((SELECT tiny FROM fixture), '{provenance,deep}', (repeat('[', 1001) || repeat(']', 1001))::jsonb))$q$),
  ('too large', $q$SELECT set_config('predict.max_model_bytes', '2kB', true), predict_deploy('tiny', jsonb_set((SELECT tiny FROM fixture), '{provenance,note}', to_jsonb(repeat('x', 2000))))$q$)
) c(label, query), LATERAL pg_temp.error_of(c.query) e;
-- nothing was written by the failed deploys
SELECT count(*) FROM predict_model_versions;

SELECT predict_deploy('tiny', :'tiny');

-- ---------- predict_activate and predict_set_default ----------
SELECT predict_activate('nope', 1);
SELECT predict_activate('tiny', 2);
-- a version written to the table by hand is validated before it is activated
INSERT INTO predict_model_versions (name, version, model) VALUES ('tiny', 2, '{"format": "predict-model/1"}');
SELECT predict_activate('tiny', 2);
SELECT c.label, e.* FROM (VALUES
  ('unknown model', $q$SELECT predict_activate('nope', 1)$q$),
  ('unknown version', $q$SELECT predict_activate('tiny', 3)$q$),
  ('version 0', $q$SELECT predict_activate('tiny', 0)$q$),
  ('invalid stored version', $q$SELECT predict_activate('tiny', 2)$q$),
  ('null name', $q$SELECT predict_activate(NULL, 1)$q$),
  ('null version', $q$SELECT predict_activate('tiny', NULL)$q$),
  ('set_default, unknown', $q$SELECT predict_set_default('nope')$q$),
  ('set_default, null', $q$SELECT predict_set_default(NULL)$q$)
) c(label, query), LATERAL pg_temp.error_of(c.query) e;
DELETE FROM predict_model_versions WHERE version = 2;
SELECT name, active_version, is_default FROM predict_models;

-- ---------- scoring: observations ----------
-- a bad observation names the column; the detail names the model
SELECT predict_proba('{"x": "abc"}');
SELECT predict_proba('{"c": "zz"}', 'tiny');
SELECT c.label, e.* FROM (VALUES
  ('array', $q$SELECT predict_proba('[]')$q$),
  ('array of objects', $q$SELECT predict_proba('[{"x": 1}]')$q$),
  ('string', $q$SELECT predict_proba('"x"')$q$),
  ('number', $q$SELECT predict_proba('1')$q$),
  ('boolean', $q$SELECT predict_class('true')$q$),
  ('JSON null', $q$SELECT predict_proba('null')$q$),
  ('named, array', $q$SELECT predict_proba('[]', 'tiny')$q$),
  ('number: string', $q$SELECT predict_proba('{"x": "abc"}')$q$),
  ('number: empty string', $q$SELECT predict_proba('{"x": ""}')$q$),
  ('number: two underscores', $q$SELECT predict_proba('{"x": "1__0"}')$q$),
  ('number: object', $q$SELECT predict_proba('{"x": {"a": 1}}')$q$),
  ('number: array', $q$SELECT predict_proba('{"x": [1]}')$q$),
  ('number: 1e400', $q$SELECT predict_proba('{"x": 1e400}')$q$),
  ('number: -1e400', $q$SELECT predict_proba('{"x": -1e400}')$q$),
  ('number: 1e131071', $q$SELECT predict_proba(('{"x": 1e131071}'))$q$),
  ('number: "inf"', $q$SELECT predict_proba('{"x": "inf"}')$q$),
  ('number: "-Infinity"', $q$SELECT predict_proba('{"x": " -Infinity "}')$q$),
  ('string: object', $q$SELECT predict_proba('{"c": {}}')$q$),
  ('string: array', $q$SELECT predict_proba('{"c": []}')$q$),
  ('string: unknown', $q$SELECT predict_proba('{"c": "zz"}')$q$),
  ('string: number', $q$SELECT predict_proba('{"c": 1}')$q$),
  ('string: boolean', $q$SELECT predict_proba('{"c": true}')$q$),
  ('string: case', $q$SELECT predict_proba('{"c": "A"}')$q$),
  ('string: escapes', $q$SELECT predict_proba('{"c": "tab\t quote\" backslash\\ nl\n"}')$q$),
  ('string: unicode', $q$SELECT predict_proba('{"c": "é😀\u00e9"}')$q$),
  ('string: long', $q$SELECT predict_proba(jsonb_build_object('c', repeat('long', 100)))$q$),
  ('deep nesting', $q$SELECT predict_proba(('{"x": ' || repeat('[', 5000) || repeat(']', 5000) || '}')::jsonb)$q$),
  ('class: string', $q$SELECT predict_class('{"x": "abc"}', 'tiny')$q$)
) c(label, query), LATERAL pg_temp.error_of(c.query) e;
-- jsonb itself refuses \u0000, as the format does
SELECT predict_proba('{"c": "\u0000"}');

-- a missing value with no imputer reaches the estimator
SELECT predict_deploy('strict', jsonb_set(:'tiny', '{preprocessing,0,steps}', '[]'));
SELECT predict_proba('{"c": "a"}', 'strict');
SELECT predict_proba('{"x": null, "c": "a"}', 'strict');
SELECT predict_proba('{"x": 1, "c": "a"}', 'strict');

-- ---------- the triggers, called the wrong way ----------
SELECT predictions_score();
SELECT predictions_protect();
CREATE TABLE not_predictions (id int, observation jsonb);
CREATE TRIGGER t BEFORE INSERT ON not_predictions FOR EACH ROW EXECUTE FUNCTION predictions_score();
INSERT INTO not_predictions VALUES (1, '{}');
CREATE TABLE wrong_types (observation jsonb, proba numeric, predicted_class boolean, model text,
                          model_version integer, true_class smallint, updated_at timestamptz);
CREATE TRIGGER t BEFORE INSERT ON wrong_types FOR EACH ROW EXECUTE FUNCTION predictions_score();
INSERT INTO wrong_types (observation) VALUES ('{}');
CREATE TABLE like_predictions (LIKE predictions INCLUDING DEFAULTS);
CREATE TRIGGER t AFTER INSERT ON like_predictions FOR EACH ROW EXECUTE FUNCTION predictions_score();
INSERT INTO like_predictions (observation_id, observation, proba, predicted_class, model, model_version)
VALUES (1, '{}', 0.5, true, 'tiny', 1);
DROP TRIGGER t ON like_predictions;
CREATE TRIGGER t BEFORE INSERT ON like_predictions FOR EACH STATEMENT EXECUTE FUNCTION predictions_score();
INSERT INTO like_predictions (observation) VALUES ('{}');
DROP TRIGGER t ON like_predictions;
CREATE TRIGGER t BEFORE INSERT ON like_predictions FOR EACH ROW EXECUTE FUNCTION predictions_protect();
INSERT INTO like_predictions (observation) VALUES ('{}');
DROP TRIGGER t ON like_predictions;
CREATE TRIGGER t BEFORE UPDATE ON like_predictions FOR EACH ROW EXECUTE FUNCTION predictions_score();
INSERT INTO like_predictions (observation_id, observation, proba, predicted_class, model, model_version)
VALUES (1, '{}', 0.5, true, 'tiny', 1);
UPDATE like_predictions SET true_class = 1;
DROP TRIGGER t ON like_predictions;
-- on a table of the same shape the trigger works
CREATE TRIGGER t BEFORE INSERT ON like_predictions FOR EACH ROW EXECUTE FUNCTION predictions_score();
INSERT INTO like_predictions (observation_id, observation) VALUES (2, '{"c": "a"}')
RETURNING observation_id, proba, model, model_version;
SELECT c.label, e.* FROM (VALUES
  ('called directly', $q$SELECT predictions_score()$q$),
  ('missing columns', $q$INSERT INTO not_predictions VALUES (1, '{}')$q$),
  ('wrong column type', $q$INSERT INTO wrong_types (observation) VALUES ('{}')$q$)
) c(label, query), LATERAL pg_temp.error_of(c.query) e;
DROP TABLE not_predictions, wrong_types, like_predictions;

-- ---------- nothing crashed ----------
SELECT predict_proba('{"x": 2, "c": "b"}') = 1 / (1 + exp(-(2 - 2)::float8)) AS still_scoring;
DROP EXTENSION predict;
