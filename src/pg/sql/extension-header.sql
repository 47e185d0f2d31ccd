-- complain if the script is sourced in psql rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION predict" to load this file. \quit

-- Until the script ends, names resolve in pg_catalog only: nothing another
-- role created (in this schema or elsewhere) can be bound by it.
SET LOCAL search_path = pg_catalog, pg_temp;
