/*
 * unit_main.c - the harness behind build/test-unit.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

static int	passed;
static int	failed;

void
unit_report(const char *name, bool ok, const char *format,...)
{
	va_list		args;

	if (ok)
	{
		passed++;
		printf("ok %d - %s\n", passed + failed, name);
		return;
	}
	failed++;
	printf("not ok %d - %s: ", passed + failed, name);
	va_start(args, format);
	vprintf(format, args);
	va_end(args);
	putchar('\n');
}

void
expect_load_error(const char *name, const char *text, const predict_limits *limits,
				  const char *want)
{
	predict_error err = {0};
	predict_model *model = predict_model_load(text, strlen(text), limits, NULL, &err);

	if (model != NULL)
	{
		unit_report(name, false, "loaded, expected an error containing '%s'", want);
		predict_model_free(model);
		return;
	}
	unit_report(name, strstr(err.message, want) != NULL && err.status != PREDICT_OK,
				"got '%s', expected it to contain '%s'", err.message, want);
}

predict_model *
expect_load(const char *name, const char *text)
{
	predict_error err = {0};
	predict_model *model = predict_model_load(text, strlen(text), NULL, NULL, &err);

	unit_report(name, model != NULL, "refused: %s", err.message);
	return model;
}

int
main(void)
{
	observation_tests();
	format_g17_tests();
	format_number_tests();
	loader_tests();
	score_tests();
	tree_loader_tests();
	tree_score_tests();
	registry_error_tests();
	xgboost_tests();
	explain_xgboost_tests();
	adaboost_tests();
	predicted_class_tests();
	skew_tests();
	stage_tests();
	ensemble_tests();
	explain_tests();
	printf("RESULT %d %d\n", passed, failed);
	return failed ? 1 : 0;
}
