/*
 * stock_count.c: stock counts (stock opname).
 *
 *   count_open(branch, skus, note)     one line per lot of the branch with
 *                                      stock (all products or the listed).
 *   count_enter(count, batch, counted) a counter's figure for one lot.
 *   count_close(count)                 posts the differences.
 *
 * Sales go on during a count.  A lot's difference is taken at the moment
 * it is counted: count_enter locks the batch (as a sale does) and keeps
 * the ledger's quantity of that moment beside the counted one, and closing
 * posts counted - book as a movement with reason 'count'.  A sale after
 * the lot was counted took units that were on the shelf when counted, so
 * it lowers the book and the shelf alike and the posted difference stays
 * right; a sale before it is in the book already.  A lot counted again
 * replaces its figure.  Uncounted lines post nothing.
 */
#include "pos/pos.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

PG_FUNCTION_INFO_V1(pos_count_open);
PG_FUNCTION_INFO_V1(pos_count_enter);
PG_FUNCTION_INFO_V1(pos_count_close);

static SPIPlanPtr open_plan;
static SPIPlanPtr unknown_plan;
static SPIPlanPtr lines_plan;
static SPIPlanPtr count_lock_plan;
static SPIPlanPtr count_share_plan;
static SPIPlanPtr enter_plan;
static SPIPlanPtr close_lines_plan;
static SPIPlanPtr closed_plan;

Datum
pos_count_open(PG_FUNCTION_ARGS)
{
	int32		branch_id = DatumGetInt32(mk_arg_datum(fcinfo, 0, "branch_id"));
	char	   *note = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	static const Oid open_types[] = {INT4OID, NAMEOID, TEXTOID};
	static const Oid lines_types[] = {INT8OID, INT4OID, TEXTARRAYOID};
	Datum		args[3];
	char		nulls[3] = {' ', ' ', ' '};
	bool		isnull;
	int64		count_id;
	DateADT		today;
	NameData	actor;

	mk_require_admin("count_open", "Ask a member of mekatek_admin to open the count.");
	if (!PG_ARGISNULL(1) && array_contains_nulls(PG_GETARG_ARRAYTYPE_P(1)))
		mk_error(ERRCODE_NULL_VALUE_NOT_ALLOWED, NULL, "skus must not contain NULL");
	if (!PG_ARGISNULL(1) && ArrayGetNItems(ARR_NDIM(PG_GETARG_ARRAYTYPE_P(1)), ARR_DIMS(PG_GETARG_ARRAYTYPE_P(1))) > 100000)
		mk_error(ERRCODE_PROGRAM_LIMIT_EXCEEDED, "Count in several counts.", "skus must list at most 100000 SKUs");
	if (note != NULL && strlen(note) > 1000)
		mk_error(ERRCODE_STRING_DATA_RIGHT_TRUNCATION, NULL,
				 "note must have at most 1000 bytes, not %zu", strlen(note));

	SPI_connect();
	(void) pos_branch_resolve(true, branch_id, &today);
	if (!PG_ARGISNULL(1))
	{
		static const Oid unknown_types[] = {TEXTARRAYOID};

		mk_spi_plan(&unknown_plan,
					"SELECT s FROM unnest($1) s WHERE NOT EXISTS (SELECT FROM mekatek.product p WHERE p.sku = s) LIMIT 1",
					1, unknown_types);
		args[0] = PG_GETARG_DATUM(1);
		mk_spi_execute_plan(unknown_plan, args, NULL, true, 1, SPI_OK_SELECT, "SKU lookup");
		if (SPI_processed > 0)
			mk_error(ERRCODE_FOREIGN_KEY_VIOLATION, NULL, "unknown SKU \"%s\" in skus",
					 mk_quote_short(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)));
	}

	mk_spi_plan(&open_plan,
				"INSERT INTO mekatek.stock_count (branch_id, opened_by, note) VALUES ($1, $2, $3) RETURNING count_id",
				3, open_types);
	namestrcpy(&actor, mk_acting_role());
	args[0] = Int32GetDatum(branch_id);
	args[1] = NameGetDatum(&actor);
	args[2] = note ? CStringGetTextDatum(note) : (Datum) 0;
	nulls[2] = note ? ' ' : 'n';
	mk_spi_execute_plan(open_plan, args, nulls, false, 0, SPI_OK_INSERT_RETURNING, "stock count insert");
	count_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	mk_spi_plan(&lines_plan,
				"INSERT INTO mekatek.stock_count_line (count_id, batch_id)"
				" SELECT $1, b.batch_id FROM mekatek.batch b JOIN mekatek.product p ON p.product_id = b.product_id"
				"  WHERE b.branch_id = $2 AND b.qty_on_hand > 0 AND ($3 IS NULL OR p.sku = ANY ($3))",
				3, lines_types);
	args[0] = Int64GetDatum(count_id);
	args[1] = Int32GetDatum(branch_id);
	args[2] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	nulls[2] = PG_ARGISNULL(1) ? 'n' : ' ';
	mk_spi_execute_plan(lines_plan, args, nulls, false, 0, SPI_OK_INSERT, "stock count lines");
	SPI_finish();
	PG_RETURN_INT64(count_id);
}

