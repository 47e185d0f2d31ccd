-- Least privilege for the gateway's database role (docs/reliability.md).
--
--   psql -v role=predict_gateway -f tools/grant-gateway.sql
--
-- Run it as the owner of the predict schema (the role that created the
-- extension, or that the gateway first ran as in managed mode), after the
-- schema exists. The gateway's role can then serve every route: score, log
-- predictions, read them, record outcomes and read the reports (GET /,
-- /report.json); and nothing else: it cannot deploy or activate models,
-- read the model documents, change what was predicted, delete rows, or drop
-- anything. Deploy with the owner role (bin/predict-gateway deploy).

\set ON_ERROR_STOP on
\ir predict-schema.sql
SELECT format('GRANT USAGE ON SCHEMA %I TO %I', :'predict_schema', :'role') \gexec
-- readiness (/readyz) reads whether a default model exists
SELECT format('GRANT SELECT ON %I.predict_models TO %I', :'predict_schema', :'role') \gexec
-- /predict, /update, /predictions, /list-db-contents
SELECT format('GRANT SELECT, INSERT ON %I.predictions TO %I', :'predict_schema', :'role') \gexec
SELECT format('GRANT UPDATE (true_class) ON %I.predictions TO %I', :'predict_schema', :'role') \gexec
SELECT format('GRANT USAGE ON SEQUENCE %I.predictions_id_seq TO %I', :'predict_schema', :'role') \gexec
-- GET / and /report.json: the reports' view of the registry (not the documents)
SELECT format('GRANT EXECUTE ON FUNCTION predict_internal.report_model(text), '
              'predict_internal.report_versions(text) TO %I', :'role') \gexec
