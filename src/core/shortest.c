/*
 * shortest.c - the shortest decimal digits that read back as a double,
 * without printf or strtod: the Schubfach algorithm (R. Giulietti, "The
 * Schubfach way to render doubles", 2020), which proves it exact.
 *
 * A double x = c * 2^q reads back from every decimal in its rounding
 * interval, halfway to its neighbours (the ends included when c is even:
 * strtod breaks ties to even). Scaled by 10^-k for the k that makes the
 * interval's width between 10^k and 10^(k+1), the interval holds at most
 * one multiple of 10^(k+1) (if there is one, it has the fewest digits)
 * and one or two multiples of 10^k (then the nearer to x is taken). The
 * scaling multiplies by a 126-bit approximation of 10^-k (shortest_table.h)
 * and rounds to odd: the result is exact wherever it is compared.
 *
 * The digits must also be those of the loop this replaced, printf's "%.*e"
 * at precisions 15, 16 and 17 until one reads back: where the decimals of
 * the fewest digits are several, the nearer to x. They are, except below a
 * power of two, where the interval is half as wide as above: there a
 * shortest decimal above x can be farther than the correctly rounded one
 * below it, which does not read back, and the loop goes on to more digits.
 * Those 2045 numbers take that loop, done on the scaled interval.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "shortest.h"
#include "shortest_table.h"

/* A decimal f * 10^e. */
typedef struct decimal
{
	uint64_t	f;
	int			e;
} decimal;

/*
 * The rounding interval [l, r] of x and x itself, times 4 * 10^-k, each
 * rounded to odd (see round_to_odd).
 */
typedef struct scaled
{
	uint64_t	vb;
	uint64_t	vbl;
	uint64_t	vbr;
} scaled;

/*
 * floor(e log10 2) and floor(e log2 10) without floating point, exact over
 * the exponents of doubles (tools/gen-shortest-table.py checks them).
 */
static inline int
floor_log10_pow2(int e)
{
	return (int) (((int64_t) e * INT64_C(661971961083)) >> 41);
}

static inline int
floor_log2_pow10(int e)
{
	return (int) (((int64_t) e * INT64_C(913124641741)) >> 38);
}

/* The high half of a * b: the product has 128 bits. */
static inline uint64_t
mul_high(uint64_t a, uint64_t b)
{
#ifdef __SIZEOF_INT128__
	return (uint64_t) (((unsigned __int128) a * b) >> 64);
#else
	uint64_t	a0 = (uint32_t) a,
				a1 = a >> 32,
				b0 = (uint32_t) b,
				b1 = b >> 32;
	uint64_t	mid = (a0 * b0 >> 32) + (uint32_t) (a1 * b0) + a0 * b1;

	return a1 * b1 + (a1 * b0 >> 32) + (mid >> 32);
#endif
}

/*
 * g * cp / 2^127 for g = g[0] * 2^63 + g[1], rounded to odd: the floor,
 * with its lowest bit set when the quotient is not a whole number. Compared
 * with an even number, it then compares as the exact quotient would.
 */
static inline uint64_t
round_to_odd(const uint64_t g[2], uint64_t cp)
{
	uint64_t	low = mul_high(g[1], cp);
	uint64_t	y0 = g[0] * cp;
	uint64_t	y1 = mul_high(g[0], cp);
	uint64_t	z = (y0 >> 1) + low;
	uint64_t	whole = y1 + (z >> 63);
	uint64_t	fraction = z & ~(UINT64_C(1) << 63);

	return whole | (fraction != 0);
}

/*
 * x = c * 2^q and its interval (below x by below/4 * 2^q, above by half of
 * 2^q) in units of 10^k / 4.
 */
static scaled
scale(uint64_t c, int q, int k, uint64_t below)
{
	const uint64_t *g = shortest_g[k - SHORTEST_K_MIN];
	int			h = q + floor_log2_pow10(-k) + 2;
	uint64_t	cb = c << 2;
	scaled		v;

	v.vb = round_to_odd(g, cb << h);
	v.vbl = round_to_odd(g, (cb - below) << h);
	v.vbr = round_to_odd(g, (cb + 2) << h);
	return v;
}

/* Whether f * 10^k is in the scaled interval v; open ends when open. */
static inline bool
reads_back(const scaled *v, uint64_t f, int open)
{
	return v->vbl + open <= f << 2 && (f << 2) + open <= v->vbr;
}

