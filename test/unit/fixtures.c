/*
 * fixtures.c - the model document shared by the unit tests and the fuzzers.
 */
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
