/*
 * counts_agg.c: the counting pass as a parallel aggregate.
 *
 *   mekatek.basket_counts(basket anyarray, candidates jsonb) -> jsonb
 *
 * With candidates NULL it counts every item (Apriori's first pass), else the
 * given candidate itemsets (any later pass, and the second phase of the SON
 * partitioned method).  It returns
 *   {"transactions": N, "itemsets": [{"items": [...], "count": c}, ...]}
 * with items sorted in byte order and itemsets by count descending.  Partial
 * states are serialised, so parallel workers (or Citus workers) each count
 * their share and the leader adds the counts up.
 *
 *   mekatek.basket_counts_partial(basket, candidates) -> bytea
 *   mekatek.basket_counts_merge(state bytea) -> jsonb
 *
 * split the same aggregate across servers: each branch counts its baskets
 * into the serialised state, headquarters adds the states up and gives
 * basket_counts' result over all of them.
 *
 * Identity of an item is its text output, as in the engine.  NULL baskets
 * and NULL items are ignored; duplicates in a basket count once.
 */
#include "core/mekatek.h"
#include "basket/engine.h"

#include "common/hashfn.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "port/pg_bswap.h"
#include "miscadmin.h"
#include "nodes/primnodes.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

/* item name -> id */
typedef struct BkAggEntry
{
	const char *name;
	int32		id;
	uint32		hash;
	char		status;
} BkAggEntry;

#define SH_PREFIX bkname
#define SH_ELEMENT_TYPE BkAggEntry
#define SH_KEY_TYPE const char *
#define SH_KEY name
#define SH_HASH_KEY(tb, key) hash_bytes((const unsigned char *) (key), strlen(key))
#define SH_EQUAL(tb, a, b) (strcmp(a, b) == 0)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) ((a)->hash)
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
/* simplehash.h shadows a local of its own under -Wshadow=compatible-local */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow=compatible-local"
#endif
#include "lib/simplehash.h"
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

typedef struct BkAggState
{
	MemoryContext ctx;
	bool		candidates;		/* counting given itemsets, not items */
	int64		n;				/* baskets */
	Size		bytes;			/* approximate, against basket_work_mem */

	bkname_hash *dict;
	int32		nitems;
	int32		capitems;
	char	  **name;			/* [capitems] */
	int64	   *count;			/* [capitems] item counts (item mode) */
	int64	   *stamp;			/* [capitems] last basket seen, + 1 */

	int32		ncand;
	int32	   *coff;			/* [ncand + 1] */
	int32	   *citems;			/* candidate items, ascending ids */
	int64	   *ccount;			/* [ncand] */
	int32	   *boff;			/* [nitems + 1] candidates by first item */
	int32	   *bcand;

	/*
	 * The candidates argument as the first row gave it, to refuse a later
	 * row that gives others; NULL when the argument is a constant (or a
	 * query parameter), which cannot change.
	 */
	struct varlena *cand_arg;

	/* per basket scratch */
	int32	   *present;
	Oid			elemtype;
	int16		elmlen;
	bool		elmbyval;
	char		elmalign;
	FmgrInfo	out;
} BkAggState;

static void
bk_agg_account(BkAggState *s, Size bytes)
{
	s->bytes += bytes;
	if (s->bytes > basket_work_mem_bytes())
		mk_error(ERRCODE_OUT_OF_MEMORY,
				 "Raise mekatek.basket_work_mem or count fewer candidates.",
				 "basket counting needs %zu bytes, more than mekatek.basket_work_mem (%zu kB)",
				 s->bytes, basket_work_mem_bytes() / 1024);
}

static BkAggState *
bk_agg_new(MemoryContext ctx, bool candidates)
{
	BkAggState *s = MemoryContextAllocZero(ctx, sizeof(BkAggState));

	s->ctx = ctx;
	s->candidates = candidates;
	s->dict = bkname_create(ctx, 256, NULL);
	s->elemtype = InvalidOid;
	return s;
}

