/*
 * stage.h - the feature stage: transforms of the whole feature vector
 * between the blocks and the estimator (the document's "transforms",
 * scikit-learn's PolynomialFeatures, PCA, the selectors, FeatureUnion...).
 * Loaded by load_features.c, applied by score_features.c. Not part of the
 * public API.
 *
 * The loader flattens the document's transforms, unions included, into a
 * list of operations on one work vector: the blocks' outputs come first,
 * then each operation appends its outputs after everything before it,
 * reading a contiguous range of what is already there. A union's parts
 * read the union's input; the union itself is a final selection (times
 * its weights) of its parts' outputs. The estimator reads the last
 * operation's outputs. The work vector is a stack buffer while scoring,
 * so its size is bounded by a fixed loader limit.
 */
#ifndef PREDICT_STAGE_H
#define PREDICT_STAGE_H

#include <stdint.h>

#include "predict.h"

/*
 * Entries of the work vector (the blocks' outputs and every transform's
 * outputs together): 64 KiB of float64 on the stack while scoring.
 * Documented as the loader limit max_stage_features.
 */
#define MAX_STAGE_FEATURES 8192

typedef enum transform_type
{
	TRANSFORM_SELECT,
	TRANSFORM_POLYNOMIAL,
	TRANSFORM_STANDARDIZE,
	TRANSFORM_MULTIPLY,
	TRANSFORM_MIN_MAX,
	TRANSFORM_LINEAR,
	TRANSFORM_NORMALIZE,
	TRANSFORM_SPLINE
} transform_type;

/* SplineTransformer's extrapolation (scikit-learn 1.2). */
typedef enum spline_extrapolation
{
	SPLINE_ERROR,
	SPLINE_CONSTANT,
	SPLINE_LINEAR,
	SPLINE_CONTINUE,
	SPLINE_PERIODIC
} spline_extrapolation;

/* The largest spline degree: de Boor's work buffer is 2 (degree + 1) on the stack. */
#define MAX_SPLINE_DEGREE 16

/* What a transform's input check refuses (scikit-learn's force_all_finite). */
typedef enum input_check
{
	CHECK_NONE,					/* force_all_finite=False */
	CHECK_FINITE,				/* True: NaN and infinity */
	CHECK_NO_INFINITY			/* "allow-nan": infinity */
} input_check;

typedef enum norm_type
{
	NORM_L1,
	NORM_L2,
	NORM_MAX
} norm_type;

typedef struct transform
{
	transform_type type;
	input_check check;
	uint32_t	in;				/* first input entry of the work vector */
	uint32_t	nin;
	uint32_t	out;			/* first output entry */
	uint32_t	nout;
	const uint32_t *index;		/* select: nout absolute entries; polynomial: term factors, relative to in */
	const uint32_t *term_start; /* polynomial: nout + 1 offsets into index */
	const double *a;			/* standardize center, multiply factor, min_max scale, linear mean, select weight (or NULL), spline knots */
	const double *b;			/* standardize scale, min_max min, linear divisor (or NULL) */
	const double *matrix;		/* linear: nout rows of nin */
	bool		has_clip;		/* min_max */
	double		lo, hi;
	norm_type	norm;			/* normalize */
	double		zero_below;		/* normalize: norms below this divide by 1 */
	/* spline: per input feature, nknots knots from a + i * nknots */
	uint32_t	degree;
	uint32_t	nsplines;		/* basis functions per input feature */
	uint32_t	nknots;
	spline_extrapolation extrapolation;
	bool		include_bias;	/* else the last basis function is left out */
	const char *path;			/* "transforms[2]", for messages */
} transform;

typedef struct feature_stage
{
	size_t		ntransforms;
	const transform *transforms;
	uint32_t	nwork;			/* entries of the work vector */
	uint32_t	nblock_features;	/* the blocks' outputs, entries 0 .. n - 1 */
	uint32_t	final;			/* the estimator reads final .. final + nfinal - 1 */
	uint32_t	nfinal;
	const char *const *names;	/* nwork feature names */
	const uint32_t *name_lengths;
} feature_stage;

/* score_features.c: apply the stage to work (the blocks' outputs filled in) */
predict_status apply_feature_stage(const feature_stage *stage, double *work,
								   predict_error *err);

/* score_features.c: basis function j's value (m-th derivative) at x inside the knots t */
double		spline_basis_at(const transform *op, const double *t, double x, uint32_t m,
							uint32_t j);

/* 'feature "name"' of entry i, the prefix of the stage's messages */
void		stage_feature_label(const feature_stage *stage, uint32_t i, char *buf, size_t size);

#endif							/* PREDICT_STAGE_H */
