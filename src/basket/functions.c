/*
 * functions.c: the SQL face of the basket engine (engine.c):
 * mekatek.frequent_itemsets, mekatek.apriori and mekatek.basket_mine.
 */
#include "core/mekatek.h"
#include "basket/engine.h"

#include <limits.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"


typedef struct BkArgs
{
	char	   *query;
	double		min_support;
	double		min_confidence; /* -1: no rules */
	int			max_len;		/* 0: no limit */
} BkArgs;

/* Validate the arguments; argument numbers are those of mekatek.apriori. */
static void
bk_args(FunctionCallInfo fcinfo, int first, bool rules, BkArgs *a)
{
	int			argmaxlen = first + (rules ? 3 : 2);

	a->query = mk_arg_cstring(fcinfo, first, "transactions", false);
	mk_arg_not_null(fcinfo, first + 1, "min_support");
	a->min_support = PG_GETARG_FLOAT8(first + 1);
	if (isnan(a->min_support) || a->min_support <= 0 || a->min_support > 1)
		mk_error(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
				 "min_support is a fraction of the transactions: 0.01 means 1%.",
				 "argument \"min_support\" must be greater than 0 and at most 1, not %g",
				 a->min_support);
	a->min_confidence = -1;
	if (rules)
		a->min_confidence = mk_arg_float8_range(fcinfo, first + 2, "min_confidence", 0, 1);
	a->max_len = 0;
	if (!PG_ARGISNULL(argmaxlen))
		a->max_len = mk_arg_int32_range(fcinfo, argmaxlen, "max_len", 1, INT_MAX);
}

/* Connect to SPI first: the engine lives in SPI's procedure context. */
static BasketResult *
bk_mine(const BkArgs *a, BasketEngine **engp)
{
	BasketEngine *eng = basket_engine_create(CurrentMemoryContext, basket_work_mem_bytes());
	BasketResult *res;
	instr_time	t0;
	instr_time	t1;
	instr_time	t2;

	INSTR_TIME_SET_CURRENT(t0);
	basket_engine_load_query(eng, a->query);
	INSTR_TIME_SET_CURRENT(t1);
	res = basket_engine_mine(eng, a->min_support, a->min_confidence, a->max_len);
	INSTR_TIME_SET_CURRENT(t2);
	INSTR_TIME_SUBTRACT(t2, t1);
	INSTR_TIME_SUBTRACT(t1, t0);
	ereport(DEBUG1,
			(errmsg_internal("basket: %lld transactions, %d frequent items, %lld itemsets, %lld rules, peak %zu bytes, read %.1f ms, mined %.1f ms",
							 (long long) res->ntransactions, res->nitems,
							 (long long) res->nitemsets, (long long) res->nrules,
							 res->peak_bytes, INSTR_TIME_GET_MILLISEC(t1),
							 INSTR_TIME_GET_MILLISEC(t2))));
	*engp = eng;
	return res;
}

/* text datums of the frequent items, made once */
static Datum *
bk_item_texts(BasketResult *res)
{
	Datum	   *t = palloc(sizeof(Datum) * Max(res->nitems, 1));

	for (int32 i = 0; i < res->nitems; i++)
		t[i] = PointerGetDatum(cstring_to_text(res->item_name[i]));
	return t;
}