/* The id of name, added when new and add is set; -1 when unknown. */
static int32
bk_agg_item(BkAggState *s, const char *name, bool add)
{
	bool		found;
	BkAggEntry *e;

	if (!add)
	{
		e = bkname_lookup(s->dict, name);
		return e ? e->id : -1;
	}
	e = bkname_insert(s->dict, name, &found);
	if (!found)
	{
		Size		len = strlen(name);

		if (s->nitems == s->capitems)
		{
			int32		ncap = s->capitems ? s->capitems * 2 : 256;

			bk_agg_account(s, (sizeof(char *) + 2 * sizeof(int64)) * (ncap - s->capitems));
			if (s->capitems == 0)
			{
				s->name = MemoryContextAlloc(s->ctx, sizeof(char *) * ncap);
				s->count = MemoryContextAllocZero(s->ctx, sizeof(int64) * ncap);
				s->stamp = MemoryContextAllocZero(s->ctx, sizeof(int64) * ncap);
			}
			else
			{
				s->name = repalloc(s->name, sizeof(char *) * ncap);
				s->count = repalloc(s->count, sizeof(int64) * ncap);
				s->stamp = repalloc(s->stamp, sizeof(int64) * ncap);
				memset(s->count + s->capitems, 0, sizeof(int64) * (ncap - s->capitems));
				memset(s->stamp + s->capitems, 0, sizeof(int64) * (ncap - s->capitems));
			}
			s->capitems = ncap;
		}
		bk_agg_account(s, len + 1 + sizeof(BkAggEntry) * 2);
		e->name = MemoryContextStrdup(s->ctx, name);
		e->id = s->nitems;
		s->name[s->nitems] = (char *) e->name;
		s->nitems++;
	}
	return e->id;
}

/* After the candidates are known: index them by their first item. */
static void
bk_agg_index(BkAggState *s)
{
	int32	   *fill;

	s->boff = MemoryContextAllocZero(s->ctx, sizeof(int32) * (s->nitems + 1));
	s->bcand = MemoryContextAlloc(s->ctx, sizeof(int32) * Max(s->ncand, 1));
	s->present = MemoryContextAlloc(s->ctx, sizeof(int32) * Max(s->nitems, 1));
	bk_agg_account(s, sizeof(int32) * (2 * s->nitems + s->ncand + 1));
	for (int32 c = 0; c < s->ncand; c++)
		s->boff[s->citems[s->coff[c]] + 1]++;
	for (int32 i = 0; i < s->nitems; i++)
		s->boff[i + 1] += s->boff[i];
	fill = palloc(sizeof(int32) * Max(s->nitems, 1));
	memcpy(fill, s->boff, sizeof(int32) * s->nitems);
	for (int32 c = 0; c < s->ncand; c++)
		s->bcand[fill[s->citems[s->coff[c]]]++] = c;
	pfree(fill);
}

static void
bk_agg_bad_candidates(const char *why)
{
	mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
			 "Give a JSON array of itemsets, each an array of items: [[\"a\", \"b\"], [\"c\"]].",
			 "argument \"candidates\" is not a list of itemsets: %s", why);
}

