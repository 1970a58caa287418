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
 * and the caller runs the statement.
 */
#include "ledger/ledger.h"

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

/* The columns this file fills, per table (all of them, see the top). */
typedef struct lk_table
{
	const char *name;
	const char *const *cols;
	Relation	rel;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
	int			att[16];		/* attribute index (0-based) of cols[i] */
} lk_table;

static const char *const group_cols[] = {"group_id", "name", "buyer_phone", "autocharge", "unpaid",
"settled_through", "created", "deleted_at", NULL};
static const char *const entry_cols[] = {"entry_id", "group_id", "kind", "amount", "paid_side", "qty",
	"price", "note", "reverses", "sender", "source", "message_id", "root_message_id", "booked_at", NULL};
static const char *const outbox_cols[] = {"outbox_id", "channel", "payload", "created", "claimed_at",
"delivered_at", "attempts", NULL};
static const char *const message_cols[] = {"source", "message_id", "revoked", "group_id", "sender",
	"sent_at", "body", "edited_of", "quoted_id", "received_at", "outcome", "reply", "unpaid", NULL};

enum
{
	G_GROUP_ID, G_NAME, G_BUYER, G_AUTOCHARGE, G_UNPAID
};
enum
{
	E_ID, E_GROUP_ID, E_KIND, E_AMOUNT, E_PAID_SIDE, E_QTY, E_PRICE, E_NOTE, E_REVERSES, E_SENDER,
	E_SOURCE, E_MESSAGE_ID, E_ROOT, E_BOOKED_AT
};
enum
{
	O_ID, O_CHANNEL, O_PAYLOAD, O_CREATED, O_CLAIMED_AT, O_DELIVERED_AT, O_ATTEMPTS
};
enum
{
	M_SOURCE, M_MESSAGE_ID, M_REVOKED, M_GROUP_ID, M_SENDER, M_SENT_AT, M_BODY, M_EDITED_OF,
	M_QUOTED_ID, M_RECEIVED_AT, M_OUTCOME, M_REPLY, M_UNPAID
};

/*
 * Open the table and map its columns; false (the table closed again) when
 * it has a column this file does not fill, row-level security, or a
 * statement-level trigger for the way it is written (the apply worker's
 * entry points fire row triggers only).
 */
static bool
open_table(lk_table *t, Oid nsp, bool update)
{
	Oid			relid = get_relname_relid(t->name, nsp);
	TupleDesc	desc;
	TriggerDesc *trig;
	int			ncols = 0;
	bool		ok = true;

	if (!OidIsValid(relid))
		return false;
	t->rel = table_open(relid, RowExclusiveLock);
	desc = RelationGetDescr(t->rel);
	while (t->cols[ncols])
		ncols++;
	for (int i = 0; i < ncols; i++)
		t->att[i] = -1;
	for (int a = 0; a < desc->natts && ok; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);
		int			i;

		if (att->attisdropped)
			continue;
		for (i = 0; i < ncols; i++)
			if (strcmp(NameStr(att->attname), t->cols[i]) == 0)
				break;
		if (i == ncols)
			ok = false;
		else
			t->att[i] = a;
	}
	for (int i = 0; i < ncols; i++)
		if (t->att[i] < 0)
			ok = false;
	trig = t->rel->trigdesc;
	if (trig && (update ? (trig->trig_update_before_statement || trig->trig_update_after_statement)
				 : (trig->trig_insert_before_statement || trig->trig_insert_after_statement)))
		ok = false;
	if (!ok || t->rel->rd_rel->relrowsecurity || t->rel->rd_rel->relkind != RELKIND_RELATION)
	{
		table_close(t->rel, RowExclusiveLock);
		t->rel = NULL;
		return false;
	}
	return true;
}

static void
init_target(lk_table *t, EState *estate, Index rti)
{
	t->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(t->rri, t->rel, rti, NULL, 0);
	/* as the apply worker does: enough for ExecGetTriggerResultRel */
	estate->es_opened_result_relations = lappend(estate->es_opened_result_relations, t->rri);
	ExecOpenIndices(t->rri, false);
	t->slot = table_slot_create(t->rel, &estate->es_tupleTable);
	ExecClearTuple(t->slot);
	memset(t->slot->tts_isnull, true, sizeof(bool) * t->slot->tts_tupleDescriptor->natts);
}

