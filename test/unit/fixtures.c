/*
 * fixtures.c - the model document shared by the unit tests and the fuzzers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

/* The base document: every step type, both column types, 8 features. */
const char base_model[] =
"{\"format\": \"predict-model/1\", \"name\": \"unit\",\n"
" \"columns\": [{\"name\": \"Sex\", \"type\": \"string\", \"dtype\": \"object\"},\n"
"             {\"name\": \"Age\", \"type\": \"number\", \"dtype\": \"float64\"},\n"
"             {\"name\": \"Embarked\", \"type\": \"string\"},\n"
"             {\"name\": \"Pclass\", \"type\": \"number\"},\n"
"             {\"name\": \"Unused\", \"type\": \"number\"}],\n"
" \"preprocessing\": [\n"
"   {\"column\": \"Sex\", \"steps\": [{\"type\": \"impute\", \"value\": \"missing\"},\n"
"      {\"type\": \"one_hot\", \"categories\": [\"female\", \"male\", \"missing\"], \"drop\": null, \"handle_unknown\": \"ignore\"}],\n"
"    \"features\": [\"Sex_female\", \"Sex_male\", \"Sex_missing\"]},\n"
"   {\"column\": \"Age\", \"steps\": [{\"type\": \"impute\", \"value\": 30.0},\n"
"      {\"type\": \"standardize\", \"center\": 30.0, \"scale\": 10.0}], \"features\": [\"Age\"]},\n"
"   {\"column\": \"Age\", \"steps\": [{\"type\": \"indicator\"}], \"features\": [\"Age_missing\"]},\n"
"   {\"column\": \"Embarked\", \"steps\": [{\"type\": \"ordinal\", \"categories\": [\"C\", \"Q\", \"S\", null],\n"
"      \"handle_unknown\": \"use_encoded_value\", \"unknown_value\": -1, \"encoded_missing_value\": -2}],\n"
"    \"features\": [\"Embarked\"]},\n"
"   {\"column\": \"Pclass\", \"steps\": [{\"type\": \"one_hot\", \"categories\": [1, 2, 3], \"drop\": 0, \"handle_unknown\": \"error\"},\n"
"      {\"type\": \"min_max\", \"scale\": [0.5, 2], \"min\": [0.25, -1], \"clip\": null}],\n"
"    \"features\": [\"Pclass_2\", \"Pclass_3\"]}\n"
" ],\n"
" \"estimator\": {\"type\": \"logistic_regression\", \"coef\": [1.5, -1.25, 0.5, -0.75, 2.0, 0.3, -0.4, 0.6],\n"
"   \"intercept\": 0.125, \"link\": \"logistic\"},\n"
" \"positive_class\": 1, \"threshold\": 0.5,\n"
" \"provenance\": {\"sklearn_version\": \"1.2.1\", \"exported_at\": \"2026-11-26T00:00:00Z\",\n"
"   \"training_rows\": 891, \"git\": \"abc\"}}\n";

/*
 * Tree estimators over the base document's 8 features (0-2 Sex one-hot,
 * 3 Age standardized, 4 Age missing indicator, 5 Embarked ordinal, 6-7
 * Pclass one-hot after min_max), spliced in by unit_with_estimator.
 *
 * The forest: tree 0 splits Sex_male <= 0.5, then Age <= -0.5 (age <= 25)
 * or Pclass_3 <= 0; tree 1 splits Embarked <= 1.5; tree 2 is one leaf.
 */
const char forest_estimator[] =
"{\"type\": \"random_forest\", \"trees\": [\n"
"   {\"feature\": [1, 3, 7], \"threshold\": [0.5, -0.5, 0], \"left\": [1, -1, -3], \"right\": [2, -2, -4],\n"
"    \"value\": [0.9, 0.7, 0.4, 0.1]},\n"
"   {\"feature\": [5], \"threshold\": [1.5], \"left\": [-1], \"right\": [-2], \"value\": [0.625, 0.3]},\n"
"   {\"feature\": [], \"threshold\": [], \"left\": [], \"right\": [], \"value\": [0.5]}]}";

/* Gradient boosting: the same first two trees with regression values. */
const char boosting_estimator[] =
"{\"type\": \"gradient_boosting\", \"init\": -0.25, \"learning_rate\": 0.1, \"missing\": \"error\", \"trees\": [\n"
"   {\"feature\": [1, 3, 7], \"threshold\": [0.5, -0.5, 0], \"left\": [1, -1, -3], \"right\": [2, -2, -4],\n"
"    \"value\": [2.5, 1.25, -0.75, -2.0]},\n"
"   {\"feature\": [5], \"threshold\": [1.5], \"left\": [-1], \"right\": [-2], \"value\": [0.5, -0.5]}]}";

/* XGBoost: the same trees with default directions, on a sparse matrix. */
const char xgboost_estimator[] =
"{\"type\": \"xgboost\", \"base_score\": 0.25, \"zero_is_missing\": true, \"trees\": [\n"
"   {\"feature\": [1, 3, 7], \"threshold\": [0.5, -0.5, 0], \"missing_left\": [1, 0, 1],\n"
"    \"left\": [1, -1, -3], \"right\": [2, -2, -4], \"value\": [2.5, 1.25, -0.75, -2.0]},\n"
"   {\"feature\": [5], \"threshold\": [1.5], \"missing_left\": [0], \"left\": [-1], \"right\": [-2],\n"
"    \"value\": [0.5, -0.5]}]}";

