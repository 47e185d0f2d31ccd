/*
 * pg_setup.c - prepare a PostgreSQL database for the gateway, and deploy
 * models into it.
 *
 * Two modes serve the same API with the same numbers:
 *   - extension: CREATE EXTENSION predict (the C scorer in the database);
 *   - managed: where the extension cannot be installed (Heroku Postgres and
 *     other managed services), the same tables, constraints and triggers in
 *     plain SQL and PL/pgSQL (sql/managed.sql, embedded in the binary), and
 *     each model version compiled to a PL/pgSQL function by the C core at
 *     deploy time (predict_model_to_sql), which scores bit for bit as the
 *     extension does.
 * PREDICT_MODE=auto (the default) uses the extension when it is installed
 * or can be created, else managed mode; the gateway logs which, once.
 *
 * Everything here runs under one advisory lock, so that several gateways
 * (two dynos booting together) or a deploy command never race on the
 * schema or on the first model.
 */
#include "pg_setup.h"

#include <cjson/cJSON.h>
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

#define SETUP_LOCK_KEY "8102099357864587264"
#define MANAGED_SCHEMA_VERSION "1.0"	/* predict__schema_version() of sql/managed.sql */
#define MAX_MODEL_FILE ((size_t) 256 * 1024 * 1024)

typedef struct pg_target
{
	PGconn	   *conn;
	bool		managed;
	char		schema[256];	/* current_schema(), quoted as an identifier */
	char		schema_literal[256];	/* the same name as a string literal's body */
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

/* Wait at most a minute for another gateway's set-up, then hold the lock. */
static bool
lock_setup(PGconn *conn, char *msg, size_t size)
{
	return setup_run(conn, "SET lock_timeout = '60s'", msg, size,
					 "cannot configure the set-up session", "") &&
		setup_run(conn, "SELECT pg_advisory_lock(" SETUP_LOCK_KEY ")", msg, size,
				  "cannot take the set-up lock", " (another gateway is starting?)");
}

static void
unlock_setup(PGconn *conn)
{
	PQclear(PQexec(conn, "SELECT pg_advisory_unlock(" SETUP_LOCK_KEY ")"));
}

/* The value of a one-row, one-column query, copied into buf; false with msg. */
static bool
query_value(PGconn *conn, const char *sql, char *buf, size_t bufsize, char *msg, size_t size,
			const char *what)
{
	PGresult   *res = setup_exec(conn, sql, 0, NULL, msg, size, what, "");

	if (res == NULL)
		return false;
	snprintf(buf, bufsize, "%s", PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "");
	PQclear(res);
	return true;
}

/* sql/managed.sql with the schema's names in place of its placeholders. */
static char *
managed_script(const pg_target *t)
{
	size_t		quoted = strlen(t->schema);
	size_t		literal = strlen(t->schema_literal);
	size_t		cap = sizeof(managed_sql) * 2 + 4096;
	char	   *out = malloc(cap);
	const char *p = managed_sql;
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

static bool
install_managed(pg_target *t, char *msg, size_t size)
{
	char	   *script = managed_script(t);
	bool		ok;

	if (script == NULL)
	{
		snprintf(msg, size, "out of memory");
		return false;
	}
	ok = setup_run(t->conn, script, msg, size, "cannot create the predict schema (managed mode)",
				   " (connect as the owner of the database, or of a schema first in its search_path)");
	free(script);
	return ok;
}

/*
 * Decide the mode and make the schema exist: the extension if it is there
 * or can be created (unless mode is "managed"), else the managed schema
 * (unless mode is "extension"). t->mode_note says which, for the log.
 */
static bool
prepare_schema(pg_target *t, const char *mode, char *msg, size_t size)
{
	char		value[256];
	char		why[300] = "";
	bool		current = false;	/* the managed schema is this gateway's version */
	PGresult   *res;

	if (!query_value(t->conn, "SELECT quote_ident(current_schema())", t->schema, sizeof(t->schema),
					 msg, size, "cannot read the current schema") ||
		!query_value(t->conn, "SELECT replace(current_schema(), '''', '''''')", t->schema_literal,
					 sizeof(t->schema_literal), msg, size, "cannot read the current schema"))
		return false;
	if (t->schema[0] == '\0')
	{
		snprintf(msg, size, "the database has no current schema: set a search_path whose first "
				 "schema exists and that this user may create objects in");
		return false;
	}
	if (!query_value(t->conn,
					 "SELECT CASE WHEN EXISTS (SELECT FROM pg_extension WHERE extname = 'predict') THEN 'extension'"
					 " WHEN to_regprocedure('predict__schema_version()') IS NOT NULL THEN 'managed'"
					 " ELSE '' END", value, sizeof(value), msg, size, "cannot inspect the database"))
		return false;
	if (strcmp(value, "managed") == 0)
	{
		char		version[32];

		if (!query_value(t->conn, "SELECT predict__schema_version()", version, sizeof(version),
						 msg, size, "cannot read the managed schema's version"))
			return false;
		current = strcmp(version, MANAGED_SCHEMA_VERSION) == 0;
	}

	if (strcmp(value, "extension") == 0 && strcmp(mode, "managed") == 0)
	{
		snprintf(msg, size, "the predict extension is installed in this database: run with "
				 "PREDICT_MODE=extension (or auto), or drop the extension");
		return false;
	}
	if (strcmp(value, "managed") == 0 && strcmp(mode, "extension") == 0)
	{
		snprintf(msg, size, "this database has the managed-mode predict schema: run with "
				 "PREDICT_MODE=managed (or auto)");
		return false;
	}
	t->managed = strcmp(value, "managed") == 0 || strcmp(mode, "managed") == 0;
	if (value[0] == '\0' && !t->managed)
	{
		res = PQexec(t->conn, "CREATE EXTENSION IF NOT EXISTS predict");
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
		{
			const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

			if (primary != NULL)
				snprintf(why, sizeof(why), "%s", primary);
			else
				pg_first_line(PQresultErrorMessage(res), why, sizeof(why));
			if (strcmp(mode, "extension") == 0)
			{
				snprintf(msg, size, "cannot create the predict extension: %s (install it with "
						 "`make install` as root in the predict repository, and connect as a user "
						 "allowed to create extensions; or run with PREDICT_MODE=managed)", why);
				PQclear(res);
				return false;
			}
			t->managed = true;
		}
		PQclear(res);
	}
	if (t->managed && !current && !install_managed(t, msg, size))
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
 * Deploy a model file as the next version of name (the document's own name
 * when NULL); *version gets the version.
 */
static bool
deploy_file(pg_target *t, const char *path, const char *name, long *version,
			char *msg, size_t size)
{
	size_t		len;
	char	   *text = read_whole_file(path, MAX_MODEL_FILE, &len);
	predict_limits limits = predict_default_limits();
	predict_error err;
	predict_model *model;
	char	   *compiled = NULL;
	const char *values[3];
	PGresult   *res;
	char		what[512];

	if (text == NULL)
	{
		snprintf(msg, size, "the model file %s cannot be read (%s): set PREDICT_MODEL to a model "
				 "file made by tools/predict-export", path, strerror(errno));
		return false;
	}
	/* validate with the core before anything reaches the database */
	limits.max_model_bytes = MAX_MODEL_FILE;
	model = predict_model_load(text, len, &limits, NULL, &err);
	if (model == NULL)
	{
		snprintf(msg, size, "the model file %s is not a valid model: %s", path, err.message);
		free(text);
		return false;
	}
	values[0] = name != NULL ? name : predict_model_name(model);
	values[1] = text;
	snprintf(what, sizeof(what), "cannot deploy the model file %s", path);
	if (t->managed)
	{
		compiled = predict_model_to_sql(model, "@function@", t->schema, &err);
		if (compiled == NULL)
		{
			snprintf(msg, size, "cannot compile the model file %s to SQL: %s", path, err.message);
			predict_model_free(model);
			free(text);
			return false;
		}
		values[2] = compiled;
		res = setup_exec(t->conn, "SELECT predict__deploy_compiled($1, $2::jsonb, $3)", 3, values,
						 msg, size, what, "");
	}
	else
		res = setup_exec(t->conn, "SELECT predict_deploy($1, $2::jsonb)", 2, values, msg, size,
						 what, "");
	if (res != NULL)
	{
		*version = strtol(PQgetvalue(res, 0, 0), NULL, 10);
		log_info("deployed model \"%s\" from %s as version %ld", values[0], path, *version);
	}
	PQclear(res);
	free(compiled);
	predict_model_free(model);
	free(text);
	return res != NULL;
}

bool
pg_setup(const gateway_config *cfg, char *msg, size_t size)
{
	pg_target	t = {0};
	char		has_default[8];
	bool		ok = false;
	long		version;

	if ((t.conn = connect_setup(cfg->database_url, msg, size)) == NULL)
		return false;
	if (!lock_setup(t.conn, msg, size))
		goto done;
	if (!prepare_schema(&t, cfg->mode, msg, size) ||
		!query_value(t.conn, "SELECT EXISTS (SELECT FROM predict_models WHERE is_default)",
					 has_default, sizeof(has_default), msg, size,
					 "cannot read the model registry (may this user read its tables?)"))
		goto unlock;
	if (has_default[0] != 't' &&
		!deploy_file(&t, cfg->model_path, NULL, &version, msg, size))
		goto unlock;
	/* logged once set-up succeeded, so that a failure is one line */
	log_info("mode: %s", t.mode_note);
	ok = true;
unlock:
	unlock_setup(t.conn);
done:
	PQfinish(t.conn);
	return ok;
}

static int
command_usage(void)
{
	fprintf(stderr,
			"usage: predict-gateway deploy [--name NAME] MODEL.json\n"
			"       predict-gateway activate NAME VERSION\n"
			"       predict-gateway set-default NAME\n"
			"Run against DATABASE_URL, as the gateway: SQLite (sqlite:///predictions.db when unset)\n"
			"or PostgreSQL in either mode (PREDICT_MODE as for the gateway).\n");
	return 2;
}

int
pg_command(int argc, char **argv)
{
	const char *url = getenv("DATABASE_URL");
	const char *mode = getenv("PREDICT_MODE");
	const char *name = NULL;
	pg_target	t = {0};
	char		msg[1024];
	int			status = 1;
	int			first = 1;

	if (argc >= 3 && strcmp(argv[1], "--name") == 0)
	{
		name = argv[2];
		first = 3;
	}
	if ((strcmp(argv[0], "deploy") == 0 && argc - first != 1) ||
		(strcmp(argv[0], "activate") == 0 && argc != 3) ||
		(strcmp(argv[0], "set-default") == 0 && argc != 2))
		return command_usage();
	if (url == NULL || *url == '\0')
		url = DEFAULT_DATABASE_URL;
	if (strncmp(url, "sqlite:", 7) == 0)
		return sqlite_command(url, argv[0], name, argv[first], argc > 2 ? argv[2] : NULL);
	if (mode == NULL || *mode == '\0')
		mode = "auto";
	if ((t.conn = connect_setup(url, msg, sizeof(msg))) == NULL)
	{
		fprintf(stderr, "predict-gateway %s: %s\n", argv[0], msg);
		return 1;
	}
	if (!lock_setup(t.conn, msg, sizeof(msg)) || !prepare_schema(&t, mode, msg, sizeof(msg)))
		goto done;
	if (strcmp(argv[0], "deploy") == 0)
	{
		long		version;

		if (deploy_file(&t, argv[first], name, &version, msg, sizeof(msg)))
		{
			printf("%ld\n", version);
			status = 0;
		}
	}
	else
	{
		const char *values[2] = {argv[1], argc > 2 ? argv[2] : NULL};
		PGresult   *res = strcmp(argv[0], "activate") == 0 ?
			setup_exec(t.conn, "SELECT predict_activate($1, $2::integer)", 2, values, msg,
					   sizeof(msg), "cannot activate the version", "") :
			setup_exec(t.conn, "SELECT predict_set_default($1)", 1, values, msg, sizeof(msg),
					   "cannot make the model the default", "");

		if (res != NULL)
			status = 0;
		PQclear(res);
	}
	unlock_setup(t.conn);
done:
	if (status != 0)
		fprintf(stderr, "predict-gateway %s: %s\n", argv[0], msg);
	PQfinish(t.conn);
	return status;
}