static void
set_col(lk_table *t, int col, Datum v)
{
	t->slot->tts_values[t->att[col]] = v;
	t->slot->tts_isnull[t->att[col]] = false;
}

/* The identity of a table's first column, cached per table (the plan cache's role). */
static int64
next_identity(lk_table *t, Oid *cache_rel, Oid *cache_seq)
{
	Oid			relid = RelationGetRelid(t->rel);

	if (*cache_rel != relid)
	{
		*cache_seq = getIdentitySequence(relid, t->att[0] + 1, false);
		*cache_rel = relid;
	}
	return nextval_internal(*cache_seq, false);
}

static void
push_pair(JsonbParseState **st, const char *key, const char *val, int len)
{
	JsonbValue	k,
				v;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(st, WJB_KEY, &k);
	v.type = jbvString;
	v.val.string.val = (char *) val;
	v.val.string.len = len;
	pushJsonbValue(st, WJB_VALUE, &v);
}

#define PUSH_TEXT(st, key, t) push_pair(st, key, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t))

/*
 * Whether another ledger reply waits unclaimed (ingest.c's NOTIFY rule),
 * read through the partial index outbox_pending under a snapshot taken now,
 * after the caller took the outbox fence: the same question, index and
 * order as the statement's NOT EXISTS.
 */
