/*
 * purchase.c: purchase orders and the deliveries against them.
 *
 *   receive_purchase(po_id, line_no, lot, expires_on, qty, unit_cost)
 *       one delivery of a lot against an order line, into the order's
 *       branch, through the same checks and ledger as receive_stock; the
 *       line's qty_received may end above or below what was ordered, and
 *       the order becomes partly_received or received.
 *   pos_purchase_guard_trg
 *       the order's life (draft -> ordered -> partly_received -> received,
 *       or cancelled before it is received) and lines that change only
 *       while the order is a draft.
 */
#include "pos/pos.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(pos_receive_purchase);
PG_FUNCTION_INFO_V1(pos_purchase_guard_trg);

static SPIPlanPtr line_plan;
static SPIPlanPtr receipt_plan;
static SPIPlanPtr received_plan;
static SPIPlanPtr status_plan;
static SPIPlanPtr po_status_plan;
static SPIPlanPtr po_lines_plan;

Datum
pos_receive_purchase(PG_FUNCTION_ARGS)
{
	int64		po_id = DatumGetInt64(mk_arg_datum(fcinfo, 0, "po_id"));
	int32		line_no = DatumGetInt32(mk_arg_datum(fcinfo, 1, "line_no"));
	char	   *lot = mk_arg_cstring(fcinfo, 2, "lot", false);
	DateADT		expires_on = DatumGetDateADT(mk_arg_datum(fcinfo, 3, "expires_on"));
	int32		qty = mk_arg_int32_range(fcinfo, 4, "qty", 1, PG_INT32_MAX);
	static const Oid line_types[] = {INT8OID, INT4OID};
	static const Oid receipt_types[] = {INT8OID, INT4OID, INT8OID, INT8OID, INT4OID, NUMERICOID, NAMEOID};
	static const Oid received_types[] = {INT8OID, INT4OID, INT4OID};
	Datum		args[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	bool		isnull, cost_null;
	char	   *status, *sku;
	int32		branch_id;
	int64		product_id, batch_id, movement_id;
	Datum		cost;
	DateADT		today;
	NameData	actor;

	mk_require_admin("receive_purchase", "Ask a member of mekatek_admin to receive the delivery.");
	if (strlen(lot) > 64)
		mk_error(ERRCODE_STRING_DATA_RIGHT_TRUNCATION, NULL,
				 "lot must have at most 64 bytes, not %zu: \"%s\"", strlen(lot), mk_quote_short(lot));

	SPI_connect();
	/* the order's row lock serialises deliveries of one order */
	mk_spi_plan(&line_plan,
				"SELECT o.status, o.branch_id, l.product_id, l.unit_cost, p.sku"
				"  FROM mekatek.purchase_order o"
				"  JOIN mekatek.purchase_order_line l ON l.po_id = o.po_id AND l.line_no = $2"
				"  JOIN mekatek.product p ON p.product_id = l.product_id"
				" WHERE o.po_id = $1 FOR UPDATE OF o",
				2, line_types);
	args[0] = Int64GetDatum(po_id);
	args[1] = Int32GetDatum(line_no);
	mk_spi_execute_plan(line_plan, args, NULL, false, 1, SPI_OK_SELECT, "purchase order lookup");
	if (SPI_processed == 0)
		mk_error(ERRCODE_FOREIGN_KEY_VIOLATION, NULL,
				 "purchase order " INT64_FORMAT " has no line %d", po_id, line_no);
	status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	branch_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	product_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	sku = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5);
	if (PG_ARGISNULL(5))
		cost = SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &cost_null),
								 false, -1);
	else
	{
		cost = PG_GETARG_DATUM(5);
		cost_null = false;
	}
	if (cost_null)
		cost = (Datum) 0;
	if (strcmp(status, "ordered") != 0 && strcmp(status, "partly_received") != 0)
		mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
				 "Goods are received against an ordered or partly received order.",
				 "purchase order " INT64_FORMAT " is %s", po_id, status);

	(void) pos_branch_resolve(true, branch_id, &today);
	pos_check_lot_arrival(expires_on, today, lot, cost, cost_null);
	batch_id = pos_batch_upsert(branch_id, product_id, sku, lot, expires_on, cost, cost_null);
	movement_id = pos_ledger_apply(batch_id, qty, "receipt", 0, 0, NULL);

	mk_spi_plan(&receipt_plan,
				"INSERT INTO mekatek.purchase_receipt (po_id, line_no, batch_id, movement_id, qty, unit_cost, received_by)"
				" VALUES ($1, $2, $3, $4, $5, $6, $7)",
				7, receipt_types);
	namestrcpy(&actor, mk_acting_role());
	args[0] = Int64GetDatum(po_id);
	args[1] = Int32GetDatum(line_no);
	args[2] = Int64GetDatum(batch_id);
	args[3] = Int64GetDatum(movement_id);
	args[4] = Int32GetDatum(qty);
	args[5] = cost;
	nulls[5] = cost_null ? 'n' : ' ';
	args[6] = NameGetDatum(&actor);
	mk_spi_execute_plan(receipt_plan, args, nulls, false, 0, SPI_OK_INSERT, "purchase receipt insert");

	mk_spi_plan(&received_plan,
				"UPDATE mekatek.purchase_order_line SET qty_received = qty_received + $3"
				" WHERE po_id = $1 AND line_no = $2",
				3, received_types);
	args[2] = Int32GetDatum(qty);
	mk_spi_execute_plan(received_plan, args, NULL, false, 0, SPI_OK_UPDATE, "purchase line update");

	mk_spi_plan(&status_plan,
				"UPDATE mekatek.purchase_order o SET status = CASE WHEN"
				"       (SELECT bool_and(l.qty_received >= l.qty_ordered) FROM mekatek.purchase_order_line l"
				"         WHERE l.po_id = o.po_id) THEN 'received' ELSE 'partly_received' END"
				" WHERE o.po_id = $1",
				1, line_types);
	mk_spi_execute_plan(status_plan, args, NULL, false, 0, SPI_OK_UPDATE, "purchase order update");
	SPI_finish();
	PG_RETURN_INT64(batch_id);
}

