/*
 * test_format.c - predict_format_number (src/core/shortest.c) against the
 * printf and strtod loop it replaced, kept here as the reference: special
 * values, every power of two and of ten with their neighbours, subnormals,
 * the ends of the fixed notation, ties, numbers of 15 to 17 digits, and
 * random numbers (a fixed seed). PREDICT_FORMAT_SAMPLES=N runs N random bit
 * patterns instead of two million, and half as many of each other random
 * kind (more for a longer run by hand; under the sanitizers, a tenth).
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

/*
 * The formatting before src/core/shortest.c: printf's correctly rounded
 * "%.*e" at the first precision that reads back with strtod (from 15 for
 * normal numbers, whose shorter digits are the 15 with zeros dropped).
 */
static void
reference_format_number(char *buf, size_t size, double x)
{
	char		sci[40];
	char		digits[20];
	int			ndigits = 0;
	int			exponent;
	size_t		out = 0;
	const char *p;

	if (isnan(x) || isinf(x) || x == 0)
	{
		snprintf(buf, size, "%s", isnan(x) ? "NaN" : isinf(x) ? (x > 0 ? "Infinity" : "-Infinity")
				 : signbit(x) ? "-0" : "0");
		return;
	}
	for (int precision = fabs(x) >= DBL_MIN ? 15 : 1; precision <= 17; precision++)
	{
		snprintf(sci, sizeof(sci), "%.*e", precision - 1, x);
		if (strtod(sci, NULL) == x)
			break;
	}
	for (p = sci; *p != 'e'; p++)
		if (*p >= '0' && *p <= '9')
			digits[ndigits++] = *p;
	exponent = atoi(p + 1);
	while (ndigits > 1 && digits[ndigits - 1] == '0')
		ndigits--;
	if (x < 0)
		buf[out++] = '-';
	if (exponent < -4 || exponent >= 15)
	{
		buf[out++] = digits[0];
		if (ndigits > 1)
		{
			buf[out++] = '.';
			memcpy(buf + out, digits + 1, (size_t) ndigits - 1);
			out += (size_t) ndigits - 1;
		}
		snprintf(buf + out, size - out, "e%c%02d", exponent < 0 ? '-' : '+', abs(exponent));
		return;
	}
	if (exponent < 0)
	{
		buf[out++] = '0';
		buf[out++] = '.';
		for (int i = 0; i < -exponent - 1; i++)
			buf[out++] = '0';
		memcpy(buf + out, digits, (size_t) ndigits);
		out += (size_t) ndigits;
	}
	else
	{
		for (int i = 0; i <= exponent; i++)
			buf[out++] = i < ndigits ? digits[i] : '0';
		if (ndigits > exponent + 1)
		{
			buf[out++] = '.';
			memcpy(buf + out, digits + exponent + 1, (size_t) (ndigits - exponent - 1));
			out += (size_t) (ndigits - exponent - 1);
		}
	}
	buf[out] = '\0';
}

/* Numbers compared and differences found in one group of cases. */
typedef struct tally
{
	long		tried;
	long		differ;
	char		first[120];
} tally;

static void
compare(tally *t, double x)
{
	char		got[40];
	char		want[40];

	predict_format_number(got, sizeof(got), x);
	reference_format_number(want, sizeof(want), x);
	t->tried++;
	if (strcmp(got, want) == 0)
		return;
	if (t->differ++ == 0)
		snprintf(t->first, sizeof(t->first), "%a: got %s, want %s", x, got, want);
}

/* x, -x, and their neighbours n steps either side. */
static void
compare_around(tally *t, double x, int n)
{
	double		up = x;
	double		down = x;

	compare(t, x);
	compare(t, -x);
	for (int i = 0; i < n; i++)
	{
		up = nextafter(up, INFINITY);
		down = nextafter(down, 0);
		compare(t, up);
		compare(t, down);
		compare(t, -up);
	}
}

static void
report(const char *what, const tally *t)
{
	char		name[160];

	snprintf(name, sizeof(name), "format: %s (%ld numbers)", what, t->tried);
	unit_report(name, t->differ == 0, "%ld differ, first %s", t->differ, t->first);
}

