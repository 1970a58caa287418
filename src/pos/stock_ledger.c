/*
 * stock_ledger.c: the stock ledger and the two ways stock arrives or is
 * corrected by hand: receive_stock() and adjust_stock().
 *
 * Every change of batch.qty_on_hand goes through pos_ledger_apply(), which
 * updates the batch and appends its stock_movement row in one statement.
 * Nothing else in the extension writes qty_on_hand, and no role has UPDATE
 * on batch, so the invariant qty_on_hand = sum(qty_delta) holds by
 * construction.
 */
#include "pos/pos.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/guc.h"

PG_FUNCTION_INFO_V1(pos_receive_stock);
PG_FUNCTION_INFO_V1(pos_adjust_stock);

static SPIPlanPtr apply_plan;
static SPIPlanPtr product_plan;
static SPIPlanPtr batch_upsert_plan;
static SPIPlanPtr batch_lock_plan;

int64
pos_ledger_apply(int64 batch_id, int32 delta, const char *reason,
				 int64 sale_id, int32 line_no, const char *note)
{
	static const Oid argtypes[] = {INT8OID, INT4OID, TEXTOID, INT8OID, INT4OID, NAMEOID, TEXTOID};
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	bool		isnull;
	NameData	actor;

	mk_spi_plan(&apply_plan,
				"WITH b AS (UPDATE mekatek.batch SET qty_on_hand = qty_on_hand + $2"
				"            WHERE batch_id = $1 RETURNING batch_id)"
				" INSERT INTO mekatek.stock_movement"
				"        (batch_id, qty_delta, reason, sale_id, line_no, actor, note)"
				" SELECT b.batch_id, $2, $3, $4, $5, $6, $7 FROM b"
				" RETURNING movement_id",
				7, argtypes);

	namestrcpy(&actor, mk_acting_role());
	values[0] = Int64GetDatum(batch_id);
	values[1] = Int32GetDatum(delta);
	values[2] = CStringGetTextDatum(reason);
	values[3] = Int64GetDatum(sale_id);
	values[4] = Int32GetDatum(line_no);
	values[5] = NameGetDatum(&actor);
	values[6] = note ? CStringGetTextDatum(note) : (Datum) 0;
	if (sale_id == 0)
		nulls[3] = 'n';
	if (line_no == 0)
		nulls[4] = 'n';
	if (note == NULL)
		nulls[6] = 'n';

	mk_spi_execute_plan(apply_plan, values, nulls, false, 0, SPI_OK_INSERT_RETURNING, "ledger insert");
	if (SPI_processed != 1)
		mk_error(ERRCODE_FOREIGN_KEY_VIOLATION, NULL,
				 "batch " INT64_FORMAT " does not exist", batch_id);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* product_id of an SKU, or an ERROR naming it. */
static int64
product_by_sku(const char *sku)
{
	static const Oid argtypes[] = {TEXTOID};
	Datum		values[1];
	bool		isnull;

	mk_spi_plan(&product_plan,
				"SELECT product_id FROM mekatek.product WHERE sku = $1", 1, argtypes);
	values[0] = CStringGetTextDatum(sku);
	mk_spi_execute_plan(product_plan, values, NULL, true, 1, SPI_OK_SELECT, "product lookup");
	if (SPI_processed == 0)
		mk_error(ERRCODE_FOREIGN_KEY_VIOLATION, "Register the product in mekatek.product first.",
				 "unknown SKU \"%s\"", sku);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * receive_stock(sku, lot, expires_on, qty, unit_cost) returns batch_id.
 * A lot received again (same product and lot) adds to its batch, provided
 * the expiry date agrees: one lot has one expiry date.
 */
Datum
pos_receive_stock(PG_FUNCTION_ARGS)
{
	char	   *sku = mk_arg_cstring(fcinfo, 0, "sku", false);
	char	   *lot = mk_arg_cstring(fcinfo, 1, "lot", false);
	DateADT		expires_on;
	int32		qty = mk_arg_int32_range(fcinfo, 3, "qty", 1, PG_INT32_MAX);
	static const Oid argtypes[] = {INT8OID, TEXTOID, DATEOID, NUMERICOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	bool		isnull;
	int64		batch_id;
	DateADT		stored_expiry;

	mk_arg_not_null(fcinfo, 2, "expires_on");
	expires_on = PG_GETARG_DATEADT(2);
	if (DATE_NOT_FINITE(expires_on) || expires_on <= GetSQLCurrentDate())
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
				 "Expired goods are not received; record them elsewhere or correct the date.",
				 "expires_on %s of lot \"%s\" is not after today",
				 DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(expires_on))), lot);
	if (!PG_ARGISNULL(4) &&
		DatumGetInt32(DirectFunctionCall2(numeric_cmp, PG_GETARG_DATUM(4),
										  DirectFunctionCall1(int4_numeric, Int32GetDatum(0)))) < 0)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL,
				 "unit_cost must not be negative, not %s",
				 DatumGetCString(DirectFunctionCall1(numeric_out, PG_GETARG_DATUM(4))));

	SPI_connect();
	values[0] = Int64GetDatum(product_by_sku(sku));
	values[1] = CStringGetTextDatum(lot);
	values[2] = DateADTGetDatum(expires_on);
	values[3] = PG_ARGISNULL(4) ? (Datum) 0 : PG_GETARG_DATUM(4);
	if (PG_ARGISNULL(4))
		nulls[3] = 'n';
	mk_spi_plan(&batch_upsert_plan,
				"INSERT INTO mekatek.batch (product_id, lot, expires_on, unit_cost)"
				" VALUES ($1, $2, $3, $4)"
				" ON CONFLICT (product_id, lot) DO UPDATE"
				"   SET unit_cost = coalesce(EXCLUDED.unit_cost, batch.unit_cost)"
				" RETURNING batch_id, expires_on",
				4, argtypes);
	mk_spi_execute_plan(batch_upsert_plan, values, nulls, false, 0, SPI_OK_INSERT_RETURNING, "batch upsert");
	batch_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	stored_expiry = DatumGetDateADT(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (stored_expiry != expires_on)
		mk_error(ERRCODE_CHECK_VIOLATION,
				 "A lot has one expiry date; check the label or use another lot code.",
				 "lot \"%s\" of SKU \"%s\" was received with expiry %s, not %s",
				 lot, sku,
				 DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(stored_expiry))),
				 DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(expires_on))));
	pos_ledger_apply(batch_id, qty, "receipt", 0, 0, NULL);
	SPI_finish();
	PG_RETURN_INT64(batch_id);
}

