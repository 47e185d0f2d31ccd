/*
 * special.c - Cephes' expm1 and ndtri, the algorithms scipy.special uses
 * (scipy.special.boxcox calls Cephes' expm1, scipy.stats.norm.ppf is
 * ndtri). Evaluated in the same order of float64 operations with the same
 * published coefficients, they give scipy's results bit for bit; checked
 * on 300,000 values against scipy 1.10.1 (test/parity/test_skew.py).
 * Managed mode compiles ndtri to SQL from the same coefficients.
 */
#include <math.h>
#include <stdbool.h>

#include "special.h"

/* polevl: c[0] x^n + ... + c[n], by Horner's rule */
static double
polevl(double x, const double *c, int n)
{
	double		ans = c[0];

	for (int i = 1; i <= n; i++)
		ans = ans * x + c[i];
	return ans;
}

/* p1evl: the same with a leading coefficient 1 that is not stored */
static double
p1evl(double x, const double *c, int n)
{
	double		ans = x + c[0];

	for (int i = 1; i < n; i++)
		ans = ans * x + c[i];
	return ans;
}

/* exp(x) - 1: a rational approximation on [-0.5, 0.5], exp(x) - 1 elsewhere */
double
cephes_expm1(double x)
{
	static const double p[3] = {
		1.2617719307481059087798E-4,
		3.0299440770744196129956E-2,
		9.9999999999999999991025E-1,
};
	static const double q[4] = {
		3.0019850513866445504159E-6,
		2.5244834034968410419224E-3,
		2.2726554820815502876593E-1,
		2.0000000000000000009029E0,
};
	double		xx;
	double		r;

	if (!isfinite(x))
		return (isnan(x) || x > 0) ? x : -1.0;
	if (x < -0.5 || x > 0.5)
		return exp(x) - 1.0;
	xx = x * x;
	r = x * polevl(xx, p, 2);
	r = r / (polevl(xx, q, 3) - r);
	return r + r;
}

/* ndtri's rational approximations: in y - 0.5, and in 1/x for x < 8 and x >= 8 */
static const double p0[5] = {
	-5.99633501014107895267E1, 9.80010754185999661536E1,
	-5.66762857469070293439E1, 1.39312609387279679503E1,
	-1.23916583867381258016E0,
};
static const double q0[8] = {
	1.95448858338141759834E0, 4.67627912898881538453E0,
	8.63602421390890590575E1, -2.25462687854119370527E2,
	2.00260212380060660359E2, -8.20372256168333339912E1,
	1.59056225126211695515E1, -1.18331621121330003142E0,
};
static const double p1[9] = {
	4.05544892305962419923E0, 3.15251094599893866154E1,
	5.71628192246421288162E1, 4.40805073893200834700E1,
	1.46849561928858024014E1, 2.18663306850790267539E0,
	-1.40256079171354495875E-1, -3.50424626827848203418E-2,
	-8.57456785154685413611E-4,
};
static const double q1[8] = {
	1.57799883256466749731E1, 4.53907635128879210584E1,
	4.13172038254672030440E1, 1.50425385692907503408E1,
	2.50464946208309415979E0, -1.42182922854787788574E-1,
	-3.80806407691578277194E-2, -9.33259480895457427372E-4,
};
static const double p2[9] = {
	3.23774891776946035970E0, 6.91522889068984211695E0,
	3.93881025292474443415E0, 1.33303460815807542389E0,
	2.01485389549179081538E-1, 1.23716634817820021358E-2,
	3.01581553508235416007E-4, 2.65806974686737550832E-6,
	6.23974539184983293730E-9,
};
static const double q2[8] = {
	6.02427039364742014255E0, 3.67983563856160859403E0,
	1.37702099489081330271E0, 2.16236993594496635890E-1,
	1.34204006088543189037E-2, 3.28014464682127739104E-4,
	2.89247864745380683936E-6, 6.79019408009981274425E-9,
};

/* The coefficients for managed mode's SQL (numerators p, monic denominators q). */
void
cephes_ndtri_coefficients(const double *const **p, const double *const **q)
{
	static const double *const ps[3] = {p0, p1, p2};
	static const double *const qs[3] = {q0, q1, q2};

	*p = ps;
	*q = qs;
}

/*
 * The inverse of the standard normal distribution function: a rational
 * approximation in y - 0.5 in the middle, and in 1 / sqrt(-2 log y) in the
 * tails (one for y down to exp(-32), one below).
 */
double
cephes_ndtri(double y0)
{
	static const double s2pi = 2.50662827463100050242E0;	/* sqrt(2 pi) */
	static const double expm2 = 0.13533528323661269189;	/* exp(-2) */
	double		y = y0;
	double		x;
	double		z;
	double		x0;
	double		x1;
	bool		lower = true;

	if (y0 == 0.0)
		return -INFINITY;
	if (y0 == 1.0)
		return INFINITY;
	if (!(y0 >= 0.0 && y0 <= 1.0))
		return NAN;
	if (y > 1.0 - expm2)
	{
		y = 1.0 - y;
		lower = false;
	}
	if (y > expm2)
	{
		double		y2;

		y = y - 0.5;
		y2 = y * y;
		x = y + y * (y2 * polevl(y2, p0, 4) / p1evl(y2, q0, 8));
		return x * s2pi;
	}
	x = sqrt(-2.0 * log(y));
	x0 = x - log(x) / x;
	z = 1.0 / x;
	if (x < 8.0)
		x1 = z * polevl(z, p1, 8) / p1evl(z, q1, 8);
	else
		x1 = z * polevl(z, p2, 8) / p1evl(z, q2, 8);
	x = x0 - x1;
	return lower ? -x : x;
}
