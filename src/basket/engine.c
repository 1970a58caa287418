/*
 * engine.c: exact frequent-itemset mining and association rules (see
 * engine.h for the interface).
 *
 * Pipeline:
 *   1. Read (transaction, item) pairs or array rows through an SPI cursor in
 *      batches; map transaction ids and items to dense int32 ids with a hash
 *      table keyed on the value (the Datum itself for integer-like types, the
 *      bytes for text, the text output otherwise).  Grouped input keeps one
 *      offset per transaction, not a tid per item.
 *   2. Group the pairs by transaction (counting sort unless the input came
 *      grouped), drop duplicate items, count item supports.
 *   3. Keep the frequent items, renumbered by ascending support ("rank"), and
 *      recode each transaction as its sorted frequent ranks, in place.
 *   4. Mine depth-first, one prefix item a at a time: one pass over the
 *      transactions containing a counts every pair {a, b} (b after a) in a
 *      dense counter, a second pass collects the extensions of the frequent
 *      pairs, and Eclat goes on from there: on bitsets over the baskets
 *      holding a when the extensions are dense, else on tid lists (merge or
 *      galloping, with early abandon once the support cannot be reached).
 *      The result is exactly Apriori's: every itemset whose count reaches
 *      the threshold.
 *   5. The itemsets, items in name order, sorted lexicographically: an
 *      itemset's index is its rank, a set the next one extends shares its
 *      items, and a hash finds one by its items.
 *   6. Rows are handed to the caller as produced (unordered), one count at a
 *      time in the documented order (rules of one count sorted by 4-, 8- or
 *      12-byte keys; those of confidence 1 kept as bits of their
 *      antecedent's mask when one-item consequents fit in 64 bits), or
 *      through a heap of the top n.  Rules: for each itemset X and
 *      each consequent C within the size limits, X \ C => C.
 *
 * Memory: every allocation of the engine goes through bk_alloc, which counts
 * bytes against the limit before allocating, so exceeding
 * mekatek.basket_work_mem is a clean ERROR, never an out-of-memory crash.
 */
#include "basket/engine.h"
#include "core/mekatek.h"

#include <limits.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "port/pg_bitutils.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"

int			mk_basket_work_mem = 512 * 1024;

#define BK_BATCH 10000			/* rows per SPI cursor fetch */
#define BK_ARENA_CHUNK (64 * 1024)
#define BK_DIRECT_MAX (1 << 21)	/* integer items below this skip the hash */
#define BK_PREFETCH 8			/* baskets fetched ahead in the pair count */

Size
basket_work_mem_bytes(void)
{
	return (Size) mk_basket_work_mem * 1024;
}

/* ---------------------------------------------------------------------
 * Dictionary: value bytes -> dense id.  Open addressing, linear probing;
 * keys live in the engine's arena followed by a NUL, so that for text keys
 * the key is also the item's name.
 */
typedef struct BkDict
{
	int32		n;				/* ids handed out */
	int32		cap;			/* size of the per-id arrays */
	uint32		mask;			/* slot count - 1 */
	int32	   *slots;			/* id + 1, 0 = empty */
	uint32	   *hash;			/* [cap] */
	char	  **key;			/* [cap] */
	int32	   *keylen;			/* [cap] */
	int32	   *direct;			/* small non-negative integer keys: id + 1 */
	int64		ndirect;
} BkDict;

typedef enum BkKeyKind
{
	BK_KEY_DATUM,				/* by-value type whose output is injective */
	BK_KEY_TEXT,				/* text-like: the bytes are the output */
	BK_KEY_OUTPUT				/* anything else: the text output */
} BkKeyKind;

typedef struct BkCol
{
	BkKeyKind	kind;
	FmgrInfo	out;
} BkCol;

typedef struct BkSet
{
	int64		off;			/* into setitems */
	int32		len;
	int32		count;			/* at most the baskets read, an int32 */
} BkSet;

typedef struct BkExt
{
	int32		item;
	int32		n;				/* tids */
	int32		cap;			/* allocated ints (tids and weights), for the accounting */
	int32	   *tids;
	int32	   *w;				/* the tids' weights, only when e->weighted */
	int64		count;			/* their summed weight: the itemset's count */
} BkExt;

struct BasketEngine
{
	MemoryContext ctx;
	MemoryContext scratch;		/* per batch: detoasted values, arrays */
	Size		used;
	Size		peak;
	Size		limit;

	char	   *arena;
	Size		arena_left;

	BkDict		items;
	char	  **item_name;		/* [items.cap] */
	BkDict		tids;
	int32		ntrans;
	bool		loaded;
	bool		mined;

	/* (transaction, item) pairs as read */
	int32	   *ptid;			/* only once the pairs came ungrouped */
	int32	   *pitem;
	int64	   *toff;			/* grouped: transaction t's pairs start at toff[t] */
	int64		captoff;
	int32		lasttid;
	Size		offbytes;		/* of bk_group's offsets */
	int64		npairs;
	int64		cappairs;
	bool		grouped;		/* pairs arrived grouped by transaction */

	/* mining */
	int64		minc;
	int			max_len;
	int32		nfreq;
	int32	   *cnt;			/* [nfreq] pair counters for one prefix */
	int32	   *pos;			/* [nfreq] index in the extension list, or -1 */
	int32	   *prefix;			/* current prefix, deepest first unused */
	int32	   *titems;			/* transactions: ranks ascending, each ended by -1 */
	int64		ntitems;
	bool		weighted;		/* reduced: a basket ends with -(its weight) */
	int64	   *loff;			/* tid lists per rank, [nfreq + 1] */
	int32	   *ltids;

	BkSet	   *sets;
	int64		nsets;
	int64		capsets;
	int32	   *setitems;
	int64		nsetitems;
	int64		capsetitems;

	/* the result's itemsets by their items: index + 1, 0 = empty */
	uint64	   *hslots;		/* fingerprint << 32 | (index + 1), 0 = empty */
	uint64	   *hg;				/* [nitems] an item's share of a set's hash */
	uint32		hn;				/* slots */
	bool		hverify;		/* two sets on one chain share a fingerprint */
};

/* ---------------------------------------------------------------------
 * Accounting.
 */
static void
bk_reserve(BasketEngine *e, Size bytes)
{
	if (bytes > e->limit || e->used > e->limit - bytes)
		mk_error(ERRCODE_OUT_OF_MEMORY,
				 "Raise mekatek.basket_work_mem, raise min_support, or set max_len.",
				 "basket mining needs %zu bytes, more than mekatek.basket_work_mem (%zu kB)",
				 e->used + bytes, e->limit / 1024);
	e->used += bytes;
	if (e->used > e->peak)
		e->peak = e->used;
}

static void *
bk_alloc(BasketEngine *e, Size bytes)
{
	bk_reserve(e, bytes);
	return MemoryContextAllocHuge(e->ctx, Max(bytes, 1));
}

static void *
bk_alloc0(BasketEngine *e, Size bytes)
{
	void	   *p = bk_alloc(e, bytes);

	memset(p, 0, bytes);
	return p;
}

static void
bk_free(BasketEngine *e, void *p, Size bytes)
{
	if (p == NULL)
		return;
	pfree(p);
	e->used -= bytes;
}

static void *
bk_grow(BasketEngine *e, void *p, Size oldbytes, Size newbytes)
{
	bk_reserve(e, newbytes - oldbytes);
	if (p == NULL)
		return MemoryContextAllocHuge(e->ctx, newbytes);
	return repalloc_huge(p, newbytes);
}

/* Give back the tail of an array that will not grow again. */
static void *
bk_shrink(BasketEngine *e, void *p, Size oldbytes, Size newbytes)
{
	if (newbytes >= oldbytes)
		return p;
	e->used -= oldbytes - newbytes;
	return repalloc_huge(p, Max(newbytes, 1));
}

/* Doubling growth for the append-only arrays. */
static int64
bk_next_cap(int64 cap, int64 need)
{
	int64		c = Max(cap, 1024);

	/* past 16M elements grow by half: less slack on the largest arrays */
	while (c < need)
		c += c < (1 << 24) ? c : c / 2;
	return c;
}

static char *
bk_arena_copy(BasketEngine *e, const char *s, int32 len)
{
	char	   *p;

	if ((Size) len + 1 > e->arena_left)
	{
		Size		chunk = Max((Size) BK_ARENA_CHUNK, (Size) len + 1);

		e->arena = bk_alloc(e, chunk);
		e->arena_left = chunk;
	}
	p = e->arena;
	memcpy(p, s, len);
	p[len] = '\0';
	e->arena += len + 1;
	e->arena_left -= len + 1;
	return p;
}

/* ---------------------------------------------------------------------
 * Dictionary.
 */
static void
bk_dict_init(BasketEngine *e, BkDict *d)
{
	d->n = 0;
	d->cap = 0;
	d->mask = 1023;
	d->slots = bk_alloc0(e, sizeof(int32) * 1024);
	d->hash = NULL;
	d->key = NULL;
	d->keylen = NULL;
	d->direct = NULL;
	d->ndirect = 0;
}

static void
bk_dict_rehash(BasketEngine *e, BkDict *d)
{
	uint32		nslots = (d->mask + 1) * 2;
	int32	   *slots = bk_alloc0(e, sizeof(int32) * nslots);

	for (int32 id = 0; id < d->n; id++)
	{
		uint32		i = d->hash[id] & (nslots - 1);

		while (slots[i])
			i = (i + 1) & (nslots - 1);
		slots[i] = id + 1;
	}
	bk_free(e, d->slots, sizeof(int32) * (d->mask + 1));
	d->slots = slots;
	d->mask = nslots - 1;
}

static inline bool
bk_key_eq(const char *a, const char *b, int32 len)
{
	/* Datum keys: one word compare instead of a memcmp call */
	if (len == sizeof(uint64))
	{
		uint64		x;
		uint64		y;

		memcpy(&x, a, sizeof(x));
		memcpy(&y, b, sizeof(y));
		return x == y;
	}
	return memcmp(a, b, len) == 0;
}

/* The id of key, inserting it when new (then *isnew is set). */
static inline int32
bk_dict_get(BasketEngine *e, BkDict *d, const char *key, int32 len, uint32 h,
			bool *isnew)
{
	uint32		i = h & d->mask;
	int32		id;

	for (;;)
	{
		int32		s = d->slots[i];

		if (s == 0)
			break;
		id = s - 1;
		if (d->hash[id] == h && d->keylen[id] == len && bk_key_eq(d->key[id], key, len))
		{
			*isnew = false;
			return id;
		}
		i = (i + 1) & d->mask;
	}

	if (d->n == PG_INT32_MAX - 1)
		mk_error(ERRCODE_PROGRAM_LIMIT_EXCEEDED, NULL,
				 "basket mining supports at most %d distinct items or transactions",
				 PG_INT32_MAX - 1);
	if (d->n == d->cap)
	{
		int32		ncap = d->cap ? (d->cap > PG_INT32_MAX / 2 ? PG_INT32_MAX : d->cap * 2) : 1024;

		d->hash = bk_grow(e, d->hash, sizeof(uint32) * d->cap, sizeof(uint32) * ncap);
		d->key = bk_grow(e, d->key, sizeof(char *) * d->cap, sizeof(char *) * ncap);
		d->keylen = bk_grow(e, d->keylen, sizeof(int32) * d->cap, sizeof(int32) * ncap);
		if (d == &e->items)
			e->item_name = bk_grow(e, e->item_name, sizeof(char *) * d->cap,
								   sizeof(char *) * ncap);
		d->cap = ncap;
	}
	id = d->n++;
	d->hash[id] = h;
	d->key[id] = bk_arena_copy(e, key, len);
	d->keylen[id] = len;
	d->slots[i] = id + 1;
	if ((uint32) d->n * 2 > d->mask)
		bk_dict_rehash(e, d);
	*isnew = true;
	return id;
}

/* ---------------------------------------------------------------------
 * Values to ids.
 */
static void
bk_col_init(BasketEngine *e, BkCol *c, Oid type)
{
	Oid			fn;
	bool		isvarlena;

	switch (type)
	{
			/* by value, and equal values have equal output */
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
		case DATEOID:
		case BOOLOID:
			c->kind = BK_KEY_DATUM;
			break;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			c->kind = BK_KEY_TEXT;
			break;
		default:
			c->kind = BK_KEY_OUTPUT;
			break;
	}
	getTypeOutputInfo(type, &fn, &isvarlena);
	fmgr_info_cxt(fn, &c->out, e->ctx);
}

/* The key bytes of a value: points into *buf, the value or scratch memory. */
static inline const char *
bk_key(BkCol *c, Datum d, Datum *buf, int32 *len, uint32 *h)
{
	const char *key;

	switch (c->kind)
	{
		case BK_KEY_DATUM:
			{
				uint64		v = (uint64) d;

				*buf = d;
				*len = sizeof(Datum);
				*h = murmurhash32((uint32) v ^ (uint32) (v >> 32));
				return (const char *) buf;
			}
		case BK_KEY_TEXT:
			{
				struct varlena *v = PG_DETOAST_DATUM_PACKED(d);

				key = VARDATA_ANY(v);
				*len = VARSIZE_ANY_EXHDR(v);
				break;
			}
		default:
			key = OutputFunctionCall(&c->out, d);
			*len = strlen(key);
			break;
	}
	*h = hash_bytes((const unsigned char *) key, *len);
	return key;
}

static int32 bk_item_id_hashed(BasketEngine *e, BkCol *c, Datum d);

/*
 * Items and transaction ids are often small integers (product and sale ids,
 * retail.dat's items): such keys find their id in a plain array in front of
 * the hash table.  Returns the key's cell, grown as needed, or NULL.
 */
