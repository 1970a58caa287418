/*
 * sale.c: the triggers that turn sale lines into stock movements.
 *
 *   pos_line_fill_trg   BEFORE INSERT ROW on sale_line: the sale must be
 *                       open and the product active; fills line_no,
 *                       unit_price (from the product) and amount.
 *   pos_line_stock_trg  AFTER INSERT STATEMENT on sale_line: takes the
 *                       stock of every new line from the earliest-expiring
 *                       unexpired batches (FEFO), splitting a line across
 *                       batches, and adds the amounts to sale.total.
 *   pos_sale_guard_trg  BEFORE UPDATE ROW on sale: the allowed status
 *                       changes.
 *   pos_sale_void_trg   AFTER UPDATE ROW on sale when it becomes void:
 *                       returns the quantities to their batches.
 *
 * Stock is per branch: a line takes only the batches of its sale's branch,
 * and a batch is sellable while the branch's own date (branch.time_zone)
 * is before its expiry.
 *
 * Concurrency: batches are locked (FOR UPDATE) in one global order,
 * (product_id, branch_id, expires_on, batch_id), by sales and voids alike, so sales
 * cannot deadlock on each other whatever order their lines are listed in,
 * and a batch's quantity is read after its lock is held, so stock is never
 * sold twice.  In READ COMMITTED a batch emptied by a concurrent sale drops
 * out of the locked scan (its qty_on_hand > 0 condition is re-checked).
 */
#include "pos/pos.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "lib/stringinfo.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datum.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(pos_line_fill_trg);
PG_FUNCTION_INFO_V1(pos_line_stock_trg);
PG_FUNCTION_INFO_V1(pos_sale_guard_trg);
PG_FUNCTION_INFO_V1(pos_sale_void_trg);

static SPIPlanPtr line_ctx_plan;
static SPIPlanPtr line_ctx_legacy_plan;
static SPIPlanPtr total_legacy_plan;
static SPIPlanPtr next_line_plan;
static SPIPlanPtr fefo_plan;
static SPIPlanPtr product_after_plan;
static SPIPlanPtr total_plan;
static SPIPlanPtr void_plan;
static SPIPlanPtr branch_plan;
static SPIPlanPtr legacy_fefo_plan;
static SPIPlanPtr legacy_after_plan;

PosCheckoutCapture pos_checkout_capture = {0};

/* This statement's database has per-branch stock (pos_schema_has_branches). */
static bool pos_branches = true;
static SPIPlanPtr audit_plan;
static SPIPlanPtr paid_plan;

/*
 * The checks of a line inserted by anything but checkout(): the sale is
 * visible and open, the product exists and is active, the price is the
 * product's (unless an admin overrides it).  Fills unit_price and line_no
 * when NULL.  Returns the unit price.
 */
static Datum
check_line(int64 sale_id, int64 product_id, Datum price, bool price_null, bool line_null,
		   int a_price, int a_line, int *cols, Datum *vals, int *ncols,
		   bool tax_null, int a_rate, int a_included, int32 *rate_bp, bool *included, bool till)
{
	static const Oid ctx_types[] = {INT8OID, INT8OID, INT4OID};
	Datum		args[3];
	char	   *status, *sku;
	bool		active, isnull;

	SPI_connect();
	if (!till)
		mk_spi_plan(&line_ctx_legacy_plan,
					"SELECT p.price, p.active, p.sku, s.status, $3, true"
					"  FROM mekatek.sale s LEFT JOIN mekatek.product p ON p.product_id OPERATOR(pg_catalog.=) $2"
					" WHERE s.sale_id OPERATOR(pg_catalog.=) $1",
					3, ctx_types);
	else
	mk_spi_plan(&line_ctx_plan,
				"SELECT p.price, p.active, p.sku, s.status,"
				"       coalesce((tc.rate OPERATOR(pg_catalog.*) 100)::int4, $3), b.prices_include_tax"
				"  FROM mekatek.sale s JOIN mekatek.branch b ON b.branch_id OPERATOR(pg_catalog.=) s.branch_id"
				"  LEFT JOIN mekatek.product p ON p.product_id OPERATOR(pg_catalog.=) $2"
				"  LEFT JOIN mekatek.tax_class tc ON tc.tax_class OPERATOR(pg_catalog.=) p.tax_class"
				" WHERE s.sale_id OPERATOR(pg_catalog.=) $1",
				3, ctx_types);
	args[0] = Int64GetDatum(sale_id);
	args[1] = Int64GetDatum(product_id);
	args[2] = Int32GetDatum(pos_ppn_rate_bp());
	mk_spi_execute_plan(till ? line_ctx_plan : line_ctx_legacy_plan, args, NULL, true, 1, SPI_OK_SELECT,
						"sale line lookup");
	if (SPI_processed == 0)
		mk_error(ERRCODE_FOREIGN_KEY_VIOLATION,
				 "A cashier sees only the sales of its own branch.",
				 "sale " INT64_FORMAT " does not exist", sale_id);
	status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4);
	sku = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	if (sku == NULL)
		mk_error(ERRCODE_FOREIGN_KEY_VIOLATION, NULL,
				 "product " INT64_FORMAT " does not exist", product_id);
	if (strcmp(status, "open") != 0)
		mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
				 "Start a new sale; paid and void sales are closed.",
				 "sale " INT64_FORMAT " is %s: lines can only be added to an open sale",
				 sale_id, status);
	active = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (!active)
		mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, NULL,
				 "product \"%s\" is not active", sku);

	if (tax_null)
	{
		*rate_bp = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5, &isnull));
		*included = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 6, &isnull));
		cols[*ncols] = a_rate;
		vals[(*ncols)++] = pos_cents_numeric(*rate_bp);
		cols[*ncols] = a_included;
		vals[(*ncols)++] = BoolGetDatum(*included);
	}

	if (price_null)
	{
		price = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		price = SPI_datumTransfer(price, false, -1);
		cols[*ncols] = a_price;
		vals[(*ncols)++] = price;
	}
	else
	{
		Datum		list = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, price, list)) != 0 &&
			!mk_acting_is_admin())
			mk_error(ERRCODE_INSUFFICIENT_PRIVILEGE,
				 "Leave unit_price NULL to sell at the product's price; only mekatek_admin may override it.",
					 "unit_price %s differs from the price %s of SKU \"%s\"",
					 DatumGetCString(DirectFunctionCall1(numeric_out, price)),
					 DatumGetCString(DirectFunctionCall1(numeric_out, list)), sku);
	}

	if (line_null)
	{
		static const Oid next_types[] = {INT8OID};

		mk_spi_plan(&next_line_plan,
					"SELECT coalesce(max(line_no), 0) OPERATOR(pg_catalog.+) 1 FROM mekatek.sale_line WHERE sale_id OPERATOR(pg_catalog.=) $1",
					1, next_types);
		mk_spi_execute_plan(next_line_plan, args, NULL, false, 1, SPI_OK_SELECT, "line number lookup");
		cols[*ncols] = a_line;
		vals[(*ncols)++] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	}
	SPI_finish();

	return price;
}

