/*
 * functions.c: the SQL face of the basket engine (engine.c):
 * mekatek.frequent_itemsets, mekatek.apriori and mekatek.basket_mine.
 *
 * In FROM, rows go into the result tuplestore as the engine hands them over
 * (in the documented order after a sort of fixed-size keys, or unordered,
 * or only the top n); in a select list they stream, one per call, from the
 * engine's pull interface: no copy of the result is built in memory.
 */
#include "core/mekatek.h"
#include "basket/engine.h"

#include <limits.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
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


/*
 * Where each option sits in a function's arguments (-1: the function has
 * none).  The SQL signatures are in basket.sql.
 */
typedef struct BkArgPos
{
	int			query,
				min_support,
				min_confidence,
				max_len,
				min_lift,
				min_len,
				max_antecedent,
				max_consequent,
				lhs,
				rhs,
				exclude,
				remove_redundant,
				target,
				ordered,
				top,
				top_by;
} BkArgPos;

static const BkArgPos bk_pos_itemsets = {0, 1, -1, 2, -1, 3, -1, -1, -1, -1, 5, -1, 4, 6, 7, -1};
static const BkArgPos bk_pos_apriori = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, -1, 12, 13, 14};
static const BkArgPos bk_pos_mine = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, -1, -1, -1, -1};

/*
 * An argument the SQL definition passes (0.1.0's definitions, still
 * installed until ALTER EXTENSION UPDATE, pass fewer) and that is not NULL.
 */
static bool
bk_has(FunctionCallInfo fcinfo, int pos)
{
	return pos >= 0 && pos < PG_NARGS();
}

static bool
bk_given(FunctionCallInfo fcinfo, int pos)
{
	return bk_has(fcinfo, pos) && !PG_ARGISNULL(pos);
}

/* A text[] argument as C strings (NULL elements skipped), or NULL. */
static char **
bk_arg_names(FunctionCallInfo fcinfo, int pos, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	int			ne;
	char	  **names;

	*n = 0;
	if (!bk_given(fcinfo, pos))
		return NULL;
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(pos), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &ne);
	names = palloc(sizeof(char *) * Max(ne, 1));
	for (int i = 0; i < ne; i++)
		if (!nulls[i])
			names[(*n)++] = TextDatumGetCString(elems[i]);
	return names;
}

static int
bk_arg_choice(FunctionCallInfo fcinfo, int pos, const char *argname,
			  const char *const *choices, int nchoices)
{
	char	   *v = mk_arg_cstring(fcinfo, pos, argname, true);

	for (int i = 0; i < nchoices; i++)
		if (strcmp(v, choices[i]) == 0)
			return i;
	mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
			 nchoices == 3 ? psprintf("Use '%s', '%s' or '%s'.", choices[0], choices[1], choices[2]) : NULL,
			 "argument \"%s\" must be one of its documented values, not %s",
			 argname, mk_quote_short(v));
	return 0;
}