static Datum
bk_array(const Datum *texts, const int32 *items, int32 len, int32 skip, Datum *buf)
{
	int			n = 0;

	for (int32 i = 0; i < len; i++)
		if (items[i] != skip)
			buf[n++] = texts[items[i]];
	return PointerGetDatum(construct_array(buf, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* The measures of a rule, in the order of mekatek.apriori's columns. */
typedef struct BkMeasures
{
	double		support;
	double		confidence;
	double		lift;
	double		leverage;
	double		conviction;
} BkMeasures;

static void
bk_measures(const BasketResult *res, const BasketRule *r, BkMeasures *m)
{
	double		n = (double) res->ntransactions;
	int64		cx = res->itemsets[r->itemset].count;
	double		sc = (double) res->item_count[r->consequent] / n;

	m->support = (double) cx / n;
	m->confidence = r->confidence;
	m->lift = m->confidence / sc;
	m->leverage = m->support - ((double) r->antecedent_count / n) * sc;
	/* a rule that always holds has infinite conviction (as arules says) */
	m->conviction = (cx == r->antecedent_count) ? get_float8_infinity()
		: (1.0 - sc) / (1.0 - m->confidence);
}

PG_FUNCTION_INFO_V1(mk_frequent_itemsets);
Datum
mk_frequent_itemsets(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	BkArgs		a;
	BasketEngine *eng;
	BasketResult *res;
	Datum	   *texts;
	Datum	   *buf;
	MemoryContext rowcxt;

	bk_args(fcinfo, 0, false, &a);
	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	res = bk_mine(&a, &eng);
	texts = bk_item_texts(res);
	buf = palloc(sizeof(Datum) * Max(res->nitems, 1));
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "basket row", ALLOCSET_SMALL_SIZES);
	for (int64 s = 0; s < res->nitemsets; s++)
	{
		BasketItemset *set = &res->itemsets[s];
		Datum		values[3];
		bool		nulls[3] = {false, false, false};
		MemoryContext old = MemoryContextSwitchTo(rowcxt);

		values[0] = bk_array(texts, set->items, set->len, -1, buf);
		values[1] = Int64GetDatum(set->count);
		values[2] = Float8GetDatum((double) set->count / (double) res->ntransactions);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(old);
		MemoryContextReset(rowcxt);
	}
	basket_engine_destroy(eng);
	SPI_finish();
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(mk_apriori);
Datum
mk_apriori(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	BkArgs		a;
	BasketEngine *eng;
	BasketResult *res;
	Datum	   *texts;
	Datum	   *buf;
	MemoryContext rowcxt;

	bk_args(fcinfo, 0, true, &a);
	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	res = bk_mine(&a, &eng);
	texts = bk_item_texts(res);
	buf = palloc(sizeof(Datum) * Max(res->nitems, 1));
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "basket row", ALLOCSET_SMALL_SIZES);
	for (int64 k = 0; k < res->nrules; k++)
	{
		BasketRule *r = &res->rules[k];
		BasketItemset *set = &res->itemsets[r->itemset];
		BkMeasures	m;
		Datum		values[8];
		bool		nulls[8] = {0};
		MemoryContext old = MemoryContextSwitchTo(rowcxt);

		bk_measures(res, r, &m);
		values[0] = bk_array(texts, set->items, set->len, r->consequent, buf);
		values[1] = bk_array(texts, &r->consequent, 1, -1, buf);
		values[2] = Float8GetDatum(m.support);
		values[3] = Float8GetDatum(m.confidence);
		values[4] = Float8GetDatum(m.lift);
		values[5] = Float8GetDatum(m.leverage);
		values[6] = Float8GetDatum(m.conviction);
		values[7] = Int64GetDatum(set->count);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(old);
		MemoryContextReset(rowcxt);
	}
	basket_engine_destroy(eng);
	SPI_finish();
	return (Datum) 0;
}

/*
 * mekatek.basket_mine(name, transactions, min_support, min_confidence,
 * max_len): mine once, keep the run, its itemsets and its rules.
 */
PG_FUNCTION_INFO_V1(mk_basket_mine);
Datum
mk_basket_mine(PG_FUNCTION_ARGS)
{
	char	   *name = mk_arg_cstring(fcinfo, 0, "name", false);
	TimestampTz started = GetCurrentTimestamp();
	BkArgs		a;
	BasketEngine *eng;
	BasketResult *res;
	Datum	   *texts;
	Datum	   *buf;
	SPIPlanPtr	plan;
	Oid			runtypes[10] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID, INT8OID,
	INT8OID, FLOAT8OID, FLOAT8OID, INT4OID, TEXTOID};
	Datum		runvals[10];
	char		runnulls[10] = "          ";
	Oid			settypes[4] = {INT8OID, TEXTARRAYOID, INT8OID, FLOAT8OID};
	Oid			ruletypes[10] = {INT8OID, INT4OID, TEXTARRAYOID, TEXTARRAYOID, FLOAT8OID,
	FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID, INT8OID};
	Datum		v[10];
	int64		run_id;
	bool		isnull;
	MemoryContext rowcxt;

	bk_args(fcinfo, 1, true, &a);
	SPI_connect();
	res = bk_mine(&a, &eng);

	runvals[0] = CStringGetTextDatum(name);
	runvals[1] = TimestampTzGetDatum(started);
	runvals[2] = TimestampTzGetDatum(GetCurrentTimestamp());
	runvals[3] = Int64GetDatum(res->ntransactions);
	runvals[4] = Int64GetDatum(res->nitemsets);
	runvals[5] = Int64GetDatum(res->nrules);
	runvals[6] = Float8GetDatum(a.min_support);
	runvals[7] = Float8GetDatum(a.min_confidence);
	runvals[8] = Int32GetDatum(a.max_len);
	if (a.max_len == 0)
		runnulls[8] = 'n';
	runvals[9] = CStringGetTextDatum(a.query);
	mk_spi_execute("INSERT INTO mekatek.basket_run (name, started_at, finished_at, "
				   "transactions, itemsets, rules, min_support, min_confidence, "
				   "max_len, query) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
				   "RETURNING run_id",
				   10, runtypes, runvals, runnulls, false, 1, SPI_OK_INSERT_RETURNING,
				   "basket_mine: recording the run");
	run_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	texts = bk_item_texts(res);
	buf = palloc(sizeof(Datum) * Max(res->nitems, 1));
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "basket row", ALLOCSET_SMALL_SIZES);

	plan = mk_spi_prepare("INSERT INTO mekatek.basket_itemset (run_id, items, count, support) "
						  "VALUES ($1, $2, $3, $4)", 4, settypes, "basket_mine");
	for (int64 s = 0; s < res->nitemsets; s++)
	{
		BasketItemset *set = &res->itemsets[s];
		MemoryContext old = MemoryContextSwitchTo(rowcxt);

		if ((s & 0xff) == 0)
			CHECK_FOR_INTERRUPTS();
		v[0] = Int64GetDatum(run_id);
		v[1] = bk_array(texts, set->items, set->len, -1, buf);
		v[2] = Int64GetDatum(set->count);
		v[3] = Float8GetDatum((double) set->count / (double) res->ntransactions);
		mk_spi_execute_plan(plan, v, NULL, false, 0, SPI_OK_INSERT, "basket_mine: storing the result");
		MemoryContextSwitchTo(old);
		MemoryContextReset(rowcxt);
	}

	plan = mk_spi_prepare("INSERT INTO mekatek.basket_rule (run_id, rule_no, antecedent, consequent, "
						  "support, confidence, lift, leverage, conviction, count) "
						  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)", 10, ruletypes,
						  "basket_mine");
	for (int64 k = 0; k < res->nrules; k++)
	{
		BasketRule *r = &res->rules[k];
		BasketItemset *set = &res->itemsets[r->itemset];
		BkMeasures	m;
		MemoryContext old = MemoryContextSwitchTo(rowcxt);

		if ((k & 0xff) == 0)
			CHECK_FOR_INTERRUPTS();
		bk_measures(res, r, &m);
		v[0] = Int64GetDatum(run_id);
		v[1] = Int32GetDatum((int32) (k + 1));
		v[2] = bk_array(texts, set->items, set->len, r->consequent, buf);
		v[3] = bk_array(texts, &r->consequent, 1, -1, buf);
		v[4] = Float8GetDatum(m.support);
		v[5] = Float8GetDatum(m.confidence);
		v[6] = Float8GetDatum(m.lift);
		v[7] = Float8GetDatum(m.leverage);
		v[8] = Float8GetDatum(m.conviction);
		v[9] = Int64GetDatum(set->count);
		mk_spi_execute_plan(plan, v, NULL, false, 0, SPI_OK_INSERT, "basket_mine: storing the result");
		MemoryContextSwitchTo(old);
		MemoryContextReset(rowcxt);
	}

	basket_engine_destroy(eng);
	SPI_finish();
	PG_RETURN_INT64(run_id);
}
