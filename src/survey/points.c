/*
 * points.c: reading points from a user's query (through the core's query
 * reader: caller's rights, read-only, in batches) into one compact array,
 * and the matrix helpers the k-means functions share.
 */
#include "core/mekatek.h"
#include "survey/survey.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

void
sv_reserve(SvPoints *p, Size more, const char *what)
{
	if (p->bytes + more > p->limit)
		mk_error(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
				 "Raise mekatek.survey_work_mem, or cluster fewer points or dimensions.",
				 "%s needs %zu bytes, more than mekatek.survey_work_mem (%zu kB)",
				 what, p->bytes + more, p->limit / 1024);
	p->bytes += more;
}

static bool
sv_int_type(Oid t)
{
	return t == INT2OID || t == INT4OID || t == INT8OID;
}

static int64
sv_to_int64(Datum v, Oid t)
{
	return t == INT2OID ? DatumGetInt16(v) : t == INT4OID ? DatumGetInt32(v) : DatumGetInt64(v);
}

static void
sv_grow(SvPoints *p, int64 *cap, int64 need)
{
	int64		newcap;
	Size		per;

	if (need <= *cap)
		return;
	newcap = Max(*cap * 2, Max(need, 1024));
	per = sizeof(double) * p->d + (p->id ? sizeof(int64) : 0) + (p->label ? sizeof(int32) : 0);
	sv_reserve(p, (Size) (newcap - *cap) * per, "reading the points");
	p->x = repalloc_huge(p->x, (Size) newcap * p->d * sizeof(double));
	if (p->id)
		p->id = repalloc_huge(p->id, (Size) newcap * sizeof(int64));
	if (p->label)
		p->label = repalloc_huge(p->label, (Size) newcap * sizeof(int32));
	*cap = newcap;
}

static void
sv_bad_value(const SvPoints *p, int64 row, const char *what)
{
	mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
			 "Filter such rows out in the points query (WHERE ... IS NOT NULL) or fill them in.",
			 "point %lld (row %lld of the points query) has a %s coordinate",
			 (long long) (p->id ? p->id[row] : row + 1), (long long) (row + 1), what);
}

/* The state of one read: the columns' types, checked once. */
typedef struct SvReader
{
	SvPoints   *p;
	const char *argname;
	int			want;
	int			lead;
	bool		arrays;
	Oid			elemtype;
	int16		elmlen;
	bool		elmbyval;
	char		elmalign;
	Oid		   *coltype;
	int64		cap;
	MemoryContext rowcxt;		/* detoasted arrays, reset now and then */
} SvReader;

static void
sv_reader_startup(SvReader *r, TupleDesc desc)
{
	SvPoints   *p = r->p;
	const char *argname = r->argname;
	int			lead = r->lead;
	int			ncoord = desc->natts - lead;

	if (ncoord < 1)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
				 (r->want & SV_WANT_LABEL) ? "Return the cluster, then a float8[] or numeric columns."
				 : "Return an id, then a float8[] or numeric columns.",
				 "the %s query returns %d columns, too few for its points", argname, desc->natts);
	r->coltype = palloc(sizeof(Oid) * desc->natts);
	for (int c = 0; c < desc->natts; c++)
		r->coltype[c] = getBaseType(TupleDescAttr(desc, c)->atttypid);
	for (int c = 0; c < lead; c++)
		if (!sv_int_type(r->coltype[c]))
			mk_error(ERRCODE_DATATYPE_MISMATCH,
					 "The first columns are an integer id (and, where asked, an integer cluster).",
					 "column %d (\"%s\") of the %s query is of type %s, not an integer",
					 c + 1, NameStr(TupleDescAttr(desc, c)->attname), argname,
					 format_type_be(r->coltype[c]));
	r->elemtype = (ncoord == 1) ? get_element_type(r->coltype[lead]) : InvalidOid;
	r->arrays = OidIsValid(r->elemtype);
	if (r->arrays && !mk_is_number_type(r->elemtype))
		mk_error(ERRCODE_DATATYPE_MISMATCH, "Coordinates are float8[] or numeric columns.",
				 "the coordinates of the %s query are of type %s, not a numeric array",
				 argname, format_type_be(r->coltype[lead]));
	if (r->arrays)
		get_typlenbyvalalign(r->elemtype, &r->elmlen, &r->elmbyval, &r->elmalign);
	else
		for (int c = lead; c < desc->natts; c++)
			if (!mk_is_number_type(r->coltype[c]))
				mk_error(ERRCODE_DATATYPE_MISMATCH, "Coordinates are float8[] or numeric columns.",
						 "column %d (\"%s\") of the %s query is of type %s, not a number",
						 c + 1, NameStr(TupleDescAttr(desc, c)->attname), argname,
						 format_type_be(r->coltype[c]));
	p->d = r->arrays ? 0 : ncoord;
}

