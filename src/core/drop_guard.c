/*
 * drop_guard.c: DROP EXTENSION mekatek (or DROP SCHEMA mekatek) is refused
 * while the extension's tables hold rows, unless mekatek.drop_with_data is
 * on.  Dropping the extension drops its tables with it, CASCADE or not: the
 * tables are members of the extension, not objects depending on it.
 *
 * An event trigger on ddl_command_start rather than a ProcessUtility hook:
 * the hook exists only in backends that loaded the library beforehand (a
 * DBA's fresh session has not, unless it is preloaded), while the event
 * trigger loads the library itself, and it runs before anything is
 * dropped.
 */
#include "core/mekatek.h"

#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/guc.h"

static bool mk_drop_with_data = false;

void
mk_drop_guard_init(void)
{
	DefineCustomBoolVariable("mekatek.drop_with_data",
							 "Lets DROP EXTENSION mekatek drop tables that hold rows.",
							 "Off: DROP EXTENSION mekatek and DROP SCHEMA mekatek are refused while a table of the extension holds rows.",
							 &mk_drop_with_data, false, PGC_SUSET, 0,
							 NULL, NULL, NULL);
}

/* Does the statement drop the extension mekatek or the schema it lives in? */
static bool
drops_mekatek(Node *parsetree)
{
	DropStmt   *stmt;
	ListCell   *lc;

	if (parsetree == NULL || !IsA(parsetree, DropStmt))
		return false;
	stmt = (DropStmt *) parsetree;
	if (stmt->removeType != OBJECT_EXTENSION && stmt->removeType != OBJECT_SCHEMA)
		return false;
	foreach(lc, stmt->objects)
	{
		Node	   *obj = lfirst(lc);

		if (IsA(obj, String) && strcmp(strVal(obj), "mekatek") == 0)
			return true;
	}
	return false;
}

PG_FUNCTION_INFO_V1(mk_drop_guard);
Datum
mk_drop_guard(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	StringInfoData tables;
	int			n = 0;
	uint64		i;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		mk_error(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED, NULL,
				 "function \"drop_guard\" must be called as an event trigger");
	trigdata = (EventTriggerData *) fcinfo->context;
	if (mk_drop_with_data || !drops_mekatek(trigdata->parsetree))
		PG_RETURN_VOID();
	/* DROP EXTENSION IF EXISTS of an extension that is not there. */
	if (!OidIsValid(get_extension_oid("mekatek", true)))
		PG_RETURN_VOID();

	/*
	 * The tables pg_dump writes (every table but those the install fills
	 * alone); backup_config is left out: its one row exists from the
	 * install on, and it holds a policy, not business data.
	 */
	SPI_connect();
	/* Names qualified by hand: our SQL runs with mekatek on the search_path. */
	mk_spi_execute("SELECT format('SELECT EXISTS (SELECT FROM %I.%I)', n.nspname, c.relname),"
				   "       format('%I.%I', n.nspname, c.relname)"
				   "  FROM pg_catalog.pg_extension e, pg_catalog.unnest(e.extconfig) x(oid)"
				   "  JOIN pg_catalog.pg_class c ON c.oid = x.oid"
				   "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
				   " WHERE e.extname OPERATOR(pg_catalog.=) 'mekatek' AND c.relkind IN ('r', 'p')"
				   "   AND c.relname OPERATOR(pg_catalog.<>) 'backup_config'"
				   " ORDER BY 2",
				   0, NULL, NULL, NULL, true, 0, SPI_OK_SELECT, "drop_guard: listing the extension's tables");
	initStringInfo(&tables);
	{
		SPITupleTable *list = SPI_tuptable;
		uint64		ntables = SPI_processed;

		for (i = 0; i < ntables; i++)
		{
			char	   *probe = SPI_getvalue(list->vals[i], list->tupdesc, 1);
			char	   *name = SPI_getvalue(list->vals[i], list->tupdesc, 2);
			bool		isnull;

			CHECK_FOR_INTERRUPTS();
			mk_spi_execute(probe, 0, NULL, NULL, NULL, true, 1, SPI_OK_SELECT, "drop_guard: probing a table");
			if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
			{
				appendStringInfo(&tables, "%s%s", n > 0 ? ", " : "", name);
				n++;
			}
		}
	}
	if (n > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg_plural("cannot drop extension mekatek: %d of its tables holds rows",
							  "cannot drop extension mekatek: %d of its tables hold rows",
							  n, n),
				 errdetail("Tables with rows: %s.", tables.data),
				 errhint("Dropping the extension drops these tables with their rows, CASCADE or not. "
						 "Dump them first (pg_dump, see the README's DBA section), then SET mekatek.drop_with_data = on to drop anyway.")));
	SPI_finish();
	PG_RETURN_VOID();
}
