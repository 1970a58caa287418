/*
 * transfer.c: stock moved between branches on different servers.
 *
 * Each step is a local transaction on its own server:
 *   1. the source: mekatek.transfer_stock(from, to, sku, qty, in_transit =>
 *      true), as on one server: its stock leaves through the ledger
 *      (transfer_out); chain_transfer_manifest_trg copies each lot as it
 *      left (lot, expiry, cost) into chain_transfer_lot;
 *   2. replication: stock_transfer and chain_transfer_lot go to
 *      headquarters (filtered on from_branch_id) and on to the destination
 *      (filtered on to_branch_id), insert-only, so no row is ever written
 *      on two servers;
 *   3. the destination: mekatek.chain_transfer_receive(transfer_id [, qty])
 *      puts the lots into its own batches (transfer_in) and records what
 *      arrived in chain_transfer_arrival, which goes to headquarters;
 *   4. headquarters: mekatek.chain_transfers_pending lists what left and did
 *      not (wholly) arrive.
 */
#include "chain/chain.h"
#include "pos/pos.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(chain_transfer_manifest_trg);
PG_FUNCTION_INFO_V1(chain_transfer_receive);

static SPIPlanPtr manifest_plan;
static SPIPlanPtr lots_plan;
static SPIPlanPtr arrival_plan;

Datum
chain_transfer_manifest_trg(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	static const Oid types[] = {INT8OID, INT8OID, INT4OID};
	Datum		args[3];
	TupleDesc	d;
	bool		isnull;

	mk_trigger_on(fcinfo, "chain_transfer_manifest_trg", true, MK_ON_INSERT, "stock_transfer_lot");
	if (chain_node()->role != CHAIN_BRANCH)
		return PointerGetDatum(NULL);
	d = RelationGetDescr(td->tg_relation);
	args[0] = heap_getattr(td->tg_trigtuple, mk_trigger_column(td, "transfer_id", INT8OID, true), d, &isnull);
	args[1] = heap_getattr(td->tg_trigtuple, mk_trigger_column(td, "from_batch_id", INT8OID, true), d, &isnull);
	args[2] = heap_getattr(td->tg_trigtuple, mk_trigger_column(td, "qty", INT4OID, true), d, &isnull);
	SPI_connect();
	mk_spi_plan(&manifest_plan,
				"INSERT INTO mekatek.chain_transfer_lot (transfer_id, from_batch_id, from_branch_id, to_branch_id,"
				"       product_id, sku, lot, expires_on, unit_cost, qty)"
				" SELECT t.transfer_id, b.batch_id, t.from_branch_id, t.to_branch_id, b.product_id, p.sku,"
				"        b.lot, b.expires_on, b.unit_cost, $3"
				"   FROM mekatek.stock_transfer t, mekatek.batch b JOIN mekatek.product p ON p.product_id = b.product_id"
				"  WHERE t.transfer_id = $1 AND b.batch_id = $2",
				3, types);
	mk_spi_execute_plan(manifest_plan, args, NULL, false, 0, SPI_OK_INSERT, "chain transfer manifest");
	SPI_finish();
	return PointerGetDatum(NULL);
}

