/*
 * test_explain_xgboost.c - explain_xgboost against XGBoost's own
 * pred_contribs, bit for bit: three trees of an XGBClassifier (XGBoost
 * 1.7.4, depth 4, base_score 0.5) whose paths split on the same feature
 * again (TreeSHAP's unwinding), on rows with missing values (both default
 * directions), values equal to split conditions and just below them, and
 * signed zeros. The expected float32 bits are XGBoost's:
 *
 *   X = titanic[["Pclass", "Age", "SibSp", "Parch", "Fare"]].values
 *   est = XGBClassifier(n_estimators=3, max_depth=4, learning_rate=0.5,
 *                       base_score=0.5, random_state=0, n_jobs=1).fit(X, y)
 *   est.get_booster().predict(xgb.DMatrix(rows), pred_contribs=True)
 *
 * the trees as tools/predict_export.py writes them, each with its "cover":
 * the tree's sum_hessian in the same preorder (splits, then leaves).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explain.h"
#include "unit.h"

#define NCOLUMNS 5

static const char explained_estimator[] =
	"{\"type\": \"xgboost\", \"base_score\": 0.5, \"zero_is_missing\": false, \"trees\": "
	"[{\"feature\": [0, 4, 4, 1, 1, 1, 4, 1, 2, 4, 1, 2, 4], \"threshold\": [2.5, "
	"13.64585018157959, 7.75, 17.5, 42.5, 17.5, 50.739601135253906, 6.5, 2.5, "
	"31.331249237060547, 32.5, 2.5, 15.700000762939453], \"left\": [1, 2, -1, -2, 5, -4, "
	"-6, 8, -8, -9, 11, -11, -13], \"right\": [7, 4, 3, -3, 6, -5, -7, 10, 9, -10, 12, -12,"
	" -14], \"missing_left\": [1, 1, 1, 1, 0, 0, 1, 0, 1, 1, 1, 1, 1], \"value\": [-0.75, "
	"0.3333333432674408, -0.3086419701576233, 0.7777777910232544, 0.34567901492118835, "
	"-0.28358209133148193, 0.2631579041481018, 0.699999988079071, -0.692307710647583, "
	"-0.1111111119389534, -0.466292142868042, -0.8064516186714172, -0.8260869383811951, "
	"-0.4285714328289032], \"cover\": [222.75, 100.0, 23.5, 20.5, 76.5, 47.5, 29.0, 122.75,"
	" 7.5, 3.5, 115.25, 94.75, 20.5, 3.0, 1.25, 19.25, 8.0, 39.5, 15.75, 13.25, 4.0, "
	"2.25, 1.25, 88.0, 6.75, 16.25, 4.25]}, {\"feature\": [4, 1, 4, 4, 4, 4, 1, 2, 4, 2, 1,"
	" 4], \"threshold\": [10.481249809265137, 16.5, 7.762499809265137, 7.133349895477295, "
	"7.883349895477295, 52.277099609375, 6.5, 2.5, 31.137500762939453, 1.5, 44.5, "
	"111.82499694824219], \"left\": [1, 2, -1, -3, -4, 6, 7, -6, -8, 10, -10, -12], "
	"\"right\": [5, 3, -2, 4, -5, 9, 8, -7, -9, 11, -11, -13], \"missing_left\": [1, 0, 1, 1,"
	" 1, 1, 0, 1, 1, 1, 1, 1], \"value\": [0.47438400983810425, -0.16682037711143494, "
	"-0.5970476865768433, -0.21204093098640442, -0.4745776951313019, 0.6353752017021179, "
	"-0.39594578742980957, -0.08306466042995453, -0.3341633379459381, 0.435958594083786, "
	"0.07363157719373703, -0.6463912725448608, 0.30635887384414673], \"cover\": "
	"[210.1015625, 78.56648254394531, 3.2860867977142334, 75.2803955078125, "
	"65.86043548583984, 131.5350799560547, 95.7784194946289, 9.370497703552246, "
	"86.40792083740234, 35.75666427612305, 31.830110549926758, 3.9265542030334473, "
	"1.184442162513733, 2.10164475440979, 9.419961929321289, 31.6031494140625, "
	"34.257286071777344, 6.123788833618164, 3.246709108352661, 72.17529296875, "
	"14.232625961303711, 23.721311569213867, 8.108799934387207, 2.4674434661865234, "
	"1.4591106176376343]}, {\"feature\": [0, 1, 3, 0, 1, 1, 2, 1, 1, 4, 3], \"threshold\": "
	"[2.5, 63.5, 0.5, 1.5, 18.5, 32.5, 2.5, 15.5, 10.5, 7.910400390625, 0.5], \"left\": [1,"
	" 2, 3, -1, -3, 6, 7, -6, -8, -10, -11], \"right\": [5, -5, 4, -2, -4, 9, 8, -7, -9, "
	"10, -12], \"missing_left\": [1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1], \"value\": "
	"[0.15630021691322327, -0.16779182851314545, 0.5336884260177612, 0.1493903547525406, "
	"-0.5139390826225281, 0.3332178294658661, -0.16151535511016846, -0.46863028407096863,"
	" -0.14762380719184875, -0.5555112361907959, -0.08837733417749405, "
	"-0.4134715795516968], \"cover\": [194.20843505859375, 91.80768585205078, "
	"89.41673278808594, 67.51504516601562, 21.901691436767578, 102.40074920654297, "
	"87.09910583496094, 79.2912826538086, 7.807825565338135, 15.301643371582031, "
	"9.517767906188965, 36.10843276977539, 31.406606674194336, 5.907853603363037, "
	"15.9938383102417, 2.39095401763916, 6.279959678649902, 73.01132202148438, "
	"6.536444187164307, 1.2713813781738281, 5.783874988555908, 5.35472297668457, "
	"4.1630449295043945]}]}";

static const struct
{
	double		x[NCOLUMNS];
	uint32_t	want[NCOLUMNS + 1];	/* the features' float32 bits, then the bias's */
}			explained_rows[] = {
	{{3.0, 22.0, 1.0, 0.0, 7.25},
	{0xbe2c67ee, 0x39029a80, 0x3d453b52, 0xbc175652, 0xbe94d845, 0xbed6f16b}},
	{{3.0, NAN, 0.0, 0.0, 8.4583},
	{0xbeb81af2, 0x3bfbcd4d, 0x3d76e0e4, 0xbc6489d4, 0xbec1067c, 0xbed6f16b}},
	{{2.0, NAN, 0.0, 0.0, 13.0},
	{0x3e8f81d5, 0x3e52450b, 0x3d12ea19, 0xbdba0396, 0x3d92ac66, 0xbed6f16b}},
	{{2.5, 17.5, 2.5, 0.5, 13.64585018157959},
	{0xbf1a1433, 0x3e383d4f, 0xbec1b272, 0x3d58f256, 0x3e051693, 0xbed6f16b}},
	{{2.499999761581421, 17.499998092651367, 2.499999761581421, 0.4999999701976776, 13.645849227905273},
	{0x3eab6832, 0x3eceee0a, 0xbcbfaf78, 0xbdba0396, 0xbdfaba31, 0xbed6f16b}},
	{{NAN, NAN, NAN, NAN, NAN},
	{0x3ea57e65, 0xbcca813e, 0x3cf618d7, 0xbd56afed, 0xbf860688, 0xbed6f16b}},
	{{-0.0, NAN, 0.0, 2.0, 7.25},
	{0x3eba498c, 0x3dd034cc, 0x3cf618d7, 0x3e28a7d7, 0xbf2b35ea, 0xbed6f16b}}
};

