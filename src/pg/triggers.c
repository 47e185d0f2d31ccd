/*
 * triggers.c - the predictions table's scoring trigger: predictions_score
 * fills in a row's score from its observation, or checks the score of a row
 * that arrives with one (a restore). (Its audit rule, predictions_protect,
 * is SQL's, the same in both PostgreSQL modes, src/pg/sql/registry.sql; the
 * C one below serves the schemas of older versions.)
 *
 * Separate from the scoring functions: it works on a relation's tuples and
 * attribute numbers.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "predict.h"
#include "pg_predict.h"

PG_FUNCTION_INFO_V1(predictions_score);
PG_FUNCTION_INFO_V1(predictions_protect);

static TriggerData *
trigger_check(FunctionCallInfo fcinfo, const char *function, bool insert)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s() was not called by the trigger manager", function)));
	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		(insert ? !TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) :
		 !TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s() must be fired BEFORE %s FOR EACH ROW",
						function, insert ? "INSERT" : "UPDATE")));
	return trigdata;
}

static int
trigger_column(Relation rel, const char *function, const char *column, Oid type)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	int			attnum = SPI_fnumber(tupdesc, column);

	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s() needs a column \"%s\" in relation \"%s\"",
						function, column, RelationGetRelationName(rel))));
	if (TupleDescAttr(tupdesc, attnum - 1)->atttypid != type)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of relation \"%s\" must be of type %s for %s()",
						column, RelationGetRelationName(rel), format_type_be(type),
						function)));
	return attnum;
}

/* Find the predictions columns of the trigger's relation (once per query). */
static void
trigger_columns(scoring_state *state, Relation rel, const char *function)
{
	if (state->relid == RelationGetRelid(rel))
		return;
	state->att_observation = trigger_column(rel, function, "observation", JSONBOID);
	state->att_proba = trigger_column(rel, function, "proba", FLOAT8OID);
	state->att_predicted_class = trigger_column(rel, function, "predicted_class", BOOLOID);
	state->att_model = trigger_column(rel, function, "model", TEXTOID);
	state->att_model_version = trigger_column(rel, function, "model_version", INT4OID);
	state->att_true_class = trigger_column(rel, function, "true_class", INT2OID);
	state->att_updated_at = trigger_column(rel, function, "updated_at", TIMESTAMPTZOID);
	/* 1.5's: a log of an older schema has no explanations */
	state->att_explanation = 0;
	if (SPI_fnumber(RelationGetDescr(rel), "explanation") > 0)
		state->att_explanation = trigger_column(rel, function, "explanation", JSONBOID);
	state->relid = RelationGetRelid(rel);
}

/* What an inserted row carries in its explanation column. */
typedef enum given_explanation
{
	GIVEN_NONE,					/* null, false, or no such column */
	GIVEN_REQUEST,				/* true: explain this row */
	GIVEN_EXPLANATION			/* anything else: an explanation (a restore's) */
} given_explanation;

static given_explanation
explanation_given(scoring_state *state, TupleDesc tupdesc, HeapTuple tuple, Jsonb **given)
{
	Datum		value;
	bool		isnull;
	JsonbValue	scalar;

	*given = NULL;
	if (state->att_explanation == 0)
		return GIVEN_NONE;
	value = heap_getattr(tuple, state->att_explanation, tupdesc, &isnull);
	if (isnull)
		return GIVEN_NONE;
	*given = DatumGetJsonbP(value);
	if (JB_ROOT_IS_SCALAR(*given) && JsonbExtractScalar(&(*given)->root, &scalar) &&
		scalar.type == jbvBool)
		return scalar.val.boolean ? GIVEN_REQUEST : GIVEN_NONE;
	return GIVEN_EXPLANATION;
}

/*
 * What the explanation column of a row entry scores becomes: the version's
 * explanation of the observation when the version explains every row
 * (explain_log) or the insert asked with true; null when neither (false, or
 * null). A new row may carry nothing else; a restored row (restored) may
 * carry the explanation its version computes, bit for bit as jsonb
 * compares, and nothing else, so that a restore cannot forge one.
 */
typedef struct explanation_plan
{
	bool		write;			/* the column is to be written */
	bool		explain;		/* with the version's explanation (else null) */
	Jsonb	   *given;			/* a restored row's explanation, to compare */
	bool		explained;		/* score_row explained it, into value */
	Datum		value;
} explanation_plan;

