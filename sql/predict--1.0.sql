/* predict--1.0.sql: the predict extension, version 1.0 */

-- complain if the script is sourced in psql rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION predict" to load this file. \quit

-- ---------- the model registry ----------

-- Every deployed version of every model, immutable once deployed.
CREATE TABLE @extschema@.predict_model_versions (
    name text NOT NULL CHECK (name ~ '^[A-Za-z0-9_.-]{1,63}$'),
    version integer NOT NULL CHECK (version > 0),
    model jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    deployed_by text NOT NULL DEFAULT current_user,
    PRIMARY KEY (name, version)
);

-- The active version of each model, and which model is the default.
CREATE TABLE @extschema@.predict_models (
    name text PRIMARY KEY,
    active_version integer NOT NULL,
    is_default boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (name, active_version)
        REFERENCES @extschema@.predict_model_versions (name, version)
);

-- At most one default model.
CREATE UNIQUE INDEX predict_models_one_default
    ON @extschema@.predict_models (is_default) WHERE is_default;

CREATE FUNCTION @extschema@.predict_deploy(name text, model jsonb)
RETURNS integer
AS 'MODULE_PATHNAME', 'predict_deploy'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION @extschema@.predict_activate(name text, version integer)
RETURNS void
AS 'MODULE_PATHNAME', 'predict_activate'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION @extschema@.predict_set_default(name text)
RETURNS void
AS 'MODULE_PATHNAME', 'predict_set_default'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- Deploying is for the extension's owner until it grants EXECUTE.
REVOKE EXECUTE ON FUNCTION @extschema@.predict_deploy(text, jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION @extschema@.predict_activate(text, integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION @extschema@.predict_set_default(text) FROM PUBLIC;

-- ---------- scoring ----------

CREATE FUNCTION @extschema@.predict_proba(obs jsonb)
RETURNS double precision
AS 'MODULE_PATHNAME', 'predict_proba'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

CREATE FUNCTION @extschema@.predict_proba(obs jsonb, model text)
RETURNS double precision
AS 'MODULE_PATHNAME', 'predict_proba'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

CREATE FUNCTION @extschema@.predict_class(obs jsonb)
RETURNS boolean
AS 'MODULE_PATHNAME', 'predict_class'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

CREATE FUNCTION @extschema@.predict_class(obs jsonb, model text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'predict_class'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

-- ---------- the predictions log ----------

CREATE TABLE @extschema@.predictions (
    id bigserial PRIMARY KEY,
    observation_id bigint NOT NULL UNIQUE,
    observation jsonb NOT NULL,
    proba double precision NOT NULL,
    predicted_class boolean NOT NULL,
    true_class smallint CHECK (true_class IN (0, 1)),
    model text NOT NULL,
    model_version integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Scores each inserted row with the default model (proba, predicted_class,
-- model, model_version are overwritten).
CREATE FUNCTION @extschema@.predictions_score()
RETURNS trigger
AS 'MODULE_PATHNAME', 'predictions_score'
LANGUAGE C;

-- Lets an UPDATE change true_class only, and sets updated_at.
CREATE FUNCTION @extschema@.predictions_protect()
RETURNS trigger
AS 'MODULE_PATHNAME', 'predictions_protect'
LANGUAGE C;

CREATE TRIGGER predictions_score
    BEFORE INSERT ON @extschema@.predictions
    FOR EACH ROW EXECUTE FUNCTION @extschema@.predictions_score();

CREATE TRIGGER predictions_protect
    BEFORE UPDATE ON @extschema@.predictions
    FOR EACH ROW EXECUTE FUNCTION @extschema@.predictions_protect();

-- pg_dump dumps the contents of these tables (they are user data).
SELECT pg_catalog.pg_extension_config_dump('@extschema@.predict_model_versions', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.predict_models', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.predictions', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.predictions_id_seq', '');