/* Parse [["a", "b"], ["c"], ...]: strings and numbers are items. */
static void
bk_agg_parse(BkAggState *s, Jsonb *jb)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			depth = 0;
	int32		capc = 64;
	int32		capi = 256;
	int32		ni = 0;
	int32		start = 0;

	if (!JB_ROOT_IS_ARRAY(jb) || JB_ROOT_IS_SCALAR(jb))
		bk_agg_bad_candidates("not a JSON array");
	s->coff = MemoryContextAlloc(s->ctx, sizeof(int32) * (capc + 1));
	s->citems = MemoryContextAlloc(s->ctx, sizeof(int32) * capi);
	s->coff[0] = 0;

	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		CHECK_FOR_INTERRUPTS();
		if (tok == WJB_BEGIN_ARRAY)
		{
			if (++depth > 2)
				bk_agg_bad_candidates("an item is an array");
			start = ni;
		}
		else if (tok == WJB_END_ARRAY)
		{
			if (--depth == 1)
			{
				int32		w = start;

				if (ni == start)
					bk_agg_bad_candidates("an itemset is empty");
				basket_sort_ids(s->citems + start, ni - start);
				for (int32 k = start; k < ni; k++)
					if (k == start || s->citems[k] != s->citems[k - 1])
						s->citems[w++] = s->citems[k];
				ni = w;
				if (s->ncand == capc)
				{
					capc *= 2;
					s->coff = repalloc(s->coff, sizeof(int32) * (capc + 1));
				}
				s->coff[++s->ncand] = ni;
			}
		}
		else if (tok == WJB_ELEM)
		{
			char	   *name;

			if (depth != 2)
				bk_agg_bad_candidates("an itemset is not an array");
			if (v.type == jbvString)
				name = pnstrdup(v.val.string.val, v.val.string.len);
			else if (v.type == jbvNumeric)
				name = DatumGetCString(DirectFunctionCall1(numeric_out,
														   NumericGetDatum(v.val.numeric)));
			else
				bk_agg_bad_candidates("an item is neither a string nor a number");
			if (ni == capi)
			{
				capi *= 2;
				s->citems = repalloc(s->citems, sizeof(int32) * capi);
			}
			s->citems[ni++] = bk_agg_item(s, name, true);
		}
		else
			bk_agg_bad_candidates("an itemset is not an array");
	}
	s->ccount = MemoryContextAllocZero(s->ctx, sizeof(int64) * Max(s->ncand, 1));
	bk_agg_account(s, sizeof(int32) * (capc + capi) + sizeof(int64) * s->ncand);
	bk_agg_index(s);
}

static void
bk_agg_basket(BkAggState *s, ArrayType *arr)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int32		np = 0;
	int64		mark;

	if (ARR_ELEMTYPE(arr) != s->elemtype)
	{
		Oid			fn;
		bool		isvarlena;

		s->elemtype = ARR_ELEMTYPE(arr);
		get_typlenbyvalalign(s->elemtype, &s->elmlen, &s->elmbyval, &s->elmalign);
		getTypeOutputInfo(s->elemtype, &fn, &isvarlena);
		fmgr_info_cxt(fn, &s->out, s->ctx);
	}
	deconstruct_array(arr, s->elemtype, s->elmlen, s->elmbyval, s->elmalign,
					  &elems, &nulls, &n);
	mark = ++s->n;
	for (int i = 0; i < n; i++)
	{
		char	   *name;
		int32		id;

		if (nulls[i])
			continue;
		name = OutputFunctionCall(&s->out, elems[i]);
		id = bk_agg_item(s, name, !s->candidates);
		pfree(name);
		if (id < 0 || s->stamp[id] == mark)
			continue;
		s->stamp[id] = mark;
		if (s->candidates)
			s->present[np++] = id;
		else
			s->count[id]++;
	}
	/* a candidate is in the basket when all its items are */
	for (int32 p = 0; p < np; p++)
		for (int32 b = s->boff[s->present[p]]; b < s->boff[s->present[p] + 1]; b++)
		{
			int32		c = s->bcand[b];
			int32		k = s->coff[c] + 1;

			while (k < s->coff[c + 1] && s->stamp[s->citems[k]] == mark)
				k++;
			if (k == s->coff[c + 1])
				s->ccount[c]++;
		}
	pfree(elems);
	pfree(nulls);
}

static MemoryContext
bk_agg_context(FunctionCallInfo fcinfo)
{
	MemoryContext ctx;

	if (!AggCheckCallContext(fcinfo, &ctx))
		elog(ERROR, "basket counting function called in non-aggregate context");
	return ctx;
}

