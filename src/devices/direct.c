/*
 * direct.c: the device triggers' rows written through the executor's
 * row-level entry points, as logical replication's apply worker writes a
 * replicated row (ExecSimpleRelationInsert/Update), instead of SPI
 * statements.
 *
 * Why: perf on an RFID batch (every scan a transition) put half the apply
 * trigger's time in starting, running and ending two statements (the item
 * UPDATE feeding the history INSERT, and the outbox INSERT), their unnest
 * scans, joins, projections and RETURNING rows, and the outbox's jsonb
 * parse, rather than in the rows.  The row work stays PostgreSQL's: the
 * item is found through its unique index and updated as UPDATE updates
 * it, waiting for a concurrent scanner and then checking and updating the
 * version it committed; constraints, stored generated columns, index
 * entries and row triggers run as for INSERT and UPDATE; identities come
 * from their sequences.
 *
 * The same idea as src/ledger/direct.c, written for the devices' tables
 * (that file is the ledger's own); the generic part here (tables, update
 * by index, jsonb members) is what should later move to src/core/.
 *
 * Used only where it writes exactly what the statement would: READ
 * COMMITTED (the statement's serialization failures under REPEATABLE READ
 * and SERIALIZABLE, and SSI's predicate locks, stay the executor's), a
 * read-write transaction, no row-level security, no statement trigger or
 * transition table on a written table, no BEFORE row trigger on an updated
 * one (it could skip the row that the caller counts), and for an inserted
 * table every column one the caller fills.  mk_direct_begin returns false
 * then, before reading or writing, and the caller runs its statement.
 */
#include "devices/direct.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "access/hio.h"
#include "catalog/pg_index.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "executor/nodeModifyTable.h"
#include "commands/trigger.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

/*
 * Open the table and map its columns; false (the table closed again) when
 * the direct write would not be exact (see the top).
 */
static bool
open_table(MkDirectTable *t, Oid nsp)
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
	Assert(ncols <= MK_DIRECT_MAXCOLS);
	for (int i = 0; i < ncols; i++)
		t->att[i] = -1;
	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);
		int			i;

		if (att->attisdropped)
			continue;
		for (i = 0; i < ncols; i++)
			if (strcmp(NameStr(att->attname), t->cols[i]) == 0)
				break;
		if (i < ncols)
		{
			t->att[i] = a;
			if (OidIsValid(t->types[i]) && att->atttypid != t->types[i])
				ok = false;
		}
		else if (!t->update)
			ok = false;			/* a column we would leave to no default */
	}
	for (int i = 0; i < ncols; i++)
		if (t->att[i] < 0)
			ok = false;
	trig = t->rel->trigdesc;
	if (trig && (t->update
				 ? (trig->trig_update_before_statement || trig->trig_update_after_statement ||
					trig->trig_update_before_row || trig->trig_update_old_table ||
					trig->trig_update_new_table)
				 : (trig->trig_insert_before_statement || trig->trig_insert_after_statement ||
					trig->trig_insert_new_table)))
		ok = false;
	if (!ok || t->rel->rd_rel->relrowsecurity || t->rel->rd_rel->relkind != RELKIND_RELATION)
	{
		table_close(t->rel, RowExclusiveLock);
		t->rel = NULL;
		return false;
	}
	return true;
}

/*
 * The table's CHECK constraints, prepared as ExecRelCheck prepares them,
 * but from the planned trees kept per backend (direct_exprs.c) rather than
 * their stored text, each statement building its own ExprStates.
 *
 * For an update, a CHECK that is validated, calls no mutable function and
 * reads no column the update sets (nor a stored generated one, computed
 * again) gets a NULL entry, ExecCheck's "true".  The version being
 * replaced passed it and the columns it reads keep their values, so it
 * gives the same answer; PostgreSQL skips the foreign-key check of an
 * update that leaves the key alone on the same ground
 * (RI_FKey_fk_upd_check_required), and src/ledger/direct.c does this for
 * the balance update.  A NOT VALID one is evaluated, as UPDATE evaluates
 * it.  On lab_item it skips the normalised-UID check (a function call per
 * scan) and the length checks.  Stored generated columns stay
 * ExecInitStoredGenerated's: it also records, in executor state whose
 * shape changed within 15's minor releases, which ones an update sets
 * (a caller that computes them itself sets t->generated_set, and that
 * state is then built only if something asks for it, as PostgreSQL's
 * ExecGetExtraUpdatedCols builds it on demand).
 */
