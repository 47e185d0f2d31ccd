/*
 * predict.h - the scoring core: load a predict-model/1 document, score
 * observations with it exactly as scikit-learn's predict_proba would.
 *
 * Plain C with cJSON as the only dependency: no PostgreSQL or SQLite headers
 * here or in any core file. Each host (the CLI, the PostgreSQL and SQLite
 * extensions) turns the error codes and messages into its own kind of error,
 * with the same text everywhere.
 *
 * Memory: a model is allocated through the allocator given at load time (the
 * C library's malloc by default), in a few large blocks, and released by
 * predict_model_free. Scoring allocates nothing. The core never prints,
 * exits or longjmps.
 *
 * Threads: a loaded model is immutable; any number of threads may score with
 * it at once.
 *
 * The format and every scoring rule are documented in docs/model-format.md.
 */
#ifndef PREDICT_H
#define PREDICT_H

#include <stdbool.h>
#include <stddef.h>

#define PREDICT_FORMAT "predict-model/1"
#define PREDICT_VERSION "1.0.0"

/* Error categories; hosts map them to SQLSTATEs and HTTP statuses. */
typedef enum predict_status
{
	PREDICT_OK = 0,
	PREDICT_BAD_MODEL,			/* the model document is invalid */
	PREDICT_BAD_OBSERVATION,	/* the observation cannot be scored */
	PREDICT_TOO_LARGE,			/* a documented limit was exceeded */
	PREDICT_NO_MEMORY,			/* an allocation failed */
	PREDICT_UNSUPPORTED			/* the model cannot do what was asked (explain) */
} predict_status;

#define PREDICT_ERROR_SIZE 512

/* A status and a NUL-terminated message, filled by every failing call. */
typedef struct predict_error
{
	predict_status status;
	char		message[PREDICT_ERROR_SIZE];
} predict_error;

/* Where a host wants the model's memory; NULL members mean malloc/free. */
typedef struct predict_allocator
{
	void	   *(*alloc) (size_t size, void *context);	/* NULL on failure */
	void		(*release) (void *pointer, void *context);
	void	   *context;
} predict_allocator;

/* Loader limits (docs/model-format.md, "Limits"). */
typedef struct predict_limits
{
	size_t		max_model_bytes;
	size_t		max_columns;
	size_t		max_blocks;
	size_t		max_features;
	size_t		max_categories;
	size_t		max_string_bytes;
} predict_limits;

#define PREDICT_DEFAULT_MAX_MODEL_BYTES ((size_t) 64 * 1024 * 1024)
#define PREDICT_MAX_OBSERVATION_BYTES ((size_t) 1024 * 1024)

/* The defaults of every limit. */
predict_limits predict_default_limits(void);

typedef struct predict_model predict_model;

/*
 * Parse and validate a model document of len bytes (need not be
 * NUL-terminated). limits and allocator may be NULL for the defaults.
 * Returns NULL and fills err on failure; the message starts with the JSON
 * path of the offending value.
 */
predict_model *predict_model_load(const char *json, size_t len,
								  const predict_limits *limits,
								  const predict_allocator *allocator,
								  predict_error *err);
void		predict_model_free(predict_model *model);

/*
 * The registry's rule for model names, the same in every host: 1 to
 * PREDICT_MODEL_NAME_MAX bytes of ASCII letters, digits, '_', '.' and '-'
 * (no locale: a name valid in one database is valid in all).
 */
#define PREDICT_MODEL_NAME_MAX 63
#define PREDICT_MODEL_NAME_RULE \
	"A model name is 1 to 63 characters among letters, digits, \"_\", \".\" and \"-\"."
bool		predict_model_name_valid(const char *name, size_t len);

/*
 * JSON text written the same way by every host, so that what the gateway
 * serves and what SQLite stores agree byte for byte: a string literal with
 * the escapes \" \\ \n \t and \u00XX for the other control characters,
 * everything else as it is, handed to append in pieces.
 */
typedef void (*predict_append_fn) (void *sink, const char *s, size_t n);
void		predict_json_string(const char *s, size_t n, predict_append_fn append, void *sink);

/* The value of one hexadecimal digit, or -1. */
int			predict_hex_value(char c);

const char *predict_model_name(const predict_model *model);
double		predict_model_threshold(const predict_model *model);
size_t		predict_model_ncolumns(const predict_model *model);
const char *predict_model_column_name(const predict_model *model, size_t column);
size_t		predict_model_nfeatures(const predict_model *model);

