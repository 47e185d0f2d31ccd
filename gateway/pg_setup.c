/*
 * pg_setup.c - prepare a PostgreSQL database for the gateway, and deploy
 * models into it.
 *
 * Two modes serve the same API with the same numbers:
 *   - extension: CREATE EXTENSION predict (the C scorer in the database);
 *   - managed: where the extension cannot be installed (Heroku Postgres and
 *     other managed services), the same tables, constraints and triggers in
 *     plain SQL and PL/pgSQL (src/managed/sql/managed.sql, embedded in the binary), and
 *     each model version compiled to a PL/pgSQL function by the C core at
 *     deploy time (predict_model_to_sql), which scores bit for bit as the
 *     extension does.
 * PREDICT_MODE=auto (the default) uses the extension when it is installed
 * or can be created, else managed mode; the gateway logs which, once.
 *
 * Everything here is one transaction under a transaction-scoped advisory
 * lock, so that several gateways (two dynos booting together) or a deploy
 * command never race on the schema or on the first model, and a set-up
 * that fails leaves nothing behind. The set-up names every object with its
 * schema and runs with search_path pg_catalog, pg_temp.
 */
#include "pg_setup.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "config.h"
#include "log.h"
#include "managed_sql.h"
#include "predict.h"
#include "registry_errors.h"

#define SETUP_LOCK_KEY "8102099357864587264"
#define MANAGED_SCHEMA_VERSION "1.10"	/* predict_internal.schema_version() of src/managed/sql/managed.sql */
#define EXTENSION_VERSION "1.5"			/* predict.control's default_version */
#define MAX_MODEL_FILE ((size_t) 256 * 1024 * 1024)

typedef struct pg_target
{
	PGconn	   *conn;
	bool		managed;
	bool		managed_1_0;	/* a managed schema of 1.0 this role could not migrate */
	bool		read_only;		/* a standby (or default_transaction_read_only) */
	char		schema[256];	/* the predict tables' schema, quoted as an identifier */
	char		schema_literal[256];	/* the same name as a string literal's body */
	char		home[256];		/* current_schema(): where a new schema goes */
	char		mode_note[512]; /* the mode and why, for the start-up log */
} pg_target;

void
pg_ignore_notice(void *arg, const char *message)
{
	(void) arg;
	(void) message;
}

const char *
pg_first_line(const char *message, char *buf, size_t size)
{
	size_t		n = strcspn(message, "\n");

	if (n >= size)
		n = size - 1;
	memcpy(buf, message, n);
	buf[n] = '\0';
	return buf;
}

/*
 * Run a statement; on failure write "<what>: <server's first line><hint>"
 * to msg and return NULL.
 */
static PGresult *
setup_exec(PGconn *conn, const char *sql, int nparams, const char *const *values,
		   char *msg, size_t size, const char *what, const char *hint)
{
	/* a script (no parameters) may hold several statements: simple protocol */
	PGresult   *res = nparams == 0 ? PQexec(conn, sql) :
		PQexecParams(conn, sql, nparams, NULL, values, NULL, NULL, 0);
	const char *primary = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	char		line[256];

	if (PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK)
		return res;
	snprintf(msg, size, "%s: %s%s", what,
			 primary != NULL ? primary :
			 pg_first_line(res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(conn),
						   line, sizeof(line)), hint);
	PQclear(res);
	return NULL;
}

/* Run a statement for its success only. */
static bool
setup_run(PGconn *conn, const char *sql, char *msg, size_t size, const char *what,
		  const char *hint)
{
	PGresult   *res = setup_exec(conn, sql, 0, NULL, msg, size, what, hint);

	PQclear(res);
	return res != NULL;
}

/*
 * Run a statement that may fail without failing the set-up (inside a
 * savepoint). On failure, why gets the server's message and sqlstate its
 * SQLSTATE, and the transaction goes on.
 */
static bool
setup_try(PGconn *conn, const char *sql, char *why, size_t size, char sqlstate[6])
{
	PGresult   *res;
	bool		ok;

	PQclear(PQexec(conn, "SAVEPOINT predict_setup"));
	res = PQexec(conn, sql);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
	if (!ok)
	{
		const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		if (primary != NULL)
			snprintf(why, size, "%s", primary);
		else
			pg_first_line(PQresultErrorMessage(res), why, size);
		snprintf(sqlstate, 6, "%s", state != NULL ? state : "");
	}
	PQclear(res);
	PQclear(PQexec(conn, ok ? "RELEASE SAVEPOINT predict_setup" : "ROLLBACK TO SAVEPOINT predict_setup"));
	return ok;
}

