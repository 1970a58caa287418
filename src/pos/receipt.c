/*
 * receipt.c: receipt numbers, and a sale's receipt as jsonb and as text for
 * a thermal printer.
 *
 * Numbers: BB-YYYYMMDD-NNNNNN, the branch, its business day (in the
 * branch's time zone) and the sale's number in that day.  The next number
 * comes from an upsert on receipt_counter that keeps the row locked until
 * the sale's transaction ends: two checkouts of one branch cannot take the
 * same number, and a sale rolled back gives its number back (the counter's
 * update is rolled back with it), so a day's numbers have no gaps.  The
 * price: the checkouts of one branch pass that point one at a time, from
 * the moment the sale is paid to their commit.
 *
 * receipt() and receipt_text() are SECURITY DEFINER (the lots and the
 * cashier's name come from tables a cashier cannot read), so they first
 * check, as the acting role, that it may see the sale: row-level security
 * decides, as for a SELECT of its own.
 */
#include "pos/pos.h"

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(pos_receipt);
PG_FUNCTION_INFO_V1(pos_receipt_text);

static SPIPlanPtr counter_plan;
static SPIPlanPtr visible_plan;
static SPIPlanPtr doc_plan;
static SPIPlanPtr head_plan;
static SPIPlanPtr lines_plan;
static SPIPlanPtr pay_plan;

char *
pos_next_receipt_no(int32 branch_id, TimestampTz sold_at)
{
	static const Oid types[] = {INT4OID, TIMESTAMPTZOID};
	Datum		args[2];
	char	   *no;

	SPI_connect();
	mk_spi_plan(&counter_plan,
				"INSERT INTO mekatek.receipt_counter AS c (branch_id, day, last_no)"
				" SELECT b.branch_id, (pg_catalog.timezone(b.time_zone, $2))::date, 1"
				"   FROM mekatek.branch b WHERE b.branch_id OPERATOR(pg_catalog.=) $1"
				" ON CONFLICT (branch_id, day) DO UPDATE SET last_no = c.last_no OPERATOR(pg_catalog.+) 1"
				" RETURNING pg_catalog.lpad(c.branch_id::text, 2, '0') OPERATOR(pg_catalog.||) '-'"
				"    OPERATOR(pg_catalog.||) pg_catalog.to_char(c.day, 'YYYYMMDD') OPERATOR(pg_catalog.||) '-'"
				"    OPERATOR(pg_catalog.||) pg_catalog.lpad(c.last_no::text, 6, '0')",
				2, types);
	args[0] = Int32GetDatum(branch_id);
	args[1] = TimestampTzGetDatum(sold_at);
	if (mk_spi_execute_plan(counter_plan, args, NULL, false, 0, SPI_OK_INSERT_RETURNING,
							"receipt number") != 1)
		mk_error(ERRCODE_FOREIGN_KEY_VIOLATION, NULL, "branch %d does not exist", branch_id);
	{
		/* copied into the caller's context: SPI_finish frees SPI's */
		char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		no = SPI_palloc(strlen(v) + 1);
		strcpy(no, v);
	}
	SPI_finish();
	return no;
}

/* Raise 23503 unless the acting role may see the sale (row-level security). */
void
pos_check_sale_visible(int64 sale_id)
{
	static const Oid types[] = {INT8OID};
	Datum		args[1];
	Oid			save_user;
	int			save_sec;
	volatile uint64 n = 0;

	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(GetOuterUserId(), save_sec | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		mk_spi_plan(&visible_plan,
					"SELECT 1 FROM mekatek.sale WHERE sale_id OPERATOR(pg_catalog.=) $1",
					1, types);
		args[0] = Int64GetDatum(sale_id);
		n = mk_spi_execute_plan(visible_plan, args, NULL, true, 1, SPI_OK_SELECT, "sale lookup");
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_user, save_sec);
	}
	PG_END_TRY();
	if (n == 0)
		mk_error(ERRCODE_FOREIGN_KEY_VIOLATION, "A cashier sees only the sales of its own branch.",
				 "sale " INT64_FORMAT " does not exist", sale_id);
}

/*
 * The receipt document.  Amounts are JSON numbers in rupiah; the time is
 * the branch's local time with its time zone named.
 */
