/*
 * model.c - load and validate a predict-model/1 document: the document's
 * top level, the model's arena and the public entry points.
 *
 * Validation is complete before anything is trusted: every field's
 * presence and type, array lengths, finite numbers, references between
 * fields and the limits. A refused document gets one message starting with
 * the JSON path of the offending value. The cJSON tree is freed before
 * returning on every path, so a host may raise its own error afterwards
 * without leaking.
 *
 * The parts of the document are loaded by their own files (loader.h):
 * load_json.c, categories.c, load_preprocessing.c, load_linear.c,
 * load_trees.c, load_tree.c and load_reference.c.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"
#include "util.h"

/* ---------- arena ---------- */

struct arena_chunk
{
	arena_chunk *next;
	size_t		size;
	size_t		used;
	/* data follows, 16-byte aligned */
};

#define ARENA_ALIGN 16
#define ARENA_CHUNK_SIZE ((size_t) 64 * 1024)
#define CHUNK_HEADER_SIZE ((sizeof(arena_chunk) + ARENA_ALIGN - 1) & ~(size_t) (ARENA_ALIGN - 1))

static void *
default_alloc(size_t size, void *context)
{
	(void) context;
	return malloc(size);
}

static void
default_release(void *pointer, void *context)
{
	(void) context;
	free(pointer);
}

/* Zeroed memory that lives as long as the model, or NULL. */
void *
arena_alloc(predict_model *model, size_t size)
{
	arena_chunk *chunk = model->chunks;
	void	   *p;

	size = (size + ARENA_ALIGN - 1) & ~(size_t) (ARENA_ALIGN - 1);
	if (size == 0)
		size = ARENA_ALIGN;
	if (chunk == NULL || chunk->size - chunk->used < size)
	{
		size_t		data_size = size > ARENA_CHUNK_SIZE ? size : ARENA_CHUNK_SIZE;

		if (data_size > SIZE_MAX - CHUNK_HEADER_SIZE)
			return NULL;
		chunk = model->allocator.alloc(CHUNK_HEADER_SIZE + data_size,
									   model->allocator.context);
		if (chunk == NULL)
			return NULL;
		chunk->size = data_size;
		chunk->used = 0;
		/* a big allocation goes behind the current chunk to keep its free space */
		if (size > ARENA_CHUNK_SIZE / 4 && model->chunks != NULL)
		{
			chunk->next = model->chunks->next;
			model->chunks->next = chunk;
		}
		else
		{
			chunk->next = model->chunks;
			model->chunks = chunk;
		}
	}
	p = (char *) chunk + CHUNK_HEADER_SIZE + chunk->used;
	chunk->used += size;
	memset(p, 0, size);
	return p;
}

void
predict_model_free(predict_model *model)
{
	predict_allocator allocator;
	arena_chunk *chunk;

	if (model == NULL)
		return;
	allocator = model->allocator;
	chunk = model->chunks;
	while (chunk != NULL)
	{
		arena_chunk *next = chunk->next;

		allocator.release(chunk, allocator.context);
		chunk = next;
	}
	allocator.release(model, allocator.context);
}

/* ---------- columns ---------- */

static const char *const column_fields[] = {
	"name", "type", "dtype", "categories", "values", NULL
};
/* in the order of COLUMN_VALUES_INTEGER, COLUMN_VALUES_BOOLEAN */
static const char *const column_values[] = {"integer", "boolean", NULL};
static const char *const column_types[] = {"number", "string", NULL};

/*
 * A pandas category dtype's categories (astype turns any other value into
 * NaN): strings for a string column, numbers for a number column, no null.
 */
static bool
load_column_categories(loader *ld, const cJSON *entry, column *col)
{
	const cJSON *field = member(ld, entry, "categories", false);
	size_t		total;

	col->categories = NULL;
	if (field == NULL)
		return true;
	if (!load_categories(ld, field, &col->categories, &total))
		return false;
	path_push_key(ld, "categories");
	if (col->categories->missing_index >= 0)
		return fail(ld, "a category dtype has no null category");
	if (col->categories->numeric != col->numeric)
		return fail(ld, "expected %s categories for a %s column",
					col->numeric ? "number" : "string", col->numeric ? "number" : "string");
	return true;
}