static bool
reply_waiting(Relation outbox, Oid nsp, lk_table *o)
{
	Oid			idxoid = get_relname_relid("outbox_pending", nsp);
	Relation	idx;
	IndexScanDesc scan;
	ScanKeyData key;
	Snapshot	snap;
	TupleTableSlot *slot;
	bool		waiting = false;

	if (!OidIsValid(idxoid))
		elog(ERROR, "ledger: index mekatek.outbox_pending is missing");
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
		(void) slot_getattr(slot, o->att[O_CLAIMED_AT] + 1, &claimed_null);
		(void) slot_getattr(slot, o->att[O_DELIVERED_AT] + 1, &delivered_null);
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

bool
lk_post_direct(lk_msg *m, bool *notify)
{
	static Oid	entry_rel,
				entry_seq,
				outbox_rel,
				outbox_seq;
	lk_table	g = {.name = "ledger_group",.cols = group_cols},
				e = {.name = "ledger_entry",.cols = entry_cols},
				o = {.name = "outbox",.cols = outbox_cols},
				w = {.name = "ledger_message",.cols = message_cols};
	lk_table   *all[] = {&g, &e, &o, &w};
	Oid			nsp;
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
	nsp = get_namespace_oid("mekatek", false);
	for (int i = 0; i < 4; i++)
		if (!open_table(all[i], nsp, i == 0))
		{
			while (--i >= 0)
				table_close(all[i]->rel, RowExclusiveLock);
			return false;
		}

	estate = CreateExecutorState();
	{
		List	   *rtable = NIL;

		for (int i = 0; i < 4; i++)
		{
			RangeTblEntry *rte = makeNode(RangeTblEntry);

			rte->rtekind = RTE_RELATION;
			rte->relid = RelationGetRelid(all[i]->rel);
			rte->relkind = RELKIND_RELATION;
			rte->rellockmode = RowExclusiveLock;
			rtable = lappend(rtable, rte);
		}
		ExecInitRangeTable(estate, rtable);
	}
	for (int i = 0; i < 4; i++)
		init_target(all[i], estate, i + 1);
	estate->es_output_cid = GetCurrentCommandId(true);
	estate->es_snapshot = GetActiveSnapshot();
	EvalPlanQualInit(&epq, estate, NULL, NIL, -1);
	AfterTriggerBeginQuery();

	/* the group's row, locked as UPDATE locks it; its balance moves */
	set_col(&g, G_GROUP_ID, PointerGetDatum(m->group_id));
	ExecStoreVirtualTuple(g.slot);
	found = table_slot_create(g.rel, &estate->es_tupleTable);
	if (!RelationFindReplTupleByIndex(g.rel, RelationGetPrimaryKeyIndex(g.rel), LockTupleNoKeyExclusive,
									  g.slot, found))
		mk_error(ERRCODE_NO_DATA_FOUND, NULL, "ledger group \"%s\" does not exist",
				 text_to_cstring(m->group_id));
	slot_getallattrs(found);
	ExecClearTuple(g.slot);
	memcpy(g.slot->tts_values, found->tts_values, sizeof(Datum) * found->tts_tupleDescriptor->natts);
	memcpy(g.slot->tts_isnull, found->tts_isnull, sizeof(bool) * found->tts_tupleDescriptor->natts);
	if (pg_add_s64_overflow(DatumGetInt64(found->tts_values[g.att[G_UNPAID]]), m->post.amount, &unpaid))
		mk_error(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, NULL, "bigint out of range");
	g.slot->tts_values[g.att[G_UNPAID]] = Int64GetDatum(unpaid);
	ExecStoreVirtualTuple(g.slot);
	ExecSimpleRelationUpdate(g.rri, estate, &epq, found, g.slot);

	/* the entry, its id drawn under the group's row lock (as books.c's post) */
	set_col(&e, E_ID, Int64GetDatum(next_identity(&e, &entry_rel, &entry_seq)));
	set_col(&e, E_GROUP_ID, PointerGetDatum(m->group_id));
	set_col(&e, E_KIND, DirectFunctionCall2(enum_in, CStringGetDatum(m->post.kind),
											ObjectIdGetDatum(TupleDescAttr(RelationGetDescr(e.rel),
																		   e.att[E_KIND])->atttypid)));
	set_col(&e, E_AMOUNT, Int64GetDatum(m->post.amount));
	set_col(&e, E_PAID_SIDE, BoolGetDatum(m->post.paid_side));
	if (m->post.qty != 0)
	{
		set_col(&e, E_QTY, Int32GetDatum(m->post.qty));
		set_col(&e, E_PRICE, Int64GetDatum(m->post.price));
	}
	if (m->cmd.rest.len > 0)
		set_col(&e, E_NOTE, lk_span_text(m->cmd.rest));
	set_col(&e, E_SENDER, CStringGetTextDatum(m->sender));
	set_col(&e, E_SOURCE, PointerGetDatum(m->source));
	set_col(&e, E_MESSAGE_ID, PointerGetDatum(m->message_id));
	set_col(&e, E_ROOT, PointerGetDatum(m->message_id));
	set_col(&e, E_BOOKED_AT, TimestampTzGetDatum(m->sent_at));
	ExecStoreVirtualTuple(e.slot);
	ExecSimpleRelationInsert(e.rri, estate, e.slot);

	/* the reply ends with the new balance */
	m->unpaid = unpaid;
	lk_amount_append(m->reply, unpaid);
	reply = CStringGetTextDatum(m->reply->data);

	/* asked before this reply is queued: see ingest.c */
	*notify = !reply_waiting(o.rel, nsp, &o);

	/* the same outbox row as the statement (and outbox_enqueue) writes */
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	PUSH_TEXT(&st, "group_id", m->group_id);
	push_pair(&st, "reply", m->reply->data, m->reply->len);
	PUSH_TEXT(&st, "source", m->source);
	PUSH_TEXT(&st, "message_id", m->message_id);
	payload = JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
	set_col(&o, O_ID, Int64GetDatum(next_identity(&o, &outbox_rel, &outbox_seq)));
	set_col(&o, O_CHANNEL, CStringGetTextDatum("ledger"));
	set_col(&o, O_PAYLOAD, JsonbPGetDatum(payload));
	set_col(&o, O_CREATED, TimestampTzGetDatum(now));
	set_col(&o, O_ATTEMPTS, Int32GetDatum(0));
	ExecStoreVirtualTuple(o.slot);
	ExecSimpleRelationInsert(o.rri, estate, o.slot);

	/* the message and its answer, for a redelivery */
	set_col(&w, M_SOURCE, PointerGetDatum(m->source));
	set_col(&w, M_MESSAGE_ID, PointerGetDatum(m->message_id));
	set_col(&w, M_REVOKED, BoolGetDatum(false));
	set_col(&w, M_GROUP_ID, PointerGetDatum(m->group_id));
	set_col(&w, M_SENDER, CStringGetTextDatum(m->sender));
	set_col(&w, M_SENT_AT, TimestampTzGetDatum(m->sent_at));
	set_col(&w, M_BODY, PointerGetDatum(m->body));
	if (m->quoted_id)
		set_col(&w, M_QUOTED_ID, PointerGetDatum(m->quoted_id));
	set_col(&w, M_RECEIVED_AT, TimestampTzGetDatum(now));
	set_col(&w, M_OUTCOME, CStringGetTextDatum("recorded"));
	set_col(&w, M_REPLY, reply);
	set_col(&w, M_UNPAID, Int64GetDatum(unpaid));
	ExecStoreVirtualTuple(w.slot);
	ExecSimpleRelationInsert(w.rri, estate, w.slot);

	/* the foreign-key check and any other AFTER row triggers */
	AfterTriggerEndQuery(estate);
	EvalPlanQualEnd(&epq);
	for (int i = 0; i < 4; i++)
	{
		ExecCloseIndices(all[i]->rri);
		table_close(all[i]->rel, NoLock);
	}
	ExecResetTupleTable(estate->es_tupleTable, false);
	FreeExecutorState(estate);
	/* what this call wrote is visible to the next, as after a statement */
	CommandCounterIncrement();
	return true;
}

/* ---------------------------------------------------------------- the lookup */

static int
col_of(Relation rel, const char *name)
{
	TupleDesc	desc = RelationGetDescr(rel);

	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return a + 1;
	}
	elog(ERROR, "ledger: column %s.%s is missing", RelationGetRelationName(rel), name);
	return 0;					/* not reached */
}

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

