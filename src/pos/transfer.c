/*
 * transfer.c: stock moved between branches.
 *
 *   transfer_stock(from, to, sku, qty, lot, in_transit, note)
 *       takes qty units FEFO (or from one lot) out of the source branch's
 *       batches and, unless in_transit, puts the same lots (lot code,
 *       expiry and unit cost kept) into the destination's batches: one
 *       transfer_out and one transfer_in movement per lot, one transaction.
 *   transfer_receive(transfer_id)
 *       the destination confirms an in-transit transfer: its lots arrive.
 *
 * Stock in transit is in neither branch: the source's ledger already
 * shows it out, the destination's not yet in (stock_transfer_lot holds
 * it).  The source batches are locked in the sales' order (product,
 * branch, expiry, batch), so a transfer racing a sale of the same lot
 * waits for it and then sees what the sale left.
 */
#include "pos/pos.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(pos_transfer_stock);
PG_FUNCTION_INFO_V1(pos_transfer_receive);

static SPIPlanPtr header_plan;
static SPIPlanPtr source_plan;
static SPIPlanPtr lot_plan;
static SPIPlanPtr pending_plan;
static SPIPlanPtr arrived_plan;
static SPIPlanPtr done_plan;

/* The destination side of a transfer whose lots are out of the source. */
static void
transfer_arrive(int64 transfer_id)
{
	static const Oid types[] = {INT8OID};
	static const Oid arrived_types[] = {INT8OID, INT8OID, INT8OID};
	Datum		args[3];
	bool		isnull;
	SPITupleTable *rows;
	uint64		nrows;

	mk_spi_plan(&pending_plan,
				"SELECT l.from_batch_id, l.qty, t.to_branch_id, b.product_id, b.lot, b.expires_on, b.unit_cost, p.sku"
				"  FROM mekatek.stock_transfer_lot l"
				"  JOIN mekatek.stock_transfer t ON t.transfer_id = l.transfer_id"
				"  JOIN mekatek.batch b ON b.batch_id = l.from_batch_id"
				"  JOIN mekatek.product p ON p.product_id = b.product_id"
				" WHERE l.transfer_id = $1 AND l.to_batch_id IS NULL"
				" ORDER BY b.expires_on, l.from_batch_id",
				1, types);
	args[0] = Int64GetDatum(transfer_id);
	mk_spi_execute_plan(pending_plan, args, NULL, false, 0, SPI_OK_SELECT, "transfer lots");
	rows = SPI_tuptable;
	nrows = SPI_processed;
	for (uint64 i = 0; i < nrows; i++)
	{
		HeapTuple	row = rows->vals[i];
		TupleDesc	d = rows->tupdesc;
		int64		from_batch = DatumGetInt64(SPI_getbinval(row, d, 1, &isnull));
		int32		qty = DatumGetInt32(SPI_getbinval(row, d, 2, &isnull));
		int32		to_branch = DatumGetInt32(SPI_getbinval(row, d, 3, &isnull));
		int64		product_id = DatumGetInt64(SPI_getbinval(row, d, 4, &isnull));
		char	   *lot = SPI_getvalue(row, d, 5);
		DateADT		expires_on = DatumGetDateADT(SPI_getbinval(row, d, 6, &isnull));
		bool		cost_null;
		Datum		cost = SPI_getbinval(row, d, 7, &cost_null);
		int64		to_batch;

		to_batch = pos_batch_upsert(to_branch, product_id, SPI_getvalue(row, d, 8), lot, expires_on,
									cost, cost_null);
		pos_ledger_apply_doc(to_batch, qty, "transfer_in", POS_DOC_TRANSFER, transfer_id, NULL);
		mk_spi_plan(&arrived_plan,
					"UPDATE mekatek.stock_transfer_lot SET to_batch_id = $3"
					" WHERE transfer_id = $1 AND from_batch_id = $2",
					3, arrived_types);
		args[0] = Int64GetDatum(transfer_id);
		args[1] = Int64GetDatum(from_batch);
		args[2] = Int64GetDatum(to_batch);
		mk_spi_execute_plan(arrived_plan, args, NULL, false, 0, SPI_OK_UPDATE, "transfer lot update");
		CHECK_FOR_INTERRUPTS();
	}
	mk_spi_plan(&done_plan,
				"UPDATE mekatek.stock_transfer SET status = 'received', received_at = pg_catalog.now(),"
				"       received_by = $2 WHERE transfer_id = $1",
				2, (Oid[]) {INT8OID, NAMEOID});
	{
		NameData	actor;

		namestrcpy(&actor, mk_acting_role());
		args[0] = Int64GetDatum(transfer_id);
		args[1] = NameGetDatum(&actor);
		mk_spi_execute_plan(done_plan, args, NULL, false, 0, SPI_OK_UPDATE, "transfer update");
	}
}

