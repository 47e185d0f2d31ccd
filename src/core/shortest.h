/*
 * shortest.h - the shortest decimal digits of a double (shortest.c).
 */
#ifndef PREDICT_SHORTEST_H
#define PREDICT_SHORTEST_H

/*
 * The fewest significant digits that read back as x (finite, x > 0), as
 * printf's correctly rounded "%.*e" gives them at the first precision that
 * reads back, with the trailing zeros removed: writes them to digits (ASCII,
 * at most 17, no terminator), their decimal exponent to *exponent (x is
 * about d.ddd * 10^exponent), and returns how many there are.
 */
int			shortest_digits(double x, char digits[17], int *exponent);

#endif							/* PREDICT_SHORTEST_H */
