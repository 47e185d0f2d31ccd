/*
 * extension--1.1--1.2.sql - what the upgrade from 1.1 adds to report.sql,
 * which follows it and replaces every report function (mk/pg.mk puts
 * predict--1.1--1.2.sql together).
 *
 * 1.2: a PSI that cannot be computed (the version has no reference, the
 * window has no predictions, the reference does not describe the column)
 * reads 'unknown' instead of NULL, with the reason beside it, so that an
 * alert written as reading <> 'stable' reports what it cannot see.
 */
