/*
 * registry.sql - the model registry and the predictions log's rules, one
 * definition for both PostgreSQL modes: the extension's install and upgrade
 * scripts (mk/pg.mk) and managed mode's schema (mk/gateway.mk) include it.
 *
 * What differs between the modes is how a model is scored, so each host
 * defines, before this part:
 *   predict_internal.deploy_hint(name text) returns text: how to deploy a
 *     model there (NULL: the first model), the hint of a missing one;
 *   predict_internal.version_check(name text, version integer, model jsonb):
 *     that a stored version can be scored (the extension loads the document
 *     with the core; managed mode looks for the version's compiled scorer);
 * and its own scorer and BEFORE INSERT trigger, which raise the log's errors
 * from here (registry_raise).
 *
 * Every function runs with search_path = pg_catalog, pg_temp and names the
 * tables by their schema, @extschema@.
 */

/* ---------- errors ---------- */

-- predict_internal.registry_error, every error of the registry and of the
-- log with its SQLSTATE, message, detail and hint, is written from the
-- core's table (registry-errors.sql, made by mk/pg.mk; it comes before this
-- part).

-- Raise an error of registry_error (its arguments).
CREATE OR REPLACE FUNCTION predict_internal.registry_raise(
    kind text, name text DEFAULT NULL, version integer DEFAULT NULL, relation text DEFAULT NULL,
    row_proba float8 DEFAULT NULL, row_class boolean DEFAULT NULL,
    proba float8 DEFAULT NULL, class boolean DEFAULT NULL)
RETURNS void LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    e record := predict_internal.registry_error(kind, name, version, relation, row_proba, row_class,
                                                proba, class);
BEGIN
    -- RAISE takes no NULL option: one statement per shape
    IF e.detail IS NOT NULL AND e.hint IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = e.sqlstate, MESSAGE = e.message, DETAIL = e.detail, HINT = e.hint;
    ELSIF e.detail IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = e.sqlstate, MESSAGE = e.message, DETAIL = e.detail;
    ELSIF e.hint IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = e.sqlstate, MESSAGE = e.message, HINT = e.hint;
    END IF;
    RAISE EXCEPTION USING ERRCODE = e.sqlstate, MESSAGE = e.message;
END
$$;

/* ---------- changing the registry ---------- */

/*
 * The arguments of a deploy, in the order they are checked: the name (not
 * null, 1 to 63 ASCII letters, digits, "_", "." or "-": the core's
 * predict_model_name_valid), then the document (not null).
 */
CREATE OR REPLACE FUNCTION predict_internal.registry_check_deploy(name text, model jsonb)
RETURNS void LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF name IS NULL THEN
        PERFORM predict_internal.registry_raise('null name');
    END IF;
    IF name !~ '^[A-Za-z0-9_.-]{1,63}$' THEN
        PERFORM predict_internal.registry_raise('invalid name', name);
    END IF;
    IF model IS NULL THEN
        PERFORM predict_internal.registry_raise('null document');
    END IF;
END
$$;

-- A deploy's explain (1.5), after its name and document.
CREATE OR REPLACE FUNCTION predict_internal.registry_check_explain(explain boolean)
RETURNS void LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF explain IS NULL THEN
        RAISE EXCEPTION 'explain must not be null' USING ERRCODE = '22004',
            HINT = 'Deploy with explain => true to explain every row the version logs, or false (the default).';
    END IF;
END
$$;

/*
 * Serialize registry changes: SHARE ROW EXCLUSIVE conflicts with itself and
 * with ordinary writes, not with the scoring path's reads. Statements after
 * the lock take a new snapshot (READ COMMITTED) and see every change
 * committed before it, so versions are numbered without gaps or duplicates.
 */
CREATE OR REPLACE FUNCTION predict_internal.registry_lock()
RETURNS void LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    LOCK TABLE @extschema@.predict_models IN SHARE ROW EXCLUSIVE MODE;
END
$$;

-- Make version the active one of name (adding the name when new); the
-- first model becomes the default.
CREATE OR REPLACE FUNCTION predict_internal.registry_set_active(name text, version integer)
RETURNS void LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO @extschema@.predict_models AS m (name, active_version, is_default)
         VALUES (name, version, NOT EXISTS (SELECT FROM @extschema@.predict_models d WHERE d.is_default))
    ON CONFLICT ON CONSTRAINT predict_models_pkey
       DO UPDATE SET active_version = excluded.active_version, updated_at = now();
END
$$;

/*
 * Store a checked document as the next version of name and make it active
 * (the default model if there is none): what deploying is, in both modes.
 * With explain (1.5), the log's trigger explains every row the version
 * scores; the host has checked that it can. Returns the new version.
 */
