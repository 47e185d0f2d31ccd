/*
 * predict_score.c - bin/predict-score, the command-line host of the core.
 *
 *   predict-score --model MODEL.json [--explain] [--max-model-bytes N] [FILE|-]
 *
 * Reads JSON lines (one observation object each) and writes one JSON line
 * per input line: {"proba": P, "predicted_class": B} with P printed with 17
 * significant digits (enough to round-trip a double), with --explain the
 * prediction's "explanation" too, or {"error": "..."} for that line, then
 * goes on. Exit status: 0 when every line scored, 1
 * when some failed, 2 for usage or model errors.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "predict.h"

#define READ_CHUNK ((size_t) 1 << 20)
#define LINE_BUFFER (PREDICT_MAX_OBSERVATION_BYTES + 2 * READ_CHUNK)

static const char usage_text[] =
"usage: predict-score --model MODEL.json [--explain] [--max-model-bytes N] [FILE|-]\n"
"\n"
"Score JSON lines (one observation object per line) with a predict-model/1\n"
"model. Writes one JSON line per input line:\n"
"  {\"proba\": P, \"predicted_class\": B}   or   {\"error\": \"...\"}\n"
"\n"
"  -m, --model FILE          the model document (required)\n"
"  -e, --explain             add each prediction's explanation: \"explanation\":\n"
"                            {\"space\": S, \"base\": B, \"contributions\": {column: C}},\n"
"                            B plus the contributions being the model's log-odds\n"
"                            (or probability, for decision trees and forests)\n"
"      --sql                 print the model compiled to PL/pgSQL (what the gateway\n"
"                            installs on PostgreSQL without the extension) and exit;\n"
"                            @function@ stands for the function's name (its helpers\n"
"                            are managed mode's, in schema predict_internal)\n"
"      --max-model-bytes N   refuse larger model documents (default 67108864)\n"
"  -h, --help                this help\n"
"  -V, --version             the version\n"
"\n"
"Exit status: 0 every line scored, 1 some lines failed, 2 usage or model error.\n";

/* Read a whole file of at most max bytes into a malloc'ed buffer. */
static char *
read_file(const char *path, size_t max, size_t *len, char *why, size_t why_size)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf = NULL;
	size_t		cap = 0;
	size_t		n = 0;

	if (f == NULL)
	{
		snprintf(why, why_size, "%s", strerror(errno));
		return NULL;
	}
	for (;;)
	{
		size_t		got;

		if (n == cap)
		{
			char	   *bigger;

			if (cap > max)
			{
				snprintf(why, why_size, "larger than the limit max_model_bytes = %zu", max);
				free(buf);
				fclose(f);
				return NULL;
			}
			cap = cap ? cap * 2 : 65536;
			if ((bigger = realloc(buf, cap)) == NULL)
			{
				snprintf(why, why_size, "out of memory");
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = bigger;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f))
	{
		snprintf(why, why_size, "%s", strerror(errno));
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	*len = n;
	return buf;
}

/* Write s as a JSON string body (without quotes). */
static void
write_json_string(FILE *out, const char *s)
{
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if (c == '"' || c == '\\')
		{
			putc_unlocked('\\', out);
			putc_unlocked(c, out);
		}
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			putc_unlocked(c, out);
	}
}

static void
write_error(FILE *out, const char *message)
{
	fputs("{\"error\": \"", out);
	write_json_string(out, message);
	fputs("\"}\n", out);
}

typedef struct scorer
{
	const predict_model *model;
	predict_value *values;
	unsigned long failed;
	FILE	   *out;
	void	   *scratch;		/* --explain: predict_explain's */
	double	   *contributions;	/* --explain: one per column */
} scorer;

static void
append_to_file(void *sink, const char *s, size_t n)
{
	fwrite_unlocked(s, 1, n, (FILE *) sink);
}

static void
score_line(scorer *sc, const char *line, size_t len)
{
	predict_error err;
	predict_status status;
	double		proba;
	double		base;
	bool		predicted;
	static const char true_tail[] = ", \"predicted_class\": true}\n";
	static const char false_tail[] = ", \"predicted_class\": false}\n";
	char		out[48] = "{\"proba\": ";
	size_t		n = strlen(out);

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (sc->scratch != NULL)
		status = predict_explain_json(sc->model, line, len, sc->values, sc->scratch, &proba,
									  &predicted, &base, sc->contributions, &err);
	else
		status = predict_score_json_class(sc->model, line, len, sc->values, &proba, &predicted,
										  &err);
	if (status != PREDICT_OK)
	{
		write_error(sc->out, err.message);
		sc->failed++;
		return;
	}
	predict_format_g17(out + n, proba);
	n += strlen(out + n);
	fwrite_unlocked(out, 1, n, sc->out);
	if (sc->scratch != NULL)
	{
		fputs(predicted ? ", \"predicted_class\": true, \"explanation\": " :
			  ", \"predicted_class\": false, \"explanation\": ", sc->out);
		predict_explanation_json(sc->model, base, sc->contributions, append_to_file, sc->out);
		fputs("}\n", sc->out);
	}
	else if (predicted)
		fwrite_unlocked(true_tail, 1, sizeof(true_tail) - 1, sc->out);
	else
		fwrite_unlocked(false_tail, 1, sizeof(false_tail) - 1, sc->out);
}

/*
 * Score every line of in. Lines longer than the observation limit are
 * reported as errors without being held in memory.
 */