#define RECEIPT_SQL \
	"SELECT pg_catalog.jsonb_build_object(" \
	"  'sale_id', s.sale_id, 'receipt_no', s.receipt_no, 'status', s.status," \
	"  'branch', pg_catalog.jsonb_build_object('branch_id', b.branch_id, 'name', b.name)," \
	"  'cashier', pg_catalog.jsonb_build_object('login', s.cashier, 'name', st.full_name)," \
	"  'time', pg_catalog.to_char(pg_catalog.timezone(b.time_zone, s.sold_at), 'YYYY-MM-DD\"T\"HH24:MI:SS')," \
	"  'time_zone', b.time_zone, 'prices_include_tax', b.prices_include_tax," \
	"  'lines', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(" \
	"        'line_no', l.line_no, 'sku', p.sku, 'name', p.name, 'qty', l.qty, 'unit_price', l.unit_price," \
	"        'discount', l.discount, 'sale_discount', l.sale_discount, 'tax_rate', l.tax_rate," \
	"        'dpp', l.dpp, 'ppn', l.ppn, 'amount', l.amount," \
	"        'returned', (SELECT coalesce(sum(r.qty), 0) FROM mekatek.sale_return r" \
	"                      WHERE r.sale_id OPERATOR(pg_catalog.=) l.sale_id AND r.line_no OPERATOR(pg_catalog.=) l.line_no)," \
	"        'lots', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('lot', bt.lot, 'expires_on', bt.expires_on, 'qty', -m.qty_delta)" \
	"                         ORDER BY bt.expires_on, bt.batch_id)" \
	"                   FROM mekatek.stock_movement m JOIN mekatek.batch bt ON bt.batch_id OPERATOR(pg_catalog.=) m.batch_id" \
	"                  WHERE m.sale_id OPERATOR(pg_catalog.=) l.sale_id AND m.line_no OPERATOR(pg_catalog.=) l.line_no" \
	"                    AND m.reason OPERATOR(pg_catalog.=) 'sale')" \
	"      ) ORDER BY l.line_no)" \
	"      FROM mekatek.sale_line l JOIN mekatek.product p ON p.product_id OPERATOR(pg_catalog.=) l.product_id" \
	"     WHERE l.sale_id OPERATOR(pg_catalog.=) s.sale_id)," \
	"  'gross', s.gross, 'discount', s.discount, 'dpp', s.dpp, 'ppn', s.ppn, 'total', s.total," \
	"  'payments', (SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(" \
	"        'method', y.method, 'amount', y.amount, 'tendered', y.tendered, 'change', y.change," \
	"        'reference', y.reference)) ORDER BY y.payment_id), '[]')" \
	"      FROM mekatek.payment y WHERE y.sale_id OPERATOR(pg_catalog.=) s.sale_id AND y.amount OPERATOR(pg_catalog.>) 0)," \
	"  'change', (SELECT coalesce(sum(y.change), 0) FROM mekatek.payment y WHERE y.sale_id OPERATOR(pg_catalog.=) s.sale_id)," \
	"  'refunded', s.refunded)" \
	"  FROM mekatek.sale s JOIN mekatek.branch b ON b.branch_id OPERATOR(pg_catalog.=) s.branch_id" \
	"  LEFT JOIN mekatek.staff st ON st.role_name OPERATOR(pg_catalog.=) s.cashier" \
	" WHERE s.sale_id OPERATOR(pg_catalog.=) $1"

/* The receipt of a sale the caller is inside SPI for; a copy in the caller's context. */
Datum
pos_receipt_jsonb(int64 sale_id, MemoryContext into)
{
	static const Oid types[] = {INT8OID};
	Datum		args[1];
	bool		isnull;
	Datum		doc;
	MemoryContext old;

	mk_spi_plan(&doc_plan, RECEIPT_SQL, 1, types);
	args[0] = Int64GetDatum(sale_id);
	if (mk_spi_execute_plan(doc_plan, args, NULL, true, 1, SPI_OK_SELECT, "receipt") != 1)
		mk_error(ERRCODE_FOREIGN_KEY_VIOLATION, NULL, "sale " INT64_FORMAT " does not exist", sale_id);
	doc = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	old = MemoryContextSwitchTo(into);
	doc = PointerGetDatum(PG_DETOAST_DATUM_COPY(doc));
	MemoryContextSwitchTo(old);
	return doc;
}

