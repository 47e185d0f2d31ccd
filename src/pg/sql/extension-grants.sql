/*
 * extension-grants.sql - the privileges of the extension's objects (the
 * last part of the install, and of the upgrade to 1.1).
 */

/*
 * Privileges. The extension is trusted: a role with CREATE on the database
 * may create it, and then owns the extension, while its objects belong to
 * the superuser that ran the script. That role (@extowner@) gets what an
 * owner of the data needs, and may grant it on (tools/grant-gateway.sql,
 * tools/grant-analyst.sql): deploying, reading and writing the registry,
 * logging and deleting predictions (retention), restoring them (pg_restore
 * as the database's owner). No role may change a scored column
 * (predictions_protect) or disable the triggers.
 */
REVOKE EXECUTE ON FUNCTION @extschema@.predict_deploy(text, jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION @extschema@.predict_deploy(text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION @extschema@.predict_deploy(text, jsonb, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION @extschema@.predict_deploy(text, text, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION @extschema@.predict_activate(text, integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION @extschema@.predict_set_default(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.predict_deploy(text, jsonb), @extschema@.predict_deploy(text, text),
                          @extschema@.predict_deploy(text, jsonb, boolean),
                          @extschema@.predict_deploy(text, text, boolean),
                          @extschema@.predict_activate(text, integer), @extschema@.predict_set_default(text)
    TO @extowner@ WITH GRANT OPTION;
GRANT SELECT, INSERT, UPDATE, DELETE ON @extschema@.predict_model_versions, @extschema@.predict_models
    TO @extowner@ WITH GRANT OPTION;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON @extschema@.predictions TO @extowner@ WITH GRANT OPTION;
GRANT USAGE, SELECT, UPDATE ON SEQUENCE @extschema@.predictions_id_seq TO @extowner@ WITH GRANT OPTION;
-- the reports' view of the registry (report.sql)
GRANT EXECUTE ON FUNCTION predict_internal.report_model(text), predict_internal.report_versions(text)
    TO @extowner@ WITH GRANT OPTION;