static void
sv_reader_row(SvReader *r, Datum *values, bool *nulls)
{
	SvPoints   *p = r->p;
	const char *argname = r->argname;
	int			lead = r->lead;
	int64		row = p->n;
	int64		idv = 0;
	int64		labelv = 0;
	double	   *dst;
	int			c = 0;
	MemoryContext old;

	if (r->want & SV_WANT_ID)
	{
		if (nulls[c])
			mk_error(ERRCODE_NULL_VALUE_NOT_ALLOWED, NULL,
					 "row %lld of the %s query has a NULL id", (long long) (row + 1), argname);
		idv = sv_to_int64(values[c], r->coltype[c]);
		c++;
	}
	if (r->want & SV_WANT_LABEL)
	{
		if (nulls[c])
			mk_error(ERRCODE_NULL_VALUE_NOT_ALLOWED, NULL,
					 "row %lld of the %s query has a NULL cluster", (long long) (row + 1), argname);
		labelv = sv_to_int64(values[c], r->coltype[c]);
		if (labelv < 0 || labelv > PG_INT32_MAX)
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE, "Clusters are numbered from 0.",
					 "row %lld of the %s query has cluster %lld", (long long) (row + 1),
					 argname, (long long) labelv);
		c++;
	}
	old = MemoryContextSwitchTo(r->rowcxt);
	if (p->d == 0)
	{
		/* The first array fixes the dimension. */
		ArrayType  *a;

		if (nulls[lead])
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
					 "Filter such rows out in the points query (WHERE ... IS NOT NULL) or fill them in.",
					 "point %lld (row 1 of the points query) has a NULL coordinate",
					 (long long) ((r->want & SV_WANT_ID) ? idv : 1));
		a = DatumGetArrayTypeP(values[lead]);
		p->d = ARR_NDIM(a) == 1 ? ARR_DIMS(a)[0] : 0;
		if (p->d < 1)
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
					 "Each point is a one-dimensional array of its coordinates.",
					 "the first point of the %s query has an empty or multi-dimensional array",
					 argname);
	}
	MemoryContextSwitchTo(old);
	sv_grow(p, &r->cap, row + 1);
	if (p->id)
		p->id[row] = idv;
	if (p->label)
		p->label[row] = (int32) labelv;
	dst = p->x + row * p->d;
	if (r->arrays)
	{
		ArrayType  *a;

		if (nulls[lead])
			sv_bad_value(p, row, "NULL");
		old = MemoryContextSwitchTo(r->rowcxt);
		a = DatumGetArrayTypeP(values[lead]);
		if (ARR_NDIM(a) != 1 || ARR_DIMS(a)[0] != p->d)
			mk_error(ERRCODE_ARRAY_SUBSCRIPT_ERROR,
					 "Every point of one run has the same number of coordinates.",
					 "point %lld (row %lld of the %s query) has %d coordinates, the first had %d",
					 (long long) (p->id ? p->id[row] : row + 1), (long long) (row + 1),
					 argname, ARR_NDIM(a) == 1 ? ARR_DIMS(a)[0] : 0, p->d);
		if (ARR_HASNULL(a))
			sv_bad_value(p, row, "NULL");
		if (r->elemtype == FLOAT8OID)
			memcpy(dst, mk_array_data(a), sizeof(double) * p->d);
		else
		{
			Datum	   *ev;
			int			ne;

			deconstruct_array(a, r->elemtype, r->elmlen, r->elmbyval, r->elmalign, &ev, NULL, &ne);
			for (int j = 0; j < ne; j++)
				dst[j] = mk_number_to_double(ev[j], r->elemtype);
		}
		MemoryContextSwitchTo(old);
	}
	else
	{
		old = MemoryContextSwitchTo(r->rowcxt);
		for (int j = 0; j < p->d; j++)
		{
			if (nulls[lead + j])
				sv_bad_value(p, row, "NULL");
			dst[j] = mk_number_to_double(values[lead + j], r->coltype[lead + j]);
		}
		MemoryContextSwitchTo(old);
	}
	for (int j = 0; j < p->d; j++)
		if (!isfinite(dst[j]))
			sv_bad_value(p, row, isnan(dst[j]) ? "NaN" : "infinite");
	p->n++;
}

/* Rows per fetch: amortises the cursor's overhead, a few MB at most. */
#define SV_BATCH 10000

