-- Monitoring reports: predict_report and its companions on small, exact
-- data, the degenerate cases (null metrics with a reason) and every error.
-- (Parity with scikit-learn on the Titanic rows, in both modes: test/report.)
CREATE EXTENSION predict;
SET TimeZone = 'UTC';
\set SHOW_CONTEXT never
\set tiny `cat test/pg/models/tiny.json`
\set reference '{"rows": 8, "proba": {"edges": [0.25, 0.5, 0.75], "fractions": [0.25, 0.25, 0.25, 0.25]}, "columns": [{"column": "x", "missing": 0.125, "edges": [-1, 0, 1], "fractions": [0.25, 0.125, 0.25, 0.25]}, {"column": "c", "missing": 0.25, "categories": ["a", "b"], "fractions": [0.5, 0.25], "other": 0}]}'

-- nothing deployed: the same errors as scoring
SELECT predict_report();
SELECT predict_report('tiny');
SELECT * FROM predict_report_metrics();

-- deployed, no predictions yet: the active version, every metric null with a reason
SELECT predict_deploy('tiny', jsonb_set(:'tiny', '{reference}', :'reference'));
SELECT * FROM predict_report_metrics();
SELECT * FROM predict_report_calibration();
SELECT * FROM predict_report_daily();
SELECT model_version, feature, kind, psi, reading, rows, missing_rate, reason FROM predict_report_psi();
SELECT jsonb_pretty(predict_report() - 'versions') AS report;
SELECT jsonb_pretty(predict_report() #> '{versions,0,reasons}') AS reasons;

-- scikit-learn's documentation example: y = [0, 0, 1, 1], p = [0.1, 0.4, 0.35, 0.8]
-- roc_auc_score 0.75, average_precision_score 0.8333333333333333,
-- log_loss 0.47228795380917615, brier_score_loss 0.158125,
-- calibration_curve(n_bins=2): prob_true [1/3, 1], prob_pred [0.28333333, 0.8]
-- (rows written with their scores, as a restore would: the trigger is off)
ALTER TABLE predictions DISABLE TRIGGER predictions_score;
INSERT INTO predictions (observation_id, observation, proba, predicted_class, true_class, model, model_version, created_at)
VALUES (1, '{"x": -2, "c": "a"}', 0.1, false, 0, 'tiny', 1, '2026-11-01 10:00+00'),
       (2, '{"x": -0.5, "c": "b"}', 0.4, false, 0, 'tiny', 1, '2026-11-01 11:00+00'),
       (3, '{"x": 0.5, "c": "a"}', 0.35, false, 1, 'tiny', 1, '2026-11-02 09:00+00'),
       (4, '{"x": 3, "c": "zz"}', 0.8, true, 1, 'tiny', 1, '2026-11-02 23:59:59+00');
SELECT * FROM predict_report_metrics();
SELECT * FROM predict_report_calibration(bins => 2);
SELECT * FROM predict_report_calibration();
SELECT * FROM predict_report_daily();
SELECT model_version, feature, kind, round(psi::numeric, 6) AS psi, reading, rows, missing_rate,
       reference_missing_rate, unseen_rows, unseen_rate, unseen_values, reason
FROM predict_report_psi();
SELECT * FROM predict_report_bins();

-- ties: a positive and a negative with the same score count one half in the
-- ROC AUC, and share one threshold in the average precision
-- (roc_auc_score([0, 0, 1, 1, 0, 1], [0.1, 0.4, 0.35, 0.8, 0.35, 0.1]) = 0.5555555555555556,
--  average_precision_score = 0.6666666666666667: the same but for the last
--  digit, summed in another order)
INSERT INTO predictions (observation_id, observation, proba, predicted_class, true_class, model, model_version, created_at)
VALUES (5, '{"x": 0}', 0.35, false, 0, 'tiny', 1, '2026-11-03 00:00+00'),
       (6, '{"c": null}', 0.1, false, 1, 'tiny', 1, '2026-11-03 00:00+00');
SELECT metric, value FROM predict_report_metrics() WHERE metric IN ('roc_auc', 'average_precision');

-- unlabelled rows count in the volume and the drift, not in the metrics
INSERT INTO predictions (observation_id, observation, proba, predicted_class, model, model_version, created_at)
VALUES (7, '{"x": "1_000", "c": 7}', 0.9, true, 'tiny', 1, '2026-11-03 12:00+00'),
       (8, '{"x": true, "c": "a"}', 0.6, true, 'tiny', 1, '2026-11-03 12:00+00'),
       (9, '{"x": " nan "}', 0.3, false, 'tiny', 1, '2026-11-03 12:00+00');
SELECT metric, value FROM predict_report_metrics() WHERE metric IN ('rows', 'labelled_rows', 'positive_rate', 'roc_auc');
-- "1_000" reads as 1000 and true as 1, as the scorer reads them; " nan " is missing
SELECT bin, label, reference, fraction, rows FROM predict_report_bins() WHERE feature = 'x';
SELECT unseen_rows, unseen_values FROM predict_report_psi() WHERE feature = 'c';

-- the window [since, until)
SELECT metric, value FROM predict_report_metrics('tiny', '2026-11-02', '2026-11-03')
WHERE metric IN ('rows', 'labelled_rows', 'accuracy', 'roc_auc');
SELECT model_version, day, rows FROM predict_report_daily(since => '2026-11-02 12:00+00');
SELECT model_version, day, rows FROM predict_report_daily(until => '2026-11-01 10:00:00.000001+00');

-- one class only: ROC AUC and average precision null with a reason, the rest defined
SELECT * FROM predict_report_metrics('tiny', until => '2026-11-01 12:00+00');
-- no labelled row at all
SELECT metric, value, reason FROM predict_report_metrics('tiny', '2026-11-03 06:00+00')
WHERE metric IN ('rows', 'roc_auc', 'log_loss', 'precision', 'recall', 'f1');

-- a second version without a reference: metrics per version, drift with a reason
SELECT predict_deploy('tiny', :'tiny');
INSERT INTO predictions (observation_id, observation, proba, predicted_class, true_class, model, model_version, created_at)
VALUES (10, '{"x": 1, "c": "a"}', 0.7, true, 1, 'tiny', 2, '2026-11-04 08:00+00'),
       (11, '{"c": "b"}', 0.2, false, 1, 'tiny', 2, '2026-11-04 09:00+00');
SELECT model_version, metric, value, reason FROM predict_report_metrics()
WHERE metric IN ('rows', 'accuracy', 'recall', 'roc_auc');
SELECT model_version, feature, psi, reading, missing_rate, reason FROM predict_report_psi() WHERE model_version = 2;
-- the daily alert of README.md is not silent where it cannot see: version 2's
-- features read 'unknown', with the reason (version 1's window is drifted too)
SELECT model_version, feature, reading, reason FROM predict_report_psi()
WHERE reading <> 'stable' OR unseen_rows > 0 ORDER BY model_version, feature COLLATE "C";
SELECT v->>'version' AS version, v->'active' AS active, v->'threshold' AS threshold,
       v #> '{drift,reference_rows}' AS reference_rows
FROM jsonb_array_elements(predict_report() -> 'versions') AS v;
ALTER TABLE predictions ENABLE TRIGGER predictions_score;

-- rows scored by the trigger report the same way
INSERT INTO predictions (observation_id, observation, true_class) VALUES (12, '{"x": 0, "c": "a"}', 1);
SELECT metric, value FROM predict_report_metrics() WHERE model_version = 2 AND metric IN ('rows', 'true_positives');

-- another model, named; the default model is still tiny
SELECT predict_deploy('other', :'tiny');
SELECT predict_report('other') #> '{versions,0,metrics,rows}' AS other_rows;
SELECT predict_report() ->> 'model' AS default_model;

-- errors
SELECT predict_report('nope');
SELECT * FROM predict_report_calibration(bins => 0);
SELECT * FROM predict_report_calibration(bins => 1001);
SELECT * FROM predict_report_calibration(bins => NULL);
SELECT predict_report('tiny', '2026-11-03', '2026-11-02');
-- a role that cannot read the predictions cannot read their report
CREATE ROLE report_reader;
SET ROLE report_reader;
SELECT predict_report();
RESET ROLE;
-- a reader needs SELECT on predictions and the reports' view of the
-- registry, not the model documents (tools/grant-analyst.sql)
GRANT SELECT ON predictions TO report_reader;
GRANT EXECUTE ON FUNCTION predict_internal.report_model(text), predict_internal.report_versions(text)
    TO report_reader;
SET ROLE report_reader;
SELECT predict_report() #> '{versions,0,metrics,rows}' AS readable;
SELECT count(*) > 0 AS metrics FROM predict_report_metrics();
SELECT model FROM predict_model_versions LIMIT 1;
SELECT * FROM predict_internal.report_versions('tiny') LIMIT 0;
RESET ROLE;
REVOKE SELECT ON predictions FROM report_reader;
REVOKE EXECUTE ON FUNCTION predict_internal.report_model(text), predict_internal.report_versions(text)
    FROM report_reader;
DROP ROLE report_reader;

DROP EXTENSION predict;