/* Validate the arguments into *o; returns the query text. */
static char *
bk_args(FunctionCallInfo fcinfo, const BkArgPos *p, BasketOptions *o)
{
	static const char *const targets[] = {"frequent", "closed", "maximal"};
	static const char *const bys[] = {"support", "confidence", "lift"};
	char	   *query = mk_arg_cstring(fcinfo, p->query, "transactions", false);

	basket_options_init(o);
	mk_arg_not_null(fcinfo, p->min_support, "min_support");
	o->min_support = PG_GETARG_FLOAT8(p->min_support);
	if (isnan(o->min_support) || o->min_support <= 0 || o->min_support > 1)
		mk_error(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
				 "min_support is a fraction of the transactions: 0.01 means 1%.",
				 "argument \"min_support\" must be greater than 0 and at most 1, not %g",
				 o->min_support);
	if (bk_has(fcinfo, p->min_confidence))
		o->min_confidence = mk_arg_float8_range(fcinfo, p->min_confidence, "min_confidence", 0, 1);
	if (bk_given(fcinfo, p->max_len))
		o->max_len = mk_arg_int32_range(fcinfo, p->max_len, "max_len", 1, INT_MAX);
	if (bk_given(fcinfo, p->min_lift))
		o->min_lift = mk_arg_float8_range(fcinfo, p->min_lift, "min_lift", 0, get_float8_infinity());
	if (bk_given(fcinfo, p->min_len))
		o->min_len = mk_arg_int32_range(fcinfo, p->min_len, "min_len", 1, INT_MAX);
	if (bk_given(fcinfo, p->max_antecedent))
		o->max_antecedent = mk_arg_int32_range(fcinfo, p->max_antecedent, "max_antecedent", 1, INT_MAX);
	if (bk_has(fcinfo, p->max_consequent))
		o->max_consequent = mk_arg_int32_range(fcinfo, p->max_consequent, "max_consequent", 1, 64);
	o->lhs = bk_arg_names(fcinfo, p->lhs, &o->nlhs);
	o->rhs = bk_arg_names(fcinfo, p->rhs, &o->nrhs);
	o->exclude = bk_arg_names(fcinfo, p->exclude, &o->nexclude);
	if (bk_has(fcinfo, p->remove_redundant))
	{
		mk_arg_not_null(fcinfo, p->remove_redundant, "remove_redundant");
		o->remove_redundant = PG_GETARG_BOOL(p->remove_redundant);
	}
	if (bk_has(fcinfo, p->target))
		o->target = (BasketTarget) bk_arg_choice(fcinfo, p->target, "target", targets, 3);
	if (bk_has(fcinfo, p->ordered))
	{
		mk_arg_not_null(fcinfo, p->ordered, "ordered");
		o->ordered = PG_GETARG_BOOL(p->ordered);
	}
	if (bk_given(fcinfo, p->top))
	{
		o->top = PG_GETARG_INT64(p->top);
		if (o->top < 1 || o->top > PG_INT32_MAX)
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE, "Give NULL for every row.",
					 "argument \"top\" must be between 1 and %d, not %lld",
					 PG_INT32_MAX, (long long) o->top);
	}
	if (bk_has(fcinfo, p->top_by))
		o->top_by = (BasketTopBy) bk_arg_choice(fcinfo, p->top_by, "top_by", bys, 3);
	return query;
}

/* Connect to SPI first: the engine lives in SPI's procedure context. */
static BasketResult *
bk_mine(const char *query, const BasketOptions *o, BasketEngine **engp)
{
	BasketEngine *eng = basket_engine_create(CurrentMemoryContext, basket_work_mem_bytes());
	BasketResult *res;
	instr_time	t0;
	instr_time	t1;
	instr_time	t2;

	INSTR_TIME_SET_CURRENT(t0);
	basket_engine_load_query(eng, query);
	INSTR_TIME_SET_CURRENT(t1);
	res = basket_engine_mine(eng, o);
	INSTR_TIME_SET_CURRENT(t2);
	INSTR_TIME_SUBTRACT(t2, t1);
	INSTR_TIME_SUBTRACT(t1, t0);
	ereport(DEBUG1,
			(errmsg_internal("basket: %lld transactions, %d frequent items, %lld itemsets, peak %zu bytes, read %.1f ms, mined %.1f ms",
							 (long long) res->ntransactions, res->nitems,
							 (long long) res->nitemsets, res->peak_bytes,
							 INSTR_TIME_GET_MILLISEC(t1), INSTR_TIME_GET_MILLISEC(t2))));
	*engp = eng;
	return res;
}

/* The measures of a rule, in the order of mekatek.apriori's columns. */
typedef struct BkMeasures
{
	double		support;
	double		leverage;
	double		conviction;
	double		chi_square;
	double		fisher_p;
} BkMeasures;

