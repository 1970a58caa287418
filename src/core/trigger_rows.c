/*
 * trigger_rows.c: what Mekatek's C trigger functions share: checks that a
 * trigger is declared as its function expects (so a function attached to
 * the wrong table or event errors instead of misreading a datum), and a
 * reader for the rows of a statement-level trigger's transition table.
 */
#include "core/mekatek.h"

#include "access/tupdesc.h"
#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"

void
mk_trigger_check(FunctionCallInfo fcinfo, const char *funcname,
				 bool after, bool insert_only)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		mk_error(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED, NULL,
				 "function \"%s\" was not called by the trigger manager", funcname);
	if (!TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		(after ? !TRIGGER_FIRED_AFTER(td->tg_event) : !TRIGGER_FIRED_BEFORE(td->tg_event)) ||
		(insert_only && !TRIGGER_FIRED_BY_INSERT(td->tg_event)))
		mk_error(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
				 "See the CREATE TRIGGER statements in the module's src/<module>/<module>.sql.",
				 "function \"%s\" must be fired %s %s FOR EACH ROW", funcname,
				 after ? "AFTER" : "BEFORE", insert_only ? "INSERT" : "INSERT OR UPDATE");
}

void
mk_trigger_on(FunctionCallInfo fcinfo, const char *funcname, bool row, uint32 events,
			  const char *table)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		mk_error(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED, NULL,
				 "function \"%s\" was not called by the trigger manager", funcname);
	if (table != NULL &&
		(strcmp(RelationGetRelationName(td->tg_relation), table) != 0 ||
		 RelationGetNamespace(td->tg_relation) != get_namespace_oid("mekatek", false)))
		mk_error(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED, NULL,
				 "%s fires only on mekatek.%s, not on %s", funcname, table,
				 RelationGetRelationName(td->tg_relation));
	if ((TRIGGER_FIRED_FOR_ROW(td->tg_event) != 0) != row ||
		(events & (1u << (td->tg_event & TRIGGER_EVENT_OPMASK))) == 0)
		mk_error(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
				 "See the CREATE TRIGGER statements in the module's src/<module>/<module>.sql.",
				 "%s fired for the wrong event", funcname);
}

AttrNumber
mk_trigger_column(TriggerData *td, const char *name, Oid type, bool not_null)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	int			attnum = SPI_fnumber(desc, name);
	Form_pg_attribute att;

	if (attnum <= 0)
		mk_error(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED, NULL,
				 "trigger \"%s\": table \"%s\" has no column \"%s\"",
				 td->tg_trigger->tgname, RelationGetRelationName(td->tg_relation), name);
	att = TupleDescAttr(desc, attnum - 1);
	if (att->atttypid != type || (not_null && !att->attnotnull))
		mk_error(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
				 "See the CREATE TABLE and CREATE TRIGGER statements in the module's src/<module>/<module>.sql.",
				 "trigger \"%s\": column \"%s\" of table \"%s\" must be %s%s",
				 td->tg_trigger->tgname, name, RelationGetRelationName(td->tg_relation),
				 format_type_be(type), not_null ? " NOT NULL" : "");
	return (AttrNumber) attnum;
}

bool
mk_transition_open(MkTransition *t, FunctionCallInfo fcinfo, const char *funcname)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(td->tg_event) || !TRIGGER_FIRED_BY_INSERT(td->tg_event) ||
		td->tg_trigger->tgnewtable == NULL)
		mk_error(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
				 "See the CREATE TRIGGER statements in the module's src/<module>/<module>.sql.",
				 "function \"%s\" must be fired AFTER INSERT FOR EACH STATEMENT "
				 "REFERENCING NEW TABLE", funcname);
	if (td->tg_newtable == NULL)
		return false;			/* no row inserted */
	t->store = td->tg_newtable;
	t->readptr = tuplestore_alloc_read_pointer(t->store, EXEC_FLAG_REWIND);
	t->slot = MakeSingleTupleTableSlot(RelationGetDescr(td->tg_relation), &TTSOpsMinimalTuple);
	return true;
}

void
mk_transition_rewind(MkTransition *t)
{
	tuplestore_select_read_pointer(t->store, t->readptr);
	tuplestore_rescan(t->store);
}

bool
mk_transition_next(MkTransition *t)
{
	MemoryContext old;
	bool		found;

	CHECK_FOR_INTERRUPTS();
	/* Other readers (SPI queries) may have moved the active pointer. */
	tuplestore_select_read_pointer(t->store, t->readptr);

	/*
	 * A transition table larger than work_mem is read back from its file
	 * into a chunk palloc'd in the current context, which the slot frees on
	 * the next store: keep it in the slot's own context, so that a caller
	 * that reads inside SPI_connect() and closes after SPI_finish() never
	 * frees a chunk of a deleted context.
	 */
	old = MemoryContextSwitchTo(t->slot->tts_mcxt);
	found = tuplestore_gettupleslot(t->store, true, false, t->slot);
	MemoryContextSwitchTo(old);
	return found;
}

void
mk_transition_close(MkTransition *t)
{
	ExecDropSingleTupleTableSlot(t->slot);
	tuplestore_select_read_pointer(t->store, 0);
}