static PGconn *
connect_setup(const char *url, char *msg, size_t size)
{
	const char *keywords[] = {"fallback_application_name", "dbname", "connect_timeout", NULL};
	const char *values[] = {"predict-gateway", url, "5", NULL};
	PGconn	   *conn = PQconnectdbParams(keywords, values, 1);
	char		line[256];

	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
	{
		snprintf(msg, size, "cannot connect to the database (%s): check DATABASE_URL and that "
				 "PostgreSQL is running and accepts connections",
				 conn != NULL ? pg_first_line(PQerrorMessage(conn), line, sizeof(line))
				 : "out of memory");
		PQfinish(conn);
		return NULL;
	}
	PQsetNoticeProcessor(conn, pg_ignore_notice, NULL);
	return conn;
}

/*
 * The set-up is one transaction under a transaction-scoped advisory lock
 * (waiting at most a minute for another gateway's), so that gateways booting
 * together see each other's schema and first deploy whole, and nothing of
 * it outlives the transaction on a pooled connection.
 */
static bool query_value(PGconn *conn, const char *sql, char *buf, size_t bufsize, char *msg,
						size_t size, const char *what);

/*
 * Before anything else, the current schema is read (where a new schema
 * goes), with a qualified call; then only pg_catalog is searched, whatever
 * the role's search_path, so that the set-up never calls another role's
 * functions or operators. A read-only database (a hot standby) takes no
 * lock and gets nothing created: t->read_only makes the set-up check
 * instead of create.
 */
static bool
begin_setup(pg_target *t, char *msg, size_t size)
{
	char		read_only[8];

	if (!setup_run(t->conn, "BEGIN", msg, size, "cannot start the set-up", "") ||
		!query_value(t->conn, "SELECT pg_catalog.current_schema()", t->home, sizeof(t->home), msg, size,
					 "cannot read the current schema") ||
		!setup_run(t->conn, "SET LOCAL search_path = pg_catalog, pg_temp", msg, size,
				   "cannot configure the set-up session", "") ||
		!query_value(t->conn, "SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'",
					 read_only, sizeof(read_only), msg, size, "cannot inspect the database"))
		return false;
	t->read_only = read_only[0] == 't';
	if (t->read_only)
		return true;
	return setup_run(t->conn, "SET LOCAL lock_timeout = '60s'", msg, size,
					 "cannot configure the set-up session", "") &&
		setup_run(t->conn, "SELECT pg_advisory_xact_lock(" SETUP_LOCK_KEY ")", msg, size,
				  "cannot take the set-up lock", " (another gateway is starting?)");
}

#define READ_ONLY_HINT "the database is read-only (a hot standby): start the gateway against the " \
	"primary (a libpq URL with several hosts can add target_session_attrs=read-write)"

static bool
end_setup(PGconn *conn, bool ok, char *msg, size_t size)
{
	if (!ok)
	{
		PQclear(PQexec(conn, "ROLLBACK"));
		return false;
	}
	return setup_run(conn, "COMMIT", msg, size, "cannot commit the set-up", "");
}

/* The value of a one-row, one-column query, copied into buf; false with msg. */
static bool
query_value(PGconn *conn, const char *sql, char *buf, size_t bufsize, char *msg, size_t size,
			const char *what)
{
	PGresult   *res = setup_exec(conn, sql, 0, NULL, msg, size, what, "");

	if (res == NULL)
		return false;
	snprintf(buf, bufsize, "%s", PQntuples(res) > 0 && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0) : "");
	PQclear(res);
	return true;
}

/*
 * A query returning a schema name ($1 is t->home): t->schema gets it quoted,
 * t->schema_literal escaped.
 */
static bool
query_schema(pg_target *t, const char *name_sql, char *msg, size_t size)
{
	char		sql[512];
	const char *home[1] = {t->home};
	PGresult   *res;

	snprintf(sql, sizeof(sql), "SELECT quote_ident(n), replace(n, '''', '''''') FROM (%s) AS s(n)",
			 name_sql);
	res = setup_exec(t->conn, sql, strstr(name_sql, "$1") != NULL ? 1 : 0, home, msg, size,
					 "cannot read the predict schema's name", "");
	if (res == NULL)
		return false;
	snprintf(t->schema, sizeof(t->schema), "%s", PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "");
	snprintf(t->schema_literal, sizeof(t->schema_literal), "%s",
			 PQntuples(res) > 0 ? PQgetvalue(res, 0, 1) : "");
	PQclear(res);
	return true;
}