/* A nullable dtype's rule on a number column: "integer" (Int64), "boolean". */
static bool
load_column_values(loader *ld, const cJSON *entry, column *col)
{
	const cJSON *field = member(ld, entry, "values", false);
	int			rule;

	col->values = COLUMN_VALUES_ANY;
	if (field == NULL)
		return true;
	path_push_key(ld, "values");
	if ((rule = expect_enum(ld, field, column_values)) < 0)
		return false;
	if (!col->numeric || col->categories != NULL)
		return fail(ld, "only a number column without categories has a values rule");
	col->values = (uint8_t) (rule + 1);
	return true;
}

static bool
load_columns(loader *ld, const cJSON *item)
{
	predict_model *model = ld->model;
	size_t		n;
	size_t		saved = path_push_key(ld, "columns");
	const cJSON *entry = cJSON_IsArray(item) ? item->child : NULL;

	if (!expect_array(ld, item, 1, ld->limits.max_columns, "max_columns", &n))
		return false;
	model->columns = arena_alloc(model, n * sizeof(column));
	model->column_index.strings = arena_alloc(model, n * sizeof(char *));
	model->column_index.lengths = arena_alloc(model, n * sizeof(uint32_t));
	if (model->columns == NULL || model->column_index.strings == NULL ||
		model->column_index.lengths == NULL)
		return fail_memory(ld);
	model->column_index.missing_index = -1;
	if (!table_init(ld, &model->column_index, n))
		return false;
	model->ncolumns = n;

	for (size_t i = 0; i < n; i++, entry = entry->next)
	{
		size_t		at = path_push_index(ld, i);
		column	   *col = &model->columns[i];
		const cJSON *field;
		int			type;
		size_t		key;

		if (!check_object(ld, entry, column_fields))
			return false;
		if ((field = member(ld, entry, "name", true)) == NULL)
			return false;
		key = path_push_key(ld, "name");
		if (!expect_string(ld, field, 255, &col->name, &col->name_length))
			return false;
		if (col->name_length == 0)
			return fail(ld, "expected a non-empty string");
		((const char **) model->column_index.strings)[i] = col->name;
		((uint32_t *) model->column_index.lengths)[i] = col->name_length;
		if (!table_insert(&model->column_index, i))
		{
			char		quoted[300];

			predict_quote(quoted, sizeof(quoted), col->name, col->name_length);
			return fail(ld, "duplicate column %s", quoted);
		}
		path_set(ld, key);
		if ((field = member(ld, entry, "type", true)) == NULL)
			return false;
		key = path_push_key(ld, "type");
		if ((type = expect_enum(ld, field, column_types)) < 0)
			return false;
		col->numeric = (type == 0);
		path_set(ld, key);
		if ((field = member(ld, entry, "dtype", false)) != NULL && !cJSON_IsString(field))
		{
			path_push_key(ld, "dtype");
			return fail(ld, "expected a string, got %s", json_type_name(field));
		}
		if (!load_column_categories(ld, entry, col) ||
			!load_column_values(ld, entry, col))
			return false;
		path_set(ld, at);
	}
	path_set(ld, saved);
	return true;
}

long
predict_model_find_column(const predict_model *model, const char *key, size_t len)
{
	return category_find_string(&model->column_index, key, len);
}

/* ---------- estimator ---------- */

static const char *const estimator_types[] = {
	"logistic_regression", "decision_tree", "random_forest", "gradient_boosting",
	"hist_gradient_boosting", "xgboost", "adaboost", "gaussian_nb", "voting", "calibrated",
	NULL
};

const char *
estimator_type_name(estimator_type type)
{
	return estimator_types[type];
}

/* Whether the feature stage's dense path scores this estimator type. */
static bool
stage_estimator(estimator_type type)
{
	return type == ESTIMATOR_LOGISTIC_REGRESSION || type == ESTIMATOR_DECISION_TREE ||
		type == ESTIMATOR_RANDOM_FOREST || type == ESTIMATOR_GRADIENT_BOOSTING ||
		type == ESTIMATOR_HIST_GRADIENT_BOOSTING;
}