/*
 * BEFORE INSERT ON sale_line FOR EACH ROW.  Runs as the inserting role, so
 * the sale must be visible to it (row-level security): a cashier cannot add
 * lines to another branch's sale.
 */
Datum
pos_line_fill_trg(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	desc;
	HeapTuple	tuple;
	int			a_sale, a_line, a_product, a_qty, a_price, a_amount;
	int			a_disc = 0, a_sdisc = 0, a_rate = 0, a_included = 0, a_dpp = 0, a_ppn = 0;
	bool		isnull, price_null, line_null, rate_null = false, included_null = false, till;
	int64		sale_id, product_id;
	int32		qty, line_no, rate_bp = 0;
	bool		included = true;
	Datum		price;
	PosLineMoney m;
	int64		disc, sdisc;
	int			cols[8];
	Datum		vals[8];
	bool		nulls[8] = {false, false, false, false, false, false, false, false};
	int			ncols = 0;

	mk_trigger_on(fcinfo, "pos_line_fill_trg", true, MK_ON_INSERT, "sale_line");
	rel = td->tg_relation;
	desc = RelationGetDescr(rel);
	tuple = td->tg_trigtuple;
	a_sale = mk_trigger_column(td, "sale_id", INT8OID, true);
	a_line = mk_trigger_column(td, "line_no", INT4OID, true);
	a_product = mk_trigger_column(td, "product_id", INT8OID, true);
	a_qty = mk_trigger_column(td, "qty", INT4OID, true);
	a_price = mk_trigger_column(td, "unit_price", NUMERICOID, false);
	a_amount = mk_trigger_column(td, "amount", NUMERICOID, false);
	till = pos_till_columns(td);
	if (till)
	{
		a_disc = mk_trigger_column(td, "discount", NUMERICOID, true);
		a_sdisc = mk_trigger_column(td, "sale_discount", NUMERICOID, true);
		a_rate = mk_trigger_column(td, "tax_rate", NUMERICOID, false);
		a_included = mk_trigger_column(td, "tax_included", BOOLOID, false);
		a_dpp = mk_trigger_column(td, "dpp", NUMERICOID, false);
		a_ppn = mk_trigger_column(td, "ppn", NUMERICOID, false);
	}

	sale_id = DatumGetInt64(heap_getattr(tuple, a_sale, desc, &isnull));
	if (isnull)
		mk_error(ERRCODE_NOT_NULL_VIOLATION, NULL, "sale_line.sale_id must not be null");
	product_id = DatumGetInt64(heap_getattr(tuple, a_product, desc, &isnull));
	if (isnull)
		mk_error(ERRCODE_NOT_NULL_VIOLATION, NULL, "sale_line.product_id must not be null");
	qty = DatumGetInt32(heap_getattr(tuple, a_qty, desc, &isnull));
	if (isnull)
		mk_error(ERRCODE_NOT_NULL_VIOLATION, NULL, "sale_line.qty must not be null");
	if (qty <= 0)
		mk_error(ERRCODE_CHECK_VIOLATION, NULL,
				 "sale_line.qty must be positive, not %d", qty);
	price = heap_getattr(tuple, a_price, desc, &price_null);
	line_no = DatumGetInt32(heap_getattr(tuple, a_line, desc, &line_null));
	disc = till ? pos_numeric_cents(heap_getattr(tuple, a_disc, desc, &isnull), "sale_line.discount") : 0;
	sdisc = till ? pos_numeric_cents(heap_getattr(tuple, a_sdisc, desc, &isnull), "sale_line.sale_discount") : 0;
	if (till)
	{
		Datum		r = heap_getattr(tuple, a_rate, desc, &rate_null);
		Datum		inc = heap_getattr(tuple, a_included, desc, &included_null);

		if (!rate_null)
			rate_bp = pos_rate_bp(r);
		if (!included_null)
			included = DatumGetBool(inc);
	}

	/*
	 * checkout() has checked these rows already (see pos.h); any other
	 * insert takes the tax rate and inclusion from the product and branch,
	 * whatever it says.
	 */
	if (sale_id != pos_checkout_sale_id || price_null || line_null || rate_null || included_null)
		price = check_line(sale_id, product_id, price, price_null, line_null, a_price, a_line,
						   cols, vals, &ncols, till, a_rate, a_included, &rate_bp, &included, till);

	/*
	 * The line's money in cents (tax.c), stored as the columns'
	 * numeric(14,2): a trigger's values bypass the insert's own coercion,
	 * so the range is checked there.
	 */
	pos_line_money(pos_numeric_cents(price, "sale_line.unit_price"), qty, disc, sdisc,
				   rate_bp, included, &m);
	pos_check_discount_limit(sale_id, line_null ? 0 : line_no, m.gross, disc + sdisc);
	cols[ncols] = a_amount;
	vals[ncols++] = pos_cents_numeric(m.amount);
	if (till)
	{
		cols[ncols] = a_dpp;
		vals[ncols++] = pos_cents_numeric(m.dpp);
		cols[ncols] = a_ppn;
		vals[ncols++] = pos_cents_numeric(m.ppn);
	}

	return PointerGetDatum(heap_modify_tuple_by_cols(tuple, desc, ncols, cols, vals, nulls));
}