static inline int32 *
bk_direct(BasketEngine *e, BkDict *d, BkCol *c, Datum v)
{
	int64		k = (int64) v;

	if (c->kind != BK_KEY_DATUM || k < 0 || k >= BK_DIRECT_MAX)
		return NULL;
	if (k >= d->ndirect)
	{
		int64		n = Max(d->ndirect, 1024);

		while (n <= k)
			n *= 2;
		d->direct = bk_grow(e, d->direct, sizeof(int32) * d->ndirect, sizeof(int32) * n);
		memset(d->direct + d->ndirect, 0, sizeof(int32) * (n - d->ndirect));
		d->ndirect = n;
	}
	return &d->direct[k];
}

static inline int32
bk_item_id(BasketEngine *e, BkCol *c, Datum d)
{
	int32	   *cell = bk_direct(e, &e->items, c, d);
	int32		id;

	if (cell && *cell > 0)
		return *cell - 1;
	id = bk_item_id_hashed(e, c, d);
	if (cell)
		*cell = id + 1;
	return id;
}

static int32
bk_item_id_hashed(BasketEngine *e, BkCol *c, Datum d)
{
	Datum		buf;
	int32		len;
	uint32		h;
	const char *key = bk_key(c, d, &buf, &len, &h);
	bool		isnew;
	int32		id = bk_dict_get(e, &e->items, key, len, h, &isnew);

	if (isnew)
	{
		if (c->kind == BK_KEY_DATUM)
		{
			char	   *s = OutputFunctionCall(&c->out, d);

			e->item_name[id] = bk_arena_copy(e, s, strlen(s));
		}
		else
			e->item_name[id] = e->items.key[id];
	}
	return id;
}

/*
 * While pairs arrive grouped by transaction (arrays always do, rows usually)
 * a transaction is an offset, not a tid per pair: 8 bytes a basket instead of
 * 4 an item.
 */
static void
bk_toff_fill(BasketEngine *e, int32 tid)
{
	if ((int64) tid + 2 > e->captoff)
	{
		int64		ncap = bk_next_cap(e->captoff, (int64) tid + 2);

		e->toff = bk_grow(e, e->toff, sizeof(int64) * e->captoff, sizeof(int64) * ncap);
		e->captoff = ncap;
	}
	for (int32 t = e->lasttid + 1; t <= tid; t++)
		e->toff[t] = e->npairs;
	e->lasttid = tid;
}

/* A pair came out of order: from here on every pair keeps its tid. */
static void
bk_ungroup(BasketEngine *e)
{
	e->ptid = bk_alloc(e, sizeof(int32) * Max(e->cappairs, 1));
	for (int32 t = 0; t <= e->lasttid; t++)
	{
		int64		end = t < e->lasttid ? e->toff[t + 1] : e->npairs;

		for (int64 p = e->toff[t]; p < end; p++)
			e->ptid[p] = t;
	}
	bk_free(e, e->toff, sizeof(int64) * e->captoff);
	e->toff = NULL;
	e->captoff = 0;
	e->grouped = false;
}

static inline void
bk_add_pair(BasketEngine *e, int32 tid, int32 item)
{
	if (e->npairs == e->cappairs)
	{
		int64		ncap = bk_next_cap(e->cappairs, e->npairs + 1);

		if (!e->grouped)
			e->ptid = bk_grow(e, e->ptid, sizeof(int32) * e->cappairs, sizeof(int32) * ncap);
		e->pitem = bk_grow(e, e->pitem, sizeof(int32) * e->cappairs, sizeof(int32) * ncap);
		e->cappairs = ncap;
	}
	if (e->grouped && tid != e->lasttid)
	{
		if (tid > e->lasttid)
			bk_toff_fill(e, tid);
		else
			bk_ungroup(e);
	}
	if (!e->grouped)
		e->ptid[e->npairs] = tid;
	e->pitem[e->npairs] = item;
	e->npairs++;
}

static int32
bk_new_transaction(BasketEngine *e)
{
	if (e->ntrans == PG_INT32_MAX - 1)
		mk_error(ERRCODE_PROGRAM_LIMIT_EXCEEDED, NULL,
				 "basket mining supports at most %d transactions", PG_INT32_MAX - 1);
	return e->ntrans++;
}

/* ---------------------------------------------------------------------
 * Public: create, load.
 */
BasketEngine *
basket_engine_create(MemoryContext parent, Size limit_bytes)
{
	MemoryContext ctx = AllocSetContextCreate(parent, "mekatek basket engine",
											  ALLOCSET_DEFAULT_SIZES);
	BasketEngine *e = MemoryContextAllocZero(ctx, sizeof(BasketEngine));

	e->ctx = ctx;
	e->scratch = AllocSetContextCreate(ctx, "mekatek basket batch",
									   ALLOCSET_DEFAULT_SIZES);
	e->limit = limit_bytes;
	e->grouped = true;
	e->lasttid = -1;
	bk_dict_init(e, &e->items);
	bk_dict_init(e, &e->tids);
	return e;
}

Size
basket_engine_peak(BasketEngine *e)
{
	return e->peak;
}

void
basket_engine_destroy(BasketEngine *e)
{
	MemoryContextDelete(e->ctx);
}

static void
bk_load_batch(BasketEngine *e, SPITupleTable *tt, uint64 ntup, bool arrays,
			  BkCol *tidcol, BkCol *itemcol, Oid elemtype)
{
	TupleDesc	desc = tt->tupdesc;
	int16		elmlen = 0;
	bool		elmbyval = false;
	char		elmalign = 'i';
	int32		last_tid = -1;
	int32		last_len = -1;

	if (arrays)
		get_typlenbyvalalign(elemtype, &elmlen, &elmbyval, &elmalign);

	for (uint64 r = 0; r < ntup; r++)
	{
		HeapTuple	tup = tt->vals[r];
		bool		isnull;
		Datum		d = heap_getattr(tup, 1, desc, &isnull);

		if (isnull)
			continue;
		if (arrays)
		{
			ArrayType  *arr = DatumGetArrayTypeP(d);
			Datum	   *elems;
			bool	   *nulls;
			int			n;
			int32		tid = bk_new_transaction(e);

			if (elemtype == INT4OID && !ARR_HASNULL(arr))
			{
				/*
				 * int[] without NULLs, the common input: its elements read
				 * in place, as deconstruct_array would fetch them, without
				 * its two arrays per basket
				 */
				const int32 *v = (const int32 *) ((const char *) arr +
												  ARR_OVERHEAD_NONULLS(ARR_NDIM(arr)));
				int			nv = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));

				for (int i = 0; i < nv; i++)
					bk_add_pair(e, tid, bk_item_id(e, itemcol, Int32GetDatum(v[i])));
				if ((Pointer) arr != DatumGetPointer(d))
					pfree(arr);
				continue;
			}
			deconstruct_array(arr, elemtype, elmlen, elmbyval, elmalign,
							  &elems, &nulls, &n);
			for (int i = 0; i < n; i++)
				if (!nulls[i])
					bk_add_pair(e, tid, bk_item_id(e, itemcol, elems[i]));
			if ((Pointer) arr != DatumGetPointer(d))
				pfree(arr);
			pfree(elems);
			pfree(nulls);
		}
		else
		{
			Datum		buf;
			int32		len;
			uint32		h;
			const char *key;
			int32	   *cell = bk_direct(e, &e->tids, tidcol, d);
			int32		tid;
			Datum		item;

			if (cell && *cell > 0)
				tid = *cell - 1;
			else
			{
				key = bk_key(tidcol, d, &buf, &len, &h);
				/* rows usually come grouped by transaction: no lookup */
				if (last_tid >= 0 && len == last_len &&
					bk_key_eq(key, e->tids.key[last_tid], len))
					tid = last_tid;
				else
				{
					bool		isnew;

					tid = bk_dict_get(e, &e->tids, key, len, h, &isnew);
					if (isnew)
						bk_new_transaction(e);
					last_tid = tid;
					last_len = len;
				}
				if (cell)
					*cell = tid + 1;
			}
			item = heap_getattr(tup, 2, desc, &isnull);
			if (!isnull)
				bk_add_pair(e, tid, bk_item_id(e, itemcol, item));
		}
	}
}

void
basket_engine_load_query(BasketEngine *e, const char *query)
{
	MkQueryReader reader;
	SPITupleTable *batch;
	TupleDesc	desc;
	bool		arrays;
	Oid			elemtype = InvalidOid;
	BkCol		tidcol;
	BkCol		itemcol;
	MemoryContext old;

	if (e->loaded || e->mined)
		elog(ERROR, "basket engine: baskets already loaded");
	e->loaded = true;

	mk_query_open(&reader, query, "transactions",
				  "Give a SELECT that returns (transaction id, item) rows or one array of items per basket.");
	desc = reader.desc;

	if (desc->natts == 1)
	{
		Oid			t = TupleDescAttr(desc, 0)->atttypid;

		elemtype = get_element_type(getBaseType(t));
		if (!OidIsValid(elemtype))
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
					 "Return one array of items per basket, or two columns (transaction id, item).",
					 "the transactions query returns one column of type %s, not an array",
					 format_type_be(t));
		arrays = true;
		bk_col_init(e, &itemcol, elemtype);
	}
	else if (desc->natts == 2)
	{
		arrays = false;
		bk_col_init(e, &tidcol, TupleDescAttr(desc, 0)->atttypid);
		bk_col_init(e, &itemcol, TupleDescAttr(desc, 1)->atttypid);
	}
	else
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
				 "Return two columns (transaction id, item) or one array of items per basket.",
				 "the transactions query returns %d columns, not 1 or 2", desc->natts);

	while ((batch = mk_query_fetch(&reader, BK_BATCH)) != NULL)
	{
		old = MemoryContextSwitchTo(e->scratch);
		bk_load_batch(e, batch, reader.nrows, arrays, &tidcol, &itemcol, elemtype);
		MemoryContextSwitchTo(old);
		MemoryContextReset(e->scratch);
	}
	mk_query_close(&reader);
}

/* ---------------------------------------------------------------------
 * Mining.
 */
int64
basket_min_count(double fraction, int64 n)
{
	/*
	 * fraction * n may land a hair above an integer (0.07 * 100 =
	 * 7.000000000000001): allow a relative 1e-12 so that such a borderline
	 * itemset is not dropped.
	 */
	double		x = fraction * (double) n;
	double		c = ceil(x * (1.0 - 1e-12));

	return c < 1 ? 1 : (int64) c;
}

static int
bk_cmp_int32(const void *a, const void *b)
{
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	return (x > y) - (x < y);
}

void
basket_sort_ids(int32 *a, int64 n)
{
	if (n > 32)
	{
		pg_qsort(a, n, sizeof(int32), bk_cmp_int32);
		return;
	}
	for (int64 i = 1; i < n; i++)
	{
		int32		v = a[i];
		int64		j = i;

		while (j > 0 && a[j - 1] > v)
		{
			a[j] = a[j - 1];
			j--;
		}
		a[j] = v;
	}
}

/*
 * The itemset arrays grow by a quarter: on dense data they are the largest
 * arrays of the run, and doubling left up to half of them unused at the
 * peak (repalloc of a chunk this large moves pages, it does not copy).
 */
static int64
bk_next_cap_sets(int64 cap, int64 need)
{
	int64		c = Max(cap, 1024);

	while (c < need)
		c += c / 4;
	return c;
}

/* Append the itemset prefix[0 .. plen-1] + last. */
static void
bk_emit(BasketEngine *e, const int32 *prefix, int plen, int32 last, int64 count)
{
	BkSet	   *s;

	if (e->nsets == PG_INT32_MAX)
		mk_error(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
				 "Raise min_support or set max_len.",
				 "basket mining supports at most %d frequent itemsets", PG_INT32_MAX);
	if (e->nsets == e->capsets)
	{
		int64		ncap = bk_next_cap_sets(e->capsets, e->nsets + 1);

		e->sets = bk_grow(e, e->sets, sizeof(BkSet) * e->capsets, sizeof(BkSet) * ncap);
		e->capsets = ncap;
	}
	if (e->nsetitems + plen + 1 > e->capsetitems)
	{
		int64		ncap = bk_next_cap_sets(e->capsetitems, e->nsetitems + plen + 1);

		e->setitems = bk_grow(e, e->setitems, sizeof(int32) * e->capsetitems,
							  sizeof(int32) * ncap);
		e->capsetitems = ncap;
	}
	s = &e->sets[e->nsets++];
	s->count = (int32) count;
	s->off = e->nsetitems;
	s->len = plen + 1;
	if (plen > 0)
		memcpy(e->setitems + e->nsetitems, prefix, sizeof(int32) * plen);
	e->setitems[e->nsetitems + plen] = last;
	e->nsetitems += plen + 1;
}

/*
 * out = a & b (ascending tid lists).  Gives up, returning a count below
 * minc, as soon as the remaining tids cannot reach minc.
 */
static int32
bk_intersect(const int32 *a, int32 na, const int32 *b, int32 nb, int32 *out, int64 minc)
{
	int32		c = 0;
	int32		i = 0;
	int32		j = 0;

	if (na > nb)
	{
		const int32 *t = a;
		int32		tn = na;

		a = b;
		na = nb;
		b = t;
		nb = tn;
	}

	if ((int64) na * 16 < nb)
	{
		/* b is much longer: gallop through it */
		for (i = 0; i < na; i++)
		{
			int32		x = a[i];
			int32		lo = j;
			int32		hi = j;
			int32		step = 1;

			if (c + (na - i) < minc)
				return c;
			while (hi < nb && b[hi] < x)
			{
				lo = hi + 1;
				hi = (nb - hi > step) ? hi + step : nb;
				step *= 2;
			}
			while (lo < hi)
			{
				int32		mid = lo + (hi - lo) / 2;

				if (b[mid] < x)
					lo = mid + 1;
				else
					hi = mid;
			}
			j = lo;
			if (j >= nb)
				break;
			if (b[j] == x)
			{
				out[c++] = x;
				j++;
			}
		}
		return c;
	}

	/*
	 * Branch-free merge: which list advances is data, not a jump, so the
	 * mispredicted compare of a branching merge (most of the sparse runs'
	 * mining) goes.  out[c] is written on every step and kept only on a
	 * match; c < Min(na, nb) while the loop runs, so it stays in bounds.
	 */
	while (i < na && j < nb)
	{
		int32		x = a[i];
		int32		y = b[j];

		out[c] = x;
		c += (x == y);
		i += (x <= y);
		j += (y <= x);
		if (c + Min(na - i, nb - j) < minc)
			return c;
	}
	return c;
}

