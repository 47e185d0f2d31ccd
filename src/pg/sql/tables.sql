/*
 * tables.sql - the registry and the predictions log, the same in both
 * PostgreSQL modes (predict_models' versions are checked by the triggers of
 * registry-checks.sql). Like every part of the schema, it runs with search_path
 * set to pg_catalog, pg_temp: the operators and functions of its checks and
 * defaults are PostgreSQL's, whatever others created elsewhere.
 */

-- ---------- the model registry ----------

-- Every deployed version of every model, immutable once deployed.
CREATE TABLE @extschema@.predict_model_versions (
    name text NOT NULL CHECK (name ~ '^[A-Za-z0-9_.-]{1,63}$'),
    version integer NOT NULL CHECK (version > 0),
    model jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    deployed_by text NOT NULL DEFAULT current_user,
    -- 1.5: every row this version scores into the log is explained too
    explain boolean NOT NULL DEFAULT false,
    PRIMARY KEY (name, version)
);

-- The active version of each model, and which model is the default.
CREATE TABLE @extschema@.predict_models (
    name text PRIMARY KEY,
    active_version integer NOT NULL,
    is_default boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- At most one default model.
CREATE UNIQUE INDEX predict_models_one_default
    ON @extschema@.predict_models (is_default) WHERE is_default;

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
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- 1.5: the row's explanation (predict_explain's), when its version
    -- explains or its insert asked for one
    explanation jsonb
);