/* Whether the candidates argument of this call is a constant or a parameter. */
static bool
bk_agg_arg_constant(FunctionCallInfo fcinfo)
{
	Aggref	   *ref = AggGetAggref(fcinfo);
	Node	   *arg;

	if (ref == NULL || list_length(ref->args) < 2)
		return false;
	arg = (Node *) ((TargetEntry *) lsecond(ref->args))->expr;
	return IsA(arg, Const) || (IsA(arg, Param) && ((Param *) arg)->paramkind == PARAM_EXTERN);
}

static bool
bk_agg_same_arg(const BkAggState *s, Datum d)
{
	struct varlena *v = PG_DETOAST_DATUM_PACKED(d);
	bool		same = VARSIZE_ANY_EXHDR(v) == VARSIZE_ANY_EXHDR(s->cand_arg) &&
		memcmp(VARDATA_ANY(v), VARDATA_ANY(s->cand_arg), VARSIZE_ANY_EXHDR(v)) == 0;

	if ((Pointer) v != DatumGetPointer(d))
		pfree(v);
	return same;
}

PG_FUNCTION_INFO_V1(mk_basket_counts_trans);
Datum
mk_basket_counts_trans(PG_FUNCTION_ARGS)
{
	MemoryContext ctx = bk_agg_context(fcinfo);
	BkAggState *s = PG_ARGISNULL(0) ? NULL : (BkAggState *) PG_GETARG_POINTER(0);

	if (s == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(ctx);

		/* the candidates are read once: every row must pass the same value */
		s = bk_agg_new(ctx, !PG_ARGISNULL(2));
		if (s->candidates)
		{
			bk_agg_parse(s, PG_GETARG_JSONB_P(2));
			if (!bk_agg_arg_constant(fcinfo))
				s->cand_arg = PG_DETOAST_DATUM_COPY(PG_GETARG_DATUM(2));
		}
		MemoryContextSwitchTo(old);
	}
	else if (s->candidates == PG_ARGISNULL(2) || (s->cand_arg && !bk_agg_same_arg(s, PG_GETARG_DATUM(2))))
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
				 "Pass one candidates value for the whole aggregate (a constant, or the same value on every row); count other candidates in another call.",
				 "basket_counts: argument \"candidates\" differs between rows of one aggregate");
	if (!PG_ARGISNULL(1))
		bk_agg_basket(s, PG_GETARG_ARRAYTYPE_P(1));
	PG_RETURN_POINTER(s);
}

/* Whether a and b count the same itemsets, named by the same items in the same order. */
static bool
bk_agg_same_candidates(const BkAggState *a, const BkAggState *b)
{
	if (a->ncand != b->ncand || a->nitems != b->nitems)
		return false;
	for (int32 i = 0; i < a->nitems; i++)
		if (strcmp(a->name[i], b->name[i]) != 0)
			return false;
	return memcmp(a->coff, b->coff, sizeof(int32) * (a->ncand + 1)) == 0 &&
		memcmp(a->citems, b->citems, sizeof(int32) * a->coff[a->ncand]) == 0;
}

