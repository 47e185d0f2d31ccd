/*
 * pg_predict.h - what the files of the PostgreSQL extension share: the
 * cached model versions, the per call site scoring state and the functions
 * one file calls in another. Not installed; the SQL-callable functions are
 * declared by PG_FUNCTION_INFO_V1 next to their definitions.
 *
 * The extension is split by concern: pg_predict.c (module, GUC, errors,
 * scoring and explaining functions), registry.c (the registry: reading it, deploy,
 * activate, set_default), cache.c (the model cache and the scoring state),
 * jsonb_read.c (observations from jsonb) and triggers.c (the predictions
 * triggers).
 */
#ifndef PG_PREDICT_H
#define PG_PREDICT_H

#include "fmgr.h"
#include "storage/itemptr.h"
#include "utils/jsonb.h"
#include "utils/palloc.h"

#include "predict.h"

/* Distinct model names one call site remembers per statement. */
#define RESOLVED_MAX 4

/*
 * Versions one call site of the trigger remembers per statement, for rows
 * that arrive with their model_version (a restore interleaves them).
 */
#define VERSIONS_MAX 16


/* One loaded model version; everything lives in its own memory context. */
typedef struct model_entry
{
	struct model_entry *next;
	MemoryContext context;
	char	   *name;
	int32		version;
	TransactionId row_xmin;		/* identity of the registry row */
	ItemPointerData row_tid;
	predict_model *model;
	size_t		ncolumns;
	const char **column_names;	/* in the database encoding */
	int		   *column_lengths;
	bool		explain_log;	/* the version explains the rows it logs (1.5) */
	int			pins;			/* call sites using it right now */
	bool		superseded;		/* no longer active: free when unpinned */
} model_entry;

/* ---------- per call site state (fn_extra) ---------- */

/* The snapshot a resolution was made with; equal keys see equal registries. */
typedef struct statement_key
{
	LocalTransactionId lxid;
	TransactionId xmin;
	TransactionId xmax;
	uint32		xcnt;
	int32		subxcnt;
	bool		suboverflowed;
	CommandId	curcid;
	uint64		completion;
} statement_key;

typedef struct resolved_model
{
	char	   *requested;		/* model name asked for, NULL for the default */
	int			requested_len;
	int32		version;		/* the version asked for, 0 for the active one */
	model_entry *entry;			/* pinned */
	Datum		name_text;		/* entry->name as text, for the trigger */
} resolved_model;

typedef struct scoring_state
{
	MemoryContext mcxt;			/* fn_mcxt: lives as long as the call site */
	MemoryContextCallback unpin_callback;
	Oid			schema;			/* the extension's schema (the function's) */
	char	   *schema_quoted;
	bool		key_valid;
	statement_key key;
	int			nresolved;
	resolved_model resolved[RESOLVED_MAX];
	int			nversions;
	resolved_model versions[VERSIONS_MAX];	/* asked for by name and version */
	predict_value *values;		/* scratch for one observation */
	size_t		nvalues;
	/* predict_explain's scratch and contributions, for the largest model so far */
	void	   *explain_scratch;
	size_t		explain_scratch_size;
	double	   *contributions;
	size_t		ncontributions;
	/* trigger only: attribute numbers in the trigger's relation */
	Oid			relid;
	int			att_observation;
	int			att_proba;
	int			att_predicted_class;
	int			att_model;
	int			att_model_version;
	int			att_true_class;
	int			att_updated_at;
	int			att_explanation;	/* 0: a schema before 1.5 has none */
} scoring_state;


/* pg_predict.c */
extern int	predict_max_model_bytes;	/* predict.max_model_bytes */
extern void report_predict_error(const predict_error *err, const model_entry *entry);

/* cache.c: the model cache */
extern void model_check_jsonb(Jsonb *doc, bool explain);
extern void model_entry_unpin(model_entry *entry);
extern void model_cache_supersede(const char *name, const model_entry *keep);
extern model_entry *model_cache_find(const char *name, int32 version, TransactionId xmin,
									 ItemPointer tid);
extern model_entry *model_cache_add(const char *name, int32 version, TransactionId xmin,
									ItemPointer tid, Jsonb *doc, bool explain_log);

/* cache.c: the per call site state */
extern scoring_state *scoring_state_get(FunctionCallInfo fcinfo);
extern resolved_model *scoring_resolve(scoring_state *state, const char *name, int len);
extern resolved_model *scoring_resolve_version(scoring_state *state, const char *name,
											   int32 version);
extern void scoring_explain_buffers(scoring_state *state, const model_entry *entry);

/* registry.c */
extern Oid	function_schema(FunctionCallInfo fcinfo);
extern char *schema_quoted(Oid schema);
extern model_entry *model_resolve(Oid schema, const char *schema_q, const char *requested,
								  int32 wanted);

/* errors.c: the errors of src/pg/sql/registry.sql's registry_error */
typedef struct registry_row_score
{
	bool		has_row_proba;
	double		row_proba;		/* the score a row carried */
	bool		has_row_class;
	bool		row_class;
	double		proba;			/* the score its version computes */
	bool		predicted;
} registry_row_score;

extern void registry_error(const char *kind, const char *name, int32 version,
						   const char *relation, const registry_row_score *score)
			pg_attribute_noreturn();

/* jsonb_read.c: the probability, and in *predicted the model's class (predict_score_class) */
extern double observation_score(Jsonb *obs, const model_entry *entry, predict_value *values,
								bool *predicted);
/*
 * jsonb_read.c: the explanation (predict_explain) into state's buffers, and
 * the score into *proba and *predicted unless NULL; returns the base
 */
extern double observation_explain(Jsonb *obs, const model_entry *entry, scoring_state *state,
								  double *proba, bool *predicted);

/* pg_predict.c: the explanation of obs by entry as jsonb (predict_explain's) */
extern void entry_check_explainable(scoring_state *state, const model_entry *entry);
extern Datum observation_explanation_jsonb(Jsonb *obs, const model_entry *entry,
										   scoring_state *state, double *proba,
										   bool *predicted);

#endif							/* PG_PREDICT_H */