/* splitmix64: the same numbers on every run */
static uint64_t
next_random(uint64_t *state)
{
	uint64_t	z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static double
from_bits(uint64_t bits)
{
	double		x;

	memcpy(&x, &bits, sizeof(x));
	return x;
}

static void
special_values(void)
{
	tally		t = {0};
	double		values[] = {0.0, -0.0, INFINITY, -INFINITY, NAN, -NAN, DBL_MAX, -DBL_MAX,
	DBL_MIN, DBL_TRUE_MIN, DBL_EPSILON, 1.0, 0.1, 0.5, 2.0 / 3, M_PI, 1e23, 9007199254740993.0};

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
		compare_around(&t, values[i], 3);
	report("special values and their neighbours", &t);
}

/* Every power of two (the narrower intervals below them) and of ten. */
static void
powers(void)
{
	tally		t = {0};
	char		text[16];

	for (int e = -1074; e <= 1023; e++)
		compare_around(&t, ldexp(1.0, e), 2);
	report("every power of two, two neighbours each side", &t);
	memset(&t, 0, sizeof(t));
	for (int e = -323; e <= 308; e++)
	{
		snprintf(text, sizeof(text), "1e%d", e);
		compare_around(&t, strtod(text, NULL), 2);
	}
	report("every power of ten, two neighbours each side", &t);
}

static void
subnormals(void)
{
	tally		t = {0};
	uint64_t	state = 20;

	for (uint64_t c = 1; c <= 20000; c++)
		compare(&t, from_bits(c));
	for (uint64_t c = (UINT64_C(1) << 52) - 20000; c < UINT64_C(1) << 52; c++)
		compare(&t, from_bits(c));
	for (int i = 0; i < 100000; i++)
		compare(&t, from_bits(next_random(&state) & ((UINT64_C(1) << 52) - 1)));
	compare_around(&t, DBL_MIN, 100);
	report("subnormals (the 20000 least and greatest, 100000 random), DBL_MIN", &t);
}

/* Where the notation changes, where the exponent gains a digit, and DBL_MAX. */
static void
boundaries(void)
{
	tally		t = {0};
	double		values[] = {1e-5, 1e-4, 1e-3, 1e14, 1e15, 1e16, 1e-9, 1e-10, 1e99, 1e100,
	1e-99, 1e-100, 9.9999999999999995e-5, 9.9999999999999995e14, 0.0001, 100000000000000.0};

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
		compare_around(&t, values[i], 50);
	compare_around(&t, DBL_MAX, 100);
	report("the notation's boundaries (1e-5, 1e-4, 1e14, 1e15...) and DBL_MAX", &t);
}

/*
 * Decimals of 15, 16 and 17 random digits read by strtod, and numbers
 * exactly halfway between two decimals of 17 digits.
 */
static void
digit_counts(void)
{
	tally		t = {0};
	uint64_t	state = 1516;
	char		text[64];

	for (int digits = 15; digits <= 17; digits++)
		for (int i = 0; i < 100000; i++)
		{
			uint64_t	r = next_random(&state);
			uint64_t	lead = 1 + r % 9;
			uint64_t	rest = next_random(&state) % (uint64_t) pow(10, digits - 1);
			int			e = (int) (r >> 40) % 600 - 300;

			snprintf(text, sizeof(text), "%d.%0*lue%d", (int) lead, digits - 1,
					 (unsigned long) rest, e);
			compare(&t, strtod(text, NULL));
		}
	report("decimals of 15, 16 and 17 digits", &t);
	memset(&t, 0, sizeof(t));
	for (int i = 0; i < 100000; i++)
	{
		/*
		 * An odd multiple of 2^-2 in [2^50, 2^51) has 18 digits, the last a
		 * 5; no decimal of 16 digits reads back as it, both of 17 digits
		 * around it do: printf takes the even one.
		 */
		uint64_t	fraction = next_random(&state) & ((UINT64_C(1) << 52) - 1);

		compare(&t, ldexp((double) ((UINT64_C(1) << 52) | fraction | 1), -2));
	}
	report("exact ties between decimals of 17 digits", &t);
}

/*
 * Under the sanitizers (build/asan/test-unit) a tenth: they look for memory
 * errors, which the count does not change, and the plain build checks the
 * digits at a fraction of the time.
 */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif

static long
samples(void)
{
	const char *given = getenv("PREDICT_FORMAT_SAMPLES");

#ifdef SANITIZED
	return given != NULL ? atol(given) : 200000;
#else
	return given != NULL ? atol(given) : 2000000;
#endif
}

static void
random_numbers(void)
{
	tally		t = {0};
	uint64_t	state = 42;
	long		n = samples();

	while (t.tried < n)
	{
		double		x = from_bits(next_random(&state));

		if (isfinite(x))
			compare(&t, x);
	}
	report("random bit patterns", &t);
	memset(&t, 0, sizeof(t));
	for (long i = 0; i < n / 2; i++)
		compare(&t, (double) (next_random(&state) >> 11) / 9007199254740992.0);
	report("random numbers in [0, 1)", &t);
	memset(&t, 0, sizeof(t));
	for (long i = 0; i < n / 2; i++)
	{
		/* magnitudes from 1e-10 to 1e10, the sizes of coefficients and data */
		uint64_t	r = next_random(&state);
		double		x = pow(10, (double) (r >> 11) / 9007199254740992.0 * 20 - 10);

		compare(&t, r & 1 ? -x : x);
	}
	report("random numbers from 1e-10 to 1e10", &t);
}

void
format_number_tests(void)
{
	special_values();
	powers();
	subnormals();
	boundaries();
	digit_counts();
	random_numbers();
}