/* Add b's counts into a (both in a's context). */
static void
bk_agg_merge(BkAggState *a, const BkAggState *b)
{
	if (a->candidates != b->candidates)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
				 "Pass one candidates value for the whole aggregate: NULL (count every item) or the itemsets, not both.",
				 "basket_counts: argument \"candidates\" is NULL on some rows and not on others");
	if (b->n > PG_INT64_MAX - a->n)
		mk_error(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, NULL,
				 "basket_counts: more than %lld baskets", (long long) PG_INT64_MAX);
	a->n += b->n;
	if (!a->candidates)
	{
		for (int32 i = 0; i < b->nitems; i++)
		{
			/* the lookup may grow a->count: take the id first */
			int32		id = bk_agg_item(a, b->name[i], true);

			a->count[id] += b->count[i];
		}
		return;
	}
	if (a->ncand == 0 && a->nitems == 0)
	{
		/* a is empty: take b's candidates, items in the same order */
		for (int32 i = 0; i < b->nitems; i++)
			bk_agg_item(a, b->name[i], true);
		a->ncand = b->ncand;
		a->coff = MemoryContextAlloc(a->ctx, sizeof(int32) * (b->ncand + 1));
		memcpy(a->coff, b->coff, sizeof(int32) * (b->ncand + 1));
		a->citems = MemoryContextAlloc(a->ctx, sizeof(int32) * Max(b->coff[b->ncand], 1));
		memcpy(a->citems, b->citems, sizeof(int32) * b->coff[b->ncand]);
		a->ccount = MemoryContextAllocZero(a->ctx, sizeof(int64) * Max(b->ncand, 1));
		bk_agg_account(a, sizeof(int32) * (b->ncand + 1 + b->coff[b->ncand]) + sizeof(int64) * b->ncand);
		bk_agg_index(a);
	}
	/*
	 * Both must have parsed the same candidates argument: states from other
	 * servers (basket_counts_merge) may not have, so compare the itemsets,
	 * not only their number.
	 */
	if (!bk_agg_same_candidates(a, b))
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
				 "Pass one candidates value for the whole aggregate (a constant, or the same value on every row, and the same value at every server whose states are merged); count other candidates in another call.",
				 "basket_counts: argument \"candidates\" differs between rows of one aggregate");
	for (int32 c = 0; c < a->ncand; c++)
		a->ccount[c] += b->ccount[c];
}

PG_FUNCTION_INFO_V1(mk_basket_counts_combine);
Datum
mk_basket_counts_combine(PG_FUNCTION_ARGS)
{
	MemoryContext ctx = bk_agg_context(fcinfo);
	BkAggState *a = PG_ARGISNULL(0) ? NULL : (BkAggState *) PG_GETARG_POINTER(0);
	BkAggState *b = PG_ARGISNULL(1) ? NULL : (BkAggState *) PG_GETARG_POINTER(1);
	MemoryContext old;

	if (b == NULL)
		PG_RETURN_POINTER(a);
	old = MemoryContextSwitchTo(ctx);
	if (a == NULL)
		a = bk_agg_new(ctx, b->candidates);
	bk_agg_merge(a, b);
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(a);
}

/*
 * The state on the wire.  The same bytes go from a parallel worker to its
 * leader, from a Citus worker to its coordinator (Citus ships SERIALFUNC's
 * bytea for internal states) and, through basket_counts_partial and
 * basket_counts_merge, from a branch server to headquarters: so the format
 * carries a version and the server encoding of its names, names travel as
 * counted bytes (pq_sendstring would convert them to the session's
 * client_encoding, which another server's session need not share), and the
 * reader trusts nothing in it.
 *
 *   byte    format version (BK_AGG_FORMAT)
 *   string  server encoding name
 *   byte    1 when counting candidates, 0 when counting every item
 *   int64   baskets
 *   int32   items, then per item: int32 length, bytes, [int64 count: item mode]
 *   [candidate mode] int32 candidates, then per candidate:
 *           int32 length, int32 item ids (ascending), int64 count
 */
#define BK_AGG_FORMAT 1

static void
bk_agg_write(const BkAggState *s, StringInfo buf)
{
	pq_sendbyte(buf, BK_AGG_FORMAT);
	pq_sendstring(buf, GetDatabaseEncodingName());
	pq_sendbyte(buf, s->candidates ? 1 : 0);
	pq_sendint64(buf, s->n);
	pq_sendint32(buf, s->nitems);
	for (int32 i = 0; i < s->nitems; i++)
	{
		int32		len = strlen(s->name[i]);

		pq_sendint32(buf, len);
		pq_sendbytes(buf, s->name[i], len);
		if (!s->candidates)
			pq_sendint64(buf, s->count[i]);
	}
	if (s->candidates)
	{
		pq_sendint32(buf, s->ncand);
		for (int32 c = 0; c < s->ncand; c++)
		{
			pq_sendint32(buf, s->coff[c + 1] - s->coff[c]);
			for (int32 k = s->coff[c]; k < s->coff[c + 1]; k++)
				pq_sendint32(buf, s->citems[k]);
			pq_sendint64(buf, s->ccount[c]);
		}
	}
}

