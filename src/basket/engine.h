/*
 * basket_engine.h: the one frequent-itemset and association-rule engine of
 * Mekatek.  The SQL functions of the basket module (src/basket.c) and any
 * other module that mines (the firewall) use it, from C or through
 * mekatek.apriori().
 *
 * Usage from C, with SPI connected:
 *
 *     BasketEngine *eng = basket_engine_create(CurrentMemoryContext,
 *                                              basket_work_mem_bytes());
 *     basket_engine_load_query(eng, "SELECT sale_id, sku FROM ...");
 *     BasketResult *res = basket_engine_mine(eng, 0.01, 0.5, 0);
 *     ... res->itemsets, res->rules, res->item_name ...
 *     basket_engine_destroy(eng);
 *
 * Everything the
 * engine allocates lives in one memory context below the given parent and is
 * counted against the byte limit: past it the engine raises ERROR 53200
 * naming the bytes it needed, before allocating.
 */
#ifndef BASKET_ENGINE_H
#define BASKET_ENGINE_H

#include "postgres.h"

/* mekatek.basket_work_mem, in kB */
extern int	mk_basket_work_mem;
extern Size basket_work_mem_bytes(void);

typedef struct BasketEngine BasketEngine;

/*
 * A frequent itemset.  items[] holds item indexes (0 .. nitems-1 of the
 * result), sorted so that their names are in byte order (COLLATE "C").
 */
typedef struct BasketItemset
{
	int32		len;
	int32	   *items;
	int64		count;
} BasketItemset;

/*
 * A rule antecedent => {consequent}: the itemset itemsets[itemset] minus its
 * item consequent is the (non-empty) antecedent.
 */
typedef struct BasketRule
{
	int32		itemset;
	int32		consequent;
	int64		antecedent_count;
	double		confidence;
} BasketRule;

typedef struct BasketResult
{
	int64		ntransactions;	/* N: baskets read */
	int64		min_count;		/* an itemset is frequent when count >= this */
	int32		nitems;			/* frequent items */
	const char **item_name;		/* [nitems] the item's text output */
	int64	   *item_count;		/* [nitems] baskets containing the item */
	/* itemsets in output order: count descending, then items */
	int64		nitemsets;
	BasketItemset *itemsets;
	/* rules in output order: count, confidence descending, then items */
	int64		nrules;
	BasketRule *rules;
	Size		peak_bytes;		/* the engine's peak tracked memory */
} BasketResult;

extern BasketEngine *basket_engine_create(MemoryContext parent, Size limit_bytes);

/*
 * Read the baskets of a query through an SPI cursor, in batches.  The query
 * returns either (transaction id, item) rows or one array column, one row per
 * basket; NULL items (and rows with a NULL transaction id or a NULL array)
 * are ignored.  The caller must be connected to SPI.
 */
extern void basket_engine_load_query(BasketEngine *eng, const char *query);

/*
 * Mine itemsets of at most max_len items (0: no limit) with
 * count >= min_support * N, and, when min_confidence >= 0, the rules with a
 * non-empty antecedent and one consequent whose confidence is at least
 * min_confidence.  Call once per engine.
 */
extern BasketResult *basket_engine_mine(BasketEngine *eng, double min_support,
										double min_confidence, int max_len);

/* The smallest count that satisfies count >= fraction * n, robust to rounding. */
extern int64 basket_min_count(double fraction, int64 n);

extern void basket_engine_destroy(BasketEngine *eng);

/* Sort ids ascending (insertion sort for short runs, as baskets are). */
extern void basket_sort_ids(int32 *ids, int64 n);

#endif							/* BASKET_ENGINE_H */
