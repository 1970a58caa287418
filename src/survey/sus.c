/*
 * sus.c: System Usability Scale scores (Brooke 1996) and their summary.
 *
 * Standard scoring: the odd, positively worded items contribute answer - 1,
 * the even, negatively worded ones 5 - answer; the sum of the ten
 * contributions (0..40) times 2.5 is the score (0..100).  The all-positive
 * variant (Sauro and Lewis, CHI 2011) words every item positively: each
 * contributes answer - 1.
 *
 * The summary interprets the mean score three ways, each from a published
 * table:
 *   - adjective: the nearest of the mean scores of Bangor, Kortum and
 *     Miller's adjective ratings (J. Usability Studies 4(3), 2009, table 3:
 *     worst imaginable 12.5, awful 20.3, poor 35.7, OK 50.9, good 71.4,
 *     excellent 85.5, best imaginable 90.9);
 *   - acceptability: Bangor, Kortum and Miller's ranges (IJHCI 24(6), 2008,
 *     figure 13): not acceptable below 50, marginal (low) 50 to 62.5,
 *     marginal (high) 62.5 to 70, acceptable from 70;
 *   - grade and percentile: Sauro and Lewis's curved grading scale
 *     (Quantifying the User Experience, 2nd ed. 2016, table 8.5), the
 *     percentile interpolated linearly inside each grade's score range.
 * The 95% confidence interval of the mean uses Student's t with n - 1
 * degrees of freedom.
 */
#include "core/mekatek.h"
#include "survey/survey.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"

static double
sv_sus_of_array(ArrayType *a, bool all_positive)
{
	Datum	   *ev;
	bool	   *en;
	int			ne;
	int			sum = 0;

	if (ARR_NDIM(a) != 1 || ARR_DIMS(a)[0] != 10)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
				 "Give the ten answers in questionnaire order, each 1 (strongly disagree) to 5.",
				 "a SUS response has exactly 10 answers, not %d",
				 ARR_NDIM(a) == 1 ? ARR_DIMS(a)[0] : 0);
	deconstruct_array(a, INT2OID, 2, true, TYPALIGN_SHORT, &ev, &en, &ne);
	for (int i = 0; i < 10; i++)
	{
		int			x;

		if (en[i])
			mk_error(ERRCODE_NULL_VALUE_NOT_ALLOWED,
					 "SUS is scored only on complete responses; drop or follow up this one.",
					 "SUS answer %d is NULL", i + 1);
		x = DatumGetInt16(ev[i]);
		if (x < 1 || x > 5)
			mk_error(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
					 "SUS answers are 1 (strongly disagree) to 5 (strongly agree).",
					 "SUS answer %d is %d, not between 1 and 5", i + 1, x);
		sum += (all_positive || i % 2 == 0) ? x - 1 : 5 - x;
	}
	return sum * 2.5;
}

PG_FUNCTION_INFO_V1(mk_sus_score);
Datum
mk_sus_score(PG_FUNCTION_ARGS)
{
	mk_arg_not_null(fcinfo, 0, "answers");
	mk_arg_not_null(fcinfo, 1, "all_positive");
	PG_RETURN_FLOAT8(sv_sus_of_array(PG_GETARG_ARRAYTYPE_P(0), PG_GETARG_BOOL(1)));
}