/* One of managed mode's scripts with the schema's names in place of its placeholders. */
static char *
managed_script(const pg_target *t, const char *script)
{
	size_t		quoted = strlen(t->schema);
	size_t		literal = strlen(t->schema_literal);
	size_t		cap = strlen(script) * 2 + 4096;
	char	   *out = malloc(cap);
	const char *p = script;
	size_t		n = 0;

	if (out == NULL)
		return NULL;
	while (*p)
	{
		const char *with = NULL;
		size_t		skip = 0;
		size_t		len;

		if (strncmp(p, "@extschema_name@", 16) == 0)
			with = t->schema_literal, skip = 16, len = literal;
		else if (strncmp(p, "@extschema@", 11) == 0)
			with = t->schema, skip = 11, len = quoted;
		else
			len = 1;
		if (n + len + 1 > cap)
		{
			char	   *bigger = realloc(out, cap *= 2);

			if (bigger == NULL)
			{
				free(out);
				return NULL;
			}
			out = bigger;
		}
		if (with != NULL)
		{
			memcpy(out + n, with, len);
			p += skip;
		}
		else
			out[n] = *p++;
		n += len;
	}
	out[n] = '\0';
	return out;
}

/* Run one of managed mode's scripts; false with the server's message in why. */
static bool
run_managed_script(pg_target *t, const char *script, char *why, size_t size, char sqlstate[6])
{
	char	   *sql = managed_script(t, script);
	bool		ok;

	if (sql == NULL)
	{
		snprintf(why, size, "out of memory");
		snprintf(sqlstate, 6, "53200");
		return false;
	}
	ok = setup_try(t->conn, sql, why, size, sqlstate);
	free(sql);
	return ok;
}

static bool compile_model(pg_target *t, const char *path, const char *text, size_t len,
						  predict_model **model, char **compiled, char *msg, size_t size);
static long version_number(const char *v);

/*
 * Compile every stored version again and install its scorers into
 * predict_internal (a migration: the scorers of this gateway's code
 * generator replace the older ones). False with the message in msg.
 */
static bool
recompile_scorers(pg_target *t, char *msg, size_t msgsize)
{
	char		sql[512];
	PGresult   *res;
	bool		ok = true;

	snprintf(sql, sizeof(sql), "SELECT name, version::text, model::text FROM %s.predict_model_versions "
			 "ORDER BY name, version", t->schema);
	res = setup_exec(t->conn, sql, 0, NULL, msg, msgsize, "cannot read the model registry", "");
	for (int i = 0; ok && res != NULL && i < PQntuples(res); i++)
	{
		const char *text = PQgetvalue(res, i, 2);
		predict_model *model;
		char	   *compiled;
		char		what[160];
		const char *values[3];
		PGresult   *r;

		snprintf(what, sizeof(what), "model \"%s\" version %s", PQgetvalue(res, i, 0),
				 PQgetvalue(res, i, 1));
		ok = compile_model(t, what, text, strlen(text), &model, &compiled, msg, msgsize);
		if (!ok)
			break;
		values[0] = compiled;
		values[1] = PQgetvalue(res, i, 0);
		values[2] = PQgetvalue(res, i, 1);
		r = setup_exec(t->conn, "SELECT predict_internal.install_scorer($1, $2, $3::integer)", 3, values,
					   msg, msgsize, "cannot install a compiled scorer", "");
		ok = r != NULL;
		PQclear(r);
		free(compiled);
		predict_model_free(model);
	}
	if (res == NULL)
		ok = false;
	PQclear(res);
	return ok;
}

/*
 * A 1.0 managed schema kept its internal functions and scorers in the
 * tables' schema: move to 1.1 (src/managed/sql/managed--1.0--1.1.sql, then every
 * stored version compiled again into predict_internal), in the set-up's
 * transaction. False with why and sqlstate when the server refused.
 */
static bool
migrate_managed_1_0(pg_target *t, char *why, size_t size, char sqlstate[6], char *msg, size_t msgsize)
{
	PQclear(PQexec(t->conn, "SAVEPOINT predict_migrate"));
	if (!run_managed_script(t, managed_upgrade_1_0_sql, why, size, sqlstate))
	{
		PQclear(PQexec(t->conn, "ROLLBACK TO SAVEPOINT predict_migrate"));
		return false;
	}
	if (!recompile_scorers(t, msg, msgsize))
	{
		PQclear(PQexec(t->conn, "ROLLBACK TO SAVEPOINT predict_migrate"));
		snprintf(why, size, "%s", msg);
		sqlstate[0] = '\0';
		return false;
	}
	PQclear(PQexec(t->conn, "RELEASE SAVEPOINT predict_migrate"));
	return true;
}

/*
 * A managed schema of 1.1 or later differs from this gateway's only in its
 * functions: create them again (managed_upgrade_1_1_sql), and before 1.8
 * (1.6 added the inlinable scorers, 1.7 their cheaper guard, 1.8 the
 * explanation functions) every version's scorers, in a savepoint of the
 * set-up's transaction. A role that may not (not the schema's owner)
 * is served by the functions there are, as with a 1.0 schema it cannot
 * migrate.
 */