/* Five number columns x0 .. x4 read as they are, with this estimator. */
static char *
five_column_document(const char *estimator)
{
	const char *format =
		"{\"format\": \"predict-model/1\", \"name\": \"xgb\", \"columns\": ["
		"{\"name\": \"x0\", \"type\": \"number\"}, {\"name\": \"x1\", \"type\": \"number\"}, "
		"{\"name\": \"x2\", \"type\": \"number\"}, {\"name\": \"x3\", \"type\": \"number\"}, "
		"{\"name\": \"x4\", \"type\": \"number\"}], \"preprocessing\": ["
		"{\"column\": \"x0\", \"steps\": [], \"features\": [\"x0\"]}, "
		"{\"column\": \"x1\", \"steps\": [], \"features\": [\"x1\"]}, "
		"{\"column\": \"x2\", \"steps\": [], \"features\": [\"x2\"]}, "
		"{\"column\": \"x3\", \"steps\": [], \"features\": [\"x3\"]}, "
		"{\"column\": \"x4\", \"steps\": [], \"features\": [\"x4\"]}], "
		"\"estimator\": %s, \"positive_class\": 1, "
		"\"provenance\": {\"sklearn_version\": \"1.2.1\", \"xgboost_version\": \"1.7.4\", "
		"\"exported_at\": \"x\", \"training_rows\": null}}";
	size_t		size = strlen(format) + strlen(estimator) + 1;
	char	   *doc = malloc(size);

	if (doc == NULL)
		abort();
	snprintf(doc, size, format, estimator);
	return doc;
}