/* mekatek.receipt(sale_id bigint) RETURNS jsonb */
Datum
pos_receipt(PG_FUNCTION_ARGS)
{
	int64		sale_id;
	MemoryContext outer = CurrentMemoryContext;
	Datum		doc;

	mk_arg_not_null(fcinfo, 0, "sale_id");
	sale_id = PG_GETARG_INT64(0);
	SPI_connect();
	pos_check_sale_visible(sale_id);
	doc = pos_receipt_jsonb(sale_id, outer);
	SPI_finish();
	PG_RETURN_DATUM(doc);
}

/* ------------------------------------------------------------------ text */

typedef struct Paper
{
	StringInfoData buf;
	int			width;
} Paper;

static int
text_width(const char *s)
{
	return pg_mbstrlen(s);
}

/* left and right on one line, right-aligned; wrapped when they do not fit */
static void
paper_lr(Paper *p, const char *left, const char *right)
{
	int			lw = text_width(left), rw = text_width(right);

	if (lw + 1 + rw > p->width)
	{
		appendStringInfo(&p->buf, "%s\n", left);
		lw = 0;
		left = "";
	}
	appendStringInfoString(&p->buf, left);
	for (int i = lw + rw; i < p->width; i++)
		appendStringInfoChar(&p->buf, ' ');
	appendStringInfo(&p->buf, "%s\n", right);
}

/* a text on as many lines as it needs (never cut off), by characters */
static void
paper_wrap(Paper *p, const char *s, int indent, bool center)
{
	while (*s)
	{
		int			room = p->width - indent, chars = 0;
		const char *end = s;

		while (*end && chars < room)
		{
			end += pg_mblen(end);
			chars++;
		}
		if (*end && chars == room)
		{
			/* break at the last space of the piece, if there is one */
			const char *sp = NULL;

			for (const char *q = s; q < end; q += pg_mblen(q))
				if (*q == ' ')
					sp = q;
			if (sp != NULL && sp > s)
			{
				chars = pg_mbstrlen_with_len(s, sp - s);
				end = sp;
			}
		}
		if (center)
			indent = Max(0, (p->width - chars) / 2);
		for (int i = 0; i < indent; i++)
			appendStringInfoChar(&p->buf, ' ');
		appendBinaryStringInfo(&p->buf, s, end - s);
		appendStringInfoChar(&p->buf, '\n');
		s = end;
		while (*s == ' ')
			s++;
		if (center)
			indent = 0;
	}
}

static void
paper_rule(Paper *p)
{
	for (int i = 0; i < p->width; i++)
		appendStringInfoChar(&p->buf, '-');
	appendStringInfoChar(&p->buf, '\n');
}

static int64
col_cents(SPITupleTable *t, uint64 row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(t->vals[row], t->tupdesc, col, &isnull);

	return isnull ? 0 : pos_numeric_cents(d, "amount");
}

static const char *
method_label(const char *m)
{
	static const char *const labels[][2] = {
		{"cash", "Tunai"}, {"debit_card", "Kartu debit"}, {"credit_card", "Kartu kredit"},
		{"qris", "QRIS"}, {"bank_transfer", "Transfer"}, {"store_credit", "Saldo toko"},
	};

	for (int i = 0; i < (int) lengthof(labels); i++)
		if (strcmp(m, labels[i][0]) == 0)
			return labels[i][1];
	return m;
}

static const char *
rate_text(int64 bp)
{
	return bp % 100 == 0 ? psprintf(INT64_FORMAT "%%", bp / 100) : psprintf(INT64_FORMAT ",%02d%%", bp / 100, (int) (bp % 100));
}

