/*
 * pg_predict.c - the PostgreSQL host of the scoring core: the `predict`
 * extension's C functions (src/pg/sql/ declares them).
 *
 *   predict_deploy(name, model), predict_activate(name, version),
 *   predict_set_default(name)                   the model registry (registry.c)
 *   predict_proba(obs [, model]), predict_class(obs [, model])
 *                                               scoring (this file)
 *   predict_explain(obs [, model]), predict_reasons(obs, k [, model])
 *                                               explanations (this file)
 *   predictions_score(), predictions_protect()  the predictions triggers
 *                                               (triggers.c)
 *
 * Everything else is the core's (src/core/predict.h): the extension only
 * moves values between jsonb (jsonb_read.c) and the core and turns the
 * core's errors into ereport()s with the core's text (this file). Which
 * model version a call uses, and the loaded versions, are cache.c's.
 *
 * This file is the module itself: its magic, its GUC, the core's errors
 * and the scoring and explaining functions, which are thin over the other
 * files.
 */
#include "postgres.h"

#include <limits.h>

#include "mb/pg_wchar.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"

#include "predict.h"
#include "pg_predict.h"
#include "registry_errors.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(predict_proba);
PG_FUNCTION_INFO_V1(predict_class);
/* SQL's predict_explain: predict_explain is the core's */
PG_FUNCTION_INFO_V1(predict_explain_jsonb);
PG_FUNCTION_INFO_V1(predict_reasons_jsonb);

/* predict.max_model_bytes */
int			predict_max_model_bytes = (int) PREDICT_DEFAULT_MAX_MODEL_BYTES;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomIntVariable("predict.max_model_bytes",
							"Refuse model documents larger than this.",
							"The size of the document as JSON text, checked by predict_deploy and "
							"whenever a backend loads a model.",
							&predict_max_model_bytes,
							(int) PREDICT_DEFAULT_MAX_MODEL_BYTES,
							1024, INT_MAX,
							PGC_SUSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);
	MarkGUCPrefixReserved("predict");
}

/* ---------- errors ---------- */

/* Text from the core (UTF-8) in the database encoding. */
static const char *
from_utf8(const char *s)
{
	if (GetDatabaseEncoding() == PG_UTF8 || GetDatabaseEncoding() == PG_SQL_ASCII)
		return s;
	return pg_any_to_server(s, strlen(s), PG_UTF8);
}

/* Raise the core's error; entry, when given, is the model that scored. */
void
report_predict_error(const predict_error *err, const model_entry *entry)
{
	const char *message = from_utf8(err->message);

	switch (err->status)
	{
		case PREDICT_NO_MEMORY:
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory"),
					 errdetail("%s", message)));
			break;
		case PREDICT_TOO_LARGE:
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("%s", message),
					 entry == NULL ?
					 errhint("A superuser can raise predict.max_model_bytes.") : 0));
			break;
		case PREDICT_UNSUPPORTED:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("%s", message),
					 errhint(PREDICT_EXPLAIN_HINT)));
			break;
		default:
			if (entry != NULL)
			{
				char		detail[256];

				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s", message),
						 errdetail_internal("%s", predict_registry_render(PREDICT_DETAIL_SCORED_WITH,
																		  &(predict_registry_args) {.name = entry->name, .version = entry->version},
																		  detail, sizeof(detail)))));
			}
			else
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s", message)));
			break;
	}
}

/* ---------- scoring functions ---------- */

/* The model of the call: the one named by argument model_arg if given, else the default. */
static resolved_model *
resolve_model_arg(FunctionCallInfo fcinfo, scoring_state *state, int model_arg)
{
	if (PG_NARGS() > model_arg)
	{
		text	   *name = PG_GETARG_TEXT_PP(model_arg);

		return scoring_resolve(state, VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name));
	}
	return scoring_resolve(state, NULL, 0);
}

/* predict_proba(obs jsonb [, model text]) returns float8 */
Datum
predict_proba(PG_FUNCTION_ARGS)
{
	Jsonb	   *obs = PG_GETARG_JSONB_P(0);
	scoring_state *state = scoring_state_get(fcinfo);
	resolved_model *resolved = resolve_model_arg(fcinfo, state, 1);
	bool		predicted;

	PG_RETURN_FLOAT8(observation_score(obs, resolved->entry, state->values, &predicted));
}

