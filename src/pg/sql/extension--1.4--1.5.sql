/*
 * extension--1.4--1.5.sql - what the upgrade from 1.4 changes in the
 * tables, before the parts it runs again (mk/pg.mk puts
 * predict--1.4--1.5.sql together).
 *
 * 1.5: explanations in the log (issue 20). A version may be deployed with
 * explain, and then the log's trigger stores the explanation of every row
 * it scores in the row's explanation; an insert may ask for one with true.
 * The rows and versions already stored are kept as they are: their
 * explanation is null, their explain false.
 */
ALTER TABLE @extschema@.predict_model_versions ADD COLUMN explain boolean NOT NULL DEFAULT false;
ALTER TABLE @extschema@.predictions ADD COLUMN explanation jsonb;

-- registry_add takes explain now (registry.sql creates it again)
DROP FUNCTION predict_internal.registry_add(text, jsonb);
