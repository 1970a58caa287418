/*
 * orders.c: the life of an agent order (geo_order_trg).
 *
 *   placed -> confirmed -> delivered
 *   placed or confirmed -> cancelled: the order's units go back to the
 *                          agent's stock in the same statement
 *
 * BEFORE INSERT: a reseller's own login (reseller.login_role) orders only
 * for itself; an admin for anyone (check_own_order).  BEFORE UPDATE: only those transitions,
 * and a reseller's login may only cancel its own orders.  The row lock of
 * the UPDATE serialises two cancellations of one order: the second sees
 * the order cancelled and is refused, so the units come back once.
 */
#include "core/mekatek.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(geo_order_trg);

static SPIPlanPtr reseller_plan;
static SPIPlanPtr return_plan;
static SPIPlanPtr login_plan;

static const char *const order_moves[][2] = {
	{"placed", "confirmed"}, {"placed", "cancelled"},
	{"confirmed", "delivered"}, {"confirmed", "cancelled"},
};

/* The login of a reseller (NULL when it has none).  Inside SPI. */
static char *
reseller_login(int64 reseller_id)
{
	static const Oid types[] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(reseller_id)};

	mk_spi_plan(&reseller_plan, "SELECT login_role FROM mekatek.reseller WHERE reseller_id = $1", 1, types);
	mk_spi_execute_plan(reseller_plan, args, NULL, true, 1, SPI_OK_SELECT, "reseller lookup");
	if (SPI_processed == 0)
		mk_error(ERRCODE_FOREIGN_KEY_VIOLATION, NULL, "reseller " INT64_FORMAT " does not exist", reseller_id);
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * A reseller's login acts only for its reseller.  A reseller without a
 * login is served, as in 0.1.0, by any cashier account that is not
 * another reseller's login (a shop's shared ordering app).
 */
static void
check_own_order(int64 reseller_id, const char *what)
{
	static const Oid types[] = {NAMEOID};
	char	   *login;
	NameData	me;
	Datum		args[1];

	if (mk_acting_is_admin())
		return;
	login = reseller_login(reseller_id);
	namestrcpy(&me, mk_acting_role());
	if (login == NULL)
	{
		args[0] = NameGetDatum(&me);
		mk_spi_plan(&login_plan, "SELECT FROM mekatek.reseller WHERE login_role = $1", 1, types);
		mk_spi_execute_plan(login_plan, args, NULL, true, 1, SPI_OK_SELECT, "reseller login lookup");
		if (SPI_processed == 0)
			return;
	}
	if (login == NULL || strcmp(login, NameStr(me)) != 0)
		mk_error(ERRCODE_INSUFFICIENT_PRIVILEGE,
				 "A reseller's login (mekatek.reseller.login_role) orders for itself; an admin for anyone.",
				 "permission denied to %s for reseller " INT64_FORMAT, what, reseller_id);
}

Datum
geo_order_trg(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	bool		isnull;
	int			a_status, a_reseller;
	char	   *from, *to;
	int64		order_id, reseller_id;
	bool		ok = false;

	mk_trigger_on(fcinfo, "geo_order_trg", true, MK_ON_INSERT | MK_ON_UPDATE, "agent_order");
	desc = RelationGetDescr(td->tg_relation);
	a_status = mk_trigger_column(td, "status", TEXTOID, true);
	a_reseller = mk_trigger_column(td, "reseller_id", INT8OID, true);

	SPI_connect();
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		reseller_id = DatumGetInt64(heap_getattr(td->tg_trigtuple, a_reseller, desc, &isnull));
		check_own_order(reseller_id, "order");
		to = TextDatumGetCString(heap_getattr(td->tg_trigtuple, a_status, desc, &isnull));
		if (strcmp(to, "placed") != 0)
			mk_error(ERRCODE_CHECK_VIOLATION, "Place the order first (mekatek.agent_place_order).",
					 "a new agent order is placed, not %s", mk_quote_short(to));
		SPI_finish();
		return PointerGetDatum(td->tg_trigtuple);
	}

	order_id = DatumGetInt64(heap_getattr(td->tg_trigtuple, mk_trigger_column(td, "order_id", INT8OID, true),
										  desc, &isnull));
	reseller_id = DatumGetInt64(heap_getattr(td->tg_trigtuple, a_reseller, desc, &isnull));
	from = TextDatumGetCString(heap_getattr(td->tg_trigtuple, a_status, desc, &isnull));
	to = TextDatumGetCString(heap_getattr(td->tg_newtuple, a_status, desc, &isnull));
	{
		/* nothing but the status changes after an order is placed */
		HeapTuple	probe = heap_copytuple(td->tg_newtuple);
		int			col = a_status;
		Datum		old_status = heap_getattr(td->tg_trigtuple, a_status, desc, &isnull);
		bool		null = false;

		probe = heap_modify_tuple_by_cols(probe, desc, 1, &col, &old_status, &null);
		for (int att = 1; att <= desc->natts; att++)
		{
			Form_pg_attribute a = TupleDescAttr(desc, att - 1);
			bool		n1, n2;
			Datum		d1, d2;

			if (a->attisdropped)
				continue;
			d1 = heap_getattr(td->tg_trigtuple, att, desc, &n1);
			d2 = heap_getattr(probe, att, desc, &n2);
			if (n1 != n2 || (!n1 && !datumIsEqual(d1, d2, a->attbyval, a->attlen)))
				mk_error(ERRCODE_CHECK_VIOLATION, "Cancel the order and place a new one.",
						 "agent order " INT64_FORMAT ": only its status may change, not %s",
						 order_id, NameStr(a->attname));
		}
	}
	if (strcmp(from, to) == 0 && (strcmp(from, "cancelled") == 0 || strcmp(from, "delivered") == 0))
		mk_error(ERRCODE_CHECK_VIOLATION, NULL, "agent order " INT64_FORMAT " is already %s", order_id, from);
	if (strcmp(from, to) == 0)
	{
		/* an UPDATE that leaves an open order as it was */
		SPI_finish();
		return PointerGetDatum(td->tg_newtuple);
	}
	for (int i = 0; i < (int) lengthof(order_moves); i++)
		ok |= strcmp(order_moves[i][0], from) == 0 && strcmp(order_moves[i][1], to) == 0;
	if (!ok)
		mk_error(ERRCODE_CHECK_VIOLATION,
				 "An order goes placed -> confirmed -> delivered, or to cancelled before it is delivered.",
				 "agent order " INT64_FORMAT " cannot go from %s to %s", order_id, from, mk_quote_short(to));
	if (strcmp(to, "cancelled") == 0)
	{
		static const Oid types[] = {INT8OID, INT4OID};
		Datum		args[2];

		check_own_order(reseller_id, "cancel an order");
		args[0] = heap_getattr(td->tg_trigtuple, mk_trigger_column(td, "agent_id", INT8OID, true), desc, &isnull);
		args[1] = heap_getattr(td->tg_trigtuple, mk_trigger_column(td, "qty", INT4OID, true), desc, &isnull);
		mk_spi_plan(&return_plan, "UPDATE mekatek.agent SET stock = stock + $2 WHERE agent_id = $1", 2, types);
		mk_spi_execute_plan(return_plan, args, NULL, false, 0, SPI_OK_UPDATE, "agent stock return");
	}
	else if (!mk_acting_is_admin())
		mk_error(ERRCODE_INSUFFICIENT_PRIVILEGE, "Agents' confirmations and deliveries are recorded by an admin.",
				 "permission denied to mark agent order " INT64_FORMAT " %s", order_id, to);
	SPI_finish();
	return PointerGetDatum(td->tg_newtuple);
}
