/*
 * sqlite_setup.c - the SQLite backend's start-up and its command-line
 * verbs: the file created and switched to WAL, the extension's schema and
 * the first model put there in one IMMEDIATE transaction (so that gateways
 * starting together on a new file do it once), and `predict-gateway
 * deploy|activate|set-default` on a SQLite DATABASE_URL.
 */
#include "backend.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db_sqlite.h"
#include "extension.h"
#include "log.h"

/*
 * The first line of an error of the extension's functions: its errmsg, as
 * the PostgreSQL verbs print the primary message (DETAIL and HINT follow on
 * lines of their own). For "%.*s".
 */
#define PRIMARY_MESSAGE(db) (int) strcspn(sqlite3_errmsg(db), "\n"), sqlite3_errmsg(db)

/*
 * The first column of a query's first row as text in buf, empty when it has
 * no row (or a null); false (with msg) on failure.
 */
static bool
setup_query_text(sqlite3 *db, const char *sql, char *buf, size_t bufsize, char *msg,
				 size_t size, const char *what)
{
	sqlite3_stmt *st;
	int			rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
	{
		snprintf(msg, size, "%s: %s", what, sqlite3_errmsg(db));
		return false;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
		snprintf(buf, bufsize, "%s", (const char *) sqlite3_column_text(st, 0));
	else
		buf[0] = '\0';
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		snprintf(msg, size, "%s: %s", what, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE;
}

/*
 * Deploy the model file as the next version of name (the document's own
 * name when NULL), with explain (every row it logs explained); *version gets
 * the version. False with msg on failure.
 */
static bool
setup_deploy(sqlite3 *db, const char *path, const char *name_override, bool explain,
			 long long *version, char *msg, size_t size)
{
	size_t		len;
	char	   *text = read_whole_file(path, 64 * 1024 * 1024, &len);
	cJSON	   *doc;
	const cJSON *name;
	sqlite3_stmt *st = NULL;
	bool		ok = false;

	if (text == NULL)
	{
		snprintf(msg, size, "the database has no default model and the model file %s cannot be "
				 "read (%s): set PREDICT_MODEL to a model file made by tools/predict-export",
				 path, strerror(errno));
		return false;
	}
	doc = cJSON_ParseWithLength(text, len);
	name = doc != NULL ? cJSON_GetObjectItemCaseSensitive(doc, "name") : NULL;
	if (!cJSON_IsString(name) || name->valuestring == NULL)
	{
		snprintf(msg, size, "the model file %s is not a predict model (no \"name\"): set "
				 "PREDICT_MODEL to a model file made by tools/predict-export", path);
		goto done;
	}
	if (sqlite3_prepare_v2(db, explain ? "SELECT predict_deploy(?1, ?2, 1)" :
						   "SELECT predict_deploy(?1, ?2)", -1, &st, NULL) != SQLITE_OK)
	{
		snprintf(msg, size, "cannot deploy the model file %s: %.*s", path, PRIMARY_MESSAGE(db));
		goto done;
	}
	sqlite3_bind_text(st, 1, name_override != NULL ? name_override : name->valuestring, -1,
					  SQLITE_STATIC);
	sqlite3_bind_text(st, 2, text, (int) len, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW)
	{
		snprintf(msg, size, "cannot deploy the model file %s: %.*s (fix the file or set "
				 "PREDICT_MODEL to another one)", path, PRIMARY_MESSAGE(db));
		goto done;
	}
	*version = sqlite3_column_int64(st, 0);
	log_info("deployed model \"%s\" from %s as version %lld%s",
			 name_override != NULL ? name_override : name->valuestring, path, *version,
			 explain ? ", with explain" : "");
	ok = true;
done:
	sqlite3_finalize(st);
	cJSON_Delete(doc);
	free(text);
	return ok;
}

/* Run sql on the set-up connection; false with "what: message" in msg. */
static bool
setup_exec(sqlite3 *db, const char *sql, char *msg, size_t size, const char *what)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK)
		return true;
	snprintf(msg, size, "%s: %s", what, sqlite3_errmsg(db));
	return false;
}

