/*
 * smarter.c: rank weights for SMARTER (Edwards and Barron, "SMARTS and
 * SMARTER: improved simple methods for multiattribute utility
 * measurement", OBHDP 60, 1994).  Criteria are ranked by importance; rank
 * order centroid weights are w_i = (1/n) sum_{j=i..n} 1/j, the centroid of
 * the simplex w_1 >= w_2 >= ... >= w_n >= 0, sum 1.  Rank sum weights are
 * proportional to n + 1 - i, rank reciprocal weights to 1/i.  Tied
 * criteria share the mean of the weights of the positions they occupy.
 */
#include "core/mekatek.h"
#include "survey/survey.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"

typedef enum
{
	SV_ROC, SV_RS, SV_RR
} SvRankMethod;

static SvRankMethod
sv_rank_method(const char *m)
{
	if (strcmp(m, "roc") == 0 || strcmp(m, "rank_order_centroid") == 0)
		return SV_ROC;
	if (strcmp(m, "rs") == 0 || strcmp(m, "rank_sum") == 0)
		return SV_RS;
	if (strcmp(m, "rr") == 0 || strcmp(m, "rank_reciprocal") == 0)
		return SV_RR;
	mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
			 "method is 'roc' (rank order centroid), 'rank_sum' or 'rank_reciprocal'.",
			 "argument \"method\" must be 'roc', 'rank_sum' or 'rank_reciprocal', not \"%.40s\"", m);
	return SV_ROC;				/* not reached */
}

/* Weights of positions 1..n. */
static void
sv_position_weights(int n, SvRankMethod m, double *w)
{
	double		sum = 0;

	switch (m)
	{
		case SV_ROC:
			/* Summed from the smallest term up, for the last bits. */
			for (int i = n; i >= 1; i--)
			{
				sum += 1.0 / i;
				w[i - 1] = sum / n;
			}
			break;
		case SV_RS:
			for (int i = 1; i <= n; i++)
				w[i - 1] = 2.0 * (n + 1 - i) / ((double) n * (n + 1));
			break;
		case SV_RR:
			for (int i = n; i >= 1; i--)
				sum += 1.0 / i;
			for (int i = 1; i <= n; i++)
				w[i - 1] = (1.0 / i) / sum;
			break;
	}
}

static ArrayType *
sv_float8_array(const double *v, int n)
{
	Datum	   *ev = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		ev[i] = Float8GetDatum(v[i]);
	return construct_array(ev, n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

PG_FUNCTION_INFO_V1(mk_roc_weights);
Datum
mk_roc_weights(PG_FUNCTION_ARGS)
{
	int			k = mk_arg_int32_range(fcinfo, 0, "k", 1, 100000);
	double	   *w = palloc(sizeof(double) * k);

	sv_position_weights(k, SV_ROC, w);
	PG_RETURN_ARRAYTYPE_P(sv_float8_array(w, k));
}

PG_FUNCTION_INFO_V1(mk_rank_weights);
Datum
mk_rank_weights(PG_FUNCTION_ARGS)
{
	ArrayType  *ra;
	Datum	   *rv;
	bool	   *rn;
	int			n;
	SvRankMethod m;
	double	   *pw,
			   *w;

	mk_arg_not_null(fcinfo, 0, "ranks");
	ra = PG_GETARG_ARRAYTYPE_P(0);
	m = sv_rank_method(mk_arg_cstring(fcinfo, 1, "method", false));
	if (ARR_NDIM(ra) != 1)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL,
				 "argument \"ranks\" must be a one-dimensional, non-empty array");
	deconstruct_array(ra, INT4OID, 4, true, TYPALIGN_INT, &rv, &rn, &n);
	for (int i = 0; i < n; i++)
		if (rn[i] || DatumGetInt32(rv[i]) < 1)
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE, "Rank 1 is the most important criterion.",
					 "argument \"ranks\" has a NULL or non-positive rank at position %d", i + 1);
	pw = palloc(sizeof(double) * n);
	w = palloc(sizeof(double) * n);
	sv_position_weights(n, m, pw);
	for (int i = 0; i < n; i++)
	{
		int			r = DatumGetInt32(rv[i]);
		int			before = 0,
					tied = 0;
		double		s = 0;

		/* The positions of rank r: after every smaller rank, one per tie. */
		for (int j = 0; j < n; j++)
		{
			before += DatumGetInt32(rv[j]) < r;
			tied += DatumGetInt32(rv[j]) == r;
		}
		for (int p = before; p < before + tied; p++)
			s += pw[p];
		w[i] = s / tied;
	}
	PG_RETURN_ARRAYTYPE_P(sv_float8_array(w, n));
}