/* mekatek.receipt_text(sale_id bigint, width integer DEFAULT 32) RETURNS text */
Datum
pos_receipt_text(PG_FUNCTION_ARGS)
{
	static const Oid types[] = {INT8OID};
	int64		sale_id;
	Datum		args[1];
	Paper		p;
	SPITupleTable *h;
	bool		isnull;
	MemoryContext outer = CurrentMemoryContext;
	text	   *result;

	mk_arg_not_null(fcinfo, 0, "sale_id");
	sale_id = PG_GETARG_INT64(0);
	p.width = mk_arg_int32_range(fcinfo, 1, "width", 24, 80);
	initStringInfo(&p.buf);

	SPI_connect();
	pos_check_sale_visible(sale_id);
	args[0] = Int64GetDatum(sale_id);

	mk_spi_plan(&head_plan,
				"SELECT b.name, s.receipt_no, pg_catalog.to_char(pg_catalog.timezone(b.time_zone, s.sold_at), 'DD-MM-YYYY HH24:MI'),"
				"       coalesce(st.full_name, s.cashier::text), s.gross, s.discount, s.dpp, s.ppn, s.total,"
				"       s.status, s.refunded, b.prices_include_tax,"
				"       (SELECT pg_catalog.string_agg(DISTINCT (l.tax_rate OPERATOR(pg_catalog.*) 100)::int8::text, ',')"
				"          FROM mekatek.sale_line l WHERE l.sale_id OPERATOR(pg_catalog.=) s.sale_id"
				"           AND l.tax_rate OPERATOR(pg_catalog.>) 0)"
				"  FROM mekatek.sale s JOIN mekatek.branch b ON b.branch_id OPERATOR(pg_catalog.=) s.branch_id"
				"  LEFT JOIN mekatek.staff st ON st.role_name OPERATOR(pg_catalog.=) s.cashier"
				" WHERE s.sale_id OPERATOR(pg_catalog.=) $1", 1, types);
	mk_spi_execute_plan(head_plan, args, NULL, true, 1, SPI_OK_SELECT, "receipt header");
	h = SPI_tuptable;
	paper_wrap(&p, SPI_getvalue(h->vals[0], h->tupdesc, 1), 0, true);
	paper_lr(&p, "No", SPI_getvalue(h->vals[0], h->tupdesc, 2) ? SPI_getvalue(h->vals[0], h->tupdesc, 2) : "-");
	paper_lr(&p, "Tanggal", SPI_getvalue(h->vals[0], h->tupdesc, 3));
	paper_lr(&p, "Kasir", SPI_getvalue(h->vals[0], h->tupdesc, 4));
	if (strcmp(SPI_getvalue(h->vals[0], h->tupdesc, 10), "void") == 0)
		paper_wrap(&p, "*** BATAL (VOID) ***", 0, true);
	paper_rule(&p);

	{
		SPITupleTable *l;

		mk_spi_plan(&lines_plan,
					"SELECT p.name, l.qty, l.unit_price, l.discount, l.sale_discount, l.amount,"
					"       coalesce(l.tax_rate, 0) OPERATOR(pg_catalog.=) 0,"
					"       (SELECT pg_catalog.string_agg(bt.lot OPERATOR(pg_catalog.||) ' ED '"
					"               OPERATOR(pg_catalog.||) pg_catalog.to_char(bt.expires_on, 'MM/YYYY'), ', '"
					"               ORDER BY bt.expires_on, bt.batch_id)"
					"          FROM mekatek.stock_movement m JOIN mekatek.batch bt ON bt.batch_id OPERATOR(pg_catalog.=) m.batch_id"
					"         WHERE m.sale_id OPERATOR(pg_catalog.=) l.sale_id AND m.line_no OPERATOR(pg_catalog.=) l.line_no"
					"           AND m.reason OPERATOR(pg_catalog.=) 'sale')"
					"  FROM mekatek.sale_line l JOIN mekatek.product p ON p.product_id OPERATOR(pg_catalog.=) l.product_id"
					" WHERE l.sale_id OPERATOR(pg_catalog.=) $1 ORDER BY l.line_no", 1, types);
		mk_spi_execute_plan(lines_plan, args, NULL, true, 0, SPI_OK_SELECT, "receipt lines");
		l = SPI_tuptable;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			char	   *name = SPI_getvalue(l->vals[i], l->tupdesc, 1);
			bool		exempt = DatumGetBool(SPI_getbinval(l->vals[i], l->tupdesc, 7, &isnull));
			char	   *lots = SPI_getvalue(l->vals[i], l->tupdesc, 8);
			int32		qty = DatumGetInt32(SPI_getbinval(l->vals[i], l->tupdesc, 2, &isnull));
			int64		price = col_cents(l, i, 3), disc = col_cents(l, i, 4);

			paper_wrap(&p, exempt ? psprintf("%s (bebas PPN)", name) : name, 0, false);
			paper_lr(&p, psprintf("  %d x %s", qty, pos_rupiah(price)), pos_rupiah(price * qty));
			if (disc != 0)
				paper_lr(&p, "  Diskon", pos_rupiah(-disc));
			if (lots)
				paper_wrap(&p, psprintf("Lot %s", lots), 2, false);
			CHECK_FOR_INTERRUPTS();
		}
	}
	paper_rule(&p);
	{
		int64		gross = col_cents(h, 0, 5), disc = col_cents(h, 0, 6), dpp = col_cents(h, 0, 7);
		int64		ppn = col_cents(h, 0, 8), total = col_cents(h, 0, 9), refunded = col_cents(h, 0, 11);
		int64		line_disc = 0;
		char	   *rates = SPI_getvalue(h->vals[0], h->tupdesc, 13);
		bool		included = DatumGetBool(SPI_getbinval(h->vals[0], h->tupdesc, 12, &isnull));
		SPITupleTable *y;

		paper_lr(&p, "Subtotal", pos_rupiah(gross));
		/* the line discounts are shown on their lines; here the sale's */
		{
			int64		sdisc;

			/* sale discount = all discounts - line discounts */
			mk_spi_execute("SELECT coalesce(sum(discount), 0) FROM mekatek.sale_line WHERE sale_id OPERATOR(pg_catalog.=) $1",
						   1, types, args, NULL, true, 1, SPI_OK_SELECT, "line discounts");
			line_disc = col_cents(SPI_tuptable, 0, 1);
			sdisc = disc - line_disc;
			if (line_disc != 0)
				paper_lr(&p, "Diskon barang", pos_rupiah(-line_disc));
			if (sdisc != 0)
				paper_lr(&p, "Diskon belanja", pos_rupiah(-sdisc));
		}
		paper_lr(&p, "DPP", pos_rupiah(dpp));
		paper_lr(&p, rates && strchr(rates, ',') == NULL ? psprintf("PPN %s", rate_text(atoll(rates))) : "PPN",
				 pos_rupiah(ppn));
		paper_lr(&p, "TOTAL", pos_rupiah(total));
		if (included && ppn != 0)
			paper_wrap(&p, "(harga sudah termasuk PPN)", 0, false);

		mk_spi_plan(&pay_plan,
					"SELECT method, amount, tendered, change, reference FROM mekatek.payment"
					" WHERE sale_id OPERATOR(pg_catalog.=) $1 ORDER BY payment_id", 1, types);
		mk_spi_execute_plan(pay_plan, args, NULL, true, 0, SPI_OK_SELECT, "receipt payments");
		y = SPI_tuptable;
		{
			int64		change = 0;
			uint64		npay = SPI_processed;

			for (uint64 i = 0; i < npay; i++)
			{
				const char *m = method_label(SPI_getvalue(y->vals[i], y->tupdesc, 1));
				int64		amount = col_cents(y, i, 2);
				char	   *ref = SPI_getvalue(y->vals[i], y->tupdesc, 5);

				if (amount < 0)
					continue;	/* refunds: below */
				(void) SPI_getbinval(y->vals[i], y->tupdesc, 3, &isnull);
				if (!isnull)
				{
					paper_lr(&p, m, pos_rupiah(col_cents(y, i, 3)));
					change += col_cents(y, i, 4);
				}
				else
					paper_lr(&p, m, pos_rupiah(amount));
				if (ref)
					paper_wrap(&p, psprintf("Ref %s", ref), 2, false);
			}
			paper_lr(&p, "Kembali", pos_rupiah(change));
			if (refunded != 0)
			{
				paper_rule(&p);
				paper_lr(&p, "Retur", pos_rupiah(-refunded));
				for (uint64 i = 0; i < npay; i++)
					if (col_cents(y, i, 2) < 0)
						paper_lr(&p, psprintf("  %s", method_label(SPI_getvalue(y->vals[i], y->tupdesc, 1))),
								 pos_rupiah(col_cents(y, i, 2)));
			}
		}
	}
	paper_rule(&p);
	paper_wrap(&p, "Terima kasih", 0, true);

	{
		MemoryContext old = MemoryContextSwitchTo(outer);

		result = cstring_to_text_with_len(p.buf.data, p.buf.len);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	PG_RETURN_TEXT_P(result);
}
