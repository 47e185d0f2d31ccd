/*
 * schema.c - the tables and triggers the extension owns: the model registry
 * and the predictions log, PostgreSQL's (src/pg/sql/tables.sql) in SQLite.
 *
 * schema_install creates what is missing when the extension is loaded on a
 * writable database (or by SELECT predict_install(), or by the gateway's
 * start-up), in one transaction. Tables are created whole, and otherwise
 * only gain the columns added since (ALTER TABLE ... ADD COLUMN, which keeps
 * every row): a database made by an older gateway or extension keeps its
 * tables and rows. Triggers are the rules: one whose text differs from the
 * one here is replaced, so that every database follows the rules of the
 * extension that opens it.
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
 * Explanations (issue 20). A version deployed with explain = 1 has every row
 * it logs explained; an insert asks for one with explanation 'true' (or 1).
 * predictions_explanation says what a row's explanation column is to hold.
 * A new row gets it in the scored copy. A row that comes with its
 * model_version is inserted as it is (so that the gateway's RETURNING has
 * it), and predictions_explain then fills in its explanation, or refuses one
 * that is not its version's: the audit rule lets that one UPDATE through,
 * as it changes explanation only to what the insert itself would have
 * stored, and predictions_touch leaves updated_at alone for it.
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

/*
 * Columns added after the tables' first release, each created with its
 * table and added to an older table by ALTER TABLE: the version's explain
 * and the row's explanation (JSON text).
 */
#define VERSIONS_EXPLAIN "explain INTEGER NOT NULL DEFAULT 0 CHECK (explain IN (0, 1))"
#define PREDICTIONS_EXPLANATION "explanation TEXT CHECK (explanation IS NULL OR json_valid(explanation))"

/* What predictions_explanation says a row's explanation is to be. */
#define ROW_EXPLANATION(row) \
	"predictions_explanation(" row ".observation, " row ".explanation, " row ".model, " row ".model_version)"

/*
 * The audit rule for explanation: no change but the one that fills in a
 * row just inserted with its model_version (predictions_explain), which is
 * what that row's explanation is to be.
 */
#define REFUSE_EXPLANATION_CHANGE \
	" SELECT RAISE(ABORT, '" PREDICT_MSG_SCORED_COLUMN_CHANGED("explanation", "predictions") \
	"\nDETAIL:  " PREDICT_DETAIL_AUDIT_LOG "') WHERE NEW.explanation IS NOT OLD.explanation" \
	" AND NEW.explanation IS NOT " ROW_EXPLANATION("OLD") ";"