/* An estimator object of any type into ld->est (composites recurse here). */
bool
load_estimator_object(loader *ld, const cJSON *object)
{
	const cJSON *item;
	size_t		at;
	int			type;

	if (!cJSON_IsObject(object))
		return fail(ld, "expected an object, got %s", json_type_name(object));
	if ((item = member(ld, object, "type", true)) == NULL)
		return false;
	at = path_push_key(ld, "type");
	if (!cJSON_IsString(item))
		return fail(ld, "expected a string, got %s", json_type_name(item));
	type = -1;
	for (int i = 0; estimator_types[i] != NULL; i++)
		if (strcmp(item->valuestring, estimator_types[i]) == 0)
			type = i;
	if (type < 0)
	{
		char		quoted[64];

		predict_quote(quoted, sizeof(quoted), item->valuestring, strlen(item->valuestring));
		return fail(ld, "unsupported estimator %s", quoted);
	}
	/*
	 * XGBoost's predict_proba is float32, which scikit-learn's combinations
	 * then compute in (numpy keeps a float32 array float32)
	 */
	if (type == ESTIMATOR_XGBOOST && ld->depth > 0)
		return fail(ld, "\"xgboost\" is not supported inside a composite estimator "
					"(its probabilities are float32)");
	path_set(ld, at);
	switch ((estimator_type) type)
	{
		case ESTIMATOR_LOGISTIC_REGRESSION:
			return load_logistic_regression(ld, object);
		case ESTIMATOR_GAUSSIAN_NB:
			return load_gaussian_nb(ld, object);
		case ESTIMATOR_VOTING:
			return load_voting(ld, object);
		case ESTIMATOR_CALIBRATED:
			return load_calibrated(ld, object);
		default:
			return load_tree_estimator(ld, object, (estimator_type) type);
	}
}

static bool
load_estimator(loader *ld, const cJSON *object)
{
	size_t		saved = path_push_key(ld, "estimator");

	ld->est = &ld->model->estimator;
	if (!load_estimator_object(ld, object))
		return false;
	path_set(ld, saved);
	return true;
}

/* ---------- top level ---------- */

static const char *const top_fields[] = {
	"format", "name", "columns", "preprocessing", "estimator",
	"positive_class", "threshold", "provenance", "reference", "transforms", NULL
};

static bool
load_name(loader *ld, const cJSON *item)
{
	size_t		saved = path_push_key(ld, "name");
	uint32_t	len;

	if (!expect_string(ld, item, PREDICT_MODEL_NAME_MAX, &ld->model->name, &len))
		return false;
	if (len == 0)
		return fail(ld, "expected a non-empty string");
	if (!predict_model_name_valid(ld->model->name, len))
		return fail(ld, "may contain only letters, digits, '_', '.' and '-'");
	path_set(ld, saved);
	return true;
}

static bool
load_provenance(loader *ld, const cJSON *object)
{
	static const char *const string_fields[] = {"sklearn_version", "exported_at", NULL};
	static const char *const optional_strings[] = {"exporter", "source", "pipeline", NULL};
	const cJSON *item;
	size_t		saved = path_push_key(ld, "provenance");

	if (!check_object(ld, object, NULL))
		return false;
	for (int i = 0; string_fields[i] != NULL; i++)
	{
		size_t		at;

		if ((item = member(ld, object, string_fields[i], true)) == NULL)
			return false;
		at = path_push_key(ld, string_fields[i]);
		if (!cJSON_IsString(item))
			return fail(ld, "expected a string, got %s", json_type_name(item));
		path_set(ld, at);
	}
	for (int i = 0; optional_strings[i] != NULL; i++)
		if ((item = member(ld, object, optional_strings[i], false)) != NULL &&
			!cJSON_IsString(item))
		{
			path_push_key(ld, optional_strings[i]);
			return fail(ld, "expected a string, got %s", json_type_name(item));
		}
	if ((item = member(ld, object, "training_rows", true)) == NULL)
		return false;
	if (!cJSON_IsNull(item) &&
		(!cJSON_IsNumber(item) || item->valuedouble < 0 ||
		 item->valuedouble > 9007199254740992.0 ||
		 item->valuedouble != floor(item->valuedouble)))
	{
		path_push_key(ld, "training_rows");
		return fail(ld, "expected null or a non-negative integer");
	}
	path_set(ld, saved);
	return true;
}