/*
 * predict_class(obs jsonb [, model text]) returns boolean: the model's class
 * (proba >= threshold, or scikit-learn's predict() when the threshold is null)
 */
Datum
predict_class(PG_FUNCTION_ARGS)
{
	Jsonb	   *obs = PG_GETARG_JSONB_P(0);
	scoring_state *state = scoring_state_get(fcinfo);
	resolved_model *resolved = resolve_model_arg(fcinfo, state, 1);
	bool		predicted;

	(void) observation_score(obs, resolved->entry, state->values, &predicted);
	PG_RETURN_BOOL(predicted);
}

/* ---------- explaining functions ---------- */

/*
 * That entry can be explained, with predict_explain's buffers in state ready
 * for it. An unexplainable model fails here, whatever the observation: the
 * error is about the model.
 */
void
entry_check_explainable(scoring_state *state, const model_entry *entry)
{
	predict_error err;

	if (!predict_model_explainable(entry->model, &err))
		report_predict_error(&err, entry);
	scoring_explain_buffers(state, entry);
}

/* The model of an explaining call, checked (entry_check_explainable). */
static const model_entry *
explain_resolve(FunctionCallInfo fcinfo, scoring_state *state, int model_arg)
{
	const model_entry *entry = resolve_model_arg(fcinfo, state, model_arg)->entry;

	entry_check_explainable(state, entry);
	return entry;
}

/* The core's JSON writers' sink: a StringInfo. */
static void
append_to_string(void *sink, const char *s, size_t n)
{
	appendBinaryStringInfo((StringInfo) sink, s, (int) n);
}

/* JSON text the core wrote (UTF-8) as jsonb. */
static Datum
jsonb_from_core(StringInfo json)
{
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(from_utf8(json->data)));
}

/*
 * predict_explain(obs jsonb [, model text]) returns jsonb: how much each
 * column of obs moved the model's raw output from its base
 * (docs/model-format.md, "Explanations"), as predict_explanation_json
 * writes it
 */
Datum
predict_explain_jsonb(PG_FUNCTION_ARGS)
{
	Jsonb	   *obs = PG_GETARG_JSONB_P(0);
	scoring_state *state = scoring_state_get(fcinfo);
	const model_entry *entry = explain_resolve(fcinfo, state, 1);

	PG_RETURN_DATUM(observation_explanation_jsonb(obs, entry, state, NULL, NULL));
}

/*
 * The explanation of obs by entry, as predict_explanation_json writes it,
 * as jsonb: predict_explain's and the log's (entry_check_explainable
 * first); the score into *proba and *predicted unless NULL.
 */
Datum
observation_explanation_jsonb(Jsonb *obs, const model_entry *entry, scoring_state *state,
							  double *proba, bool *predicted)
{
	double		base = observation_explain(obs, entry, state, proba, predicted);
	StringInfoData json;

	initStringInfo(&json);
	predict_explanation_json(entry->model, base, state->contributions, append_to_string, &json);
	return jsonb_from_core(&json);
}

/*
 * predict_reasons(obs jsonb, k integer [, model text]) returns jsonb: the k
 * columns that lowered the score the most, the most negative first, with
 * their values and contributions (predict_reasons_json): an adverse-action
 * notice's reasons
 */
Datum
predict_reasons_jsonb(PG_FUNCTION_ARGS)
{
	Jsonb	   *obs = PG_GETARG_JSONB_P(0);
	int32		k = PG_GETARG_INT32(1);
	scoring_state *state;
	const model_entry *entry;
	StringInfoData json;

	/* the arguments first: a bad k is the caller's whatever the registry holds */
	if (k < 0 || k > PREDICT_MAX_REASONS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg(PREDICT_REASONS_K_RANGE, PREDICT_MAX_REASONS, (long long) k)));
	state = scoring_state_get(fcinfo);
	entry = explain_resolve(fcinfo, state, 2);
	(void) observation_explain(obs, entry, state, NULL, NULL);
	initStringInfo(&json);
	predict_reasons_json(entry->model, state->values, state->contributions, (size_t) k,
						 append_to_string, &json);
	PG_RETURN_DATUM(jsonb_from_core(&json));
}
