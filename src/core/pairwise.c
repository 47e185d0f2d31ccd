/*
 * pairwise.c - numpy's pairwise summation, term by term (pairwise.h).
 */
#include "pairwise.h"

size_t
pairwise_plan_leaves(size_t n)
{
	size_t		half;

	if (n <= PAIRWISE_BLOCK)
		return 1;
	half = n / 2;
	half -= half % 8;
	return pairwise_plan_leaves(half) + pairwise_plan_leaves(n - half);
}

/*
 * The blocks of pairwise_sum(n) in order. After the second half's last
 * block, the two halves' sums are added: one more merge on that block.
 */
static void
plan_fill(uint32_t *length, uint8_t *merges, size_t *next, size_t n)
{
	size_t		half;

	if (n <= PAIRWISE_BLOCK)
	{
		length[*next] = (uint32_t) n;
		merges[*next] = 0;
		(*next)++;
		return;
	}
	half = n / 2;
	half -= half % 8;
	plan_fill(length, merges, next, half);
	plan_fill(length, merges, next, n - half);
	merges[*next - 1]++;
}

void
pairwise_plan_fill(pairwise_plan *plan, uint32_t *length, uint8_t *merges, size_t n)
{
	size_t		next = 0;

	plan_fill(length, merges, &next, n);
	plan->nleaves = next;
	plan->leaf_length = length;
	plan->leaf_merges = merges;
}

void
pairwise_start(pairwise_state *st, const pairwise_plan *plan)
{
	st->plan = plan;
	st->leaf = 0;
	st->at = 0;
	st->res = 0.0;
	st->depth = 0;
}

/* A block is complete: keep its sum, then add up the halves it completes. */
static void
finish_leaf(pairwise_state *st)
{
	st->stack[st->depth++] = st->res;
	for (uint8_t m = st->plan->leaf_merges[st->leaf]; m > 0; m--)
	{
		st->depth--;
		st->stack[st->depth - 1] = st->stack[st->depth - 1] + st->stack[st->depth];
	}
	st->leaf++;
	st->at = 0;
	st->res = 0.0;
}

void
pairwise_add(pairwise_state *st, double term)
{
	uint32_t	n = st->plan->leaf_length[st->leaf];
	uint32_t	unrolled = n - n % 8;
	uint32_t	i = st->at++;

	if (n < 8)
		st->res += term;
	else if (i < 8)
		st->r[i] = term;
	else if (i < unrolled)
		st->r[i % 8] += term;
	else
		st->res += term;
	if (n >= 8 && i + 1 == unrolled)
		st->res = ((st->r[0] + st->r[1]) + (st->r[2] + st->r[3])) +
			((st->r[4] + st->r[5]) + (st->r[6] + st->r[7]));
	if (st->at == n)
		finish_leaf(st);
}

/* The row's sum, all its terms added: 0.0 + pairwise_sum, as numpy's reduce. */
double
pairwise_result(const pairwise_state *st)
{
	return 0.0 + (st->depth ? st->stack[0] : 0.0);
}
