/*
 * schema.c - the tables and triggers the extension owns: the model registry
 * and the predictions log, PostgreSQL's (src/pg/sql/tables.sql) in SQLite.
 *
 * schema_install creates what is missing when the extension is loaded on a
 * writable database (or by SELECT predict_install(), or by the gateway's
 * start-up), in one transaction. Tables are never altered: a database made
 * by an older gateway keeps its tables, which have these columns already.
 * Triggers are the rules: one whose text differs from the one here is
 * replaced, so that every database follows the rules of the extension
 * that opens it.
 *
 * The predictions table has PostgreSQL's columns and constraints, as a
 * STRICT table so that types are enforced. Timestamps are ISO 8601 UTC text
 * with milliseconds (SQLite's clock); booleans are 0 and 1.
 *
 * Scoring. A SQLite trigger cannot rewrite the row being inserted. So
 * predictions_score, for a row without a model_version (PostgreSQL's rows
 * to score), inserts the scored row itself (the observation in canonical
 * form, proba, predicted_class, model and model_version from the default
 * model) and drops the original with RAISE(IGNORE): the row is there, but
 * INSERT ... RETURNING returns nothing for it and changes() does not count
 * it. A row that comes with its model_version keeps its score only if it is
 * what that model computes (predictions_check_score): the gateway inserts such
 * rows, computing the score in the INSERT itself so that RETURNING has it.
 *
 * Messages are PostgreSQL's, DETAIL and HINT lines included (extension.c).
 * Violations of the table's own constraints (UNIQUE, CHECK, STRICT types)
 * keep SQLite's wording.
 */
#include <stdio.h>
#include <string.h>

#include "sqlite_predict.h"

#define ISO_GLOB "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'"

/* the core's error (registry_errors.h), spelled here as SQL at compile time */
#define REFUSE_CHANGE(column) \
	" SELECT RAISE(ABORT, '" PREDICT_MSG_SCORED_COLUMN_CHANGED(column, "predictions") \
	"\nDETAIL:  " PREDICT_DETAIL_AUDIT_LOG "') WHERE NEW." column " IS NOT OLD." column ";"
#define REFUSE_TRUE_CLASS \
	" SELECT RAISE(ABORT, 'new row for relation \"predictions\" violates check constraint" \
	" \"predictions_true_class_check\"') WHERE NEW.true_class NOT IN (0, 1);"
#define REFUSE_NULL(column) \
	" SELECT RAISE(ABORT, 'null value in column \"" column "\" of relation \"predictions\"" \
	" violates not-null constraint') WHERE NEW." column " IS NULL;"

/* A model row whose active version is not stored; a version row that is active. */
#define ACTIVE_MISSING "NOT EXISTS (SELECT 1 FROM predict_model_versions v" \
	" WHERE v.name = NEW.name AND v.version = NEW.active_version)"
#define IS_ACTIVE "EXISTS (SELECT 1 FROM predict_models m" \
	" WHERE m.name = OLD.name AND m.active_version = OLD.version)"

/* A row PostgreSQL's trigger would score: one without its model_version. */
#define TO_SCORE "(NEW.model_version IS NULL)"

typedef struct schema_object
{
	const char *type;			/* as sqlite_schema names it */
	const char *name;
	const char *sql;			/* as sqlite_schema stores it: no IF NOT EXISTS, no ';' */
} schema_object;