static bytea *
bk_agg_bytes(const BkAggState *s)
{
	StringInfoData buf;

	pq_begintypsend(&buf);
	bk_agg_write(s, &buf);
	return pq_endtypsend(&buf);
}

static void
bk_agg_corrupt(const char *why)
{
	mk_error(ERRCODE_INVALID_BINARY_REPRESENTATION,
			 "Pass the bytea that mekatek.basket_counts_partial returned, unchanged.",
			 "basket counting state is not valid: %s", why);
}

/* The next n bytes of buf, or an error when fewer are left. */
static const char *
bk_agg_take(StringInfo buf, int64 n)
{
	const char *p;

	if (n < 0 || n > buf->len - buf->cursor)
		bk_agg_corrupt("it ends too early");
	p = buf->data + buf->cursor;
	buf->cursor += n;
	return p;
}

static int32
bk_agg_take_int32(StringInfo buf, int32 min, int64 max, const char *what)
{
	uint32		v;
	int32		r;

	memcpy(&v, bk_agg_take(buf, 4), 4);
	r = (int32) pg_ntoh32(v);
	if (r < min || r > max)
		bk_agg_corrupt(what);
	return r;
}

static int64
bk_agg_take_int64(StringInfo buf, int64 max, const char *what)
{
	uint64		v;
	int64		r;

	memcpy(&v, bk_agg_take(buf, 8), 8);
	r = (int64) pg_ntoh64(v);
	if (r < 0 || r > max)
		bk_agg_corrupt(what);
	return r;
}

/*
 * Read a state written by bk_agg_write (any server, any session) into a new
 * state in ctx.  Every length, id and count is checked against what is left
 * of the bytes and against the rest of the state, so a damaged or crafted
 * value is an error, never a read out of bounds.
 */
