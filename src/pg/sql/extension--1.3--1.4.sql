/*
 * extension--1.3--1.4.sql - what the upgrade from 1.3 adds to the part
 * that follows it, explain.sql (mk/pg.mk puts predict--1.3--1.4.sql
 * together).
 *
 * 1.4: explanations, predict_explain and predict_reasons (issue 20). Nothing
 * of 1.3 changes: the registry, the log and the reports are as 1.3 made
 * them.
 */