static const schema_object objects[] = {
	/* every deployed version of every model, immutable once deployed */
	{"table", "predict_model_versions",
		"CREATE TABLE predict_model_versions ("
		" name TEXT NOT NULL,"
		" version INTEGER NOT NULL CHECK (version > 0),"
		" model TEXT NOT NULL,"
		" created_at TEXT NOT NULL DEFAULT (" PREDICT_NOW "),"
		" deployed_by TEXT,"
	" PRIMARY KEY (name, version))"},
	/* the active version of each model, and which model is the default */
	{"table", "predict_models",
		"CREATE TABLE predict_models ("
		" name TEXT PRIMARY KEY,"
		" active_version INTEGER NOT NULL,"
		" is_default INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),"
		" updated_at TEXT NOT NULL DEFAULT (" PREDICT_NOW "),"
	" FOREIGN KEY (name, active_version) REFERENCES predict_model_versions (name, version))"},
	{"index", "predict_models_one_default",
	"CREATE UNIQUE INDEX predict_models_one_default ON predict_models (is_default) WHERE is_default = 1"},
	/*
	 * The active version of a model is one of its versions: PostgreSQL's
	 * triggers (the extension's predict_models_check and
	 * predict_model_versions_protect), with its messages. The foreign key
	 * above says so too, but SQLite enforces it only under PRAGMA
	 * foreign_keys = ON.
	 */
	{"trigger", "predict_models_check",
		"CREATE TRIGGER predict_models_check BEFORE INSERT ON predict_models WHEN " ACTIVE_MISSING
	" BEGIN SELECT predict_registry_raise('active version missing', NEW.name, NEW.active_version); END"},
	{"trigger", "predict_models_check_update",
		"CREATE TRIGGER predict_models_check_update BEFORE UPDATE OF name, active_version ON predict_models"
		" WHEN " ACTIVE_MISSING
	" BEGIN SELECT predict_registry_raise('active version missing', NEW.name, NEW.active_version); END"},
	{"trigger", "predict_model_versions_protect",
		"CREATE TRIGGER predict_model_versions_protect BEFORE DELETE ON predict_model_versions WHEN " IS_ACTIVE
	" BEGIN SELECT predict_registry_raise('active version deleted', OLD.name, OLD.version); END"},
	{"trigger", "predict_model_versions_protect_update",
		"CREATE TRIGGER predict_model_versions_protect_update BEFORE UPDATE OF name, version"
		" ON predict_model_versions WHEN (NEW.name IS NOT OLD.name OR NEW.version IS NOT OLD.version)"
		" AND " IS_ACTIVE
	" BEGIN SELECT predict_registry_raise('active version deleted', OLD.name, OLD.version); END"},
	/* the predictions log */
	{"table", "predictions",
		"CREATE TABLE predictions ("
		" id INTEGER PRIMARY KEY AUTOINCREMENT,"
		" observation_id INTEGER NOT NULL UNIQUE,"
		" observation TEXT NOT NULL CHECK (json_valid(observation)),"
		" proba REAL NOT NULL,"
		" predicted_class INTEGER NOT NULL CHECK (predicted_class IN (0, 1)),"
		" true_class INTEGER CHECK (true_class IN (0, 1)),"
		" model TEXT NOT NULL,"
		" model_version INTEGER NOT NULL,"
		" created_at TEXT NOT NULL DEFAULT (" PREDICT_NOW ") CHECK (created_at GLOB " ISO_GLOB "),"
		" updated_at TEXT NOT NULL DEFAULT (" PREDICT_NOW ") CHECK (updated_at GLOB " ISO_GLOB ")"
	") STRICT"},
	/*
	 * Score a row with the default model, or check the score it carries: two
	 * triggers, each with its WHEN, and VALUES rather than INSERT ... SELECT,
	 * because an INSERT ... SELECT into a table with triggers goes through a
	 * temporary table, whose page cache is allocated and freed at every
	 * insert (it halved the gateway's rate under concurrency).
	 */
	{"trigger", "predictions_score",
		"CREATE TRIGGER predictions_score BEFORE INSERT ON predictions WHEN " TO_SCORE " BEGIN"
		REFUSE_NULL("observation_id")
		REFUSE_NULL("observation")
		REFUSE_TRUE_CLASS
		" INSERT INTO predictions (id, observation_id, observation, proba, predicted_class,"
		" true_class, model, model_version, created_at, updated_at)"
		" VALUES (nullif(NEW.id, -1), NEW.observation_id, predict_json(NEW.observation),"
		" predict_proba(NEW.observation), predict_class(NEW.observation), NEW.true_class,"
		" predict_default_model(), predict_model_version(), NEW.created_at, NEW.updated_at);"
		" SELECT RAISE(IGNORE);"
	" END"},
	{"trigger", "predictions_check_score",
		"CREATE TRIGGER predictions_check_score BEFORE INSERT ON predictions WHEN NOT " TO_SCORE " BEGIN"
		REFUSE_NULL("observation_id")
		REFUSE_NULL("observation")
		REFUSE_TRUE_CLASS
		" SELECT predictions_check(NEW.observation, NEW.proba, NEW.predicted_class, NEW.model,"
		" NEW.model_version);"
	" END"},
	/* predictions are an audit log: only true_class (and updated_at) change */
	{"trigger", "predictions_protect",
		"CREATE TRIGGER predictions_protect BEFORE UPDATE ON predictions BEGIN"
		REFUSE_CHANGE("id")
		REFUSE_CHANGE("observation_id")
		REFUSE_CHANGE("observation")
		REFUSE_CHANGE("proba")
		REFUSE_CHANGE("predicted_class")
		REFUSE_CHANGE("model")
		REFUSE_CHANGE("model_version")
		REFUSE_CHANGE("created_at")
		REFUSE_TRUE_CLASS
	" END"},
	/* every UPDATE sets updated_at, whatever it was given */
	{"trigger", "predictions_touch",
		"CREATE TRIGGER predictions_touch AFTER UPDATE ON predictions"
		" WHEN NEW.updated_at IS NOT " PREDICT_NOW
	" BEGIN UPDATE predictions SET updated_at = " PREDICT_NOW " WHERE id = NEW.id; END"},
};

