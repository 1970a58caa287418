/*
 * place.c: every write of the chain in its one right place.
 *
 * mekatek.chain_place_trg(kind, ...), BEFORE INSERT OR UPDATE OR DELETE
 * FOR EACH ROW, refuses (25M01, with a hint naming the right server):
 *   'master'                        any write at a branch server;
 *   'branch', COLUMN [, 'insert']   a row whose branch (COLUMN) is not this
 *                                   branch server's, or at headquarters a
 *                                   row of a member branch; with 'insert',
 *                                   any UPDATE or DELETE at a chain node
 *                                   (those tables are published insert-only);
 *   'via', FK, TABLE, KEY, BCOL     at headquarters, a row whose parent
 *                                   (TABLE.KEY = FK) has a member branch in
 *                                   TABLE.BCOL.
 * The triggers are ENABLE ORIGIN (the default), so the replication apply
 * worker and a restore (session_replication_role = replica) pass through:
 * rows written in their right place elsewhere are never refused here.
 *
 * The node is read once per transaction (one small SPI query), so that a
 * standalone install pays one comparison per row after that.
 */
#include "chain/chain.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(chain_place_trg);

static ChainNode node_cache;
static LocalTransactionId node_lxid = InvalidLocalTransactionId;
static MemoryContext node_cxt;

const ChainNode *
chain_node(void)
{
	bool		isnull;

	if (node_lxid == MyProc->lxid && node_lxid != InvalidLocalTransactionId)
		return &node_cache;

	if (node_cxt == NULL)
		node_cxt = AllocSetContextCreate(TopMemoryContext, "mekatek chain node", ALLOCSET_SMALL_SIZES);
	MemoryContextReset(node_cxt);
	memset(&node_cache, 0, sizeof(node_cache));

	SPI_connect();
	mk_spi_execute("SELECT n.role, n.node_id, n.branch_id,"
				   "       (SELECT pg_catalog.array_agg(m.branch_id ORDER BY m.branch_id) FROM mekatek.chain_member m)"
				   "  FROM mekatek.chain_node n",
				   0, NULL, NULL, NULL, true, 1, SPI_OK_SELECT, "chain node lookup");
	if (SPI_processed == 1)
	{
		HeapTuple	row = SPI_tuptable->vals[0];
		TupleDesc	d = SPI_tuptable->tupdesc;
		char	   *role = SPI_getvalue(row, d, 1);
		Datum		members;

		node_cache.role = strcmp(role, "branch") == 0 ? CHAIN_BRANCH : CHAIN_HEADQUARTERS;
		node_cache.node_id = DatumGetInt32(SPI_getbinval(row, d, 2, &isnull));
		node_cache.branch_id = DatumGetInt32(SPI_getbinval(row, d, 3, &isnull));
		if (isnull)
			node_cache.branch_id = 0;
		members = SPI_getbinval(row, d, 4, &isnull);
		if (!isnull)
		{
			ArrayType  *a = DatumGetArrayTypeP(members);
			int			n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));

			node_cache.members = MemoryContextAlloc(node_cxt, sizeof(int32) * Max(n, 1));
			memcpy(node_cache.members, mk_array_data(a), sizeof(int32) * n);
			node_cache.nmembers = n;
		}
	}
	SPI_finish();
	node_lxid = MyProc->lxid;
	return &node_cache;
}

bool
chain_is_member(const ChainNode *n, int32 branch_id)
{
	for (int i = 0; i < n->nmembers; i++)
		if (n->members[i] == branch_id)
			return true;
	return false;
}

static void
wrong_place(const ChainNode *n, const char *table, int32 branch_id, bool master)
{
	if (master)
		ereport(ERROR,
				(errcode(CHAIN_ERRCODE_WRONG_PLACE),
				 errmsg("chain: %s is master data, written at headquarters; this is the server of branch %d",
						table, n->branch_id),
				 errhint("Change it at headquarters; it reaches every branch by replication.")));
	if (n->role == CHAIN_BRANCH)
		ereport(ERROR,
				(errcode(CHAIN_ERRCODE_WRONG_PLACE),
				 errmsg("chain: %s of branch %d is written at branch %d's server; this is the server of branch %d",
						table, branch_id, branch_id, n->branch_id),
				 errhint("Each branch server writes only its own branch's rows; headquarters sees them all by replication.")));
	ereport(ERROR,
			(errcode(CHAIN_ERRCODE_WRONG_PLACE),
			 errmsg("chain: %s of branch %d is written at branch %d's server, not at headquarters",
					table, branch_id, branch_id),
			 errhint("Branch %d runs on a server of its own: sell, receive and count there; its rows arrive here by replication.",
					 branch_id)));
}