typedef struct schema_object
{
	const char *type;			/* as sqlite_schema names it, or "column" */
	const char *name;			/* a column's table */
	const char *sql;			/* as sqlite_schema stores it: no IF NOT EXISTS, no ';' */
	const char *column;			/* a column: its name (sql adds it) */
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
		" " VERSIONS_EXPLAIN ","
	" PRIMARY KEY (name, version))", NULL},
	{"column", "predict_model_versions",
	"ALTER TABLE predict_model_versions ADD COLUMN " VERSIONS_EXPLAIN, "explain"},
	/* the active version of each model, and which model is the default */
	{"table", "predict_models",
		"CREATE TABLE predict_models ("
		" name TEXT PRIMARY KEY,"
		" active_version INTEGER NOT NULL,"
		" is_default INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),"
		" updated_at TEXT NOT NULL DEFAULT (" PREDICT_NOW "),"
	" FOREIGN KEY (name, active_version) REFERENCES predict_model_versions (name, version))", NULL},
	{"index", "predict_models_one_default",
	"CREATE UNIQUE INDEX predict_models_one_default ON predict_models (is_default) WHERE is_default = 1", NULL},
	/*
	 * The active version of a model is one of its versions: PostgreSQL's
	 * triggers (the extension's predict_models_check and
	 * predict_model_versions_protect), with its messages. The foreign key
	 * above says so too, but SQLite enforces it only under PRAGMA
	 * foreign_keys = ON.
	 */
	{"trigger", "predict_models_check",
		"CREATE TRIGGER predict_models_check BEFORE INSERT ON predict_models WHEN " ACTIVE_MISSING
	" BEGIN SELECT predict_registry_raise('active version missing', NEW.name, NEW.active_version); END", NULL},
	{"trigger", "predict_models_check_update",
		"CREATE TRIGGER predict_models_check_update BEFORE UPDATE OF name, active_version ON predict_models"
		" WHEN " ACTIVE_MISSING
	" BEGIN SELECT predict_registry_raise('active version missing', NEW.name, NEW.active_version); END", NULL},
	{"trigger", "predict_model_versions_protect",
		"CREATE TRIGGER predict_model_versions_protect BEFORE DELETE ON predict_model_versions WHEN " IS_ACTIVE
	" BEGIN SELECT predict_registry_raise('active version deleted', OLD.name, OLD.version); END", NULL},
	{"trigger", "predict_model_versions_protect_update",
		"CREATE TRIGGER predict_model_versions_protect_update BEFORE UPDATE OF name, version"
		" ON predict_model_versions WHEN (NEW.name IS NOT OLD.name OR NEW.version IS NOT OLD.version)"
		" AND " IS_ACTIVE
	" BEGIN SELECT predict_registry_raise('active version deleted', OLD.name, OLD.version); END", NULL},
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
		" updated_at TEXT NOT NULL DEFAULT (" PREDICT_NOW ") CHECK (updated_at GLOB " ISO_GLOB "),"
		" " PREDICTIONS_EXPLANATION
	") STRICT", NULL},
	{"column", "predictions", "ALTER TABLE predictions ADD COLUMN " PREDICTIONS_EXPLANATION, "explanation"},
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
		" true_class, model, model_version, created_at, updated_at, explanation)"
		" VALUES (nullif(NEW.id, -1), NEW.observation_id, predict_json(NEW.observation),"
		" predict_proba(NEW.observation), predict_class(NEW.observation), NEW.true_class,"
		" predict_default_model(), predict_model_version(), NEW.created_at, NEW.updated_at,"
		" predictions_explanation(NEW.observation, NEW.explanation));"
		" SELECT RAISE(IGNORE);"
	" END", NULL},
	{"trigger", "predictions_check_score",
		"CREATE TRIGGER predictions_check_score BEFORE INSERT ON predictions WHEN NOT " TO_SCORE " BEGIN"
		REFUSE_NULL("observation_id")
		REFUSE_NULL("observation")
		REFUSE_TRUE_CLASS
		" SELECT predictions_check(NEW.observation, NEW.proba, NEW.predicted_class, NEW.model,"
		" NEW.model_version);"
	" END", NULL},
	/*
	 * The explanation of a row that came with its model_version: filled in,
	 * or refused if it is not its version's. Every row inserted passes here,
	 * the scored copies of new rows too (checked again: the copy cannot tell
	 * it was made here).
	 */
	{"trigger", "predictions_explain",
		"CREATE TRIGGER predictions_explain AFTER INSERT ON predictions"
		" WHEN NEW.explanation IS NOT " ROW_EXPLANATION("NEW")
		" BEGIN UPDATE predictions SET explanation = " ROW_EXPLANATION("NEW") " WHERE id = NEW.id;"
	" END", NULL},
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
		REFUSE_EXPLANATION_CHANGE
		REFUSE_TRUE_CLASS
	" END", NULL},
	/* every UPDATE sets updated_at, whatever it was given, but predictions_explain's */
	{"trigger", "predictions_touch",
		"CREATE TRIGGER predictions_touch AFTER UPDATE ON predictions"
		" WHEN NEW.updated_at IS NOT " PREDICT_NOW " AND NEW.explanation IS OLD.explanation"
	" BEGIN UPDATE predictions SET updated_at = " PREDICT_NOW " WHERE id = NEW.id; END", NULL},
};

#define NOBJECTS (sizeof(objects) / sizeof(objects[0]))

/*
 * What object i needs: 0 nothing, 1 to be created (a column: added), 2 to
 * be replaced (a trigger of other text); -1 (message in db) if the schema
 * cannot be read.
 */
