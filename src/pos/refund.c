/*
 * refund.c: return_line(), a return of some units of one line of a paid
 * sale.
 *
 *   - who: an admin always; a cashier for a sale of its own branch (row
 *     security decides what it sees) within mekatek.return_days of the
 *     sale (42501 after);
 *   - how much: never more than was sold minus what was returned already
 *     (23M04); the sale's row is locked first, so two returns of one sale
 *     run one after the other and the second sees the first;
 *   - the refund is the line's amount in proportion to the units, in whole
 *     rupiah (half up), and the last return of a line takes exactly what
 *     is left of it, so a line returned in parts refunds what it cost; the
 *     DPP and PPN given back are split the same way;
 *   - stock: resellable goods go back, through the ledger (reason
 *     'return'), to the lots the line took them from, earliest expiry
 *     first; goods that cannot be sold again stay out of stock
 *     (resellable = false) and the return says so;
 *   - a refund payment (negative amount) in the method given, and
 *     sale.refunded grows; sale_return keeps who, when and why, and its
 *     audit trigger copies it to audit_log.
 */
#include "pos/pos.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(pos_return_line);

static SPIPlanPtr sale_plan;
static SPIPlanPtr line_plan;
static SPIPlanPtr lots_plan;
static SPIPlanPtr insert_plan;
static SPIPlanPtr refund_plan;
static SPIPlanPtr refunded_plan;

static int64
get_cents(int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : pos_numeric_cents(d, "amount");
}

/* part of whole, in proportion qty / of, whole rupiah half up */
static int64
share(int64 whole, int32 qty, int32 of)
{
	__int128	num = (__int128) whole * qty;
	__int128	den = (__int128) of * 100;

	return (int64) ((2 * num + den) / (2 * den)) * 100;
}

/*
 * return_line(sale_id bigint, line_no integer, qty integer, reason text,
 *             resellable boolean DEFAULT true, refund_method text DEFAULT 'cash')
 * RETURNS bigint (the return_id)
 */
