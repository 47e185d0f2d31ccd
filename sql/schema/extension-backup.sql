/*
 * extension-backup.sql - what pg_dump and pg_restore need of the
 * extension's tables (in the install, and in the upgrade to 1.1).
 */

/*
 * Every prediction names a version of the registry. pg_dump orders the
 * data of an extension's tables by their foreign keys, so that pg_restore
 * (-j included) loads the registry before the predictions, whose restored
 * rows the trigger checks against their version. PostgreSQL would check the
 * key on every insert by locking the version's row, which costs 10% of the
 * insert rate and a MultiXact per concurrent insert (measured: 144,000 in
 * 15 s): the insert check is the scoring trigger's, which finds the version
 * in the registry or refuses the row, and PostgreSQL's own check trigger is
 * disabled. Deleting a version that predictions use is still refused.
 */
ALTER TABLE @extschema@.predictions
    ADD CONSTRAINT predictions_model_version_fkey FOREIGN KEY (model, model_version)
        REFERENCES @extschema@.predict_model_versions (name, version);

DO $$
DECLARE
    check_trigger name;
BEGIN
    SELECT t.tgname INTO STRICT check_trigger
      FROM pg_trigger t JOIN pg_constraint c ON c.oid = t.tgconstraint
     WHERE c.conrelid = '@extschema@.predictions'::regclass
       AND c.conname = 'predictions_model_version_fkey'
       AND t.tgrelid = c.conrelid AND t.tgfoid = 'pg_catalog."RI_FKey_check_ins"'::regproc;
    EXECUTE format('ALTER TABLE @extschema@.predictions DISABLE TRIGGER %I', check_trigger);
END
$$;

-- pg_dump dumps the contents of these tables (they are user data).
SELECT pg_catalog.pg_extension_config_dump('@extschema@.predict_model_versions', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.predict_models', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.predictions', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.predictions_id_seq', '');

