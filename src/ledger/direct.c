/*
 * direct.c: chat_ingest's hot path by rows instead of statements.  The
 * lookup every message starts with reads its five tables through their
 * indexes (lk_lookup_direct), and a plain sale or payment is written
 * through the executor's row-level entry points, as logical replication's
 * apply worker writes a replicated row (ExecSimpleRelationInsert/Update)
 * (lk_post_direct).
 *
 * Why: after the lookup, the posting statement (group update feeding the
 * entry, the outbox row and the message row, ingest.c's store_posting) was
 * half of chat_ingest's time, and most of that half was the statement
 * itself -- starting and ending a plan of five CTEs, their projections and
 * scans -- not the rows.  The row work stays PostgreSQL's: the group row
 * is found and locked through its primary key as UPDATE would lock it,
 * waiting for and then following a concurrent update
 * (RelationFindReplTupleByIndex); constraints, index entries, row
 * triggers and the foreign-key check run as they do for INSERT and
 * UPDATE; identities come from their sequences.
 *
 * Used only where it writes exactly what the statement would: READ
 * COMMITTED (the statement's serialization failures under REPEATABLE READ
 * and SERIALIZABLE, and SSI's predicate locks, stay the executor's), no
 * row-level security, and every column of the four tables one this file
 * fills (a column added later, with its default, sends the posting back to
 * the statement).  Both return false then, before reading or writing,
 * and the caller runs the statement; so does the posting when it cannot
 * find the group's row to lock (see there).
 *
 * What it knows about the tables (OIDs, column maps, prepared constraints)
 * comes from direct_cache.c, checked current after the tables are locked.
 */
#include "ledger/direct.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_index.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "common/int.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

/* A table being written: its cached description, open relation and target. */
typedef struct lk_table
{
	const lk_wrel *w;
	Relation	rel;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
} lk_table;

/*
 * Open the tables a path uses (the four it writes, or the five the lookup
 * reads) by the cache's OIDs into rels; false, nothing open, when one is
 * not usable or the cache keeps changing under us.  The copy is current
 * once the locks are held: see direct_cache.c.
 */
static bool
open_cached(lk_dcache *c, bool write, Relation *rels)
{
	int			n = write ? LK_NWRITE : LK_NREAD;

	for (int attempt = 0; attempt < 3; attempt++)
	{
		int			i;

		if (!lk_dcache_get(c))
			return false;
		for (i = 0; i < n; i++)
			if (!(write ? c->w[i].usable : c->r[i].usable))
				return false;
		for (i = 0; i < n; i++)
		{
			rels[i] = try_table_open(write ? c->w[i].relid : c->r[i].relid,
									 write ? RowExclusiveLock : AccessShareLock);
			if (rels[i] == NULL)
				break;
		}
		if (i == n && lk_dcache_current(c))
			return true;
		while (--i >= 0)
			table_close(rels[i], NoLock);
	}
	return false;
}

static void
init_target(lk_table *t, EState *estate, Index rti, bool update)
{
	t->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(t->rri, t->rel, rti, NULL, 0);
	/* as the apply worker does: enough for ExecGetTriggerResultRel */
	estate->es_opened_result_relations = lappend(estate->es_opened_result_relations, t->rri);
	ExecOpenIndices(t->rri, false);
	/* what ExecConstraints and ExecInsertIndexTuples would prepare, prepared */
	if (t->w->insert_checks && t->rel->rd_att->constr &&
		t->rel->rd_att->constr->num_check == t->w->ncheck)
		t->rri->ri_ConstraintExprs = update ? t->w->update_checks : t->w->insert_checks;
	for (int i = 0; i < t->rri->ri_NumIndices; i++)
	{
		IndexInfo  *ii = t->rri->ri_IndexRelationInfo[i];
		Oid			ioid = RelationGetRelid(t->rri->ri_IndexRelationDescs[i]);

		for (int p = 0; p < t->w->npred && ii->ii_Predicate != NIL; p++)
			if (t->w->preds[p].index == ioid)
				ii->ii_PredicateState = t->w->preds[p].state;
	}
	t->slot = table_slot_create(t->rel, &estate->es_tupleTable);
	ExecClearTuple(t->slot);
	memset(t->slot->tts_isnull, true, sizeof(bool) * t->slot->tts_tupleDescriptor->natts);
}