static bool
migrate_managed_functions(pg_target *t, const char *version, char *msg, size_t size)
{
	char		why[512];
	char		sqlstate[6] = "";

	if (t->read_only)
		return true;
	PQclear(PQexec(t->conn, "SAVEPOINT predict_migrate"));
	if (run_managed_script(t, managed_upgrade_1_1_sql, why, sizeof(why), sqlstate) &&
		(version_number(version) >= 1008 || recompile_scorers(t, why, sizeof(why))))
	{
		PQclear(PQexec(t->conn, "RELEASE SAVEPOINT predict_migrate"));
		log_info("migrated the managed predict schema from %s to " MANAGED_SCHEMA_VERSION, version);
		return true;
	}
	PQclear(PQexec(t->conn, "ROLLBACK TO SAVEPOINT predict_migrate"));
	if (strcmp(sqlstate, "42501") == 0)
	{
		log_warning("the managed predict schema is version %s and this role cannot migrate it (%s): "
					"start a gateway once as the schema's owner", version, why);
		return true;
	}
	snprintf(msg, size, "cannot migrate the managed predict schema from %s to " MANAGED_SCHEMA_VERSION
			 ": %s", version, why);
	return false;
}

/* "major.minor" as a number to compare (1.1 -> 1001); -1 if it is not one. */
static long
version_number(const char *v)
{
	char	   *end;
	long		major = strtol(v, &end, 10);
	long		minor;

	if (end == v || *end != '.')
		return -1;
	minor = strtol(end + 1, &end, 10);
	if (*end != '\0')
		return -1;
	return major * 1000 + minor;
}

/* The extension is there or can be created: make it, or update an older version. */
static bool
prepare_extension(pg_target *t, bool installed, const char *version, const char *mode,
				  char *why, size_t why_size, char *msg, size_t size)
{
	char		sqlstate[6] = "";
	char		reason[300];

	if (!installed && t->read_only)
	{
		snprintf(msg, size, "the predict extension is not installed and %s", READ_ONLY_HINT);
		return false;
	}
	if (!installed)
	{
		char		create[320];

		/* in the current schema, as a plain CREATE EXTENSION would */
		snprintf(create, sizeof(create), "CREATE EXTENSION predict SCHEMA %s", t->schema);
		if (setup_try(t->conn, create, why, why_size, sqlstate))
			return query_schema(t, "SELECT e.extnamespace::regnamespace::text FROM pg_extension e "
								"WHERE e.extname = 'predict'", msg, size);
		/* only a missing extension or privilege sends auto mode to managed mode */
		if (strcmp(mode, "extension") == 0 ||
			(strcmp(sqlstate, "42501") != 0 && strcmp(sqlstate, "58P01") != 0 &&
			 strcmp(sqlstate, "0A000") != 0))
		{
			snprintf(msg, size, "cannot create the predict extension: %s (install it with "
					 "`make install` as root in the predict repository, and connect as a user "
					 "allowed to create extensions; or run with PREDICT_MODE=managed)", why);
			return false;
		}
		t->managed = true;
		return true;
	}
	if (!query_schema(t, "SELECT e.extnamespace::regnamespace::text FROM pg_extension e "
					  "WHERE e.extname = 'predict'", msg, size))
		return false;
	if (version_number(version) < version_number(EXTENSION_VERSION) && !t->read_only)
	{
		if (setup_try(t->conn, "ALTER EXTENSION predict UPDATE TO '" EXTENSION_VERSION "'",
					  reason, sizeof(reason), sqlstate))
			log_info("updated the predict extension from %s to " EXTENSION_VERSION, version);
		else
			log_warning("the predict extension is version %s and this role cannot update it (%s): "
						"run ALTER EXTENSION predict UPDATE as its owner", version, reason);
	}
	return true;
}