/* Student's t quantile for 0.975 and df degrees of freedom. */
static double
sv_t975(int64 df)
{
	static const double table[30] = {
		12.706204736, 4.302652730, 3.182446305, 2.776445105, 2.570581836,
		2.446911851, 2.364624252, 2.306004135, 2.262157163, 2.228138852,
		2.200985160, 2.178812830, 2.160368656, 2.144786688, 2.131449546,
		2.119905299, 2.109815578, 2.100922040, 2.093024054, 2.085963447,
		2.079613845, 2.073873068, 2.068657610, 2.063898562, 2.059538553,
		2.055529439, 2.051830516, 2.048407142, 2.045229642, 2.042272456};
	double		z = 1.959963984540054,
				v = (double) df,
				z3 = z * z * z,
				z5 = z3 * z * z,
				z7 = z5 * z * z,
				z9 = z7 * z * z;

	if (df <= 30)
		return table[df - 1];
	/* Cornish-Fisher expansion (Abramowitz and Stegun 26.7.5). */
	return z + (z3 + z) / 4 / v + (5 * z5 + 16 * z3 + 3 * z) / 96 / (v * v)
		+ (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / 384 / (v * v * v)
		+ (79 * z9 + 776 * z7 + 1482 * z5 - 1920 * z3 - 945 * z) / 92160 / (v * v * v * v);
}

static const char *
sv_bangor_adjective(double m)
{
	static const double means[] = {12.5, 20.3, 35.7, 50.9, 71.4, 85.5, 90.9};
	static const char *const names[] = {"worst imaginable", "awful", "poor", "OK",
	"good", "excellent", "best imaginable"};
	int			best = 0;

	for (int i = 1; i < 7; i++)
		if (fabs(m - means[i]) < fabs(m - means[best]))
			best = i;
	return names[best];
}

static const char *
sv_bangor_acceptability(double m)
{
	return m < 50 ? "not acceptable" : m < 62.5 ? "marginal (low)" :
		m < 70 ? "marginal (high)" : "acceptable";
}

/* Sauro and Lewis's curved grading scale: lowest score of each grade. */
static const struct
{
	double		lo,
				hi;				/* score range */
	double		plo,
				phi;			/* percentile range */
	const char *grade;
}			sv_cgs[] = {
	{84.1, 100, 96, 100, "A+"}, {80.8, 84.0, 90, 95, "A"}, {78.9, 80.7, 85, 89, "A-"},
	{77.2, 78.8, 80, 84, "B+"}, {74.1, 77.1, 70, 79, "B"}, {72.6, 74.0, 65, 69, "B-"},
	{71.1, 72.5, 60, 64, "C+"}, {65.0, 71.0, 41, 59, "C"}, {62.7, 64.9, 35, 40, "C-"},
	{51.7, 62.6, 15, 34, "D"}, {0, 51.6, 0, 14, "F"}
};

static int
sv_cgs_row(double m)
{
	/* A mean between two ranges (such as 80.75) belongs to the upper one. */
	for (int i = 0; i < (int) lengthof(sv_cgs) - 1; i++)
		if (m > sv_cgs[i + 1].hi)
			return i;
	return lengthof(sv_cgs) - 1;
}

static double
sv_cgs_percentile(double m)
{
	int			r = sv_cgs_row(m);
	double		lo = sv_cgs[r].lo,
				hi = sv_cgs[r].hi,
				t = (Min(Max(m, lo), hi) - lo) / (hi - lo);

	return sv_cgs[r].plo + t * (sv_cgs[r].phi - sv_cgs[r].plo);
}

PG_FUNCTION_INFO_V1(mk_sus_interpret);
Datum
mk_sus_interpret(PG_FUNCTION_ARGS)
{
	double		m = mk_arg_float8_range(fcinfo, 0, "score", 0, 100);
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {0};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "sus_interpret must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = CStringGetTextDatum(sv_bangor_adjective(m));
	values[1] = CStringGetTextDatum(sv_bangor_acceptability(m));
	values[2] = CStringGetTextDatum(sv_cgs[sv_cgs_row(m)].grade);
	values[3] = Float8GetDatum(sv_cgs_percentile(m));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* The aggregate's state: the scores so far (the median needs them all). */
typedef struct SvSus
{
	int64		n;
	int64		cap;
	double	   *v;
} SvSus;

static SvSus *
sv_sus_new(MemoryContext cxt, int64 cap)
{
	SvSus	   *s = MemoryContextAllocZero(cxt, sizeof(SvSus));

	s->cap = Max(cap, 16);
	s->v = MemoryContextAllocHuge(cxt, sizeof(double) * s->cap);
	return s;
}

static void
sv_sus_push(SvSus *s, double x)
{
	if (s->n == s->cap)
	{
		s->cap *= 2;
		s->v = repalloc_huge(s->v, sizeof(double) * s->cap);
	}
	s->v[s->n++] = x;
}

PG_FUNCTION_INFO_V1(mk_sus_summary_trans);
Datum
mk_sus_summary_trans(PG_FUNCTION_ARGS)
{
	MemoryContext cxt;
	SvSus	   *s = PG_ARGISNULL(0) ? NULL : (SvSus *) PG_GETARG_POINTER(0);
	bool		allpos = PG_NARGS() > 2 && !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);
	MemoryContext old;

	if (!AggCheckCallContext(fcinfo, &cxt))
		elog(ERROR, "sus_summary called in non-aggregate context");
	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(s);
	if (s == NULL)
		s = sv_sus_new(cxt, 16);
	old = MemoryContextSwitchTo(cxt);
	sv_sus_push(s, sv_sus_of_array(PG_GETARG_ARRAYTYPE_P(1), allpos));
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(mk_sus_summary_combine);
Datum
mk_sus_summary_combine(PG_FUNCTION_ARGS)
{
	MemoryContext cxt;
	SvSus	   *a = PG_ARGISNULL(0) ? NULL : (SvSus *) PG_GETARG_POINTER(0);
	SvSus	   *b = PG_ARGISNULL(1) ? NULL : (SvSus *) PG_GETARG_POINTER(1);

	if (!AggCheckCallContext(fcinfo, &cxt))
		elog(ERROR, "sus_summary called in non-aggregate context");
	if (b == NULL)
		PG_RETURN_POINTER(a);
	if (a == NULL)
		a = sv_sus_new(cxt, b->n);
	for (int64 i = 0; i < b->n; i++)
		sv_sus_push(a, b->v[i]);
	PG_RETURN_POINTER(a);
}

PG_FUNCTION_INFO_V1(mk_sus_summary_serialize);
Datum
mk_sus_summary_serialize(PG_FUNCTION_ARGS)
{
	SvSus	   *s = (SvSus *) PG_GETARG_POINTER(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint64(&buf, s->n);
	for (int64 i = 0; i < s->n; i++)
		pq_sendfloat8(&buf, s->v[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(mk_sus_summary_deserialize);
Datum
mk_sus_summary_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext cxt;
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	StringInfoData buf;
	SvSus	   *s;
	int64		n;

	if (!AggCheckCallContext(fcinfo, &cxt))
		elog(ERROR, "sus_summary called in non-aggregate context");
	buf.data = VARDATA_ANY(b);
	buf.len = VARSIZE_ANY_EXHDR(b);
	buf.maxlen = buf.len;
	buf.cursor = 0;
	n = pq_getmsgint64(&buf);
	if (n < 0 || (Size) buf.len != 8 + (Size) n * 8)
		elog(ERROR, "sus_summary: malformed serialized state");
	s = sv_sus_new(cxt, n);
	for (int64 i = 0; i < n; i++)
		s->v[s->n++] = pq_getmsgfloat8(&buf);
	PG_RETURN_POINTER(s);
}

static int
sv_cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

PG_FUNCTION_INFO_V1(mk_sus_summary_final);
Datum
mk_sus_summary_final(PG_FUNCTION_ARGS)
{
	SvSus	   *s = PG_ARGISNULL(0) ? NULL : (SvSus *) PG_GETARG_POINTER(0);
	TupleDesc	tupdesc;
	Datum		values[10];
	bool		nulls[10] = {0};
	double		mean = 0,
				ss = 0;
	double	   *sorted;
	int64		n;

	if (s == NULL || s->n == 0)
		PG_RETURN_NULL();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "sus_summary must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);
	n = s->n;
	for (int64 i = 0; i < n; i++)
		mean += s->v[i];
	mean /= n;
	for (int64 i = 0; i < n; i++)
		ss += (s->v[i] - mean) * (s->v[i] - mean);
	/* The state is shared with other aggregates of the query: sort a copy. */
	sorted = palloc_extended(sizeof(double) * n, MCXT_ALLOC_HUGE);
	memcpy(sorted, s->v, sizeof(double) * n);
	qsort(sorted, n, sizeof(double), sv_cmp_double);

	values[0] = Int64GetDatum(n);
	values[1] = Float8GetDatum(mean);
	if (n > 1)
	{
		double		sd = sqrt(ss / (n - 1));
		double		half = sv_t975(n - 1) * sd / sqrt((double) n);

		values[2] = Float8GetDatum(sd);
		values[3] = Float8GetDatum(mean - half);
		values[4] = Float8GetDatum(mean + half);
	}
	else
		nulls[2] = nulls[3] = nulls[4] = true;
	values[5] = Float8GetDatum(n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2);
	values[6] = CStringGetTextDatum(sv_bangor_adjective(mean));
	values[7] = CStringGetTextDatum(sv_bangor_acceptability(mean));
	values[8] = CStringGetTextDatum(sv_cgs[sv_cgs_row(mean)].grade);
	values[9] = Float8GetDatum(sv_cgs_percentile(mean));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