/* AdaBoost: the forest's first two trees with both classes' contributions. */
const char adaboost_estimator[] =
"{\"type\": \"adaboost\", \"weight_sum\": 2, \"trees\": [\n"
"   {\"feature\": [1, 3, 7], \"threshold\": [0.5, -0.5, 0], \"left\": [1, -1, -3], \"right\": [2, -2, -4],\n"
"    \"value\": [0.5, 0.25, -0.75, -1.5], \"value_negative\": [-0.5, -0.25, 0.75, 1.5]},\n"
"   {\"feature\": [5], \"threshold\": [1.5], \"left\": [-1], \"right\": [-2],\n"
"    \"value\": [0.125, -0.125], \"value_negative\": [-0.125, 0.125]}]}";

/*
 * HistGradientBoosting: Embarked's ordinal code (feature 5) as a
 * categorical feature with known codes 0-2 (C, Q, S), then Age.
 */
const char hist_estimator[] =
"{\"type\": \"hist_gradient_boosting\", \"baseline\": 0.125,\n"
" \"categorical\": [{\"feature\": 5, \"known\": [0, 1, 2]}], \"trees\": [\n"
"   {\"feature\": [5, 3], \"threshold\": [[1], \"inf\"], \"missing_left\": [1, 0], \"left\": [-1, -2], \"right\": [1, -3],\n"
"    \"value\": [0.5, -0.25, 2.0]},\n"
"   {\"feature\": [3], \"threshold\": [-0.5], \"missing_left\": [1], \"left\": [-1], \"right\": [-2], \"value\": [0.0625, -0.125]}]}";

/*
 * For explanations: a reference with a mean per feature (spliced in before
 * "positive_class"), and the trees above with covers.
 */
const char reference_with_means[] =
	"\"reference\": {\"rows\": 10, \"proba\": {\"edges\": [0.5], \"fractions\": [0.5, 0.5]},"
	" \"columns\": [], \"feature_means\": [0.25, 0.5, 0.25, 0, 0.5, 1, 0.5, 0.5]}, \"positive_class\": 1,";

/* The fixture forest with covers: splits, then leaves, per tree. */
const char forest_with_cover[] =
	"{\"type\": \"random_forest\", \"trees\": [\n"
	"   {\"feature\": [1, 3, 7], \"threshold\": [0.5, -0.5, 0], \"left\": [1, -1, -3], \"right\": [2, -2, -4],\n"
	"    \"value\": [0.9, 0.7, 0.4, 0.1], \"cover\": [100, 40, 60, 15, 25, 20, 40]},\n"
	"   {\"feature\": [5], \"threshold\": [1.5], \"left\": [-1], \"right\": [-2], \"value\": [0.625, 0.3],"
	"    \"cover\": [100, 60, 40]},\n"
	"   {\"feature\": [], \"threshold\": [], \"left\": [], \"right\": [], \"value\": [0.5], \"cover\": [100]}]}";

const char boosting_with_cover[] =
	"{\"type\": \"gradient_boosting\", \"init\": -0.25, \"learning_rate\": 0.1, \"missing\": \"error\", \"trees\": [\n"
	"   {\"feature\": [1, 3, 7], \"threshold\": [0.5, -0.5, 0], \"left\": [1, -1, -3], \"right\": [2, -2, -4],\n"
	"    \"value\": [2.5, 1.25, -0.75, -2.0], \"cover\": [100, 40, 60, 15, 25, 20, 40]},\n"
	"   {\"feature\": [5], \"threshold\": [1.5], \"left\": [-1], \"right\": [-2], \"value\": [0.5, -0.5],"
	"    \"cover\": [100, 60, 40]}]}";

const char hist_with_cover[] =
	"{\"type\": \"hist_gradient_boosting\", \"baseline\": 0.125,\n"
	" \"categorical\": [{\"feature\": 5, \"known\": [0, 1, 2]}], \"trees\": [\n"
	"   {\"feature\": [5, 3], \"threshold\": [[1], \"inf\"], \"missing_left\": [1, 0], \"left\": [-1, -2], \"right\": [1, -3],\n"
	"    \"value\": [0.5, -0.25, 2.0], \"cover\": [90, 60, 30, 50, 10]},\n"
	"   {\"feature\": [3], \"threshold\": [-0.5], \"missing_left\": [1], \"left\": [-1], \"right\": [-2], \"value\": [0.0625, -0.125],"
	"    \"cover\": [90, 45, 45]}]}";

char *
unit_replace(const char *text, const char *from, const char *to)
{
	const char *at = strstr(text, from);
	size_t		head;
	char	   *out;

	if (at == NULL)
	{
		fprintf(stderr, "unit_replace: \"%s\" not found in the base document\n", from);
		exit(2);
	}
	head = (size_t) (at - text);
	out = malloc(strlen(text) - strlen(from) + strlen(to) + 1);
	if (out == NULL)
		abort();
	memcpy(out, text, head);
	strcpy(out + head, to);
	strcat(out, at + strlen(from));
	return out;
}

char *
unit_with_estimator(const char *estimator)
{
	const char *start = strstr(base_model, "{\"type\": \"logistic_regression\"");
	const char *end = strstr(base_model, "\"link\": \"logistic\"}");
	size_t		head;
	char	   *out;

	if (start == NULL || end == NULL)
		abort();
	end += strlen("\"link\": \"logistic\"}");
	head = (size_t) (start - base_model);
	out = malloc(strlen(base_model) + strlen(estimator) + 1);
	if (out == NULL)
		abort();
	memcpy(out, base_model, head);
	strcpy(out + head, estimator);
	strcat(out, end);
	return out;
}