/* The extension's schema, created or brought up to date; false with msg. */
static bool
setup_installed(sqlite3 *db, char *msg, size_t size)
{
	char	   *errmsg = NULL;

	if (predict_sqlite_install(db, &errmsg) == SQLITE_OK)
		return true;
	snprintf(msg, size, "%s", errmsg != NULL ? errmsg : "cannot create the predict schema");
	sqlite3_free(errmsg);
	return false;
}

/*
 * The set-up transaction: the extension's schema (created or brought up to
 * date by predict_sqlite_install, as loading predict_sqlite.so does), the
 * first model, and a check that every statement of the sessions compiles
 * against what is there (a predictions table of another application would
 * not).
 */
static bool
setup_schema(sqlite3 *db, const gateway_config *cfg, const char *path, char *msg, size_t size)
{
	char		default_model[128];		/* "name version", empty when none */
	long long	version;

	if (!setup_installed(db, msg, size))
		return false;
	if (!setup_query_text(db, "SELECT name || ' ' || active_version FROM predict_models"
						  " WHERE is_default = 1", default_model, sizeof(default_model),
						  msg, size, "cannot read the model registry"))
		return false;
	if (default_model[0] == '\0' &&
		!setup_deploy(db, cfg->model_path, NULL, cfg->explain, &version, msg, size))
		return false;
	if (!sqlite_statements_check(db, path, msg, size))
		return false;
	if (default_model[0] != '\0')
		config_note_default_model(cfg, default_model);
	return true;
}

/*
 * Open path for set-up (create: also when it does not exist yet), as every
 * connection of the gateway finds it: the predict functions registered, in
 * WAL mode (a property of the file, set once and kept by every later
 * connection), synchronous commits, and a busy handler that waits for
 * another set-up at most until *deadline. NULL with msg on failure.
 */
