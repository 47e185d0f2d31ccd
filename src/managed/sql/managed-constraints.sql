/*
 * managed-constraints.sql - a new managed schema's triggers on predictions.
 * (pg_dump creates them after loading the tables' data, as for any user
 * table, so the order of a restore does not matter here.) The registry's
 * are registry-checks.sql's.
 */

CREATE TRIGGER predictions_score
    BEFORE INSERT ON @extschema@.predictions
    FOR EACH ROW EXECUTE FUNCTION @extschema@.predictions_score();

CREATE TRIGGER predictions_protect
    BEFORE UPDATE ON @extschema@.predictions
    FOR EACH ROW EXECUTE FUNCTION @extschema@.predictions_protect();
