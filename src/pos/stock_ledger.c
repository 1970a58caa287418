/*
 * stock_ledger.c: the stock ledger and the two ways stock arrives or is
 * corrected by hand: receive_stock() and adjust_stock().
 *
 * Every change of batch.qty_on_hand goes through pos_ledger_apply(), which
 * updates the batch and appends its stock_movement row in one statement
 * (pos_ledger_apply_sales: the same for all of a statement's sale lines).
 * Nothing else in the extension writes qty_on_hand, and no role has UPDATE
 * on batch, so the invariant qty_on_hand = sum(qty_delta) holds by
 * construction.
 */
#include "pos/pos.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "catalog/namespace.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

PG_FUNCTION_INFO_V1(pos_receive_stock);
PG_FUNCTION_INFO_V1(pos_adjust_stock);

static SPIPlanPtr apply_plan;
static SPIPlanPtr apply_sales_plan;
static SPIPlanPtr product_plan;
static SPIPlanPtr batch_upsert_plan;
static SPIPlanPtr batch_lock_plan;
static SPIPlanPtr branch_plan;
static SPIPlanPtr legacy_upsert_plan;
static SPIPlanPtr doc_plans[2];

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

/*
 * pos_ledger_apply for the movements of a statement's sale lines, in ONE
 * statement: each batch's quantity changes once by the sum of its
 * movements, and the movements are appended in the order given (their ids
 * follow it).  A sale of three lines then costs one statement instead of
 * three, each with its executor start, constraint expressions and
 * foreign-key checks.  The caller holds every batch's row lock.
 */