/* The managed schema: a new one, a 1.0 one to migrate, or the current one. */
static bool
prepare_managed(pg_target *t, const char *found, char *msg, size_t size)
{
	char		why[512];
	char		sqlstate[6] = "";
	char		version[64];

	if (strcmp(found, "managed") == 0)
	{
		if (!query_value(t->conn, "SELECT predict_internal.schema_version()", version, sizeof(version),
						 msg, size, "cannot read the managed schema's version") ||
			!query_schema(t, "SELECT predict_internal.tables_schema()", msg, size))
			return false;
		if (version_number(version) > version_number(MANAGED_SCHEMA_VERSION))
		{
			snprintf(msg, size, "this database's predict schema is version %s, newer than this gateway "
					 "(" MANAGED_SCHEMA_VERSION "): run a predict-gateway of version %s or later", version,
					 version);
			return false;
		}
		if (version_number(version) < version_number(MANAGED_SCHEMA_VERSION))
			return migrate_managed_functions(t, version, msg, size);
		return true;
	}
	if (strcmp(found, "managed-1.0") == 0 && t->read_only)
	{
		t->managed_1_0 = true;
		return true;
	}
	if (found[0] == '\0' && t->read_only)
	{
		snprintf(msg, size, "this database has no predict schema and %s", READ_ONLY_HINT);
		return false;
	}
	if (strcmp(found, "managed-1.0") == 0)
	{
		if (migrate_managed_1_0(t, why, sizeof(why), sqlstate, msg, size))
		{
			log_info("migrated the managed predict schema from 1.0 to " MANAGED_SCHEMA_VERSION);
			return true;
		}
		if (strcmp(sqlstate, "42501") != 0)
		{
			snprintf(msg, size, "cannot migrate the managed predict schema from 1.0 to "
					 MANAGED_SCHEMA_VERSION ": %s", why);
			return false;
		}
		log_warning("the managed predict schema is version 1.0 and this role cannot migrate it (%s): "
					"start a gateway once as the schema's owner", why);
		t->managed_1_0 = true;
		return true;
	}
	if (!run_managed_script(t, managed_sql, why, sizeof(why), sqlstate))
	{
		snprintf(msg, size, "cannot create the predict schema (managed mode): %s (connect as the "
				 "owner of the database, or of a schema first in its search_path)", why);
		return false;
	}
	return true;
}

/*
 * Decide the mode and make the schema exist: the extension if it is there
 * or can be created (unless mode is "managed"), else the managed schema
 * (unless mode is "extension"). t->schema gets the tables' schema (every
 * statement after this one names it: the set-up's search_path is only
 * pg_catalog), t->mode_note says which mode, for the log.
 */
static bool
prepare_schema(pg_target *t, const char *mode, char *msg, size_t size)
{
	char		found[32];
	char		version[64] = "";
	char		why[300] = "";
	const char *home[1] = {t->home};
	PGresult   *res;

	if (t->home[0] == '\0')
	{
		snprintf(msg, size, "the database has no current schema: set a search_path whose first "
				 "schema exists and that this user may create objects in");
		return false;
	}
	res = setup_exec(t->conn,
					 "SELECT CASE WHEN EXISTS (SELECT FROM pg_extension WHERE extname = 'predict') THEN 'extension'"
					 " WHEN to_regprocedure('predict_internal.schema_version()') IS NOT NULL THEN 'managed'"
					 " WHEN to_regprocedure(quote_ident($1) || '.predict__schema_version()')"
					 " IS NOT NULL THEN 'managed-1.0' ELSE '' END,"
					 " (SELECT extversion FROM pg_extension WHERE extname = 'predict')",
					 1, home, msg, size, "cannot inspect the database", "");
	if (res == NULL)
		return false;
	snprintf(found, sizeof(found), "%s", PQgetvalue(res, 0, 0));
	snprintf(version, sizeof(version), "%s", PQgetvalue(res, 0, 1));
	PQclear(res);
	/* a new schema goes to the current one */
	if (!query_schema(t, "SELECT $1::text", msg, size))
		return false;
	if (strcmp(found, "extension") == 0 && strcmp(mode, "managed") == 0)
	{
		snprintf(msg, size, "the predict extension is installed in this database: run with "
				 "PREDICT_MODE=extension (or auto), or drop the extension");
		return false;
	}
	if (strncmp(found, "managed", 7) == 0 && strcmp(mode, "extension") == 0)
	{
		snprintf(msg, size, "this database has the managed-mode predict schema: run with "
				 "PREDICT_MODE=managed (or auto)");
		return false;
	}
	t->managed = strncmp(found, "managed", 7) == 0 || strcmp(mode, "managed") == 0;
	if (!t->managed &&
		!prepare_extension(t, found[0] != '\0', version, mode, why, sizeof(why), msg, size))
		return false;
	if (t->managed && !prepare_managed(t, found, msg, size))
	{
		if (why[0] != '\0')
		{
			/* auto mode: neither worked; say why for both */
			char		managed_why[512];

			snprintf(managed_why, sizeof(managed_why), "%s", msg);
			snprintf(msg, size, "cannot create the predict extension (%s: install it with `make "
					 "install` as root in the predict repository and connect as a user allowed to "
					 "create extensions) nor the managed-mode schema (%s)", why,
					 managed_why + strlen("cannot create the predict schema (managed mode): "));
		}
		return false;
	}
	snprintf(t->mode_note, sizeof(t->mode_note), "%s%s%s",
			 !t->managed ? "extension (the predict extension scores in the database)" :
			 "managed (models are compiled to PL/pgSQL",
			 t->managed && why[0] != '\0' ? "; the predict extension cannot be created here: " : "",
			 t->managed ? why : "");
	if (t->managed)
		strncat(t->mode_note, ")", sizeof(t->mode_note) - strlen(t->mode_note) - 1);
	return true;
}

