/*
 * payment.c: the rules of a payment inserted by hand (checkout() applies
 * the same rules to its payments before inserting them, and the trigger
 * skips its rows, as the line trigger does).
 *
 *   - the sale is visible to the inserting role (row-level security) and
 *     not void;
 *   - the method is one the sale's branch accepts;
 *   - cash: tendered defaults to the amount, and the change is
 *     tendered - amount; the amount itself never exceeds what is still due;
 *   - every other method: the payments may not exceed the total (23M03);
 *   - a negative amount (a refund) only from return_line().
 */
#include "pos/pos.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(pos_payment_trg);

static SPIPlanPtr sale_plan;

bool		pos_refund_in_progress = false;

/* The methods payment.method's CHECK constraint allows. */
bool
pos_payment_method_known(const char *method)
{
	static const char *const methods[] = {"cash", "debit_card", "credit_card", "qris", "bank_transfer", "store_credit"};

	for (int i = 0; i < (int) lengthof(methods); i++)
		if (strcmp(method, methods[i]) == 0)
			return true;
	return false;
}

/* BEFORE INSERT ON payment FOR EACH ROW */
Datum
pos_payment_trg(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	tuple;
	int			a_sale, a_method, a_amount, a_tendered, a_change;
	bool		isnull, tendered_null;
	int64		sale_id, amount, tendered = 0, total, paid;
	char	   *method, *status;
	bool		accepted;
	static const Oid types[] = {INT8OID, TEXTOID};
	Datum		args[2];
	int			cols[2];
	Datum		vals[2];
	bool		nulls[2] = {false, false};

	mk_trigger_on(fcinfo, "pos_payment_trg", true, MK_ON_INSERT, "payment");
	desc = RelationGetDescr(td->tg_relation);
	tuple = td->tg_trigtuple;
	a_sale = mk_trigger_column(td, "sale_id", INT8OID, true);
	a_method = mk_trigger_column(td, "method", TEXTOID, true);
	a_amount = mk_trigger_column(td, "amount", NUMERICOID, true);
	a_tendered = mk_trigger_column(td, "tendered", NUMERICOID, false);
	a_change = mk_trigger_column(td, "change", NUMERICOID, false);

	sale_id = DatumGetInt64(heap_getattr(tuple, a_sale, desc, &isnull));
	if (isnull)
		mk_error(ERRCODE_NOT_NULL_VIOLATION, NULL, "payment.sale_id must not be null");
	if (sale_id == pos_checkout_sale_id)
		return PointerGetDatum(tuple);
	{
		Datum		m = heap_getattr(tuple, a_method, desc, &isnull);

		if (isnull)
			mk_error(ERRCODE_NOT_NULL_VIOLATION, NULL, "payment.method must not be null");
		method = TextDatumGetCString(m);
	}
	{
		Datum		a = heap_getattr(tuple, a_amount, desc, &isnull);

		if (isnull)
			mk_error(ERRCODE_NOT_NULL_VIOLATION, NULL, "payment.amount must not be null");
		amount = pos_numeric_cents(a, "payment.amount");
	}
	{
		Datum		t = heap_getattr(tuple, a_tendered, desc, &tendered_null);

		if (!tendered_null)
			tendered = pos_numeric_cents(t, "payment.tendered");
	}
	if (amount < 0 && !pos_refund_in_progress)
		mk_error(ERRCODE_INSUFFICIENT_PRIVILEGE, "Record a return with mekatek.return_line(); it pays the refund.",
				 "a payment of %s on sale " INT64_FORMAT " is negative", pos_rupiah(amount), sale_id);
	if (amount <= 0)
		return PointerGetDatum(tuple);

	SPI_connect();
	mk_spi_plan(&sale_plan,
				"SELECT s.status, s.total, $2 OPERATOR(pg_catalog.=) ANY (b.payment_methods),"
				"       (SELECT coalesce(sum(y.amount), 0) FROM mekatek.payment y"
				"         WHERE y.sale_id OPERATOR(pg_catalog.=) s.sale_id AND y.amount OPERATOR(pg_catalog.>) 0)"
				"  FROM mekatek.sale s JOIN mekatek.branch b ON b.branch_id OPERATOR(pg_catalog.=) s.branch_id"
				" WHERE s.sale_id OPERATOR(pg_catalog.=) $1 FOR UPDATE OF s",
				2, types);
	args[0] = Int64GetDatum(sale_id);
	args[1] = CStringGetTextDatum(method);
	if (mk_spi_execute_plan(sale_plan, args, NULL, false, 1, SPI_OK_SELECT, "payment's sale") == 0)
		mk_error(ERRCODE_FOREIGN_KEY_VIOLATION, "A cashier sees only the sales of its own branch.",
				 "sale " INT64_FORMAT " does not exist", sale_id);
	status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	total = pos_numeric_cents(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull), "total");
	accepted = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	paid = pos_numeric_cents(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull), "paid");
	SPI_finish();

	if (strcmp(status, "void") == 0)
		mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, NULL,
				 "sale " INT64_FORMAT " is void and takes no payment", sale_id);
	if (!accepted)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
				 "An admin sets the methods a branch accepts in mekatek.branch.payment_methods.",
				 "payment method \"%s\" is not accepted at the branch of sale " INT64_FORMAT,
				 mk_quote_short(method), sale_id);
	if (paid + amount > total)
		ereport(ERROR,
				(errcode(POS_ERRCODE_OVERPAID),
				 errmsg("a payment of %s on sale " INT64_FORMAT " exceeds what is due, %s",
						pos_rupiah(amount), sale_id, pos_rupiah(total - paid)),
				 errhint(strcmp(method, "cash") == 0
						 ? "Record the cash handed over as tendered and what is due as amount; the change is computed."
						 : "A card, QRIS, transfer or store credit payment may not exceed the total.")));
	if (strcmp(method, "cash") == 0)
	{
		if (tendered_null)
			tendered = amount;
		if (tendered < amount)
			mk_error(ERRCODE_CHECK_VIOLATION, NULL,
					 "cash tendered %s is less than the amount %s", pos_rupiah(tendered), pos_rupiah(amount));
		cols[0] = a_tendered;
		vals[0] = pos_cents_numeric(tendered);
		cols[1] = a_change;
		vals[1] = pos_cents_numeric(tendered - amount);
		return PointerGetDatum(heap_modify_tuple_by_cols(tuple, desc, 2, cols, vals, nulls));
	}
	return PointerGetDatum(tuple);
}