/* An open table and index, or NULL (the table has row-level security). */
typedef struct lk_read
{
	Relation	rel;
	Relation	idx;
	TupleTableSlot *slot;
} lk_read;

static bool
open_read(lk_read *r, Oid nsp, const char *name, const char *index_col)
{
	Oid			relid = get_relname_relid(name, nsp);
	Oid			idxoid = InvalidOid;

	r->rel = NULL;
	if (!OidIsValid(relid))
		return false;
	r->rel = table_open(relid, AccessShareLock);
	if (r->rel->rd_rel->relrowsecurity)
	{
		table_close(r->rel, AccessShareLock);
		r->rel = NULL;
		return false;
	}
	if (index_col == NULL)
		idxoid = RelationGetPrimaryKeyIndex(r->rel);
	else
	{
		/* the unique index on that one column (UNIQUE in ledger.sql) */
		AttrNumber	a = col_of(r->rel, index_col);
		List	   *l = RelationGetIndexList(r->rel);
		ListCell   *lc;

		foreach(lc, l)
		{
			Relation	i = index_open(lfirst_oid(lc), AccessShareLock);

			if (i->rd_index->indisunique && i->rd_index->indnkeyatts == 1 &&
				i->rd_index->indkey.values[0] == a && heap_attisnull(i->rd_indextuple, Anum_pg_index_indpred, NULL))
				idxoid = lfirst_oid(lc);
			index_close(i, AccessShareLock);
			if (OidIsValid(idxoid))
				break;
		}
		list_free(l);
	}
	if (!OidIsValid(idxoid))
	{
		table_close(r->rel, AccessShareLock);
		r->rel = NULL;
		return false;
	}
	r->idx = index_open(idxoid, AccessShareLock);
	r->slot = table_slot_create(r->rel, NULL);
	return true;
}

