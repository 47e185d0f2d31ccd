/*
 * scoring.c - the scoring functions and the per-connection model cache.
 *
 *   predict_proba(obs_json [, name]) -> real
 *       The probability of the positive class for one observation (a JSON
 *       object), with the default model or the named one. NULL in, NULL out.
 *   predict_class(obs_json [, name]) -> integer 0 or 1   (the model's class)
 *   predict_explain(obs_json [, name]) -> text
 *       The explanation (docs/model-format.md, "Explanations") as JSON text,
 *       the core's: the same text PostgreSQL parses into jsonb.
 *   predict_reasons(obs_json, k [, name]) -> text
 *       The k columns that lowered the score the most, as a JSON array.
 *   predict_model_version([name]) -> integer   the active version
 *   predict_default_model() -> text            the default model's name
 *
 * Caching: a connection parses a model version once. Which version is
 * active is looked up again only when the database may have changed (see
 * refresh_if_changed): in a statement that reads a table, such as
 * SELECT predict_proba(obs) FROM t, at most once per statement and model,
 * with one registry query. A version that is no longer active is freed
 * when the change is seen. A version parsed inside an explicit transaction
 * is parsed again after it (the transaction may have rolled back a deploy,
 * and the next deploy reuse its number for another document).
 */
#include <stdio.h>
#include <string.h>

#include "sqlite_predict.h"

void
cached_model_free(cached_model *c)
{
	predict_model_free(c->model);
	sqlite3_free(c->values);
	sqlite3_free(c->explain_scratch);
	sqlite3_free(c->contributions);
	sqlite3_free(c->name);
	sqlite3_free(c);
}
/*
 * Start a new epoch (every cached resolution is to be checked again) if the
 * database may have changed since the current one started. Parsed models
 * stay; their versions are checked in active_model.
 */
static void
refresh_if_changed(connection_state *state)
{
	unsigned int data_version = 0;
	sqlite3_int64 changes = sqlite3_total_changes64(state->db);

	int			autocommit = sqlite3_get_autocommit(state->db);

	int			txn = sqlite3_txn_state(state->db, "main");

	/*
	 * Outside explicit transactions the file's data version and the
	 * connection's change count see every commit, but the data version is
	 * only brought up to date when a read transaction starts: with none open
	 * (a statement that reads no table) look again. Inside an explicit
	 * transaction, or after one (it may have rolled back), look again too.
	 */
	sqlite3_file_control(state->db, "main", SQLITE_FCNTL_DATA_VERSION, &data_version);
	if (state->snapshot_valid && autocommit && state->snapshot_in_autocommit &&
		txn != SQLITE_TXN_NONE &&
		data_version == state->data_version && changes == state->total_changes)
		return;
	state->epoch++;
	state->snapshot_valid = 1;
	state->snapshot_in_autocommit = autocommit;
	state->data_version = data_version;
	state->total_changes = changes;
}

/*
 * Version `version` of name, parsed, not in the cache (tentative when
 * parsed inside an explicit transaction); NULL after setting an error on
 * ctx, missing as the message when the registry has no such version.
 */
static cached_model *
parse_version(sqlite3_context *ctx, sqlite3 *db, const char *name, sqlite3_int64 version,
			  const char *missing)
{
	sqlite3_stmt *stmt;
	cached_model *c;
	char	   *text = NULL;
	predict_error err;

	if (sqlite3_prepare_v2(db, "SELECT model FROM predict_model_versions WHERE name = ?1 AND version = ?2",
						   -1, &stmt, NULL) != SQLITE_OK)
	{
		sqlite3_result_error(ctx, sqlite3_errmsg(db), -1);
		return NULL;
	}
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 2, version);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		text = sqlite3_mprintf("%s", (const char *) sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	if (text == NULL)
	{
		sqlite3_result_error(ctx, missing, -1);
		return NULL;
	}
	c = sqlite3_malloc64(sizeof(cached_model));
	if (c == NULL)
	{
		sqlite3_free(text);
		sqlite3_result_error_nomem(ctx);
		return NULL;
	}
	memset(c, 0, sizeof(*c));
	c->version = version;
	c->explains = -1;
	c->tentative = !sqlite3_get_autocommit(db);
	c->name = sqlite3_mprintf("%s", name);
	c->model = predict_model_load(text, strlen(text), NULL, &predict_sqlite_allocator, &err);
	sqlite3_free(text);
	if (c->model == NULL || c->name == NULL)
	{
		if (c->model == NULL)
			result_core_error(ctx, &err);
		else
			sqlite3_result_error_nomem(ctx);
		cached_model_free(c);
		return NULL;
	}
	c->values = sqlite3_malloc64(predict_model_ncolumns(c->model) * sizeof(predict_value));
	if (c->values == NULL)
	{
		cached_model_free(c);
		sqlite3_result_error_nomem(ctx);
		return NULL;
	}
	return c;
}