static int32
row_int4(TriggerData *td, HeapTuple row, const char *col, bool *isnull)
{
	TupleDesc	d = RelationGetDescr(td->tg_relation);
	int			attno = SPI_fnumber(d, col);

	if (attno <= 0 || TupleDescAttr(d, attno - 1)->atttypid != INT4OID)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("chain_place_trg: table %s has no integer column \"%s\"",
						RelationGetRelationName(td->tg_relation), col)));
	return DatumGetInt32(heap_getattr(row, attno, d, isnull));
}

/* The branch of a row's parent: TABLE.BCOL where TABLE.KEY = the row's FK. */
static bool
parent_branch(TriggerData *td, HeapTuple row, char **args, int32 *branch)
{
	TupleDesc	d = RelationGetDescr(td->tg_relation);
	int			attno = SPI_fnumber(d, args[1]);
	Oid			type;
	bool		isnull;
	Datum		key;
	StringInfoData sql;
	bool		found;

	if (attno <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("chain_place_trg: table %s has no column \"%s\"",
						RelationGetRelationName(td->tg_relation), args[1])));
	type = TupleDescAttr(d, attno - 1)->atttypid;
	key = heap_getattr(row, attno, d, &isnull);
	if (isnull)
		return false;
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %s FROM mekatek.%s WHERE %s = $1",
					 quote_identifier(args[4]), quote_identifier(args[2]), quote_identifier(args[3]));
	SPI_connect();
	mk_spi_execute(sql.data, 1, &type, &key, NULL, true, 1, SPI_OK_SELECT, "chain parent lookup");
	found = SPI_processed == 1;
	if (found)
	{
		*branch = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		found = !isnull;
	}
	SPI_finish();
	return found;
}

Datum
chain_place_trg(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const ChainNode *n;
	char	  **args;
	int			nargs;
	const char *table;
	HeapTuple	result;
	bool		isnull;
	int32		branch;

	mk_trigger_on(fcinfo, "chain_place_trg", true, MK_ON_INSERT | MK_ON_UPDATE | MK_ON_DELETE, NULL);
	if (!TRIGGER_FIRED_BEFORE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("chain_place_trg must be fired BEFORE the row is written")));
	args = td->tg_trigger->tgargs;
	nargs = td->tg_trigger->tgnargs;
	result = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	if (nargs < 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("chain_place_trg needs an argument: master, branch or via")));

	n = chain_node();
	if (n->role == CHAIN_STANDALONE)
		return PointerGetDatum(result);
	table = RelationGetRelationName(td->tg_relation);

	if (strcmp(args[0], "master") == 0)
	{
		if (n->role == CHAIN_BRANCH)
			wrong_place(n, table, 0, true);
	}
	else if (strcmp(args[0], "branch") == 0 && nargs >= 2)
	{
		/* the old row's branch too: a row may not be moved to a branch */
		HeapTuple	rows[2] = {td->tg_trigtuple,
			TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : NULL};

		if (nargs >= 3 && strcmp(args[2], "insert") == 0 && !TRIGGER_FIRED_BY_INSERT(td->tg_event))
			ereport(ERROR,
					(errcode(CHAIN_ERRCODE_WRONG_PLACE),
					 errmsg("chain: rows of %s are not changed once written on a server of a chain", table),
					 errhint("They replicate insert-only between the servers; a transfer between branch servers is received with mekatek.chain_transfer_receive().")));
		for (int i = 0; i < 2; i++)
		{
			if (rows[i] == NULL)
				continue;
			branch = row_int4(td, rows[i], args[1], &isnull);
			if (isnull)
				continue;
			if (n->role == CHAIN_BRANCH ? branch != n->branch_id : chain_is_member(n, branch))
				wrong_place(n, table, branch, false);
		}
	}
	else if (strcmp(args[0], "via") == 0 && nargs >= 5)
	{
		/*
		 * A branch server holds no other branch's parents but the transfers
		 * forwarded to it, which are read-only there: nothing to look up.
		 */
		if (n->role == CHAIN_HEADQUARTERS && n->nmembers > 0)
		{
			HeapTuple	rows[2] = {td->tg_trigtuple,
				TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : NULL};

			for (int i = 0; i < 2; i++)
				if (rows[i] != NULL && parent_branch(td, rows[i], args, &branch)
					&& chain_is_member(n, branch))
					wrong_place(n, table, branch, false);
		}
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("chain_place_trg: unknown arguments on table %s", table),
				 errhint("Use master, branch COLUMN [insert] or via FK TABLE KEY BRANCH_COLUMN.")));
	return PointerGetDatum(result);
}
