-- A read-only analyst role (docs/sql-reference.md, Privileges).
--
--   psql -v role=predict_analyst -f tools/grant-analyst.sql
--
-- Run it as the owner of the predict schema, after the schema exists. The
-- analyst's role can read the predictions and the registry's list of models
-- and run every report function (predict_report and predict_report_*), and
-- writes nothing: no deploy, no prediction, no outcome; nor can it read the
-- model documents.

\set ON_ERROR_STOP on
\ir predict-schema.sql
SELECT format('GRANT USAGE ON SCHEMA %I TO %I', :'predict_schema', :'role') \gexec
SELECT format('GRANT SELECT ON %I.predictions, %I.predict_models TO %I',
              :'predict_schema', :'predict_schema', :'role') \gexec
SELECT format('GRANT EXECUTE ON FUNCTION predict_internal.report_model(text), '
              'predict_internal.report_versions(text) TO %I', :'role') \gexec