typedef struct NewLine
{
	int64		product_id;
	int32		branch_id;		/* the sale's branch */
	DateADT		today;			/* the branch's date now */
	int64		sale_id;
	int32		line_no;
	int32		qty;
	bool		has_rx;			/* prescriber, number and date are given */
	/* cents */
	int64		amount;
	int64		gross;
	int64		discount;		/* the line's own and its share of the sale's */
	int64		dpp;
	int64		ppn;
} NewLine;

static int
newline_cmp(const void *a, const void *b)
{
	const NewLine *x = a, *y = b;

	if (x->product_id != y->product_id)
		return x->product_id < y->product_id ? -1 : 1;
	if (x->branch_id != y->branch_id)
		return x->branch_id < y->branch_id ? -1 : 1;
	if (x->sale_id != y->sale_id)
		return x->sale_id < y->sale_id ? -1 : 1;
	return x->line_no < y->line_no ? -1 : (x->line_no > y->line_no);
}

/* Read the statement's new lines from the transition table. */
static NewLine *
read_new_lines(FunctionCallInfo fcinfo, int *count)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	MkTransition t;
	int			a_sale = mk_trigger_column(td, "sale_id", INT8OID, true), a_line = mk_trigger_column(td, "line_no", INT4OID, true);
	int			a_product = mk_trigger_column(td, "product_id", INT8OID, true), a_qty = mk_trigger_column(td, "qty", INT4OID, true);
	int			a_amount = mk_trigger_column(td, "amount", NUMERICOID, false);
	/* absent from 0.1.0's schema, which runs on this library until updated */
	bool		rx_column = SPI_fnumber(RelationGetDescr(td->tg_relation), "prescription_no") > 0;
	int			a_rx = rx_column ? mk_trigger_column(td, "prescription_no", TEXTOID, false) : 0;
	int			a_price = mk_trigger_column(td, "unit_price", NUMERICOID, false);
	bool		till = pos_till_columns(td);
	int			a_disc = till ? mk_trigger_column(td, "discount", NUMERICOID, true) : 0;
	int			a_sdisc = till ? mk_trigger_column(td, "sale_discount", NUMERICOID, true) : 0;
	int			a_dpp = till ? mk_trigger_column(td, "dpp", NUMERICOID, false) : 0;
	int			a_ppn = till ? mk_trigger_column(td, "ppn", NUMERICOID, false) : 0;
	int			n = 0, cap = 8;
	NewLine    *lines = palloc(sizeof(NewLine) * cap);
	bool		isnull;

	*count = 0;
	if (!mk_transition_open(&t, fcinfo, "pos_line_stock_trg"))
		return lines;
	mk_transition_rewind(&t);
	while (mk_transition_next(&t))
	{
		if (n == cap)
		{
			cap *= 2;
			lines = repalloc_huge(lines, sizeof(NewLine) * cap);
		}
		lines[n].sale_id = DatumGetInt64(slot_getattr(t.slot, a_sale, &isnull));
		lines[n].line_no = DatumGetInt32(slot_getattr(t.slot, a_line, &isnull));
		lines[n].product_id = DatumGetInt64(slot_getattr(t.slot, a_product, &isnull));
		lines[n].qty = DatumGetInt32(slot_getattr(t.slot, a_qty, &isnull));
		/* the table's CHECK makes the three prescription columns all or none */
		if (rx_column)
			(void) slot_getattr(t.slot, a_rx, &isnull);
		lines[n].has_rx = rx_column && !isnull;
		/* the row trigger filled every one of these */
		lines[n].amount = pos_numeric_cents(slot_getattr(t.slot, a_amount, &isnull), "amount");
		lines[n].gross = pos_numeric_cents(slot_getattr(t.slot, a_price, &isnull), "unit_price") * lines[n].qty;
		if (till)
		{
			lines[n].discount = pos_numeric_cents(slot_getattr(t.slot, a_disc, &isnull), "discount") +
				pos_numeric_cents(slot_getattr(t.slot, a_sdisc, &isnull), "sale_discount");
			lines[n].dpp = pos_numeric_cents(slot_getattr(t.slot, a_dpp, &isnull), "dpp");
			lines[n].ppn = pos_numeric_cents(slot_getattr(t.slot, a_ppn, &isnull), "ppn");
		}
		else
			lines[n].discount = lines[n].dpp = lines[n].ppn = 0;
		n++;
	}
	mk_transition_close(&t);
	*count = n;
	return lines;
}

/*
 * Each line's branch and the branch's date, one lookup per sale (a
 * statement usually inserts the lines of one sale).  Inside SPI.
 */