#define NOBJECTS (sizeof(objects) / sizeof(objects[0]))

/*
 * What object i needs: 0 nothing, 1 to be created, 2 to be replaced (a
 * trigger of other text); -1 (message in db) if the schema cannot be read.
 */
static int
object_need(sqlite3 *db, size_t i)
{
	sqlite3_stmt *stmt;
	int			need = 1;
	int			rc;

	if (sqlite3_prepare_v2(db, "SELECT sql FROM main.sqlite_schema WHERE type = ?1 AND name = ?2",
						   -1, &stmt, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(stmt, 1, objects[i].type, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, objects[i].name, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
	{
		const char *sql = (const char *) sqlite3_column_text(stmt, 0);

		need = strcmp(objects[i].type, "trigger") != 0 ||
			(sql != NULL && strcmp(sql, objects[i].sql) == 0) ? 0 : 2;
	}
	else if (rc != SQLITE_DONE)
		need = -1;
	sqlite3_finalize(stmt);
	return need;
}

/* Whether anything is missing or out of date; -1 if the schema cannot be read. */
static int
schema_outdated(sqlite3 *db)
{
	for (size_t i = 0; i < NOBJECTS; i++)
	{
		int			need = object_need(db, i);

		if (need != 0)
			return need < 0 ? -1 : 1;
	}
	return 0;
}

/* Create or replace what needs it; SQLITE_OK or an error (message in db). */
static int
schema_create(sqlite3 *db)
{
	for (size_t i = 0; i < NOBJECTS; i++)
	{
		int			need = object_need(db, i);
		int			rc;

		if (need < 0)
			return SQLITE_ERROR;
		if (need == 2)
		{
			char	   *drop = sqlite3_mprintf("DROP TRIGGER main.\"%w\"", objects[i].name);

			if (drop == NULL)
				return SQLITE_NOMEM;
			rc = sqlite3_exec(db, drop, NULL, NULL, NULL);
			sqlite3_free(drop);
			if (rc != SQLITE_OK)
				return rc;
		}
		if (need > 0 && (rc = sqlite3_exec(db, objects[i].sql, NULL, NULL, NULL)) != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

/*
 * Create what is missing, in one transaction of its own, or a savepoint
 * inside the caller's. Looks first without writing: a database that has
 * everything is only read (no write lock, nothing for a read-only file).
 */
int
schema_install(sqlite3 *db, char **errmsg)
{
	int			outer = sqlite3_get_autocommit(db);
	int			rc;

	if ((rc = schema_outdated(db)) == 0)
		return SQLITE_OK;
	if (rc > 0)
	{
		rc = sqlite3_exec(db, outer ? "BEGIN IMMEDIATE" : "SAVEPOINT predict_install", NULL, NULL, NULL);
		/* looked at again under the write lock: another connection may have done it */
		if (rc == SQLITE_OK && (rc = schema_create(db)) == SQLITE_OK)
			rc = sqlite3_exec(db, outer ? "COMMIT" : "RELEASE predict_install", NULL, NULL, NULL);
	}
	else
		rc = sqlite3_errcode(db);
	if (rc == SQLITE_OK)
		return SQLITE_OK;
	if (errmsg != NULL)
		*errmsg = sqlite3_mprintf("predict: could not create its tables in the database: %s",
								  sqlite3_errmsg(db));
	if (outer && !sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	else if (!outer)
		sqlite3_exec(db, "ROLLBACK TO predict_install; RELEASE predict_install", NULL, NULL, NULL);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_ERROR : rc;
}

/* predict_install() -> NULL: what loading the extension does, on demand. */
void
predict_install_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	connection_state *state = sqlite3_user_data(ctx);
	char	   *msg = NULL;
	int			rc;

	(void) argc;
	(void) argv;
	if ((rc = schema_install(state->db, &msg)) == SQLITE_OK)
	{
		state->snapshot_valid = 0;
		sqlite3_result_null(ctx);
		return;
	}
	sqlite3_result_error(ctx, msg != NULL ? msg : sqlite3_errstr(rc), -1);
	sqlite3_result_error_code(ctx, rc);
	sqlite3_free(msg);
}

/*
 * Whether the row's proba and predicted_class (argv[1], argv[2]), when
 * given, are what version c computes (proba, predicted); else PostgreSQL's
 * error.
 */
static int
score_matches(sqlite3_context *ctx, sqlite3_value **argv, const cached_model *c, double proba,
			  bool predicted)
{	double		given = sqlite3_value_double(argv[1]);
	char		a[40];
	char		b[40];
	predict_registry_args args = {.relation = "predictions", .proba = b};

	if ((sqlite3_value_type(argv[1]) == SQLITE_NULL || memcmp(&given, &proba, sizeof(double)) == 0) &&
		(sqlite3_value_type(argv[2]) == SQLITE_NULL || sqlite3_value_int(argv[2]) == predicted))
		return 1;
	predict_format_number(a, sizeof(a), given);
	predict_format_number(b, sizeof(b), proba);
	args.name = c->name;
	args.version = c->version;
	args.row_proba = sqlite3_value_type(argv[1]) == SQLITE_NULL ? NULL : a;
	args.row_class = sqlite3_value_type(argv[2]) == SQLITE_NULL ? NULL :
		sqlite3_value_int(argv[2]) ? "true" : "false";
	args.class = predicted ? "true" : "false";
	result_registry_error(ctx, SQLITE_CONSTRAINT_FUNCTION, PREDICT_ERR_ROW_NOT_SCORED, &args);
	return 0;
}

/*
 * predictions_check(observation, proba, predicted_class, model, model_version)
 * -> 1, or PostgreSQL's predictions_verify errors: a row that comes with its
 * model_version (a copy, a restore, the gateway's INSERT) must carry that
 * version's score, bit for bit. NULLs are left to the NOT NULL constraints.
 */
void
predictions_check_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	connection_state *state = sqlite3_user_data(ctx);
	const char *model = (const char *) sqlite3_value_text(argv[3]);
	sqlite3_int64 version = sqlite3_value_int64(argv[4]);
	const char *obs = (const char *) sqlite3_value_text(argv[0]);
	cached_model *other = NULL;
	cached_model *c;
	predict_error err;
	double		proba;
	bool		predicted;

	(void) argc;
	if (sqlite3_value_type(argv[4]) == SQLITE_NULL || sqlite3_value_type(argv[0]) == SQLITE_NULL)
	{
		sqlite3_result_int(ctx, 1);
		return;
	}
	if (model == NULL)
	{
		result_registry_error(ctx, SQLITE_CONSTRAINT_NOTNULL, PREDICT_ERR_ROW_WITHOUT_MODEL,
							  &(predict_registry_args) {.relation = "predictions"});
		return;
	}
	if ((c = version_model(ctx, state, model, version, &other)) == NULL)
		return;
	if (obs == NULL)
		sqlite3_result_error_nomem(ctx);
	else if (predict_score_json_class(c->model, obs, (size_t) sqlite3_value_bytes(argv[0]),
									  c->values, &proba, &predicted, &err) != PREDICT_OK)
		result_scoring_error(ctx, &err, c->name, c->version);
	else if (score_matches(ctx, argv, c, proba, predicted))
		sqlite3_result_int(ctx, 1);
	if (other != NULL)
		cached_model_free(other);
}