static BkAggState *
bk_agg_read(MemoryContext ctx, bytea *b)
{
	StringInfoData buf;
	BkAggState *s;
	MemoryContext old = MemoryContextSwitchTo(ctx);
	int			encoding;
	const char *encname;
	const char *nul;
	int32		nitems;
	int32		flag;

	buf.data = VARDATA_ANY(b);
	buf.len = VARSIZE_ANY_EXHDR(b);
	buf.maxlen = buf.len;
	buf.cursor = 0;

	if (*bk_agg_take(&buf, 1) != BK_AGG_FORMAT)
		mk_error(ERRCODE_INVALID_BINARY_REPRESENTATION,
				 "Count with the same Mekatek version at every server, or pass the bytea that mekatek.basket_counts_partial returned, unchanged.",
				 "basket counting state has format %d, this server reads format %d",
				 (int) (unsigned char) buf.data[0], BK_AGG_FORMAT);
	encname = buf.data + buf.cursor;
	nul = memchr(encname, '\0', buf.len - buf.cursor);
	if (nul == NULL)
		bk_agg_corrupt("it ends too early");
	(void) bk_agg_take(&buf, nul - encname + 1);
	encoding = pg_char_to_encoding(encname);
	if (encoding < 0 || !PG_VALID_BE_ENCODING(encoding))
		bk_agg_corrupt("its encoding is unknown");
	flag = (unsigned char) *bk_agg_take(&buf, 1);
	if (flag > 1)
		bk_agg_corrupt("its mode is neither items nor candidates");

	s = bk_agg_new(ctx, flag == 1);
	s->n = bk_agg_take_int64(&buf, PG_INT64_MAX, "its number of baskets is negative");
	/* every item takes at least 4 bytes: a bound before allocating */
	nitems = bk_agg_take_int32(&buf, 0, (buf.len - buf.cursor) / 4, "its number of items is out of range");
	for (int32 i = 0; i < nitems; i++)
	{
		int32		len = bk_agg_take_int32(&buf, 1, buf.len - buf.cursor, "an item's length is out of range");
		const char *raw = bk_agg_take(&buf, len);
		char	   *name;

		if ((i & 0xfff) == 0)
			CHECK_FOR_INTERRUPTS();
		if (memchr(raw, '\0', len) != NULL)
			bk_agg_corrupt("an item holds a zero byte");
		/* validates, and converts from the writer's encoding */
		name = pg_any_to_server(raw, len, encoding);
		if (name == raw)
			name = pnstrdup(raw, len);
		if (bk_agg_item(s, name, true) != i)
			bk_agg_corrupt("an item is listed twice");
		if (!s->candidates)
			s->count[i] = bk_agg_take_int64(&buf, s->n, "an item's count is out of range");
	}
	if (s->candidates)
	{
		/* every candidate takes at least 16 bytes */
		int32		ncand = bk_agg_take_int32(&buf, 0, (buf.len - buf.cursor) / 16, "its number of candidates is out of range");
		int32		capi = 256;
		int32		ni = 0;

		s->coff = palloc(sizeof(int32) * (ncand + 1));
		s->citems = palloc(sizeof(int32) * capi);
		s->ccount = palloc0(sizeof(int64) * Max(ncand, 1));
		s->coff[0] = 0;
		for (int32 c = 0; c < ncand; c++)
		{
			int32		len = bk_agg_take_int32(&buf, 1, nitems, "a candidate's length is out of range");

			if ((c & 0xfff) == 0)
				CHECK_FOR_INTERRUPTS();
			for (int32 k = 0; k < len; k++)
			{
				int32		id = bk_agg_take_int32(&buf, 0, nitems - 1, "a candidate names an unknown item");

				if (k > 0 && id <= s->citems[ni - 1])
					bk_agg_corrupt("a candidate's items are not ascending");
				if (ni == capi)
				{
					capi *= 2;
					s->citems = repalloc(s->citems, sizeof(int32) * capi);
				}
				s->citems[ni++] = id;
			}
			s->coff[c + 1] = ni;
			s->ccount[c] = bk_agg_take_int64(&buf, s->n, "a candidate's count is out of range");
		}
		s->ncand = ncand;
		bk_agg_account(s, sizeof(int32) * (ncand + 1 + capi) + sizeof(int64) * ncand);
		bk_agg_index(s);
	}
	if (buf.cursor != buf.len)
		bk_agg_corrupt("bytes follow its end");
	MemoryContextSwitchTo(old);
	return s;
}

PG_FUNCTION_INFO_V1(mk_basket_counts_serialize);
Datum
mk_basket_counts_serialize(PG_FUNCTION_ARGS)
{
	(void) bk_agg_context(fcinfo);
	PG_RETURN_BYTEA_P(bk_agg_bytes((BkAggState *) PG_GETARG_POINTER(0)));
}

PG_FUNCTION_INFO_V1(mk_basket_counts_deserialize);
Datum
mk_basket_counts_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext ctx = bk_agg_context(fcinfo);

	PG_RETURN_POINTER(bk_agg_read(ctx, PG_GETARG_BYTEA_PP(0)));
}

/*
 * basket_counts_partial's final function: the state as bytes, for another
 * server to add up with basket_counts_merge (the partial aggregate that
 * Citus would run on a worker, done by hand between servers).
 */
PG_FUNCTION_INFO_V1(mk_basket_counts_partial_final);
Datum
mk_basket_counts_partial_final(PG_FUNCTION_ARGS)
{
	(void) bk_agg_context(fcinfo);
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_BYTEA_P(bk_agg_bytes((BkAggState *) PG_GETARG_POINTER(0)));
}