/* The column index of an observation key, or -1 if the model has no such column. */
long		predict_model_find_column(const predict_model *model,
									  const char *key, size_t len);

/*
 * One input value as a host read it from its JSON representation. Strings
 * are UTF-8 bytes, not necessarily NUL-terminated, owned by the host and only
 * read during predict_score.
 */
typedef enum predict_value_kind
{
	PREDICT_VALUE_MISSING = 0,	/* absent key or JSON null */
	PREDICT_VALUE_NUMBER,
	PREDICT_VALUE_BOOL,
	PREDICT_VALUE_STRING,
	PREDICT_VALUE_OTHER			/* object or array */
} predict_value_kind;

typedef struct predict_value
{
	predict_value_kind kind;
	double		number;			/* NUMBER; BOOL as 0 or 1 */
	const char *string;			/* STRING */
	size_t		length;			/* STRING; for OTHER, 0 = object, 1 = array */
} predict_value;

/*
 * Score one observation given as predict_model_ncolumns values, indexed as
 * the model's columns (missing ones with kind PREDICT_VALUE_MISSING).
 * Returns PREDICT_OK and sets *proba, or an error naming the column.
 * Allocates nothing.
 */
predict_status predict_score(const predict_model *model,
							 const predict_value *values,
							 double *proba, predict_error *err);

/*
 * Score as predict_score does, and set *predicted to the model's predicted
 * class (docs/model-format.md, "threshold"): proba >= threshold, or for a
 * document whose threshold is null, scikit-learn's predict() for the
 * estimator (its decision function's sign, or argmax over the classes'
 * probabilities, the first class winning ties), which the probability alone
 * cannot always tell. Every host takes the class from here.
 */
predict_status predict_score_class(const predict_model *model,
								   const predict_value *values,
								   double *proba, bool *predicted,
								   predict_error *err);

/*
 * Whether the class is proba >= predict_model_threshold; false for a document
 * whose threshold is null (scikit-learn's predict(), threshold NaN).
 */
bool		predict_model_has_threshold(const predict_model *model);

/*
 * proba >= threshold: the class of a model with a threshold only (false for
 * every proba when the threshold is null); hosts use predict_score_class.
 */
bool		predict_model_classify(const predict_model *model, double proba);

/*
 * The start of the messages about an observation as a whole (its size, its
 * JSON text, not an object), which predict_score_json raises before any
 * column is read: PostgreSQL's extension raises these before scoring, and
 * the hosts add which version scored to the other errors only.
 */
#define PREDICT_WHOLE_OBSERVATION "observation: "

/*
 * Parse a JSON observation (an object; len bytes, at most
 * PREDICT_MAX_OBSERVATION_BYTES) and score it: the text is accepted and
 * refused as cJSON accepts and refuses it (observation.c). values is
 * scratch space of predict_model_ncolumns entries owned by the caller.
 * Used by the hosts that receive JSON text (the CLI, SQLite).
 */
predict_status predict_score_json(const predict_model *model,
								  const char *json, size_t len,
								  predict_value *values,
								  double *proba, predict_error *err);

/* predict_score_json with the predicted class, as predict_score_class. */
predict_status predict_score_json_class(const predict_model *model,
										const char *json, size_t len,
										predict_value *values,
										double *proba, bool *predicted,
										predict_error *err);

/*
 * Compile a model into SQL for PostgreSQL databases without the extension
 * (managed services): a CREATE FUNCTION statement for a PL/pgSQL function
 * function(obs jsonb) RETURNS float8 that scores exactly as predict_score
 * does, calling the helper functions of src/managed/sql/managed.sql in schema helpers
 * (both names already quoted as SQL identifiers); for a model without a
 * threshold (predict_model_has_threshold), a second one,
 * function_class(obs jsonb, OUT proba float8, OUT predicted boolean), with
 * the class of predict_score_class. Returns a string to
 * release with free(), or NULL and err (a model too large to compile is
 * PREDICT_TOO_LARGE).
 */
char	   *predict_model_to_sql(const predict_model *model, const char *function,
								 const char *helpers, predict_error *err);

/* ---------- explanations (docs/model-format.md, "Explanations") ---------- */

/* Where an explanation adds up: the raw output it decomposes. */
typedef enum predict_space
{
	PREDICT_SPACE_LOG_ODDS,		/* logistic regression and the boosted trees */
	PREDICT_SPACE_PROBABILITY	/* decision trees and forests */
} predict_space;