static void
prepare_checks(MkDirectTable *t, EState *estate, Bitmapset *set_cols)
{
	TupleDesc	desc = RelationGetDescr(t->rel);
	const MkDirectExprs *x;
	Bitmapset  *changed = NULL;
	ExprState **checks;
	MemoryContext old;

	if (desc->constr == NULL || desc->constr->num_check == 0)
		return;
	x = mk_direct_exprs(t->rel);
	old = MemoryContextSwitchTo(estate->es_query_cxt);
	if (t->update)
	{
		changed = bms_copy(set_cols);
		for (int a = 0; a < desc->natts; a++)
			if (TupleDescAttr(desc, a)->attgenerated)
				changed = bms_add_member(changed, a + 1 - FirstLowInvalidHeapAttributeNumber);
	}
	checks = palloc(sizeof(ExprState *) * x->nchecks);
	for (int i = 0; i < x->nchecks; i++)
		checks[i] = t->update && x->check_fixed[i] && !bms_overlap(x->check_cols[i], changed)
			? NULL : ExecInitExpr(x->checks[i], NULL);
	t->rri->ri_ConstraintExprs = checks;
	MemoryContextSwitchTo(old);
}

bool
mk_direct_begin(MkDirect *d, MkDirectTable **tables, int ntables)
{
	Oid			nsp;
	List	   *rtable = NIL;

	Assert(ntables <= MK_DIRECT_MAXTABLES);
	memset(d, 0, sizeof(*d));
	/*
	 * A read-only transaction (or a standby) is refused by the executor's
	 * start, which the row-level entry points skip: let the statement say so.
	 */
	if (XactIsoLevel != XACT_READ_COMMITTED || XactReadOnly)
		return false;
	nsp = get_namespace_oid("mekatek", true);
	if (!OidIsValid(nsp))
		return false;
	for (int i = 0; i < ntables; i++)
		if (!open_table(tables[i], nsp))
		{
			while (--i >= 0)
				table_close(tables[i]->rel, RowExclusiveLock);
			return false;
		}

	/* Whatever this transaction wrote before is below the command id we write with. */
	CommandCounterIncrement();
	d->snapshot = RegisterSnapshot(GetLatestSnapshot());
	d->ntables = ntables;
	d->batch_memory = CurrentMemoryContext;
	memcpy(d->t, tables, sizeof(MkDirectTable *) * ntables);
	d->estate = CreateExecutorState();
	for (int i = 0; i < ntables; i++)
	{
		RangeTblEntry *rte = makeNode(RangeTblEntry);
		MkDirectTable *t = tables[i];

		rte->rtekind = RTE_RELATION;
		rte->relid = RelationGetRelid(t->rel);
		rte->relkind = RELKIND_RELATION;
		rte->rellockmode = RowExclusiveLock;
		/*
		 * The columns an UPDATE sets: stored generated columns depending on
		 * them are computed again (ExecInitStoredGenerated) and UPDATE OF
		 * triggers fire, as for the statement.
		 */
		if (t->update)
			for (int k = 0; t->cols[k]; k++)
				if (t->updated[k])
					rte->updatedCols = bms_add_member(rte->updatedCols,
													  t->att[k] + 1 - FirstLowInvalidHeapAttributeNumber);
		rtable = lappend(rtable, rte);
	}
	ExecInitRangeTable(d->estate, rtable);
	for (int i = 0; i < ntables; i++)
	{
		MkDirectTable *t = tables[i];

		t->rri = makeNode(ResultRelInfo);
		InitResultRelInfo(t->rri, t->rel, i + 1, NULL, 0);
		/* as the apply worker does: enough for ExecGetTriggerResultRel */
		d->estate->es_opened_result_relations = lappend(d->estate->es_opened_result_relations, t->rri);
		ExecOpenIndices(t->rri, false);
		prepare_checks(t, d->estate, list_nth_node(RangeTblEntry, rtable, i)->updatedCols);
		t->slot = table_slot_create(t->rel, &d->estate->es_tupleTable);
		t->found = t->update ? table_slot_create(t->rel, &d->estate->es_tupleTable) : NULL;
		t->scan = NULL;
		t->index = NULL;
		t->bistate = NULL;
	}
	d->estate->es_output_cid = GetCurrentCommandId(true);
	d->estate->es_snapshot = d->snapshot;
	d->row_memory = AllocSetContextCreate(CurrentMemoryContext, "devices direct row",
										  ALLOCSET_DEFAULT_SIZES);
	AfterTriggerBeginQuery();
	d->started = true;
	return true;
}

