/*
 * survey.h: the survey module: k-means clustering of survey answers (and
 * of any points a query returns), the simplified silhouette, SUS scores,
 * Likert indexes and SMARTER rank weights.
 *
 * The k-means engine (kmeans.c) works on one compact row-major float8
 * array of n x d coordinates, read once from a query; everything it holds
 * is counted against mekatek.survey_work_mem and refused with 53200 before
 * it is allocated.
 */
#ifndef SURVEY_H
#define SURVEY_H

#include "postgres.h"
#include "utils/array.h"

/* mekatek.survey_work_mem, in kB */
extern int	mk_survey_work_mem;
extern Size survey_work_mem_bytes(void);

/* Points read from a query: x[i * d + j] is coordinate j of point i. */
typedef struct SvPoints
{
	int64		n;
	int			d;
	double	   *x;
	int64	   *id;				/* the first column, when asked for */
	int32	   *label;			/* an int column before the coordinates */
	Size		bytes;			/* counted against the limit */
	Size		limit;
} SvPoints;

/* What a points query starts with before its coordinates. */
#define SV_WANT_ID		0x01
#define SV_WANT_LABEL	0x02

/*
 * Read a query's rows: the leading columns asked for (an integer id, an
 * integer label), then either one numeric array or several numeric
 * columns.  NULL, NaN or infinite coordinates and rows of another
 * dimension are errors naming the row.  SPI must be connected; the query
 * runs read-only with the caller's rights.
 */
extern void sv_points_load(SvPoints *p, const char *query, const char *argname, int want);

/* Account for bytes more, or raise 53200 naming the need. */
extern void sv_reserve(SvPoints *p, Size more, const char *what);

/* z-scores per column (population SD; a constant column is centred only). */
extern void sv_standardize(SvPoints *p, double *mean, double *scale);

/* Squared Euclidean distance of two d-vectors. */
static inline double
sv_dist2(const double *a, const double *b, int d)
{
	double		s = 0;

	for (int j = 0; j < d; j++)
	{
		double		t = a[j] - b[j];

		s += t * t;
	}
	return s;
}

/* A k x d float8 matrix argument, checked; returns the values (palloc'd). */
extern double *sv_matrix_arg(ArrayType *a, const char *argname, int *k, int *d);
extern ArrayType *sv_matrix_datum(const double *m, int k, int d);

/* Index of the nearest of k centroids (lowest index on ties). */
extern int	sv_nearest(const double *x, const double *c, int k, int d, double *dist2);

#endif							/* SURVEY_H */