/*
 * A version that may not be the active one, for the rows that name their
 * version (predictions_check): parsed for the call, freed by the caller
 * with cached_model_free. Such rows come from copies and restores, rarely:
 * the cache keeps active versions only.
 */
cached_model *
stored_version(sqlite3_context *ctx, connection_state *state, const char *name,
			   sqlite3_int64 version)
{
	cached_model *c;
	char	   *missing = registry_error_text(PREDICT_ERR_UNKNOWN_VERSION,
											&(predict_registry_args) {.name = name, .version = version});

	if (missing == NULL)
	{
		sqlite3_result_error_nomem(ctx);
		return NULL;
	}
	c = parse_version(ctx, state->db, name, version, missing);
	sqlite3_free(missing);
	return c;
}

/*
 * Version `version` of name, parsed: from the cache, or parsed now
 * (replacing an older version of name), and marked as verified in this
 * epoch; NULL after setting an error on ctx.
 */
static cached_model *
load_version(sqlite3_context *ctx, connection_state *state, const char *name,
			 sqlite3_int64 version)
{
	cached_model **link;
	cached_model *c;
	int			in_transaction = !sqlite3_get_autocommit(state->db);

	for (link = &state->models; (c = *link) != NULL; link = &c->next)
		if (strcmp(c->name, name) == 0)
			break;
	if (c != NULL && c->version == version && (!c->tentative || in_transaction))
	{
		c->verified = state->epoch;
		return c;
	}
	/* a new active version: free the old one, parse the new one */
	if (c != NULL)
	{
		*link = c->next;
		cached_model_free(c);
	}
	c = parse_version(ctx, state->db, name, version,
					  "the active model version is missing from predict_model_versions");
	if (c == NULL)
		return NULL;
	c->verified = state->epoch;
	c->next = state->models;
	state->models = c;
	return c;
}

/*
 * The parsed active version of name (the default model when name is NULL),
 * or NULL after setting an error on ctx. Within an epoch each model is
 * looked up in the registry once, and the default model's name once.
 */
cached_model *
active_model(sqlite3_context *ctx, connection_state *state, const char *name)
{
	sqlite3    *db = state->db;
	cached_model *c;
	sqlite3_int64 version = 0;
	char	   *found;
	int			rc;

	refresh_if_changed(state);
	if (name == NULL && state->default_name != NULL && state->default_verified == state->epoch)
		name = state->default_name;
	if (name != NULL)
	{
		for (c = state->models; c != NULL; c = c->next)
			if (strcmp(c->name, name) == 0)
				break;
		if (c != NULL && c->verified == state->epoch)
			return c;
	}
	rc = lookup_active(db, name, &found, &version);
	if (rc == SQLITE_DONE)
	{
		result_no_model(ctx, name);
		return NULL;
	}
	if (rc != SQLITE_ROW)
	{
		/* the lookup's own code (SQLITE_BUSY, SQLITE_IOERR...): not a missing model */
		result_error_detail(ctx, rc, NULL, NULL, "could not read the model registry: %s",
							sqlite3_errmsg(db));
		return NULL;
	}
	if (name == NULL)
	{
		sqlite3_free(state->default_name);
		state->default_name = found;
		state->default_verified = state->epoch;
		found = NULL;
	}
	c = load_version(ctx, state, name != NULL ? name : state->default_name, version);
	sqlite3_free(found);
	return c;
}

/* Score argv[0] with the default model or the one named by argv[1]: proba and class. */
static int
score_args(sqlite3_context *ctx, int argc, sqlite3_value **argv, double *proba,
		   bool *predicted, cached_model **out)
{
	connection_state *state = sqlite3_user_data(ctx);
	const char *name = NULL;
	const char *obs;
	cached_model *c;
	predict_error err;

	if (sqlite3_value_type(argv[0]) == SQLITE_NULL ||
		(argc > 1 && sqlite3_value_type(argv[1]) == SQLITE_NULL))
	{
		sqlite3_result_null(ctx);
		return 0;
	}
	if (argc > 1)
		name = (const char *) sqlite3_value_text(argv[1]);
	if ((c = active_model(ctx, state, name)) == NULL)
		return 0;
	obs = (const char *) sqlite3_value_text(argv[0]);
	if (obs == NULL)
	{
		sqlite3_result_error_nomem(ctx);
		return 0;
	}
	if (predict_score_json_class(c->model, obs, (size_t) sqlite3_value_bytes(argv[0]), c->values,
								 proba, predicted, &err) != PREDICT_OK)
	{
		result_scoring_error(ctx, &err, c->name, c->version);
		return 0;
	}
	*out = c;
	return 1;
}