bool
mk_direct_use_index(MkDirect *d, MkDirectTable *t, const char *index_name, int col)
{
	Oid			idxoid = get_relname_relid(index_name, RelationGetNamespace(t->rel));
	Relation	idx;

	if (!OidIsValid(idxoid))
		return false;
	idx = index_open(idxoid, RowExclusiveLock);
	/* A plain unique btree on the one column, or not the index we mean. */
	if (idx->rd_index->indrelid != RelationGetRelid(t->rel) || !idx->rd_index->indisunique ||
		!idx->rd_index->indisvalid || !idx->rd_index->indisready ||
		idx->rd_rel->relam != BTREE_AM_OID || idx->rd_index->indnatts != 1 ||
		idx->rd_index->indkey.values[0] != t->att[col] + 1 ||
		!heap_attisnull(idx->rd_indextuple, Anum_pg_index_indpred, NULL) ||
		!heap_attisnull(idx->rd_indextuple, Anum_pg_index_indexprs, NULL) ||
		TupleDescAttr(RelationGetDescr(t->rel), t->att[col])->atttypid != TEXTOID)
	{
		index_close(idx, RowExclusiveLock);
		return false;
	}
	t->index = idx;
	t->scan = index_beginscan(t->rel, idx, d->snapshot, 1, 0);
	return true;
}

/*
 * UPDATE's way with one row, found through the unique index: read under
 * the batch's snapshot, taken as a statement's would be, and kept in
 * t->found when 'check' (UPDATE's WHERE) accepts that version.  Not locked:
 * as UPDATE does, mk_direct_update writes over that version and deals with
 * a concurrent writer only when there is one.
 */
MkDirectFound
mk_direct_find(MkDirect *d, MkDirectTable *t, Datum key, MkDirectCheck check, void *arg)
{
	ScanKeyData skey;
	MemoryContext old;
	bool		have;

	/*
	 * The index scan allocates what it keeps (killed items, say) as it goes:
	 * in the batch's memory, which lives as long as the scan.
	 */
	old = MemoryContextSwitchTo(d->batch_memory);
	ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_TEXTEQ, key);
	skey.sk_collation = t->index->rd_indcollation[0];
	index_rescan(t->scan, &skey, 1, NULL, 0);
	have = index_getnext_slot(t->scan, ForwardScanDirection, t->found);
	MemoryContextSwitchTo(GetPerTupleMemoryContext(d->estate));
	t->check = check;
	t->check_arg = arg;
	have = have && check(t->found, arg);
	MemoryContextSwitchTo(old);
	return have ? MK_DIRECT_FOUND : MK_DIRECT_NONE;
}

void
mk_direct_set(MkDirectTable *t, int col, Datum v)
{
	t->slot->tts_values[t->att[col]] = v;
	t->slot->tts_isnull[t->att[col]] = false;
}