void
sv_points_load(SvPoints *p, const char *query, const char *argname, int want)
{
	MkQueryReader q;
	SvReader	r;
	SPITupleTable *tt;
	Datum	   *values;
	bool	   *nulls;

	memset(p, 0, sizeof(*p));
	p->limit = survey_work_mem_bytes();
	p->x = palloc(sizeof(double));
	if (want & SV_WANT_ID)
		p->id = palloc(sizeof(int64));
	if (want & SV_WANT_LABEL)
		p->label = palloc(sizeof(int32));

	memset(&r, 0, sizeof(r));
	r.p = p;
	r.argname = argname;
	r.want = want;
	r.lead = ((want & SV_WANT_ID) ? 1 : 0) + ((want & SV_WANT_LABEL) ? 1 : 0);
	r.rowcxt = AllocSetContextCreate(CurrentMemoryContext, "survey points rows",
									 ALLOCSET_DEFAULT_SIZES);

	mk_query_open(&q, query, argname,
				  (want & SV_WANT_LABEL) ? "Give a SELECT that returns the cluster and the coordinates of each point."
				  : "Give a SELECT that returns an id and the coordinates of each point.");
	sv_reader_startup(&r, q.desc);
	values = palloc(sizeof(Datum) * q.desc->natts);
	nulls = palloc(sizeof(bool) * q.desc->natts);
	while ((tt = mk_query_fetch(&q, SV_BATCH)) != NULL)
	{
		for (uint64 i = 0; i < q.nrows; i++)
		{
			heap_deform_tuple(tt->vals[i], tt->tupdesc, values, nulls);
			sv_reader_row(&r, values, nulls);
		}
		MemoryContextReset(r.rowcxt);
	}
	mk_query_close(&q);
	MemoryContextDelete(r.rowcxt);
}

void
sv_standardize(SvPoints *p, double *mean, double *scale)
{
	for (int j = 0; j < p->d; j++)
	{
		double		m = 0,
					ss = 0;

		CHECK_FOR_INTERRUPTS();
		for (int64 i = 0; i < p->n; i++)
			m += p->x[i * p->d + j];
		m /= Max(p->n, 1);
		for (int64 i = 0; i < p->n; i++)
		{
			double		t = p->x[i * p->d + j] - m;

			ss += t * t;
		}
		mean[j] = m;
		scale[j] = (ss > 0) ? sqrt(ss / p->n) : 1.0;
		for (int64 i = 0; i < p->n; i++)
			p->x[i * p->d + j] = (p->x[i * p->d + j] - m) / scale[j];
	}
}

double *
sv_matrix_arg(ArrayType *a, const char *argname, int *k, int *d)
{
	Datum	   *ev;
	bool	   *en;
	int			ne;
	double	   *m;

	if (ARR_ELEMTYPE(a) != FLOAT8OID)
		elog(ERROR, "%s: expected float8[]", argname);
	if (ARR_NDIM(a) != 2)
		mk_error(ERRCODE_ARRAY_SUBSCRIPT_ERROR,
				 "Give one row per centroid: ARRAY[[x1, y1], [x2, y2]].",
				 "argument \"%s\" must be a two-dimensional array, not %d-dimensional",
				 argname, ARR_NDIM(a));
	*k = ARR_DIMS(a)[0];
	*d = ARR_DIMS(a)[1];
	deconstruct_array(a, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &ev, &en, &ne);
	m = palloc(sizeof(double) * Max(ne, 1));
	for (int i = 0; i < ne; i++)
	{
		if (en[i] || !isfinite(DatumGetFloat8(ev[i])))
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL,
					 "argument \"%s\" has a NULL, NaN or infinite value in row %d",
					 argname, i / *d + 1);
		m[i] = DatumGetFloat8(ev[i]);
	}
	return m;
}

ArrayType *
sv_matrix_datum(const double *m, int k, int d)
{
	Datum	   *ev = palloc(sizeof(Datum) * Max(k * d, 1));
	int			dims[2] = {k, d};
	int			lbs[2] = {1, 1};

	for (int i = 0; i < k * d; i++)
		ev[i] = Float8GetDatum(m[i]);
	return construct_md_array(ev, NULL, 2, dims, lbs, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

int
sv_nearest(const double *x, const double *c, int k, int d, double *dist2)
{
	int			best = 0;
	double		bd = sv_dist2(x, c, d);

	for (int j = 1; j < k; j++)
	{
		double		t = sv_dist2(x, c + (Size) j * d, d);

		if (t < bd)
		{
			bd = t;
			best = j;
		}
	}
	if (dist2)
		*dist2 = bd;
	return best;
}
