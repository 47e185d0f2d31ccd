/*
 * model.h - the compiled form of a predict-model/1 document, shared by the
 * loader (model.c) and the scorer (score.c). Not part of the public API.
 *
 * The loader turns the document into flat arrays: blocks that read one
 * column and run a chain of steps, category tables for the encoders, and
 * the estimator's parameters indexed by feature. Everything lives in one
 * arena owned by the model.
 */
#ifndef PREDICT_MODEL_H
#define PREDICT_MODEL_H

#include <stdint.h>

#include "predict.h"

/* An open-addressing hash table of strings or numbers. */
typedef struct category_table
{
	size_t		count;			/* categories, excluding the missing one */
	bool		numeric;		/* all numbers (else all strings) */
	long		missing_index;	/* index of the null (NaN) category, or -1 */
	const double *numbers;		/* numeric: count values */
	const char *const *strings; /* strings: count values */
	const uint32_t *lengths;	/* strings: count byte lengths */
	uint32_t   *slots;			/* index + 1; 0 = empty */
	size_t		mask;			/* slot count - 1 (a power of 2 minus 1) */
} category_table;

/* Index of a string or number in a table, or -1. */
long		category_find_string(const category_table *table, const char *s, size_t len);
long		category_find_number(const category_table *table, double x);

typedef enum step_type
{
	STEP_IMPUTE,
	STEP_INDICATOR,
	STEP_STANDARDIZE,
	STEP_MULTIPLY,
	STEP_MIN_MAX,
	STEP_ONE_HOT,
	STEP_ORDINAL
} step_type;

/*
 * A step on a block's scalar value. Steps after a one_hot are not kept as
 * steps: the loader evaluates them on 0 and 1 into the block's
 * off_values/on_values.
 */
typedef struct step
{
	step_type	type;
	bool		numeric_input;	/* the value entering is numeric (finite check) */
	bool		has_center;		/* standardize */
	bool		has_scale;		/* standardize */
	bool		has_clip;		/* min_max */
	bool		unknown_is_error;	/* one_hot, ordinal */
	double		a;				/* impute value, center, factor, min_max scale */
	double		b;				/* scale, min_max min, ordinal unknown_value */
	double		lo, hi;			/* clip; ordinal: lo = encoded_missing_value */
	const char *string;			/* impute: a string value, else NULL */
	uint32_t	string_length;
	long		drop;			/* one_hot: dropped category, or -1 */
	category_table *table;		/* one_hot, ordinal */
} step;

/* One use of one input column, producing width consecutive features. */
typedef struct block
{
	uint32_t	column;
	uint32_t	first_feature;
	uint32_t	width;
	uint32_t	first_step;
	uint32_t	nsteps;			/* scalar steps, the one_hot included */
	bool		one_hot;		/* the last scalar step is a one_hot */
	bool		off_all_zero;	/* every off_value is +-0 */
	const double *off_values;	/* one_hot: feature values when not hot */
	const double *on_values;	/* one_hot: feature value when hot */
} block;

typedef enum estimator_type
{
	ESTIMATOR_LOGISTIC_REGRESSION
} estimator_type;

typedef enum link_type
{
	LINK_LOGISTIC,
	LINK_SOFTMAX
} link_type;

typedef struct estimator
{
	estimator_type type;
	link_type	link;
	const double *coef;			/* nfeatures */
	double		intercept;
} estimator;

typedef struct column
{
	const char *name;
	uint32_t	name_length;
	bool		numeric;
	bool		used;			/* read by some block */
} column;

typedef struct arena_chunk arena_chunk;

struct predict_model
{
	predict_allocator allocator;
	arena_chunk *chunks;

	const char *name;
	double		threshold;

	size_t		ncolumns;
	column	   *columns;
	category_table column_index;	/* column names -> index */

	size_t		nblocks;
	block	   *blocks;
	size_t		nsteps;
	step	   *steps;
	size_t		nfeatures;

	estimator	estimator;
};

#endif							/* PREDICT_MODEL_H */
