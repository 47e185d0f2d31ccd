/*
 * extension--1.0--1.1.sql - what the upgrade from 1.0 removes; the rest of
 * the upgrade is the 1.1 install's own parts, which replace every function
 * and trigger (mk/pg.mk puts predict--1.0--1.1.sql together).
 *
 * 1.1: internal functions move to schema predict_internal; every function
 * runs with a fixed search_path or has a SQL-standard body; untyped calls
 * reach text overloads of the extension's own; restored rows keep their
 * score when it is their version's, and pg_restore -j works (restored rows
 * wait for the registry); the reports need no privilege on the model documents; the
 * extension is trusted, and its owner gets the privileges of an owner of
 * the data; the scoring functions have a measured COST.
 */

-- 1.0's foreign key from predict_models to the registry (a trigger in 1.1:
-- pg_restore -j loaded predict_models before the registry and failed)
ALTER TABLE @extschema@.predict_models DROP CONSTRAINT predict_models_name_active_version_fkey;

-- 1.0's report helpers, in the extension's schema (report.sql replaces
-- the user-facing report functions that called them)
DROP FUNCTION @extschema@.predict__report(text, timestamptz, timestamptz, integer, boolean, boolean);
DROP FUNCTION @extschema@.predict__report_columns(text, integer, timestamptz, timestamptz, jsonb, bigint);
DROP FUNCTION @extschema@.predict__report_model(text);
DROP FUNCTION @extschema@.predict__report_below(float8);
DROP FUNCTION @extschema@.predict__report_number(jsonb);
DROP FUNCTION @extschema@.predict__report_parse(text);
DROP FUNCTION @extschema@.predict__report_double(numeric);
DROP FUNCTION @extschema@.predict__report_reading(float8);
DROP FUNCTION @extschema@.predict__report_psi_term(float8, float8);