void
pos_ledger_apply_sales(int n, const int64 *batch_ids, const int32 *deltas,
					   const int64 *sale_ids, const int32 *line_nos)
{
	static const Oid argtypes[] = {INT8ARRAYOID, INT4ARRAYOID, INT8ARRAYOID, INT4ARRAYOID, NAMEOID};
	Datum		values[5];
	Datum	   *b = palloc(sizeof(Datum) * n), *d = palloc(sizeof(Datum) * n);
	Datum	   *s = palloc(sizeof(Datum) * n), *l = palloc(sizeof(Datum) * n);
	NameData	actor;

	if (n == 0)
		return;
	mk_spi_plan(&apply_sales_plan,
				"WITH t AS (SELECT * FROM unnest($1, $2, $3, $4) WITH ORDINALITY"
				"             AS t(batch_id, qty_delta, sale_id, line_no, ord)),"
				"     b AS (UPDATE mekatek.batch bt SET qty_on_hand = bt.qty_on_hand + d.qty_delta"
				"             FROM (SELECT t.batch_id, sum(t.qty_delta)::int4 AS qty_delta"
				"                     FROM t GROUP BY t.batch_id) d"
				"            WHERE bt.batch_id = d.batch_id RETURNING bt.batch_id)"
				" INSERT INTO mekatek.stock_movement (batch_id, qty_delta, reason, sale_id, line_no, actor)"
				" SELECT t.batch_id, t.qty_delta, 'sale', t.sale_id, t.line_no, $5 FROM t"
				"  WHERE t.batch_id IN (SELECT b.batch_id FROM b)"
				"  ORDER BY t.ord",
				5, argtypes);
	for (int i = 0; i < n; i++)
	{
		b[i] = Int64GetDatum(batch_ids[i]);
		d[i] = Int32GetDatum(deltas[i]);
		s[i] = Int64GetDatum(sale_ids[i]);
		l[i] = Int32GetDatum(line_nos[i]);
	}
	namestrcpy(&actor, mk_acting_role());
	values[0] = PointerGetDatum(construct_array(b, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[1] = PointerGetDatum(construct_array(d, n, INT4OID, 4, true, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(s, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[3] = PointerGetDatum(construct_array(l, n, INT4OID, 4, true, TYPALIGN_INT));
	values[4] = NameGetDatum(&actor);
	if (mk_spi_execute_plan(apply_sales_plan, values, NULL, false, 0, SPI_OK_INSERT, "ledger insert") != (uint64) n)
		mk_error(ERRCODE_FOREIGN_KEY_VIOLATION, NULL,
				 "a batch of the sale's movements does not exist");
}

/*
 * pos_ledger_apply for the movements a document causes (a transfer, a
 * stock count): the same one statement, with the document's id in its
 * column of stock_movement.
 */
int64
pos_ledger_apply_doc(int64 batch_id, int32 delta, const char *reason, PosLedgerDoc doc,
					 int64 doc_id, const char *note)
{
	static const Oid argtypes[] = {INT8OID, INT4OID, TEXTOID, INT8OID, NAMEOID, TEXTOID};
	static const char *const columns[] = {"transfer_id", "count_id"};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	bool		isnull;
	NameData	actor;
	char	   *sql;

	Assert(doc >= 0 && doc < lengthof(doc_plans));
	if (doc_plans[doc] == NULL)
	{
		sql = psprintf("WITH b AS (UPDATE mekatek.batch SET qty_on_hand = qty_on_hand + $2"
					   "            WHERE batch_id = $1 RETURNING batch_id)"
					   " INSERT INTO mekatek.stock_movement (batch_id, qty_delta, reason, %s, actor, note)"
					   " SELECT b.batch_id, $2, $3, $4, $5, $6 FROM b"
					   " RETURNING movement_id", columns[doc]);
		mk_spi_plan(&doc_plans[doc], sql, 6, argtypes);
	}
	namestrcpy(&actor, mk_acting_role());
	values[0] = Int64GetDatum(batch_id);
	values[1] = Int32GetDatum(delta);
	values[2] = CStringGetTextDatum(reason);
	values[3] = Int64GetDatum(doc_id);
	values[4] = NameGetDatum(&actor);
	values[5] = note ? CStringGetTextDatum(note) : (Datum) 0;
	if (note == NULL)
		nulls[5] = 'n';
	mk_spi_execute_plan(doc_plans[doc], values, nulls, false, 0, SPI_OK_INSERT_RETURNING, "ledger insert");
	if (SPI_processed != 1)
		mk_error(ERRCODE_FOREIGN_KEY_VIOLATION, NULL,
				 "batch " INT64_FORMAT " does not exist", batch_id);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* product_id of an SKU, or an ERROR naming it.  Inside SPI. */
int64
pos_product_by_sku(const char *sku)
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
				 "unknown SKU \"%s\"", mk_quote_short(sku));
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Does the database have 0.2.0's per-branch stock?  Until ALTER EXTENSION
 * UPDATE, a 0.1.0 schema runs on this library: its batches have no branch
 * and its branches no time zone, and the 0.1.0 behaviour (one stock, the
 * session's date) is kept.  A syscache lookup, cheap enough per call.
 */
bool
pos_schema_has_branches(void)
{
	Oid			nsp = get_namespace_oid("mekatek", true);
	Oid			rel = OidIsValid(nsp) ? get_relname_relid("batch", nsp) : InvalidOid;

	return OidIsValid(rel) && get_attnum(rel, "branch_id") != InvalidAttrNumber;
}

/*
 * The checks every way stock arrives shares: an expiry date that is a
 * date and after the branch's today, a cost that is a non-negative number.
 */
void
pos_check_lot_arrival(DateADT expires_on, DateADT today, const char *lot, Datum unit_cost, bool cost_null)
{
	if (DATE_NOT_FINITE(expires_on))
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
				 "Give the expiry date printed on the lot.",
				 "expires_on of lot \"%s\" must be a finite date, not %s",
				 mk_quote_short(lot),
				 DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(expires_on))));
	if (expires_on <= today)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
				 "Expired goods are not received; record them elsewhere or correct the date.",
				 "expires_on %s of lot \"%s\" is not after today",
				 DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(expires_on))),
				 mk_quote_short(lot));
	if (cost_null)
		return;
	if (numeric_is_nan(DatumGetNumeric(unit_cost)) || numeric_is_inf(DatumGetNumeric(unit_cost)))
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, "Leave unit_cost NULL when the cost is not known.",
				 "unit_cost must be a finite number, not %s",
				 DatumGetCString(DirectFunctionCall1(numeric_out, unit_cost)));
	if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, unit_cost,
										  DirectFunctionCall1(int4_numeric, Int32GetDatum(0)))) < 0)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL,
				 "unit_cost must not be negative, not %s",
				 DatumGetCString(DirectFunctionCall1(numeric_out, unit_cost)));
}

/*
 * The branch a receipt goes to, and that branch's date: the given branch,
 * else the acting login's branch (mekatek.staff), else the first branch
 * (lowest branch_id), which is where 0.1.0's calls without a branch and
 * the lots of an upgraded database go.  Inside SPI.
 */
