/*
 * model.h - the compiled form of a predict-model/1 document, shared by the
 * loader (model.c and the load_*.c files, loader.h) and the scorer
 * (score.c). Not part of the public API.
 *
 * The loader turns the document into flat arrays: blocks that read one
 * column and run a chain of steps, category tables for the encoders, and
 * the estimator's parameters: coefficients indexed by feature, or trees as
 * ranges of one node array that read the features through dense slots.
 * Everything lives in one arena owned by the model.
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
	STEP_ORDINAL,
	STEP_FUNCTION,
	STEP_POWER,
	STEP_QUANTILE,
	STEP_KBINS
} step_type;

/* The numpy ufunc of a function step (FunctionTransformer's func). */
typedef enum step_function
{
	FUNCTION_LOG1P,
	FUNCTION_LOG,
	FUNCTION_SQRT,
	FUNCTION_EXP,
	FUNCTION_EXPM1,
	FUNCTION_ABS,
	FUNCTION_IDENTITY			/* func=None, kept for validate=True */
} step_function;

/* The method of a power step (PowerTransformer); a = lambda. */
typedef enum power_method
{
	POWER_YEO_JOHNSON,
	POWER_BOX_COX
} power_method;

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
	step_function function;		/* function */
	bool		missing_is_error;	/* function: validate=True refuses NaN */
	power_method method;		/* power */
	bool		normal_output;	/* quantile: output "normal" (lo, hi: its clip) */
	bool		float32;		/* kbins: the value is compared as a float32 */
	const double *points;		/* quantile: quantiles_[:, i]; kbins: inner edges */
	const double *levels;		/* quantile: references_ */
	size_t		npoints;
	const uint32_t *groups;		/* one_hot with infrequent categories: category
								 * index -> output index, infrequent ones last */
	bool		unknown_infrequent; /* one_hot: unknown values are infrequent */
	long		infrequent_index;	/* one_hot: the infrequent output index */
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
	uint32_t	off_too_large32;	/* trees: off_values that overflow float32 */
	uint32_t	off_too_large32_at;	/* the first of them */
	const double *off_values;	/* one_hot: feature values when not hot */
	const double *on_values;	/* one_hot: feature value when hot */
} block;

typedef enum estimator_type
{
	ESTIMATOR_LOGISTIC_REGRESSION,
	ESTIMATOR_DECISION_TREE,
	ESTIMATOR_RANDOM_FOREST,
	ESTIMATOR_GRADIENT_BOOSTING,
	ESTIMATOR_HIST_GRADIENT_BOOSTING,
	ESTIMATOR_XGBOOST,
	ESTIMATOR_ADABOOST,
	ESTIMATOR_GAUSSIAN_NB,
	ESTIMATOR_VOTING,
	ESTIMATOR_CALIBRATED
} estimator_type;

/*
 * Trees read features by random access, but scoring allocates nothing: the
 * loader numbers the distinct features the trees split on with dense slots,
 * and scoring writes just those into a stack buffer of this many entries.
 * Documented as the loader limit max_tree_features.
 */
#define MAX_TREE_FEATURES 4096

/*
 * Bounds that keep node indices (2 per split + 1 per tree) in uint32 and
 * child references in int32 (docs: "Limits").
 */
#define MAX_TREES 100000
#define MAX_TREE_NODES ((size_t) 1 << 30)

/* A feature a tree reads: where a block's output goes in the slot buffer. */
typedef struct feature_use
{
	uint32_t	offset;			/* the feature within its block */
	uint32_t	slot;
} feature_use;

/*
 * Trees are stored as nodes in one array per model, each tree a contiguous
 * range: its splits in the document's order, then its leaves. Scoring is
 * branch-free: a node sends x to child[1] (left) or child[0] (right) by a
 * comparison, and a leaf is a node whose children are itself, so a tree is
 * walked for exactly its depth in steps and no step needs to know whether it
 * reached a leaf. That lets the scorer walk several trees in lockstep, their
 * independent memory loads overlapping.
 *
 * A node of a standard tree (sklearn.tree, the forests, GradientBoosting's
 * regression trees), 16 bytes. scikit-learn compares the feature cast to
 * float32 against a float64 threshold; for a float32 x that is the same as
 * x <= the largest float32 not above the threshold, which the loader stores.
 * A leaf has threshold NaN (every comparison false) and slot 0. XGBoost's
 * trees use the same nodes: its rule x < split_condition, both float32, is
 * x <= the float32 just below split_condition, which the loader stores.
 */
