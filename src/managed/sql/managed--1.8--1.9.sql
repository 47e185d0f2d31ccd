/*
 * managed--1.8--1.9.sql - what a migration to 1.9 changes besides the
 * functions (explanations in the log, issue 20): a version may be deployed
 * with explain, and the log's rows have an explanation; the rows and
 * versions already stored keep null and false. registry_add and
 * deploy_compiled take explain, and are created again after this.
 * Idempotent: every migration from 1.0 runs it.
 */
ALTER TABLE @extschema@.predict_model_versions ADD COLUMN IF NOT EXISTS explain boolean NOT NULL DEFAULT false;
ALTER TABLE @extschema@.predictions ADD COLUMN IF NOT EXISTS explanation jsonb;
DROP FUNCTION IF EXISTS predict_internal.registry_add(text, jsonb);
DROP FUNCTION IF EXISTS predict_internal.deploy_compiled(text, jsonb, text);