/*
 * A rule's measures depend only on its three counts (N is fixed), and in
 * the documented order runs of rules share the antecedent's count and draw
 * consequents from few items: a small direct-mapped cache of them saves
 * most Fisher tail sums, which were the largest part of a row's cost on
 * dense data.  A hit returns the very doubles the computation gave.
 */
#define BK_MCACHE 4096

typedef struct BkMeasureSlot
{
	int64		nx;				/* -1: empty */
	int64		ny;
	int64		nxy;
	BkMeasures	m;
} BkMeasureSlot;

/* What the row functions share: item texts made once, a per-row context. */
typedef struct BkRows
{
	Datum	   *texts;
	Datum	   *buf;
	MemoryContext rowcxt;
	/* where rows go: a tuplestore, or the run log's prepared INSERTs */
	ReturnSetInfo *rsinfo;
	SPIPlanPtr	plan;
	int64		run_id;
	int64		n;
	double	   *lfact;			/* log i! for i <= N, or NULL: lgamma */
	Datum	   *single;			/* one-item arrays, made on first use */
	MemoryContext cxt;			/* where they live */
	/* the last antecedent array: in the documented order rules share it */
	const BasketItemset *ante;
	Datum		ante_array;
	MemoryContext antecxt;
	BkMeasureSlot *mcache;		/* [BK_MCACHE] */
} BkRows;

/*
 * Tabulate log n! when N is at most this (8 MB): lgamma is most of a
 * rule's cost on dense data otherwise.
 */
#define BK_LFACT_MAX (1 << 20)

static void
bk_rows_init(BkRows *rows, const BasketResult *res)
{
	memset(rows, 0, sizeof(*rows));
	rows->texts = palloc(sizeof(Datum) * Max(res->nitems, 1));
	for (int32 i = 0; i < res->nitems; i++)
		rows->texts[i] = PointerGetDatum(cstring_to_text(res->item_name[i]));
	rows->buf = palloc(sizeof(Datum) * Max(res->nitems, 1));
	rows->single = palloc0(sizeof(Datum) * Max(res->nitems, 1));
	rows->mcache = palloc(sizeof(BkMeasureSlot) * BK_MCACHE);
	for (int i = 0; i < BK_MCACHE; i++)
		rows->mcache[i].nx = -1;
	rows->cxt = CurrentMemoryContext;
	rows->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "basket row", ALLOCSET_SMALL_SIZES);
	rows->antecxt = AllocSetContextCreate(CurrentMemoryContext, "basket antecedent",
										  ALLOCSET_SMALL_SIZES);
	if (res->ntransactions <= BK_LFACT_MAX)
	{
		rows->lfact = palloc(sizeof(double) * (res->ntransactions + 1));
		for (int64 i = 0; i <= res->ntransactions; i++)
			rows->lfact[i] = lgamma((double) i + 1);
	}
}