/*
 * "threshold": a number (the class is proba >= it; absent means 0.5, as
 * documents always had it), or null: scikit-learn's predict() for the
 * estimator, whose ties and decision functions a probability alone cannot
 * tell (see predict_score_class). The class-0 fractions that rule needs for
 * the probability trees come with the trees.
 *
 * tree_without_value0: a probability tree estimator whose class-0 fractions predict() needs but
 * the document left out, or NULL: the estimator's own, and through a soft
 * voting (which averages both columns of predict_proba) its estimators'; a
 * calibrated fold reads only column 1 of its estimator.
 */
static const estimator *
tree_without_value0(const estimator *est)
{
	if (est->type == ESTIMATOR_DECISION_TREE || est->type == ESTIMATOR_RANDOM_FOREST)
		return est->leaves0 == NULL ? est : NULL;
	if (est->type == ESTIMATOR_VOTING)
		for (size_t i = 0; i < est->nsubs; i++)
		{
			const estimator *found = tree_without_value0(&est->subs[i]);

			if (found != NULL)
				return found;
		}
	return NULL;
}

static bool
load_threshold(loader *ld, const cJSON *item)
{
	predict_model *model = ld->model;
	const estimator *trees;

	path_push_key(ld, "threshold");
	if (cJSON_IsNull(item))
	{
		if ((trees = tree_without_value0(&model->estimator)) != NULL)
			return fail(ld, "null (scikit-learn's predict()) needs the trees' \"value0\" "
						"(classes_[0]'s fraction per leaf) for a %s",
						trees->type == ESTIMATOR_DECISION_TREE ? "decision_tree" : "random_forest");
		model->sklearn_rule = true;
		model->threshold = NAN;
		path_set(ld, 0);
		return true;
	}
	if (!cJSON_IsNumber(item) || !(item->valuedouble >= 0 && item->valuedouble <= 1))
		return fail(ld, "expected a number between 0 and 1, or null");
	model->threshold = item->valuedouble;
	path_set(ld, 0);
	return true;
}

static bool
load_document(loader *ld, const cJSON *root)
{
	predict_model *model = ld->model;
	const cJSON *item;

	if (!check_object(ld, root, top_fields))
		return false;
	if ((item = member(ld, root, "format", true)) == NULL)
		return false;
	if (!cJSON_IsString(item) || strcmp(item->valuestring, PREDICT_FORMAT) != 0)
	{
		path_push_key(ld, "format");
		if (cJSON_IsString(item))
		{
			char		quoted[64];

			predict_quote(quoted, sizeof(quoted), item->valuestring, strlen(item->valuestring));
			return fail(ld, "unsupported format %s (this version reads \"%s\")",
						quoted, PREDICT_FORMAT);
		}
		return fail(ld, "expected the string \"%s\", got %s", PREDICT_FORMAT,
					json_type_name(item));
	}
	if ((item = member(ld, root, "name", true)) == NULL || !load_name(ld, item))
		return false;
	if ((item = member(ld, root, "columns", true)) == NULL || !load_columns(ld, item))
		return false;
	if ((item = member(ld, root, "preprocessing", true)) == NULL ||
		!load_preprocessing(ld, item))
		return false;
	if (member(ld, root, "transforms", false) != NULL &&
		!load_features(ld, member(ld, root, "transforms", false), item))
		return false;
	if ((item = member(ld, root, "estimator", true)) == NULL || !load_estimator(ld, item))
		return false;
	if (model->stage != NULL && !stage_estimator(model->estimator.type))
	{
		path_push_key(ld, "estimator");
		path_push_key(ld, "type");
		return fail(ld, "a %s estimator cannot follow \"transforms\" (only logistic_regression, "
					"decision_tree, random_forest, gradient_boosting and hist_gradient_boosting)",
					estimator_types[model->estimator.type]);
	}
	if (model->stage != NULL && model->estimator.init_estimator != NULL)
	{
		/* the stage's dense path scores no estimator inside another */
		path_push_key(ld, "estimator");
		path_push_key(ld, "init");
		return fail(ld, "a gradient_boosting init estimator cannot follow \"transforms\" "
					"(only a constant init)");
	}
	if ((item = member(ld, root, "positive_class", true)) == NULL)
		return false;
	if (!cJSON_IsNumber(item) && !cJSON_IsString(item) && !cJSON_IsBool(item))
	{
		path_push_key(ld, "positive_class");
		return fail(ld, "expected a number, string or boolean, got %s", json_type_name(item));
	}
	if (cJSON_IsNumber(item) && !isfinite(item->valuedouble))
	{
		path_push_key(ld, "positive_class");
		return fail(ld, "expected a finite number");
	}
	model->threshold = 0.5;
	if ((item = member(ld, root, "threshold", false)) != NULL && !load_threshold(ld, item))
		return false;
	if ((item = member(ld, root, "provenance", true)) == NULL || !load_provenance(ld, item))
		return false;
	if ((item = member(ld, root, "reference", false)) != NULL && !load_reference(ld, item))
		return false;
	return map_feature_columns(ld);
}

