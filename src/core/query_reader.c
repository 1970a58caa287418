/*
 * query_reader.c: rows of a query a user gave as text, read in batches.
 *
 * Mining and clustering functions take their input as query text (as
 * MADlib and aws_s3 do).  That text runs with the caller's rights (these
 * functions are never SECURITY DEFINER) and read-only: a data-modifying
 * statement is refused before it runs, and while the query executes the
 * transaction is marked read-only, so a volatile function it calls cannot
 * write either (the executor refuses writes to non-temporary tables,
 * nextval() and the like refuse too).  Rows arrive through a cursor, a
 * batch at a time, so the caller's memory holds one batch, never the
 * result.
 */
#include "core/mekatek.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/plancache.h"

static void
refuse_modifying(SPIPlanPtr plan, const MkQueryReader *r)
{
	ListCell   *lc;

	foreach(lc, SPI_plan_get_plan_sources(plan))
	{
		CachedPlanSource *ps = lfirst(lc);
		ListCell   *lq;

		foreach(lq, ps->query_list)
		{
			Query	   *q = lfirst_node(Query, lq);

			if (q->commandType != CMD_SELECT || q->hasModifyingCTE || q->rowMarks != NIL)
				mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
						 "The query is only read; run any data change separately.",
						 "argument \"%s\" must not modify or lock data: %s",
						 r->argname, mk_quote_short(r->query));
		}
	}
}

/* Open the cursor (batch 0) or fetch from it with the transaction read-only. */
static void
with_read_only(MkQueryReader *r, long batch)
{
	bool		save = XactReadOnly;

	XactReadOnly = true;
	PG_TRY();
	{
		if (batch == 0)
			r->portal = SPI_cursor_open(NULL, r->plan, NULL, NULL, true);
		else
			SPI_cursor_fetch(r->portal, true, batch);
	}
	PG_FINALLY();
	{
		XactReadOnly = save;
	}
	PG_END_TRY();
}

void
mk_query_open(MkQueryReader *r, const char *query, const char *argname, const char *hint)
{
	SPIPlanPtr	plan;

	r->query = query;
	r->argname = argname;
	plan = SPI_prepare(query, 0, NULL);
	if (plan == NULL)
		mk_error(ERRCODE_INTERNAL_ERROR, NULL, "preparing argument \"%s\" failed: %s",
				 argname, SPI_result_code_string(SPI_result));
	if (!SPI_is_cursor_plan(plan))
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, hint,
				 "argument \"%s\" must be a query that returns rows: %s",
				 argname, mk_quote_short(query));
	refuse_modifying(plan, r);
	r->plan = plan;
	r->batch = NULL;
	with_read_only(r, 0);
	r->desc = r->portal->tupDesc;
}

SPITupleTable *
mk_query_fetch(MkQueryReader *r, long batch)
{
	CHECK_FOR_INTERRUPTS();
	if (r->batch)
		SPI_freetuptable(r->batch);
	r->batch = NULL;
	with_read_only(r, batch);
	if (SPI_processed == 0)
		return NULL;
	r->batch = SPI_tuptable;
	r->nrows = SPI_processed;
	return r->batch;
}

void
mk_query_close(MkQueryReader *r)
{
	if (r->batch)
		SPI_freetuptable(r->batch);
	r->batch = NULL;
	SPI_cursor_close(r->portal);
	SPI_freeplan(r->plan);
	r->portal = NULL;
	r->plan = NULL;
}
