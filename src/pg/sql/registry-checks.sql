/*
 * registry-checks.sql - the active version of a model is one of its
 * versions, and an active version stays: triggers, the same in both
 * PostgreSQL modes (since the extension's 1.3 and managed mode's 1.4,
 * which had a foreign key), raising the core's errors.
 *
 * pg_dump orders the data of an extension's tables only for a serial
 * restore (by their foreign keys, else by name: the registry first);
 * pg_restore -j loads them in parallel, in any order. So predict_models'
 * versions are checked by a trigger rather than a foreign key, and, as the
 * predictions' trigger does, while a dump loads (pg_restore's sessions, or
 * any COPY: pg_restore under another PGAPPNAME) and the registry is still
 * empty it waits for the registry to be loaded by the restore's other
 * sessions (an INSERT, or any other statement, never waits).
 */
CREATE OR REPLACE FUNCTION predict_internal.models_check()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    waited integer := 0;
    restoring boolean;
BEGIN
    LOOP
        -- (each statement of this volatile function sees what was committed
        -- before it; the registry is loaded whole by one COPY, so a registry
        -- that was not empty before the lookup has all its versions)
        restoring := (current_setting('application_name') = 'pg_restore'
                      OR current_query() ~* '^\s*copy\s')
                     AND NOT EXISTS (SELECT FROM @extschema@.predict_model_versions);
        PERFORM FROM @extschema@.predict_model_versions v
          WHERE v.name = NEW.name AND v.version = NEW.active_version;
        IF FOUND THEN
            RETURN NEW;
        END IF;
        EXIT WHEN NOT restoring;
        PERFORM pg_sleep(0.1);
        waited := waited + 1;
        IF waited % 600 = 0 THEN
            RAISE WARNING 'restored models wait for the model registry, which this restore has not loaded yet'
                USING HINT = 'pg_restore -j loads the extension''s tables in parallel; if predict_model_versions '
                             'is not part of this restore, cancel it and restore the registry first.';
        END IF;
    END LOOP;
    PERFORM predict_internal.registry_raise('active version missing', NEW.name, NEW.active_version);
    RETURN NULL;
END
$$;

-- A version that is active cannot be deleted or renamed.
CREATE OR REPLACE FUNCTION predict_internal.versions_protect()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF (TG_OP = 'DELETE' OR (NEW.name, NEW.version) IS DISTINCT FROM (OLD.name, OLD.version))
       AND EXISTS (SELECT FROM @extschema@.predict_models m
                    WHERE m.name = OLD.name AND m.active_version = OLD.version) THEN
        PERFORM predict_internal.registry_raise('active version deleted', OLD.name, OLD.version);
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;

CREATE OR REPLACE TRIGGER predict_models_check
    BEFORE INSERT OR UPDATE ON @extschema@.predict_models
    FOR EACH ROW EXECUTE FUNCTION predict_internal.models_check();

CREATE OR REPLACE TRIGGER predict_model_versions_protect
    BEFORE UPDATE OR DELETE ON @extschema@.predict_model_versions
    FOR EACH ROW EXECUTE FUNCTION predict_internal.versions_protect();