void
predict_proba_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	double		proba;
	bool		predicted;
	cached_model *c;

	if (score_args(ctx, argc, argv, &proba, &predicted, &c))
		sqlite3_result_double(ctx, proba);
}

void
predict_class_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	double		proba;
	bool		predicted;
	cached_model *c;

	if (score_args(ctx, argc, argv, &proba, &predicted, &c))
		sqlite3_result_int(ctx, predicted ? 1 : 0);
}

/* ---------- explanations ---------- */

/*
 * Whether c can be explained, with its buffers for predict_explain:
 * allocated with the cached version the first time it explains, so that a
 * row allocates nothing. False after setting an error on ctx.
 */
bool
explain_ready(sqlite3_context *ctx, cached_model *c)
{
	predict_error err;

	/* the model's fault whatever the observation, as in PostgreSQL */
	if (!predict_model_explainable(c->model, &err))
	{
		result_core_error(ctx, &err);
		return false;
	}
	if (c->explain_scratch == NULL)
	{
		c->explain_scratch = sqlite3_malloc64(predict_explain_scratch_size(c->model));
		c->contributions = sqlite3_malloc64((predict_model_ncolumns(c->model) + 1) * sizeof(double));
		if (c->explain_scratch == NULL || c->contributions == NULL)
		{
			sqlite3_free(c->explain_scratch);
			sqlite3_free(c->contributions);
			c->explain_scratch = NULL;
			c->contributions = NULL;
			sqlite3_result_error_nomem(ctx);
			return false;
		}
	}
	return true;
}

/*
 * The model of an explaining call (argument model_arg names it, else the
 * default), explain_ready. NULL after setting an error on ctx.
 */
static cached_model *
explain_model(sqlite3_context *ctx, int argc, sqlite3_value **argv, int model_arg)
{
	connection_state *state = sqlite3_user_data(ctx);
	cached_model *c;

	c = active_model(ctx, state, argc > model_arg ? (const char *) sqlite3_value_text(argv[model_arg]) : NULL);
	if (c == NULL || !explain_ready(ctx, c))
		return NULL;
	return c;
}

/* Whether an argument is NULL: the result is then NULL (PostgreSQL's STRICT). */
static bool
result_null_if_any(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	for (int i = 0; i < argc; i++)
		if (sqlite3_value_type(argv[i]) == SQLITE_NULL)
		{
			sqlite3_result_null(ctx);
			return true;
		}
	return false;
}

/* The core's JSON writers' sink: an sqlite3_str. */
static void
append_to_str(void *sink, const char *s, size_t n)
{
	sqlite3_str_append((sqlite3_str *) sink, s, (int) n);
}

/* The text in str as the call's result (str is finished here). */
void
result_str(sqlite3_context *ctx, sqlite3_str *str)
{
	int			rc = sqlite3_str_errcode(str);
	int			len = sqlite3_str_length(str);
	char	   *text = sqlite3_str_finish(str);

	if (rc != SQLITE_OK || text == NULL)
	{
		sqlite3_free(text);
		if (rc == SQLITE_TOOBIG)
			sqlite3_result_error_toobig(ctx);
		else
			sqlite3_result_error_nomem(ctx);
		return;
	}
	sqlite3_result_text(ctx, text, len, sqlite3_free);
}

/* The observation's text, argv[0]; NULL after setting an error on ctx. */
static const char *
observation_text(sqlite3_context *ctx, sqlite3_value **argv, size_t *len)
{
	const char *obs = (const char *) sqlite3_value_text(argv[0]);

	if (obs == NULL)
		sqlite3_result_error_nomem(ctx);
	*len = (size_t) sqlite3_value_bytes(argv[0]);
	return obs;
}

/*
 * The explanation of obs (len bytes) by c, explain_ready, as every host
 * writes it: a new sqlite3_str for result_str, or NULL after setting an
 * error on ctx.
 */
sqlite3_str *
explanation_str(sqlite3_context *ctx, cached_model *c, const char *obs, size_t len)
{
	double		base;
	predict_error err;
	sqlite3_str *str;

	if (predict_explain_json(c->model, obs, len, c->values, c->explain_scratch, NULL, NULL,
							 &base, c->contributions, &err) != PREDICT_OK)
	{
		result_scoring_error(ctx, &err, c->name, c->version);
		return NULL;
	}
	str = sqlite3_str_new(sqlite3_context_db_handle(ctx));
	predict_explanation_json(c->model, base, c->contributions, append_to_str, str);
	return str;
}