static void
set_col(lk_table *t, int col, Datum v)
{
	t->slot->tts_values[t->w->att[col]] = v;
	t->slot->tts_isnull[t->w->att[col]] = false;
}

#define PUSH_TEXT(st, key, t) mk_jsonb_strn(st, key, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t))

/*
 * Whether another ledger reply waits unclaimed (ingest.c's NOTIFY rule),
 * read through the partial index outbox_pending under a snapshot taken now,
 * after the caller took the outbox fence: the same question, index and
 * order as the statement's NOT EXISTS.
 */
static bool
reply_waiting(Relation outbox, Oid idxoid, lk_table *o)
{
	Relation	idx;
	IndexScanDesc scan;
	ScanKeyData key;
	Snapshot	snap;
	TupleTableSlot *slot;
	bool		waiting = false;

	idx = index_open(idxoid, AccessShareLock);
	snap = RegisterSnapshot(GetLatestSnapshot());
	slot = table_slot_create(outbox, NULL);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum("ledger"));
	key.sk_collation = idx->rd_indcollation[0];
	scan = index_beginscan(outbox, idx, snap, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		claimed_null,
					delivered_null;

		CHECK_FOR_INTERRUPTS();
		(void) slot_getattr(slot, o->w->att[O_CLAIMED_AT] + 1, &claimed_null);
		(void) slot_getattr(slot, o->w->att[O_DELIVERED_AT] + 1, &delivered_null);
		if (claimed_null && delivered_null)
		{
			waiting = true;
			break;
		}
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snap);
	index_close(idx, AccessShareLock);
	return waiting;
}

/* The end of the "statement": its AFTER row triggers fire, the tables close. */
static void
finish(EState *estate, EPQState *epq, lk_table *t)
{
	AfterTriggerEndQuery(estate);
	EvalPlanQualEnd(epq);
	for (int i = 0; i < LK_NWRITE; i++)
	{
		ExecCloseIndices(t[i].rri);
		table_close(t[i].rel, NoLock);
	}
	ExecResetTupleTable(estate->es_tupleTable, false);
	FreeExecutorState(estate);
}

