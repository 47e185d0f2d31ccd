/*
 * extension--1.2--1.3.sql - what the upgrade from 1.2 adds to the parts
 * that follow it, registry-errors.sql, registry.sql, extension.sql and
 * report.sql, which replace the registry's functions and the reports'
 * (mk/pg.mk puts predict--1.2--1.3.sql together).
 *
 * 1.3: the registry (predict_deploy's checks and numbering,
 * predict_activate, predict_set_default), the predictions log's audit rule
 * (predictions_protect) and every registry and log error are one SQL
 * definition with managed mode (registry.sql), their texts written once
 * for every host, SQLite's too (src/core/registry_errors.c); the reports
 * raise a missing model's errors from there as well (with the hint to
 * deploy). The C functions they replace stay in the module for the older
 * scripts only.
 */