/* basket_counts_merge's transition: read one server's state, add it up. */
PG_FUNCTION_INFO_V1(mk_basket_counts_merge_trans);
Datum
mk_basket_counts_merge_trans(PG_FUNCTION_ARGS)
{
	MemoryContext ctx = bk_agg_context(fcinfo);
	BkAggState *a = PG_ARGISNULL(0) ? NULL : (BkAggState *) PG_GETARG_POINTER(0);
	BkAggState *b;
	MemoryContext old;
	MemoryContext tmp;

	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(a);
	if (a != NULL)
	{
		/* read into a scratch context: only the sums stay */
		tmp = AllocSetContextCreate(CurrentMemoryContext, "basket_counts_merge",
									ALLOCSET_DEFAULT_SIZES);
		b = bk_agg_read(tmp, PG_GETARG_BYTEA_PP(1));
		old = MemoryContextSwitchTo(ctx);
		bk_agg_merge(a, b);
		MemoryContextSwitchTo(old);
		MemoryContextDelete(tmp);
		PG_RETURN_POINTER(a);
	}
	PG_RETURN_POINTER(bk_agg_read(ctx, PG_GETARG_BYTEA_PP(1)));
}

/* final: sort itemsets by count descending, then items (byte order) */
typedef struct BkAggOut
{
	int64		count;
	int32		len;
	const char **items;
} BkAggOut;

static int
bk_agg_cmp_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static int
bk_agg_cmp_out(const void *pa, const void *pb)
{
	const BkAggOut *a = pa;
	const BkAggOut *b = pb;

	if (a->count != b->count)
		return a->count > b->count ? -1 : 1;
	for (int32 k = 0; k < a->len && k < b->len; k++)
	{
		int			c = strcmp(a->items[k], b->items[k]);

		if (c != 0)
			return c;
	}
	return (a->len > b->len) - (a->len < b->len);
}

PG_FUNCTION_INFO_V1(mk_basket_counts_final);
Datum
mk_basket_counts_final(PG_FUNCTION_ARGS)
{
	BkAggState *s = PG_ARGISNULL(0) ? NULL : (BkAggState *) PG_GETARG_POINTER(0);
	int32		nout = s ? (s->candidates ? s->ncand : s->nitems) : 0;
	BkAggOut   *out = palloc(sizeof(BkAggOut) * Max(nout, 1));
	StringInfoData buf;

	(void) bk_agg_context(fcinfo);
	for (int32 o = 0; o < nout; o++)
	{
		if (s->candidates)
		{
			out[o].count = s->ccount[o];
			out[o].len = s->coff[o + 1] - s->coff[o];
			out[o].items = palloc(sizeof(char *) * out[o].len);
			for (int32 k = 0; k < out[o].len; k++)
				out[o].items[k] = s->name[s->citems[s->coff[o] + k]];
			qsort(out[o].items, out[o].len, sizeof(char *), bk_agg_cmp_name);
		}
		else
		{
			out[o].count = s->count[o];
			out[o].len = 1;
			out[o].items = (const char **) &s->name[o];
		}
	}
	qsort(out, nout, sizeof(BkAggOut), bk_agg_cmp_out);

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"transactions\": " INT64_FORMAT ", \"itemsets\": [",
					 s ? s->n : 0);
	for (int32 o = 0; o < nout; o++)
	{
		if ((o & 0xfff) == 0)
			CHECK_FOR_INTERRUPTS();
		appendStringInfoString(&buf, o ? ", {\"items\": [" : "{\"items\": [");
		for (int32 k = 0; k < out[o].len; k++)
		{
			if (k)
				appendStringInfoString(&buf, ", ");
			escape_json(&buf, out[o].items[k]);
		}
		appendStringInfo(&buf, "], \"count\": " INT64_FORMAT "}", out[o].count);
	}
	appendStringInfoString(&buf, "]}");
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}