static int
object_need(sqlite3 *db, size_t i)
{
	sqlite3_stmt *stmt;
	int			need = 1;
	int			rc;
	bool		column = objects[i].column != NULL;

	if (sqlite3_prepare_v2(db, column ?
						   "SELECT NULL FROM pragma_table_info(?2, 'main') WHERE name = ?1" :
						   "SELECT sql FROM main.sqlite_schema WHERE type = ?1 AND name = ?2",
						   -1, &stmt, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(stmt, 1, column ? objects[i].column : objects[i].type, -1, SQLITE_STATIC);
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

/* What a row's explanation column carries, as PostgreSQL's trigger reads it. */
typedef enum given_explanation
{
	GIVEN_NONE,					/* NULL, or false: 'false' or 0 */
	GIVEN_REQUEST,				/* true: 'true' or 1 */
	GIVEN_EXPLANATION			/* anything else: an explanation (a restore's) */
} given_explanation;

/*
 * SQLite has no boolean: JSON's true and false, and SQLite's 1 and 0 (which
 * the STRICT TEXT column stores as '1' and '0'), are the requests.
 */
static given_explanation
explanation_given(sqlite3_value *value)
{
	const char *text;

	if (sqlite3_value_type(value) == SQLITE_NULL)
		return GIVEN_NONE;
	if ((text = (const char *) sqlite3_value_text(value)) == NULL)
		return GIVEN_EXPLANATION;	/* out of memory: reported by the comparison */
	if (strcmp(text, "false") == 0 || strcmp(text, "0") == 0)
		return GIVEN_NONE;
	if (strcmp(text, "true") == 0 || strcmp(text, "1") == 0)
		return GIVEN_REQUEST;
	return GIVEN_EXPLANATION;
}

/*
 * Whether version c explains every row it logs (its explain), read once per
 * parsed version; -1 after setting an error on ctx.
 */
static int
version_explains(sqlite3_context *ctx, sqlite3 *db, cached_model *c)
{
	sqlite3_stmt *stmt;
	int			rc;

	if (c->explains >= 0)
		return c->explains;
	rc = sqlite3_prepare_v2(db, "SELECT explain FROM predict_model_versions WHERE name = ?1 AND version = ?2",
							-1, &stmt, NULL);
	if (rc == SQLITE_OK)
	{
		sqlite3_bind_text(stmt, 1, c->name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 2, c->version);
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW || rc == SQLITE_DONE)
			c->explains = rc == SQLITE_ROW && sqlite3_column_int(stmt, 0) != 0;
		sqlite3_finalize(stmt);
	}
	if (c->explains < 0)
		result_error_detail(ctx, rc, NULL, NULL, "could not read the model registry: %s", sqlite3_errmsg(db));
	return c->explains;
}

/*
 * The given explanation of a row with its version c as the result if it is
 * the one c computes (str, finished here), equal as jsonb compares them;
 * else PostgreSQL's error.
 */
static void
result_given_explanation(sqlite3_context *ctx, sqlite3_value *given, const cached_model *c,
						 sqlite3_str *str)
{
	bool		equal = false;
	bool		compared;

	if (sqlite3_str_errcode(str) != SQLITE_OK)
	{
		result_str(ctx, str);	/* its error */
		return;
	}
	compared = json_text_equal(ctx, given, sqlite3_str_value(str), (size_t) sqlite3_str_length(str), &equal);
	sqlite3_free(sqlite3_str_finish(str));
	if (compared && equal)
		sqlite3_result_value(ctx, given);
	else if (compared)
		result_registry_error(ctx, SQLITE_CONSTRAINT_FUNCTION, PREDICT_ERR_ROW_NOT_EXPLAINED,
							  &(predict_registry_args) {.relation = "predictions", .name = c->name,
							  .version = c->version});
}

/*
 * predictions_explanation(observation, explanation [, model, model_version])
 * -> what the row's explanation column is to hold: with two arguments for a
 * new row (scored by the default model), with four for a row that names its
 * version. That version's explanation of the observation, as predict_explain
 * writes it, when the version explains every row (explain = 1) or the row
 * asks (true); NULL when neither (the row has NULL or false). A new row may
 * carry nothing else; a row with its version may carry the explanation its
 * version computes, returned as it was given. A NULL observation, model or
 * version: NULL, left to the NOT NULL constraints and predictions_check.
 */
void
predictions_explanation_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	connection_state *state = sqlite3_user_data(ctx);
	given_explanation given = explanation_given(argv[1]);
	bool		restored = argc == 4;
	const char *obs = (const char *) sqlite3_value_text(argv[0]);
	cached_model *other = NULL;
	cached_model *c;
	sqlite3_str *str;
	int			explains;

	if (given == GIVEN_EXPLANATION && !restored)
	{
		result_registry_error(ctx, 0, PREDICT_ERR_EXPLANATION_SUPPLIED,
							  &(predict_registry_args) {.relation = "predictions"});
		return;
	}
	if (sqlite3_value_type(argv[0]) == SQLITE_NULL ||
		(restored && (sqlite3_value_type(argv[2]) == SQLITE_NULL ||
					  sqlite3_value_type(argv[3]) == SQLITE_NULL)))
	{
		sqlite3_result_null(ctx);
		return;
	}
	if (obs == NULL)
	{
		sqlite3_result_error_nomem(ctx);
		return;
	}
	c = restored ? version_model(ctx, state, (const char *) sqlite3_value_text(argv[2]),
								 sqlite3_value_int64(argv[3]), &other) :
		active_model(ctx, state, NULL);
	if (c != NULL && (explains = version_explains(ctx, state->db, c)) >= 0)
	{
		if (given == GIVEN_NONE && !explains)
			sqlite3_result_null(ctx);
		else if (explain_ready(ctx, c) &&
				 (str = explanation_str(ctx, c, obs, (size_t) sqlite3_value_bytes(argv[0]))) != NULL)
		{
			if (given == GIVEN_EXPLANATION)
				result_given_explanation(ctx, argv[1], c, str);
			else
				result_str(ctx, str);
		}
	}
	if (other != NULL)
		cached_model_free(other);
}