typedef struct tree_node
{
	float		threshold;
	uint32_t	slot;			/* the feature's slot, | NODE_MISSING_LEFT */
	uint32_t	child[2];		/* [0] right, [1] left */
} tree_node;

#define NODE_MISSING_LEFT ((uint32_t) 1 << 31)
#define NODE_CATEGORICAL ((uint32_t) 1 << 30)
#define NODE_SLOT_MASK (NODE_CATEGORICAL - 1)

/*
 * A node of a HistGradientBoosting tree, 24 bytes: float64 comparison, a
 * learned missing-value direction, and for a categorical split a bitset of
 * BITSET_WORDS words over the category codes 0 to 255 that go left (unknown
 * codes folded in) plus code 256, standing for missing and negative values.
 * Bitset 0 is all zeros, for the other nodes.
 */
typedef struct hist_node
{
	double		threshold;
	uint32_t	slot;			/* | NODE_MISSING_LEFT, | NODE_CATEGORICAL */
	uint32_t	bitset;
	uint32_t	child[2];
} hist_node;

#define CATEGORY_MISSING 256
#define BITSET_WORDS 9

/* One tree: its nodes from root on, and where its leaf values are. */
typedef struct tree
{
	uint32_t	root;			/* the first node of its range */
	uint32_t	nsplits;
	uint32_t	depth;			/* steps from the root to the deepest leaf */
	int64_t		leaf_offset;	/* value of leaf node i: leaves[i + leaf_offset] */
} tree;

typedef enum link_type
{
	LINK_LOGISTIC,
	LINK_SOFTMAX,
	LINK_MODIFIED_HUBER,
	LINK_NONE					/* decision_function only: a calibrated fold's */
} link_type;

/*
 * numpy's pairwise summation (np.sum along a row) as a plan fixed by the
 * row's length: its blocks of at most 128 terms in order, and after each
 * block how many partial sums to add pairwise (docs: "gaussian_nb").
 */
typedef struct pairwise_plan
{
	size_t		nleaves;
	const uint32_t *leaf_length;
	const uint8_t *leaf_merges;
} pairwise_plan;

typedef enum calibration_method
{
	CALIBRATION_SIGMOID,
	CALIBRATION_ISOTONIC
} calibration_method;

/* A fold's calibrator of CalibratedClassifierCV. */
typedef struct calibrator
{
	calibration_method method;
	double		a, b;			/* sigmoid */
	size_t		npoints;		/* isotonic: X_thresholds_, y_thresholds_ */
	const double *x;
	const double *y;
} calibrator;

/*
 * Bounds on composite estimators (voting, calibrated): how deep they nest
 * and how many estimators one model holds in all (docs: "Limits").
 */
#define MAX_ESTIMATOR_DEPTH 4
#define MAX_SUB_ESTIMATORS 256
#define MAX_CALIBRATION_POINTS 100000