void
mk_direct_set_null(MkDirectTable *t, int col)
{
	t->slot->tts_values[t->att[col]] = (Datum) 0;
	t->slot->tts_isnull[t->att[col]] = true;
}

Datum
mk_direct_get(MkDirectTable *t, int col, bool *isnull)
{
	return slot_getattr(t->found, t->att[col] + 1, isnull);
}

void
mk_direct_new_row(MkDirectTable *t)
{
	ExecClearTuple(t->slot);
	memset(t->slot->tts_isnull, true, sizeof(bool) * t->slot->tts_tupleDescriptor->natts);
}

void
mk_direct_row_from_found(MkDirectTable *t)
{
	int			natts = t->found->tts_tupleDescriptor->natts;

	slot_getallattrs(t->found);
	ExecClearTuple(t->slot);
	memcpy(t->slot->tts_values, t->found->tts_values, sizeof(Datum) * natts);
	memcpy(t->slot->tts_isnull, t->found->tts_isnull, sizeof(bool) * natts);
}

int64
mk_direct_identity(MkDirectTable *t)
{
	/* The identity sequences of the tables seen, cached (the plan cache's role). */
	static struct
	{
		Oid			rel;
		AttrNumber	att;
		Oid			seq;
	}			cache[8];
	static int	ncache = 0;
	Oid			relid = RelationGetRelid(t->rel);
	AttrNumber	att = t->att[0] + 1;
	int			i;

	for (i = 0; i < ncache; i++)
		if (cache[i].rel == relid && cache[i].att == att)
			break;
	if (i == ncache)
	{
		i = ncache < (int) lengthof(cache) ? ncache++ : 0;
		cache[i].seq = getIdentitySequence(relid, att, false);
		cache[i].rel = relid;
		cache[i].att = att;
	}
	return nextval_internal(cache[i].seq, false);
}

/*
 * The row's own allocations (index tuples, scan keys, constraint and
 * generated column results) go to the per-tuple memory, reset after each
 * row as the executor resets it: a batch kept in one context touched fresh
 * memory on every row, and its page faults were 5% of an RFID batch.
 */
/*
 * The new row's stored generated columns (unless the caller set them:
 * lab_rfid.c's tag_code), then its constraints, as the executor's.
 */
static void
row_complete_and_check(MkDirect *d, MkDirectTable *t, CmdType cmd)
{
	Relation	rel = t->rel;

	if (rel->rd_att->constr && rel->rd_att->constr->has_generated_stored && !t->generated_set)
		ExecComputeStoredGenerated(t->rri, d->estate, t->slot, cmd);
	if (rel->rd_att->constr)
		ExecConstraints(t->rri, t->slot, d->estate);
	if (rel->rd_rel->relispartition)
		ExecPartitionCheck(t->rri, t->slot, d->estate, true);
}

/*
 * ExecSimpleRelationInsert's steps, but the heap insert keeps its target
 * page pinned from one row to the next (a BulkInsertState, as COPY's
 * single-row inserts use): finding the relation's target page again per
 * row (a buffer mapping lookup, pin and unpin) was a third of the history
 * row's heap insert.  Without COPY's ring of buffers: the batch's pages
 * are the ones the next batch and the readers want, so they stay in
 * shared buffers as a plain insert's do.
 */
