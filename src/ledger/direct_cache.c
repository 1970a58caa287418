/*
 * direct_cache.c: what direct.c needs to know about its tables, looked up
 * once per backend instead of once per message.
 *
 * Why: with the statements gone, the names and shapes of the nine tables
 * were looked up again on every message (relation and index OIDs by name,
 * the column maps, the unique index on the phone number, the sequences,
 * the enum's labels), and every message prepared the tables' CHECK
 * constraints and the outbox's partial-index predicate from their stored
 * text again (stringToNode, expression_planner, ExecInitExpr: what a
 * statement does once per statement, and here one message is one
 * statement's worth of rows).  A profile at a million messages put these
 * at about a tenth of chat_ingest's time.
 *
 * What keeps it right is what keeps the relcache right: every relation the
 * cache describes (tables, indexes, sequences) is watched by a relcache
 * invalidation callback, the schema and the enum's labels by syscache
 * callbacks, and any of them makes the next call rebuild.  An
 * invalidation that matters (a column, constraint, trigger, index or
 * policy added, a table renamed or dropped) is processed at the latest
 * when direct.c takes the table's lock, so direct.c asks whether its copy
 * is still current after locking (lk_dcache_current) and starts again if
 * not.  Invalidations that do not matter (statistics, ANALYZE) only cost
 * a rebuild.
 *
 * The prepared expressions are the executor's own (ExecInitExpr of the
 * planned expression, as ExecRelCheck and ExecPrepareQual build them), kept
 * only where evaluating them keeps no state in a statement's memory:
 * built-in immutable functions and operators on columns and constants (a
 * hashed IN list keeps its hash table in the statement's memory, so it is
 * not kept).  A rebuild does not free the old ones: their context moves
 * under the transaction's, so a call that is still using a copy (an outer
 * chat_ingest whose trigger called chat_ingest) finds them until the
 * transaction ends.
 */
#include "ledger/direct.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/transam.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

static const char *const group_cols[] = {"group_id", "name", "buyer_phone", "autocharge", "unpaid",
"settled_through", "created", "deleted_at", NULL};
static const char *const entry_cols[] = {"entry_id", "group_id", "kind", "amount", "paid_side", "qty",
	"price", "note", "reverses", "sender", "source", "message_id", "root_message_id", "booked_at", NULL};
static const char *const outbox_cols[] = {"outbox_id", "channel", "payload", "created", "claimed_at",
"delivered_at", "attempts", NULL};
static const char *const message_cols[] = {"source", "message_id", "revoked", "group_id", "sender",
	"sent_at", "body", "edited_of", "quoted_id", "received_at", "outcome", "reply", "unpaid", NULL};

const char *const *const lk_write_cols[LK_NWRITE] = {group_cols, entry_cols, outbox_cols, message_cols};
const char *const lk_write_names[LK_NWRITE] = {"ledger_group", "ledger_entry", "outbox", "ledger_message"};

static lk_dcache cache;
static bool cache_valid;
static uint64 generation;
static MemoryContext cache_cxt;

/* The relations the cache describes; an invalidation of any of them drops it. */
#define LK_MAXWATCH 48
static Oid	watched[LK_MAXWATCH];
static int	nwatched;
static bool watch_overflow;
static uint64 invalidations;

static void
invalidate(void)
{
	cache_valid = false;
	invalidations++;
}

static void
relcache_cb(Datum arg, Oid relid)
{
	if (relid == InvalidOid || watch_overflow)
	{
		invalidate();
		return;
	}
	for (int i = 0; i < nwatched; i++)
		if (watched[i] == relid)
		{
			invalidate();
			return;
		}
}

static void
syscache_cb(Datum arg, int cacheid, uint32 hashvalue)
{
	invalidate();
}

/* Watched before it is read: an invalidation between the two is not missed. */
static void
watch(Oid relid)
{
	if (nwatched < LK_MAXWATCH)
		watched[nwatched++] = relid;
	else
		watch_overflow = true;
}

/*
 * Whether an expression can be prepared once and evaluated in any later
 * statement: see the top of this file.
 */