/*
 * adjust_stock(batch_id, qty_delta, note, reason) returns movement_id:
 * a counted correction or an expiry write-off.  The note is required so
 * that the audit log says why.
 */
Datum
pos_adjust_stock(PG_FUNCTION_ARGS)
{
	int64		batch_id = DatumGetInt64(mk_arg_datum(fcinfo, 0, "batch_id"));
	int32		delta = DatumGetInt32(mk_arg_datum(fcinfo, 1, "qty_delta"));
	char	   *note = mk_arg_cstring(fcinfo, 2, "note", false);
	char	   *reason = mk_arg_cstring(fcinfo, 3, "reason", false);
	static const Oid argtypes[] = {INT8OID};
	Datum		values[1];
	bool		isnull;
	int32		on_hand;
	int64		movement_id;

	if (delta == 0)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL, "qty_delta must not be 0");
	if (strcmp(reason, "adjustment") != 0 && strcmp(reason, "expiry") != 0)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL,
				 "reason must be adjustment or expiry, not \"%s\"", reason);
	if (strspn(note, " \t\r\n") == strlen(note))
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL, "argument \"note\" must not be blank");
	if (!mk_acting_is_admin())
		mk_error(ERRCODE_INSUFFICIENT_PRIVILEGE, NULL,
				 "only mekatek_admin may adjust stock");

	SPI_connect();
	mk_spi_plan(&batch_lock_plan,
				"SELECT qty_on_hand FROM mekatek.batch WHERE batch_id = $1 FOR UPDATE",
				1, argtypes);
	values[0] = Int64GetDatum(batch_id);
	mk_spi_execute_plan(batch_lock_plan, values, NULL, false, 1, SPI_OK_SELECT, "batch lock");
	if (SPI_processed == 0)
		mk_error(ERRCODE_FOREIGN_KEY_VIOLATION, NULL,
				 "batch " INT64_FORMAT " does not exist", batch_id);
	on_hand = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if ((int64) on_hand + delta < 0 || (int64) on_hand + delta > PG_INT32_MAX)
		mk_error(ERRCODE_CHECK_VIOLATION, NULL,
				 "adjusting batch " INT64_FORMAT " by %d would leave %lld units (it has %d)",
				 batch_id, delta, (long long) on_hand + delta, on_hand);
	movement_id = pos_ledger_apply(batch_id, delta, reason, 0, 0, note);
	SPI_finish();
	PG_RETURN_INT64(movement_id);
}