static void
resolve_branches(NewLine *lines, int n)
{
	static const Oid types[] = {INT8OID};
	Datum		args[1];
	bool		isnull;

	if (!pos_branches)
	{
		/* 0.1.0's schema: one stock, the session's date */
		for (int i = 0; i < n; i++)
		{
			lines[i].branch_id = 0;
			lines[i].today = GetSQLCurrentDate();
		}
		return;
	}

	mk_spi_plan(&branch_plan,
				"SELECT s.branch_id, (pg_catalog.now() AT TIME ZONE b.time_zone)::date"
				"  FROM mekatek.sale s JOIN mekatek.branch b ON b.branch_id = s.branch_id"
				" WHERE s.sale_id = $1",
				1, types);
	for (int i = 0; i < n; i++)
	{
		int			j;

		for (j = 0; j < i && lines[j].sale_id != lines[i].sale_id; j++)
			;
		if (j < i)
		{
			lines[i].branch_id = lines[j].branch_id;
			lines[i].today = lines[j].today;
			continue;
		}
		if (pos_checkout_branch_known && lines[i].sale_id == pos_checkout_sale_id)
		{
			lines[i].branch_id = pos_checkout_branch_id;
			lines[i].today = pos_checkout_today;
			continue;
		}
		args[0] = Int64GetDatum(lines[i].sale_id);
		if (mk_spi_execute_plan(branch_plan, args, NULL, true, 1, SPI_OK_SELECT, "sale branch lookup") != 1)
			mk_error(ERRCODE_FOREIGN_KEY_VIOLATION, NULL,
					 "sale " INT64_FORMAT " does not exist", lines[i].sale_id);
		lines[i].branch_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		lines[i].today = DatumGetDateADT(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * The statement's takes, written to the ledger together
 * (pos_ledger_apply_sales) once every line has its batches.  Until then a
 * batch's qty_on_hand as read does not show what earlier lines of the
 * same product took from it: takes_taken counts those, from the first
 * take of the product being served (lines are sorted by product).
 */
typedef struct Takes
{
	int			n, cap;
	int			product_start;	/* the first take of the current product */
	int64	   *batch_id;
	int32	   *delta;
	int64	   *sale_id;
	int32	   *line_no;
} Takes;

static void
takes_init(Takes *t)
{
	t->n = t->product_start = 0;
	t->cap = 8;
	t->batch_id = palloc(sizeof(int64) * t->cap);
	t->delta = palloc(sizeof(int32) * t->cap);
	t->sale_id = palloc(sizeof(int64) * t->cap);
	t->line_no = palloc(sizeof(int32) * t->cap);
}

/* A take of checkout()'s sale, for the receipt it writes itself (pos.h). */
static void
capture_lot(int64 batch_id, int32 take, const NewLine *line, HeapTuple row, TupleDesc desc)
{
	PosCheckoutCapture *c = &pos_checkout_capture;
	MemoryContext old;
	bool		isnull;
	PosCheckoutLot *l;

	if (!c->collect || line->sale_id != pos_checkout_sale_id)
		return;
	old = MemoryContextSwitchTo(c->cxt);
	if (c->nlots == c->cap)
	{
		c->cap = c->cap ? c->cap * 2 : 8;
		c->lots = c->lots ? repalloc_huge(c->lots, sizeof(PosCheckoutLot) * c->cap)
			: palloc(sizeof(PosCheckoutLot) * c->cap);
	}
	l = &c->lots[c->nlots++];
	l->line_no = line->line_no;
	l->batch_id = batch_id;
	l->lot = TextDatumGetCString(SPI_getbinval(row, desc, 3, &isnull));
	l->expires_on = DatumGetDateADT(SPI_getbinval(row, desc, 4, &isnull));
	l->qty = take;
	MemoryContextSwitchTo(old);
}

static void
takes_add(Takes *t, int64 batch_id, int32 take, const NewLine *line)
{
	if (t->n == t->cap)
	{
		t->cap *= 2;
		t->batch_id = repalloc_huge(t->batch_id, sizeof(int64) * t->cap);
		t->delta = repalloc_huge(t->delta, sizeof(int32) * t->cap);
		t->sale_id = repalloc_huge(t->sale_id, sizeof(int64) * t->cap);
		t->line_no = repalloc_huge(t->line_no, sizeof(int32) * t->cap);
	}
	t->batch_id[t->n] = batch_id;
	t->delta[t->n] = -take;
	t->sale_id[t->n] = line->sale_id;
	t->line_no[t->n] = line->line_no;
	t->n++;
}

/* Units of the batch taken by earlier lines of this product, not yet written. */
static int64
takes_taken(const Takes *t, int64 batch_id)
{
	int64		taken = 0;

	for (int i = t->product_start; i < t->n; i++)
		if (t->batch_id[i] == batch_id)
			taken -= t->delta[i];
	return taken;
}

static void
takes_flush(Takes *t)
{
	pos_ledger_apply_sales(t->n, t->batch_id, t->delta, t->sale_id, t->line_no);
	t->n = t->product_start = 0;
}

/* Take from the batches of one fetched set; returns the units still needed. */
static int32
take_rows(const NewLine *line, SPITupleTable *rows, uint64 nrows, int32 need, Takes *t)
{
	bool		isnull;

	for (uint64 i = 0; i < nrows && need > 0; i++)
	{
		HeapTuple	row = rows->vals[i];
		int64		batch_id = DatumGetInt64(SPI_getbinval(row, rows->tupdesc, 1, &isnull));
		int64		on_hand = DatumGetInt32(SPI_getbinval(row, rows->tupdesc, 2, &isnull)) -
			takes_taken(t, batch_id);
		int32		take;

		if (on_hand <= 0)
			continue;
		take = (int32) Min((int64) need, on_hand);
		takes_add(t, batch_id, take, line);
		capture_lot(batch_id, take, line, row, rows->tupdesc);
		need -= take;
	}
	return need;
}

/*
 * Take qty units of a product for one line, FEFO.  Returns how many units
 * could not be found (0 when the line is covered).
 *
 * The first batch usually covers the line, so it is locked and read alone
 * (the executor stops after one row); only when it does not is the rest
 * walked with a cursor, which reads the first batch again and finds it
 * used up by the takes so far.
 */
static int32
take_fefo(const NewLine *line, Takes *t)
{
	static const Oid types[] = {INT8OID, INT4OID, DATEOID};
	Datum		args[3];
	Portal		portal;
	int32		need = line->qty;
	int			pin;

	SPIPlanPtr	plan;

	if (pos_branches)
		plan = mk_spi_plan(&fefo_plan,
						   "SELECT batch_id, qty_on_hand, lot, expires_on FROM mekatek.batch"
						   " WHERE product_id = $1 AND branch_id = $2 AND qty_on_hand > 0 AND expires_on > $3"
						   " ORDER BY expires_on, batch_id FOR UPDATE",
						   3, types);
	else
		plan = mk_spi_plan(&legacy_fefo_plan,
						   "SELECT batch_id, qty_on_hand, lot, expires_on FROM mekatek.batch"
						   " WHERE product_id = $1 AND $2 = 0 AND qty_on_hand > 0 AND expires_on > $3"
						   " ORDER BY expires_on, batch_id FOR UPDATE",
						   3, types);
	args[0] = Int64GetDatum(line->product_id);
	args[1] = Int32GetDatum(line->branch_id);
	args[2] = DateADTGetDatum(line->today);
	mk_spi_execute_plan(plan, args, NULL, false, 1, SPI_OK_SELECT, "batch lookup");
	if (SPI_processed == 0)
		return need;
	need = take_rows(line, SPI_tuptable, SPI_processed, need, t);
	if (need == 0)
		return 0;

	pin = mk_spi_pin_begin();
	portal = SPI_cursor_open(NULL, plan, args, NULL, false);
	mk_spi_pin_end(pin);
	while (need > 0)
	{
		SPI_cursor_fetch(portal, true, 4);
		if (SPI_processed == 0)
			break;
		need = take_rows(line, SPI_tuptable, SPI_processed, need, t);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	return need;
}

/*
 * Prescription and controlled medicines: a keras, psikotropika or
 * narkotika line needs its prescription; psikotropika and narkotika are
 * sold only by a pharmacist (mekatek_pharmacist) or an admin.  The acting
 * role is checked, never this SECURITY DEFINER trigger's owner.
 */
static void
check_drug_class(const NewLine *lines, int n, const char *sku, const char *drug_class)
{
	bool		controlled = strcmp(drug_class, "psikotropika") == 0 || strcmp(drug_class, "narkotika") == 0;

	if (strcmp(drug_class, "keras") != 0 && !controlled)
		return;
	for (int i = 0; i < n; i++)
		if (!lines[i].has_rx)
			mk_error(ERRCODE_CHECK_VIOLATION,
					 "Give the line's prescriber, prescription_no and prescription_date (checkout: the same keys in the line).",
					 "SKU \"%s\" is %s: line %d of sale " INT64_FORMAT " needs a prescription",
					 sku, drug_class, lines[i].line_no, lines[i].sale_id);
	if (controlled && !mk_acting_is_admin())
	{
		Oid			pharmacist = get_role_oid("mekatek_pharmacist", true);

		if (!OidIsValid(pharmacist) || !has_privs_of_role(GetOuterUserId(), pharmacist))
			mk_error(ERRCODE_INSUFFICIENT_PRIVILEGE,
					 "Only members of mekatek_pharmacist (or mekatek_admin) sell psikotropika and narkotika.",
					 "permission denied to sell SKU \"%s\" (%s)", sku, drug_class);
	}
}

/* A product's lines of one branch, served one after the other. */
typedef struct ProductGroup
{
	int			first;			/* index of its first line */
	int			nlines;
	int64		asked;
	int64		missing;
} ProductGroup;

/*
 * After the products' lines are served (the takes written): refuse a
 * prescription medicine without its prescription and a shortfall, product
 * by product in lock order, and tell listeners on mekatek_stock when a
 * product has just fallen below its minimum.  One query for all of them.
 */
static void
finish_products(const NewLine *lines, const ProductGroup *groups, int ngroups, Takes *t)
{
	static const Oid types[] = {INT8ARRAYOID, INT4ARRAYOID, DATEARRAYOID};
	Datum		args[3];
	Datum	   *pids = palloc(sizeof(Datum) * ngroups), *bids = palloc(sizeof(Datum) * ngroups);
	Datum	   *days = palloc(sizeof(Datum) * ngroups);
	SPITupleTable *rows;
	SPIPlanPtr	plan;

	takes_flush(t);
	if (pos_branches)
		plan = mk_spi_plan(&product_after_plan,
						   "SELECT p.sku, p.min_stock,"
						   "       (SELECT coalesce(sum(b.qty_on_hand), 0) FROM mekatek.batch b"
						   "         WHERE b.product_id = p.product_id AND b.branch_id = t.branch_id AND b.qty_on_hand > 0"
						   "           AND b.expires_on > t.today)::int8, p.drug_class"
						   "  FROM unnest($1, $2, $3) WITH ORDINALITY AS t(product_id, branch_id, today, ord)"
						   "  JOIN mekatek.product p ON p.product_id = t.product_id"
						   " ORDER BY t.ord",
						   3, types);
	else
		plan = mk_spi_plan(&legacy_after_plan,
						   "SELECT p.sku, p.min_stock,"
						   "       (SELECT coalesce(sum(b.qty_on_hand), 0) FROM mekatek.batch b"
						   "         WHERE b.product_id = p.product_id AND t.branch_id = 0 AND b.qty_on_hand > 0"
						   "           AND b.expires_on > t.today)::int8, 'bebas'::text"
						   "  FROM unnest($1, $2, $3) WITH ORDINALITY AS t(product_id, branch_id, today, ord)"
						   "  JOIN mekatek.product p ON p.product_id = t.product_id"
						   " ORDER BY t.ord",
						   3, types);
	for (int g = 0; g < ngroups; g++)
	{
		const NewLine *line = &lines[groups[g].first];

		pids[g] = Int64GetDatum(line->product_id);
		bids[g] = Int32GetDatum(line->branch_id);
		days[g] = DateADTGetDatum(line->today);
	}
	args[0] = PointerGetDatum(construct_array(pids, ngroups, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[1] = PointerGetDatum(construct_array(bids, ngroups, INT4OID, 4, true, TYPALIGN_INT));
	args[2] = PointerGetDatum(construct_array(days, ngroups, DATEOID, 4, true, TYPALIGN_INT));
	if (mk_spi_execute_plan(plan, args, NULL, false, 0, SPI_OK_SELECT,
							"stock check after a sale") != (uint64) ngroups)
		mk_error(ERRCODE_INTERNAL_ERROR, NULL, "a product of the sale vanished");
	rows = SPI_tuptable;

	for (int g = 0; g < ngroups; g++)
	{
		const NewLine *line = &lines[groups[g].first];
		HeapTuple	row = rows->vals[g];
		bool		isnull;
		char	   *sku = SPI_getvalue(row, rows->tupdesc, 1);
		int32		min_stock = DatumGetInt32(SPI_getbinval(row, rows->tupdesc, 2, &isnull));
		int64		sellable = DatumGetInt64(SPI_getbinval(row, rows->tupdesc, 3, &isnull));
		int64		asked = groups[g].asked, missing = groups[g].missing;

		check_drug_class(line, groups[g].nlines, sku, SPI_getvalue(row, rows->tupdesc, 4));

		/*
		 * The DETAIL is JSON, for a program: {"sku": ..., "asked": ...,
		 * "available": ...}.  SQLSTATE 23M01 is this error's alone.
		 */
		if (missing > 0)
		{
			StringInfoData detail;

			initStringInfo(&detail);
			appendStringInfoString(&detail, "{\"sku\": ");
			escape_json(&detail, sku);
			appendStringInfo(&detail, ", \"asked\": " INT64_FORMAT ", \"available\": " INT64_FORMAT "}",
							 asked, asked - missing);
			ereport(ERROR,
					(errcode(POS_ERRCODE_INSUFFICIENT_STOCK),
					 errmsg("insufficient stock for SKU \"%s\": asked " INT64_FORMAT ", available " INT64_FORMAT,
							sku, asked, asked - missing),
					 errdetail_internal("%s", detail.data),
					 errhint("Only unexpired batches are sold; see mekatek.stock_alert.")));
		}

		if (sellable < min_stock && sellable + asked >= min_stock)
		{
			MkPayload	payload;

			mk_payload_begin(&payload);
			mk_payload_str(&payload, "sku", sku);
			mk_payload_int(&payload, "branch_id", line->branch_id);
			mk_payload_int(&payload, "on_hand", sellable);
			mk_payload_int(&payload, "min_stock", min_stock);
			mk_payload_notify(&payload, "mekatek_stock");
		}
	}
}

/*
 * Add a statement's lines to their sale.  The lines of a checkout() also
 * mark its sale paid in the same UPDATE: one row version instead of two.
 */
static void
add_to_total(int64 sale_id, const NewLine *sum, int32 lines)
{
	static const Oid types[] = {INT8OID, NUMERICOID, INT4OID, BOOLOID, NUMERICOID, NUMERICOID,
	NUMERICOID, NUMERICOID};
	Datum		args[8];

	if (!pos_till_schema())
	{
		/* 0.1.0's tables, until ALTER EXTENSION mekatek UPDATE */
		mk_spi_plan(&total_legacy_plan,
					"UPDATE mekatek.sale SET total = total OPERATOR(pg_catalog.+) $2,"
					"       lines = lines OPERATOR(pg_catalog.+) $3,"
					"       status = CASE WHEN $4 THEN 'paid' ELSE status END"
					" WHERE sale_id OPERATOR(pg_catalog.=) $1",
					4, types);
		args[0] = Int64GetDatum(sale_id);
		args[1] = pos_cents_numeric(sum->amount);
		args[2] = Int32GetDatum(lines);
		args[3] = BoolGetDatum(sale_id == pos_checkout_sale_id);
		mk_spi_execute_plan(total_legacy_plan, args, NULL, false, 0, SPI_OK_UPDATE, "sale total update");
		return;
	}
	mk_spi_plan(&total_plan,
				"UPDATE mekatek.sale SET total = total OPERATOR(pg_catalog.+) $2,"
				"       lines = lines OPERATOR(pg_catalog.+) $3,"
				"       gross = gross OPERATOR(pg_catalog.+) $5,"
				"       discount = discount OPERATOR(pg_catalog.+) $6,"
				"       dpp = dpp OPERATOR(pg_catalog.+) $7,"
				"       ppn = ppn OPERATOR(pg_catalog.+) $8,"
				"       status = CASE WHEN $4 THEN 'paid' ELSE status END"
				" WHERE sale_id OPERATOR(pg_catalog.=) $1",
				8, types);
	args[0] = Int64GetDatum(sale_id);
	args[1] = pos_cents_numeric(sum->amount);
	args[2] = Int32GetDatum(lines);
	args[3] = BoolGetDatum(sale_id == pos_checkout_sale_id);
	args[4] = pos_cents_numeric(sum->gross);
	args[5] = pos_cents_numeric(sum->discount);
	args[6] = pos_cents_numeric(sum->dpp);
	args[7] = pos_cents_numeric(sum->ppn);
	mk_spi_execute_plan(total_plan, args, NULL, false, 0, SPI_OK_UPDATE, "sale total update");
}

/*
 * Every discounted line goes to the audit log: who gave it (the acting
 * role), the line's price and the discounts, in one statement.
 */
static void
audit_discounts(const NewLine *lines, int n)
{
	static const Oid types[] = {NAMEOID, TEXTARRAYOID, JSONBARRAYOID};
	static const Oid ctypes[] = {TEXTOID, JSONBOID};
	MkColumns	c;
	Datum		args[3];
	NameData	actor;

	mk_columns_init(&c, 2, 4);
	for (int i = 0; i < n; i++)
	{
		int			k;
		StringInfoData j;

		if (lines[i].discount == 0)
			continue;
		k = mk_columns_add(&c);
		c.cols[0][k] = CStringGetTextDatum(psprintf(INT64_FORMAT "/%d", lines[i].sale_id, lines[i].line_no));
		initStringInfo(&j);
		appendStringInfo(&j, "{\"sale_id\": " INT64_FORMAT ", \"line_no\": %d, \"gross\": %s, \"discount\": %s}",
						 lines[i].sale_id, lines[i].line_no,
						 DatumGetCString(DirectFunctionCall1(numeric_out, pos_cents_numeric(lines[i].gross))),
						 DatumGetCString(DirectFunctionCall1(numeric_out, pos_cents_numeric(lines[i].discount))));
		c.cols[1][k] = DirectFunctionCall1(jsonb_in, CStringGetDatum(j.data));
	}
	if (c.n == 0)
		return;
	mk_columns_arrays(&c, ctypes, args + 1);
	namestrcpy(&actor, mk_acting_role());
	args[0] = NameGetDatum(&actor);
	mk_spi_plan(&audit_plan,
				"INSERT INTO mekatek.audit_log (actor, table_name, op, row_key, new)"
				" SELECT $1, 'sale_line', 'INSERT', t.k, t.j FROM unnest($2, $3) AS t(k, j)",
				3, types);
	mk_spi_execute_plan(audit_plan, args, NULL, false, 0, SPI_OK_INSERT, "discount audit");
}

/* AFTER INSERT ON sale_line FOR EACH STATEMENT (SECURITY DEFINER). */
Datum
pos_line_stock_trg(PG_FUNCTION_ARGS)
{
	NewLine    *lines;
	int			n;
	Takes		takes;
	ProductGroup *groups;
	int			ngroups = 0;

	mk_trigger_on(fcinfo, "pos_line_stock_trg", false, MK_ON_INSERT, "sale_line");
	lines = read_new_lines(fcinfo, &n);
	if (n == 0)
		return PointerGetDatum(NULL);

	SPI_connect();
	pos_branches = pos_schema_has_branches();
	resolve_branches(lines, n);
	qsort(lines, n, sizeof(NewLine), newline_cmp);
	takes_init(&takes);
	groups = palloc(sizeof(ProductGroup) * n);
	for (int i = 0; i < n;)
	{
		ProductGroup *g = &groups[ngroups++];

		g->first = i;
		g->asked = g->missing = 0;
		takes.product_start = takes.n;
		for (; i < n && lines[i].product_id == lines[g->first].product_id &&
			 lines[i].branch_id == lines[g->first].branch_id; i++)
		{
			g->asked += lines[i].qty;
			g->missing += take_fefo(&lines[i], &takes);
		}
		g->nlines = i - g->first;
		/* a shortfall is refused before the next product's batches are locked */
		if (g->missing > 0)
			finish_products(lines, groups, ngroups, &takes);
	}
	finish_products(lines, groups, ngroups, &takes);

	/*
	 * The audit before the totals: a checkout's total update marks its sale
	 * paid, which locks the branch's receipt counter until commit, and as
	 * little as possible should come after it.
	 */
	audit_discounts(lines, n);

	/* Totals per sale, in sale order (usually one sale per statement). */
	for (int i = 0; i < n; i++)
	{
		int64		sale_id = lines[i].sale_id;
		NewLine		sum = lines[i];
		int32		count = 1;
		bool		seen = false;

		for (int j = 0; j < i && !seen; j++)
			seen = lines[j].sale_id == sale_id;
		if (seen)
			continue;
		for (int j = i + 1; j < n; j++)
			if (lines[j].sale_id == sale_id)
			{
				sum.amount += lines[j].amount;
				sum.gross += lines[j].gross;
				sum.discount += lines[j].discount;
				sum.dpp += lines[j].dpp;
				sum.ppn += lines[j].ppn;
				count++;
			}
		add_to_total(sale_id, &sum, count);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_finish();
	return PointerGetDatum(NULL);
}

/* A sale is paid when its payments cover its total (23M02 otherwise). */
static void
check_paid(int64 sale_id, Datum total)
{
	static const Oid types[] = {INT8OID};
	Datum		args[1];
	bool		isnull;
	int64		paid, due = pos_numeric_cents(total, "total");

	SPI_connect();
	mk_spi_plan(&paid_plan,
				"SELECT coalesce(sum(amount), 0) FROM mekatek.payment WHERE sale_id OPERATOR(pg_catalog.=) $1",
				1, types);
	args[0] = Int64GetDatum(sale_id);
	mk_spi_execute_plan(paid_plan, args, NULL, true, 1, SPI_OK_SELECT, "payment sum");
	paid = pos_numeric_cents(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull), "paid");
	SPI_finish();
	if (paid < due)
		ereport(ERROR,
				(errcode(POS_ERRCODE_UNDERPAID),
				 errmsg("sale " INT64_FORMAT " is paid %s of its total %s", sale_id, pos_rupiah(paid), pos_rupiah(due)),
				 errdetail_internal("{\"sale_id\": " INT64_FORMAT ", \"total\": %s, \"paid\": %s}", sale_id,
									DatumGetCString(DirectFunctionCall1(numeric_out, pos_cents_numeric(due))),
									DatumGetCString(DirectFunctionCall1(numeric_out, pos_cents_numeric(paid)))),
				 errhint("Insert its payments into mekatek.payment first, or use mekatek.checkout().")));
}

/* BEFORE UPDATE ON sale FOR EACH ROW: the life cycle open -> paid -> void. */
Datum
pos_sale_guard_trg(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	desc;
	int			a_status, a_id;
	bool		isnull;
	char	   *from, *to;
	int64		sale_id;

	mk_trigger_on(fcinfo, "pos_sale_guard_trg", true, MK_ON_UPDATE, "sale");
	rel = td->tg_relation;
	desc = RelationGetDescr(rel);
	a_status = mk_trigger_column(td, "status", TEXTOID, true);
	a_id = mk_trigger_column(td, "sale_id", INT8OID, true);
	from = TextDatumGetCString(heap_getattr(td->tg_trigtuple, a_status, desc, &isnull));
	to = TextDatumGetCString(heap_getattr(td->tg_newtuple, a_status, desc, &isnull));
	sale_id = DatumGetInt64(heap_getattr(td->tg_trigtuple, a_id, desc, &isnull));

	if (strcmp(from, to) == 0)
	{
		if (strcmp(from, "void") == 0 && !mk_acting_is_admin())
			mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, NULL,
					 "sale " INT64_FORMAT " is void and cannot change", sale_id);
		return PointerGetDatum(td->tg_newtuple);
	}
	if (strcmp(from, "void") == 0 || strcmp(to, "open") == 0)
		mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
				 "A sale goes from open to paid or void, and from paid to void.",
				 "sale " INT64_FORMAT " cannot go from %s to %s", sale_id, from, to);
	if (strcmp(from, "paid") == 0 && !mk_acting_is_admin())
		mk_error(ERRCODE_INSUFFICIENT_PRIVILEGE,
				 "Ask a member of mekatek_admin to void a paid sale.",
				 "only mekatek_admin may void paid sale " INT64_FORMAT, sale_id);
	if (strcmp(to, "paid") == 0)
	{
		int			col;
		Datum		receipt;
		bool		rnull = false;

		if (DatumGetInt32(heap_getattr(td->tg_newtuple, mk_trigger_column(td, "lines", INT4OID, true), desc, &isnull)) == 0)
			mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, NULL,
					 "sale " INT64_FORMAT " has no lines and cannot be paid", sale_id);
		/* 0.1.0's tables, until ALTER EXTENSION mekatek UPDATE: no payments, no numbers */
		if (SPI_fnumber(desc, "receipt_no") <= 0)
			return PointerGetDatum(td->tg_newtuple);
		col = mk_trigger_column(td, "receipt_no", TEXTOID, false);
		/* checkout() has matched its payments to the total itself */
		if (sale_id != pos_checkout_sale_id)
			check_paid(sale_id, heap_getattr(td->tg_newtuple, mk_trigger_column(td, "total", NUMERICOID, true), desc, &isnull));
		receipt = CStringGetTextDatum(
			pos_next_receipt_no(DatumGetInt32(heap_getattr(td->tg_newtuple, mk_trigger_column(td, "branch_id", INT4OID, true), desc, &isnull)),
								DatumGetTimestampTz(heap_getattr(td->tg_newtuple, mk_trigger_column(td, "sold_at", TIMESTAMPTZOID, true), desc, &isnull))));
		{
			HeapTuple	paid = heap_modify_tuple_by_cols(td->tg_newtuple, desc, 1, &col, &receipt, &rnull);

			/* the last BEFORE UPDATE trigger on sale (by name): this row is stored */
			if (pos_checkout_capture.collect && sale_id == pos_checkout_sale_id)
			{
				MemoryContext old = MemoryContextSwitchTo(pos_checkout_capture.cxt);

				pos_checkout_capture.sale = heap_copytuple(paid);
				pos_checkout_capture.desc = CreateTupleDescCopy(desc);
				MemoryContextSwitchTo(old);
			}
			return PointerGetDatum(paid);
		}
	}
	/* to void: stamp who and when */
	{
		int			cols[2] = {mk_trigger_column(td, "voided_at", TIMESTAMPTZOID, false), mk_trigger_column(td, "voided_by", NAMEOID, false)};
		Datum		vals[2];
		bool		nulls[2] = {false, false};
		NameData   *who = palloc(sizeof(NameData));

		namestrcpy(who, mk_acting_role());
		vals[0] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
		vals[1] = NameGetDatum(who);
		return PointerGetDatum(heap_modify_tuple_by_cols(td->tg_newtuple, desc, 2, cols, vals, nulls));
	}
}

/*
 * AFTER UPDATE ON sale FOR EACH ROW WHEN it becomes void (SECURITY
 * DEFINER): put back, through the ledger, what the sale's movements took,
 * batch by batch in the global lock order.
 */
Datum
pos_sale_void_trg(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	static const Oid types[] = {INT8OID};
	Datum		args[1];
	bool		isnull;
	int64		sale_id;
	SPITupleTable *rows;
	uint64		nrows;

	mk_trigger_on(fcinfo, "pos_sale_void_trg", true, MK_ON_UPDATE, "sale");
	{
		int			a_status = mk_trigger_column(td, "status", TEXTOID, true);
		TupleDesc	desc = RelationGetDescr(td->tg_relation);
		char	   *from = TextDatumGetCString(heap_getattr(td->tg_trigtuple, a_status, desc, &isnull));
		char	   *to = TextDatumGetCString(heap_getattr(td->tg_newtuple, a_status, desc, &isnull));

		if (strcmp(to, "void") != 0 || strcmp(from, "void") == 0)
			return PointerGetDatum(NULL);
	}
	sale_id = DatumGetInt64(heap_getattr(td->tg_newtuple, mk_trigger_column(td, "sale_id", INT8OID, true),
										 RelationGetDescr(td->tg_relation), &isnull));
	SPI_connect();
	mk_spi_plan(&void_plan,
				"SELECT m.batch_id, m.line_no, (-sum(m.qty_delta))::int4"
				"  FROM mekatek.stock_movement m JOIN mekatek.batch b USING (batch_id)"
				" WHERE m.sale_id = $1"
				" GROUP BY b.product_id, b.expires_on, m.batch_id, m.line_no"
				" HAVING sum(m.qty_delta) <> 0"
				" ORDER BY b.product_id, b.expires_on, m.batch_id, m.line_no",
				1, types);
	args[0] = Int64GetDatum(sale_id);
	mk_spi_execute_plan(void_plan, args, NULL, false, 0, SPI_OK_SELECT, "void lookup");
	rows = SPI_tuptable;
	nrows = SPI_processed;
	for (uint64 i = 0; i < nrows; i++)
	{
		HeapTuple	row = rows->vals[i];

		pos_ledger_apply(DatumGetInt64(SPI_getbinval(row, rows->tupdesc, 1, &isnull)),
						 DatumGetInt32(SPI_getbinval(row, rows->tupdesc, 3, &isnull)),
						 "void", sale_id,
						 DatumGetInt32(SPI_getbinval(row, rows->tupdesc, 2, &isnull)), NULL);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_finish();
	return PointerGetDatum(NULL);
}
