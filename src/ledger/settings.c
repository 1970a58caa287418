/*
 * settings.c: the ledger's initialiser and its one setting.
 */
#include "ledger/ledger.h"

#include "utils/builtins.h"
#include "utils/guc.h"

char	   *mk_ledger_tz = NULL;

/*
 * The ledger's day is the seller's (Asia/Jakarta for the paper's sellers),
 * never the session's: a settlement at 23:30 WIB belongs to that day
 * whatever TimeZone the bot's connection has.
 */
static bool
check_ledger_tz(char **newval, void **extra, GucSource source)
{
	if (pg_tzset(*newval) == NULL)
	{
		GUC_check_errdetail("\"%s\" is not a time zone known to this server.", *newval);
		return false;
	}
	return true;
}

void
mk_ledger_init(void)
{
	DefineCustomStringVariable("mekatek.ledger_timezone",
							   "Time zone of the ledger's days and periods.",
							   "Settlement days, report periods and ageing are counted in it.",
							   &mk_ledger_tz,
							   "Asia/Jakarta",
							   PGC_SUSET, 0,
							   check_ledger_tz, NULL, NULL);
}

PG_FUNCTION_INFO_V1(mk_ledger_timezone);
Datum
mk_ledger_timezone(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(mk_ledger_tz));
}
