/*
 * extension-backup.sql - what pg_dump needs of the extension's tables (in
 * the install, and in the upgrade to 1.1); the checks that let pg_restore
 * -j load them in any order are registry-checks.sql's.
 */

-- pg_dump dumps the contents of these tables (they are user data).
SELECT pg_catalog.pg_extension_config_dump('@extschema@.predict_model_versions', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.predict_models', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.predictions', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.predictions_id_seq', '');