static sqlite3 *
setup_open(const char *path, bool create, int64_t *deadline, char *msg, size_t size)
{
	sqlite3    *db = NULL;
	char		what[PATH_MAX + 64];
	sqlite3_stmt *st;
	char		mode[16] = "";

	if (sqlite3_libversion_number() < 3037000)
	{
		snprintf(msg, size, "SQLite %s is too old (STRICT tables need 3.37): install a newer "
				 "libsqlite3 or use a postgresql:// DATABASE_URL", sqlite3_libversion());
		return NULL;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) |
						SQLITE_OPEN_EXRESCODE, NULL) != SQLITE_OK)
	{
		if (create)
			snprintf(msg, size, "cannot open the SQLite database %s (%s): check DATABASE_URL "
					 "(sqlite:///relative/path.db or sqlite:////absolute/path.db) and that the "
					 "directory exists and is writable", path,
					 db != NULL ? sqlite3_errmsg(db) : "out of memory");
		else
			snprintf(msg, size, "cannot open the SQLite database %s (%s): check DATABASE_URL, "
					 "or deploy a model into it first", path,
					 db != NULL ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_handler(db, sqlite_busy_wait, deadline);
	if (predict_sqlite_register(db, NULL) != SQLITE_OK)
	{
		snprintf(msg, size, "cannot register the predict functions: %s", sqlite3_errmsg(db));
		sqlite3_close(db);
		return NULL;
	}
	snprintf(what, sizeof(what), "cannot use the SQLite database %s", path);
	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL) == SQLITE_OK)
	{
		int			rc;
		int			tries = 0;

		/*
		 * Switching a new file to WAL needs its exclusive lock. When another
		 * gateway's set-up holds it pending while this one reads the header,
		 * SQLite answers SQLITE_BUSY at once rather than call the busy
		 * handler (either waiting would deadlock): let go and try again.
		 */
		while (((rc = sqlite3_step(st)) & 0xff) == SQLITE_BUSY &&
			   sqlite_busy_wait(deadline, tries++))
			sqlite3_reset(st);
		if (rc == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
			snprintf(mode, sizeof(mode), "%s", (const char *) sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
	}
	if (mode[0] == '\0')
		snprintf(msg, size, "%s: %s (is it a SQLite database? check DATABASE_URL)", what,
				 sqlite3_errmsg(db));
	else if (strcmp(mode, "wal") != 0)
		snprintf(msg, size, "%s: it cannot be switched to write-ahead logging (journal mode "
				 "stays \"%s\"): put it on a local file system", what, mode);
	if (mode[0] == '\0' || strcmp(mode, "wal") != 0 ||
		!setup_exec(db, "PRAGMA synchronous = FULL", msg, size, what))
	{
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

bool
sqlite_setup(const gateway_config *cfg, char *msg, size_t size)
{
	char		path[PATH_MAX];
	sqlite3    *db;
	int64_t		deadline = now_us() + SETUP_TIMEOUT_US;
	bool		ok = false;

	if (!sqlite_url_path(cfg->database_url, path, sizeof(path), msg, size))
		return false;
	/* wait for another gateway's set-up, at most a minute */
	if ((db = setup_open(path, true, &deadline, msg, size)) == NULL)
		return false;
	if (setup_exec(db, "BEGIN IMMEDIATE", msg, size, "cannot lock the database"))
	{
		if (setup_schema(db, cfg, path, msg, size))
			ok = setup_exec(db, "COMMIT", msg, size, "cannot commit");
		else
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	}
	sqlite3_close(db);
	return ok;
}

/* Run the activate or set-default statement; false with msg on failure. */
static bool
command_select(sqlite3 *db, const char *sql, const char *arg1, const char *arg2,
			   const char *what, char *msg, size_t size)
{
	sqlite3_stmt *st;
	bool		ok;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
	{
		snprintf(msg, size, "%s: %.*s", what, PRIMARY_MESSAGE(db));
		return false;
	}
	sqlite3_bind_text(st, 1, arg1, -1, SQLITE_STATIC);
	if (arg2 != NULL)
		sqlite3_bind_int64(st, 2, strtoll(arg2, NULL, 10));
	ok = sqlite3_step(st) == SQLITE_ROW;
	if (!ok)
		snprintf(msg, size, "%s: %.*s", what, PRIMARY_MESSAGE(db));
	sqlite3_finalize(st);
	return ok;
}

/*
 * `predict-gateway deploy|activate|set-default` on SQLite, in one write
 * transaction: BEGIN IMMEDIATE waits for the gateway's writers, where a bare
 * SELECT predict_deploy(...) begins as a reader and, under load, fails at
 * once with "database is locked".
 */
int
sqlite_command(const char *url, const char *verb, const char *name, bool explain,
			   const char *arg1, const char *arg2)
{
	char		path[PATH_MAX];
	char		msg[PATH_MAX + 1024] = "";
	sqlite3    *db = NULL;
	int64_t		deadline = now_us() + SETUP_TIMEOUT_US;
	long long	version = 0;
	bool		ok = false;

	if (!sqlite_url_path(url, path, sizeof(path), msg, sizeof(msg)))
	{
		fprintf(stderr, "predict-gateway %s: %s\n", verb, msg);
		return 2;
	}
	/* a deploy may be the database's first write, as the gateway's start is */
	db = setup_open(path, strcmp(verb, "deploy") == 0, &deadline, msg, sizeof(msg));
	if (db == NULL || !setup_exec(db, "BEGIN IMMEDIATE", msg, sizeof(msg), "cannot lock the database"))
		goto done;
	if (strcmp(verb, "deploy") == 0)
		ok = setup_installed(db, msg, sizeof(msg)) &&
			setup_deploy(db, arg1, name, explain, &version, msg, sizeof(msg));
	else if (strcmp(verb, "activate") == 0)
		ok = command_select(db, "SELECT predict_activate(?1, ?2)", arg1, arg2,
							"cannot activate the version", msg, sizeof(msg));
	else
		ok = command_select(db, "SELECT predict_set_default(?1)", arg1, NULL,
							"cannot make the model the default", msg, sizeof(msg));
	if (ok)
		ok = setup_exec(db, "COMMIT", msg, sizeof(msg), "cannot commit");
	else
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	if (ok && strcmp(verb, "deploy") == 0)
		printf("%lld\n", version);
done:
	if (!ok)
		fprintf(stderr, "predict-gateway %s: %s\n", verb, msg);
	sqlite3_close(db);
	return ok ? 0 : 1;
}