static explanation_plan
plan_explanation(scoring_state *state, Relation rel, HeapTuple tuple, const model_entry *entry,
				 bool restored)
{
	explanation_plan plan = {false, false, NULL, false, (Datum) 0};
	Jsonb	   *given;
	given_explanation kind = explanation_given(state, RelationGetDescr(rel), tuple, &given);

	if (state->att_explanation == 0)
		return plan;
	if (kind == GIVEN_EXPLANATION && !restored)
		registry_error("explanation supplied", NULL, 0, RelationGetRelationName(rel), NULL);
	plan.explain = kind != GIVEN_NONE || entry->explain_log;
	plan.write = plan.explain || given != NULL;
	if (kind == GIVEN_EXPLANATION)
		plan.given = given;
	return plan;
}

/*
 * The score of obs by entry; where plan asks for its explanation, and the
 * model can give one, by explaining it, which scores it too (the
 * observation read and scored once). A model that cannot explain is
 * refused by finish_explanation, after the score's own checks, as before.
 */
static double
score_row(scoring_state *state, const model_entry *entry, Jsonb *obs, explanation_plan *plan,
		  bool *predicted)
{
	double		proba;

	if (!plan->explain || !predict_model_explainable(entry->model, NULL))
		return observation_score(obs, entry, state->values, predicted);
	entry_check_explainable(state, entry);
	plan->value = observation_explanation_jsonb(obs, entry, state, &proba, predicted);
	plan->explained = true;
	return proba;
}

/*
 * The explanation column's value by plan, once the score is checked: a
 * model that cannot explain refused, a restored explanation compared.
 */
static void
finish_explanation(scoring_state *state, Relation rel, const model_entry *entry,
				   const explanation_plan *plan, Datum *value, bool *isnull)
{
	*isnull = !plan->explain;
	*value = plan->value;
	if (!plan->explain)
		return;
	if (!plan->explained)
		entry_check_explainable(state, entry);	/* raises */
	if (plan->given != NULL &&
		!DatumGetBool(DirectFunctionCall2(jsonb_eq, plan->value, PointerGetDatum(plan->given))))
		registry_error("row not explained by its version", entry->name, entry->version,
					   RelationGetRelationName(rel), NULL);
}

/*
 * A row that arrives with its model_version (a restored row, or one copied
 * from another database) keeps its score only if it is that version's:
 * proba and predicted_class, when given, must be bit for bit what the
 * version computes for the observation, and are filled in when missing.
 * Anything else is refused, so that a restore cannot forge a prediction.
 */
static HeapTuple
predictions_verify(scoring_state *state, Relation rel, HeapTuple tuple, Jsonb *obs,
				   int32 version)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	resolved_model *resolved;
	Datum		model;
	Datum		given;
	bool		isnull;
	bool		proba_null;
	bool		class_null;
	double		proba;
	double		given_proba = 0.0;
	bool		predicted;
	bool		given_class = false;
	int			columns[3];
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	int			ncolumns = 0;
	explanation_plan plan;

	model = heap_getattr(tuple, state->att_model, tupdesc, &isnull);
	if (isnull)
		registry_error("row without model", NULL, 0, RelationGetRelationName(rel), NULL);
	resolved = scoring_resolve_version(state, TextDatumGetCString(model), version);
	plan = plan_explanation(state, rel, tuple, resolved->entry, true);
	proba = score_row(state, resolved->entry, obs, &plan, &predicted);

	given = heap_getattr(tuple, state->att_proba, tupdesc, &proba_null);
	if (!proba_null)
		given_proba = DatumGetFloat8(given);
	given = heap_getattr(tuple, state->att_predicted_class, tupdesc, &class_null);
	if (!class_null)
		given_class = DatumGetBool(given);
	if ((!proba_null && memcmp(&given_proba, &proba, sizeof(double)) != 0) ||
		(!class_null && given_class != predicted))
	{
		registry_row_score score = {!proba_null, given_proba, !class_null, given_class,
		proba, predicted};

		registry_error("row not scored by its version", resolved->entry->name, version,
					   RelationGetRelationName(rel), &score);
	}
	if (proba_null || class_null)
	{
		columns[ncolumns] = state->att_proba;
		values[ncolumns++] = Float8GetDatum(proba);
		columns[ncolumns] = state->att_predicted_class;
		values[ncolumns++] = BoolGetDatum(predicted);
	}
	if (plan.write)
	{
		finish_explanation(state, rel, resolved->entry, &plan, &values[ncolumns], &nulls[ncolumns]);
		columns[ncolumns++] = state->att_explanation;
	}
	if (ncolumns == 0)
		return tuple;
	return heap_modify_tuple_by_cols(tuple, tupdesc, ncolumns, columns, values, nulls);
}

