/* managed-triggers.sql - the predictions triggers (a new managed schema). */
CREATE TRIGGER predictions_score
    BEFORE INSERT ON @extschema@.predictions
    FOR EACH ROW EXECUTE FUNCTION @extschema@.predictions_score();

CREATE TRIGGER predictions_protect
    BEFORE UPDATE ON @extschema@.predictions
    FOR EACH ROW EXECUTE FUNCTION @extschema@.predictions_protect();
