/*
 * silhouette.c: the simplified silhouette of a clustering (Hruschka, de
 * Castro and Campello 2004; Vendramin, Campello and Hruschka 2010): for
 * each point a = distance to its own cluster's centroid, b = distance to
 * the nearest other centroid, s = (b - a) / max(a, b), and 0 for a point
 * alone in its cluster (as Rousseeuw's silhouette does); the result is the
 * mean of s.  It costs one pass of n x k distances instead of the n^2 of
 * the full silhouette, so it compares k on any table kmeans can read.
 */
#include "core/mekatek.h"
#include "survey/survey.h"

#include <float.h>
#include <math.h>

#include "executor/spi.h"
#include "miscadmin.h"

PG_FUNCTION_INFO_V1(mk_silhouette);
Datum
mk_silhouette(PG_FUNCTION_ARGS)
{
	char	   *query = mk_arg_cstring(fcinfo, 0, "points", false);
	SvPoints	p;
	int			k = 0,
				nonempty = 0;
	double	   *c;
	int64	   *count;
	double		total = 0;

	SPI_connect();
	sv_points_load(&p, query, "points", SV_WANT_LABEL);
	if (p.n == 0)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL, "the points query returned no rows");
	for (int64 i = 0; i < p.n; i++)
		k = Max(k, p.label[i] + 1);
	if ((int64) k > p.n)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
				 "Number the clusters 0 .. k-1, as mekatek.kmeans_assign does.",
				 "cluster %d is out of range for %lld points", k - 1, (long long) p.n);
	sv_reserve(&p, (Size) k * (p.d * sizeof(double) + sizeof(int64)), "the silhouette");
	c = palloc0(sizeof(double) * k * p.d);
	count = palloc0(sizeof(int64) * k);
	for (int64 i = 0; i < p.n; i++)
	{
		for (int j = 0; j < p.d; j++)
			c[(Size) p.label[i] * p.d + j] += p.x[i * p.d + j];
		count[p.label[i]]++;
	}
	for (int a = 0; a < k; a++)
		if (count[a] > 0)
		{
			nonempty++;
			for (int j = 0; j < p.d; j++)
				c[(Size) a * p.d + j] /= count[a];
		}
	if (nonempty < 2)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
				 "The silhouette compares clusters: give at least two.",
				 "the points query puts every point in one cluster");
	for (int64 i = 0; i < p.n; i++)
	{
		const double *x = p.x + i * p.d;
		int			own = p.label[i];
		double		a,
					b = DBL_MAX,
					m;

		if ((i & 65535) == 0)
			CHECK_FOR_INTERRUPTS();
		if (count[own] < 2)
			continue;
		a = sqrt(sv_dist2(x, c + (Size) own * p.d, p.d));
		for (int q = 0; q < k; q++)
			if (q != own && count[q] > 0)
				b = Min(b, sqrt(sv_dist2(x, c + (Size) q * p.d, p.d)));
		m = Max(a, b);
		if (m > 0)
			total += (b - a) / m;
	}
	SPI_finish();
	PG_RETURN_FLOAT8(total / p.n);
}

/*
 * mekatek.silhouette(points, centroids): the simplified silhouette of the
 * assignment k-means makes, each point to its nearest centroid: a is the
 * distance to it, b to the second nearest.  This is how one compares the
 * results of mekatek.kmeans for several k without writing the assignment
 * out.
 */
PG_FUNCTION_INFO_V1(mk_silhouette_centroids);
Datum
mk_silhouette_centroids(PG_FUNCTION_ARGS)
{
	char	   *query = mk_arg_cstring(fcinfo, 0, "points", false);
	SvPoints	p;
	double	   *c;
	int			k,
				d;
	int64	   *count;
	int		   *own;
	double		total = 0;

	mk_arg_not_null(fcinfo, 1, "centroids");
	c = sv_matrix_arg(PG_GETARG_ARRAYTYPE_P(1), "centroids", &k, &d);
	if (k < 2)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
				 "The silhouette compares clusters: give at least two.",
				 "argument \"centroids\" has %d row, the silhouette needs two or more", k);

	SPI_connect();
	sv_points_load(&p, query, "points", SV_WANT_ID);
	if (p.n == 0)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL, "the points query returned no rows");
	if (p.d != d)
		mk_error(ERRCODE_ARRAY_SUBSCRIPT_ERROR, NULL,
				 "argument \"centroids\" has %d columns but the points have %d coordinates",
				 d, p.d);
	sv_reserve(&p, (Size) p.n * sizeof(int) + (Size) k * sizeof(int64), "the silhouette");
	own = palloc_extended(sizeof(int) * p.n, MCXT_ALLOC_HUGE);
	count = palloc0(sizeof(int64) * k);
	for (int64 i = 0; i < p.n; i++)
	{
		if ((i & 65535) == 0)
			CHECK_FOR_INTERRUPTS();
		own[i] = sv_nearest(p.x + i * d, c, k, d, NULL);
		count[own[i]]++;
	}
	for (int64 i = 0; i < p.n; i++)
	{
		const double *x = p.x + i * d;
		double		a,
					b = DBL_MAX,
					m;

		if ((i & 65535) == 0)
			CHECK_FOR_INTERRUPTS();
		/* Alone in its cluster: 0, as in the silhouette of a partition. */
		if (count[own[i]] < 2)
			continue;
		a = sqrt(sv_dist2(x, c + (Size) own[i] * d, d));
		for (int q = 0; q < k; q++)
			if (q != own[i])
				b = Min(b, sqrt(sv_dist2(x, c + (Size) q * d, d)));
		m = Max(a, b);
		if (m > 0)
			total += (b - a) / m;
	}
	SPI_finish();
	PG_RETURN_FLOAT8(total / p.n);
}
