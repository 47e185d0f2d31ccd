/*
 * extension.h - the SQLite extension's C interface, for a program that links
 * it (compiled with SQLITE_CORE) instead of loading predict_sqlite.so: the
 * gateway.
 */
#ifndef PREDICT_SQLITE_EXTENSION_H
#define PREDICT_SQLITE_EXTENSION_H

#include <sqlite3.h>

/*
 * Register the predict functions on db (each connection that uses them).
 * SQLITE_OK, or an error code with a message in *errmsg (sqlite3_free it)
 * when errmsg is not NULL.
 */
int			predict_sqlite_register(sqlite3 *db, char **errmsg);

/*
 * Create the extension's schema in db's main database, or bring its
 * triggers up to date (schema.c): what loading the extension does. Writes
 * only when something is missing or out of date, in its own transaction
 * (BEGIN IMMEDIATE) or, inside the caller's, a savepoint. Needs the
 * functions registered. SQLITE_OK, or an error code with *errmsg.
 */
int			predict_sqlite_install(sqlite3 *db, char **errmsg);

/* The loadable extension's entry points (registration, then installation). */
int			sqlite3_predict_init(sqlite3 *db, char **errmsg, const sqlite3_api_routines *api);
int			sqlite3_predictsqlite_init(sqlite3 *db, char **errmsg, const sqlite3_api_routines *api);

#endif							/* PREDICT_SQLITE_EXTENSION_H */
