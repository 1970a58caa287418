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
#include "catalog/pg_trigger.h"
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

/*
 * The type of each column, as direct.c builds its Datum (InvalidOid: the
 * entry kind's enum).  A column whose type has changed sends the writes
 * back to the statement, which coerces.
 */
static const Oid group_types[] = {TEXTOID, TEXTOID, TEXTOID, BOOLOID, INT8OID, INT8OID, TIMESTAMPTZOID,
TIMESTAMPTZOID};
static const Oid entry_types[] = {INT8OID, TEXTOID, InvalidOid, INT8OID, BOOLOID, INT4OID, INT8OID, TEXTOID,
INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID};
static const Oid outbox_types[] = {INT8OID, TEXTOID, JSONBOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
INT4OID};
static const Oid message_types[] = {TEXTOID, TEXTOID, BOOLOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID,
TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, INT8OID};

const char *const *const lk_write_cols[LK_NWRITE] = {group_cols, entry_cols, outbox_cols, message_cols};
static const Oid *const write_types[LK_NWRITE] = {group_types, entry_types, outbox_types, message_types};
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
static bool
prepare_checks(lk_wrel *w, Relation rel, bool update, AttrNumber changed)
{
	TupleConstr *constr = rel->rd_att->constr;
	int			n = constr ? constr->num_check : 0;
	ExprState **ins,
			  **upd = NULL;

	w->ncheck = n;
	if (n == 0)
		return true;
	ins = palloc(n * sizeof(ExprState *));
	if (update)
		upd = palloc(n * sizeof(ExprState *));
	for (int i = 0; i < n; i++)
	{
		Expr	   *e = expression_planner(stringToNode(constr->check[i].ccbin));
		Bitmapset  *cols = NULL;

		if (!cacheable((Node *) e))
			return false;		/* the statement's, under the pinned path */
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
	return true;
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

/*
 * The number of a column of that type (InvalidOid: an enum), or
 * InvalidAttrNumber when there is none.
 */
static AttrNumber
col_of(Relation rel, const char *name, Oid type)
{
	TupleDesc	desc = RelationGetDescr(rel);

	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return (OidIsValid(type) ? att->atttypid == type : get_typtype(att->atttypid) == TYPTYPE_ENUM)
				? a + 1 : InvalidAttrNumber;
	}
	return InvalidAttrNumber;
}

/* A row trigger of the user's (not a foreign key's) for this kind of write. */
static bool
user_row_trigger(Relation rel, bool update)
{
	TriggerDesc *trig = rel->trigdesc;

	for (int i = 0; trig && i < trig->numtriggers; i++)
	{
		Trigger    *t = &trig->triggers[i];

		if (!t->tgisinternal && TRIGGER_FOR_ROW(t->tgtype) &&
			(update ? TRIGGER_FOR_UPDATE(t->tgtype) : TRIGGER_FOR_INSERT(t->tgtype)))
			return true;
	}
	return false;
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
		if ((w->att[ncols] = col_of(rel, cols[ncols], write_types[which][ncols]) - 1) < 0)
			ok = false;
	Assert(ncols <= LK_MAXCOLS);
	for (int a = 0; a < desc->natts; a++)
		if (!TupleDescAttr(desc, a)->attisdropped)
			live++;
	if (live != ncols)
		ok = false;
	/*
	 * The apply worker's entry points fire row triggers only; and the user's
	 * own code (a row trigger, a CHECK of its functions) runs in a statement
	 * of ours, under the pinned path (see ledger.sql's chat_ingest).
	 */
	trig = rel->trigdesc;
	if (trig && (update ? (trig->trig_update_before_statement || trig->trig_update_after_statement)
				 : (trig->trig_insert_before_statement || trig->trig_insert_after_statement)))
		ok = false;
	if (user_row_trigger(rel, update))
		ok = false;
	if (rel->rd_rel->relrowsecurity || rel->rd_rel->relkind != RELKIND_RELATION)
		ok = false;
	if (ok)
		ok = prepare_checks(w, rel, update, update ? w->att[G_UNPAID] + 1 : InvalidAttrNumber);
	if (ok)
		prepare_predicates(w, rel);
	w->usable = ok;
	table_close(rel, NoLock);
}

/* What the lookup reads of a table: the index's key columns, then the others. */
typedef struct lk_rspec
{
	const char *name;
	bool		by_pk;			/* else the one-column unique index on keys[0] */
	const char *keys[4];
	Oid			key_types[4];
	const char *cols[5];
	Oid			col_types[5];
} lk_rspec;

/* Whether index idx's leading key columns are exactly spec's keys. */
static bool
keys_match(Relation rel, Relation idx, const lk_rspec *spec)
{
	int			n = 0;

	while (n < 4 && spec->keys[n])
		n++;
	if (idx->rd_index->indnkeyatts < n || (!spec->by_pk && idx->rd_index->indnkeyatts != 1))
		return false;
	for (int k = 0; k < n; k++)
	{
		AttrNumber	a = col_of(rel, spec->keys[k], spec->key_types[k]);

		if (a == InvalidAttrNumber || idx->rd_index->indkey.values[k] != a)
			return false;
	}
	return true;
}

/*
 * A table the lookup reads, through its primary key or the unique index on
 * one column (ledger_user's phone); the other columns' numbers into cols.
 */
static void
build_rrel(lk_rrel *r, Oid nsp, const lk_rspec *spec, AttrNumber *const *cols)
{
	Relation	rel = open_named(nsp, spec->name, &r->relid);
	List	   *l;
	ListCell   *lc;
	bool		ok = true;

	if (rel == NULL)
		return;
	l = RelationGetIndexList(rel);
	foreach(lc, l)
	{
		Relation	i;

		watch(lfirst_oid(lc));
		i = index_open(lfirst_oid(lc), AccessShareLock);
		if ((spec->by_pk ? i->rd_index->indisprimary
			 : (i->rd_index->indisunique &&
				heap_attisnull(i->rd_indextuple, Anum_pg_index_indpred, NULL))) &&
			keys_match(rel, i, spec))
			r->index = lfirst_oid(lc);
		index_close(i, NoLock);
		if (OidIsValid(r->index))
			break;
	}
	if (!OidIsValid(r->index))
		ok = false;
	for (int i = 0; i < 5 && spec->cols[i]; i++)
		if ((*cols[i] = col_of(rel, spec->cols[i], spec->col_types[i])) == InvalidAttrNumber)
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
				Relation	idx;

				watch(c.outbox_seq);
				watch(c.outbox_pending);
				/* reply_waiting's probe: the outbox's, by channel first */
				idx = index_open(c.outbox_pending, AccessShareLock);
				if (idx->rd_index->indrelid != o->relid ||
					idx->rd_index->indkey.values[0] != o->att[O_CHANNEL] + 1)
					o->usable = false;
				index_close(idx, NoLock);
			}
			else
				o->usable = false;
		}
		{
			/* the keys in the order direct.c's scan keys give them */
			static const lk_rspec msg = {"ledger_message", true, {"source", "message_id", "revoked"},
			{TEXTOID, TEXTOID, BOOLOID}, {"reply", "unpaid"}, {TEXTOID, INT8OID}};
			static const lk_rspec usr = {"ledger_user", false, {"phone"}, {TEXTOID},
			{"user_id", "name"}, {INT8OID, TEXTOID}};
			static const lk_rspec ur = {"ledger_user_role", true, {"user_id"}, {INT8OID},
			{"role_name"}, {TEXTOID}};
			static const lk_rspec rp = {"ledger_role_permission", true, {"role_name", "command"},
			{TEXTOID, TEXTOID}, {"own_group_only"}, {BOOLOID}};
			static const lk_rspec grp = {"ledger_group", true, {"group_id"}, {TEXTOID},
			{"name", "buyer_phone", "unpaid", "deleted_at"}, {TEXTOID, TEXTOID, INT8OID, TIMESTAMPTZOID}};
			AttrNumber *const msg_cols[] = {&c.msg_reply, &c.msg_unpaid};
			AttrNumber *const usr_cols[] = {&c.usr_user_id, &c.usr_name};
			AttrNumber *const ur_cols[] = {&c.ur_role};
			AttrNumber *const rp_cols[] = {&c.rp_own};
			AttrNumber *const grp_cols[] = {&c.grp_name, &c.grp_buyer, &c.grp_unpaid, &c.grp_deleted};

			build_rrel(&c.r[LK_R_MESSAGE], nsp, &msg, msg_cols);
			build_rrel(&c.r[LK_R_USER], nsp, &usr, usr_cols);
			build_rrel(&c.r[LK_R_USER_ROLE], nsp, &ur, ur_cols);
			build_rrel(&c.r[LK_R_ROLE_PERM], nsp, &rp, rp_cols);
			build_rrel(&c.r[LK_R_GROUP], nsp, &grp, grp_cols);
			/* the group's key is also how direct.c finds the row to update */
			if (c.r[LK_R_GROUP].index == InvalidOid)
				c.w[LK_W_GROUP].usable = false;
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