predict_limits
predict_default_limits(void)
{
	predict_limits limits = {
		.max_model_bytes = PREDICT_DEFAULT_MAX_MODEL_BYTES,
		.max_columns = 10000,
		.max_blocks = 100000,
		.max_features = 1000000,
		.max_categories = 1000000,
		.max_string_bytes = 4096,
	};

	return limits;
}

predict_model *
predict_model_load(const char *json, size_t len, const predict_limits *limits,
				   const predict_allocator *allocator, predict_error *err)
{
	loader		ld = {0};
	predict_allocator alloc = {default_alloc, default_release, NULL};
	predict_model *model;
	cJSON	   *root;
	const char *end = NULL;
	const char *reason;
	size_t		offset = 0;
	bool		ok;

	if (allocator != NULL && allocator->alloc != NULL && allocator->release != NULL)
		alloc = *allocator;
	ld.limits = limits ? *limits : predict_default_limits();
	ld.err = err;
	if (json == NULL || len == 0)
	{
		predict_set_error(err, PREDICT_BAD_MODEL, "(document): empty");
		return NULL;
	}
	if (len > ld.limits.max_model_bytes)
	{
		predict_set_error(err, PREDICT_TOO_LARGE,
						  "(document): %zu bytes exceeds the limit max_model_bytes = %zu",
						  len, ld.limits.max_model_bytes);
		return NULL;
	}
	if ((reason = json_text_check(json, len, &offset)) != NULL)
	{
		predict_set_error(err, PREDICT_BAD_MODEL, "(document): %s at byte %zu", reason, offset);
		return NULL;
	}
	root = cJSON_ParseWithLengthOpts(json, len, &end, false);
	if (root == NULL)
	{
		offset = end != NULL && end >= json ? (size_t) (end - json) : 0;
		predict_set_error(err, PREDICT_BAD_MODEL,
						  "(document): not valid JSON (or nested deeper than %d levels) near byte %zu",
						  CJSON_NESTING_LIMIT, offset);
		return NULL;
	}
	while (end != NULL && end < json + len && isspace((unsigned char) *end))
		end++;
	if (end == NULL || end != json + len)
	{
		cJSON_Delete(root);
		predict_set_error(err, PREDICT_BAD_MODEL,
						  "(document): unexpected text after the JSON value at byte %zu",
						  end ? (size_t) (end - json) : 0);
		return NULL;
	}

	model = alloc.alloc(sizeof(predict_model), alloc.context);
	if (model == NULL)
	{
		cJSON_Delete(root);
		predict_set_error(err, PREDICT_NO_MEMORY, "out of memory while loading the model");
		return NULL;
	}
	memset(model, 0, sizeof(*model));
	model->allocator = alloc;
	ld.model = model;
	ok = load_document(&ld, root);
	cJSON_Delete(root);
	if (!ok)
	{
		predict_model_free(model);
		return NULL;
	}
	return model;
}

/* ---------- accessors ---------- */

const char *
predict_model_name(const predict_model *model)
{
	return model->name;
}

double
predict_model_threshold(const predict_model *model)
{
	return model->threshold;
}

size_t
predict_model_ncolumns(const predict_model *model)
{
	return model->ncolumns;
}

const char *
predict_model_column_name(const predict_model *model, size_t column)
{
	return column < model->ncolumns ? model->columns[column].name : NULL;
}

size_t
predict_model_nfeatures(const predict_model *model)
{
	return model->nfeatures;
}

bool
predict_model_classify(const predict_model *model, double proba)
{
	return proba >= model->threshold;
}

bool
predict_model_has_threshold(const predict_model *model)
{
	return !model->sklearn_rule;
}