/* May an order go from one status to another? */
static bool
po_transition_ok(const char *from, const char *to)
{
	static const char *const allowed[][2] = {
		{"draft", "ordered"}, {"draft", "cancelled"},
		{"ordered", "partly_received"}, {"ordered", "received"}, {"ordered", "cancelled"},
		{"partly_received", "received"}, {"partly_received", "cancelled"},
	};

	if (strcmp(from, to) == 0)
		return strcmp(from, "received") != 0 && strcmp(from, "cancelled") != 0;
	for (int i = 0; i < (int) lengthof(allowed); i++)
		if (strcmp(allowed[i][0], from) == 0 && strcmp(allowed[i][1], to) == 0)
			return true;
	return false;
}

static HeapTuple
guard_order(TriggerData *td)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	int			a_status = mk_trigger_column(td, "status", TEXTOID, true);
	bool		isnull;
	char	   *from = TextDatumGetCString(heap_getattr(td->tg_trigtuple, a_status, desc, &isnull));
	char	   *to = TextDatumGetCString(heap_getattr(td->tg_newtuple, a_status, desc, &isnull));
	int64		po_id = DatumGetInt64(heap_getattr(td->tg_trigtuple, mk_trigger_column(td, "po_id", INT8OID, true),
												   desc, &isnull));

	if (!po_transition_ok(from, to))
		mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
				 "An order goes draft -> ordered -> partly_received -> received, or to cancelled before it is received.",
				 "purchase order " INT64_FORMAT " cannot go from %s to %s", po_id, from, to);
	if (strcmp(from, "draft") == 0 && strcmp(to, "ordered") == 0)
	{
		static const Oid types[] = {INT8OID};
		Datum		args[1] = {Int64GetDatum(po_id)};
		int			col = mk_trigger_column(td, "ordered_at", TIMESTAMPTZOID, false);
		Datum		now = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
		bool		null = false;
		int64		lines;

		SPI_connect();
		mk_spi_plan(&po_lines_plan, "SELECT count(*) FROM mekatek.purchase_order_line WHERE po_id = $1", 1, types);
		mk_spi_execute_plan(po_lines_plan, args, NULL, true, 1, SPI_OK_SELECT, "purchase line count");
		lines = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		SPI_finish();
		if (lines == 0)
			mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, "Add lines to the draft first.",
					 "purchase order " INT64_FORMAT " has no lines and cannot be ordered", po_id);
		return heap_modify_tuple_by_cols(td->tg_newtuple, desc, 1, &col, &now, &null);
	}
	return td->tg_newtuple;
}

static HeapTuple
guard_line(TriggerData *td)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	HeapTuple	row = td->tg_trigtuple;	/* the new row of an INSERT, else the old */
	bool		isnull;
	int64		po_id = DatumGetInt64(heap_getattr(row, mk_trigger_column(td, "po_id", INT8OID, true), desc, &isnull));
	static const Oid types[] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(po_id)};
	char	   *status;

	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		/* a delivery (receive_purchase) changes qty_received only */
		bool		same = true;
		static const char *const fixed[] = {"po_id", "line_no", "product_id", "qty_ordered", "unit_cost"};

		for (int i = 0; i < (int) lengthof(fixed) && same; i++)
		{
			int			att = SPI_fnumber(desc, fixed[i]);
			bool		n1, n2;
			Datum		d1 = heap_getattr(td->tg_trigtuple, att, desc, &n1);
			Datum		d2 = heap_getattr(td->tg_newtuple, att, desc, &n2);
			Form_pg_attribute a = TupleDescAttr(desc, att - 1);

			same = n1 == n2 && (n1 || datumIsEqual(d1, d2, a->attbyval, a->attlen));
		}
		if (same)
			return td->tg_newtuple;
	}
	SPI_connect();
	mk_spi_plan(&po_status_plan, "SELECT status FROM mekatek.purchase_order WHERE po_id = $1", 1, types);
	mk_spi_execute_plan(po_status_plan, args, NULL, true, 1, SPI_OK_SELECT, "purchase order lookup");
	status = SPI_processed ? SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) : NULL;
	if (status && strcmp(status, "draft") != 0)
		mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, "Lines change only while the order is a draft.",
				 "purchase order " INT64_FORMAT " is %s", po_id, status);
	SPI_finish();
	return TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
}

Datum
pos_purchase_guard_trg(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const char *table;

	mk_trigger_on(fcinfo, "pos_purchase_guard_trg", true, MK_ON_INSERT | MK_ON_UPDATE | MK_ON_DELETE, NULL);
	table = RelationGetRelationName(td->tg_relation);
	if (strcmp(table, "purchase_order") == 0 && TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		return PointerGetDatum(guard_order(td));
	if (strcmp(table, "purchase_order_line") == 0)
		return PointerGetDatum(guard_line(td));
	mk_error(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED, NULL,
			 "pos_purchase_guard_trg fires on mekatek.purchase_order (UPDATE) and purchase_order_line, not on %s",
			 table);
	return (Datum) 0;
}