int32
pos_branch_resolve(bool given, int32 branch_id, DateADT *today)
{
	static const Oid argtypes[] = {BOOLOID, INT4OID, NAMEOID};
	Datum		values[3];
	NameData	actor;
	bool		isnull;

	mk_spi_plan(&branch_plan,
				"SELECT b.branch_id, (pg_catalog.now() AT TIME ZONE b.time_zone)::date"
				"  FROM mekatek.branch b"
				" WHERE CASE WHEN $1 THEN b.branch_id = $2 ELSE true END"
				" ORDER BY b.branch_id = (SELECT s.branch_id FROM mekatek.staff s WHERE s.role_name = $3) DESC NULLS LAST,"
				"          b.branch_id"
				" LIMIT 1",
				3, argtypes);
	namestrcpy(&actor, mk_acting_role());
	values[0] = BoolGetDatum(given);
	values[1] = Int32GetDatum(branch_id);
	values[2] = NameGetDatum(&actor);
	mk_spi_execute_plan(branch_plan, values, NULL, true, 1, SPI_OK_SELECT, "branch lookup");
	if (SPI_processed == 0)
	{
		if (given)
			mk_error(ERRCODE_FOREIGN_KEY_VIOLATION, NULL, "branch %d does not exist", branch_id);
		mk_error(ERRCODE_FOREIGN_KEY_VIOLATION, "Create a branch in mekatek.branch first.",
				 "there is no branch to receive stock into");
	}
	*today = DatumGetDateADT(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	return DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * The batch of a lot at a branch: a new one, or the known one (the same
 * product, lot and branch) provided the expiry date agrees: one lot has
 * one expiry date.  A given cost replaces the batch's.  Inside SPI.
 */
int64
pos_batch_upsert(int32 branch_id, int64 product_id, const char *sku, const char *lot, DateADT expires_on,
				 Datum unit_cost, bool cost_null)
{
	static const Oid argtypes[] = {INT8OID, TEXTOID, DATEOID, NUMERICOID, INT4OID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	bool		isnull;
	int64		batch_id;
	DateADT		stored_expiry;
	bool		branches = branch_id != 0;

	values[0] = Int64GetDatum(product_id);
	values[1] = CStringGetTextDatum(lot);
	values[2] = DateADTGetDatum(expires_on);
	values[3] = cost_null ? (Datum) 0 : unit_cost;
	if (cost_null)
		nulls[3] = 'n';
	values[4] = Int32GetDatum(branch_id);
	if (branches)
		mk_spi_plan(&batch_upsert_plan,
					"INSERT INTO mekatek.batch (product_id, lot, expires_on, unit_cost, branch_id)"
					" VALUES ($1, $2, $3, $4, $5)"
					" ON CONFLICT (branch_id, product_id, lot) DO UPDATE"
					"   SET unit_cost = coalesce(EXCLUDED.unit_cost, batch.unit_cost)"
					" RETURNING batch_id, expires_on",
					5, argtypes);
	else						/* 0.1.0's schema: branch_id 0 */
		mk_spi_plan(&legacy_upsert_plan,
					"INSERT INTO mekatek.batch (product_id, lot, expires_on, unit_cost)"
					" VALUES ($1, $2, $3, $4)"
					" ON CONFLICT (product_id, lot) DO UPDATE"
					"   SET unit_cost = coalesce(EXCLUDED.unit_cost, batch.unit_cost)"
					" RETURNING batch_id, expires_on",
					4, argtypes);
	mk_spi_execute_plan(branches ? batch_upsert_plan : legacy_upsert_plan, values, nulls, false, 0,
						SPI_OK_INSERT_RETURNING, "batch upsert");
	batch_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	stored_expiry = DatumGetDateADT(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (stored_expiry != expires_on)
		mk_error(ERRCODE_CHECK_VIOLATION,
				 "A lot has one expiry date; check the label or use another lot code.",
				 "lot \"%s\" of SKU \"%s\" was received with expiry %s, not %s",
				 mk_quote_short(lot), mk_quote_short(sku),
				 DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(stored_expiry))),
				 DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(expires_on))));
	return batch_id;
}

/*
 * receive_stock(sku, lot, expires_on, qty, unit_cost, branch_id) returns
 * batch_id.  0.1.0's five-argument declaration (no branch) still calls
 * this symbol until ALTER EXTENSION UPDATE: it then receives into the
 * default branch (pos_branch_resolve).
 */
Datum
pos_receive_stock(PG_FUNCTION_ARGS)
{
	char	   *sku = mk_arg_cstring(fcinfo, 0, "sku", false);
	char	   *lot = mk_arg_cstring(fcinfo, 1, "lot", false);
	DateADT		expires_on, today;
	int32		qty = mk_arg_int32_range(fcinfo, 3, "qty", 1, PG_INT32_MAX);
	bool		has_branch = PG_NARGS() > 5 && !PG_ARGISNULL(5);
	int32		branch_id;
	int64		batch_id, product_id;

	mk_arg_not_null(fcinfo, 2, "expires_on");
	expires_on = PG_GETARG_DATEADT(2);

	SPI_connect();
	if (pos_schema_has_branches())
		branch_id = pos_branch_resolve(has_branch, has_branch ? PG_GETARG_INT32(5) : 0, &today);
	else
	{
		branch_id = 0;
		today = GetSQLCurrentDate();
	}
	pos_check_lot_arrival(expires_on, today, lot, PG_ARGISNULL(4) ? (Datum) 0 : PG_GETARG_DATUM(4),
						  PG_ARGISNULL(4));
	product_id = pos_product_by_sku(sku);
	batch_id = pos_batch_upsert(branch_id, product_id, sku, lot, expires_on,
								PG_ARGISNULL(4) ? (Datum) 0 : PG_GETARG_DATUM(4), PG_ARGISNULL(4));
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