static Datum
bk_array(const BkRows *rows, const BasketItemset *set)
{
	/* most consequents (and many antecedents) are one item: build it once */
	if (set->len == 1)
	{
		int32		it = set->items[0];

		if (rows->single[it] == (Datum) 0)
		{
			MemoryContext old = MemoryContextSwitchTo(rows->cxt);

			rows->single[it] = PointerGetDatum(construct_array(&rows->texts[it], 1, TEXTOID,
															   -1, false, TYPALIGN_INT));
			MemoryContextSwitchTo(old);
		}
		return rows->single[it];
	}
	for (int32 i = 0; i < set->len; i++)
		rows->buf[i] = rows->texts[set->items[i]];
	return PointerGetDatum(construct_array(rows->buf, set->len, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * A rule's antecedent array.  Rules come grouped by antecedent (the
 * documented order sorts them so within a count), so the last one is kept.
 */
static Datum
bk_ante_array(BkRows *rows, const BasketItemset *set)
{
	MemoryContext old;

	if (set->len == 1)
		return bk_array(rows, set);
	if (set == rows->ante)
		return rows->ante_array;
	MemoryContextReset(rows->antecxt);
	old = MemoryContextSwitchTo(rows->antecxt);
	rows->ante_array = bk_array(rows, set);
	rows->ante = set;
	MemoryContextSwitchTo(old);
	return rows->ante_array;
}

/*
 * log n! for n <= N, tabulated once per call when N is at most
 * BK_LFACT_MAX (8 MB), as lgamma is most of a rule's cost on dense data.
 */
static inline double
bk_lf(const double *lfact, double n)
{
	return lfact ? lfact[(int64) n] : lgamma(n + 1);
}

static double
bk_lchoose(const double *lf, double n, double k)
{
	return bk_lf(lf, n) - bk_lf(lf, k) - bk_lf(lf, n - k);
}

/*
 * Fisher's exact test, one-sided for a positive association, as arules'
 * interestMeasure "fishersExactTest": P(K >= nxy) for K hypergeometric
 * (N baskets, ny holding the consequent, nx drawn: those holding the
 * antecedent), i.e. R's phyper(nxy - 1, ny, N - ny, nx, lower.tail = FALSE).
 * Tail terms are summed from the observed count away from the mode; when the
 * count is below the mode the smaller lower tail is summed instead.
 */
static double
bk_fisher_p(const double *lf, double n, double nx, double ny, double nxy)
{
	double		lo = Max(0, nx + ny - n);
	double		hi = Min(nx, ny);
	double		mode = floor((nx + 1) * (ny + 1) / (n + 2));
	double		lbase = bk_lchoose(lf, n, nx);
	bool		upper = nxy > mode;
	double		k = upper ? nxy : nxy - 1;
	double		term;
	double		sum = 0;

	if (!upper && k < lo)
		return 1.0;
	term = exp(bk_lchoose(lf, ny, k) + bk_lchoose(lf, n - ny, nx - k) - lbase);
	for (;;)
	{
		sum += term;
		if (term <= sum * 1e-17)
			break;
		if (upper)
		{
			if (k >= hi)
				break;
			term *= (ny - k) * (nx - k) / ((k + 1) * (n - ny - nx + k + 1));
			k++;
		}
		else
		{
			if (k <= lo)
				break;
			term *= k * (n - ny - nx + k) / ((ny - k + 1) * (nx - k + 1));
			k--;
		}
	}
	if (!upper)
		sum = 1.0 - sum;
	return Min(1.0, Max(0.0, sum));
}

static void
bk_measures_of(const BkRows *rows, const BasketResult *res, const BasketRule *r, BkMeasures *m)
{
	double		n = (double) res->ntransactions;
	double		nx = (double) r->antecedent->count;
	double		ny = (double) r->consequent->count;
	double		nxy = (double) r->count;
	double		sc = ny / n;
	double		d = nxy * (n - nx - ny + nxy) - (nx - nxy) * (ny - nxy);
	double		den = nx * (n - nx) * ny * (n - ny);

	m->support = nxy / n;
	m->leverage = m->support - (nx / n) * sc;
	/* a rule that always holds has infinite conviction (as arules says) */
	m->conviction = (r->count == r->antecedent->count) ? get_float8_infinity()
		: (1.0 - sc) / (1.0 - r->confidence);
	/* Pearson's statistic of the 2x2 table, no continuity correction */
	m->chi_square = den == 0 ? get_float8_nan() : n * (d / nx) * (d / (n - nx)) / ny / (n - ny);
	m->fisher_p = bk_fisher_p(rows->lfact, n, nx, ny, nxy);
}

static void
bk_measures(const BkRows *rows, const BasketResult *res, const BasketRule *r, BkMeasures *m)
{
	int64		nx = r->antecedent->count;
	int64		ny = r->consequent->count;
	uint32		h = murmurhash32((uint32) nx * 0x9e3779b1u + (uint32) ny * 0x85ebca77u +
								 (uint32) r->count);
	BkMeasureSlot *slot = &rows->mcache[h & (BK_MCACHE - 1)];

	if (slot->nx != nx || slot->ny != ny || slot->nxy != r->count)
	{
		bk_measures_of(rows, res, r, &slot->m);
		slot->nx = nx;
		slot->ny = ny;
		slot->nxy = r->count;
	}
	*m = slot->m;
}

static void
bk_put_set(void *arg, const BasketResult *res, const BasketItemset *set)
{
	BkRows	   *rows = arg;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	MemoryContext old = MemoryContextSwitchTo(rows->rowcxt);

	values[0] = bk_array(rows, set);
	values[1] = Int64GetDatum(set->count);
	values[2] = Float8GetDatum((double) set->count / (double) res->ntransactions);
	tuplestore_putvalues(rows->rsinfo->setResult, rows->rsinfo->setDesc, values, nulls);
	MemoryContextSwitchTo(old);
	MemoryContextReset(rows->rowcxt);
}

/* The rule's columns from values[first] on, as mekatek.apriori returns them. */
static void
bk_rule_values(BkRows *rows, const BasketResult *res, const BasketRule *r,
			   Datum *values)
{
	BkMeasures	m;

	bk_measures(rows, res, r, &m);
	values[0] = bk_ante_array(rows, r->antecedent);
	values[1] = bk_array(rows, r->consequent);
	values[2] = Float8GetDatum(m.support);
	values[3] = Float8GetDatum(r->confidence);
	values[4] = Float8GetDatum(r->lift);
	values[5] = Float8GetDatum(m.leverage);
	values[6] = Float8GetDatum(m.conviction);
	values[7] = Int64GetDatum(r->count);
	values[8] = Float8GetDatum(m.chi_square);
	values[9] = Float8GetDatum(m.fisher_p);
}

static void
bk_put_rule(void *arg, const BasketResult *res, const BasketRule *r)
{
	BkRows	   *rows = arg;
	Datum		values[10];
	bool		nulls[10] = {0};
	MemoryContext old = MemoryContextSwitchTo(rows->rowcxt);

	bk_rule_values(rows, res, r, values);
	tuplestore_putvalues(rows->rsinfo->setResult, rows->rsinfo->setDesc, values, nulls);
	MemoryContextSwitchTo(old);
	MemoryContextReset(rows->rowcxt);
}

static Datum
bk_itemsets_materialized(FunctionCallInfo fcinfo)
{
	BasketOptions o;
	char	   *query = bk_args(fcinfo, &bk_pos_itemsets, &o);
	BasketEngine *eng;
	BasketResult *res;
	BkRows		rows;

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	res = bk_mine(query, &o, &eng);
	bk_rows_init(&rows, res);
	rows.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	basket_engine_itemsets(eng, res, &o, bk_put_set, &rows);
	basket_engine_destroy(eng);
	SPI_finish();
	return (Datum) 0;
}

/* In FROM: the rows go into the tuplestore PostgreSQL keeps anyway. */
static Datum
bk_apriori_materialized(FunctionCallInfo fcinfo)
{
	BasketOptions o;
	char	   *query = bk_args(fcinfo, &bk_pos_apriori, &o);
	BasketEngine *eng;
	BasketResult *res;
	BkRows		rows;

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	res = bk_mine(query, &o, &eng);
	bk_rows_init(&rows, res);
	rows.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	rows.n = basket_engine_rules(eng, res, &o, bk_put_rule, &rows);
	ereport(DEBUG1,
			(errmsg_internal("basket: %lld rules, peak %zu bytes",
							 (long long) rows.n, basket_engine_peak(eng))));
	basket_engine_destroy(eng);
	SPI_finish();
	return (Datum) 0;
}

/* What a streamed call keeps between rows (in the multi-call context). */
typedef struct BkStream
{
	BasketOptions o;
	BasketEngine *eng;
	BasketResult *res;
	BasketRuleIter *rules;
	BasketSetIter *sets;
	BkRows		rows;
} BkStream;

/*
 * In FROM (a FunctionScan) PostgreSQL keeps every row in a tuplestore
 * whatever the function does, and says it prefers to be handed one: there
 * the rows go straight into it.  Elsewhere (a select list: a ProjectSet)
 * they are streamed, one per call.
 */
static bool
bk_streams(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	return rsinfo != NULL && IsA(rsinfo, ReturnSetInfo) &&
		!(rsinfo->allowedModes & SFRM_Materialize_Preferred) &&
		(rsinfo->allowedModes & SFRM_ValuePerCall);
}

/*
 * The first call of a streamed one: read and mine the baskets, with SPI
 * connected only for this call (a caller such as a PL/pgSQL loop runs its
 * own queries between our rows), and keep the engine for the later calls.
 */
static FuncCallContext *
bk_stream_start(FunctionCallInfo fcinfo, const BkArgPos *pos)
{
	FuncCallContext *funcctx = SRF_FIRSTCALL_INIT();
	MemoryContext old = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
	BkStream   *st = palloc0(sizeof(BkStream));
	char	   *query = bk_args(fcinfo, pos, &st->o);
	TupleDesc	desc;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "basket: the result type is not a row type");
	funcctx->tuple_desc = BlessTupleDesc(desc);
	SPI_connect();
	/* the engine and the rows' state outlive the SPI connection */
	MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
	st->res = bk_mine(query, &st->o, &st->eng);
	/* reading the baskets may leave SPI's context current */
	MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
	bk_rows_init(&st->rows, st->res);
	SPI_finish();
	MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
	if (pos == &bk_pos_apriori)
		st->rules = basket_rules_begin(st->eng, st->res, &st->o);
	else
		st->sets = basket_itemsets_begin(st->eng, st->res, &st->o);
	funcctx->user_fctx = st;
	MemoryContextSwitchTo(old);
	return funcctx;
}

/* A streamed call's state, started in its first call; NULL in FROM. */
static BkStream *
bk_stream(FunctionCallInfo fcinfo, const BkArgPos *pos, FuncCallContext **funcctx)
{
	if (SRF_IS_FIRSTCALL())
	{
		if (!bk_streams(fcinfo))
			return NULL;
		bk_stream_start(fcinfo, pos);
	}
	*funcctx = SRF_PERCALL_SETUP();
	return (*funcctx)->user_fctx;
}

PG_FUNCTION_INFO_V1(mk_frequent_itemsets);
Datum
mk_frequent_itemsets(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	BkStream   *st = bk_stream(fcinfo, &bk_pos_itemsets, &funcctx);
	const BasketItemset *set;

	if (st == NULL)
		return bk_itemsets_materialized(fcinfo);
	if ((set = basket_itemsets_next(st->sets)) != NULL)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = bk_array(&st->rows, set);
		values[1] = Int64GetDatum(set->count);
		values[2] = Float8GetDatum((double) set->count / (double) st->res->ntransactions);
		SRF_RETURN_NEXT(funcctx, HeapTupleGetDatum(heap_form_tuple(funcctx->tuple_desc,
																   values, nulls)));
	}
	basket_itemsets_end(st->sets);
	basket_engine_destroy(st->eng);
	SRF_RETURN_DONE(funcctx);
}