void
mk_direct_insert(MkDirect *d, MkDirectTable *t)
{
	MemoryContext old = MemoryContextSwitchTo(GetPerTupleMemoryContext(d->estate));
	Relation	rel = t->rel;
	ResultRelInfo *rri = t->rri;
	List	   *recheck = NIL;

	ExecStoreVirtualTuple(t->slot);
	CheckCmdReplicaIdentity(rel, CMD_INSERT);
	if (rri->ri_TrigDesc && rri->ri_TrigDesc->trig_insert_before_row &&
		!ExecBRInsertTriggers(d->estate, rri, t->slot))
		goto done;				/* the trigger said "do nothing" */
	row_complete_and_check(d, t, CMD_INSERT);
	if (t->bistate == NULL && rel->rd_rel->relam == HEAP_TABLE_AM_OID)
	{
		MemoryContext m = MemoryContextSwitchTo(d->batch_memory);

		t->bistate = GetBulkInsertState();
		FreeAccessStrategy(t->bistate->strategy);
		t->bistate->strategy = NULL;
		MemoryContextSwitchTo(m);
	}
	table_tuple_insert(rel, t->slot, d->estate->es_output_cid, 0, t->bistate);
	if (rri->ri_NumIndices > 0)
		recheck = ExecInsertIndexTuples(rri, t->slot, d->estate, false, false, NULL, NIL);
	ExecARInsertTriggers(d->estate, rri, t->slot, recheck, NULL);
	list_free(recheck);
done:
	MemoryContextSwitchTo(old);
	ResetPerTupleExprContext(d->estate);
}

/*
 * ExecSimpleRelationUpdate's steps (the tables here have no BEFORE row
 * update trigger, open_table sees to that), with UPDATE's own answer to a
 * concurrent writer instead of its error: table_tuple_update waits for
 * it; when it committed a new version, that version is locked (the lock
 * UPDATE takes in the same case) and checked again, as READ COMMITTED's
 * EvalPlanQual does, and the caller builds its row again from it.  A row
 * deleted meanwhile, or updated by this command, is skipped as UPDATE
 * skips it.  Locking before every update (what this did first) wrote a
 * lock record and touched the row twice for the rare race.
 */
MkDirectUpdated
mk_direct_update(MkDirect *d, MkDirectTable *t)
{
	MemoryContext old = MemoryContextSwitchTo(GetPerTupleMemoryContext(d->estate));
	Relation	rel = t->rel;
	ResultRelInfo *rri = t->rri;
	ItemPointerData tid = t->found->tts_tid;
	TM_FailureData tmfd;
	LockTupleMode lockmode;
	bool		update_indexes;
	TM_Result	res;
	MkDirectUpdated done = MK_DIRECT_SKIPPED;

	ExecStoreVirtualTuple(t->slot);
	CheckCmdReplicaIdentity(rel, CMD_UPDATE);
	row_complete_and_check(d, t, CMD_UPDATE);
	res = table_tuple_update(rel, &tid, t->slot, d->estate->es_output_cid, d->estate->es_snapshot,
							 InvalidSnapshot, true, &tmfd, &lockmode, &update_indexes);
	switch (res)
	{
		case TM_Ok:
			{
				List	   *recheck = NIL;

				if (rri->ri_NumIndices > 0 && update_indexes)
					recheck = ExecInsertIndexTuples(rri, t->slot, d->estate, true, false, NULL, NIL);
				ExecARUpdateTriggers(d->estate, rri, NULL, NULL, &tid, NULL, t->slot, recheck, NULL,
									 false);
				list_free(recheck);
				done = MK_DIRECT_UPDATED;
				break;
			}
		case TM_Updated:
			/* the version a concurrent writer committed, locked, then UPDATE's WHERE again */
			res = table_tuple_lock(rel, &tid, d->estate->es_snapshot, t->found, d->estate->es_output_cid,
								   lockmode, LockWaitBlock, TUPLE_LOCK_FLAG_FIND_LAST_VERSION, &tmfd);
			if (res == TM_Ok)
			{
				if (t->check(t->found, t->check_arg))
					done = MK_DIRECT_AGAIN;
			}
			else if (res != TM_Deleted && res != TM_SelfModified)
				elog(ERROR, "devices: unexpected tuple lock status %u", res);
			break;
		case TM_Deleted:
		case TM_SelfModified:
			break;
		default:
			elog(ERROR, "devices: unexpected tuple update status %u", res);
	}
	MemoryContextSwitchTo(old);
	ResetPerTupleExprContext(d->estate);
	return done;
}

