/*
 * explain-rate.c - rows per second of the core, scoring against explaining,
 * on the same JSON lines, with nothing printed: what an explanation costs
 * apart from writing it (bench/explain.py runs it beside bin/predict-score,
 * whose --explain also writes ten numbers per line).
 *
 *   build/bench/explain-rate MODEL.json ROWS.jsonl [PASSES]
 *
 * Each pass reads every line with predict_score_json_class, then every line
 * with predict_explain_json; prints one line per pass:
 * "score R explain R" (rows per second, wall clock, one thread).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "predict.h"

static double
seconds(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double) t.tv_sec + (double) t.tv_nsec * 1e-9;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf;
	long		n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
	{
		perror(path);
		exit(2);
	}
	buf = malloc((size_t) n + 1);
	if (buf == NULL || fread(buf, 1, (size_t) n, f) != (size_t) n)
	{
		perror(path);
		exit(2);
	}
	buf[n] = '\0';
	fclose(f);
	*len = (size_t) n;
	return buf;
}

/* Seconds to run every line through the core once; failed lines count too. */
static double
run(const predict_model *model, const char *rows, bool explain, predict_value *values,
	void *scratch, double *contributions, long *lines)
{
	double		start = seconds();
	volatile double sink = 0;

	*lines = 0;
	for (const char *p = rows; *p != '\0';)
	{
		const char *nl = strchr(p, '\n');
		size_t		len = nl != NULL ? (size_t) (nl - p) : strlen(p);
		predict_error err;
		double		proba = 0;
		double		base = 0;
		bool		predicted;

		if (explain)
			predict_explain_json(model, p, len, values, scratch, &proba, &predicted, &base,
								 contributions, &err);
		else
			predict_score_json_class(model, p, len, values, &proba, &predicted, &err);
		sink = sink + proba + base;
		(*lines)++;
		p = nl != NULL ? nl + 1 : p + len;
	}
	return seconds() - start;
}

int
main(int argc, char **argv)
{
	predict_model *model;
	predict_error err;
	predict_value *values;
	double	   *contributions;
	void	   *scratch;
	char	   *text;
	char	   *rows;
	size_t		len;
	long		lines;
	int			passes = argc > 3 ? atoi(argv[3]) : 3;

	if (argc < 3)
	{
		fprintf(stderr, "usage: explain-rate MODEL.json ROWS.jsonl [PASSES]\n");
		return 2;
	}
	text = slurp(argv[1], &len);
	if ((model = predict_model_load(text, len, NULL, NULL, &err)) == NULL ||
		!predict_model_explainable(model, &err))
	{
		fprintf(stderr, "explain-rate: %s: %s\n", argv[1], err.message);
		return 2;
	}
	rows = slurp(argv[2], &len);
	values = calloc(predict_model_ncolumns(model), sizeof(predict_value));
	contributions = calloc(predict_model_ncolumns(model), sizeof(double));
	scratch = malloc(predict_explain_scratch_size(model));
	if (values == NULL || contributions == NULL || scratch == NULL)
		return 2;
	for (int pass = 0; pass < passes; pass++)
	{
		double		score = run(model, rows, false, values, scratch, contributions, &lines);
		double		explain = run(model, rows, true, values, scratch, contributions, &lines);

		printf("score %.0f explain %.0f\n", (double) lines / score, (double) lines / explain);
	}
	free(text);
	free(rows);
	free(values);
	free(contributions);
	free(scratch);
	predict_model_free(model);
	return 0;
}
