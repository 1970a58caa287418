/*
 * kmeans_agg.c: one k-means step as a parallel-safe aggregate, for tables
 * too large to hold in memory or spread over servers:
 *
 *     mekatek.kmeans_step(point float8[], centroids float8[][]) -> float8[][]
 *
 * assigns each point to the nearest of the given centroids and returns the
 * means of the clusters (a cluster that got no point keeps its centroid);
 * mekatek.kmeans_step_objective returns the sum of squared distances for
 * the given centroids.  The state is the sums and counts per cluster, so
 * partial states combine by addition: parallel workers and the partial
 * aggregates of a distributed PostgreSQL work unchanged.  Iterate with a
 * loop in SQL until the centroids stop moving.
 */
#include "core/mekatek.h"
#include "survey/survey.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"

typedef struct SvStep
{
	int32		k;
	int32		d;
	double		objective;
	double	   *c;				/* k x d: the step's input centroids */
	double	   *sums;			/* k x d */
	int64	   *counts;			/* k */
} SvStep;

static SvStep *
sv_step_new(MemoryContext cxt, int k, int d)
{
	SvStep	   *s = MemoryContextAllocZero(cxt, sizeof(SvStep));

	s->k = k;
	s->d = d;
	s->c = MemoryContextAllocZero(cxt, sizeof(double) * k * d);
	s->sums = MemoryContextAllocZero(cxt, sizeof(double) * k * d);
	s->counts = MemoryContextAllocZero(cxt, sizeof(int64) * k);
	return s;
}

static MemoryContext
sv_agg_context(FunctionCallInfo fcinfo, const char *fn)
{
	MemoryContext cxt;

	if (!AggCheckCallContext(fcinfo, &cxt))
		elog(ERROR, "%s called in non-aggregate context", fn);
	return cxt;
}

PG_FUNCTION_INFO_V1(mk_kmeans_step_trans);
Datum
mk_kmeans_step_trans(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = sv_agg_context(fcinfo, "kmeans_step");
	SvStep	   *s = PG_ARGISNULL(0) ? NULL : (SvStep *) PG_GETARG_POINTER(0);
	ArrayType  *pt;
	double	   *x;
	double		dist2;
	int			b;

	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(s);
	if (s == NULL)
	{
		int			k,
					d;
		double	   *c;

		mk_arg_not_null(fcinfo, 2, "centroids");
		c = sv_matrix_arg(PG_GETARG_ARRAYTYPE_P(2), "centroids", &k, &d);
		if (k < 1 || d < 1)
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL, "argument \"centroids\" is empty");
		s = sv_step_new(cxt, k, d);
		memcpy(s->c, c, sizeof(double) * k * d);
	}
	pt = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_ELEMTYPE(pt) != FLOAT8OID)
		elog(ERROR, "kmeans_step: expected float8[]");
	if (ARR_NDIM(pt) != 1 || ARR_DIMS(pt)[0] != s->d || ARR_HASNULL(pt))
		mk_error(ERRCODE_ARRAY_SUBSCRIPT_ERROR,
				 "Every point has as many coordinates as the centroids have columns, none NULL.",
				 "a point of kmeans_step has %d coordinates or NULLs, the centroids have %d columns",
				 ARR_NDIM(pt) == 1 ? ARR_DIMS(pt)[0] : 0, s->d);
	x = (double *) mk_array_data(pt);
	for (int j = 0; j < s->d; j++)
		if (!isfinite(x[j]))
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL,
					 "a point of kmeans_step has a NaN or infinite coordinate");
	b = sv_nearest(x, s->c, s->k, s->d, &dist2);
	for (int j = 0; j < s->d; j++)
		s->sums[(Size) b * s->d + j] += x[j];
	s->counts[b]++;
	s->objective += dist2;
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(mk_kmeans_step_combine);
Datum
mk_kmeans_step_combine(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = sv_agg_context(fcinfo, "kmeans_step");
	SvStep	   *a = PG_ARGISNULL(0) ? NULL : (SvStep *) PG_GETARG_POINTER(0);
	SvStep	   *b = PG_ARGISNULL(1) ? NULL : (SvStep *) PG_GETARG_POINTER(1);

	if (b == NULL)
		PG_RETURN_POINTER(a);
	if (a == NULL)
	{
		a = sv_step_new(cxt, b->k, b->d);
		memcpy(a->c, b->c, sizeof(double) * b->k * b->d);
	}
	else if (a->k != b->k || a->d != b->d)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
				 "Pass the same centroids to every row of one kmeans_step.",
				 "kmeans_step states of %dx%d and %dx%d centroids cannot be combined",
				 a->k, a->d, b->k, b->d);
	for (int i = 0; i < a->k * a->d; i++)
		a->sums[i] += b->sums[i];
	for (int j = 0; j < a->k; j++)
		a->counts[j] += b->counts[j];
	a->objective += b->objective;
	PG_RETURN_POINTER(a);
}

