/*
 * kmeans.h: the k-means engine (kmeans.c) on points read by points.c.
 */
#ifndef SURVEY_KMEANS_H
#define SURVEY_KMEANS_H

#include "survey/survey.h"

typedef struct SvKmeans
{
	int			k;
	int			d;
	double	   *centroids;		/* k x d */
	double	   *variance;		/* k: sum of squared distances in the cluster */
	double		objective;		/* sum of squared distances to the centroid */
	double		frac_reassigned;	/* in the last iteration */
	int			iterations;
	int32	   *assign;			/* n: zero-based cluster of each point */
} SvKmeans;

/*
 * Lloyd's iterations from the given k x d centroids (copied), with
 * Hamerly's bounds.  tol_abs is the squared centroid shift below which the
 * run stops (0: only when no point moves).  out->assign must hold n.
 */
extern void sv_kmeans_lloyd(SvPoints *p, int k, const double *init, int max_iter,
							double tol_abs, SvKmeans *out);

/* ERROR unless the points hold at least k distinct points. */
extern void sv_check_distinct(const SvPoints *p, int k);

#endif							/* SURVEY_KMEANS_H */
