/*
 * cache.c - the backend's model cache and the per call site scoring state
 * (fn_extra): which loaded model version a call uses.
 *
 * Model cache.  A backend loads a model version once and keeps it in its own
 * memory context ("predict model" with identifier "<name> version <n>",
 * children of "predict model cache", visible in pg_backend_memory_contexts).
 * A cached version is identified by its registry row (name, version and the
 * row's xmin and ctid), so a version number reused after a rolled-back
 * deploy, or a registry dropped and re-created, never hits a stale entry.
 *
 * Resolution.  Which version a call uses is read from the registry with the
 * statement's snapshot, once per statement: the answer is kept in fn_extra
 * together with the snapshot's identity, and looked up again only when the
 * snapshot changes (a new statement, or a new PL/pgSQL expression evaluation
 * in READ COMMITTED).  A deploy committed elsewhere is thus used by this
 * session's next statement, one rolled back is never seen, and no row pays a
 * lookup.  Each fn_extra pins the versions it uses until its memory context
 * goes away (end of query, cursor close, transaction end); a version that a
 * lookup finds superseded is freed as soon as nothing pins it.
 *
 * Separate from the registry (registry.c), which reads the rows: this file
 * owns the memory, the pins and the per-statement reuse of an answer.
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "predict.h"
#include "pg_predict.h"

static MemoryContext model_cache_context = NULL;
static model_entry *model_cache = NULL;

/* ---------- loading models ---------- */

