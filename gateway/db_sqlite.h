/*
 * db_sqlite.h - what the SQLite backend (db_sqlite.c) shares with its
 * start-up (sqlite_setup.c).
 */
#ifndef GATEWAY_DB_SQLITE_H
#define GATEWAY_DB_SQLITE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Start-up waits this long for another process's write (another gateway's set-up). */
#define SETUP_TIMEOUT_US (60 * 1000000LL)

/* Busy handler: sleep in short, growing steps until *(int64_t *) arg, then give up. */
int			sqlite_busy_wait(void *arg, int count);

/*
 * Whether every statement of the sessions compiles on db (the database at
 * path); false with a message in msg.
 */
bool		sqlite_statements_check(sqlite3 *db, const char *path, char *msg, size_t size);

/*
 * The backend's start-up (sqlite_setup.c): the file, WAL, the schema and
 * the first model. False with one line in msg.
 */
bool		sqlite_setup(const gateway_config *cfg, char *msg, size_t size);

#endif							/* GATEWAY_DB_SQLITE_H */
