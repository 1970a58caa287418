/*
 * outbox_prune.c: mekatek.outbox_prune and its setting mekatek.outbox_keep.
 *
 * Delivered messages are kept for mekatek.outbox_keep, then deleted; an
 * undelivered one is never deleted, however old (a deliverer that is down
 * for a month still finds its backlog).  Nothing reads a delivered row
 * back: the ledger answers a replayed message from ledger_message.reply,
 * and every reader of the outbox (outbox_claim, the ledger's NOTIFY rule)
 * looks at undelivered rows only.
 *
 * One DELETE, not a loop of bounded ones: the function runs in one
 * transaction, so batches would not release a lock or a byte of WAL
 * sooner; without an index on delivered_at each batch would scan the
 * table again (and an index would cost every delivery an insert); the
 * executor checks for interrupts on every row, so a cancel stops it.
 * Schedule it daily (pg_cron) and a run deletes a day's deliveries.
 *
 * A C function rather than SQL so that calling it loads the library, and
 * with it the setting's definition and checks, in any session.
 */
#include "core/mekatek.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

/*
 * An integer of seconds with a time unit, as PostgreSQL's own durations
 * (log_rotation_age, idle_session_timeout): '30d', '12h', '90min' are
 * accepted, SHOW prints '30d', and that text is also an interval.
 */
static int	mk_outbox_keep = 30 * SECS_PER_DAY;

void
mk_outbox_prune_init(void)
{
	DefineCustomIntVariable("mekatek.outbox_keep",
							"How long delivered outbox messages are kept before mekatek.outbox_prune() deletes them.",
							"Undelivered messages are never deleted.",
							&mk_outbox_keep, 30 * SECS_PER_DAY, 1, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
}

PG_FUNCTION_INFO_V1(mk_outbox_prune);
Datum
mk_outbox_prune(PG_FUNCTION_ARGS)
{
	Interval   *keep;
	Datum		arg;
	Oid			type = INTERVALOID;
	uint64		deleted;

	if (PG_ARGISNULL(0))
	{
		keep = palloc0(sizeof(Interval));
		keep->time = (TimeOffset) mk_outbox_keep * USECS_PER_SEC;
	}
	else
	{
		keep = PG_GETARG_INTERVAL_P(0);

		/*
		 * Every field positive or zero and the whole positive: a mixed
		 * '1 mon -29 days' has no sign of its own (a month is not a fixed
		 * number of days), and zero would delete what was delivered a
		 * moment ago, which is what a typo looks like.
		 */
		if (keep->month < 0 || keep->day < 0 || keep->time < 0 ||
			(keep->month == 0 && keep->day == 0 && keep->time == 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"keep\" must be a positive interval, not \"%s\"",
							mk_quote_short(DatumGetCString(DirectFunctionCall1(interval_out,
																			   IntervalPGetDatum(keep))))),
					 errhint("Pass NULL to keep delivered messages for mekatek.outbox_keep (%s).",
							 GetConfigOptionByName("mekatek.outbox_keep", NULL, false))));
	}

	arg = IntervalPGetDatum(keep);
	SPI_connect();
	deleted = mk_spi_execute("DELETE FROM mekatek.outbox"
							 " WHERE delivered_at OPERATOR(pg_catalog.<)"
							 " (pg_catalog.now() OPERATOR(pg_catalog.-) $1)",
							 1, &type, &arg, NULL, false, 0, SPI_OK_DELETE, "outbox_prune");
	SPI_finish();
	PG_RETURN_INT64((int64) deleted);
}