PG_FUNCTION_INFO_V1(mk_apriori);
Datum
mk_apriori(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	BkStream   *st = bk_stream(fcinfo, &bk_pos_apriori, &funcctx);
	BasketRule	r;

	if (st == NULL)
		return bk_apriori_materialized(fcinfo);
	if (basket_rules_next(st->rules, &r))
	{
		Datum		values[10];
		bool		nulls[10] = {0};

		bk_rule_values(&st->rows, st->res, &r, values);
		SRF_RETURN_NEXT(funcctx, HeapTupleGetDatum(heap_form_tuple(funcctx->tuple_desc,
																   values, nulls)));
	}
	st->rows.n = basket_rules_end(st->rules);
	ereport(DEBUG1,
			(errmsg_internal("basket: %lld rules, peak %zu bytes, streamed",
							 (long long) st->rows.n, basket_engine_peak(st->eng))));
	basket_engine_destroy(st->eng);
	SRF_RETURN_DONE(funcctx);
}

static void
bk_store_set(void *arg, const BasketResult *res, const BasketItemset *set)
{
	BkRows	   *rows = arg;
	Datum		v[4];
	MemoryContext old = MemoryContextSwitchTo(rows->rowcxt);

	if ((rows->n++ & 0xff) == 0)
		CHECK_FOR_INTERRUPTS();
	v[0] = Int64GetDatum(rows->run_id);
	v[1] = bk_array(rows, set);
	v[2] = Int64GetDatum(set->count);
	v[3] = Float8GetDatum((double) set->count / (double) res->ntransactions);
	mk_spi_execute_plan(rows->plan, v, NULL, false, 0, SPI_OK_INSERT, "basket_mine: storing the result");
	MemoryContextSwitchTo(old);
	MemoryContextReset(rows->rowcxt);
}

