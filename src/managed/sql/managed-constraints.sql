/*
 * managed-constraints.sql - a new managed schema's foreign key and
 * triggers. (pg_dump creates them after loading the tables' data, as for
 * any user table, so the order of a restore does not matter here.)
 */
ALTER TABLE @extschema@.predict_models
    ADD CONSTRAINT predict_models_name_active_version_fkey FOREIGN KEY (name, active_version)
        REFERENCES @extschema@.predict_model_versions (name, version);

CREATE TRIGGER predictions_score
    BEFORE INSERT ON @extschema@.predictions
    FOR EACH ROW EXECUTE FUNCTION @extschema@.predictions_score();

CREATE TRIGGER predictions_protect
    BEFORE UPDATE ON @extschema@.predictions
    FOR EACH ROW EXECUTE FUNCTION @extschema@.predictions_protect();