/*
 * Load a model document with the core (validating it before anything
 * reaches the database) and, in managed mode, compile it to SQL.
 */
static bool
compile_model(pg_target *t, const char *path, const char *text, size_t len,
			  predict_model **model, char **compiled, char *msg, size_t size)
{
	predict_limits limits = predict_default_limits();
	predict_error err;

	*compiled = NULL;
	limits.max_model_bytes = MAX_MODEL_FILE;
	*model = predict_model_load(text, len, &limits, NULL, &err);
	if (*model == NULL)
	{
		snprintf(msg, size, "%s is not a valid model: %s", path, err.message);
		return false;
	}
	if (!t->managed)
		return true;
	*compiled = predict_model_to_sql(*model, "@function@", "predict_internal", &err);
	if (*compiled == NULL)
	{
		snprintf(msg, size, "cannot compile %s to SQL: %s", path, err.message);
		predict_model_free(*model);
		*model = NULL;
		return false;
	}
	return true;
}

/*
 * Whether model can be explained, else the core's message in msg: checked
 * here for a deploy with explain, so that an unexplainable model is refused
 * with the same words before the database is asked.
 */
static bool
check_explainable(const predict_model *model, const char *path, char *msg, size_t size)
{
	predict_error err;

	if (predict_model_explainable(model, &err))
		return true;
	snprintf(msg, size, "cannot deploy %s with explain: %s", path, err.message);
	return false;
}

/*
 * Deploy a model file as the next version of name (the document's own name
 * when NULL), with explain (every row it scores is explained); *version
 * gets the version.
 */
static bool
deploy_file(pg_target *t, const char *path, const char *name, bool explain, long *version,
			char *msg, size_t size)
{
	size_t		len;
	char	   *text = read_whole_file(path, MAX_MODEL_FILE, &len);
	predict_model *model;
	char	   *compiled;
	const char *values[4];
	char		sql[600];
	char		what[512];
	char		label[512];
	PGresult   *res;

	if (text == NULL)
	{
		snprintf(msg, size, "the model file %s cannot be read (%s): set PREDICT_MODEL to a model "
				 "file made by tools/predict-export", path, strerror(errno));
		return false;
	}
	if (t->managed_1_0)
	{
		snprintf(msg, size, "cannot deploy the model file %s: the managed predict schema is version "
				 "1.0; start a gateway once as its owner to migrate it", path);
		free(text);
		return false;
	}
	snprintf(label, sizeof(label), "the model file %s", path);
	if (!compile_model(t, label, text, len, &model, &compiled, msg, size))
	{
		free(text);
		return false;
	}
	if (explain && !check_explainable(model, path, msg, size))
	{
		free(compiled);
		predict_model_free(model);
		free(text);
		return false;
	}
	values[0] = name != NULL ? name : predict_model_name(model);
	values[1] = text;
	/* the explain argument only when asked: a deploy without runs on older schemas too */
	if (t->managed)
	{
		values[2] = compiled;
		values[3] = "true";
		snprintf(sql, sizeof(sql), explain ?
				 "SELECT predict_internal.deploy_compiled($1, $2::jsonb, $3, $4::boolean)" :
				 "SELECT predict_internal.deploy_compiled($1, $2::jsonb, $3)");
	}
	else
	{
		values[2] = "true";
		snprintf(sql, sizeof(sql), explain ? "SELECT %s.predict_deploy($1, $2::jsonb, $3::boolean)" :
				 "SELECT %s.predict_deploy($1, $2::jsonb)", t->schema);
	}
	snprintf(what, sizeof(what), "cannot deploy the model file %s", path);
	res = setup_exec(t->conn, sql, (t->managed ? 3 : 2) + (explain ? 1 : 0), values, msg, size,
					 what, "");
	if (res != NULL)
	{
		*version = strtol(PQgetvalue(res, 0, 0), NULL, 10);
		log_info("deployed model \"%s\" from %s as version %ld%s", values[0], path, *version,
				 explain ? ", with explain" : "");
	}
	PQclear(res);
	free(compiled);
	predict_model_free(model);
	free(text);
	return res != NULL;
}

