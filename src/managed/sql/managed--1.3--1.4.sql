/*
 * managed--1.3--1.4.sql - what a migration to 1.4 changes besides the
 * functions: predict_models' versions are checked by the extension's
 * triggers (registry-checks.sql, which follows), no longer by a foreign
 * key, so that both modes raise the same errors. Idempotent: every
 * migration from 1.0 to 1.3 runs it.
 */
ALTER TABLE @extschema@.predict_models DROP CONSTRAINT IF EXISTS predict_models_name_active_version_fkey;