bool
lk_post_direct(lk_msg *m, bool *notify)
{
	lk_dcache	c;
	lk_table	t[LK_NWRITE];
	lk_table   *g = &t[LK_W_GROUP],
			   *e = &t[LK_W_ENTRY],
			   *o = &t[LK_W_OUTBOX],
			   *w = &t[LK_W_MESSAGE];
	EState	   *estate;
	EPQState	epq;
	TupleTableSlot *found;
	int64		unpaid;
	Datum		reply;
	Jsonb	   *payload;
	JsonbParseState *st = NULL;
	TimestampTz now = GetCurrentTransactionStartTimestamp();

	/*
	 * A read-only transaction (or a standby) is refused by the executor's
	 * start, which the row-level entry points skip: let the statement say so.
	 */
	if (XactIsoLevel != XACT_READ_COMMITTED || XactReadOnly)
		return false;
	{
		Relation	rels[LK_NWRITE];

		if (!open_cached(&c, true, rels))
			return false;
		for (int i = 0; i < LK_NWRITE; i++)
		{
			t[i].w = &c.w[i];
			t[i].rel = rels[i];
		}
	}

	estate = CreateExecutorState();
	{
		List	   *rtable = NIL;

		for (int i = 0; i < LK_NWRITE; i++)
		{
			RangeTblEntry *rte = makeNode(RangeTblEntry);

			rte->rtekind = RTE_RELATION;
			rte->relid = RelationGetRelid(t[i].rel);
			rte->relkind = RELKIND_RELATION;
			rte->rellockmode = RowExclusiveLock;
			rtable = lappend(rtable, rte);
		}
		ExecInitRangeTable(estate, rtable);
	}
	for (int i = 0; i < LK_NWRITE; i++)
		init_target(&t[i], estate, i + 1, i == LK_W_GROUP);
	estate->es_output_cid = GetCurrentCommandId(true);
	estate->es_snapshot = GetActiveSnapshot();
	EvalPlanQualInit(&epq, estate, NULL, NIL, -1);
	AfterTriggerBeginQuery();

	/* the group's row, locked as UPDATE locks it; its balance moves */
	set_col(g, G_GROUP_ID, PointerGetDatum(m->group_id));
	ExecStoreVirtualTuple(g->slot);
	found = table_slot_create(g->rel, &estate->es_tupleTable);

	/*
	 * Its dirty-snapshot index scan can miss a row that another backend is
	 * updating at that instant (the apply worker it was written for has
	 * no rival writers): 1 in about a million messages with 8 clients on
	 * 100 groups.  Look again; still nothing (a group deleted meanwhile,
	 * or the race again), and the statement decides, with UPDATE's own
	 * snapshot and recheck.  Nothing has been written yet.
	 */
	for (int attempt = 0;; attempt++)
	{
		if (RelationFindReplTupleByIndex(g->rel, c.r[LK_R_GROUP].index, LockTupleNoKeyExclusive,
										 g->slot, found))
			break;
		if (attempt == 2)
		{
			finish(estate, &epq, t);
			return false;
		}
		CHECK_FOR_INTERRUPTS();
	}
	slot_getallattrs(found);
	ExecClearTuple(g->slot);
	memcpy(g->slot->tts_values, found->tts_values, sizeof(Datum) * found->tts_tupleDescriptor->natts);
	memcpy(g->slot->tts_isnull, found->tts_isnull, sizeof(bool) * found->tts_tupleDescriptor->natts);
	if (pg_add_s64_overflow(DatumGetInt64(found->tts_values[g->w->att[G_UNPAID]]), m->post.amount, &unpaid))
		mk_error(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, NULL, "bigint out of range");
	g->slot->tts_values[g->w->att[G_UNPAID]] = Int64GetDatum(unpaid);
	ExecStoreVirtualTuple(g->slot);
	ExecSimpleRelationUpdate(g->rri, estate, &epq, found, g->slot);

	/* the entry, its id drawn under the group's row lock (as books.c's post) */
	set_col(e, E_ID, Int64GetDatum(nextval_internal(c.entry_seq, false)));
	set_col(e, E_GROUP_ID, PointerGetDatum(m->group_id));
	if (strcmp(m->post.kind, "sale") == 0)
		set_col(e, E_KIND, c.kind_sale);
	else if (strcmp(m->post.kind, "payment") == 0)
		set_col(e, E_KIND, c.kind_payment);
	else
		set_col(e, E_KIND, DirectFunctionCall2(enum_in, CStringGetDatum(m->post.kind),
											   ObjectIdGetDatum(TupleDescAttr(RelationGetDescr(e->rel),
																			  e->w->att[E_KIND])->atttypid)));
	set_col(e, E_AMOUNT, Int64GetDatum(m->post.amount));
	set_col(e, E_PAID_SIDE, BoolGetDatum(m->post.paid_side));
	if (m->post.qty != 0)
	{
		set_col(e, E_QTY, Int32GetDatum(m->post.qty));
		set_col(e, E_PRICE, Int64GetDatum(m->post.price));
	}
	if (m->cmd.rest.len > 0)
		set_col(e, E_NOTE, lk_span_text(m->cmd.rest));
	set_col(e, E_SENDER, CStringGetTextDatum(m->sender));
	set_col(e, E_SOURCE, PointerGetDatum(m->source));
	set_col(e, E_MESSAGE_ID, PointerGetDatum(m->message_id));
	set_col(e, E_ROOT, PointerGetDatum(m->message_id));
	set_col(e, E_BOOKED_AT, TimestampTzGetDatum(m->sent_at));
	ExecStoreVirtualTuple(e->slot);
	ExecSimpleRelationInsert(e->rri, estate, e->slot);

	/* the reply ends with the new balance */
	m->unpaid = unpaid;
	lk_amount_append(m->reply, unpaid);
	reply = CStringGetTextDatum(m->reply->data);

	/* asked before this reply is queued: see ingest.c */
	*notify = !reply_waiting(o->rel, c.outbox_pending, o);

	/* the same outbox row as the statement (and outbox_enqueue) writes */
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	PUSH_TEXT(&st, "group_id", m->group_id);
	mk_jsonb_strn(&st, "reply", m->reply->data, m->reply->len);
	PUSH_TEXT(&st, "source", m->source);
	PUSH_TEXT(&st, "message_id", m->message_id);
	payload = JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
	set_col(o, O_ID, Int64GetDatum(nextval_internal(c.outbox_seq, false)));
	set_col(o, O_CHANNEL, CStringGetTextDatum("ledger"));
	set_col(o, O_PAYLOAD, JsonbPGetDatum(payload));
	set_col(o, O_CREATED, TimestampTzGetDatum(now));
	set_col(o, O_ATTEMPTS, Int32GetDatum(0));
	ExecStoreVirtualTuple(o->slot);
	ExecSimpleRelationInsert(o->rri, estate, o->slot);

	/* the message and its answer, for a redelivery */
	set_col(w, M_SOURCE, PointerGetDatum(m->source));
	set_col(w, M_MESSAGE_ID, PointerGetDatum(m->message_id));
	set_col(w, M_REVOKED, BoolGetDatum(false));
	set_col(w, M_GROUP_ID, PointerGetDatum(m->group_id));
	set_col(w, M_SENDER, CStringGetTextDatum(m->sender));
	set_col(w, M_SENT_AT, TimestampTzGetDatum(m->sent_at));
	set_col(w, M_BODY, PointerGetDatum(m->body));
	if (m->quoted_id)
		set_col(w, M_QUOTED_ID, PointerGetDatum(m->quoted_id));
	set_col(w, M_RECEIVED_AT, TimestampTzGetDatum(now));
	set_col(w, M_OUTCOME, CStringGetTextDatum("recorded"));
	set_col(w, M_REPLY, reply);
	set_col(w, M_UNPAID, Int64GetDatum(unpaid));
	ExecStoreVirtualTuple(w->slot);
	ExecSimpleRelationInsert(w->rri, estate, w->slot);

	/* the foreign-key check and any other AFTER row triggers */
	finish(estate, &epq, t);
	/* what this call wrote is visible to the next, as after a statement */
	CommandCounterIncrement();
	return true;
}