void
predict_explain_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	cached_model *c;
	const char *obs;
	size_t		len;
	sqlite3_str *str;

	if (result_null_if_any(ctx, argc, argv) ||
		(c = explain_model(ctx, argc, argv, 1)) == NULL ||
		(obs = observation_text(ctx, argv, &len)) == NULL ||
		(str = explanation_str(ctx, c, obs, len)) == NULL)
		return;
	result_str(ctx, str);
}

/*
 * k, argv[1], as PostgreSQL's integer argument: 0 to PREDICT_MAX_REASONS, an
 * error naming it otherwise; false after setting an error on ctx.
 */
static bool
reasons_k(sqlite3_context *ctx, sqlite3_value *arg, size_t *k)
{
	sqlite3_int64 n;

	/* '3' is 3, as SQLite's integer affinity reads it; 2.5 is not an integer */
	if (sqlite3_value_numeric_type(arg) != SQLITE_INTEGER)
	{
		sqlite3_result_error(ctx, "k must be an integer", -1);
		return false;
	}
	n = sqlite3_value_int64(arg);
	if (n < 0 || n > PREDICT_MAX_REASONS)
	{
		result_error_detail(ctx, 0, NULL, NULL, PREDICT_REASONS_K_RANGE, PREDICT_MAX_REASONS,
							(long long) n);
		return false;
	}
	*k = (size_t) n;
	return true;
}

void
predict_reasons_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	cached_model *c;
	const char *obs;
	size_t		len;
	size_t		k;
	predict_error err;
	sqlite3_str *str;

	/* the arguments first, as PostgreSQL: NULLs, then k, then the model */
	if (result_null_if_any(ctx, argc, argv) || !reasons_k(ctx, argv[1], &k) ||
		(c = explain_model(ctx, argc, argv, 2)) == NULL ||
		(obs = observation_text(ctx, argv, &len)) == NULL)
		return;
	str = sqlite3_str_new(sqlite3_context_db_handle(ctx));
	if (predict_explain_json_reasons(c->model, obs, len, c->values, c->explain_scratch,
									 c->contributions, k, append_to_str, str,
									 &err) != PREDICT_OK)
	{
		sqlite3_free(sqlite3_str_finish(str));
		result_scoring_error(ctx, &err, c->name, c->version);
		return;
	}
	result_str(ctx, str);
}

void
predict_model_version_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	connection_state *state = sqlite3_user_data(ctx);
	cached_model *c;

	if (argc > 0 && sqlite3_value_type(argv[0]) == SQLITE_NULL)
	{
		sqlite3_result_null(ctx);
		return;
	}
	if ((c = active_model(ctx, state, argc > 0 ? (const char *) sqlite3_value_text(argv[0]) : NULL)) != NULL)
		sqlite3_result_int64(ctx, c->version);
}

void
predict_default_model_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	connection_state *state = sqlite3_user_data(ctx);
	cached_model *c;

	(void) argc;
	(void) argv;
	if ((c = active_model(ctx, state, NULL)) != NULL)
		sqlite3_result_text(ctx, c->name, -1, SQLITE_TRANSIENT);
}

/*
 * Version `version` of name, for a row that names it (predictions_check):
 * the cached active version when it is that one, else parsed for the call
 * into *owned, which the caller frees. NULL after setting an error on ctx
 * (PREDICT_ERR_UNKNOWN_VERSION when there is no such version, whether or
 * not the model exists, as PostgreSQL).
 */
cached_model *
version_model(sqlite3_context *ctx, connection_state *state, const char *name,
			  sqlite3_int64 version, cached_model **owned)
{
	sqlite3_int64 active = 0;
	char	   *found = NULL;
	int			rc;

	*owned = NULL;
	refresh_if_changed(state);
	for (cached_model *c = state->models; c != NULL; c = c->next)
		if (strcmp(c->name, name) == 0 && c->verified == state->epoch && c->version == version)
			return c;
	rc = lookup_active(state->db, name, &found, &active);
	sqlite3_free(found);
	if (rc == SQLITE_ROW && active == version)
		return active_model(ctx, state, name);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
	{
		result_error_detail(ctx, rc, NULL, NULL, "could not read the model registry: %s",
							sqlite3_errmsg(state->db));
		return NULL;
	}
	return *owned = stored_version(ctx, state, name, version);
}
