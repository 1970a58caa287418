/*
 * likert.c: the percentage index of a Likert questionnaire, as Indonesian
 * acceptance surveys compute it: each answer weighs its scale point (1 for
 * the lowest option .. m for the highest), the weighted total is divided
 * by the total had everyone chosen the highest option, and the percentage
 * falls in one of five 20% bands.  With weights 1..5 the lowest possible
 * index is 20%, so the first band is only reached with other weights.
 */
#include "core/mekatek.h"
#include "survey/survey.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"

static const char *const sv_likert_band[] = {
	"strongly disagree", "disagree", "neutral", "agree", "strongly agree"
};

PG_FUNCTION_INFO_V1(mk_likert_index);
Datum
mk_likert_index(PG_FUNCTION_ARGS)
{
	ArrayType  *counts;
	Datum	   *cv;
	bool	   *cn;
	int			nc;
	int			items,
				options;
	int64	   *w;
	int64		wmax = 0,
				responses = 0,
				total = 0,
				maxtotal;
	bool	   *reverse;
	double		pct;
	int			band;
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {0};

	mk_arg_not_null(fcinfo, 0, "counts");
	counts = PG_GETARG_ARRAYTYPE_P(0);
	if (ARR_NDIM(counts) == 1)
	{
		items = 1;
		options = ARR_DIMS(counts)[0];
	}
	else if (ARR_NDIM(counts) == 2)
	{
		items = ARR_DIMS(counts)[0];
		options = ARR_DIMS(counts)[1];
	}
	else
		mk_error(ERRCODE_ARRAY_SUBSCRIPT_ERROR,
				 "Give one item's counts per option, or one row of counts per item.",
				 "argument \"counts\" must have one or two dimensions, not %d", ARR_NDIM(counts));
	if (options < 2)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL,
				 "argument \"counts\" must have at least two options per item, not %d", options);
	deconstruct_array(counts, INT4OID, 4, true, TYPALIGN_INT, &cv, &cn, &nc);

	w = palloc(sizeof(int64) * options);
	if (PG_ARGISNULL(1))
		for (int o = 0; o < options; o++)
			w[o] = o + 1;
	else
	{
		ArrayType  *wa = PG_GETARG_ARRAYTYPE_P(1);
		Datum	   *wv;
		bool	   *wn;
		int			nw;

		deconstruct_array(wa, INT4OID, 4, true, TYPALIGN_INT, &wv, &wn, &nw);
		if (ARR_NDIM(wa) != 1 || nw != options)
			mk_error(ERRCODE_ARRAY_SUBSCRIPT_ERROR, NULL,
					 "argument \"weights\" has %d values but the counts have %d options", nw, options);
		for (int o = 0; o < options; o++)
		{
			if (wn[o] || DatumGetInt32(wv[o]) < 0)
				mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL,
						 "argument \"weights\" has a NULL or negative weight at option %d", o + 1);
			w[o] = DatumGetInt32(wv[o]);
		}
	}
	for (int o = 0; o < options; o++)
		wmax = Max(wmax, w[o]);
	if (wmax == 0)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL, "argument \"weights\" is all zero");

	reverse = palloc0(sizeof(bool) * items);
	if (!PG_ARGISNULL(2))
	{
		Datum	   *rv;
		bool	   *rn;
		int			nr;

		deconstruct_array(PG_GETARG_ARRAYTYPE_P(2), INT4OID, 4, true, TYPALIGN_INT, &rv, &rn, &nr);
		for (int r = 0; r < nr; r++)
		{
			int			it = rn[r] ? 0 : DatumGetInt32(rv[r]);

			if (it < 1 || it > items)
				mk_error(ERRCODE_INVALID_PARAMETER_VALUE, "Items are numbered from 1 in the order of the rows of counts.",
						 "argument \"reverse_items\" names item %d, not between 1 and %d", it, items);
			reverse[it - 1] = true;
		}
	}

	for (int i = 0; i < items; i++)
		for (int o = 0; o < options; o++)
		{
			int			idx = i * options + o;
			int64		c;

			if (cn[idx] || DatumGetInt32(cv[idx]) < 0)
				mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL,
						 "argument \"counts\" has a NULL or negative count at item %d, option %d",
						 i + 1, o + 1);
			c = DatumGetInt32(cv[idx]);
			responses += c;
			/* A reverse-worded item's "strongly agree" is the lowest score. */
			total += c * w[reverse[i] ? options - 1 - o : o];
		}
	if (responses == 0)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL, "argument \"counts\" holds no answer");
	maxtotal = responses * wmax;
	pct = 100.0 * total / maxtotal;
	band = Min((int) (pct / 20), 4);

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "likert_index must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = Int64GetDatum(responses);
	values[1] = Int64GetDatum(total);
	values[2] = Int64GetDatum(maxtotal);
	values[3] = Float8GetDatum(pct);
	values[4] = CStringGetTextDatum(sv_likert_band[band]);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
