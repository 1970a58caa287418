/*
 * basket_engine.h: the one frequent-itemset and association-rule engine of
 * Mekatek.  The SQL functions of the basket module (functions.c) and any
 * other module that mines (the firewall) use it, from C or through
 * mekatek.apriori().
 *
 * Usage from C, with SPI connected:
 *
 *     BasketEngine *eng = basket_engine_create(CurrentMemoryContext,
 *                                              basket_work_mem_bytes());
 *     basket_engine_load_query(eng, "SELECT sale_id, sku FROM ...");
 *     BasketOptions o;
 *     basket_options_init(&o);  o.min_support = 0.01;  o.min_confidence = 0.5;
 *     BasketResult *res = basket_engine_mine(eng, &o);
 *     basket_engine_rules(eng, res, &o, my_rule_fn, my_arg);
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
 * result), sorted so that their names are in byte order (COLLATE "C");
 * read only: an itemset's items may be the start of a longer one's.
 * 16 bytes, as there are often millions.
 */
typedef struct BasketItemset
{
	int32	   *items;			/* may be shared with the next itemset */
	int32		len;
	int32		count;			/* baskets: at most their number, an int32 */
} BasketItemset;

typedef enum BasketTarget
{
	BASKET_FREQUENT,			/* every frequent itemset */
	BASKET_CLOSED,				/* no superset (one item more) has its count */
	BASKET_MAXIMAL				/* no superset (one item more) is frequent */
} BasketTarget;

typedef enum BasketTopBy
{
	BASKET_BY_SUPPORT,			/* the documented order: count, confidence */
	BASKET_BY_CONFIDENCE,
	BASKET_BY_LIFT
} BasketTopBy;

/* What to mine and what to return; basket_options_init sets the defaults. */
typedef struct BasketOptions
{
	double		min_support;
	double		min_confidence; /* -1: no rules */
	double		min_lift;		/* rules with lift below are dropped; 0: all */
	int			max_len;		/* 0: no limit */
	int			min_len;		/* itemsets and rules of fewer items are dropped */
	int			max_antecedent; /* 0: no limit */
	int			max_consequent; /* >= 1; 1 is Apriori's classic rules */
	/* appearance constraints, by item name (text output); NULL: no constraint */
	char	  **lhs;			/* antecedents use only these */
	int			nlhs;
	char	  **rhs;			/* consequents use only these */
	int			nrhs;
	char	  **exclude;		/* no itemset or rule holds these */
	int			nexclude;
	BasketTarget target;		/* itemsets only */
	bool		remove_redundant;
	bool		ordered;		/* false: rows as produced, nothing sorted */
	int64		top;			/* > 0: only the top best rows (by top_by) */
	BasketTopBy top_by;
} BasketOptions;

extern void basket_options_init(BasketOptions *o);

typedef struct BasketResult
{
	int64		ntransactions;	/* N: baskets read */
	int64		min_count;		/* an itemset is frequent when count >= this */
	int32		nitems;			/* frequent items */
	const char **item_name;		/* [nitems] the item's text output */
	int64	   *item_count;		/* [nitems] baskets containing the item */
	/* every frequent itemset, in lexicographic order of items */
	int64		nitemsets;
	BasketItemset *itemsets;
	Size		peak_bytes;		/* the engine's peak tracked memory */
} BasketResult;

/* A rule antecedent => consequent; both are itemsets of the result. */
typedef struct BasketRule
{
	const BasketItemset *antecedent;
	const BasketItemset *consequent;
	int64		count;			/* baskets holding both */
	double		confidence;
	double		lift;
} BasketRule;

typedef void (*BasketSetFn) (void *arg, const BasketResult *res, const BasketItemset *set);
typedef void (*BasketRuleFn) (void *arg, const BasketResult *res, const BasketRule *rule);

extern BasketEngine *basket_engine_create(MemoryContext parent, Size limit_bytes);

/*
 * Read the baskets of a query through an SPI cursor, in batches.  The query
 * returns either (transaction id, item) rows or one array column, one row per
 * basket; NULL items (and rows with a NULL transaction id or a NULL array)
 * are ignored.  The caller must be connected to SPI.
 */
extern void basket_engine_load_query(BasketEngine *eng, const char *query);

/*
 * Mine the itemsets of at most max_len items (0: no limit) with
 * count >= min_support * N.  Call once per engine.
 */
extern BasketResult *basket_engine_mine(BasketEngine *eng, const BasketOptions *o);

/*
 * Hand the itemsets (min_len, target, exclude, top) or the rules (every
 * rule filter) of a mined result to fn, in the documented order when
 * o->ordered (itemsets: count descending, then items; rules: count,
 * confidence descending, then antecedent, consequent), else as produced.
 * Returns the number of rows handed over.
 */
extern int64 basket_engine_itemsets(BasketEngine *eng, BasketResult *res,
									const BasketOptions *o, BasketSetFn fn, void *arg);
extern int64 basket_engine_rules(BasketEngine *eng, BasketResult *res,
								 const BasketOptions *o, BasketRuleFn fn, void *arg);

/*
 * The same rules pulled one at a time, for a caller that streams them: begin,
 * then next until it returns false (or stop early), then end, which frees
 * what the walk holds and returns the number of rules handed over.  Between
 * calls the engine holds at most the rules of one count (documented order),
 * of one itemset (unordered) or top of them; o must outlive the walk.
 */
typedef struct BasketRuleIter BasketRuleIter;

extern BasketRuleIter *basket_rules_begin(BasketEngine *eng, BasketResult *res,
										  const BasketOptions *o);
extern bool basket_rules_next(BasketRuleIter *it, BasketRule *r);
extern int64 basket_rules_end(BasketRuleIter *it);

/* The same for itemsets: next returns NULL after the last. */
typedef struct BasketSetIter BasketSetIter;

extern BasketSetIter *basket_itemsets_begin(BasketEngine *eng, BasketResult *res,
											const BasketOptions *o);
extern const BasketItemset *basket_itemsets_next(BasketSetIter *it);
extern int64 basket_itemsets_end(BasketSetIter *it);

/* The smallest count that satisfies count >= fraction * n, robust to rounding. */
extern int64 basket_min_count(double fraction, int64 n);

/* The engine's peak tracked memory so far, in bytes. */
extern Size basket_engine_peak(BasketEngine *eng);

extern void basket_engine_destroy(BasketEngine *eng);

/* Sort ids ascending (insertion sort for short runs, as baskets are). */
extern void basket_sort_ids(int32 *ids, int64 n);

#endif							/* BASKET_ENGINE_H */