static void
bk_store_rule(void *arg, const BasketResult *res, const BasketRule *r)
{
	BkRows	   *rows = arg;
	Datum		v[12];
	MemoryContext old = MemoryContextSwitchTo(rows->rowcxt);

	if ((rows->n & 0xff) == 0)
		CHECK_FOR_INTERRUPTS();
	v[0] = Int64GetDatum(rows->run_id);
	v[1] = Int32GetDatum((int32) ++rows->n);
	bk_rule_values(rows, res, r, v + 2);
	mk_spi_execute_plan(rows->plan, v, NULL, false, 0, SPI_OK_INSERT, "basket_mine: storing the result");
	MemoryContextSwitchTo(old);
	MemoryContextReset(rows->rowcxt);
}

static void
bk_count_set(void *arg, const BasketResult *res, const BasketItemset *set)
{
}

static void
bk_count_rule(void *arg, const BasketResult *res, const BasketRule *r)
{
}

/*
 * The run's parameters as jsonb, built by jsonb_build_object from the
 * arguments themselves (NULL ones left out): $1 .. $12 are the arguments
 * of mekatek.basket_mine after the name and the query.
 */
#define BK_PARAMS_SQL \
	"jsonb_strip_nulls(jsonb_build_object('min_support', $11, 'min_confidence', $12, " \
	"'max_len', $13, 'min_lift', $14, 'min_len', $15, 'max_antecedent', $16, " \
	"'max_consequent', $17, 'lhs', $18, 'rhs', $19, 'exclude', $20, " \
	"'remove_redundant', $21))"