/*
 * The median time of five SELECT 1 on conn, in ms: what one statement's
 * round trip to the database costs (PREDICT_BATCH_LANES=auto). Each time
 * goes in its place among those before it.
 */
static double
round_trip_ms(PGconn *conn)
{
	double		times[5];

	for (int i = 0; i < 5; i++)
	{
		int64_t		start = now_us();
		double		t;
		int			j = i;

		PQclear(PQexec(conn, "SELECT 1"));
		t = (double) (now_us() - start) / 1000.0;
		for (; j > 0 && times[j - 1] > t; j--)
			times[j] = times[j - 1];
		times[j] = t;
	}
	return times[2];
}

/* Whether the predictions table has the explanation column: "t", else "f". */
static bool
query_explanations(pg_target *t, char *has, size_t has_size, char *msg, size_t size)
{
	char		sql[800];

	snprintf(sql, sizeof(sql), "SELECT EXISTS (SELECT FROM pg_catalog.pg_attribute a"
			 " JOIN pg_catalog.pg_class c ON c.oid = a.attrelid"
			 " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
			 " WHERE n.nspname = '%s' AND c.relname = 'predictions'"
			 " AND a.attname = 'explanation' AND NOT a.attisdropped)", t->schema_literal);
	return query_value(t->conn, sql, has, has_size, msg, size,
					   "cannot read the predictions table's columns");
}

bool
pg_setup(const gateway_config *cfg, char *schema, size_t schema_size, bool *explanations,
		 double *round_trip, char *msg, size_t size)
{
	char		has_explanation[8] = "";

	pg_target	t = {0};
	char		default_model[128];		/* "name version", empty when none */
	char		sql[600];
	bool		ok;
	long		version;

	if ((t.conn = connect_setup(cfg->database_url, msg, size)) == NULL)
		return false;
	ok = begin_setup(&t, msg, size) && prepare_schema(&t, cfg->mode, msg, size);
	if (ok)
	{
		snprintf(sql, sizeof(sql), "SELECT name || ' ' || active_version FROM %s.predict_models "
				 "WHERE is_default", t.schema);
		ok = query_value(t.conn, sql, default_model, sizeof(default_model), msg, size,
						 "cannot read the model registry (may this user read its tables?)");
	}
	if (ok && default_model[0] == '\0' && t.read_only)
	{
		snprintf(msg, size, "%s and %s", predict_registry_errors[PREDICT_ERR_NO_DEFAULT_MODEL].message, READ_ONLY_HINT);
		ok = false;
	}
	else if (ok && default_model[0] == '\0')
		ok = deploy_file(&t, cfg->model_path, NULL, cfg->explain, &version, msg, size);
	if (ok)
		ok = query_explanations(&t, has_explanation, sizeof(has_explanation), msg, size);
	if (ok && t.read_only)
		log_warning("%s; /readyz answers 503 and writes fail until it is promoted", READ_ONLY_HINT);
	ok = end_setup(t.conn, ok, msg, size);
	if (ok)
	{
		/* logged once set-up succeeded, so that a failure is one line */
		log_info("mode: %s", t.mode_note);
		if (default_model[0] != '\0')
			config_note_default_model(cfg, default_model);
		snprintf(schema, schema_size, "%s", t.schema);
		*explanations = strcmp(has_explanation, "t") == 0;
		*round_trip = round_trip_ms(t.conn);
	}
	PQfinish(t.conn);
	return ok;
}

/*
 * deploy --explain's check before any connection: the file is a model the
 * core can explain, else the core's message in msg.
 */
static bool
explainable_file(const char *path, char *msg, size_t size)
{
	predict_limits limits = predict_default_limits();
	predict_error err;
	size_t		len;
	char	   *text;
	predict_model *model;
	bool		ok;

	text = read_whole_file(path, MAX_MODEL_FILE, &len);
	if (text == NULL)
	{
		snprintf(msg, size, "the model file %s cannot be read (%s)", path, strerror(errno));
		return false;
	}
	limits.max_model_bytes = MAX_MODEL_FILE;
	model = predict_model_load(text, len, &limits, NULL, &err);
	free(text);
	if (model == NULL)
	{
		snprintf(msg, size, "%s is not a valid model: %s", path, err.message);
		return false;
	}
	ok = check_explainable(model, path, msg, size);
	predict_model_free(model);
	return ok;
}

/*
 * A model command's usage, its own line only: on stdout for --help (status
 * 0), else on stderr (2).
 */