static int
score_stream(scorer *sc, FILE *in)
{
	char	   *buf = malloc(LINE_BUFFER);
	size_t		start = 0;
	size_t		end = 0;
	bool		skipping = false;	/* inside an over-long line */

	if (buf == NULL)
	{
		fprintf(stderr, "predict-score: out of memory\n");
		return 2;
	}
	for (;;)
	{
		size_t		got;
		char	   *nl;

		while ((nl = memchr(buf + start, '\n', end - start)) != NULL)
		{
			size_t		len = (size_t) (nl - (buf + start));

			if (skipping)
				skipping = false;
			else
				score_line(sc, buf + start, len);
			start += len + 1;
		}
		/* keep the partial line at the front */
		memmove(buf, buf + start, end - start);
		end -= start;
		start = 0;
		if (end > PREDICT_MAX_OBSERVATION_BYTES + 1)
		{
			if (!skipping)
			{
				char		message[128];

				snprintf(message, sizeof(message),
						 "observation: line longer than the limit of %zu bytes",
						 PREDICT_MAX_OBSERVATION_BYTES);
				write_error(sc->out, message);
				sc->failed++;
			}
			skipping = true;
			end = 0;
		}
		got = fread(buf + end, 1, READ_CHUNK, in);
		if (got == 0)
			break;
		end += got;
	}
	if (end > 0 && !skipping)
		score_line(sc, buf, end);
	free(buf);
	if (ferror(in))
	{
		fprintf(stderr, "predict-score: read error: %s\n", strerror(errno));
		return 2;
	}
	return sc->failed ? 1 : 0;
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{"model", required_argument, NULL, 'm'},
		{"max-model-bytes", required_argument, NULL, 'M'},
		{"sql", no_argument, NULL, 'S'},
		{"explain", no_argument, NULL, 'e'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0}
	};
	predict_limits limits = predict_default_limits();
	const char *model_path = NULL;
	const char *input_path = "-";
	predict_model *model;
	predict_error err;
	scorer		sc = {0};
	FILE	   *in = stdin;
	char	   *text;
	char		why[200];
	size_t		len;
	int			opt;
	int			status;
	bool		print_sql = false;
	bool		explain = false;

	while ((opt = getopt_long(argc, argv, "m:ehV", options, NULL)) != -1)
	{
		char	   *end;

		switch (opt)
		{
			case 'm':
				model_path = optarg;
				break;
			case 'M':
				errno = 0;
				limits.max_model_bytes = strtoull(optarg, &end, 10);
				if (errno != 0 || *end != '\0' || limits.max_model_bytes == 0)
				{
					fprintf(stderr, "predict-score: --max-model-bytes: expected a positive integer\n");
					return 2;
				}
				break;
			case 'S':
				print_sql = true;
				break;
			case 'e':
				explain = true;
				break;
			case 'h':
				fputs(usage_text, stdout);
				return 0;
			case 'V':
				printf("predict-score %s (%s)\n", PREDICT_VERSION, PREDICT_FORMAT);
				return 0;
			default:
				fputs(usage_text, stderr);
				return 2;
		}
	}
	if (model_path == NULL || argc - optind > 1)
	{
		fputs(usage_text, stderr);
		return 2;
	}
	if (optind < argc)
		input_path = argv[optind];

	if ((text = read_file(model_path, limits.max_model_bytes, &len, why, sizeof(why))) == NULL)
	{
		fprintf(stderr, "predict-score: %s: %s\n", model_path, why);
		return 2;
	}
	model = predict_model_load(text, len, &limits, NULL, &err);
	free(text);
	if (model == NULL)
	{
		fprintf(stderr, "predict-score: %s: %s\n", model_path, err.message);
		return 2;
	}
	if (print_sql)
	{
		char	   *sql = predict_model_to_sql(model, "@function@", "predict_internal", &err);

		if (sql == NULL)
			fprintf(stderr, "predict-score: %s: %s\n", model_path, err.message);
		else
			fputs(sql, stdout);
		free(sql);
		predict_model_free(model);
		return sql == NULL ? 2 : 0;
	}
	if (strcmp(input_path, "-") != 0 && (in = fopen(input_path, "rb")) == NULL)
	{
		fprintf(stderr, "predict-score: %s: %s\n", input_path, strerror(errno));
		predict_model_free(model);
		return 2;
	}

	sc.model = model;
	sc.out = stdout;
	sc.values = calloc(predict_model_ncolumns(model), sizeof(predict_value));
	if (explain && !predict_model_explainable(model, &err))
	{
		fprintf(stderr, "predict-score: %s: %s\n", model_path, err.message);
		return 2;
	}
	if (explain)
	{
		sc.scratch = malloc(predict_explain_scratch_size(model));
		sc.contributions = calloc(predict_model_ncolumns(model) + 1, sizeof(double));
	}
	if (sc.values == NULL || (explain && (sc.scratch == NULL || sc.contributions == NULL)))
	{
		fprintf(stderr, "predict-score: out of memory\n");
		return 2;
	}
	if (isatty(fileno(stdout)))
		setvbuf(stdout, NULL, _IOLBF, 0);
	else
		setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	status = score_stream(&sc, in);
	if (fflush(stdout) != 0)
	{
		fprintf(stderr, "predict-score: write error: %s\n", strerror(errno));
		status = 2;
	}
	if (in != stdin)
		fclose(in);
	free(sc.values);
	free(sc.scratch);
	free(sc.contributions);
	predict_model_free(model);
	return status;
}