/* ---------------------------------------------------------------- the lookup */

/* A scan key on an index's column n (1-based): equality through proc, in the index's collation. */
static void
key_eq(ScanKey k, Relation idx, int n, RegProcedure proc, Datum v)
{
	ScanKeyInit(k, n, BTEqualStrategyNumber, proc, v);
	k->sk_collation = idx->rd_indcollation[n - 1];
}

/*
 * The first row of rel visible to snap whose index idx matches keys, into
 * slot; false when none.
 */
static bool
fetch_one(Relation rel, Relation idx, Snapshot snap, ScanKey keys, int nkeys, TupleTableSlot *slot)
{
	IndexScanDesc scan = index_beginscan(rel, idx, snap, nkeys, 0);
	bool		found;

	index_rescan(scan, keys, nkeys, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	return found;
}

/* An open table and index. */
typedef struct lk_read
{
	Relation	rel;
	Relation	idx;
	TupleTableSlot *slot;
} lk_read;

static void
close_read(lk_read *r)
{
	ExecDropSingleTupleTableSlot(r->slot);
	index_close(r->idx, NoLock);
	table_close(r->rel, NoLock);
}

static char *
text_col(TupleTableSlot *slot, int attno)
{
	bool		isnull;
	Datum		d = slot_getattr(slot, attno, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

static int64
int64_col(TupleTableSlot *slot, int attno, bool *isnull)
{
	Datum		d = slot_getattr(slot, attno, isnull);

	return *isnull ? 0 : DatumGetInt64(d);
}

bool
lk_lookup_direct(lk_msg *m, const char *command)
{
	lk_dcache	c;
	lk_read		r[LK_NREAD];
	lk_read    *msg = &r[LK_R_MESSAGE],
			   *usr = &r[LK_R_USER],
			   *ur = &r[LK_R_USER_ROLE],
			   *rp = &r[LK_R_ROLE_PERM],
			   *grp = &r[LK_R_GROUP];
	Snapshot	snap;
	ScanKeyData k[3];
	bool		isnull;

	if (XactIsoLevel != XACT_READ_COMMITTED)
		return false;
	{
		Relation	rels[LK_NREAD];

		if (!open_cached(&c, false, rels))
			return false;
		/* an index dropped before the tables were locked has been seen */
		for (int i = 0; i < LK_NREAD; i++)
		{
			r[i].rel = rels[i];
			r[i].idx = index_open(c.r[i].index, AccessShareLock);
			r[i].slot = table_slot_create(rels[i], NULL);
		}
	}

	/* what the calls before this one wrote, as SPI before a statement */
	CommandCounterIncrement();
	snap = RegisterSnapshot(GetTransactionSnapshot());

	/* the sender and its permission for the command (bool_and of its roles' grants) */
	key_eq(&k[0], usr->idx, 1, F_TEXTEQ, CStringGetTextDatum(m->sender));
	m->known = fetch_one(usr->rel, usr->idx, snap, k, 1, usr->slot);
	m->permitted = false;
	m->own_only = false;
	if (m->known)
	{
		int64		user_id = int64_col(usr->slot, c.usr_user_id, &isnull);
		IndexScanDesc scan;
		ScanKeyData rk[2];
		bool		all_own = true;

		m->user_name = text_col(usr->slot, c.usr_name);
		key_eq(&k[0], ur->idx, 1, F_INT8EQ, Int64GetDatum(user_id));
		scan = index_beginscan(ur->rel, ur->idx, snap, 1, 0);
		index_rescan(scan, k, 1, NULL, 0);
		while (index_getnext_slot(scan, ForwardScanDirection, ur->slot))
		{
			Datum		role = slot_getattr(ur->slot, c.ur_role, &isnull);

			CHECK_FOR_INTERRUPTS();
			key_eq(&rk[0], rp->idx, 1, F_TEXTEQ, role);
			key_eq(&rk[1], rp->idx, 2, F_TEXTEQ, CStringGetTextDatum(command));
			if (fetch_one(rp->rel, rp->idx, snap, rk, 2, rp->slot))
			{
				Datum		own = slot_getattr(rp->slot, c.rp_own, &isnull);

				m->permitted = true;
				if (isnull || !DatumGetBool(own))
					all_own = false;	/* (the column is NOT NULL) */
			}
		}
		index_endscan(scan);
		m->own_only = m->permitted && all_own;
	}

	/* the group, unless deleted */
	key_eq(&k[0], grp->idx, 1, F_TEXTEQ, PointerGetDatum(m->group_id));
	m->group_found = false;
	if (fetch_one(grp->rel, grp->idx, snap, k, 1, grp->slot))
	{
		(void) slot_getattr(grp->slot, c.grp_deleted, &isnull);
		if (isnull)
		{
			m->group_found = true;
			m->group_name = text_col(grp->slot, c.grp_name);
			m->buyer_phone = text_col(grp->slot, c.grp_buyer);
			m->unpaid = int64_col(grp->slot, c.grp_unpaid, &isnull);
		}
	}
	if (!m->group_found)
		m->unpaid = 0;

	/* seen before: the first answer, nothing else */
	key_eq(&k[0], msg->idx, 1, F_TEXTEQ, PointerGetDatum(m->source));
	key_eq(&k[1], msg->idx, 2, F_TEXTEQ, PointerGetDatum(m->message_id));
	key_eq(&k[2], msg->idx, 3, F_BOOLEQ, BoolGetDatum(m->revoked));
	if (fetch_one(msg->rel, msg->idx, snap, k, 3, msg->slot))
	{
		char	   *rtext = text_col(msg->slot, c.msg_reply);
		bool		nounpaid;

		m->outcome = "duplicate";
		if (rtext)
			appendStringInfoString(m->reply, rtext);
		m->unpaid = int64_col(msg->slot, c.msg_unpaid, &nounpaid);
		m->has_unpaid = !nounpaid;
	}

	UnregisterSnapshot(snap);
	for (int i = 0; i < LK_NREAD; i++)
		close_read(&r[i]);
	return true;
}