Datum
pos_transfer_stock(PG_FUNCTION_ARGS)
{
	int32		from_branch = DatumGetInt32(mk_arg_datum(fcinfo, 0, "from_branch"));
	int32		to_branch = DatumGetInt32(mk_arg_datum(fcinfo, 1, "to_branch"));
	char	   *sku = mk_arg_cstring(fcinfo, 2, "sku", false);
	int32		qty = mk_arg_int32_range(fcinfo, 3, "qty", 1, PG_INT32_MAX);
	char	   *lot = PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4));
	bool		in_transit = !PG_ARGISNULL(5) && PG_GETARG_BOOL(5);
	char	   *note = PG_ARGISNULL(6) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(6));
	static const Oid header_types[] = {INT4OID, INT4OID, INT8OID, INT4OID, NAMEOID, TEXTOID};
	static const Oid source_types[] = {INT8OID, INT4OID, DATEOID, TEXTOID};
	static const Oid lot_types[] = {INT8OID, INT8OID, INT4OID};
	Datum		args[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	bool		isnull;
	DateADT		today, to_today;
	int64		product_id, transfer_id;
	int32		need = qty;
	SPITupleTable *rows;
	uint64		nrows;
	NameData	actor;

	mk_require_admin("transfer_stock", "Ask a member of mekatek_admin to move stock between branches.");
	if (from_branch == to_branch)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL,
				 "from_branch and to_branch are both %d: a transfer goes to another branch", from_branch);
	if (note != NULL && strlen(note) > 1000)
		mk_error(ERRCODE_STRING_DATA_RIGHT_TRUNCATION, NULL,
				 "note must have at most 1000 bytes, not %zu", strlen(note));

	SPI_connect();
	(void) pos_branch_resolve(true, to_branch, &to_today);
	(void) pos_branch_resolve(true, from_branch, &today);
	product_id = pos_product_by_sku(sku);

	mk_spi_plan(&header_plan,
				"INSERT INTO mekatek.stock_transfer (from_branch_id, to_branch_id, product_id, qty, sent_by, note)"
				" VALUES ($1, $2, $3, $4, $5, $6) RETURNING transfer_id",
				6, header_types);
	namestrcpy(&actor, mk_acting_role());
	args[0] = Int32GetDatum(from_branch);
	args[1] = Int32GetDatum(to_branch);
	args[2] = Int64GetDatum(product_id);
	args[3] = Int32GetDatum(qty);
	args[4] = NameGetDatum(&actor);
	args[5] = note ? CStringGetTextDatum(note) : (Datum) 0;
	nulls[5] = note ? ' ' : 'n';
	mk_spi_execute_plan(header_plan, args, nulls, false, 0, SPI_OK_INSERT_RETURNING, "transfer insert");
	transfer_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	/* the source's sellable lots, locked in the sales' order */
	mk_spi_plan(&source_plan,
				"SELECT batch_id, qty_on_hand FROM mekatek.batch"
				" WHERE product_id = $1 AND branch_id = $2 AND qty_on_hand > 0 AND expires_on > $3"
				"   AND ($4::text IS NULL OR lot = $4)"
				" ORDER BY expires_on, batch_id FOR UPDATE",
				4, source_types);
	args[0] = Int64GetDatum(product_id);
	args[1] = Int32GetDatum(from_branch);
	args[2] = DateADTGetDatum(today);
	args[3] = lot ? CStringGetTextDatum(lot) : (Datum) 0;
	memset(nulls, ' ', sizeof(nulls));
	nulls[3] = lot ? ' ' : 'n';
	mk_spi_execute_plan(source_plan, args, nulls, false, 0, SPI_OK_SELECT, "transfer batch lookup");
	rows = SPI_tuptable;
	nrows = SPI_processed;
	for (uint64 i = 0; i < nrows && need > 0; i++)
	{
		int64		batch_id = DatumGetInt64(SPI_getbinval(rows->vals[i], rows->tupdesc, 1, &isnull));
		int32		on_hand = DatumGetInt32(SPI_getbinval(rows->vals[i], rows->tupdesc, 2, &isnull));
		int32		take = Min(need, on_hand);

		pos_ledger_apply_doc(batch_id, -take, "transfer_out", POS_DOC_TRANSFER, transfer_id, NULL);
		mk_spi_plan(&lot_plan,
					"INSERT INTO mekatek.stock_transfer_lot (transfer_id, from_batch_id, qty) VALUES ($1, $2, $3)",
					3, lot_types);
		args[0] = Int64GetDatum(transfer_id);
		args[1] = Int64GetDatum(batch_id);
		args[2] = Int32GetDatum(take);
		mk_spi_execute_plan(lot_plan, args, NULL, false, 0, SPI_OK_INSERT, "transfer lot insert");
		need -= take;
		CHECK_FOR_INTERRUPTS();
	}
	if (need > 0)
		mk_error(ERRCODE_CHECK_VIOLATION,
				 "Only unexpired stock of the source branch is transferred; see mekatek.stock_alert.",
				 "insufficient stock for SKU \"%s\"%s%s%s at branch %d: asked %d, available %d",
				 mk_quote_short(sku), lot ? " lot \"" : "", lot ? mk_quote_short(lot) : "", lot ? "\"" : "",
				 from_branch, qty, qty - need);

	if (!in_transit)
		transfer_arrive(transfer_id);
	SPI_finish();
	PG_RETURN_INT64(transfer_id);
}

Datum
pos_transfer_receive(PG_FUNCTION_ARGS)
{
	int64		transfer_id = DatumGetInt64(mk_arg_datum(fcinfo, 0, "transfer_id"));
	static const Oid types[] = {INT8OID};
	Datum		args[1];
	char	   *status;

	mk_require_admin("transfer_receive", "Ask a member of mekatek_admin to confirm the transfer.");
	SPI_connect();
	args[0] = Int64GetDatum(transfer_id);
	/* the row lock makes a second confirmation wait and then see 'received' */
	mk_spi_execute("SELECT status FROM mekatek.stock_transfer WHERE transfer_id = $1 FOR UPDATE",
				   1, types, args, NULL, false, 1, SPI_OK_SELECT, "transfer lookup");
	if (SPI_processed == 0)
		mk_error(ERRCODE_FOREIGN_KEY_VIOLATION, NULL, "transfer " INT64_FORMAT " does not exist", transfer_id);
	status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (strcmp(status, "in_transit") != 0)
		mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, NULL,
				 "transfer " INT64_FORMAT " is %s, not in transit", transfer_id, status);
	transfer_arrive(transfer_id);
	SPI_finish();
	PG_RETURN_INT64(transfer_id);
}