/*
 * out = a & b with the weights of the common tids in outw (*nout of them);
 * returns their summed weight.  ra and rb are the summed weights of a and
 * b: it gives up, returning less than minc, as soon as the weight left in
 * either list cannot reach minc.
 */
static int64
bk_intersect_w(const int32 *a, const int32 *wa, int32 na, int64 ra,
			   const int32 *b, const int32 *wb, int32 nb, int64 rb,
			   int32 *out, int32 *outw, int32 *nout, int64 minc)
{
	int64		c = 0;
	int32		i = 0;
	int32		j = 0;
	int32		k = 0;

	while (i < na && j < nb)
	{
		if (a[i] < b[j])
		{
			ra -= wa[i++];
			if (c + ra < minc)
				break;
		}
		else if (a[i] > b[j])
		{
			rb -= wb[j++];
			if (c + rb < minc)
				break;
		}
		else
		{
			out[k] = a[i];
			outw[k++] = wa[i];
			c += wa[i];
			ra -= wa[i++];
			rb -= wb[j++];
		}
	}
	*nout = k;
	return c;
}

/*
 * Eclat below the prefix e->prefix[0 .. plen-1]: ext[] are its frequent
 * one-item extensions (each already emitted) with their tid lists.
 */
static void
bk_eclat(BasketEngine *e, int plen, BkExt *ext, int32 m)
{
	/* the itemsets made here have plen + 2 items */
	if (plen + 2 > e->max_len)
		return;
	check_stack_depth();

	for (int32 i = 0; i < m - 1; i++)
	{
		Size		nextbytes = sizeof(BkExt) * (m - i - 1);
		BkExt	   *next = bk_alloc(e, nextbytes);
		int32		nm = 0;

		CHECK_FOR_INTERRUPTS();
		e->prefix[plen] = ext[i].item;
		for (int32 j = i + 1; j < m; j++)
		{
			int32		n = Min(ext[i].n, ext[j].n);
			int32		cap = e->weighted ? 2 * n : n;
			int32	   *buf = bk_alloc(e, sizeof(int32) * cap);
			int64		c;

			if (e->weighted)
				c = bk_intersect_w(ext[i].tids, ext[i].w, ext[i].n, ext[i].count,
								   ext[j].tids, ext[j].w, ext[j].n, ext[j].count,
								   buf, buf + n, &n, e->minc);
			else
				n = c = bk_intersect(ext[i].tids, ext[i].n, ext[j].tids, ext[j].n,
									 buf, e->minc);
			if (c >= e->minc)
			{
				bk_emit(e, e->prefix, plen + 1, ext[j].item, c);
				next[nm].item = ext[j].item;
				next[nm].n = n;
				next[nm].cap = cap;
				next[nm].tids = buf;
				next[nm].w = e->weighted ? buf + cap / 2 : NULL;
				next[nm].count = c;
				nm++;
			}
			else
				bk_free(e, buf, sizeof(int32) * cap);
		}
		if (nm >= 2)
			bk_eclat(e, plen + 1, next, nm);
		for (int32 k = 0; k < nm; k++)
			bk_free(e, next[k].tids, sizeof(int32) * next[k].cap);
		bk_free(e, next, nextbytes);
	}
}

/*
 * Occurrence delivery (LCM's), for unweighted sparse baskets: below the
 * prefix e->prefix[0 .. plen-1], ext[i].tids hold the position in titems of
 * ext[i].item in each basket holding the prefix and the item.  The
 * extensions of prefix + ext[i] are counted by walking those baskets from
 * just after the item: a pass costs the baskets' remaining items, where
 * Eclat's merges cost both lists once per sibling (m - i merges for one
 * set), which is most of a sparse run's mining.  A second walk delivers the
 * positions of the frequent extensions' items, the next level's lists.
 * pos[item] is the item's index in ext (-1 for other items); before a
 * deeper call the items after ext[i] are set to -1 (it sets its own, a
 * subset of them) and they are set back after it.  The sets are emitted in Eclat's order.
 */
static void
bk_occ(BasketEngine *e, int plen, BkExt *ext, int32 m, int32 *pos)
{
	const int32 *titems = e->titems;
	Size		localbytes = sizeof(int32) * 3 * (Size) m;
	int32	   *cnt;
	int32	   *touched;
	int32	   *slot;

	/* the itemsets made here have plen + 2 items */
	if (plen + 2 > e->max_len)
		return;
	check_stack_depth();

	cnt = bk_alloc0(e, localbytes);
	touched = cnt + m;
	slot = touched + m;
	for (int32 j = 0; j < m; j++)
	{
		pos[ext[j].item] = j;
		slot[j] = -1;
	}

	for (int32 i = 0; i < m - 1; i++)
	{
		int32		nt = 0;
		int32		ne = 0;

		CHECK_FOR_INTERRUPTS();
		e->prefix[plen] = ext[i].item;
		/* baskets are ascending, so every item after ext[i] has j > i */
		for (int32 q = 0; q < ext[i].n; q++)
			for (const int32 *p = titems + ext[i].tids[q] + 1; *p >= 0; p++)
			{
				int32		j = pos[*p];

				if (j >= 0 && cnt[j]++ == 0)
					touched[nt++] = j;
			}
		for (int32 k = 0; k < nt; k++)
		{
			int32		j = touched[k];

			if (cnt[j] >= e->minc)
				touched[ne++] = j;
			else
				cnt[j] = 0;
		}
		basket_sort_ids(touched, ne);
		for (int32 k = 0; k < ne; k++)
			bk_emit(e, e->prefix, plen + 1, ext[touched[k]].item, cnt[touched[k]]);

		if (ne >= 2 && plen + 3 <= e->max_len)
		{
			Size		nextbytes = sizeof(BkExt) * ne;
			BkExt	   *next = bk_alloc(e, nextbytes);
			int64		total = 0;
			int32	   *buf;

			for (int32 k = 0; k < ne; k++)
				total += cnt[touched[k]];
			buf = bk_alloc(e, sizeof(int32) * total);
			total = 0;
			for (int32 k = 0; k < ne; k++)
			{
				int32		j = touched[k];

				next[k].item = ext[j].item;
				next[k].n = 0;
				next[k].cap = cnt[j];
				next[k].tids = buf + total;
				next[k].w = NULL;
				next[k].count = cnt[j];
				total += cnt[j];
				slot[j] = k;
			}
			for (int32 q = 0; q < ext[i].n; q++)
				for (const int32 *p = titems + ext[i].tids[q] + 1; *p >= 0; p++)
				{
					int32		j = pos[*p];

					if (j >= 0 && slot[j] >= 0)
					{
						BkExt	   *x = &next[slot[j]];

						x->tids[x->n++] = (int32) (p - titems);
					}
				}
			for (int32 k = 0; k < ne; k++)
			{
				slot[touched[k]] = -1;
				cnt[touched[k]] = 0;
			}
			/* the deeper call must see only its own items */
			for (int32 j = i + 1; j < m; j++)
				pos[ext[j].item] = -1;
			bk_occ(e, plen + 1, next, ne, pos);
			for (int32 j = i + 1; j < m; j++)
				pos[ext[j].item] = j;
			bk_free(e, buf, sizeof(int32) * total);
			bk_free(e, next, nextbytes);
		}
		else
			for (int32 k = 0; k < ne; k++)
				cnt[touched[k]] = 0;
	}
	bk_free(e, cnt, localbytes);
}

/*
 * Eclat on bitsets, for dense data: below a prefix item a, transaction k
 * (the k-th basket holding a) is bit k.  An intersection is count(a) / 64
 * word ANDs and one popcount, however many baskets hold both, where list
 * merging would walk two long lists.
 */
typedef struct BkBits
{
	int32		item;
	uint64	   *w;
} BkBits;

static void
bk_eclat_bits(BasketEngine *e, int plen, BkBits *ext, int32 m, int32 nw)
{
	if (plen + 2 > e->max_len)
		return;
	check_stack_depth();

	for (int32 i = 0; i < m - 1; i++)
	{
		Size		nextbytes = sizeof(BkBits) * (m - i - 1);
		Size		blockbytes = sizeof(uint64) * nw * (m - i - 1);
		BkBits	   *next = bk_alloc(e, nextbytes);
		uint64	   *block = bk_alloc(e, blockbytes);
		int32		nm = 0;
		const uint64 *x = ext[i].w;

		CHECK_FOR_INTERRUPTS();
		e->prefix[plen] = ext[i].item;
		for (int32 j = i + 1; j < m; j++)
		{
			uint64	   *out = block + (Size) nm * nw;
			const uint64 *y = ext[j].w;
			int64		c;

			for (int32 k = 0; k < nw; k++)
				out[k] = x[k] & y[k];
			c = (int64) pg_popcount((const char *) out, nw * (int) sizeof(uint64));
			if (c >= e->minc)
			{
				bk_emit(e, e->prefix, plen + 1, ext[j].item, c);
				next[nm].item = ext[j].item;
				next[nm].w = out;
				nm++;
			}
		}
		if (nm >= 2)
			bk_eclat_bits(e, plen + 1, next, nm, nw);
		bk_free(e, block, blockbytes);
		bk_free(e, next, nextbytes);
	}
}

/*
 * The extensions of prefix a as bitsets over the baskets holding a (the
 * k-th of them is bit k), then Eclat on them.
 */
static void
bk_deep_bits(BasketEngine *e, int32 a, const int64 *loff, const int32 *ltids,
			 const int32 *touched, int32 ne, int32 *pos)
{
	int64		u = loff[a + 1] - loff[a];
	int32		nw = (int32) ((u + 63) / 64);
	Size		extbytes = sizeof(BkBits) * ne;
	Size		blockbytes = sizeof(uint64) * nw * ne;
	BkBits	   *ext = bk_alloc(e, extbytes);
	uint64	   *block = bk_alloc0(e, blockbytes);

	for (int32 i = 0; i < ne; i++)
	{
		ext[i].item = touched[i];
		ext[i].w = block + (Size) i * nw;
		pos[touched[i]] = i;
	}
	for (int64 k = 0; k < u; k++)
	{
		const int32 *p = e->titems + ltids[loff[a] + k] + 1;
		uint64		bit = (uint64) 1 << (k & 63);
		int64		word = k >> 6;

		if (k + BK_PREFETCH < u)
			__builtin_prefetch(e->titems + ltids[loff[a] + k + BK_PREFETCH]);

		for (; *p >= 0; p++)
		{
			int32		i = pos[*p];

			if (i >= 0)
				ext[i].w[word] |= bit;
		}
	}
	for (int32 i = 0; i < ne; i++)
		pos[touched[i]] = -1;
	bk_eclat_bits(e, 1, ext, ne, nw);
	bk_free(e, block, blockbytes);
	bk_free(e, ext, extbytes);
}

static int
bk_cmp_rank(const void *a, const void *b, void *arg)
{
	const int32 *count = arg;
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	if (count[x] != count[y])
		return count[x] < count[y] ? -1 : 1;
	return (x > y) - (x < y);
}

static int
bk_cmp_name(const void *a, const void *b, void *arg)
{
	const char *const *name = arg;

	return strcmp(name[*(const int32 *) a], name[*(const int32 *) b]);
}

/* Group pairs by transaction, drop duplicates, count items. */
static int32 *
bk_group(BasketEngine *e, int64 **offp, int32 **itemsp, Size *itemsbytes)
{
	int32		n = e->ntrans;
	int64	   *off;
	int32	   *items;
	int32	   *icount = bk_alloc0(e, sizeof(int32) * Max(e->items.n, 1));
	int32	   *seen;
	int64		w = 0;

	if (e->grouped)
	{
		/* transactions after the last pair (all NULL items) are empty */
		if (n > 0)
			bk_toff_fill(e, n - 1);
		else if (e->toff == NULL)
			bk_toff_fill(e, -1);
		off = e->toff;
		off[n] = e->npairs;
		e->offbytes = sizeof(int64) * e->captoff;
		e->toff = NULL;
		items = e->pitem;
		*itemsbytes = sizeof(int32) * e->cappairs;
	}
	else
	{
		int64	   *fill = bk_alloc(e, sizeof(int64) * Max(n, 1));

		e->offbytes = sizeof(int64) * ((Size) n + 1);
		off = bk_alloc0(e, e->offbytes);
		for (int64 p = 0; p < e->npairs; p++)
			off[e->ptid[p] + 1]++;
		for (int32 t = 0; t < n; t++)
			off[t + 1] += off[t];
		memcpy(fill, off, sizeof(int64) * n);
		items = bk_alloc(e, sizeof(int32) * Max(e->npairs, 1));
		*itemsbytes = sizeof(int32) * Max(e->npairs, 1);
		for (int64 p = 0; p < e->npairs; p++)
		{
			if ((p & 0xffff) == 0)
				CHECK_FOR_INTERRUPTS();
			items[fill[e->ptid[p]]++] = e->pitem[p];
		}
		bk_free(e, fill, sizeof(int64) * Max(n, 1));
		bk_free(e, e->pitem, sizeof(int32) * e->cappairs);
		bk_free(e, e->ptid, sizeof(int32) * e->cappairs);
	}
	e->ptid = e->pitem = NULL;

	/* drop duplicates with a last-seen mark; recoding sorts afterwards */
	seen = bk_alloc0(e, sizeof(int32) * Max(e->items.n, 1));
	for (int32 t = 0; t < n; t++)
	{
		int64		s = off[t];
		int64		end = off[t + 1];

		if ((t & 0xfff) == 0)
			CHECK_FOR_INTERRUPTS();
		off[t] = w;
		for (int64 k = s; k < end; k++)
		{
			int32		it = items[k];

			if (seen[it] != t + 1)
			{
				seen[it] = t + 1;
				items[w++] = it;
				icount[it]++;
			}
		}
	}
	off[n] = w;
	bk_free(e, seen, sizeof(int32) * Max(e->items.n, 1));
	*offp = off;
	*itemsp = items;
	return icount;
}