void
mk_direct_end(MkDirect *d)
{
	if (!d->started)
		return;
	/* AFTER row triggers, as at the end of a statement */
	AfterTriggerEndQuery(d->estate);
	for (int i = 0; i < d->ntables; i++)
	{
		MkDirectTable *t = d->t[i];

		if (t->bistate)
			FreeBulkInsertState(t->bistate);
		t->bistate = NULL;
		if (t->scan)
			index_endscan(t->scan);
		if (t->index)
			index_close(t->index, NoLock);
		ExecCloseIndices(t->rri);
		table_close(t->rel, NoLock);
		t->scan = NULL;
		t->index = NULL;
		t->rel = NULL;
	}
	ExecResetTupleTable(d->estate->es_tupleTable, false);
	FreeExecutorState(d->estate);
	UnregisterSnapshot(d->snapshot);
	MemoryContextDelete(d->row_memory);
	d->started = false;
	/* what was written is visible to the next statement, as after a statement */
	CommandCounterIncrement();
}

/* ------------------------------------------------- jsonb without the parse */

/*
 * A jsonb object built member by member, the same value jsonb_in gives for
 * the text core/notify.c writes from the same members (the caller parses
 * that text instead when notify.c clipped a member).  The members go
 * straight into one jbvObject, put in jsonb's key order here (shorter keys
 * first, then bytewise, as uniqueifyJsonbObject sorts them): the parse
 * state's pushes, repallocs and general sort cost more than the few
 * members.  Keys are distinct (the callers' own); keys and string values
 * are not copied and must live until mk_jb_end.
 */
void
mk_jb_begin(MkJb *j)
{
	j->n = 0;
}

static JsonbValue *
jb_member(MkJb *j, const char *key)
{
	JsonbPair  *p;

	if (j->n >= MK_JB_MAX)
		elog(ERROR, "devices: more than %d jsonb members", MK_JB_MAX);
	p = &j->pairs[j->n];
	p->key.type = jbvString;
	p->key.val.string.val = (char *) key;
	p->key.val.string.len = strlen(key);
	p->order = j->n++;
	return &p->value;
}

void
mk_jb_str(MkJb *j, const char *key, const char *value)
{
	JsonbValue *v = jb_member(j, key);

	if (value == NULL)
		v->type = jbvNull;
	else
	{
		v->type = jbvString;
		v->val.string.val = (char *) value;
		v->val.string.len = strlen(value);
	}
}

void
mk_jb_int(MkJb *j, const char *key, int64 value)
{
	JsonbValue *v = jb_member(j, key);

	v->type = jbvNumeric;
	v->val.numeric = int64_to_numeric(value);
}

void
mk_jb_time(MkJb *j, const char *key, TimestampTz value)
{
	char		buf[MAXDATELEN + 1];

	mk_jb_str(j, key, pstrdup(JsonEncodeDateTime(buf, TimestampTzGetDatum(value), TIMESTAMPTZOID, NULL)));
}

static bool
jb_key_before(const JsonbValue *a, const JsonbValue *b)
{
	if (a->val.string.len != b->val.string.len)
		return a->val.string.len < b->val.string.len;
	return memcmp(a->val.string.val, b->val.string.val, a->val.string.len) < 0;
}

Jsonb *
mk_jb_end(MkJb *j)
{
	JsonbValue	obj;

	/* insertion sort: a handful of members */
	for (int i = 1; i < j->n; i++)
	{
		JsonbPair	p = j->pairs[i];
		int			k = i;

		while (k > 0 && jb_key_before(&p.key, &j->pairs[k - 1].key))
		{
			j->pairs[k] = j->pairs[k - 1];
			k--;
		}
		j->pairs[k] = p;
	}
	obj.type = jbvObject;
	obj.val.object.nPairs = j->n;
	obj.val.object.pairs = j->pairs;
	return JsonbValueToJsonb(&obj);
}