static bool
uncacheable_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	switch (nodeTag(node))
	{
		case T_Var:
			if (((Var *) node)->varattno <= 0)
				return true;	/* whole row or system column */
			break;
		case T_Const:
		case T_NullTest:
		case T_BooleanTest:
		case T_BoolExpr:
		case T_RelabelType:
		case T_List:
			break;
		case T_OpExpr:
		case T_DistinctExpr:
		case T_NullIfExpr:
			set_opfuncid((OpExpr *) node);
			if (((OpExpr *) node)->opfuncid >= FirstNormalObjectId || ((OpExpr *) node)->opretset)
				return true;
			break;
		case T_FuncExpr:
			if (((FuncExpr *) node)->funcid >= FirstNormalObjectId || ((FuncExpr *) node)->funcretset)
				return true;
			break;
		case T_ScalarArrayOpExpr:
			{
				ScalarArrayOpExpr *s = (ScalarArrayOpExpr *) node;

				set_sa_opfuncid(s);
				if (OidIsValid(s->hashfuncid) || s->opfuncid >= FirstNormalObjectId)
					return true;
				break;
			}
		default:
			return true;
	}
	return expression_tree_walker(node, uncacheable_walker, context);
}

static bool
cacheable(Node *planned)
{
	return !contain_mutable_functions(planned) && !uncacheable_walker(planned, NULL);
}

/*
 * The CHECK constraints of a table, prepared as ExecRelCheck prepares them.
 * For the group's balance update, a constraint that is validated, immutable
 * and reads no column the update changes (only unpaid changes) gives the
 * answer it gave for the row version being replaced, which passed it: its
 * entry is NULL (ExecCheck's "true"), as PostgreSQL itself skips the
 * foreign-key check of an update that leaves the key alone
 * (RI_FKey_fk_upd_check_required).  One that reads unpaid is evaluated.
 */
static void
prepare_checks(lk_wrel *w, Relation rel, bool update, AttrNumber changed)
{
	TupleConstr *constr = rel->rd_att->constr;
	int			n = constr ? constr->num_check : 0;
	ExprState **ins,
			  **upd = NULL;

	w->ncheck = n;
	if (n == 0)
		return;
	ins = palloc(n * sizeof(ExprState *));
	if (update)
		upd = palloc(n * sizeof(ExprState *));
	for (int i = 0; i < n; i++)
	{
		Expr	   *e = expression_planner(stringToNode(constr->check[i].ccbin));
		Bitmapset  *cols = NULL;

		if (!cacheable((Node *) e))
			return;				/* the executor prepares them, per statement */
		ins[i] = ExecInitExpr(e, NULL);
		if (update)
		{
			pull_varattnos((Node *) e, 1, &cols);
			upd[i] = (constr->check[i].ccvalid &&
					  !bms_is_member(changed - FirstLowInvalidHeapAttributeNumber, cols))
				? NULL : ins[i];
		}
	}
	w->insert_checks = ins;
	w->update_checks = upd;
}

/* The predicates of the table's partial indexes that can be kept. */
static void
prepare_predicates(lk_wrel *w, Relation rel)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;

	w->preds = palloc0(Max(1, list_length(indexes)) * sizeof(lk_pred));
	foreach(lc, indexes)
	{
		Oid			ioid = lfirst_oid(lc);
		Relation	idx;
		List	   *pred;

		watch(ioid);
		idx = index_open(ioid, AccessShareLock);
		pred = RelationGetIndexPredicate(idx);
		if (pred != NIL)
		{
			Expr	   *e = expression_planner((Expr *) pred);

			if (cacheable((Node *) e))
			{
				w->preds[w->npred].index = ioid;
				w->preds[w->npred].state = ExecInitQual((List *) e, NULL);
				w->npred++;
			}
		}
		index_close(idx, NoLock);
	}
}

/* A table of ours by name, watched, open; NULL when there is none. */
static Relation
open_named(Oid nsp, const char *name, Oid *relid)
{
	*relid = get_relname_relid(name, nsp);
	if (!OidIsValid(*relid))
		return NULL;
	watch(*relid);
	return table_open(*relid, AccessShareLock);
}