/*
 * Bitsets pay when the extensions of a prefix hold, on average, at least
 * one in sixteen of the baskets holding the prefix: a list then costs more
 * to merge (and as much to store) as u / 64 words cost to AND.
 */
static bool
bk_dense(const int32 *cnt, const int32 *touched, int32 ne, int64 u)
{
	int64		total = 0;

	for (int32 i = 0; i < ne; i++)
		total += cnt[touched[i]];
	return total * 16 >= u * ne;
}

/*
 * Mine pairs and longer itemsets over the recoded transactions.  The tid list
 * of a rank holds, for each transaction containing it, the position of the
 * rank inside titems: the items after it run up to the -1 ending the
 * transaction, so no pass ever rescans the rarer items before it.  Those
 * positions also serve as the transaction ids of the Eclat lists below the
 * prefix: unique and ascending.
 */
static void
bk_mine_deep(BasketEngine *e)
{
	int32		nf = e->nfreq;
	int32	   *titems = e->titems;
	int64		nt_items = e->ntitems;
	int64	   *loff = bk_alloc0(e, sizeof(int64) * ((Size) nf + 1));
	int64	   *fill = bk_alloc(e, sizeof(int64) * nf);
	int32	   *ltids = bk_alloc(e, sizeof(int32) * Max(nt_items, 1));
	int32	   *cnt = bk_alloc0(e, sizeof(int32) * nf);
	int32	   *pos = bk_alloc(e, sizeof(int32) * nf);
	int32	   *touched = bk_alloc(e, sizeof(int32) * nf);
	/* reduced baskets: cnt sums weights, occ counts baskets (list lengths) */
	int32	   *occ = e->weighted ? bk_alloc0(e, sizeof(int32) * nf) : cnt;

	e->prefix = bk_alloc(e, sizeof(int32) * ((Size) nf + 1));
	memset(pos, 0xff, sizeof(int32) * nf);

	for (int64 k = 0; k < nt_items; k++)
		if (titems[k] >= 0)
			loff[titems[k] + 1]++;
	for (int32 r = 0; r < nf; r++)
		loff[r + 1] += loff[r];
	memcpy(fill, loff, sizeof(int64) * nf);
	for (int64 k = 0; k < nt_items; k++)
		if (titems[k] >= 0)
			ltids[fill[titems[k]]++] = (int32) k;
	bk_free(e, fill, sizeof(int64) * nf);

	for (int32 a = 0; a < nf - 1; a++)
	{
		int32		nt = 0;
		int32		ne = 0;
		int64		walked = 0;		/* items after a in its baskets */
		int64		walked2 = 0;	/* and the sum of their squares */
		bool		deliver;

		CHECK_FOR_INTERRUPTS();
		/*
		 * One pass counts every pair {a, b}, b after a.  The baskets holding
		 * a lie anywhere in titems: on large inputs each is a cache miss, so
		 * the one some iterations ahead is fetched while this one is counted.
		 */
		for (int64 q = loff[a]; q < loff[a + 1]; q++)
		{
			const int32 *p = titems + ltids[q] + 1;

			if (q + BK_PREFETCH < loff[a + 1])
				__builtin_prefetch(titems + ltids[q + BK_PREFETCH]);

			if (e->weighted)
			{
				const int32 *end = p;
				int32		w;

				while (*end >= 0)
					end++;
				w = -*end;
				for (; p < end; p++)
				{
					if (occ[*p]++ == 0)
						touched[nt++] = *p;
					cnt[*p] += w;
				}
				continue;
			}
			{
				const int32 *start = p;

				for (; *p >= 0; p++)
					if (cnt[*p]++ == 0)
						touched[nt++] = *p;
				walked += p - start;
				walked2 += (int64) (p - start) * (p - start);
			}
		}
		for (int32 i = 0; i < nt; i++)
		{
			int32		b = touched[i];

			if (cnt[b] >= e->minc)
				touched[ne++] = b;
			else
				cnt[b] = occ[b] = 0;
		}
		basket_sort_ids(touched, ne);
		e->prefix[0] = a;
		for (int32 i = 0; i < ne; i++)
			bk_emit(e, e->prefix, 1, touched[i], cnt[touched[i]]);

		if (ne >= 2 && e->max_len >= 3 && !e->weighted &&
			bk_dense(cnt, touched, ne, loff[a + 1] - loff[a]))
		{
			bk_deep_bits(e, a, loff, ltids, touched, ne, pos);
			for (int32 i = 0; i < ne; i++)
				cnt[touched[i]] = 0;	/* never weighted: occ is cnt */
		}
		else if (ne >= 2 && e->max_len >= 3)
		{
			/* a second pass collects the tid lists of the frequent pairs */
			Size		extbytes = sizeof(BkExt) * ne;
			BkExt	   *ext = bk_alloc(e, extbytes);
			int64		total = 0;
			int32	   *buf;

			/*
			 * Below a, Eclat merges each pair's list with its ne - 1
			 * siblings' (about (ne - 1) * walked tids); occurrence delivery
			 * walks each basket once per extension item in it (about the
			 * sum of the squared lengths).  The cheaper one mines a.
			 */
			deliver = !e->weighted && walked2 < (int64) (ne - 1) * walked;

			for (int32 i = 0; i < ne; i++)
				total += occ[touched[i]] * (e->weighted ? 2 : 1);
			buf = bk_alloc(e, sizeof(int32) * total);
			total = 0;
			for (int32 i = 0; i < ne; i++)
			{
				int32		b = touched[i];

				ext[i].item = b;
				ext[i].n = 0;
				ext[i].cap = occ[b] * (e->weighted ? 2 : 1);
				ext[i].tids = buf + total;
				ext[i].w = e->weighted ? buf + total + occ[b] : NULL;
				ext[i].count = cnt[b];
				total += ext[i].cap;
				pos[b] = i;
			}
			for (int64 q = loff[a]; q < loff[a + 1]; q++)
			{
				int32		t = ltids[q];
				const int32 *p = titems + t + 1;
				int32		w = 1;

				if (q + BK_PREFETCH < loff[a + 1])
					__builtin_prefetch(titems + ltids[q + BK_PREFETCH]);

				if (e->weighted)
				{
					const int32 *end = p;

					while (*end >= 0)
						end++;
					w = -*end;
				}
				/*
				 * Eclat's lists hold a's position, the same for every item of
				 * a basket; occurrence delivery's the item's own
				 */
				for (; *p >= 0; p++)
				{
					int32		i = pos[*p];

					if (i >= 0)
					{
						if (ext[i].w)
							ext[i].w[ext[i].n] = w;
						ext[i].tids[ext[i].n++] = deliver ? (int32) (p - titems) : t;
					}
				}
			}
			if (!deliver)
			{
				for (int32 i = 0; i < ne; i++)
					pos[touched[i]] = -1;
				bk_eclat(e, 1, ext, ne);
			}
			else
			{
				bk_occ(e, 1, ext, ne, pos);
				for (int32 i = 0; i < ne; i++)
					pos[touched[i]] = -1;
			}
			for (int32 i = 0; i < ne; i++)
				cnt[touched[i]] = occ[touched[i]] = 0;
			bk_free(e, buf, sizeof(int32) * total);
			bk_free(e, ext, extbytes);
		}
		else
			for (int32 i = 0; i < ne; i++)
				cnt[touched[i]] = occ[touched[i]] = 0;
	}

	if (occ != cnt)
		bk_free(e, occ, sizeof(int32) * nf);
	bk_free(e, touched, sizeof(int32) * nf);
	bk_free(e, pos, sizeof(int32) * nf);
	bk_free(e, cnt, sizeof(int32) * nf);
	bk_free(e, ltids, sizeof(int32) * Max(nt_items, 1));
	bk_free(e, loff, sizeof(int64) * ((Size) nf + 1));
	bk_free(e, e->prefix, sizeof(int32) * ((Size) nf + 1));
	e->prefix = NULL;
}

/* Frequent items, ranked by ascending support; each is emitted as a set. */
static int32 *
bk_rank_items(BasketEngine *e, const int32 *icount)
{
	int32		nall = e->items.n;
	int32		nf = 0;
	int32	   *rank2item;

	for (int32 i = 0; i < nall; i++)
		if (icount[i] >= e->minc)
			nf++;
	e->nfreq = nf;
	rank2item = bk_alloc(e, sizeof(int32) * Max(nf, 1));
	nf = 0;
	for (int32 i = 0; i < nall; i++)
		if (icount[i] >= e->minc)
			rank2item[nf++] = i;
	qsort_arg(rank2item, nf, sizeof(int32), bk_cmp_rank, (void *) icount);
	for (int32 r = 0; r < nf; r++)
		bk_emit(e, NULL, 0, r, icount[rank2item[r]]);
	return rank2item;
}

/*
 * Recode the transactions with two or more frequent items as their ascending
 * ranks, each followed by -1, into e->titems, in place: the baskets move to
 * the end of their buffer (grown by one slot a basket if needed) and the
 * recoded ones are written from the front, which never overtakes the reading
 * (a basket grows by at most its -1).  Returns the buffer's size in bytes.
 */
static Size
bk_recode(BasketEngine *e, const int64 *off, int32 *items, Size itemsbytes,
		  const int32 *icount, const int32 *rank2item)
{
	int32		nall = e->items.n;
	int32		nf = e->nfreq;
	int32	   *rank = bk_alloc(e, sizeof(int32) * nall);
	int64		bound = e->ntrans;	/* the -1 ends */
	int64		used = off[e->ntrans];
	int64		need = used + e->ntrans + 1;
	int64		shift;
	int64		w = 0;

	for (int32 r = 0; r < nf; r++)
		bound += icount[rank2item[r]];
	if (bound >= PG_INT32_MAX)
		mk_error(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
				 "Raise min_support or mine a sample.",
				 "basket mining supports at most %d occurrences of frequent items, not %lld",
				 PG_INT32_MAX - 1, (long long) bound);
	if ((Size) need * sizeof(int32) > itemsbytes)
	{
		items = bk_grow(e, items, itemsbytes, sizeof(int32) * need);
		itemsbytes = sizeof(int32) * need;
	}
	shift = (int64) (itemsbytes / sizeof(int32)) - used;
	memmove(items + shift, items, sizeof(int32) * used);
	memset(rank, 0xff, sizeof(int32) * nall);
	for (int32 r = 0; r < nf; r++)
		rank[rank2item[r]] = r;
	for (int32 t = 0; t < e->ntrans; t++)
	{
		int64		start = w;

		if ((t & 0xfff) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int64 k = shift + off[t]; k < shift + off[t + 1]; k++)
			if (rank[items[k]] >= 0)
				items[w++] = rank[items[k]];
		if (w - start >= 2)
		{
			basket_sort_ids(items + start, w - start);
			items[w++] = -1;
		}
		else
			w = start;
	}
	bk_free(e, rank, sizeof(int32) * nall);
	e->titems = bk_shrink(e, items, itemsbytes, sizeof(int32) * (w + 1));
	e->ntitems = w;
	return Min(itemsbytes, sizeof(int32) * (w + 1));
}

/*
 * Transaction reduction, as Borgelt's programs do it (tbg_reduce): identical
 * recoded baskets become one, ended by -(their number) instead of -1, and
 * every count sums those weights.  Large inputs repeat baskets (a retail
 * set copied 57 times holds each one 57 times): the walks over a prefix's
 * baskets, which miss the cache on every basket, shrink with them.  Done
 * only on sparse baskets (the bitset Eclat of dense ones needs unit weights,
 * and measured faster on mushroom than weighted lists) and when it at least
 * halves them.  Returns the bytes titems holds afterwards.
 */
static bool
bk_same_basket(const int32 *a, const int32 *b)
{
	for (;; a++, b++)
	{
		if (*a != *b && (*a >= 0 || *b >= 0))
			return false;
		if (*a < 0)
			return true;
	}
}

/* Baskets met (the first of each kind stays); compacts them when compact. */
static int64
bk_reduce_pass(BasketEngine *e, int32 *slots, uint32 mask, bool compact)
{
	int32	   *t = e->titems;
	int64		n = e->ntitems;
	int64		w = 0;
	int64		kinds = 0;
	int64		nb = 0;

	for (int64 s = 0; s < n; nb++)
	{
		int64		len = 0;
		uint32		i;

		if ((nb & 0xffff) == 0)
			CHECK_FOR_INTERRUPTS();
		while (t[s + len] >= 0)
			len++;
		i = hash_bytes((const unsigned char *) (t + s), (int) (sizeof(int32) * len)) & mask;
		for (;;)
		{
			int32		v = slots[i];

			if (v == 0)
			{
				kinds++;
				if (compact)
				{
					memmove(t + w, t + s, sizeof(int32) * len);
					t[w + len] = -1;
					slots[i] = (int32) w + 1;
					w += len + 1;
				}
				else
					slots[i] = (int32) s + 1;
				break;
			}
			if (bk_same_basket(t + v - 1, t + s))
			{
				if (compact)
					t[v - 1 + len]--;
				break;
			}
			i = (i + 1) & mask;
		}
		s += len + 1;
	}
	if (compact)
		e->ntitems = w;
	return kinds * 2 <= nb ? kinds : -1;
}

