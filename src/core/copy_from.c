/*
 * copy_from.c: COPY FROM a C data source, with the checks DoCopy makes.
 *
 * Bulk loaders (firewall's fw_load, backup's s3_import) hand their bytes to
 * PostgreSQL's own COPY FROM through BeginCopyFrom's data-source callback,
 * so rows go in through COPY's multi-insert with the table's defaults,
 * indexes, constraints and triggers handled exactly as for COPY.  Calling
 * BeginCopyFrom directly bypasses DoCopy, so this file makes DoCopy's
 * checks itself: INSERT privilege on the loaded columns, no row-level
 * security, no read-only transaction (temporary tables aside), no parallel
 * mode.
 */
#include "core/mekatek.h"

#include "access/sysattr.h"
#include "access/table.h"
#include "access/xact.h"
#include "commands/copy.h"
#include "executor/executor.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/rel.h"
#include "utils/rls.h"

/*
 * COPY's data-source callback takes no argument (PostgreSQL 15 and 16), so
 * the one load running in this backend is kept here.
 */
static MkCopySourceFn active_fn = NULL;
static void *active_arg = NULL;

static int
copy_source_cb(void *outbuf, int minread, int maxread)
{
	return active_fn(active_arg, outbuf, minread, maxread);
}

/* INSERT on the columns COPY writes, as DoCopy checks it. */
static void
check_insert_columns(ParseState *pstate, Relation rel, List *attnames)
{
	ParseNamespaceItem *nsitem;
	Bitmapset **cols;
	ListCell   *lc;

	nsitem = addRangeTableEntryForRelation(pstate, rel, RowExclusiveLock, NULL, false, false);
#if PG_VERSION_NUM >= 160000
	nsitem->p_perminfo->requiredPerms = ACL_INSERT;
	cols = &nsitem->p_perminfo->insertedCols;
#else
	nsitem->p_rte->requiredPerms = ACL_INSERT;
	cols = &nsitem->p_rte->insertedCols;
#endif
	foreach(lc, CopyGetAttnums(RelationGetDescr(rel), rel, attnames))
		*cols = bms_add_member(*cols, lfirst_int(lc) - FirstLowInvalidHeapAttributeNumber);
#if PG_VERSION_NUM >= 160000
	ExecCheckPermissions(pstate->p_rtable, pstate->p_rteperminfos, true);
#else
	ExecCheckRTPerms(pstate->p_rtable, true);
#endif
}

uint64
mk_copy_from(Oid relid, List *attnames, List *options,
			 MkCopySourceFn fn, void *arg, const MkCopyFromOpts *o)
{
	Relation	rel;
	ParseState *pstate;
	CopyFromState cstate;
	volatile uint64 rows = 0;

	rel = table_open(relid, RowExclusiveLock);
	pstate = make_parsestate(NULL);
	check_insert_columns(pstate, rel, attnames);
	if (check_enable_rls(relid, InvalidOid, false) == RLS_ENABLED)
		mk_error(ERRCODE_FEATURE_NOT_SUPPORTED, o->rls_hint,
				 "%s cannot load into \"%s\": it has row-level security",
				 o->what, RelationGetRelationName(rel));
	if (!rel->rd_islocaltemp)
		PreventCommandIfReadOnly(o->what);
	PreventCommandIfParallelMode(o->what);
	if (active_fn != NULL)
		mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, NULL,
				 "%s cannot run inside another bulk load of this session", o->what);

	if (o->ready)
		o->ready(arg);
	active_fn = fn;
	active_arg = arg;
	PG_TRY();
	{
		cstate = BeginCopyFrom(pstate, rel, NULL, NULL, false, copy_source_cb,
							   attnames, options);
		if (o->cstate)
			*o->cstate = cstate;
		rows = CopyFrom(cstate);
		EndCopyFrom(cstate);
	}
	PG_FINALLY();
	{
		active_fn = NULL;
		active_arg = NULL;
		if (o->cstate)
			*o->cstate = NULL;
	}
	PG_END_TRY();
	free_parsestate(pstate);
	table_close(rel, NoLock);
	return rows;
}