static int
command_usage(const char *command, bool asked)
{
	const char *synopsis = strcmp(command, "deploy") == 0 ? DEPLOY_HELP :
		strcmp(command, "activate") == 0 ? ACTIVATE_HELP : SET_DEFAULT_HELP;

	fprintf(asked ? stdout : stderr,
			"usage:\n%s"
			"Run against DATABASE_URL, as the gateway: SQLite (sqlite:///predictions.db when unset)\n"
			"or PostgreSQL in either mode (PREDICT_MODE as for the gateway). docs/http-api.md,\n"
			"\"Deploying models\", has examples; predict-gateway --help lists every command.\n",
			synopsis);
	return asked ? 0 : 2;
}

/*
 * How many arguments deploy's option at argv[i] takes with it (--name NAME:
 * 2, --explain: 1), or 0 when argv[i] is none of deploy's options.
 */
static int
deploy_option(int argc, char **argv, int i)
{
	if (strcmp(argv[0], "deploy") != 0)
		return 0;
	if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
		return 2;
	if (strcmp(argv[i], "--explain") == 0)
		return 1;
	return 0;
}

/*
 * --help or -h anywhere: 0 (usage printed); an option other than deploy's
 * --name and --explain: 2 (one line naming it); else -1 (go on). "-1" is no
 * option but a version, refused as such.
 */
static int
command_options(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
	{
		int			taken = deploy_option(argc, argv, i);

		if (taken > 0)
		{
			i += taken - 1;		/* a name that looks like an option is a name */
			continue;
		}
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return command_usage(argv[0], true);
		if (argv[i][0] == '-' && argv[i][1] != '\0' && !isdigit((unsigned char) argv[i][1]))
		{
			fprintf(stderr, "predict-gateway %s: unknown option %s (predict-gateway %s --help "
					"lists the usage)\n", argv[0], argv[i], argv[0]);
			return 2;
		}
	}
	return -1;
}

int
pg_command(int argc, char **argv)
{
	const char *url = getenv("DATABASE_URL");
	const char *mode = getenv("PREDICT_MODE");
	const char *name = NULL;
	bool		explain = false;
	pg_target	t = {0};
	char		msg[1024];
	int			status = 1;
	int			first = 1;
	long		version = 0;
	int			early = command_options(argc, argv);

	if (early >= 0)
		return early;
	while (first < argc && deploy_option(argc, argv, first) > 0)
	{
		if (strcmp(argv[first], "--explain") == 0)
			explain = true;
		else
			name = argv[first + 1];
		first += deploy_option(argc, argv, first);
	}
	if ((strcmp(argv[0], "deploy") == 0 && argc - first != 1) ||
		(strcmp(argv[0], "activate") == 0 && argc != 3) ||
		(strcmp(argv[0], "set-default") == 0 && argc != 2))
		return command_usage(argv[0], false);
	if (url == NULL || *url == '\0')
		url = DEFAULT_DATABASE_URL;
	if (explain && !explainable_file(argv[first], msg, sizeof(msg)))
	{
		fprintf(stderr, "predict-gateway %s: %s\n", argv[0], msg);
		return 1;
	}
	if (strncmp(url, "sqlite:", 7) == 0)
		return sqlite_command(url, argv[0], name, explain, argv[first], argc > 2 ? argv[2] : NULL);
	if (mode == NULL || *mode == '\0')
		mode = "auto";
	if ((t.conn = connect_setup(url, msg, sizeof(msg))) == NULL)
	{
		fprintf(stderr, "predict-gateway %s: %s\n", argv[0], msg);
		return 1;
	}
	if (!begin_setup(&t, msg, sizeof(msg)) || !prepare_schema(&t, mode, msg, sizeof(msg)))
		goto done;
	if (strcmp(argv[0], "deploy") == 0)
	{
		if (deploy_file(&t, argv[first], name, explain, &version, msg, sizeof(msg)))
			status = 0;
	}
	else
	{
		const char *values[2] = {argv[1], argc > 2 ? argv[2] : NULL};
		bool		activate = strcmp(argv[0], "activate") == 0;
		char		sql[600];
		PGresult   *res;

		snprintf(sql, sizeof(sql), activate ? "SELECT %s.predict_activate($1, $2::integer)" :
				 "SELECT %s.predict_set_default($1)", t.schema);
		res = setup_exec(t.conn, sql, activate ? 2 : 1, values, msg, sizeof(msg),
						 activate ? "cannot activate the version" : "cannot make the model the default", "");
		if (res != NULL)
			status = 0;
		PQclear(res);
	}
	if (!end_setup(t.conn, status == 0, msg, sizeof(msg)))
		status = 1;
	else if (status == 0 && strcmp(argv[0], "deploy") == 0)
		printf("%ld\n", version);
done:
	if (status != 0)
		fprintf(stderr, "predict-gateway %s: %s\n", argv[0], msg);
	PQfinish(t.conn);
	return status;
}