static AttrNumber
col_of(Relation rel, const char *name)
{
	TupleDesc	desc = RelationGetDescr(rel);

	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return a + 1;
	}
	return InvalidAttrNumber;
}

static void
build_wrel(lk_wrel *w, int which, Oid nsp)
{
	const char *const *cols = lk_write_cols[which];
	bool		update = which == LK_W_GROUP;
	Relation	rel = open_named(nsp, lk_write_names[which], &w->relid);
	TupleDesc	desc;
	TriggerDesc *trig;
	int			ncols = 0,
				live = 0;
	bool		ok = true;

	if (rel == NULL)
		return;
	desc = RelationGetDescr(rel);
	/* each of our columns, and no other (one added later has a default to write) */
	for (; cols[ncols]; ncols++)
		if ((w->att[ncols] = col_of(rel, cols[ncols]) - 1) < 0)
			ok = false;
	Assert(ncols <= LK_MAXCOLS);
	for (int a = 0; a < desc->natts; a++)
		if (!TupleDescAttr(desc, a)->attisdropped)
			live++;
	if (live != ncols)
		ok = false;
	/* the apply worker's entry points fire row triggers only */
	trig = rel->trigdesc;
	if (trig && (update ? (trig->trig_update_before_statement || trig->trig_update_after_statement)
				 : (trig->trig_insert_before_statement || trig->trig_insert_after_statement)))
		ok = false;
	if (rel->rd_rel->relrowsecurity || rel->rd_rel->relkind != RELKIND_RELATION)
		ok = false;
	if (ok)
	{
		prepare_checks(w, rel, update, update ? w->att[G_UNPAID] + 1 : InvalidAttrNumber);
		prepare_predicates(w, rel);
	}
	w->usable = ok;
	table_close(rel, NoLock);
}

/*
 * A table the lookup reads, through its primary key or (index_col) the
 * unique index on that one column; the named columns' numbers into cols.
 */
static void
build_rrel(lk_rrel *r, Oid nsp, const char *name, const char *index_col,
		   const char *const *names, AttrNumber *const *cols)
{
	Relation	rel = open_named(nsp, name, &r->relid);
	bool		ok = true;

	if (rel == NULL)
		return;
	if (index_col == NULL)
		r->index = RelationGetPrimaryKeyIndex(rel);
	else
	{
		AttrNumber	a = col_of(rel, index_col);
		List	   *l = RelationGetIndexList(rel);
		ListCell   *lc;

		foreach(lc, l)
		{
			Relation	i;

			watch(lfirst_oid(lc));
			i = index_open(lfirst_oid(lc), AccessShareLock);
			if (a != InvalidAttrNumber && i->rd_index->indisunique && i->rd_index->indnkeyatts == 1 &&
				i->rd_index->indkey.values[0] == a &&
				heap_attisnull(i->rd_indextuple, Anum_pg_index_indpred, NULL))
				r->index = lfirst_oid(lc);
			index_close(i, NoLock);
			if (OidIsValid(r->index))
				break;
		}
	}
	if (OidIsValid(r->index))
		watch(r->index);
	else
		ok = false;
	for (int i = 0; names && names[i]; i++)
		if ((*cols[i] = col_of(rel, names[i])) == InvalidAttrNumber)
			ok = false;
	r->usable = ok && !rel->rd_rel->relrowsecurity;
	table_close(rel, NoLock);
}

static Datum
enum_label(Oid typid, const char *label, bool *ok)
{
	Oid			v = GetSysCacheOid2(ENUMTYPOIDNAME, Anum_pg_enum_oid, ObjectIdGetDatum(typid),
									CStringGetDatum(label));

	if (!OidIsValid(v))
		*ok = false;
	return ObjectIdGetDatum(v);
}