PG_FUNCTION_INFO_V1(mk_kmeans_step_serialize);
Datum
mk_kmeans_step_serialize(PG_FUNCTION_ARGS)
{
	SvStep	   *s = (SvStep *) PG_GETARG_POINTER(0);
	StringInfoData buf;

	sv_agg_context(fcinfo, "kmeans_step");
	pq_begintypsend(&buf);
	pq_sendint32(&buf, s->k);
	pq_sendint32(&buf, s->d);
	pq_sendfloat8(&buf, s->objective);
	for (int i = 0; i < s->k * s->d; i++)
		pq_sendfloat8(&buf, s->c[i]);
	for (int i = 0; i < s->k * s->d; i++)
		pq_sendfloat8(&buf, s->sums[i]);
	for (int j = 0; j < s->k; j++)
		pq_sendint64(&buf, s->counts[j]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(mk_kmeans_step_deserialize);
Datum
mk_kmeans_step_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = sv_agg_context(fcinfo, "kmeans_step");
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	StringInfoData buf;
	SvStep	   *s;
	int			k,
				d;

	/* Read in place, as PostgreSQL's own deserialize functions do. */
	buf.data = VARDATA_ANY(b);
	buf.len = VARSIZE_ANY_EXHDR(b);
	buf.maxlen = buf.len;
	buf.cursor = 0;
	k = pq_getmsgint(&buf, 4);
	d = pq_getmsgint(&buf, 4);
	if (k < 1 || d < 1 || (Size) buf.len != 16 + (Size) k * d * 16 + (Size) k * 8)
		elog(ERROR, "kmeans_step: malformed serialized state");
	s = sv_step_new(cxt, k, d);
	s->objective = pq_getmsgfloat8(&buf);
	for (int i = 0; i < k * d; i++)
		s->c[i] = pq_getmsgfloat8(&buf);
	for (int i = 0; i < k * d; i++)
		s->sums[i] = pq_getmsgfloat8(&buf);
	for (int j = 0; j < k; j++)
		s->counts[j] = pq_getmsgint64(&buf);
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(mk_kmeans_step_final);
Datum
mk_kmeans_step_final(PG_FUNCTION_ARGS)
{
	SvStep	   *s = PG_ARGISNULL(0) ? NULL : (SvStep *) PG_GETARG_POINTER(0);
	double	   *m;

	if (s == NULL)
		PG_RETURN_NULL();
	m = palloc(sizeof(double) * s->k * s->d);
	for (int j = 0; j < s->k; j++)
		for (int t = 0; t < s->d; t++)
			m[(Size) j * s->d + t] = s->counts[j] > 0
				? s->sums[(Size) j * s->d + t] / s->counts[j] : s->c[(Size) j * s->d + t];
	PG_RETURN_ARRAYTYPE_P(sv_matrix_datum(m, s->k, s->d));
}

PG_FUNCTION_INFO_V1(mk_kmeans_step_objective_final);
Datum
mk_kmeans_step_objective_final(PG_FUNCTION_ARGS)
{
	SvStep	   *s = PG_ARGISNULL(0) ? NULL : (SvStep *) PG_GETARG_POINTER(0);

	if (s == NULL)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(s->objective);
}