static Size
bk_reduce(BasketEngine *e, Size tbytes)
{
	int64		nb = 0;
	Size		nslots = 16;
	int32	   *slots;

	for (int64 k = 0; k < e->ntitems; k++)
		nb += e->titems[k] < 0;
	/* dense baskets (more than one in sixteen items each) keep the bitsets */
	if (nb < 2 || (e->ntitems - nb) * 16 >= nb * e->nfreq)
		return tbytes;
	while (nslots < (Size) nb * 2)
		nslots *= 2;
	slots = bk_alloc0(e, sizeof(int32) * nslots);
	if (bk_reduce_pass(e, slots, (uint32) (nslots - 1), false) >= 0)
	{
		memset(slots, 0, sizeof(int32) * nslots);
		ereport(DEBUG1,
				(errmsg_internal("basket: %lld baskets of two or more frequent items reduced to %lld kinds",
								 (long long) nb,
								 (long long) bk_reduce_pass(e, slots, (uint32) (nslots - 1), true))));
		e->weighted = true;
		e->titems = bk_shrink(e, e->titems, tbytes, sizeof(int32) * (e->ntitems + 1));
		tbytes = Min(tbytes, sizeof(int32) * (e->ntitems + 1));
	}
	bk_free(e, slots, sizeof(int32) * nslots);
	return tbytes;
}

/*
 * Name the result's items in byte order: result item i is the i-th frequent
 * item by name.  Returns rank -> result item.
 */
static int32 *
bk_name_items(BasketEngine *e, BasketResult *res, const int32 *icount,
			  const int32 *rank2item)
{
	int32		nall = e->items.n;
	int32		nf = e->nfreq;
	int32	   *byname = bk_alloc(e, sizeof(int32) * Max(nf, 1));
	int32	   *newidx = bk_alloc(e, sizeof(int32) * Max(nf, 1));
	int32	   *item2name = bk_alloc(e, sizeof(int32) * Max(nall, 1));

	for (int32 r = 0; r < nf; r++)
		byname[r] = rank2item[r];
	qsort_arg(byname, nf, sizeof(int32), bk_cmp_name, e->item_name);
	res->nitems = nf;
	res->item_name = bk_alloc(e, sizeof(char *) * Max(nf, 1));
	res->item_count = bk_alloc(e, sizeof(int64) * Max(nf, 1));
	for (int32 i = 0; i < nf; i++)
	{
		item2name[byname[i]] = i;
		res->item_name[i] = e->item_name[byname[i]];
		res->item_count[i] = icount[byname[i]];
	}
	for (int32 r = 0; r < nf; r++)
		newidx[r] = item2name[rank2item[r]];
	bk_free(e, item2name, sizeof(int32) * Max(nall, 1));
	bk_free(e, byname, sizeof(int32) * Max(nf, 1));
	return newidx;
}

/* ---------------------------------------------------------------------
 * The result: itemsets in lexicographic order of their (name-ordered)
 * items, so that an itemset's index is its rank in that order.  Output
 * order then needs only integer keys: no comparator reaches through an
 * index into another array.
 */
static inline int
bk_cmp_lex(const BasketItemset *a, const BasketItemset *b)
{
	int32		n = Min(a->len, b->len);

	for (int32 i = 0; i < n; i++)
		if (a->items[i] != b->items[i])
			return a->items[i] < b->items[i] ? -1 : 1;
	return (a->len > b->len) - (a->len < b->len);
}

/*
 * The lexicographic sort compares a packed key first: the leading items
 * (each + 1, 0 past the end, so that a prefix sorts first) in one word,
 * as many as fit.  Only sets sharing all those items reach through their
 * pointers, which on dense data made the sort mostly cache misses.  The
 * key carries the set itself, so that the sorted sets are written back in
 * one sequential pass: permuting them in place by index was a chain of
 * dependent cache misses.
 */
typedef struct BkLexKey
{
	uint64		key;
	BasketItemset set;
} BkLexKey;

typedef struct BkLexArg
{
	int32		npacked;		/* items a key holds */
} BkLexArg;

static inline int
bk_cmp_lexkey(const BkLexKey *x, const BkLexKey *y, const BkLexArg *arg)
{
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	if (x->set.len <= arg->npacked && y->set.len <= arg->npacked)
		return 0;				/* equal keys: the same set, never two */
	return bk_cmp_lex(&x->set, &y->set);
}

#define ST_SORT bk_sort_lexkeys
#define ST_ELEMENT_TYPE BkLexKey
#define ST_COMPARE(a, b, arg) bk_cmp_lexkey(a, b, arg)
#define ST_COMPARE_ARG_TYPE BkLexArg
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * Sort sets[0 .. n-1] (items sorted, < nitems) lexicographically; returns
 * the sorted array, which replaces sets.  The keys are made in the sets'
 * own array, grown to hold them, and become the sorted sets again in
 * place: with a separate key array the sets, their items and the keys
 * were all live at once, the peak of the mining phase on dense data.
 */
static BasketItemset *
bk_sort_sets(BasketEngine *e, BasketItemset *sets, int64 n, int32 nitems)
{
	int			bits = 1;
	BkLexArg	arg;
	BkLexKey   *k;

	StaticAssertStmt(sizeof(BkLexKey) == sizeof(BasketItemset) + sizeof(uint64),
					 "a key is its packed items, then its set");
	while (bits < 32 && ((int64) 1 << bits) < (int64) nitems + 1)
		bits++;
	arg.npacked = 64 / bits;
	k = bk_grow(e, sets, sizeof(BasketItemset) * Max(n, 1), sizeof(BkLexKey) * Max(n, 1));
	/*
	 * Set s moves from byte 16s to byte 24s + 8, from the last: a set not
	 * yet moved (below 16s) is never written over.
	 */
	for (int64 s = n - 1; s >= 0; s--)
	{
		BasketItemset t = ((BasketItemset *) k)[s];
		uint64		key = 0;
		int32		len = Min(t.len, arg.npacked);

		for (int32 i = 0; i < arg.npacked; i++)
			key = (key << bits) | (uint64) (i < len ? t.items[i] + 1 : 0);
		k[s].key = key;
		k[s].set = t;
	}
	CHECK_FOR_INTERRUPTS();
	bk_sort_lexkeys(k, n, &arg);
	CHECK_FOR_INTERRUPTS();
	/* and back, from the first: set i goes from byte 24i + 8 to byte 16i */
	for (int64 i = 0; i < n; i++)
	{
		BasketItemset t = k[i].set;

		((BasketItemset *) k)[i] = t;
	}
	return bk_shrink(e, k, sizeof(BkLexKey) * Max(n, 1), sizeof(BasketItemset) * Max(n, 1));
}

/*
 * Rule generation looks up two subsets per rule.  A slot holds a 32-bit
 * fingerprint of the set beside its index, so that a lookup reads one word
 * and not the set's items: the lookups are only of sets known to be in the
 * table (subsets of frequent itemsets), so the first slot with the
 * fingerprint is the set as long as no set before it on its probe chain
 * shares the fingerprint.  Building the table checks that; if it ever
 * fails, lookups compare the items as well (hverify).
 *
 * A set's hash is the sum of its items' (hg[item], 64 mixed bits each), so
 * that an antecedent's is its itemset's minus the consequent's items: one
 * subtraction per rule instead of hashing the antecedent again.
 */
static inline uint64
bk_set_hash(const BasketEngine *e, const int32 *items, int32 len)
{
	uint64		h = 0;

	for (int32 i = 0; i < len; i++)
		h += e->hg[items[i]];
	return h;
}

/* the slot half and the fingerprint half of a set's hash */
#define BK_HSLOT(h) murmurhash32((uint32) (h))
#define BK_HPRINT(h) ((uint64) murmurhash32((uint32) ((h) >> 32)) << 32)
/* the slot a hash starts at, of e->hn */
#define BK_HAT(e, h) ((uint32) (((uint64) BK_HSLOT(h) * (e)->hn) >> 32))

