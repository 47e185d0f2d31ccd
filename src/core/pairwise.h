/*
 * pairwise.h - numpy's pairwise summation (np.add.reduce along a
 * contiguous row, numpy/core/src/umath/loops_utils.h.src), term by term.
 *
 * numpy sums a row of n float64 from 0.0 with pairwise_sum: fewer than 8
 * terms one after the other; up to 128 terms in 8 interleaved accumulators
 * folded as ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)), then the
 * last n % 8 one after the other; more than 128 split at n / 2 rounded
 * down to a multiple of 8, each half summed so and the two added. The
 * split depends on n only, so a plan made at load time (pairwise_plan in
 * model.h: the blocks in order, and the additions of partial sums after
 * each) lets the scorer add terms as the blocks produce them, without
 * holding the row. Not part of the public API.
 */
#ifndef PREDICT_PAIRWISE_H
#define PREDICT_PAIRWISE_H

#include "model.h"

#define PAIRWISE_BLOCK 128
/* partial sums waiting: one per halving, at most log2(SIZE_MAX / 128) + 1 */
#define PAIRWISE_STACK 64

/* The sum of one row in progress. */
typedef struct pairwise_state
{
	const pairwise_plan *plan;
	size_t		leaf;			/* the block being summed */
	uint32_t	at;				/* terms of it added so far */
	double		r[8];
	double		res;
	size_t		depth;
	double		stack[PAIRWISE_STACK];
} pairwise_state;

/* The number of blocks of a plan for n terms. */
size_t		pairwise_plan_leaves(size_t n);

/* Fill a plan for n terms; length and merges hold pairwise_plan_leaves(n). */
void		pairwise_plan_fill(pairwise_plan *plan, uint32_t *length, uint8_t *merges, size_t n);

void		pairwise_start(pairwise_state *st, const pairwise_plan *plan);
void		pairwise_add(pairwise_state *st, double term);
double		pairwise_result(const pairwise_state *st);

#endif							/* PREDICT_PAIRWISE_H */