/*
 * Of lo and lo + step (in units of 10^k), the nearer to x; at the same
 * distance, the one whose digits end even, as printf rounds.
 */
static inline uint64_t
nearer(const scaled *v, uint64_t lo, uint64_t step)
{
	uint64_t	mid = (lo << 2) + (step << 1);

	if (v->vb < mid || (v->vb == mid && (lo / step) % 2 == 0))
		return lo;
	return lo + step;
}

/*
 * x = c * 2^q, its interval as wide below as above: the multiple of
 * 10^(k+1) in it if there is one (at most one fits), else the nearer to x
 * of s and s + 1 (times 10^k) that reads back (one or both do).
 */
static decimal
shortest_symmetric(uint64_t c, int q)
{
	int			k = floor_log10_pow2(q);
	int			open = (int) (c & 1);
	scaled		v = scale(c, q, k, 2);
	uint64_t	s = v.vb >> 2;
	uint64_t	shorter = s / 10 * 10;
	bool		lower_in = reads_back(&v, shorter, open);
	bool		upper_in = reads_back(&v, shorter + 10, open);

	if (lower_in != upper_in)
		return (decimal) {lower_in ? shorter : shorter + 10, k};
	lower_in = reads_back(&v, s, open);
	upper_in = reads_back(&v, s + 1, open);
	if (lower_in != upper_in)
		return (decimal) {lower_in ? s : s + 1, k};
	return (decimal) {nearer(&v, s, 1), k};
}

/*
 * x = 2^52 * 2^q, a power of two above the least normal: the loop this
 * replaced, the correctly rounded 15, 16 then 17 digits until they read
 * back, on the scaled interval (a quarter of 2^q below x, half above, ends
 * included). k makes x 17 digits long. This k is not the algorithm's, so
 * its exactness rests on the unit test, which tries every such x.
 */
static decimal
shortest_power_of_two(int q)
{
	uint64_t	c = UINT64_C(1) << 52;
	int			k = floor_log10_pow2(q + 52) - 16;
	scaled		v = scale(c, q, k, 1);
	uint64_t	s = v.vb >> 2;
	uint64_t	step;
	uint64_t	f = 0;

	for (step = 100; step >= 1; step /= 10)
	{
		f = nearer(&v, s / step * step, step);
		if (reads_back(&v, f, 0))
			break;
	}
	return (decimal) {f, k};
}

/* The 8 digits of x < 10^8, leading zeros included, in independent steps. */
static inline void
write_8_digits(char *out, uint32_t x)
{
	uint32_t	high = x / 10000;
	uint32_t	low = x % 10000;
	uint32_t	pairs[4] = {high / 100, high % 100, low / 100, low % 100};

	for (int i = 0; i < 4; i++)
	{
		out[2 * i] = (char) ('0' + pairs[i] / 10);
		out[2 * i + 1] = (char) ('0' + pairs[i] % 10);
	}
}

int
shortest_digits(double x, char digits[17], int *exponent)
{
	uint64_t	bits;
	uint64_t	fraction;
	int			biased;
	decimal		d;
	uint32_t	top;
	char		text[18];
	int			first = 0;
	int			end = 18;

	memcpy(&bits, &x, sizeof(bits));
	fraction = bits & ((UINT64_C(1) << 52) - 1);
	biased = (int) (bits >> 52) & 0x7ff;
	if (biased == 0)
		d = shortest_symmetric(fraction, -1074);
	else if (fraction == 0 && biased > 1)
		d = shortest_power_of_two(biased - 1075);
	else
		d = shortest_symmetric(fraction | UINT64_C(1) << 52, biased - 1075);

	/* d.f <= 10^17: 18 digits with the leading zeros, then without */
	top = (uint32_t) (d.f / UINT64_C(10000000000000000));
	text[0] = (char) ('0' + top / 10);
	text[1] = (char) ('0' + top % 10);
	write_8_digits(text + 2, (uint32_t) (d.f / 100000000 % 100000000));
	write_8_digits(text + 10, (uint32_t) (d.f % 100000000));
	while (first < 17 && text[first] == '0')
		first++;
	while (end > first + 1 && text[end - 1] == '0')
		end--;
	memcpy(digits, text + first, (size_t) (end - first));
	*exponent = d.e + 17 - first;
	return end - first;
}
