/*
 * staff.c: who may sell at a branch, with this module's errors.
 *
 * Row-level security on sale already refuses a cashier's sale at another
 * branch, but with PostgreSQL's bare "new row violates row-level security
 * policy".  checkout() and the BEFORE INSERT trigger on sale (for sales
 * built by hand) check first and say what is wrong and how to fix it.
 * Admins (and superusers) sell anywhere.
 */
#include "pos/pos.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(pos_sale_insert_trg);

static SPIPlanPtr staff_plan;

bool		pos_checkout_staff_checked = false;

void
pos_staff_check(int32 branch_id, bool on_staff, bool no_branch, int32 staff_branch)
{
	const char *who;

	if (mk_acting_is_admin())
		return;
	who = GetUserNameFromId(GetUserId(), false);
	if (!on_staff)
		mk_error(ERRCODE_INSUFFICIENT_PRIVILEGE,
				 "An admin adds the login to mekatek.staff with its branch; a web app runs SET LOCAL ROLE <cashier> first.",
				 "\"%s\" is not on the staff of any branch and cannot sell", mk_quote_short(who));
	if (no_branch || staff_branch != branch_id)
		mk_error(ERRCODE_INSUFFICIENT_PRIVILEGE,
				 "A cashier sells only at the branch of its row in mekatek.staff.",
				 "\"%s\" works at %s, not at branch %d", mk_quote_short(who),
				 no_branch ? "no branch" : psprintf("branch %d", staff_branch), branch_id);
}

/* BEFORE INSERT ON sale FOR EACH ROW: the staff check of a sale built by hand. */
Datum
pos_sale_insert_trg(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	static const Oid types[] = {INT4OID};
	Datum		args[1];
	bool		isnull, no_branch;
	int32		branch_id, staff_branch;
	bool		on_staff;

	mk_trigger_on(fcinfo, "pos_sale_insert_trg", true, MK_ON_INSERT, "sale");
	if (pos_checkout_staff_checked || mk_acting_is_admin())
		return PointerGetDatum(td->tg_trigtuple);
	branch_id = DatumGetInt32(heap_getattr(td->tg_trigtuple, mk_trigger_column(td, "branch_id", INT4OID, true),
										   RelationGetDescr(td->tg_relation), &isnull));
	SPI_connect();
	/* as the inserting role: staff's row security shows it its own row */
	mk_spi_plan(&staff_plan,
				"SELECT st.branch_id, true FROM mekatek.staff st WHERE st.role_name OPERATOR(pg_catalog.=) CURRENT_USER",
				0, types);
	args[0] = (Datum) 0;
	on_staff = mk_spi_execute_plan(staff_plan, args, NULL, true, 1, SPI_OK_SELECT, "staff lookup") == 1;
	staff_branch = on_staff ? DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &no_branch)) : 0;
	if (!on_staff)
		no_branch = true;
	SPI_finish();
	pos_staff_check(branch_id, on_staff, no_branch, staff_branch);
	return PointerGetDatum(td->tg_trigtuple);
}