typedef struct estimator
{
	estimator_type type;
	link_type	link;
	const double *coef;			/* nfeatures */
	double		intercept;

	/* tree estimators */
	size_t		ntrees;
	const tree *trees;
	const tree_node *nodes;		/* standard trees */
	const hist_node *hist_nodes;	/* hist_gradient_boosting */
	const double *leaves;		/* adaboost: the leaf's index in leaf_pairs */
	const double *leaves0;		/* decision_tree, random_forest: classes_[0]'s
								 * fraction per leaf ("value0"), or NULL */
	const double *leaf_pairs;	/* adaboost: per leaf, class 0's then class 1's
								 * contribution to the decision */
	const uint32_t *bitsets;	/* BITSET_WORDS words per categorical split */
	const double *cover;		/* per node, the training cover the document's
								 * trees give ("cover"), or NULL: explanations */
	uint32_t	max_depth;		/* the deepest tree's depth */
	float		xgboost_bias;	/* xgboost with covers: pred_contribs' bias */
	double		init;			/* gradient_boosting init, hgb baseline, xgboost
								 * base margin (a float32) */
	double		learning_rate;
	bool		exponential_loss;	/* gradient_boosting: proba = expit(2 * d) */
	const struct estimator *init_estimator; /* gradient_boosting: the estimator
											 * whose predict_proba gives the raw
											 * prediction the trees start from,
											 * or NULL for the constant init */
	bool		float32_input;	/* gradient_boosting's init estimator: it sees
								 * the features rounded to float32 */
	bool		missing_learned;	/* standard trees: NaN follows the splits */
	bool		zero_is_missing;	/* xgboost: a 0 feature is absent (sparse input) */
	size_t		nslots;			/* distinct features the trees read */
	const int32_t *feature_slot;	/* nfeatures: slot, or -1 if unread */
	const feature_use *uses;	/* per block, the features the trees read */
	const uint32_t *block_uses;	/* per block: first use, count (2 each) */

	/* gaussian_nb: per class 0 and 1 */
	double		log_prior[2];	/* np.log(class_prior_) */
	double		log_norm[2];	/* -0.5 * np.sum(np.log(2 pi var_)) */
	const double *theta;		/* 2 * nfeatures: class 0's, then class 1's */
	const double *var;			/* the same */
	pairwise_plan plan;			/* of the nfeatures terms */

	/* voting and calibrated: the estimators they combine */
	size_t		nsubs;
	const struct estimator *subs;
	const double *weights;		/* voting: NULL for none */
	double		weight_sum;		/* voting: np.sum(weights) as numpy sums;
								 * adaboost: estimator_weights_.sum() */
	const calibrator *calibrators;	/* calibrated: one per sub-estimator */
} estimator;

/* The document's name of an estimator type ("logistic_regression", ...). */
const char *estimator_type_name(estimator_type type);

typedef struct column
{
	const char *name;
	uint32_t	name_length;
	bool		numeric;
	bool		used;			/* read by some block */
	category_table *categories; /* a pandas category dtype's, or NULL */
	uint8_t		values;			/* a nullable dtype's rule: COLUMN_VALUES_* */
} column;

#define COLUMN_VALUES_ANY 0
#define COLUMN_VALUES_INTEGER 1 /* pandas Int64 */
#define COLUMN_VALUES_BOOLEAN 2 /* pandas boolean */

/* A feature that reads no input column (a constant), or several. */
#define FEATURE_CONSTANT (-1)
#define FEATURE_MIXED (-2)

typedef struct arena_chunk arena_chunk;
typedef struct feature_stage feature_stage;

struct predict_model
{
	predict_allocator allocator;
	arena_chunk *chunks;

	const char *name;
	double		threshold;
	bool		sklearn_rule;	/* "threshold": null: the class is scikit-learn's
								 * predict(), not proba >= threshold */

	size_t		ncolumns;
	column	   *columns;
	category_table column_index;	/* column names -> index */

	size_t		nblocks;
	block	   *blocks;
	size_t		nsteps;
	step	   *steps;
	size_t		nfeatures;		/* the estimator's: the stage's output if any */
	const feature_stage *stage; /* the optional "transforms" (stage.h), or NULL */
	const double *feature_means;	/* nfeatures: reference.feature_means, or NULL */
	const int32_t *feature_column;	/* nfeatures: the input column each comes from,
									 * or FEATURE_CONSTANT, FEATURE_MIXED */
	long		first_mixed;	/* the first FEATURE_MIXED feature, or -1 */
	double		linear_base;	/* logistic_regression with feature means:
								 * intercept + sum coef . mean, in feature order */
	const double *const *hot_sums;	/* the same without a stage, per block: a
									 * one-hot block's contribution to its column
									 * with each feature hot (width + 1: none),
									 * summed as explain_linear sums it, where
									 * no earlier block credits that column;
									 * else NULL (explain.c) */

	estimator	estimator;
};

#endif							/* PREDICT_MODEL_H */