/* Lock an open count; returns its branch.  Inside SPI. */
static int32
lock_open_count(int64 count_id, bool exclusive)
{
	static const Oid types[] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(count_id)};
	bool		isnull;
	char	   *status;

	/* FOR UPDATE to close, FOR SHARE to count: counters do not block each other */
	if (exclusive)
		mk_spi_plan(&count_lock_plan,
					"SELECT status, branch_id FROM mekatek.stock_count WHERE count_id = $1 FOR UPDATE",
					1, types);
	else
		mk_spi_plan(&count_share_plan,
					"SELECT status, branch_id FROM mekatek.stock_count WHERE count_id = $1 FOR SHARE",
					1, types);
	mk_spi_execute_plan(exclusive ? count_lock_plan : count_share_plan, args, NULL, false, 0,
						SPI_OK_SELECT, "stock count lock");
	if (SPI_processed == 0)
		mk_error(ERRCODE_FOREIGN_KEY_VIOLATION, NULL, "stock count " INT64_FORMAT " does not exist", count_id);
	status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (strcmp(status, "open") != 0)
		mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, NULL,
				 "stock count " INT64_FORMAT " is %s", count_id, status);
	return DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
}

Datum
pos_count_enter(PG_FUNCTION_ARGS)
{
	int64		count_id = DatumGetInt64(mk_arg_datum(fcinfo, 0, "count_id"));
	int64		batch_id = DatumGetInt64(mk_arg_datum(fcinfo, 1, "batch_id"));
	int32		counted = mk_arg_int32_range(fcinfo, 2, "counted_qty", 0, PG_INT32_MAX);
	static const Oid types[] = {INT8OID, INT8OID, INT4OID, NAMEOID};
	Datum		args[4];
	bool		isnull;
	int32		branch_id, book;
	NameData	actor;

	SPI_connect();
	branch_id = lock_open_count(count_id, false);
	if (!mk_acting_is_admin())
	{
		static const Oid my_types[] = {NAMEOID};
		Datum		my_args[1];

		namestrcpy(&actor, mk_acting_role());
		my_args[0] = NameGetDatum(&actor);
		mk_spi_execute("SELECT branch_id FROM mekatek.staff WHERE role_name = $1",
					   1, my_types, my_args, NULL, true, 1, SPI_OK_SELECT, "staff lookup");
		if (SPI_processed == 0 ||
			DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) != branch_id ||
			isnull)
			mk_error(ERRCODE_INSUFFICIENT_PRIVILEGE, "The cashiers of the count's branch and admins count.",
					 "permission denied for count_enter: stock count " INT64_FORMAT " is of branch %d",
					 count_id, branch_id);
	}
	/* the batch's row lock orders the count with the sales of this lot */
	mk_spi_plan(&enter_plan,
				"WITH b AS (SELECT batch_id, qty_on_hand FROM mekatek.batch WHERE batch_id = $2 FOR UPDATE)"
				" UPDATE mekatek.stock_count_line l SET book_qty = b.qty_on_hand, counted_qty = $3,"
				"        counted_at = pg_catalog.clock_timestamp(), counted_by = $4"
				"   FROM b WHERE l.count_id = $1 AND l.batch_id = b.batch_id"
				" RETURNING l.book_qty",
				4, types);
	namestrcpy(&actor, mk_acting_role());
	args[0] = Int64GetDatum(count_id);
	args[1] = Int64GetDatum(batch_id);
	args[2] = Int32GetDatum(counted);
	args[3] = NameGetDatum(&actor);
	mk_spi_execute_plan(enter_plan, args, NULL, false, 0, SPI_OK_UPDATE_RETURNING, "stock count entry");
	if (SPI_processed == 0)
		mk_error(ERRCODE_FOREIGN_KEY_VIOLATION, "count_open lists the lots of the branch that had stock.",
				 "batch " INT64_FORMAT " is not in stock count " INT64_FORMAT, batch_id, count_id);
	book = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	PG_RETURN_INT32(counted - book);
}