static void
build(void)
{
	static bool registered;
	lk_dcache	c;
	uint64		before;
	MemoryContext old;
	Oid			nsp;

	if (!registered)
	{
		CacheRegisterRelcacheCallback(relcache_cb, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, syscache_cb, (Datum) 0);
		CacheRegisterSyscacheCallback(ENUMOID, syscache_cb, (Datum) 0);
		registered = true;
	}
	/* a copy of the old cache may still be in use: see the top of this file */
	if (cache_cxt != NULL)
		MemoryContextSetParent(cache_cxt, TopTransactionContext);
	cache_cxt = AllocSetContextCreate(CacheMemoryContext, "ledger direct cache", ALLOCSET_SMALL_SIZES);
	nwatched = 0;
	watch_overflow = false;
	before = invalidations;
	memset(&c, 0, sizeof(c));
	old = MemoryContextSwitchTo(cache_cxt);

	nsp = get_namespace_oid("mekatek", true);
	c.nsp = nsp;
	if (OidIsValid(nsp))
	{
		lk_wrel    *e = &c.w[LK_W_ENTRY];
		lk_wrel    *o = &c.w[LK_W_OUTBOX];

		for (int i = 0; i < LK_NWRITE; i++)
			build_wrel(&c.w[i], i, nsp);
		if (e->usable)
		{
			Relation	rel = table_open(e->relid, AccessShareLock);
			Oid			kind = TupleDescAttr(RelationGetDescr(rel), e->att[E_KIND])->atttypid;

			table_close(rel, NoLock);
			e->usable = get_typtype(kind) == TYPTYPE_ENUM;
			if (e->usable)
			{
				c.kind_sale = enum_label(kind, "sale", &e->usable);
				c.kind_payment = enum_label(kind, "payment", &e->usable);
			}
			c.entry_seq = getIdentitySequence(e->relid, e->att[E_ID] + 1, true);
			if (OidIsValid(c.entry_seq))
				watch(c.entry_seq);
			else
				e->usable = false;
		}
		if (o->usable)
		{
			c.outbox_seq = getIdentitySequence(o->relid, o->att[O_ID] + 1, true);
			c.outbox_pending = get_relname_relid("outbox_pending", nsp);
			if (OidIsValid(c.outbox_seq) && OidIsValid(c.outbox_pending))
			{
				watch(c.outbox_seq);
				watch(c.outbox_pending);
			}
			else
				o->usable = false;
		}
		{
			static const char *const usr[] = {"user_id", "name", NULL};
			static const char *const ur[] = {"role_name", NULL};
			static const char *const rp[] = {"own_group_only", NULL};
			static const char *const grp[] = {"name", "buyer_phone", "unpaid", "deleted_at", NULL};
			static const char *const msg[] = {"reply", "unpaid", NULL};
			AttrNumber *const usr_cols[] = {&c.usr_user_id, &c.usr_name};
			AttrNumber *const ur_cols[] = {&c.ur_role};
			AttrNumber *const rp_cols[] = {&c.rp_own};
			AttrNumber *const grp_cols[] = {&c.grp_name, &c.grp_buyer, &c.grp_unpaid, &c.grp_deleted};
			AttrNumber *const msg_cols[] = {&c.msg_reply, &c.msg_unpaid};

			build_rrel(&c.r[LK_R_MESSAGE], nsp, "ledger_message", NULL, msg, msg_cols);
			build_rrel(&c.r[LK_R_USER], nsp, "ledger_user", "phone", usr, usr_cols);
			build_rrel(&c.r[LK_R_USER_ROLE], nsp, "ledger_user_role", NULL, ur, ur_cols);
			build_rrel(&c.r[LK_R_ROLE_PERM], nsp, "ledger_role_permission", NULL, rp, rp_cols);
			build_rrel(&c.r[LK_R_GROUP], nsp, "ledger_group", NULL, grp, grp_cols);
		}
	}
	MemoryContextSwitchTo(old);
	c.generation = ++generation;
	cache = c;
	/* an invalidation of something already read: build again next time */
	cache_valid = invalidations == before;
}

bool
lk_dcache_get(lk_dcache *out)
{
	for (int i = 0; i < 3 && !cache_valid; i++)
		build();
	if (!cache_valid)
		return false;
	*out = cache;
	return true;
}

bool
lk_dcache_current(const lk_dcache *c)
{
	return cache_valid && c->generation == cache.generation;
}