static inline bool
bk_same_items(const int32 *a, const int32 *b, int32 len)
{
	for (int32 i = 0; i < len; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

/* sets[s] is a prefix of sets[s + 1] */
static inline bool
bk_prefix_of_next(const BasketItemset *sets, int64 n, int64 s)
{
	return s + 1 < n && sets[s + 1].len > sets[s].len &&
		bk_same_items(sets[s].items, sets[s + 1].items, sets[s].len);
}

/*
 * bk_share_items with a fresh array for the kept items: when the mined
 * items are too many for a 32-bit offset in bk_share_items' sort keys.
 */
static void
bk_share_items_copy(BasketEngine *e, BasketItemset *sets, int64 n)
{
	int64		total = 0;
	int64		at;
	int32	   *items;

	for (int64 s = 0; s < n; s++)
		if (!bk_prefix_of_next(sets, n, s))
			total += sets[s].len;
	CHECK_FOR_INTERRUPTS();
	items = bk_alloc(e, sizeof(int32) * Max(total, 1));
	at = total;
	/* from the end, so that the next set already points into the copy */
	for (int64 s = n - 1; s >= 0; s--)
	{
		if (bk_prefix_of_next(sets, n, s))
			sets[s].items = sets[s + 1].items;
		else
		{
			at -= sets[s].len;
			memcpy(items + at, sets[s].items, sizeof(int32) * sets[s].len);
			sets[s].items = items + at;
		}
	}
	Assert(at == 0);
	bk_free(e, e->setitems, sizeof(int32) * e->capsetitems);
	e->setitems = items;
	e->nsetitems = e->capsetitems = Max(total, 1);
}

static void bk_sort_u64(uint64 *a, int64 n);

/*
 * In lexicographic order an itemset that others extend comes right before
 * the first of them, so its items are a prefix of the next set's: it points
 * there and keeps no copy.  Only the sets that end such a chain keep their
 * items, which on dense data is about half of them (a prefix tree shares
 * more, but the itemsets' items stay plain arrays for the callers).
 *
 * The kept items are compacted in place, in the order they lie in (each
 * mined set has its own range, so moving them down in that order never
 * overwrites one not yet moved), and the array's tail given back: a second
 * array for them made the sets, the mined items and the copy live at once,
 * the mining phase's peak on dense data.
 */
static void
bk_share_items(BasketEngine *e, BasketItemset *sets, int64 n)
{
	int64		total = 0;
	int64		nend = 0;
	int64		at = 0;
	uint64	   *ends;
	int32	   *base = e->setitems;
	int32	   *items;

	if (e->nsetitems > (int64) PG_UINT32_MAX)
	{
		bk_share_items_copy(e, sets, n);
		return;
	}
	for (int64 s = 0; s < n; s++)
		if (!bk_prefix_of_next(sets, n, s))
		{
			total += sets[s].len;
			nend++;
		}
	CHECK_FOR_INTERRUPTS();
	/* the chain ends by where their items lie: offset << 32 | set */
	ends = bk_alloc(e, sizeof(uint64) * Max(nend, 1));
	nend = 0;
	for (int64 s = 0; s < n; s++)
	{
		if (bk_prefix_of_next(sets, n, s))
			sets[s].items = NULL;	/* set below, from the next set */
		else
			ends[nend++] = ((uint64) (sets[s].items - base) << 32) | (uint64) s;
	}
	bk_sort_u64(ends, nend);
	CHECK_FOR_INTERRUPTS();
	for (int64 i = 0; i < nend; i++)
	{
		BasketItemset *set = &sets[(uint32) ends[i]];

		memmove(base + at, set->items, sizeof(int32) * set->len);
		set->items = base + at;
		at += set->len;
	}
	Assert(at == total);
	bk_free(e, ends, sizeof(uint64) * Max(nend, 1));
	items = bk_shrink(e, base, sizeof(int32) * e->capsetitems, sizeof(int32) * Max(total, 1));
	/* repalloc may have moved the array: the sets follow it by offset */
	for (int64 s = n - 1; s >= 0; s--)
	{
		if (sets[s].items == NULL)
			sets[s].items = sets[s + 1].items;
		else if (items != base)
			sets[s].items = items + ((uintptr_t) sets[s].items - (uintptr_t) base) / sizeof(int32);
	}
	e->setitems = items;
	e->nsetitems = e->capsetitems = Max(total, 1);
}

static void
bk_result_sets(BasketEngine *e, BasketResult *res, const int32 *newidx)
{
	BasketItemset *sets;
	Size		nslots = 16;
	uint64		ring[BK_PREFETCH];

	/*
	 * The mining arrays become the result in place (the slack of their
	 * doubling given back first): a second copy of every itemset was the
	 * peak of the engine's memory on dense data.
	 */
	StaticAssertStmt(sizeof(BkSet) == sizeof(BasketItemset),
					 "a mined set becomes a result itemset in place");
	e->setitems = bk_shrink(e, e->setitems, sizeof(int32) * e->capsetitems,
							sizeof(int32) * Max(e->nsetitems, 1));
	e->capsetitems = Max(e->nsetitems, 1);
	for (int64 k = 0; k < e->nsetitems; k++)
		e->setitems[k] = newidx[e->setitems[k]];
	sets = bk_shrink(e, e->sets, sizeof(BkSet) * e->capsets,
					 sizeof(BasketItemset) * Max(e->nsets, 1));
	e->sets = NULL;
	if (sets == NULL)
		sets = bk_alloc0(e, sizeof(BasketItemset));
	for (int64 s = 0; s < e->nsets; s++)
	{
		BkSet		m = ((BkSet *) sets)[s];

		sets[s].len = m.len;
		sets[s].items = e->setitems + m.off;
		sets[s].count = m.count;
		basket_sort_ids(sets[s].items, sets[s].len);
	}
	sets = bk_sort_sets(e, sets, e->nsets, res->nitems);
	bk_share_items(e, sets, e->nsets);

	e->hg = bk_alloc(e, sizeof(uint64) * Max(res->nitems, 1));
	for (int32 i = 0; i < res->nitems; i++)
		e->hg[i] = ((uint64) murmurhash32((uint32) i) << 32) |
			murmurhash32((uint32) i ^ 0x9e3779b9u);
	/*
	 * Load 3/4: linear probing stays short, 8 bytes a slot.  Any slot count
	 * works (a hash picks its slot by multiplying, not masking), so a power
	 * of two does not leave the table up to half empty.
	 */
	nslots = Max(nslots, (Size) e->nsets * 4 / 3 + 1);
	if (nslots > PG_UINT32_MAX)
		mk_error(ERRCODE_PROGRAM_LIMIT_EXCEEDED, "Raise min_support or set max_len.",
				 "basket mining supports at most %u frequent itemsets", PG_UINT32_MAX / 4 * 3);
	e->hslots = bk_alloc0(e, sizeof(uint64) * nslots);
	e->hn = (uint32) nslots;
	e->hverify = false;
	/* each insert is a cache miss: the slots of the sets ahead are fetched early */
	for (int64 s = 0; s < Min(BK_PREFETCH, e->nsets); s++)
	{
		ring[s] = bk_set_hash(e, sets[s].items, sets[s].len);
		__builtin_prefetch(&e->hslots[BK_HAT(e, ring[s])]);
	}
	for (int64 s = 0; s < e->nsets; s++)
	{
		uint64		h = ring[s % BK_PREFETCH];
		uint64		print = BK_HPRINT(h);
		uint32		i = BK_HAT(e, h);

		if (s + BK_PREFETCH < e->nsets)
		{
			const BasketItemset *ahead = &sets[s + BK_PREFETCH];

			ring[s % BK_PREFETCH] = bk_set_hash(e, ahead->items, ahead->len);
			__builtin_prefetch(&e->hslots[BK_HAT(e, ring[s % BK_PREFETCH])]);
		}
		if ((s & 0xffff) == 0)
			CHECK_FOR_INTERRUPTS();
		while (e->hslots[i])
		{
			if ((e->hslots[i] & ~(uint64) PG_UINT32_MAX) == print)
				e->hverify = true;
			i = i + 1 == e->hn ? 0 : i + 1;
		}
		e->hslots[i] = print | (uint32) (s + 1);
	}
	res->nitemsets = e->nsets;
	res->itemsets = sets;
}

/*
 * The index of the itemset items[0 .. len-1] (sorted), which must be in the
 * result (a subset of a frequent itemset).
 */
static int32
bk_find_hashed(BasketEngine *e, const BasketResult *res, uint64 h, const int32 *items, int32 len)
{
	uint64		print = BK_HPRINT(h);
	uint32		i = BK_HAT(e, h);

	for (;;)
	{
		uint64		v = e->hslots[i];
		int32		s = (int32) (uint32) v - 1;

		if (v == 0)
			elog(ERROR, "basket engine: subset of a frequent itemset is missing");
		if ((v & ~(uint64) PG_UINT32_MAX) == print &&
			(!e->hverify ||
			 (res->itemsets[s].len == len && bk_same_items(res->itemsets[s].items, items, len))))
			return s;
		i = i + 1 == e->hn ? 0 : i + 1;
	}
}

static int32
bk_find_subset(BasketEngine *e, const BasketResult *res, const int32 *items, int32 len)
{
	return bk_find_hashed(e, res, bk_set_hash(e, items, len), items, len);
}

BasketResult *
basket_engine_mine(BasketEngine *e, const BasketOptions *o)
{
	BasketResult *res = bk_alloc0(e, sizeof(BasketResult));
	int64	   *off;
	int32	   *items;
	Size		itemsbytes;
	int32	   *icount;
	int32	   *rank2item;
	int32	   *newidx;

	if (e->mined)
		elog(ERROR, "basket engine: already mined");
	e->mined = true;
	e->max_len = o->max_len > 0 ? o->max_len : INT_MAX;
	e->minc = basket_min_count(o->min_support, e->ntrans);

	icount = bk_group(e, &off, &items, &itemsbytes);
	rank2item = bk_rank_items(e, icount);

	if (e->max_len >= 2 && e->nfreq >= 2)
	{
		Size		tbytes = bk_recode(e, off, items, itemsbytes, icount, rank2item);

		bk_free(e, off, e->offbytes);
		tbytes = bk_reduce(e, tbytes);
		bk_mine_deep(e);
		bk_free(e, e->titems, tbytes);
		e->titems = NULL;
	}
	else
	{
		bk_free(e, items, itemsbytes);
		bk_free(e, off, e->offbytes);
	}

	newidx = bk_name_items(e, res, icount, rank2item);
	bk_result_sets(e, res, newidx);
	bk_free(e, newidx, sizeof(int32) * Max(e->nfreq, 1));

	res->ntransactions = e->ntrans;
	res->min_count = e->minc;
	res->peak_bytes = e->peak;
	return res;
}

void
basket_options_init(BasketOptions *o)
{
	memset(o, 0, sizeof(*o));
	o->min_confidence = -1;
	o->min_len = 1;
	o->max_consequent = 1;
	o->target = BASKET_FREQUENT;
	o->ordered = true;
	o->top_by = BASKET_BY_SUPPORT;
}

/* ---------------------------------------------------------------------
 * Output.  Rows go to the caller's function as they are produced, or into
 * an array of fixed-size keys sorted at the end, or (top) into a heap that
 * holds only the best rows.  A key is self-contained: two measures, then the
 * lexicographic ranks of the antecedent and consequent (of the itemset and
 * -1 for itemsets).
 */
typedef struct BkKey
{
	double		k1;
	double		k2;
	int32		a;
	int32		c;
} BkKey;

static inline int
bk_cmp_key(const BkKey *x, const BkKey *y)
{
	if (x->k1 != y->k1)
		return x->k1 > y->k1 ? -1 : 1;
	if (x->k2 != y->k2)
		return x->k2 > y->k2 ? -1 : 1;
	if (x->a != y->a)
		return x->a < y->a ? -1 : 1;
	return (x->c > y->c) - (x->c < y->c);
}

#define ST_SORT bk_sort_keys
#define ST_ELEMENT_TYPE BkKey
#define ST_COMPARE(a, b) bk_cmp_key(a, b)
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * In the documented order, within the rules of one count: confidence
 * descending is antecedent count ascending (exact, in integers), then the
 * antecedent and consequent ranks.  12 bytes a rule.
 */
typedef struct BkGKey
{
	int32		ca;
	int32		a;
	int32		c;
} BkGKey;

static inline int
bk_cmp_gkey(const BkGKey *x, const BkGKey *y)
{
	if (x->ca != y->ca)
		return x->ca < y->ca ? -1 : 1;
	if (x->a != y->a)
		return x->a < y->a ? -1 : 1;
	return (x->c > y->c) - (x->c < y->c);
}

#define ST_SORT bk_sort_gkeys
#define ST_ELEMENT_TYPE BkGKey
#define ST_COMPARE(a, b) bk_cmp_gkey(a, b)
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * The same key packed in one word when the count and two itemset indexes
 * fit: 8 bytes a rule and an integer compare.  With one-item consequents
 * (Apriori's classic rules) a 4-byte key is enough where the antecedent's
 * rank in (count, index) order and the consequent's item fit in 32 bits,
 * as they do on every benchmark input: that halves the largest buffer of a
 * dense run, the rules of its most common count.
 */
#define RX_NAME bk_sort_u64
#define RX_TYPE uint64
#include "basket/radix_template.h"

#define RX_NAME bk_sort_u32
#define RX_TYPE uint32
#include "basket/radix_template.h"

static int
bk_bits_for(int64 x)
{
	int			b = 1;

	while (b < 63 && ((int64) 1 << b) <= x)
		b++;
	return b;
}

typedef struct BkOut
{
	BasketEngine *e;
	const BasketOptions *o;
	BkKey	   *keys;
	int64		nkeys;
	int64		capkeys;
	bool		collect;		/* keys are kept (ordered or top) */
	int64		delivered;
} BkOut;

static void
bk_out_init(BkOut *out, BasketEngine *e, const BasketOptions *o)
{
	memset(out, 0, sizeof(*out));
	out->e = e;
	out->o = o;
	out->collect = o->ordered || o->top > 0;
	if (o->top > 0)
	{
		out->capkeys = o->top;
		out->keys = bk_alloc(e, sizeof(BkKey) * o->top);
	}
}

/* The heap keeps the worst of the best top keys at its root. */
static void
bk_heap_down(BkKey *h, int64 n, int64 i)
{
	for (;;)
	{
		int64		l = 2 * i + 1;
		int64		w = i;
		BkKey		t;

		if (l < n && bk_cmp_key(&h[l], &h[w]) > 0)
			w = l;
		if (l + 1 < n && bk_cmp_key(&h[l + 1], &h[w]) > 0)
			w = l + 1;
		if (w == i)
			return;
		t = h[i];
		h[i] = h[w];
		h[w] = t;
		i = w;
	}
}

static void
bk_out_key(BkOut *out, const BkKey *k)
{
	BasketEngine *e = out->e;

	if (out->o->top > 0)
	{
		if (out->nkeys < out->o->top)
		{
			int64		i = out->nkeys++;

			out->keys[i] = *k;
			while (i > 0 && bk_cmp_key(&out->keys[(i - 1) / 2], &out->keys[i]) < 0)
			{
				BkKey		t = out->keys[i];

				out->keys[i] = out->keys[(i - 1) / 2];
				out->keys[(i - 1) / 2] = t;
				i = (i - 1) / 2;
			}
		}
		else if (bk_cmp_key(k, &out->keys[0]) < 0)
		{
			out->keys[0] = *k;
			bk_heap_down(out->keys, out->nkeys, 0);
		}
		return;
	}
	if (out->nkeys == out->capkeys)
	{
		int64		ncap = bk_next_cap(out->capkeys, out->nkeys + 1);

		out->keys = bk_grow(e, out->keys, sizeof(BkKey) * out->capkeys, sizeof(BkKey) * ncap);
		out->capkeys = ncap;
	}
	out->keys[out->nkeys++] = *k;
}

static void
bk_out_sort(BkOut *out)
{
	CHECK_FOR_INTERRUPTS();
	bk_sort_keys(out->keys, out->nkeys);
	CHECK_FOR_INTERRUPTS();
}

static void
bk_out_done(BkOut *out)
{
	if (out->keys)
		bk_free(out->e, out->keys, sizeof(BkKey) * out->capkeys);
	out->keys = NULL;
}

static int32
bk_item_by_name(const BasketResult *res, const char *name)
{
	int32		lo = 0;
	int32		hi = res->nitems;

	while (lo < hi)
	{
		int32		mid = lo + (hi - lo) / 2;
		int			c = strcmp(res->item_name[mid], name);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* flags[i] = 1 for the frequent items among names (infrequent ones never show) */
static char *
bk_item_flags(BasketEngine *e, const BasketResult *res, char **names, int n)
{
	char	   *flags;

	if (names == NULL)
		return NULL;
	flags = bk_alloc0(e, Max(res->nitems, 1));
	for (int i = 0; i < n; i++)
	{
		int32		it = bk_item_by_name(res, names[i]);

		if (it >= 0)
			flags[it] = 1;
	}
	return flags;
}

static inline bool
bk_any_flagged(const char *flags, const int32 *items, int32 len)
{
	for (int32 i = 0; i < len; i++)
		if (flags[items[i]])
			return true;
	return false;
}

static inline bool
bk_all_flagged(const char *flags, const int32 *items, int32 len)
{
	for (int32 i = 0; i < len; i++)
		if (!flags[items[i]])
			return false;
	return true;
}

/* ---------------------------------------------------------------------
 * Itemsets.
 */
#define BK_HAS_SUPERSET 1		/* a frequent superset with one item more */
#define BK_NOT_CLOSED	2		/* ... and the same count */

static char *
bk_superset_flags(BasketEngine *e, const BasketResult *res)
{
	char	   *flags = bk_alloc0(e, Max(res->nitemsets, 1));
	int32	   *sub = bk_alloc(e, sizeof(int32) * Max(res->nitems, 1));

	for (int64 s = 0; s < res->nitemsets; s++)
	{
		const BasketItemset *y = &res->itemsets[s];

		if ((s & 0xfff) == 0)
			CHECK_FOR_INTERRUPTS();
		if (y->len < 2)
			continue;
		for (int32 p = 0; p < y->len; p++)
		{
			int32		n = 0;
			int32		x;

			for (int32 k = 0; k < y->len; k++)
				if (k != p)
					sub[n++] = y->items[k];
			x = bk_find_subset(e, res, sub, n);
			flags[x] |= BK_HAS_SUPERSET;
			if (res->itemsets[x].count == y->count)
				flags[x] |= BK_NOT_CLOSED;
		}
	}
	bk_free(e, sub, sizeof(int32) * Max(res->nitems, 1));
	return flags;
}

/* The walk over the itemsets that basket_itemsets_next continues. */
typedef struct BkSetWalk
{
	BasketEngine *e;
	BasketResult *res;
	const BasketOptions *o;
	char	   *sup;			/* closed / maximal flags, or NULL */
	char	   *excl;
	BkOut		out;
	int64		at;				/* next itemset (unsorted), or key (sorted) */
} BkSetWalk;

static bool
bk_set_wanted(const BkSetWalk *w, int64 s)
{
	const BasketOptions *o = w->o;
	const BasketItemset *x = &w->res->itemsets[s];

	if (x->len < o->min_len)
		return false;
	if (o->target == BASKET_CLOSED && (w->sup[s] & BK_NOT_CLOSED))
		return false;
	if (o->target == BASKET_MAXIMAL && (w->sup[s] & BK_HAS_SUPERSET))
		return false;
	if (w->excl && bk_any_flagged(w->excl, x->items, x->len))
		return false;
	return true;
}

BasketSetIter *
basket_itemsets_begin(BasketEngine *e, BasketResult *res, const BasketOptions *o)
{
	BkSetWalk  *w = bk_alloc0(e, sizeof(BkSetWalk));

	w->e = e;
	w->res = res;
	w->o = o;
	w->excl = bk_item_flags(e, res, o->exclude, o->nexclude);
	if (o->target != BASKET_FREQUENT)
		w->sup = bk_superset_flags(e, res);
	bk_out_init(&w->out, e, o);
	/* ordered or top: every key first, then the sort */
	if (w->out.collect)
	{
		for (int64 s = 0; s < res->nitemsets; s++)
		{
			BkKey		k = {(double) res->itemsets[s].count, 0, (int32) s, -1};

			if ((s & 0xfff) == 0)
				CHECK_FOR_INTERRUPTS();
			if (bk_set_wanted(w, s))
				bk_out_key(&w->out, &k);
		}
		bk_out_sort(&w->out);
	}
	return (BasketSetIter *) w;
}

const BasketItemset *
basket_itemsets_next(BasketSetIter *it)
{
	BkSetWalk  *w = (BkSetWalk *) it;

	if (w->out.collect)
	{
		if (w->at >= w->out.nkeys)
			return NULL;
		if ((w->at & 0xff) == 0)
			CHECK_FOR_INTERRUPTS();
		w->out.delivered++;
		return &w->res->itemsets[w->out.keys[w->at++].a];
	}
	while (w->at < w->res->nitemsets)
	{
		int64		s = w->at++;

		if ((s & 0xfff) == 0)
			CHECK_FOR_INTERRUPTS();
		if (bk_set_wanted(w, s))
		{
			w->out.delivered++;
			return &w->res->itemsets[s];
		}
	}
	return NULL;
}

int64
basket_itemsets_end(BasketSetIter *it)
{
	BkSetWalk  *w = (BkSetWalk *) it;
	int64		delivered = w->out.delivered;

	bk_out_done(&w->out);
	bk_free(w->e, w, sizeof(BkSetWalk));
	return delivered;
}

int64
basket_engine_itemsets(BasketEngine *e, BasketResult *res, const BasketOptions *o,
					   BasketSetFn fn, void *arg)
{
	BasketSetIter *it = basket_itemsets_begin(e, res, o);
	const BasketItemset *x;

	while ((x = basket_itemsets_next(it)) != NULL)
		fn(arg, res, x);
	return basket_itemsets_end(it);
}

/* ---------------------------------------------------------------------
 * Rules: for each itemset X and each consequent C, a non-empty proper subset
 * of X within the size limits, the rule X \ C => C.
 */
typedef struct BkRuleGen
{
	BasketEngine *e;
	BasketResult *res;
	const BasketOptions *o;
	BkOut		out;
	char	   *lhs;			/* allowed on the left, or NULL */
	char	   *rhs;			/* allowed on the right, or NULL */
	char	   *excl;
	int32	   *ante;			/* scratch: antecedent, consequent, subsets */
	int32	   *cons;
	int32	   *sub;
	int32	   *uni;
	int32	   *single;			/* item -> its one-item set */
	/* the documented order: the rules of the current count */
	bool		by_count;
	int64		group;
	BkGKey	   *gkeys;
	int64		ngkeys;
	int64		capgkeys;
	int			pshift;			/* > 0: keys packed in words, index bits */
	uint64	   *pkeys;
	/* 4-byte keys: the antecedent's position in asc << ibits | the item */
	int			ibits;			/* > 0: 4-byte keys (one-item consequents) */
	uint32	   *wkeys;
	int32	   *asc;			/* itemsets by count ascending, then index */
	int32	   *arank;			/* itemset -> its position in asc */
	int64		gbeg;			/* the walk: the current count's range in asc */
	int64		gend;
	int64		gi;				/* the current itemset's position there */
	int64		gbound;			/* the count's rules at most: its items */
	/*
	 * Rules of confidence 1 (the antecedent has the count too) as bits:
	 * mask[p] holds the consequent items of the antecedent at asc[mbeg + p].
	 * In the documented order they come first within their count, their
	 * antecedents in asc order, so they need no key and no sort.  Only
	 * with at most 64 items; NULL otherwise.
	 */
	uint64	   *mask;
	int64		capmask;		/* the largest count's itemsets */
	int64		mbeg;			/* the collecting count's range in asc */
	int64		mlen;
	int64		nmask;			/* rules in mask */
	int64		pmbeg;			/* the same of the ready rules */
	int64		pmlen;
	int64		pnmask;
	int64		mp;				/* taking: position in mask, its bits left */
	uint64		mcur;
	/* unordered: the rules of the current itemset */
	BasketRule *rbuf;
	int64		nrbuf;
	int64		caprbuf;
	/* where the walk over the itemsets stands */
	int32	   *order;			/* by count (the documented order), or NULL */
	int64		at;				/* next itemset position */
	bool		done;			/* every itemset walked */
	/* the rules ready to be handed over, taken one at a time */
	int			pend;			/* BK_PEND_* */
	int64		npend;
	int64		next;
	int64		pgroup;			/* their count (by count) */
} BkRuleGen;

/* What the ready rules are: which buffer holds them, sorted or not. */
#define BK_PEND_NONE	0
#define BK_PEND_WORDS	1		/* pkeys, sorted */
#define BK_PEND_GKEYS	2		/* gkeys, sorted */
#define BK_PEND_KEYS	3		/* out.keys, sorted (ordered, or top) */
#define BK_PEND_RULES	4		/* rbuf, as produced */
#define BK_PEND_WKEYS	5		/* wkeys, sorted */

/*
 * Confidence and lift as one function computes them, so that a rule rebuilt
 * from its key has bit-identical measures.
 */
static inline void
bk_rule_make(const BasketResult *res, int32 a, int32 c, int64 count, BasketRule *r)
{
	r->antecedent = &res->itemsets[a];
	r->consequent = &res->itemsets[c];
	r->count = count;
	r->confidence = (double) count / (double) r->antecedent->count;
	r->lift = r->confidence / ((double) r->consequent->count / (double) res->ntransactions);
}

/* out = the sorted union of two disjoint sorted item lists */
static int32
bk_union(const int32 *a, int32 na, const int32 *b, int32 nb, int32 *out)
{
	int32		i = 0;
	int32		j = 0;
	int32		n = 0;

	while (i < na || j < nb)
		out[n++] = (j >= nb || (i < na && a[i] < b[j])) ? a[i++] : b[j++];
	return n;
}

/*
 * arules' is.redundant: some rule A' => C with A' a proper non-empty subset
 * of A has at least the confidence of A => C.  Compared as integers, so
 * that ties are exact: c(A'C) / c(A') >= c(AC) / c(A); counts are below
 * 2^31, so the products fit in 64 bits.
 */
static bool
bk_redundant(BkRuleGen *g, int32 na, int32 nc, int64 cx, int64 ca)
{
	uint64		full = ((uint64) 1 << na) - 1;

	if (na > 30)
		mk_error(ERRCODE_PROGRAM_LIMIT_EXCEEDED, "Set max_antecedent.",
				 "remove_redundant supports antecedents of at most 30 items, not %d", na);
	for (uint64 m = 1; m < full; m++)
	{
		int32		ns = 0;
		int32		nu;
		int64		cs;
		int64		csc;

		if ((m & 0xffff) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int32 i = 0; i < na; i++)
			if (m & ((uint64) 1 << i))
				g->sub[ns++] = g->ante[i];
		cs = g->res->itemsets[bk_find_subset(g->e, g->res, g->sub, ns)].count;
		nu = bk_union(g->sub, ns, g->cons, nc, g->uni);
		csc = g->res->itemsets[bk_find_subset(g->e, g->res, g->uni, nu)].count;
		if (csc * ca >= cx * cs)
			return true;
	}
	return false;
}

/*
 * The rule X \ C => C, C = the positions pos[0 .. nc-1] of X; hx: X's hash;
 * known: the antecedent's index when the caller looked it up, else -1.
 */
static void
bk_rule_try(BkRuleGen *g, int32 xs, uint64 hx, const int32 *pos, int32 nc, int32 known)
{
	const BasketOptions *o = g->o;
	const BasketItemset *x = &g->res->itemsets[xs];
	int32		na = 0;
	int32		k = 0;
	int32		a;
	int32		c;
	BasketRule	r;

	if (known >= 0 && nc == 1 && !g->lhs && !o->remove_redundant)
	{
		/* the caller found the antecedent: nothing below reads its items */
		g->cons[0] = x->items[pos[0]];
		na = x->len - 1;
	}
	else
		for (int32 i = 0; i < x->len; i++)
		{
			if (k < nc && pos[k] == i)
				g->cons[k++] = x->items[i];
			else
				g->ante[na++] = x->items[i];
		}
	if (g->lhs && !bk_all_flagged(g->lhs, g->ante, na))
		return;
	if (g->rhs && !bk_all_flagged(g->rhs, g->cons, nc))
		return;
	if (known >= 0)
		a = known;
	else
	{
		for (int32 i = 0; i < nc; i++)
			hx -= g->e->hg[g->cons[i]];
		a = bk_find_hashed(g->e, g->res, hx, g->ante, na);
	}
	if ((double) x->count < o->min_confidence * (double) g->res->itemsets[a].count * (1.0 - 1e-12))
		return;
	c = nc == 1 ? g->single[g->cons[0]] : bk_find_subset(g->e, g->res, g->cons, nc);
	/* by count only the keys are kept: the measures are made when taken */
	if (o->min_lift > 0 || !g->by_count)
	{
		bk_rule_make(g->res, a, c, x->count, &r);
		if (o->min_lift > 0 && r.lift < o->min_lift * (1.0 - 1e-12))
			return;
	}
	if (o->remove_redundant && na >= 2 &&
		bk_redundant(g, na, nc, x->count, g->res->itemsets[a].count))
		return;
	if (g->by_count && g->ibits > 0 && g->mask &&
		g->res->itemsets[a].count == x->count)
	{
		Assert(g->arank[a] >= g->mbeg && g->arank[a] - g->mbeg < g->mlen);
		g->mask[g->arank[a] - g->mbeg] |= (uint64) 1 << g->cons[0];
		g->nmask++;
	}
	else if (g->by_count && g->ibits > 0)
	{
		if (g->ngkeys == g->capgkeys)
		{
			/*
			 * Sized once for the largest count: every item of its sets;
			 * with the masks taking the rules of confidence 1 (on dense
			 * data most of them), grown as needed.
			 */
			int64		ncap = g->mask ? bk_next_cap_sets(g->capgkeys, g->ngkeys + 1) :
				Max(g->gbound, bk_next_cap(g->capgkeys, g->ngkeys + 1));

			if (g->ngkeys == 0)
			{
				bk_free(g->e, g->wkeys, sizeof(uint32) * g->capgkeys);
				g->wkeys = bk_alloc(g->e, sizeof(uint32) * ncap);
			}
			else
				g->wkeys = bk_grow(g->e, g->wkeys, sizeof(uint32) * g->capgkeys,
								   sizeof(uint32) * ncap);
			g->capgkeys = ncap;
		}
		g->wkeys[g->ngkeys++] = ((uint32) g->arank[a] << g->ibits) | (uint32) g->cons[0];
	}
	else if (g->by_count && g->pshift > 0)
	{
		if (g->ngkeys == g->capgkeys)
		{
			int64		ncap = bk_next_cap(g->capgkeys, g->ngkeys + 1);

			g->pkeys = bk_grow(g->e, g->pkeys, sizeof(uint64) * g->capgkeys,
							   sizeof(uint64) * ncap);
			g->capgkeys = ncap;
		}
		g->pkeys[g->ngkeys++] = ((uint64) g->res->itemsets[a].count << (2 * g->pshift)) |
			((uint64) a << g->pshift) | (uint64) c;
	}
	else if (g->by_count)
	{
		if (g->ngkeys == g->capgkeys)
		{
			int64		ncap = bk_next_cap(g->capgkeys, g->ngkeys + 1);

			g->gkeys = bk_grow(g->e, g->gkeys, sizeof(BkGKey) * g->capgkeys,
							   sizeof(BkGKey) * ncap);
			g->capgkeys = ncap;
		}
		g->gkeys[g->ngkeys].ca = (int32) g->res->itemsets[a].count;
		g->gkeys[g->ngkeys].a = a;
		g->gkeys[g->ngkeys].c = c;
		g->ngkeys++;
	}
	else if (g->out.collect)
	{
		BkKey		key;

		key.a = a;
		key.c = c;
		switch (o->top_by)
		{
			case BASKET_BY_CONFIDENCE:
				key.k1 = r.confidence;
				key.k2 = (double) x->count;
				break;
			case BASKET_BY_LIFT:
				key.k1 = r.lift;
				key.k2 = (double) x->count;
				break;
			default:
				key.k1 = (double) x->count;
				key.k2 = r.confidence;
				break;
		}
		bk_out_key(&g->out, &key);
	}
	else
	{
		if (g->nrbuf == g->caprbuf)
		{
			int64		ncap = bk_next_cap(g->caprbuf, g->nrbuf + 1);

			g->rbuf = bk_grow(g->e, g->rbuf, sizeof(BasketRule) * g->caprbuf,
							  sizeof(BasketRule) * ncap);
			g->caprbuf = ncap;
		}
		g->rbuf[g->nrbuf++] = r;
	}
}

/* Every consequent of nc items of X, as increasing positions. */
static void
bk_rules_of(BkRuleGen *g, int32 xs, int32 nc)
{
	int32		len = g->res->itemsets[xs].len;
	uint64		hx = bk_set_hash(g->e, g->res->itemsets[xs].items, len);
	int32		pos[64];

	if (nc == 1 && len <= 64 && !g->lhs && !g->rhs)
	{
		/*
		 * One-item consequents, the common case: the antecedents' hash
		 * slots, then their itemsets, are fetched ahead all at once, as each
		 * is a cache miss in tables far larger than the cache.
		 */
		const BasketEngine *e = g->e;
		const int32 *items = g->res->itemsets[xs].items;
		int32		ante[64];

		for (int32 i = 0; i < len; i++)
			__builtin_prefetch(&e->hslots[BK_HAT(e, hx - e->hg[items[i]])]);
		for (int32 i = 0; i < len; i++)
		{
			int32		na = 0;

			/* the items are compared only when fingerprints may collide */
			if (e->hverify)
				for (int32 j = 0; j < len; j++)
					if (j != i)
						g->ante[na++] = items[j];
			na = len - 1;
			ante[i] = bk_find_hashed(g->e, g->res, hx - e->hg[items[i]], g->ante, na);
			__builtin_prefetch(&g->res->itemsets[ante[i]]);
			if (g->arank)
				__builtin_prefetch(&g->arank[ante[i]]);
		}
		for (int32 i = 0; i < len; i++)
			bk_rule_try(g, xs, hx, &i, 1, ante[i]);
		return;
	}
	if (nc > 64)
		nc = 64;
	for (int32 i = 0; i < nc; i++)
		pos[i] = i;
	for (;;)
	{
		int32		i;

		bk_rule_try(g, xs, hx, pos, nc, -1);
		for (i = nc - 1; i >= 0 && pos[i] == len - nc + i; i--)
			;
		if (i < 0)
			return;
		pos[i]++;
		for (int32 j = i + 1; j < nc; j++)
			pos[j] = pos[j - 1] + 1;
	}
}

/* Sort the collected rule keys: they are the ready rules, in that order. */
static void
bk_rules_sort(BkRuleGen *g)
{
	CHECK_FOR_INTERRUPTS();
	if (g->by_count && g->ibits > 0)
	{
		bk_sort_u32(g->wkeys, g->ngkeys);
		g->pend = BK_PEND_WKEYS;
		g->npend = g->nmask + g->ngkeys;
		g->pnmask = g->nmask;
		g->pmbeg = g->mbeg;
		g->pmlen = g->mlen;
		g->mp = -1;
		g->mcur = 0;
	}
	else if (g->by_count && g->pshift > 0)
	{
		bk_sort_u64(g->pkeys, g->ngkeys);
		g->pend = BK_PEND_WORDS;
		g->npend = g->ngkeys;
	}
	else if (g->by_count)
	{
		bk_sort_gkeys(g->gkeys, g->ngkeys);
		g->pend = BK_PEND_GKEYS;
		g->npend = g->ngkeys;
	}
	else
	{
		bk_out_sort(&g->out);
		g->pend = BK_PEND_KEYS;
		g->npend = g->out.nkeys;
	}
	g->pgroup = g->group;
	g->next = 0;
}

/* The next ready rule into *r; false when they are all taken. */
static bool
bk_rules_take(BkRuleGen *g, BasketRule *r)
{
	int64		i = g->next;

	if (i >= g->npend)
		return false;
	g->next++;
	if ((i & 0xff) == 0)
		CHECK_FOR_INTERRUPTS();
	switch (g->pend)
	{
		case BK_PEND_WORDS:
			{
				uint64		mask = ((uint64) 1 << g->pshift) - 1;
				uint64		k = g->pkeys[i];

				bk_rule_make(g->res, (int32) ((k >> g->pshift) & mask), (int32) (k & mask),
							 g->pgroup, r);
				break;
			}
		case BK_PEND_WKEYS:
			if (i < g->pnmask)
			{
				int			item;

				while (g->mcur == 0)
					g->mcur = g->mask[++g->mp];
				item = pg_rightmost_one_pos64(g->mcur);
				g->mcur &= g->mcur - 1;
				bk_rule_make(g->res, g->asc[g->pmbeg + g->mp], g->single[item], g->pgroup, r);
				break;
			}
			else
			{
				uint32		k = g->wkeys[i - g->pnmask];

				bk_rule_make(g->res, g->asc[k >> g->ibits],
							 g->single[k & (((uint32) 1 << g->ibits) - 1)], g->pgroup, r);
				break;
			}
		case BK_PEND_GKEYS:
			bk_rule_make(g->res, g->gkeys[i].a, g->gkeys[i].c, g->pgroup, r);
			break;
		case BK_PEND_KEYS:
			{
				const BkKey *k = &g->out.keys[i];
				int64		count = (int64) (g->o->top_by == BASKET_BY_SUPPORT ? k->k1 : k->k2);

				bk_rule_make(g->res, k->a, k->c, count, r);
				break;
			}
		default:
			*r = g->rbuf[i];
			break;
	}
	g->out.delivered++;
	return true;
}

/* Every ready rule is taken: their buffer is empty again. */
static void
bk_rules_taken(BkRuleGen *g)
{
	if (g->pend == BK_PEND_WKEYS && g->mask)
	{
		memset(g->mask, 0, sizeof(uint64) * g->pmlen);
		g->nmask = 0;
	}
	if (g->pend == BK_PEND_WORDS || g->pend == BK_PEND_GKEYS || g->pend == BK_PEND_WKEYS)
		g->ngkeys = 0;
	else if (g->pend == BK_PEND_KEYS)
		g->out.nkeys = 0;
	else if (g->pend == BK_PEND_RULES)
		g->nrbuf = 0;
	g->pend = BK_PEND_NONE;
	g->npend = g->next = 0;
}

/*
 * The itemset the walk stands at.  With 4-byte keys the walk takes asc's
 * counts from the highest down, each count's sets in index order, which is
 * the order bk_sets_by_count gives without a second permutation.
 */
static inline int64
bk_walk_cur(BkRuleGen *g)
{
	const BasketItemset *sets = g->res->itemsets;
	int64		count;

	if (g->asc == NULL)
		return g->order ? g->order[g->at] : g->at;
	if (g->gi == g->gend)
	{
		g->gend = g->gbeg;
		g->gbeg = g->gend - 1;
		count = sets[g->asc[g->gbeg]].count;
		g->gbound = sets[g->asc[g->gbeg]].len;
		while (g->gbeg > 0 && sets[g->asc[g->gbeg - 1]].count == count)
		{
			g->gbeg--;
			g->gbound += sets[g->asc[g->gbeg]].len;
		}
		g->gi = g->gbeg;
	}
	return g->asc[g->gi];
}

static inline void
bk_walk_step(BkRuleGen *g)
{
	g->at++;
	g->gi++;
}

/*
 * Walk the itemsets until some rules are ready: unordered, those of one
 * itemset; in the documented order, those of one count (an itemset of the
 * next count stays for the next walk); ordered by another measure or top,
 * all of them, at the end.
 */
static void
bk_rules_fill(BkRuleGen *g)
{
	const BasketResult *res = g->res;
	const BasketOptions *o = g->o;

	while (g->at < res->nitemsets)
	{
		int64		s = bk_walk_cur(g);
		const BasketItemset *x = &res->itemsets[s];
		int32		cmin = 1;
		int32		cmax = Min(o->max_consequent, x->len - 1);

		if ((g->at & 0xfff) == 0)
			CHECK_FOR_INTERRUPTS();
		if (x->len < 2 || x->len < o->min_len ||
			(g->excl && bk_any_flagged(g->excl, x->items, x->len)))
		{
			bk_walk_step(g);
			continue;
		}
		if (g->by_count && x->count != g->group)
		{
			bool		ready = g->ngkeys > 0 || g->nmask > 0;

			if (ready)
				bk_rules_sort(g);
			g->group = x->count;
			/* the walk stands in x's count: its range in asc */
			g->mbeg = g->gbeg;
			g->mlen = g->gend - g->gbeg;
			if (ready)
				return;
		}
		if (o->max_antecedent > 0)
			cmin = Max(cmin, x->len - o->max_antecedent);
		for (int32 nc = cmin; nc <= cmax; nc++)
			bk_rules_of(g, (int32) s, nc);
		bk_walk_step(g);
		if (g->nrbuf > 0)
		{
			g->pend = BK_PEND_RULES;
			g->npend = g->nrbuf;
			g->next = 0;
			return;
		}
	}
	g->done = true;
	if (g->by_count ? g->ngkeys > 0 || g->nmask > 0 : g->out.collect)
		bk_rules_sort(g);
}

/*
 * The itemsets by count descending.  In the documented order every rule of
 * X has X's count as its first key: taking the itemsets in this order, only
 * the rules of one count need sorting at a time, and the buffer holds no
 * more than those.
 */
static int32 *
bk_sets_by_count(BasketEngine *e, const BasketResult *res)
{
	int64		n = res->nitemsets;
	uint64	   *k = bk_alloc(e, sizeof(uint64) * Max(n, 1));
	int32	   *order;

	/* count descending, then index: counts and indexes are below 2^31 */
	for (int64 s = 0; s < n; s++)
		k[s] = ((uint64) (PG_INT32_MAX - res->itemsets[s].count) << 32) | (uint64) s;
	bk_sort_u64(k, n);
	order = bk_alloc(e, sizeof(int32) * Max(n, 1));
	for (int64 s = 0; s < n; s++)
		order[s] = (int32) (uint32) k[s];
	bk_free(e, k, sizeof(uint64) * Max(n, 1));
	return order;
}

/*
 * The same order for 4-byte keys, kept the other way round (count
 * ascending, then index: the order of the rules of one count, confidence
 * descending) with its inverse, so that a key holds an antecedent's
 * position in it.
 */
static void
bk_sets_ascending(BkRuleGen *g)
{
	BasketEngine *e = g->e;
	int64		n = g->res->nitemsets;
	uint64	   *k = bk_alloc(e, sizeof(uint64) * Max(n, 1));

	for (int64 s = 0; s < n; s++)
		k[s] = ((uint64) g->res->itemsets[s].count << 32) | (uint64) s;
	bk_sort_u64(k, n);
	g->asc = bk_alloc(e, sizeof(int32) * Max(n, 1));
	g->arank = bk_alloc(e, sizeof(int32) * Max(n, 1));
	for (int64 p = 0; p < n; p++)
	{
		g->asc[p] = (int32) (uint32) k[p];
		g->arank[g->asc[p]] = (int32) p;
	}
	bk_free(e, k, sizeof(uint64) * Max(n, 1));
	g->gbeg = g->gend = g->gi = n;
	if (g->res->nitems <= 64)
	{
		int64		run = 0;

		for (int64 p = 0; p < n; p++)
		{
			int64		q = p;

			while (q + 1 < n && g->res->itemsets[g->asc[q + 1]].count ==
				   g->res->itemsets[g->asc[p]].count)
				q++;
			run = Max(run, q - p + 1);
			p = q;
		}
		g->capmask = Max(run, 1);
		g->mask = bk_alloc0(e, sizeof(uint64) * g->capmask);
	}
}

BasketRuleIter *
basket_rules_begin(BasketEngine *e, BasketResult *res, const BasketOptions *o)
{
	BkRuleGen  *g = bk_alloc0(e, sizeof(BkRuleGen));
	Size		scratch = sizeof(int32) * Max(res->nitems, 1);
	bool		by_count = o->ordered && o->top == 0 && o->top_by == BASKET_BY_SUPPORT;

	g->e = e;
	g->res = res;
	g->o = o;
	g->lhs = bk_item_flags(e, res, o->lhs, o->nlhs);
	g->rhs = bk_item_flags(e, res, o->rhs, o->nrhs);
	g->excl = bk_item_flags(e, res, o->exclude, o->nexclude);
	g->ante = bk_alloc(e, scratch);
	g->cons = bk_alloc(e, scratch);
	g->sub = bk_alloc(e, scratch);
	g->uni = bk_alloc(e, scratch);
	g->single = bk_alloc(e, scratch);
	for (int32 i = 0; i < res->nitems; i++)
		g->single[i] = bk_find_subset(e, res, &i, 1);
	bk_out_init(&g->out, e, o);
	g->by_count = by_count;
	g->group = -1;
	if (by_count)
	{
		int			ib = bk_bits_for(res->nitemsets);
		int			itb = bk_bits_for(res->nitems);

		g->out.collect = false;
		if (o->max_consequent == 1 && ib + itb <= 32)
		{
			g->ibits = itb;
			bk_sets_ascending(g);
		}
		else
		{
			g->order = bk_sets_by_count(e, res);
			if (bk_bits_for(res->ntransactions) + 2 * ib <= 64)
				g->pshift = ib;
		}
	}
	return (BasketRuleIter *) g;
}

bool
basket_rules_next(BasketRuleIter *it, BasketRule *r)
{
	BkRuleGen  *g = (BkRuleGen *) it;

	for (;;)
	{
		if (g->pend != BK_PEND_NONE)
		{
			if (bk_rules_take(g, r))
				return true;
			bk_rules_taken(g);
		}
		if (g->done)
			return false;
		bk_rules_fill(g);
	}
}

int64
basket_rules_end(BasketRuleIter *it)
{
	BkRuleGen  *g = (BkRuleGen *) it;
	BasketEngine *e = g->e;
	Size		scratch = sizeof(int32) * Max(g->res->nitems, 1);
	int64		delivered = g->out.delivered;

	if (g->order)
		bk_free(e, g->order, sizeof(int32) * Max(g->res->nitemsets, 1));
	if (g->gkeys)
		bk_free(e, g->gkeys, sizeof(BkGKey) * g->capgkeys);
	if (g->pkeys)
		bk_free(e, g->pkeys, sizeof(uint64) * g->capgkeys);
	if (g->wkeys)
		bk_free(e, g->wkeys, sizeof(uint32) * g->capgkeys);
	if (g->mask)
		bk_free(e, g->mask, sizeof(uint64) * g->capmask);
	if (g->asc)
	{
		bk_free(e, g->asc, sizeof(int32) * Max(g->res->nitemsets, 1));
		bk_free(e, g->arank, sizeof(int32) * Max(g->res->nitemsets, 1));
	}
	if (g->rbuf)
		bk_free(e, g->rbuf, sizeof(BasketRule) * g->caprbuf);
	bk_out_done(&g->out);
	bk_free(e, g->ante, scratch);
	bk_free(e, g->cons, scratch);
	bk_free(e, g->sub, scratch);
	bk_free(e, g->uni, scratch);
	bk_free(e, g->single, scratch);
	bk_free(e, g, sizeof(BkRuleGen));
	return delivered;
}

int64
basket_engine_rules(BasketEngine *e, BasketResult *res, const BasketOptions *o,
					BasketRuleFn fn, void *arg)
{
	BasketRuleIter *it = basket_rules_begin(e, res, o);
	BasketRule	r;

	while (basket_rules_next(it, &r))
		fn(arg, res, &r);
	return basket_rules_end(it);
}