static void
close_read(lk_read *r)
{
	if (r->rel == NULL)
		return;
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
	lk_read		msg,
				usr,
				ur,
				rp,
				grp;
	lk_read    *all[] = {&msg, &usr, &ur, &rp, &grp};
	Oid			nsp;
	Snapshot	snap;
	ScanKeyData k[3];
	bool		isnull;

	if (XactIsoLevel != XACT_READ_COMMITTED)
		return false;
	nsp = get_namespace_oid("mekatek", false);
	if (!open_read(&msg, nsp, "ledger_message", NULL) ||
		!open_read(&usr, nsp, "ledger_user", "phone") ||
		!open_read(&ur, nsp, "ledger_user_role", NULL) ||
		!open_read(&rp, nsp, "ledger_role_permission", NULL) ||
		!open_read(&grp, nsp, "ledger_group", NULL))
	{
		for (int i = 0; i < 5 && all[i]->rel != NULL; i++)
			close_read(all[i]);
		return false;
	}

	/* what the calls before this one wrote, as SPI before a statement */
	CommandCounterIncrement();
	snap = RegisterSnapshot(GetTransactionSnapshot());

	/* the sender and its permission for the command (bool_and of its roles' grants) */
	key_eq(&k[0], usr.idx, 1, F_TEXTEQ, CStringGetTextDatum(m->sender));
	m->known = fetch_one(usr.rel, usr.idx, snap, k, 1, usr.slot);
	m->permitted = false;
	m->own_only = false;
	if (m->known)
	{
		int64		user_id = int64_col(usr.slot, col_of(usr.rel, "user_id"), &isnull);
		int			role_col = col_of(ur.rel, "role_name");
		int			own_col = col_of(rp.rel, "own_group_only");
		IndexScanDesc scan;
		ScanKeyData rk[2];
		bool		all_own = true;

		m->user_name = text_col(usr.slot, col_of(usr.rel, "name"));
		key_eq(&k[0], ur.idx, 1, F_INT8EQ, Int64GetDatum(user_id));
		scan = index_beginscan(ur.rel, ur.idx, snap, 1, 0);
		index_rescan(scan, k, 1, NULL, 0);
		while (index_getnext_slot(scan, ForwardScanDirection, ur.slot))
		{
			Datum		role = slot_getattr(ur.slot, role_col, &isnull);

			CHECK_FOR_INTERRUPTS();
			key_eq(&rk[0], rp.idx, 1, F_TEXTEQ, role);
			key_eq(&rk[1], rp.idx, 2, F_TEXTEQ, CStringGetTextDatum(command));
			if (fetch_one(rp.rel, rp.idx, snap, rk, 2, rp.slot))
			{
				Datum		own = slot_getattr(rp.slot, own_col, &isnull);

				m->permitted = true;
				if (isnull || !DatumGetBool(own))
					all_own = false;	/* (the column is NOT NULL) */
			}
		}
		index_endscan(scan);
		m->own_only = m->permitted && all_own;
	}

	/* the group, unless deleted */
	key_eq(&k[0], grp.idx, 1, F_TEXTEQ, PointerGetDatum(m->group_id));
	m->group_found = false;
	if (fetch_one(grp.rel, grp.idx, snap, k, 1, grp.slot))
	{
		(void) slot_getattr(grp.slot, col_of(grp.rel, "deleted_at"), &isnull);
		if (isnull)
		{
			m->group_found = true;
			m->group_name = text_col(grp.slot, col_of(grp.rel, "name"));
			m->buyer_phone = text_col(grp.slot, col_of(grp.rel, "buyer_phone"));
			m->unpaid = int64_col(grp.slot, col_of(grp.rel, "unpaid"), &isnull);
		}
	}
	if (!m->group_found)
		m->unpaid = 0;

	/* seen before: the first answer, nothing else */
	key_eq(&k[0], msg.idx, 1, F_TEXTEQ, PointerGetDatum(m->source));
	key_eq(&k[1], msg.idx, 2, F_TEXTEQ, PointerGetDatum(m->message_id));
	key_eq(&k[2], msg.idx, 3, F_BOOLEQ, BoolGetDatum(m->revoked));
	if (fetch_one(msg.rel, msg.idx, snap, k, 3, msg.slot))
	{
		char	   *r = text_col(msg.slot, col_of(msg.rel, "reply"));
		bool		nounpaid;

		m->outcome = "duplicate";
		if (r)
			appendStringInfoString(m->reply, r);
		m->unpaid = int64_col(msg.slot, col_of(msg.rel, "unpaid"), &nounpaid);
		m->has_unpaid = !nounpaid;
	}

	UnregisterSnapshot(snap);
	for (int i = 0; i < 5; i++)
		close_read(all[i]);
	return true;
}
