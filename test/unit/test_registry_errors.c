/*
 * test_registry_errors.c - the registry's error table and its templates
 * (src/core/registry_errors.c).
 */
#include <stdio.h>
#include <string.h>

#include "registry_errors.h"
#include "unit.h"

static void
expect_render(const char *name, const char *template, const predict_registry_args *args, size_t size,
			  const char *want)
{
	char		buf[256];
	const char *got = predict_registry_render(template, args, buf, size);

	unit_report(name, got == buf && strcmp(got, want) == 0, "got \"%s\", want \"%s\"", got, want);
}

static void
render_tests(void)
{
	predict_registry_args args = {.name = "titanic", .version = 2, .relation = "predictions"};
	const char *detail = predict_registry_errors[PREDICT_ERR_ROW_NOT_SCORED].detail;

	expect_render("render: placeholders", predict_registry_errors[PREDICT_ERR_UNKNOWN_VERSION].message, &args,
				  256, "model \"titanic\" has no version 2");
	expect_render("render: a NULL value is null", detail, &(predict_registry_args) {.proba = "0.5", .class = "true"},
				  256, "The row has proba null and predicted_class null; the version computes 0.5 and true "
				  "for its observation.");
	expect_render("render: unknown and unclosed braces are text", "{x} {name", &args, 256, "{x} {name");
	expect_render("render: cut to the buffer", "model \"{name}\"", &args, 10, "model \"ti");
	expect_render("render: a one-byte buffer is empty", "{name}", &args, 1, "");
	expect_render("render: the audit message, as SQLite's triggers spell it",
				  predict_registry_errors[PREDICT_ERR_SCORED_COLUMN_CHANGED].message,
				  &(predict_registry_args) {.name = "proba", .relation = "predictions"}, 256,
				  PREDICT_MSG_SCORED_COLUMN_CHANGED("proba", "predictions"));
}

static void
table_tests(void)
{
	bool		complete = true;

	for (int i = 0; i < PREDICT_REGISTRY_ERRORS; i++)
	{
		const predict_registry_error *e = &predict_registry_errors[i];

		if (e->kind == NULL || e->message == NULL || e->sqlstate == NULL || strlen(e->sqlstate) != 5)
			complete = false;
		for (int j = 0; j < i && e->kind != NULL; j++)
			if (strcmp(predict_registry_errors[j].kind, e->kind) == 0)
				complete = false;
	}
	unit_report("registry errors: every kind named once, with a SQLSTATE and a message", complete, "no");
	unit_report("registry errors: a missing model's hint is the host's way to deploy",
				predict_registry_errors[PREDICT_ERR_UNKNOWN_MODEL].deploy_hint &&
				predict_registry_errors[PREDICT_ERR_NO_DEFAULT_MODEL].deploy_hint, "no");
}

void
registry_error_tests(void)
{
	render_tests();
	table_tests();
}