/*
 * mekatek.basket_mine(name, transactions, min_support, ...): mine once,
 * keep the run, its itemsets and its rules.
 */
PG_FUNCTION_INFO_V1(mk_basket_mine);
Datum
mk_basket_mine(PG_FUNCTION_ARGS)
{
	char	   *name = mk_arg_cstring(fcinfo, 0, "name", false);
	TimestampTz started = GetCurrentTimestamp();
	BasketOptions o;
	BasketOptions unordered;
	char	   *query = bk_args(fcinfo, &bk_pos_mine, &o);
	BasketEngine *eng;
	BasketResult *res;
	BkRows		rows;
	Oid			runtypes[21] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID, INT8OID,
		INT8OID, FLOAT8OID, FLOAT8OID, INT4OID, TEXTOID,
		FLOAT8OID, FLOAT8OID, INT4OID, FLOAT8OID, INT4OID, INT4OID, INT4OID,
	TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, BOOLOID};
	Datum		runvals[21];
	char		runnulls[22] = "                     ";
	Oid			settypes[4] = {INT8OID, TEXTARRAYOID, INT8OID, FLOAT8OID};
	Oid			ruletypes[12] = {INT8OID, INT4OID, TEXTARRAYOID, TEXTARRAYOID, FLOAT8OID,
		FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID, INT8OID,
	FLOAT8OID, FLOAT8OID};
	int64		nsets;
	int64		nrules;
	int64		runcount[2];
	bool		v010;
	bool		isnull;

	/* 0.1.0's schema (before ALTER EXTENSION UPDATE): no parameters, no p */
	v010 = PG_NARGS() < 13;
	SPI_connect();
	res = bk_mine(query, &o, &eng);
	bk_rows_init(&rows, res);

	/*
	 * The run row comes first (the stored rows refer to it) and analysts may
	 * not update it: count the rows in a pass that stores nothing.
	 */
	unordered = o;
	unordered.ordered = false;
	runcount[0] = basket_engine_itemsets(eng, res, &unordered, bk_count_set, NULL);
	runcount[1] = basket_engine_rules(eng, res, &unordered, bk_count_rule, NULL);
	runvals[0] = CStringGetTextDatum(name);
	runvals[1] = TimestampTzGetDatum(started);
	runvals[2] = TimestampTzGetDatum(GetCurrentTimestamp());
	runvals[3] = Int64GetDatum(res->ntransactions);
	runvals[4] = Int64GetDatum(runcount[0]);
	runvals[5] = Int64GetDatum(runcount[1]);
	runvals[6] = Float8GetDatum(o.min_support);
	runvals[7] = Float8GetDatum(o.min_confidence);
	runvals[8] = Int32GetDatum(o.max_len);
	if (o.max_len == 0)
		runnulls[8] = 'n';
	runvals[9] = CStringGetTextDatum(query);
	for (int i = 0; i < 11; i++)
	{
		int			arg = 2 + i;

		if (!bk_given(fcinfo, arg))
		{
			runvals[10 + i] = (Datum) 0;
			runnulls[10 + i] = 'n';
		}
		else
			runvals[10 + i] = PG_GETARG_DATUM(arg);
	}
	mk_spi_execute(v010 ? "INSERT INTO mekatek.basket_run (name, started_at, finished_at, "
				   "transactions, itemsets, rules, min_support, min_confidence, "
				   "max_len, query) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
				   "RETURNING run_id"
				   : "INSERT INTO mekatek.basket_run (name, started_at, finished_at, "
				   "transactions, itemsets, rules, min_support, min_confidence, "
				   "max_len, query, parameters) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
				   BK_PARAMS_SQL ") RETURNING run_id",
				   v010 ? 10 : 21, runtypes, runvals, runnulls, false, 1, SPI_OK_INSERT_RETURNING,
				   "basket_mine: recording the run");
	rows.run_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	rows.plan = mk_spi_prepare("INSERT INTO mekatek.basket_itemset (run_id, items, count, support) "
							   "VALUES ($1, $2, $3, $4)", 4, settypes, "basket_mine");
	nsets = basket_engine_itemsets(eng, res, &o, bk_store_set, &rows);

	rows.n = 0;
	rows.plan = mk_spi_prepare(v010 ? "INSERT INTO mekatek.basket_rule (run_id, rule_no, antecedent, consequent, "
							   "support, confidence, lift, leverage, conviction, count) "
							   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
							   : "INSERT INTO mekatek.basket_rule (run_id, rule_no, antecedent, consequent, "
							   "support, confidence, lift, leverage, conviction, count, "
							   "chi_square, fisher_p) "
							   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
							   v010 ? 10 : 12, ruletypes, "basket_mine");
	nrules = basket_engine_rules(eng, res, &o, bk_store_rule, &rows);

	if (nsets != runcount[0] || nrules != runcount[1])
		elog(ERROR, "basket_mine: stored %lld itemsets and %lld rules, counted %lld and %lld",
			 (long long) nsets, (long long) nrules, (long long) runcount[0], (long long) runcount[1]);
	basket_engine_destroy(eng);
	SPI_finish();
	PG_RETURN_INT64(rows.run_id);
}