/*
 * BEFORE INSERT on predictions: score the observation with the default
 * model and fill proba, predicted_class, model and model_version, whatever
 * the client supplied for them; or, for a row that names its model_version,
 * check its score (predictions_verify).
 */
Datum
predictions_score(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = trigger_check(fcinfo, "predictions_score", true);
	Relation	rel = trigdata->tg_relation;
	TupleDesc	tupdesc = RelationGetDescr(rel);
	HeapTuple	tuple = trigdata->tg_trigtuple;
	scoring_state *state = scoring_state_get(fcinfo);
	resolved_model *resolved;
	Datum		obs;
	Datum		version;
	bool		isnull;
	double		proba;
	bool		predicted;
	int			columns[5];
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	int			ncolumns = 4;
	explanation_plan plan;

	trigger_columns(state, rel, "predictions_score");
	obs = heap_getattr(tuple, state->att_observation, tupdesc, &isnull);
	if (isnull)
		return PointerGetDatum(tuple);	/* the NOT NULL constraint reports it */
	version = heap_getattr(tuple, state->att_model_version, tupdesc, &isnull);
	if (!isnull)
		return PointerGetDatum(predictions_verify(state, rel, tuple, DatumGetJsonbP(obs),
												  DatumGetInt32(version)));

	resolved = scoring_resolve(state, NULL, 0);
	plan = plan_explanation(state, rel, tuple, resolved->entry, false);
	proba = score_row(state, resolved->entry, DatumGetJsonbP(obs), &plan, &predicted);

	columns[0] = state->att_proba;
	values[0] = Float8GetDatum(proba);
	columns[1] = state->att_predicted_class;
	values[1] = BoolGetDatum(predicted);
	columns[2] = state->att_model;
	values[2] = resolved->name_text;
	columns[3] = state->att_model_version;
	values[3] = Int32GetDatum(resolved->entry->version);
	if (plan.write)
	{
		finish_explanation(state, rel, resolved->entry, &plan, &values[4], &nulls[4]);
		columns[ncolumns++] = state->att_explanation;
	}
	return PointerGetDatum(heap_modify_tuple_by_cols(tuple, tupdesc, ncolumns, columns,
													 values, nulls));
}

/*
 * BEFORE UPDATE on predictions, in the schemas of 1.0 to 1.2 only: since
 * 1.3 the audit rule is registry.sql's predictions_protect, one definition
 * with managed mode. Kept so that a database whose extension is not updated
 * yet keeps taking outcomes (UPDATE ... SET true_class) with the module
 * installed; the same rule: only true_class may change, updated_at is set
 * here.
 */
Datum
predictions_protect(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = trigger_check(fcinfo, "predictions_protect", false);
	Relation	rel = trigdata->tg_relation;
	TupleDesc	tupdesc = RelationGetDescr(rel);
	HeapTuple	oldtuple = trigdata->tg_trigtuple;
	HeapTuple	newtuple = trigdata->tg_newtuple;
	scoring_state *state = scoring_state_get(fcinfo);
	int			columns[1];
	Datum		values[1];
	bool		nulls[1] = {false};

	trigger_columns(state, rel, "predictions_protect");
	for (int attnum = 1; attnum <= tupdesc->natts; attnum++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, attnum - 1);
		bool		oldnull;
		bool		newnull;
		Datum		oldvalue;
		Datum		newvalue;

		if (att->attisdropped || attnum == state->att_true_class ||
			attnum == state->att_updated_at)
			continue;
		oldvalue = heap_getattr(oldtuple, attnum, tupdesc, &oldnull);
		newvalue = heap_getattr(newtuple, attnum, tupdesc, &newnull);
		if (oldnull != newnull ||
			(!oldnull && !datum_image_eq(oldvalue, newvalue, att->attbyval, att->attlen)))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("column \"%s\" of relation \"%s\" cannot be changed",
							NameStr(att->attname), RelationGetRelationName(rel)),
					 errdetail("Predictions are an audit log: only true_class can be updated.")));
	}
	columns[0] = state->att_updated_at;
	values[0] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	return PointerGetDatum(heap_modify_tuple_by_cols(newtuple, tupdesc, 1, columns,
													 values, nulls));
}