Datum
pos_return_line(PG_FUNCTION_ARGS)
{
	int64		sale_id, return_id;
	int32		line_no, qty, sold, returned;
	char	   *reason, *method;
	bool		resellable, isnull;
	Datum		args[10];
	char		nulls[10] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	int64		amount, dpp, refund, refund_dpp, prior_refund, prior_dpp;
	TimestampTz sold_at;
	char	   *status;

	mk_arg_not_null(fcinfo, 0, "sale_id");
	mk_arg_not_null(fcinfo, 1, "line_no");
	sale_id = PG_GETARG_INT64(0);
	line_no = PG_GETARG_INT32(1);
	qty = mk_arg_int32_range(fcinfo, 2, "qty", 1, PG_INT32_MAX);
	reason = mk_arg_cstring(fcinfo, 3, "reason", false);
	if (strspn(reason, " \t\r\n") == strlen(reason) || strlen(reason) > 500)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, "Say why the goods came back (500 characters at most).",
				 "reason must be a text of 1 to 500 characters, not \"%s\"", mk_quote_short(reason));
	mk_arg_not_null(fcinfo, 4, "resellable");
	resellable = PG_GETARG_BOOL(4);
	method = mk_arg_cstring(fcinfo, 5, "refund_method", false);
	if (!pos_payment_method_known(method))
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, POS_METHODS_HINT,
				 "refund_method \"%s\" is not a payment method", mk_quote_short(method));

	SPI_connect();
	pos_check_sale_visible(sale_id);

	{
		static const Oid types[] = {INT8OID};

		mk_spi_plan(&sale_plan,
					"SELECT status, sold_at FROM mekatek.sale WHERE sale_id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
					1, types);
		args[0] = Int64GetDatum(sale_id);
		mk_spi_execute_plan(sale_plan, args, NULL, false, 1, SPI_OK_SELECT, "sale lock");
		status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		sold_at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	}
	if (strcmp(status, "paid") != 0)
		mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, NULL,
				 "sale " INT64_FORMAT " is %s: only a paid sale takes returns", sale_id, status);
	if (!mk_acting_is_admin() &&
		GetCurrentTransactionStartTimestamp() - sold_at > (int64) pos_return_days * USECS_PER_DAY)
		mk_error(ERRCODE_INSUFFICIENT_PRIVILEGE,
				 "Ask a member of mekatek_admin; mekatek.return_days sets the cashier's window.",
				 "sale " INT64_FORMAT " is more than %d days old: a cashier may no longer take its return",
				 sale_id, pos_return_days);

	{
		static const Oid types[] = {INT8OID, INT4OID};

		mk_spi_plan(&line_plan,
					"SELECT l.qty, l.amount, coalesce(l.dpp, l.amount),"
					"       coalesce(sum(r.qty), 0)::int4, coalesce(sum(r.refund), 0), coalesce(sum(r.dpp), 0)"
					"  FROM mekatek.sale_line l LEFT JOIN mekatek.sale_return r"
					"    ON r.sale_id OPERATOR(pg_catalog.=) l.sale_id AND r.line_no OPERATOR(pg_catalog.=) l.line_no"
					" WHERE l.sale_id OPERATOR(pg_catalog.=) $1 AND l.line_no OPERATOR(pg_catalog.=) $2"
					" GROUP BY l.sale_id, l.line_no",
					2, types);
		args[1] = Int32GetDatum(line_no);
		if (mk_spi_execute_plan(line_plan, args, NULL, false, 1, SPI_OK_SELECT, "line lookup") == 0)
			mk_error(ERRCODE_FOREIGN_KEY_VIOLATION, NULL,
					 "sale " INT64_FORMAT " has no line %d", sale_id, line_no);
		sold = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		amount = get_cents(2);
		dpp = get_cents(3);
		returned = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull));
		prior_refund = get_cents(5);
		prior_dpp = get_cents(6);
	}
	if ((int64) returned + qty > sold)
		ereport(ERROR,
				(errcode(POS_ERRCODE_RETURN_EXCEEDS),
				 errmsg("cannot return %d of line %d of sale " INT64_FORMAT ": %d sold, %d returned already",
						qty, line_no, sale_id, sold, returned),
				 errdetail_internal("{\"sale_id\": " INT64_FORMAT ", \"line_no\": %d, \"asked\": %d, \"sold\": %d, \"returned\": %d}",
									sale_id, line_no, qty, sold, returned)));
	if (returned + qty == sold)
	{
		refund = amount - prior_refund;
		refund_dpp = dpp - prior_dpp;
	}
	else
	{
		refund = Min(share(amount, qty, sold), amount - prior_refund);
		refund_dpp = Min(share(dpp, qty, sold), dpp - prior_dpp);
		if (refund_dpp > refund)
			refund_dpp = refund;
	}

	/* stock back to the lots it came from */
	if (resellable)
	{
		static const Oid types[] = {INT8OID, INT4OID};
		SPITupleTable *rows;
		uint64		nrows;
		int32		need = qty;

		mk_spi_plan(&lots_plan,
					"SELECT m.batch_id, (-sum(m.qty_delta))::int4"
					"  FROM mekatek.stock_movement m JOIN mekatek.batch b ON b.batch_id OPERATOR(pg_catalog.=) m.batch_id"
					" WHERE m.sale_id OPERATOR(pg_catalog.=) $1 AND m.line_no OPERATOR(pg_catalog.=) $2"
					"   AND m.reason IN ('sale', 'return')"
					" GROUP BY b.product_id, b.expires_on, m.batch_id"
					" HAVING sum(m.qty_delta) OPERATOR(pg_catalog.<) 0"
					" ORDER BY b.product_id, b.expires_on, m.batch_id",
					2, types);
		mk_spi_execute_plan(lots_plan, args, NULL, false, 0, SPI_OK_SELECT, "lots of a line");
		rows = SPI_tuptable;
		nrows = SPI_processed;
		for (uint64 i = 0; i < nrows && need > 0; i++)
		{
			int64		batch = DatumGetInt64(SPI_getbinval(rows->vals[i], rows->tupdesc, 1, &isnull));
			int32		out = DatumGetInt32(SPI_getbinval(rows->vals[i], rows->tupdesc, 2, &isnull));
			int32		back = Min(out, need);

			pos_ledger_apply(batch, back, "return", sale_id, line_no, reason);
			need -= back;
			CHECK_FOR_INTERRUPTS();
		}
		/* units returned to quarantine earlier never went back: fewer lots may be open */
		if (need > 0)
			mk_error(ERRCODE_INTERNAL_ERROR, NULL,
					 "line %d of sale " INT64_FORMAT " has %d units fewer in its lots than sold", line_no, sale_id, need);
	}

	{
		static const Oid types[] = {INT8OID, INT4OID, INT4OID, BOOLOID, TEXTOID, NUMERICOID, NUMERICOID,
		NUMERICOID, NAMEOID};
		NameData	actor;

		namestrcpy(&actor, mk_acting_role());
		mk_spi_plan(&insert_plan,
					"INSERT INTO mekatek.sale_return (sale_id, line_no, qty, resellable, reason, refund, dpp, ppn, actor)"
					" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING return_id",
					9, types);
		args[2] = Int32GetDatum(qty);
		args[3] = BoolGetDatum(resellable);
		args[4] = CStringGetTextDatum(reason);
		args[5] = pos_cents_numeric(refund);
		args[6] = pos_cents_numeric(refund_dpp);
		args[7] = pos_cents_numeric(refund - refund_dpp);
		args[8] = NameGetDatum(&actor);
		mk_spi_execute_plan(insert_plan, args, NULL, false, 0, SPI_OK_INSERT_RETURNING, "return insert");
		return_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}

	if (refund > 0)
	{
		static const Oid types[] = {INT8OID, TEXTOID, NUMERICOID, NAMEOID};
		static const Oid types2[] = {INT8OID, NUMERICOID};
		Datum		a[4];
		NameData	actor;

		namestrcpy(&actor, mk_acting_role());
		mk_spi_plan(&refund_plan,
					"INSERT INTO mekatek.payment (sale_id, method, amount, actor) VALUES ($1, $2, $3, $4)",
					4, types);
		a[0] = Int64GetDatum(sale_id);
		a[1] = CStringGetTextDatum(method);
		a[2] = pos_cents_numeric(-refund);
		a[3] = NameGetDatum(&actor);
		pos_refund_in_progress = true;
		PG_TRY();
		{
			mk_spi_execute_plan(refund_plan, a, NULL, false, 0, SPI_OK_INSERT, "refund payment");
		}
		PG_FINALLY();
		{
			pos_refund_in_progress = false;
		}
		PG_END_TRY();

		mk_spi_plan(&refunded_plan,
					"UPDATE mekatek.sale SET refunded = refunded OPERATOR(pg_catalog.+) $2"
					" WHERE sale_id OPERATOR(pg_catalog.=) $1", 2, types2);
		a[1] = pos_cents_numeric(refund);
		mk_spi_execute_plan(refunded_plan, a, NULL, false, 0, SPI_OK_UPDATE, "sale refunded");
	}
	(void) nulls;
	SPI_finish();
	PG_RETURN_INT64(return_id);
}
