/*
 * direct_exprs.c: the planned CHECK expressions of the tables direct.c
 * writes, kept per backend instead of read again from their stored text
 * for every statement.
 *
 * Why: ExecRelCheck parses each CHECK expression (stringToNode) and plans
 * it (expression_planner) once per ResultRelInfo, that is once per INSERT
 * into rfid_scan for the item update (six CHECKs) and the outbox (one):
 * about 1 % of an RFID batch of 100 scans, for the same trees every time.  What is kept is the planned
 * tree; every statement still builds its own ExprState from it
 * (ExecInitExpr, in the statement's memory), so no state of an
 * evaluation outlives a statement.
 *
 * What keeps it right is what keeps the relcache and the plan cache
 * right: a relcache invalidation of the table (a constraint added or
 * dropped, ALTER TABLE, VACUUM's statistics) drops its entry, and
 * a change to any function, type, operator, operator family member or
 * schema drops them all (a planned tree may have inlined a SQL function or
 * folded a constant through it), as plancache.c drops its plans.  A
 * dropped entry still in use by a statement of this transaction (a nested
 * trigger's write, say) is not freed: its memory moves under the
 * transaction's and goes with it.
 */
#include "devices/direct.h"

#include "access/xact.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#define EXPRS_CACHED 8

static MkDirectExprs *cached[EXPRS_CACHED];
static bool callbacks_registered = false;

static void
exprs_drop(int i)
{
	MkDirectExprs *e = cached[i];

	cached[i] = NULL;
	if (e == NULL)
		return;
	if (IsTransactionState() && TopTransactionContext != NULL)
		MemoryContextSetParent(e->cxt, TopTransactionContext);
	else
		MemoryContextDelete(e->cxt);
}

static void
exprs_relcache_callback(Datum arg, Oid relid)
{
	for (int i = 0; i < EXPRS_CACHED; i++)
		if (cached[i] && (relid == InvalidOid || cached[i]->relid == relid))
			exprs_drop(i);
}

static void
exprs_syscache_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	for (int i = 0; i < EXPRS_CACHED; i++)
		exprs_drop(i);
}

static MkDirectExprs *
exprs_build(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TupleConstr *constr = desc->constr;
	/* under the caller's memory until built: an error leaves nothing behind */
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "mekatek devices expressions",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	MkDirectExprs *e = palloc0(sizeof(MkDirectExprs));

	e->relid = RelationGetRelid(rel);
	e->cxt = cxt;
	e->nchecks = constr ? constr->num_check : 0;
	e->natts = desc->natts;
	e->checks = palloc0(sizeof(Expr *) * Max(e->nchecks, 1));
	e->check_cols = palloc0(sizeof(Bitmapset *) * Max(e->nchecks, 1));
	e->check_fixed = palloc0(sizeof(bool) * Max(e->nchecks, 1));
	for (int i = 0; i < e->nchecks; i++)
	{
		Expr	   *x = expression_planner(stringToNode(constr->check[i].ccbin));

		pull_varattnos((Node *) x, 1, &e->check_cols[i]);
		e->checks[i] = x;
		e->check_fixed[i] = constr->check[i].ccvalid && !contain_mutable_functions((Node *) x) &&
			!bms_is_member(InvalidAttrNumber - FirstLowInvalidHeapAttributeNumber, e->check_cols[i]);
	}
	MemoryContextSwitchTo(old);
	MemoryContextSetParent(cxt, CacheMemoryContext);
	return e;
}

const MkDirectExprs *
mk_direct_exprs(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			relid = RelationGetRelid(rel);
	int			free_slot = -1;

	if (!callbacks_registered)
	{
		static const int caches[] = {PROCOID, TYPEOID, OPEROID, NAMESPACEOID, AMOPOPID};

		CacheRegisterRelcacheCallback(exprs_relcache_callback, (Datum) 0);
		for (int i = 0; i < (int) lengthof(caches); i++)
			CacheRegisterSyscacheCallback(caches[i], exprs_syscache_callback, (Datum) 0);
		callbacks_registered = true;
	}
	for (int i = 0; i < EXPRS_CACHED; i++)
	{
		MkDirectExprs *e = cached[i];

		if (e == NULL)
		{
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (e->relid != relid)
			continue;
		/* the relcache entry the callback spoke of is the one we hold */
		if (e->natts == desc->natts && e->nchecks == (desc->constr ? desc->constr->num_check : 0))
			return e;
		exprs_drop(i);
		free_slot = i;
		break;
	}
	if (free_slot < 0)
	{
		exprs_drop(0);
		free_slot = 0;
	}
	cached[free_slot] = exprs_build(rel);
	return cached[free_slot];
}