Datum
chain_transfer_receive(PG_FUNCTION_ARGS)
{
	int64		transfer_id = DatumGetInt64(mk_arg_datum(fcinfo, 0, "transfer_id"));
	bool		all = PG_ARGISNULL(1);
	int32		left = all ? PG_INT32_MAX : mk_arg_int32_range(fcinfo, 1, "qty", 0, PG_INT32_MAX);
	int32		received = 0;
	static const Oid lots_types[] = {INT8OID, INT4OID};
	static const Oid arrival_types[] = {INT8OID, INT8OID, INT4OID, INT8OID, INT4OID, INT4OID, NAMEOID};
	const ChainNode *n;
	Datum		args[7];
	char		nulls[7];
	SPITupleTable *rows;
	uint64		nrows;
	NameData	actor;
	bool		isnull;

	mk_require_admin("chain_transfer_receive", "Ask a member of mekatek_admin to confirm the transfer.");
	n = chain_node();
	if (n->role != CHAIN_BRANCH)
		mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
				 "On one server, a transfer in transit is received with mekatek.transfer_receive().",
				 "chain_transfer_receive runs at the destination branch's server, and this is %s",
				 n->role == CHAIN_HEADQUARTERS ? "headquarters" : "a standalone server");

	SPI_connect();
	args[0] = Int64GetDatum(transfer_id);
	args[1] = Int32GetDatum(n->branch_id);
	/* the transfer's row lock makes a second confirmation wait, then see the arrival */
	mk_spi_execute("SELECT to_branch_id FROM mekatek.stock_transfer WHERE transfer_id = $1 FOR UPDATE",
				   1, lots_types, args, NULL, false, 1, SPI_OK_SELECT, "chain transfer lookup");
	if (SPI_processed == 0)
		mk_error(ERRCODE_FOREIGN_KEY_VIOLATION,
				 "A transfer reaches the destination through headquarters: see mekatek.chain_status for the replication's lag.",
				 "transfer " INT64_FORMAT " has not arrived at this server", transfer_id);
	if (DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) != n->branch_id)
		mk_error(CHAIN_ERRCODE_WRONG_PLACE, "The destination's own server receives a transfer.",
				 "chain: transfer " INT64_FORMAT " goes to branch %d, not to this server's branch %d",
				 transfer_id, DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)),
				 n->branch_id);
	/* not read-only: a fresh snapshot, taken after the lock, sees a first confirmation */
	mk_spi_execute("SELECT 1 FROM mekatek.chain_transfer_arrival WHERE transfer_id = $1",
				   1, lots_types, args, NULL, false, 1, SPI_OK_SELECT, "chain arrival lookup");
	if (SPI_processed > 0)
		mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, "mekatek.chain_transfer_arrival holds what arrived.",
				 "transfer " INT64_FORMAT " was received already", transfer_id);

	mk_spi_plan(&lots_plan,
				"SELECT from_batch_id, product_id, sku, lot, expires_on, unit_cost, qty"
				"  FROM mekatek.chain_transfer_lot WHERE transfer_id = $1 AND to_branch_id = $2"
				" ORDER BY expires_on, from_batch_id",
				2, lots_types);
	mk_spi_execute_plan(lots_plan, args, NULL, false, 0, SPI_OK_SELECT, "chain transfer lots");
	rows = SPI_tuptable;
	nrows = SPI_processed;
	if (nrows == 0)
		mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
				 "The transfer's lots replicate with it; see mekatek.chain_status.",
				 "transfer " INT64_FORMAT " has no lots at this server", transfer_id);
	namestrcpy(&actor, mk_acting_role());
	for (uint64 i = 0; i < nrows; i++)
	{
		HeapTuple	row = rows->vals[i];
		TupleDesc	d = rows->tupdesc;
		int64		from_batch = DatumGetInt64(SPI_getbinval(row, d, 1, &isnull));
		int64		product_id = DatumGetInt64(SPI_getbinval(row, d, 2, &isnull));
		char	   *sku = SPI_getvalue(row, d, 3);
		char	   *lot = SPI_getvalue(row, d, 4);
		DateADT		expires_on = DatumGetDateADT(SPI_getbinval(row, d, 5, &isnull));
		bool		cost_null;
		Datum		cost = SPI_getbinval(row, d, 6, &cost_null);
		int32		sent = DatumGetInt32(SPI_getbinval(row, d, 7, &isnull));
		int32		take = Min(sent, left);
		int64		to_batch = 0;

		if (take > 0)
		{
			to_batch = pos_batch_upsert(n->branch_id, product_id, sku, lot, expires_on, cost, cost_null);
			pos_ledger_apply_doc(to_batch, take, "transfer_in", POS_DOC_TRANSFER, transfer_id, NULL);
		}
		mk_spi_plan(&arrival_plan,
					"INSERT INTO mekatek.chain_transfer_arrival (transfer_id, from_batch_id, to_branch_id, to_batch_id,"
					"       qty_sent, qty_received, received_by) VALUES ($1, $2, $3, $4, $5, $6, $7)",
					7, arrival_types);
		memset(nulls, ' ', sizeof(nulls));
		args[0] = Int64GetDatum(transfer_id);
		args[1] = Int64GetDatum(from_batch);
		args[2] = Int32GetDatum(n->branch_id);
		args[3] = Int64GetDatum(to_batch);
		nulls[3] = take > 0 ? ' ' : 'n';
		args[4] = Int32GetDatum(sent);
		args[5] = Int32GetDatum(take);
		args[6] = NameGetDatum(&actor);
		mk_spi_execute_plan(arrival_plan, args, nulls, false, 0, SPI_OK_INSERT, "chain transfer arrival");
		left -= take;
		received += take;
		CHECK_FOR_INTERRUPTS();
	}
	SPI_finish();
	PG_RETURN_INT32(received);
}
