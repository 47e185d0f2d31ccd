/*
 * extension--1.2--1.3.sql - what the upgrade from 1.2 adds to registry.sql
 * and extension.sql, which follow it and replace the registry's functions
 * (mk/pg.mk puts predict--1.2--1.3.sql together).
 *
 * 1.3: the registry (predict_deploy's checks and numbering,
 * predict_activate, predict_set_default), the predictions log's audit rule
 * (predictions_protect) and every registry and log error are one SQL
 * definition with managed mode (registry.sql); the C functions they
 * replace stay in the module for the older scripts only.
 */