static uint32_t
float_bits(float f)
{
	uint32_t	bits;

	memcpy(&bits, &f, sizeof(bits));
	return bits;
}

/* One row: its explanation, compared bit for bit with XGBoost's. */
static void
check_row(const estimator *est, size_t r, xgboost_element *path)
{
	float		x32[NCOLUMNS];
	float		phi[NCOLUMNS];
	float		got[NCOLUMNS + 1];
	char		name[64];
	size_t		j;

	/* the slots as score_xgboost casts them (dense input: only NaN is missing) */
	for (j = 0; j < NCOLUMNS; j++)
		x32[est->feature_slot[j]] = (float) explained_rows[r].x[j];
	memset(phi, 0, sizeof(phi));
	got[NCOLUMNS] = explain_xgboost(est, x32, phi, path);
	for (j = 0; j < NCOLUMNS; j++)
		got[j] = phi[est->feature_slot[j]];
	snprintf(name, sizeof(name), "explain_xgboost: row %zu is XGBoost's pred_contribs", r);
	for (j = 0; j <= NCOLUMNS; j++)
		if (float_bits(got[j]) != explained_rows[r].want[j])
			break;
	unit_report(name, j > NCOLUMNS, "column %zu: 0x%08x (%.9g), XGBoost 0x%08x", j,
				j <= NCOLUMNS ? float_bits(got[j]) : 0, j <= NCOLUMNS ? (double) got[j] : 0,
				j <= NCOLUMNS ? explained_rows[r].want[j] : 0);
}

void
explain_xgboost_tests(void)
{
	char	   *doc = five_column_document(explained_estimator);
	predict_model *model = expect_load("explain_xgboost: the model loads", doc);
	const estimator *est;
	xgboost_element *path;

	free(doc);
	if (model == NULL)
		return;
	est = &model->estimator;
	unit_report("explain_xgboost: the model reads every column, with covers",
				est->nslots == NCOLUMNS && est->cover != NULL && est->max_depth == 4,
				"%zu slots, covers %s, depth %u", est->nslots,
				est->cover != NULL ? "read" : "missing", est->max_depth);
	if (est->nslots != NCOLUMNS || est->cover == NULL)
	{
		predict_model_free(model);
		return;
	}
	/* exactly the scratch explain.h asks for: ASan sees any overrun */
	path = malloc(shap_path_elements(est->max_depth) * sizeof(*path));
	if (path == NULL)
		abort();
	for (size_t r = 0; r < sizeof(explained_rows) / sizeof(explained_rows[0]); r++)
		check_row(est, r, path);
	free(path);
	predict_model_free(model);
}