CREATE OR REPLACE FUNCTION predict_internal.registry_add(name text, model jsonb, explain boolean DEFAULT false)
RETURNS integer LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    next_version integer;
BEGIN
    PERFORM predict_internal.registry_lock();
    SELECT coalesce(max(v.version), 0) INTO next_version
      FROM @extschema@.predict_model_versions v WHERE v.name = registry_add.name;
    IF next_version = 2147483647 THEN
        PERFORM predict_internal.registry_raise('maximum version', name);
    END IF;
    next_version := next_version + 1;
    INSERT INTO @extschema@.predict_model_versions (name, version, model, explain)
         VALUES (name, next_version, model, explain);
    PERFORM predict_internal.registry_set_active(name, next_version);
    RETURN next_version;
END
$$;

-- predict_activate: roll back, or forward, to a stored version.
CREATE OR REPLACE FUNCTION @extschema@.predict_activate(name text, version integer)
RETURNS void LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    doc jsonb;
BEGIN
    IF name IS NULL THEN
        PERFORM predict_internal.registry_raise('null name');
    END IF;
    IF version IS NULL THEN
        PERFORM predict_internal.registry_raise('null version');
    END IF;
    PERFORM predict_internal.registry_lock();
    SELECT v.model INTO doc FROM @extschema@.predict_model_versions v
     WHERE v.name = predict_activate.name AND v.version = predict_activate.version;
    IF NOT FOUND THEN
        IF NOT EXISTS (SELECT FROM @extschema@.predict_model_versions v WHERE v.name = predict_activate.name) THEN
            PERFORM predict_internal.registry_raise('unknown model', name);
        END IF;
        PERFORM predict_internal.registry_raise('unknown version', name, version);
    END IF;
    -- a version stored by hand, not deployed, must still be one the host can score
    PERFORM predict_internal.version_check(name, version, doc);
    PERFORM predict_internal.registry_set_active(name, version);
END
$$;

-- predict_set_default: the model of predict_proba(obs) and of the log's trigger.
CREATE OR REPLACE FUNCTION @extschema@.predict_set_default(name text)
RETURNS void LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF name IS NULL THEN
        PERFORM predict_internal.registry_raise('null name');
    END IF;
    PERFORM predict_internal.registry_lock();
    IF NOT EXISTS (SELECT FROM @extschema@.predict_models m WHERE m.name = predict_set_default.name) THEN
        PERFORM predict_internal.registry_raise('unknown model', name);
    END IF;
    -- two statements: the unique index on is_default is checked row by row
    UPDATE @extschema@.predict_models m SET is_default = false, updated_at = now()
     WHERE m.is_default AND m.name <> predict_set_default.name;
    UPDATE @extschema@.predict_models m SET is_default = true, updated_at = now()
     WHERE m.name = predict_set_default.name AND NOT m.is_default;
END
$$;

/* ---------- the predictions log ---------- */

/*
 * BEFORE UPDATE: predictions are an audit log; only true_class may change,
 * and updated_at is set here. The rest of the row must stay the same byte
 * for byte (*=, as REFRESH MATERIALIZED VIEW compares rows: a number's 1.0
 * and 1 differ, as their stored forms do), whatever the table's columns
 * are; a column that changed is named. One comparison of the whole row in
 * the common case; the columns one by one only to name the one refused.
 */
CREATE OR REPLACE FUNCTION @extschema@.predictions_protect()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    kept record;
    same boolean;
    col name;
BEGIN
    IF TG_OP <> 'UPDATE' OR TG_WHEN <> 'BEFORE' OR TG_LEVEL <> 'ROW' THEN
        RAISE EXCEPTION 'predictions_protect() must be fired BEFORE UPDATE FOR EACH ROW'
            USING ERRCODE = '39P01';
    END IF;
    kept := NEW;
    kept.true_class := OLD.true_class;
    kept.updated_at := OLD.updated_at;
    IF NOT kept OPERATOR(pg_catalog.*=) OLD THEN
        FOR col IN SELECT a.attname FROM pg_attribute a
                    WHERE a.attrelid = TG_RELID AND a.attnum > 0 AND NOT a.attisdropped
                      AND a.attname NOT IN ('true_class', 'updated_at')
                    ORDER BY a.attnum LOOP
            EXECUTE format('SELECT pg_catalog.record_image_eq(ROW($1.%1$I), ROW($2.%1$I))', col)
               INTO same USING OLD, NEW;
            IF NOT same THEN
                PERFORM predict_internal.registry_raise('scored column changed', col, relation => TG_TABLE_NAME);
            END IF;
        END LOOP;
    END IF;
    NEW.updated_at := transaction_timestamp();
    RETURN NEW;
END
$$;

-- Changing the registry is the owner's (the extension grants it on,
-- extension-grants.sql; managed mode's tables belong to the gateway's role).
REVOKE EXECUTE ON FUNCTION @extschema@.predict_activate(text, integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION @extschema@.predict_set_default(text) FROM PUBLIC;
