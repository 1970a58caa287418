/*
 * audit.c: the audit trail and the append-only guard.
 *
 * pos_audit_trg writes who (the acting role, not the SECURITY DEFINER
 * owner), when, and the old and new rows as jsonb.  audit_log and the stock
 * ledger refuse UPDATE, DELETE and TRUNCATE through pos_append_only_trg,
 * which holds even for the table owner; no role is granted those
 * privileges either.
 */
#include "pos/pos.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/json.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(pos_audit_trg);
PG_FUNCTION_INFO_V1(pos_append_only_trg);

static SPIPlanPtr audit_plan;

static Datum
row_jsonb(HeapTuple tuple, TupleDesc desc)
{
	Datum		composite = heap_copy_tuple_as_datum(tuple, desc);
	Datum		json = DirectFunctionCall1(row_to_json, composite);

	return DirectFunctionCall1(jsonb_in, CStringGetDatum(TextDatumGetCString(json)));
}

Datum
pos_audit_trg(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	static const Oid types[] = {NAMEOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, JSONBOID};
	Datum		args[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	HeapTuple	key_row;
	NameData	actor;
	const char *op;

	mk_trigger_on(fcinfo, "pos_audit_trg", true, MK_ON_INSERT | MK_ON_UPDATE | MK_ON_DELETE, NULL);
	if (!TRIGGER_FIRED_AFTER(td->tg_event))
		mk_error(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED, NULL,
				 "pos_audit_trg must fire AFTER ... FOR EACH ROW");
	desc = RelationGetDescr(td->tg_relation);

	/* Trigger arguments (column, value, value...) select the rows to audit. */
	if (td->tg_trigger->tgnargs >= 2)
	{
		HeapTuple	row = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
		int			col = SPI_fnumber(desc, td->tg_trigger->tgargs[0]);
		char	   *value;
		bool		wanted = false;

		if (col <= 0)
			mk_error(ERRCODE_UNDEFINED_COLUMN, NULL, "pos_audit_trg: no column \"%s\" in %s",
					 td->tg_trigger->tgargs[0], RelationGetRelationName(td->tg_relation));
		value = SPI_getvalue(row, desc, col);
		for (int i = 1; value && i < td->tg_trigger->tgnargs && !wanted; i++)
			wanted = strcmp(value, td->tg_trigger->tgargs[i]) == 0;
		if (!wanted)
			return PointerGetDatum(NULL);
	}

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		op = "INSERT";
		nulls[4] = 'n';
		args[5] = row_jsonb(td->tg_trigtuple, desc);
		key_row = td->tg_trigtuple;
	}
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
	{
		op = "DELETE";
		args[4] = row_jsonb(td->tg_trigtuple, desc);
		nulls[5] = 'n';
		key_row = td->tg_trigtuple;
	}
	else
	{
		op = "UPDATE";
		args[4] = row_jsonb(td->tg_trigtuple, desc);
		args[5] = row_jsonb(td->tg_newtuple, desc);
		key_row = td->tg_newtuple;
		/* an UPDATE that changes nothing is not worth a line */
		if (DatumGetBool(DirectFunctionCall2(jsonb_eq, args[4], args[5])))
			return PointerGetDatum(NULL);
	}

	namestrcpy(&actor, mk_acting_role());
	args[0] = NameGetDatum(&actor);
	args[1] = CStringGetTextDatum(RelationGetRelationName(td->tg_relation));
	args[2] = CStringGetTextDatum(op);
	/* the first column is the table's identity key */
	args[3] = CStringGetTextDatum(SPI_getvalue(key_row, desc, 1));

	SPI_connect();
	mk_spi_plan(&audit_plan,
				"INSERT INTO mekatek.audit_log (actor, table_name, op, row_key, old, new)"
				" VALUES ($1, $2, $3, $4, $5, $6)",
				6, types);
	mk_spi_execute_plan(audit_plan, args, nulls, false, 0, SPI_OK_INSERT, "audit insert");
	SPI_finish();
	return PointerGetDatum(NULL);
}

Datum
pos_append_only_trg(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const char *op;

	if (!CALLED_AS_TRIGGER(fcinfo))
		mk_trigger_on(fcinfo, "pos_append_only_trg", true, 0, NULL);
	op = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? "UPDATE" :
		TRIGGER_FIRED_BY_DELETE(td->tg_event) ? "DELETE" : "TRUNCATE";
	mk_error(ERRCODE_INSUFFICIENT_PRIVILEGE,
			 strcmp(RelationGetRelationName(td->tg_relation), "sale_line") == 0 ?
			 "Void the sale instead; its stock returns through the ledger." :
			 "Record a correcting entry instead.",
			 "%s on %s is not allowed: it is append-only",
			 op, RelationGetRelationName(td->tg_relation));
	return PointerGetDatum(NULL);
}