/* "log-odds" or "probability", as an explanation's "space" names it. */
const char *predict_space_name(predict_space space);

/*
 * Whether predict_explain can explain the model. If not, err says why, by
 * name (PREDICT_UNSUPPORTED): an estimator without exact explanations, a
 * feature that mixes input columns, a linear model exported without its
 * reference's feature means, trees without their covers.
 */
bool		predict_model_explainable(const predict_model *model, predict_error *err);

/* The space of the model's explanations (meaningful when explainable). */
predict_space predict_model_space(const predict_model *model);

/*
 * Bytes of scratch space predict_explain needs for this model: the caller
 * owns it (the core allocates nothing per call), one buffer per thread.
 */
size_t		predict_explain_scratch_size(const predict_model *model);

/*
 * Score one observation as predict_score_class does and explain it: *base
 * and contributions[predict_model_ncolumns], one per input column (0 for a
 * column the model does not read), such that *base plus the contributions
 * is the model's raw output in predict_model_space. proba, predicted may be
 * NULL. An observation that cannot be scored fails as predict_score does; a
 * model that cannot be explained fails with PREDICT_UNSUPPORTED.
 */
predict_status predict_explain(const predict_model *model, const predict_value *values,
							   void *scratch, double *proba, bool *predicted,
							   double *base, double *contributions, predict_error *err);

/*
 * predict_explain on a JSON observation, read as predict_score_json reads it.
 * The strings of values point into json or into memory of the call's own
 * (those it decoded): read them after it returns only through
 * predict_explain_json_reasons.
 */
predict_status predict_explain_json(const predict_model *model, const char *json, size_t len,
									predict_value *values, void *scratch,
									double *proba, bool *predicted,
									double *base, double *contributions,
									predict_error *err);

/*
 * The explanation as every host writes it:
 * {"space": "log-odds", "base": b, "contributions": {"column": c, ...}},
 * the columns in the model's order, numbers as predict_format_number.
 */
void		predict_explanation_json(const predict_model *model, double base,
									 const double *contributions,
									 predict_append_fn append, void *sink);

/*
 * The reasons of an adverse-action notice: up to k columns whose
 * contributions are negative, the most negative first (ties in column
 * order), into columns[]; returns how many.
 */
size_t		predict_lowest_contributions(const double *contributions, size_t ncolumns,
										 size_t k, size_t *columns);

/*
 * Those reasons as every host writes them: a JSON array, the most negative
 * first, of {"column": name, "value": the observation's value (null when
 * missing), "contribution": c}. values are the observation's, as explained.
 */
void		predict_reasons_json(const predict_model *model, const predict_value *values,
								 const double *contributions, size_t k,
								 predict_append_fn append, void *sink);

/* The largest k predict_reasons_json takes (a notice gives a handful). */
#define PREDICT_MAX_REASONS 100

/*
 * predict_explain_json and predict_reasons_json in one call, while the
 * observation's decoded strings still live: the reasons of a JSON
 * observation (the hosts that receive JSON text). k at most
 * PREDICT_MAX_REASONS.
 */
predict_status predict_explain_json_reasons(const predict_model *model, const char *json,
											size_t len, predict_value *values, void *scratch,
											double *contributions, size_t k,
											predict_append_fn append, void *sink,
											predict_error *err);

/* What every host says of a k out of range: printf's with PREDICT_MAX_REASONS, then k. */
#define PREDICT_REASONS_K_RANGE "k must be between 0 and %d, got %lld"
/* The hint every host gives with a PREDICT_UNSUPPORTED error. */
#define PREDICT_EXPLAIN_HINT \
	"The models that can be explained are listed in docs/model-format.md, \"Explanations\"."

/* Set err's status and message (printf-style); returns the status. */
predict_status predict_set_error(predict_error *err, predict_status status,
								 const char *format,...)
			__attribute__((format(printf, 3, 4)));

/* x as PostgreSQL prints a float8: shortest digits ("0.1", "1e+15", "5e-324", "Infinity"). */
void		predict_format_number(char *buf, size_t size, double x);

/* x as printf's "%.17g" writes it, into buf of at least 32 bytes (the CLI's probabilities). */
void		predict_format_g17(char *buf, double x);

/* Write the bytes of s (len) as a short, printable, quoted excerpt into buf. */
void		predict_quote(char *buf, size_t size, const char *s, size_t len);

#endif							/* PREDICT_H */
