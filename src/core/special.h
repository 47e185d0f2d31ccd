/*
 * special.h - scipy.special's functions that the steps reproduce bit for
 * bit: scipy calls its own Cephes code for them, not libm. Not part of the
 * public API.
 */
#ifndef PREDICT_SPECIAL_H
#define PREDICT_SPECIAL_H

double		cephes_expm1(double x);
double		cephes_ndtri(double y);
void		cephes_ndtri_coefficients(const double *const **p, const double *const **q);

#endif							/* PREDICT_SPECIAL_H */
