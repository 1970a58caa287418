/*
 * spi.c: the SPI calls every module makes, with the convention's errors.
 *
 * An SPI call that returns something other than what its caller expects is
 * a bug of ours or a catalogue that changed under us, never a user's
 * mistake: the helpers raise XX000 with what was being done, so the
 * dozens of call sites need no error branch of their own.
 */
#include "core/mekatek.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "executor/spi.h"
#include "utils/guc.h"

static void
spi_failed(const char *what, int rc, int expect)
{
	mk_error(ERRCODE_INTERNAL_ERROR, NULL,
			 "%s failed: SPI returned %s, expected %s", what,
			 SPI_result_code_string(rc), SPI_result_code_string(expect));
}

/*
 * As fmgr_security_definer applies a function's SET clause: a GUC nest
 * level, restored by mk_spi_pin_end or by the abort of the (sub)transaction.
 * Returns 0 when the path is already ours (a nested call, a function with
 * the same SET clause): no save, no restore, and the plan cache sees one
 * path throughout.  A parallel worker cannot set GUCs; it runs only the
 * read-only statements of parallel-safe functions, planned by the leader.
 */
int
mk_spi_pin_begin(void)
{
	int			level;

	if (IsInParallelMode() ||
		(namespace_search_path != NULL && strcmp(namespace_search_path, MK_SEARCH_PATH) == 0))
		return 0;
	level = NewGUCNestLevel();
	(void) set_config_option("search_path", MK_SEARCH_PATH, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return level;
}

void
mk_spi_pin_end(int level)
{
	if (level > 0)
		AtEOXact_GUC(true, level);
}

SPIPlanPtr
mk_spi_prepare(const char *sql, int nargs, const Oid *argtypes, const char *what)
{
	int			pin = mk_spi_pin_begin();
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, (Oid *) argtypes);

	mk_spi_pin_end(pin);
	if (plan == NULL)
		spi_failed(what, SPI_result, SPI_OK_SELECT);
	return plan;
}

SPIPlanPtr
mk_spi_plan(SPIPlanPtr *slot, const char *sql, int nargs, const Oid *argtypes)
{
	if (*slot == NULL)
	{
		/*
		 * Generic plans: these are short OLTP statements on keys, and a
		 * custom plan per call would replan every time for statements
		 * whose parameters are arrays (unnest($1) looks cheaper with the
		 * real array than the generic 100-row guess).
		 */
		int			pin = mk_spi_pin_begin();
		SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, (Oid *) argtypes,
											  CURSOR_OPT_GENERIC_PLAN);

		mk_spi_pin_end(pin);
		if (plan == NULL)
			spi_failed("preparing a kept plan", SPI_result, SPI_OK_SELECT);
		if (SPI_keepplan(plan) != 0)
			spi_failed("keeping a plan", SPI_ERROR_ARGUMENT, SPI_OK_SELECT);
		*slot = plan;
	}
	return *slot;
}

uint64
mk_spi_execute_plan(SPIPlanPtr plan, Datum *values, const char *nulls,
					bool read_only, long count, int expect, const char *what)
{
	int			pin = mk_spi_pin_begin();
	int			rc = SPI_execute_plan(plan, values, nulls, read_only, count);

	mk_spi_pin_end(pin);
	if (rc != expect)
		spi_failed(what, rc, expect);
	return SPI_processed;
}

uint64
mk_spi_execute(const char *sql, int nargs, const Oid *argtypes, Datum *values,
			   const char *nulls, bool read_only, long count, int expect, const char *what)
{
	int			pin = mk_spi_pin_begin();
	int			rc = SPI_execute_with_args(sql, nargs, (Oid *) argtypes, values, nulls,
										   read_only, count);

	mk_spi_pin_end(pin);
	if (rc != expect)
		spi_failed(what, rc, expect);
	return SPI_processed;
}
