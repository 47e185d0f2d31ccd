-- Least privilege for the gateway's database role (docs/reliability.md).
--
--   psql -v role=predict_gateway -f tools/grant-gateway.sql
--
-- Run it as the owner of the predict schema (the role that created the
-- extension, or that the gateway first ran as in managed mode), after the
-- schema exists, in the schema the predict objects live in (search_path).
-- The gateway's role can then score, log predictions, read them and record
-- outcomes, and nothing else: it cannot deploy or activate models, read the
-- model documents, change what was predicted, delete rows, or drop anything.
-- Deploy with the owner role (bin/predict-gateway deploy, predict_deploy).

\set ON_ERROR_STOP on
SELECT format('GRANT USAGE ON SCHEMA %I TO %I', current_schema(), :'role') \gexec
-- readiness (/readyz) reads whether a default model exists
SELECT format('GRANT SELECT ON %I.predict_models TO %I', current_schema(), :'role') \gexec
-- /predict, /update, /predictions, /list-db-contents
SELECT format('GRANT SELECT, INSERT ON %I.predictions TO %I', current_schema(), :'role') \gexec
SELECT format('GRANT UPDATE (true_class) ON %I.predictions TO %I', current_schema(), :'role') \gexec
SELECT format('GRANT USAGE ON SEQUENCE %I.predictions_id_seq TO %I', current_schema(), :'role') \gexec