static void *
context_alloc(size_t size, void *context)
{
	if (size > MaxAllocHugeSize)
		return NULL;
	return MemoryContextAllocExtended((MemoryContext) context, size,
									  MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
}

static void
context_release(void *pointer, void *context)
{
	pfree(pointer);
}

/*
 * Load a model document stored as jsonb, with the model's memory in
 * context. The text form exists only for the loader (cJSON) and is freed
 * before returning; the loader frees its own cJSON tree and never longjmps,
 * so an error raised here leaks nothing.
 */
static predict_model *
model_load_jsonb(Jsonb *doc, MemoryContext context)
{
	predict_allocator allocator = {context_alloc, context_release, context};
	predict_limits limits = predict_default_limits();
	predict_model *model;
	predict_error err;
	StringInfoData text;
	char	   *utf8;

	initStringInfo(&text);
	JsonbToCString(&text, &doc->root, VARSIZE(doc));
	utf8 = text.data;
	if (GetDatabaseEncoding() != PG_UTF8 && GetDatabaseEncoding() != PG_SQL_ASCII)
		utf8 = pg_server_to_any(text.data, text.len, PG_UTF8);
	limits.max_model_bytes = (size_t) predict_max_model_bytes;
	model = predict_model_load(utf8, strlen(utf8), &limits, &allocator, &err);
	if (utf8 != text.data)
		pfree(utf8);
	pfree(text.data);
	if (model == NULL)
		report_predict_error(&err, NULL);
	return model;
}

/*
 * Validate a document: load it into a scratch context and throw it away;
 * with explain, also that the core can explain it (a version deployed to
 * explain every row it logs).
 */
void
model_check_jsonb(Jsonb *doc, bool explain)
{
	MemoryContext scratch = AllocSetContextCreate(CurrentMemoryContext,
												  "predict model check",
												  ALLOCSET_DEFAULT_SIZES);
	predict_model *model = model_load_jsonb(doc, scratch);
	predict_error err;

	if (explain && !predict_model_explainable(model, &err))
		report_predict_error(&err, NULL);
	predict_model_free(model);
	MemoryContextDelete(scratch);
}

static void
model_entry_free(model_entry *entry)
{
	model_entry **link;

	for (link = &model_cache; *link != NULL; link = &(*link)->next)
	{
		if (*link == entry)
		{
			*link = entry->next;
			break;
		}
	}
	predict_model_free(entry->model);
	MemoryContextDelete(entry->context);
}

void
model_entry_unpin(model_entry *entry)
{
	Assert(entry->pins > 0);
	if (--entry->pins == 0 && entry->superseded)
		model_entry_free(entry);
}

/* Mark every cached version of name other than keep superseded. */
void
model_cache_supersede(const char *name, const model_entry *keep)
{
	model_entry *entry = model_cache;

	while (entry != NULL)
	{
		model_entry *next = entry->next;

		if (entry != keep && strcmp(entry->name, name) == 0)
		{
			entry->superseded = true;
			if (entry->pins == 0)
				model_entry_free(entry);
		}
		entry = next;
	}
}

model_entry *
model_cache_find(const char *name, int32 version, TransactionId xmin,
				 ItemPointer tid)
{
	for (model_entry *entry = model_cache; entry != NULL; entry = entry->next)
	{
		if (entry->version == version && entry->row_xmin == xmin &&
			ItemPointerEquals(&entry->row_tid, tid) &&
			strcmp(entry->name, name) == 0)
			return entry;
	}
	return NULL;
}

/*
 * Load doc as (name, version) of the registry row (xmin, tid) into the
 * cache, with the row's explain setting.
 */
model_entry *
model_cache_add(const char *name, int32 version, TransactionId xmin,
				ItemPointer tid, Jsonb *doc, bool explain_log)
{
	MemoryContext context;
	model_entry *entry;
	predict_model *model;
	size_t		ncolumns;

	if (model_cache_context == NULL)
		model_cache_context = AllocSetContextCreate(TopMemoryContext,
													"predict model cache",
													ALLOCSET_SMALL_SIZES);
	context = AllocSetContextCreate(model_cache_context, "predict model",
									ALLOCSET_DEFAULT_SIZES);
	PG_TRY();
	{
		model = model_load_jsonb(doc, context);
		ncolumns = predict_model_ncolumns(model);
		entry = MemoryContextAllocZero(context, sizeof(model_entry));
		entry->context = context;
		entry->name = MemoryContextStrdup(context, name);
		entry->version = version;
		entry->explain_log = explain_log;
		entry->row_xmin = xmin;
		ItemPointerCopy(tid, &entry->row_tid);
		entry->model = model;
		entry->ncolumns = ncolumns;
		entry->column_names = MemoryContextAlloc(context, ncolumns * sizeof(char *));
		entry->column_lengths = MemoryContextAlloc(context, ncolumns * sizeof(int));
		for (size_t i = 0; i < ncolumns; i++)
		{
			const char *column = predict_model_column_name(model, i);

			/* observation keys are in the database encoding */
			if (GetDatabaseEncoding() != PG_UTF8 && GetDatabaseEncoding() != PG_SQL_ASCII)
			{
				MemoryContext old = MemoryContextSwitchTo(context);

				column = pg_any_to_server(column, strlen(column), PG_UTF8);
				MemoryContextSwitchTo(old);
			}
			entry->column_names[i] = column;
			entry->column_lengths[i] = (int) strlen(column);
		}
		MemoryContextSetIdentifier(context,
								   MemoryContextStrdup(context,
													   psprintf("%s version %d", name, version)));
	}
	PG_CATCH();
	{
		/* model memory, if any, is in context: nothing else to release */
		MemoryContextDelete(context);
		PG_RE_THROW();
	}
	PG_END_TRY();
	entry->next = model_cache;
	model_cache = entry;
	return entry;
}

/* ---------- per call site state ---------- */

static void
resolved_forget(resolved_model *slot)
{
	model_entry_unpin(slot->entry);
	if (slot->requested != NULL)
		pfree(slot->requested);
	pfree(DatumGetPointer(slot->name_text));
}

static void
scoring_state_unpin_all(scoring_state *state)
{
	for (int i = 0; i < state->nresolved; i++)
		resolved_forget(&state->resolved[i]);
	state->nresolved = 0;
	for (int i = 0; i < state->nversions; i++)
		resolved_forget(&state->versions[i]);
	state->nversions = 0;
}

/* fn_mcxt is going away: release the pins. */
static void
scoring_state_release(void *arg)
{
	scoring_state_unpin_all((scoring_state *) arg);
}

scoring_state *
scoring_state_get(FunctionCallInfo fcinfo)
{
	scoring_state *state = (scoring_state *) fcinfo->flinfo->fn_extra;
	MemoryContext mcxt = fcinfo->flinfo->fn_mcxt;

	if (state != NULL)
		return state;
	state = MemoryContextAllocZero(mcxt, sizeof(scoring_state));
	state->mcxt = mcxt;
	state->schema = function_schema(fcinfo);
	state->schema_quoted = MemoryContextStrdup(mcxt, schema_quoted(state->schema));
	state->unpin_callback.func = scoring_state_release;
	state->unpin_callback.arg = state;
	MemoryContextRegisterResetCallback(mcxt, &state->unpin_callback);
	fcinfo->flinfo->fn_extra = state;
	return state;
}

static bool
statement_key_get(statement_key *key)
{
	Snapshot	snapshot;

	if (!ActiveSnapshotSet())
		return false;
	snapshot = GetActiveSnapshot();
	memset(key, 0, sizeof(*key));
	key->lxid = MyProc->lxid;
	key->xmin = snapshot->xmin;
	key->xmax = snapshot->xmax;
	key->xcnt = snapshot->xcnt;
	key->subxcnt = snapshot->subxcnt;
	key->suboverflowed = snapshot->suboverflowed;
	key->curcid = snapshot->curcid;
	key->completion = snapshot->snapXactCompletionCount;
	return true;
}

/* Forget what an earlier statement resolved (its snapshot is not this one's). */
static void
scoring_state_for_statement(scoring_state *state)
{
	statement_key key;

	if (!statement_key_get(&key))
	{
		scoring_state_unpin_all(state);
		state->key_valid = false;
	}
	else if (!state->key_valid || memcmp(&key, &state->key, sizeof(key)) != 0)
	{
		scoring_state_unpin_all(state);
		state->key = key;
		state->key_valid = true;
	}
}

static resolved_model *
scoring_find(resolved_model *slots, int n, const char *name, int len, int32 version)
{
	for (int i = 0; i < n; i++)
	{
		resolved_model *slot = &slots[i];

		if (slot->version == version &&
			(name == NULL ? slot->requested == NULL :
			 (slot->requested != NULL && slot->requested_len == len &&
			  memcmp(slot->requested, name, len) == 0)))
			return slot;
	}
	return NULL;
}

/* Pin entry in a new slot of slots (n of max in use; the oldest goes when full). */
static resolved_model *
scoring_remember(scoring_state *state, resolved_model *slots, int *n, int max,
				 model_entry *entry, const char *name, int len, int32 version)
{
	resolved_model *slot;
	MemoryContext old;

	if (*n == max)
	{
		/* many models in one statement: forget the oldest */
		resolved_forget(&slots[0]);
		memmove(&slots[0], &slots[1], (max - 1) * sizeof(resolved_model));
		(*n)--;
	}
	old = MemoryContextSwitchTo(state->mcxt);
	slot = &slots[*n];
	slot->entry = entry;
	slot->requested = name != NULL ? pnstrdup(name, len) : NULL;
	slot->requested_len = len;
	slot->version = version;
	slot->name_text = PointerGetDatum(cstring_to_text(entry->name));
	if (state->nvalues < entry->ncolumns)
	{
		if (state->values != NULL)
			pfree(state->values);
		state->values = palloc(entry->ncolumns * sizeof(predict_value));
		state->nvalues = entry->ncolumns;
	}
	MemoryContextSwitchTo(old);
	entry->pins++;
	(*n)++;
	return slot;
}

/*
 * predict_explain's buffers in state, large enough for entry's model:
 * allocated with the call site, grown when a larger model is resolved, so
 * that explaining a row allocates nothing (the core allocates nothing).
 */
void
scoring_explain_buffers(scoring_state *state, const model_entry *entry)
{
	size_t		size = predict_explain_scratch_size(entry->model);

	if (state->explain_scratch_size < size)
	{
		if (state->explain_scratch != NULL)
			pfree(state->explain_scratch);
		state->explain_scratch = MemoryContextAlloc(state->mcxt, size);
		state->explain_scratch_size = size;
	}
	if (state->ncontributions < entry->ncolumns + 1)
	{
		if (state->contributions != NULL)
			pfree(state->contributions);
		state->contributions = MemoryContextAlloc(state->mcxt,
												  (entry->ncolumns + 1) * sizeof(double));
		state->ncontributions = entry->ncolumns + 1;
	}
}

/*
 * The model for this call: the active version of the default model (name ==
 * NULL) or of a named one, as the current statement sees the registry.
 * Cheap when the statement already resolved it.
 */
resolved_model *
scoring_resolve(scoring_state *state, const char *name, int len)
{
	resolved_model *slot;
	char	   *requested;
	model_entry *entry;

	scoring_state_for_statement(state);
	slot = scoring_find(state->resolved, state->nresolved, name, len, 0);
	if (slot != NULL)
		return slot;
	requested = name != NULL ? pnstrdup(name, len) : NULL;
	entry = model_resolve(state->schema, state->schema_quoted, requested, 0);
	if (requested != NULL)
		pfree(requested);
	return scoring_remember(state, state->resolved, &state->nresolved, RESOLVED_MAX,
							entry, name, len, 0);
}

/* Version version of model name, active or not (a row that names it). */
resolved_model *
scoring_resolve_version(scoring_state *state, const char *name, int32 version)
{
	int			len = (int) strlen(name);
	resolved_model *slot;

	scoring_state_for_statement(state);
	slot = scoring_find(state->versions, state->nversions, name, len, version);
	if (slot != NULL)
		return slot;
	return scoring_remember(state, state->versions, &state->nversions, VERSIONS_MAX,
							model_resolve(state->schema, state->schema_quoted, name, version),
							name, len, version);
}
