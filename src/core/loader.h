/*
 * loader.h - the loader's state and the helpers its files share. Not part
 * of the public API.
 *
 * Loading a predict-model/1 document is split by concern: load_json.c
 * (the JSON path, errors, typed access), categories.c, load_preprocessing.c,
 * load_linear.c, load_tree.c and load_trees.c, load_reference.c, and
 * model.c (the document's top level, the arena and the public entry
 * points). Every part validates its piece of the document with the same
 * helpers and reports errors the same way, so those are declared here
 * rather than copied.
 */
#ifndef PREDICT_LOADER_H
#define PREDICT_LOADER_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "model.h"

#define PATH_SIZE 256

/* One load in progress: the model being built and where the loader is. */
typedef struct loader
{
	predict_model *model;
	estimator  *est;			/* the estimator being loaded */
	int			depth;			/* composite estimators around it */
	size_t		nsubs;			/* sub-estimators loaded so far */
	bool		decision_only;	/* ld->est is a calibrated fold's estimator */
	predict_limits limits;
	predict_error *err;
	char		path[PATH_SIZE];
	size_t		path_len;
} loader;

/* model.c: zeroed memory that lives as long as the model, or NULL */
void	   *arena_alloc(predict_model *model, size_t size);

/* load_json.c: the JSON path of the value being read */
void		path_set(loader *ld, size_t len);
size_t		path_push_key(loader *ld, const char *key);
size_t		path_push_index(loader *ld, size_t index);

/* load_json.c: errors; each returns false */
bool		fail(loader *ld, const char *format,...) __attribute__((format(printf, 2, 3)));
bool		fail_limit(loader *ld, const char *what, size_t count, const char *limit_name,
					   size_t limit);
bool		fail_memory(loader *ld);

/* load_json.c: typed access to cJSON items */
const char *json_type_name(const cJSON *item);
bool		check_object(loader *ld, const cJSON *object, const char *const *allowed);
const cJSON *member(loader *ld, const cJSON *object, const char *key, bool required);
bool		expect_finite(loader *ld, const cJSON *item, double *out);
bool		expect_string(loader *ld, const cJSON *item, size_t max, const char **out,
						  uint32_t *length);
bool		expect_array(loader *ld, const cJSON *item, size_t min, size_t max,
						 const char *limit_name, size_t *count);
int			expect_enum(loader *ld, const cJSON *item, const char *const *names);
bool		expect_integer(loader *ld, const cJSON *item, double lo, double hi,
						   const char *what, long *out);
bool		load_required_number(loader *ld, const cJSON *object, const char *key,
								 double *out);
bool		load_number_array(loader *ld, const cJSON *object, const char *key, size_t n,
							  size_t min, size_t max, const char *limit_name, double **out,
							  size_t *count);

/* categories.c */
bool		table_init(loader *ld, category_table *table, size_t count);
bool		table_insert(category_table *table, size_t index);
bool		load_categories(loader *ld, const cJSON *item, category_table **out,
							size_t *total);

/* the parts of the document, each from its own file */
bool		load_preprocessing(loader *ld, const cJSON *item);
bool		load_logistic_regression(loader *ld, const cJSON *object);
bool		load_tree_estimator(loader *ld, const cJSON *object, estimator_type type);
bool		load_reference(loader *ld, const cJSON *object);

/* explain.c: which input column each of the estimator's features comes from */
bool		map_feature_columns(loader *ld);
bool		load_features(loader *ld, const cJSON *item, const cJSON *preprocessing);

/* model.c: an estimator object of any type into ld->est */
bool		load_estimator_object(loader *ld, const cJSON *object);

/* load_nb.c, load_ensemble.c */
bool		load_gaussian_nb(loader *ld, const cJSON *object);
bool		load_voting(loader *ld, const cJSON *object);
bool		load_calibrated(loader *ld, const cJSON *object);
bool		load_sub_estimator(loader *ld, const cJSON *object, estimator *sub,
							   bool decision_only);

/* ---------- trees: shared by load_trees.c and load_tree.c ---------- */

#define CATEGORY_CODES 256		/* HistGradientBoosting's 8 x 32-bit bitsets */

/* What the trees of an estimator may hold. */
typedef struct tree_rules
{
	bool		hist;			/* hist_gradient_boosting splits */
	bool		probability;	/* leaves are class fractions in [0, 1] */
	bool		missing_left;	/* every tree must have missing_left */
	bool		xgboost;		/* float32 split conditions (x < t), float32 leaves */
	bool		adaboost;		/* two values per leaf: value_negative and value */
	const uint32_t *known;		/* hist: 8 words per feature, or NULL */
	const bool *categorical;	/* hist: nfeatures flags */
} tree_rules;

/* Scratch shared by the trees of one estimator while they load. */
typedef struct tree_scratch
{
	uint8_t    *referenced;		/* per node of the largest tree */
	uint32_t   *depth;			/* per node of the largest tree */
	size_t		next_node;
	size_t		next_leaf;
	size_t		next_bitset;	/* 0 is the all-zero bitset */
} tree_scratch;

bool		load_tree(loader *ld, const cJSON *object, const tree_rules *rules,
					  tree_scratch *scratch, tree *t);

#endif							/* PREDICT_LOADER_H */