Datum
pos_count_close(PG_FUNCTION_ARGS)
{
	int64		count_id = DatumGetInt64(mk_arg_datum(fcinfo, 0, "count_id"));
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	static const Oid types[] = {INT8OID};
	static const Oid closed_types[] = {INT8OID, NAMEOID};
	Datum		args[2];
	SPITupleTable *rows;
	uint64		nrows;
	char	   *note;
	NameData	actor;

	mk_require_admin("count_close", "Ask a member of mekatek_admin to close the count.");
	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	(void) lock_open_count(count_id, true);
	/* counted lines, their batches locked in the sales' order */
	mk_spi_plan(&close_lines_plan,
				"SELECT b.batch_id, p.sku, b.lot, l.book_qty, l.counted_qty, l.counted_qty - l.book_qty,"
				"       ((l.counted_qty - l.book_qty) * b.unit_cost)::numeric(16,2), b.qty_on_hand"
				"  FROM mekatek.stock_count_line l"
				"  JOIN mekatek.batch b ON b.batch_id = l.batch_id"
				"  JOIN mekatek.product p ON p.product_id = b.product_id"
				" WHERE l.count_id = $1 AND l.counted_qty IS NOT NULL"
				" ORDER BY b.product_id, b.branch_id, b.expires_on, b.batch_id FOR UPDATE OF b",
				1, types);
	args[0] = Int64GetDatum(count_id);
	mk_spi_execute_plan(close_lines_plan, args, NULL, false, 0, SPI_OK_SELECT, "stock count lines");
	rows = SPI_tuptable;
	nrows = SPI_processed;
	note = psprintf("stock count " INT64_FORMAT, count_id);
	for (uint64 i = 0; i < nrows; i++)
	{
		HeapTuple	row = rows->vals[i];
		Datum		values[7];
		bool		nulls[7];
		int32		variance, on_hand;
		bool		isnull;

		for (int c = 0; c < 7; c++)
			values[c] = SPI_getbinval(row, rows->tupdesc, c + 1, &nulls[c]);
		variance = DatumGetInt32(values[5]);
		on_hand = DatumGetInt32(SPI_getbinval(row, rows->tupdesc, 8, &isnull));
		if (variance != 0)
		{
			if ((int64) on_hand + variance < 0)
				mk_error(ERRCODE_CHECK_VIOLATION,
						 "More was sold since the lot was counted than the count found; count it again with count_enter.",
						 "lot \"%s\" of SKU \"%s\": posting %d would leave %lld units (it has %d)",
						 mk_quote_short(TextDatumGetCString(values[2])), mk_quote_short(TextDatumGetCString(values[1])),
						 variance, (long long) on_hand + variance, on_hand);
			pos_ledger_apply_doc(DatumGetInt64(values[0]), variance, "count", POS_DOC_COUNT, count_id, note);
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		CHECK_FOR_INTERRUPTS();
	}
	mk_spi_plan(&closed_plan,
				"UPDATE mekatek.stock_count SET status = 'closed', closed_at = pg_catalog.now(), closed_by = $2"
				" WHERE count_id = $1",
				2, closed_types);
	namestrcpy(&actor, mk_acting_role());
	args[1] = NameGetDatum(&actor);
	mk_spi_execute_plan(closed_plan, args, NULL, false, 0, SPI_OK_UPDATE, "stock count update");
	SPI_finish();
	return (Datum) 0;
}
