-- CREATE EXTENSION predict SCHEMA ml: every object in ml, and the C code
-- finds its tables there whatever the search_path.
CREATE SCHEMA ml;
CREATE EXTENSION predict SCHEMA ml;
\set tiny `cat test/pg/models/tiny.json`
SELECT e.extname, n.nspname, e.extversion, e.extrelocatable
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'predict';
SELECT pg_describe_object(d.classid, d.objid, 0) AS object
FROM pg_depend d
WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'predict')
ORDER BY 1;
-- nothing landed in public
SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace;
SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace;
-- the tables pg_dump dumps with the extension
SELECT unnest(extconfig)::regclass AS dumped FROM pg_extension WHERE extname = 'predict' ORDER BY 1;

-- ml is not on the search_path
SHOW search_path;
SELECT predict_proba('{}');
SELECT ml.predict_deploy('tiny', :'tiny');
SELECT ml.predict_proba('{"x": 0, "c": "a"}'), ml.predict_class('{"c": "b"}', 'tiny');
INSERT INTO ml.predictions (observation_id, observation) VALUES (1, '{"x": 1}')
RETURNING observation_id, proba, model, model_version;
UPDATE ml.predictions SET proba = 0;
UPDATE ml.predictions SET true_class = 1 RETURNING observation_id, true_class;

-- decoys on the search_path: tables and a function of the same names in
-- public are not what the extension uses
CREATE TABLE public.predict_models (name text, active_version integer, is_default boolean);
CREATE TABLE public.predict_model_versions (name text, version integer, model jsonb);
INSERT INTO public.predict_models VALUES ('decoy', 1, true);
INSERT INTO public.predict_model_versions VALUES ('decoy', 1, jsonb_set(:'tiny', '{estimator,intercept}', '100'));
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT 'epoch'::timestamptz $$;
SET search_path = public, ml, pg_catalog;
SELECT predict_proba('{"x": 0, "c": "a"}'), predict_proba('{"x": 0, "c": "a"}', 'tiny');
SELECT predict_proba('{}', 'decoy');
SELECT predict_deploy('tiny', jsonb_set(:'tiny', '{estimator,intercept}', '1'));
SELECT name, active_version, updated_at > 'epoch' AS real_now FROM ml.predict_models;
SELECT predict_proba('{"x": 0, "c": "a"}') = 1 / (1 + exp(-3::float8)) AS v2_from_ml;
RESET search_path;
DROP TABLE public.predict_models, public.predict_model_versions;
DROP FUNCTION public.now();

-- the extension is not relocatable: its schema is baked into its objects
ALTER EXTENSION predict SET SCHEMA public;
-- and the newest version is installed
ALTER EXTENSION predict UPDATE;
SELECT name, version, installed FROM pg_available_extension_versions WHERE name = 'predict';
-- the extension cannot go into a second schema of the same database
CREATE SCHEMA ml2;
CREATE EXTENSION predict SCHEMA ml2;
DROP SCHEMA ml2;

-- the schema cannot be dropped under the extension, except with it
DROP SCHEMA ml;
DROP EXTENSION predict;
SELECT count(*) FROM pg_class WHERE relnamespace = 'ml'::regnamespace;
DROP SCHEMA ml;
