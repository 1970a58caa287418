/*
 * checkout.c: one call that records a paid sale, for web apps.
 *
 *   checkout(branch_id, lines)                       -> sale_id (0.1.0's call:
 *        the total is taken as paid in cash, exactly)
 *   checkout(branch_id, lines, payments, discount, idempotency_key)
 *                                                    -> the receipt (jsonb)
 *
 * It validates the whole JSON first (so an error names the bad element
 * instead of a cast failure deep in a query), computes every line's money
 * (tax.c: discounts, DPP, PPN, in whole rupiah) and matches the payments to
 * the total, then inserts the sale, its payments, and all its lines in ONE
 * statement (so the stock trigger takes every line's batches in the global
 * lock order; it also marks the sale paid, which gives it its receipt
 * number and locks the branch's counter until commit: nothing but the
 * receipt, built in memory (receipt_built), comes after it).  The triggers
 * skip the checks checkout has made for exactly its own rows
 * (pos_checkout_sale_id); the line trigger still recomputes the money from
 * the stored columns and checks the discount limit.
 *
 * It runs as the caller: row-level security decides which branch it may
 * sell for; before that, a login without a staff row or a cashier of
 * another branch gets this module's error, not the policy's.
 *
 * An idempotency_key makes a retry safe: the sale insert is ON CONFLICT DO
 * NOTHING on (branch_id, idempotency_key), so a second request with the
 * same key waits for the first one's transaction and then returns its
 * sale's receipt (READ COMMITTED: the lookup's new snapshot sees it).
 *
 * Errors raised by our own statements below keep the caller's CONTEXT but
 * not ours: users see their own call, not the INSERT inside.
 */
#include "pos/pos.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "catalog/pg_collation.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

PG_FUNCTION_INFO_V1(pos_checkout);
PG_FUNCTION_INFO_V1(pos_checkout_pay);

#define CHECKOUT_MAX_LINES 10000
#define CHECKOUT_MAX_PAYMENTS 16
#define CHECKOUT_HINT "lines is a JSON array such as [{\"sku\": \"PCT500\", \"qty\": 2, \"discount_percent\": 10}]."
#define PAYMENTS_HINT "payments is a JSON array such as [{\"method\": \"cash\", \"amount\": 50000}, {\"method\": \"qris\", \"amount\": 20000, \"reference\": \"QR-1\"}]."

static SPIPlanPtr resolve_plan;
static SPIPlanPtr branch_plan;
static SPIPlanPtr sale_plan;
static SPIPlanPtr existing_plan;
static SPIPlanPtr lines_plan;
static SPIPlanPtr pay_plan;
static SPIPlanPtr receipt_plan;
static SPIPlanPtr legacy_resolve_plan;
static SPIPlanPtr legacy_sale_plan;
static SPIPlanPtr legacy_lines_plan;

int64		pos_checkout_sale_id = 0;
bool		pos_checkout_branch_known = false;
int32		pos_checkout_branch_id = 0;
DateADT		pos_checkout_today = 0;

typedef struct CoLine
{
	char	   *sku;
	int32		qty;
	int64		pct_bp;			/* discount_percent in basis points, or -1 */
	int64		disc_amount;	/* discount_amount in cents, or -1 */
	Datum		pid, price;
	char	   *name;			/* the product's */
	int32		rate_bp;
	int64		disc, sdisc;
	PosLineMoney m;
	Datum		rx[3];			/* prescriber, prescription_no, prescription_date */
	bool		rx_null[3];
} CoLine;

typedef struct CoPay
{
	char	   *method;
	int64		given;			/* the amount in the request (cash: tendered) */
	int64		amount, tendered, change;
	char	   *reference;
} CoPay;

typedef struct Checkout
{
	int32		branch_id;
	int			n;
	CoLine	   *lines;
	int			npay;			/* -1: the old call, paid in cash exactly */
	CoPay	   *pays;
	int64		sale_pct_bp, sale_amount;	/* -1 when absent */
	char	   *key;
	bool		included;
	DateADT		today;			/* the branch's date now */
	int64		total;
	/* for the receipt: the branch's name and zone, the acting role's staff name */
	char	   *branch_name, *time_zone, *user_name, *staff_name;
} Checkout;

/* ------------------------------------------------------------ parsing */

/* The keys of a line's prescription (the stock room, issue 16). */
static const char *const rx_keys[] = {"prescriber", "prescription_no", "prescription_date"};
#define RX_HINT "A prescription is {\"prescriber\": \"dr. Sari\", \"prescription_no\": \"R-1\", \"prescription_date\": \"2026-11-30\"}."

static bool
key_is(JsonbValue *k, const char *name)
{
	return k->val.string.len == (int) strlen(name) && memcmp(k->val.string.val, name, k->val.string.len) == 0;
}

static void
reject_unknown_keys(JsonbContainer *obj, const char *what, int index, const char *const *known,
					const char *hint)
{
	JsonbIterator *it = JsonbIteratorInit(obj);
	JsonbValue	v;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		bool		ok = false;

		if (tok != WJB_KEY)
			continue;
		for (const char *const *k = known; *k && !ok; k++)
			ok = key_is(&v, *k);
		if (!ok)
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE, hint,
					 "%s %d of checkout has an unknown key \"%s\"", what, index + 1,
					 mk_quote_short(pnstrdup(v.val.string.val, v.val.string.len)));
	}
}

/*
 * A JSON number, or a string holding a plain decimal number (as an HTML
 * form posts it: "2", "12.5"); NULL for anything else.
 */
static Datum
json_number(JsonbValue *v)
{
	if (v == NULL)
		return (Datum) 0;
	if (v->type == jbvNumeric)
		return NumericGetDatum(v->val.numeric);
	if (v->type == jbvString && v->val.string.len > 0 && v->val.string.len <= 32)
	{
		char	   *s = pnstrdup(v->val.string.val, v->val.string.len);
		char	   *t = s;
		int			digits = 0;

		while (*t == ' ')
			t++;
		while (*t >= '0' && *t <= '9')
			t++, digits++;
		if (*t == '.' && digits > 0)
		{
			t++;
			while (*t >= '0' && *t <= '9')
				t++;
		}
		while (*t == ' ')
			t++;
		if (digits > 0 && *t == '\0')
			return DirectFunctionCall3(numeric_in, CStringGetDatum(s), ObjectIdGetDatum(InvalidOid),
									   Int32GetDatum(-1));
	}
	return (Datum) 0;
}

static char *
json_text(JsonbValue *v)
{
	return DatumGetCString(DirectFunctionCall1(jsonb_out, JsonbPGetDatum(JsonbValueToJsonb(v))));
}

static int32
line_qty(JsonbValue *qty, int index)
{
	Datum		n = json_number(qty), whole;
	bool		error = false;
	int32		q;

	if (n == (Datum) 0)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, CHECKOUT_HINT,
				 "line %d of checkout needs a numeric \"qty\"%s%s", index + 1,
				 qty ? ", not " : "", qty ? mk_quote_short(json_text(qty)) : "");
	whole = DirectFunctionCall2(numeric_trunc, n, Int32GetDatum(0));
	if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, n, whole)) != 0)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL,
				 "line %d of checkout: qty must be a whole number, not %s",
				 index + 1, DatumGetCString(DirectFunctionCall1(numeric_out, n)));
	q = numeric_int4_opt_error(DatumGetNumeric(n), &error);
	if (error || q <= 0)
		mk_error(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, NULL,
				 "line %d of checkout: qty must be between 1 and %d, not %s",
				 index + 1, PG_INT32_MAX, mk_quote_short(DatumGetCString(DirectFunctionCall1(numeric_out, n))));
	return q;
}

static char *
line_sku(JsonbValue *sku, int index)
{
	if (sku == NULL || sku->type != jbvString)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, CHECKOUT_HINT,
				 "line %d of checkout needs a string \"sku\"", index + 1);
	if (sku->val.string.len == 0 || sku->val.string.len > 64)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL,
				 "line %d of checkout: sku must have 1 to 64 characters, not %d",
				 index + 1, sku->val.string.len);
	return pnstrdup(sku->val.string.val, sku->val.string.len);
}

/*
 * A number of the request in hundredths (cents, or basis points of a
 * percent), between min and max; -1 when absent.
 */
static int64
parse_hundredths(JsonbValue *v, const char *what, int64 min, int64 max, const char *range)
{
	Datum		n;
	int64		c;

	if (v == NULL)
		return -1;
	n = json_number(v);
	if (n == (Datum) 0)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL, "%s must be a number, not %s", what,
				 mk_quote_short(json_text(v)));
	c = pos_numeric_cents(n, what);
	if (c < min || c > max)
		mk_error(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, NULL, "%s must be %s, not %s", what, range,
				 DatumGetCString(DirectFunctionCall1(numeric_out, n)));
	return c;
}

/* A percent (0 < p <= 100, 2 decimals) as basis points; -1 when absent. */
static int64
parse_percent(JsonbValue *v, const char *what)
{
	return parse_hundredths(v, what, 1, 10000, "above 0 and at most 100");
}

/* An amount of rupiah (2 decimals) in cents; -1 when absent. */
static int64
parse_amount(JsonbValue *v, const char *what, bool positive)
{
	return parse_hundredths(v, what, positive ? 1 : 0, PG_INT64_MAX, positive ? "positive" : "at least 0");
}

/*
 * A line's prescription key as text (NULL when absent); the columns' CHECKs
 * bound the lengths and the date, and make the three all or none.
 */
static Datum
line_rx(JsonbContainer *obj, int key, int index, bool *isnull)
{
	JsonbValue	v;
	JsonbValue *found = getKeyJsonValueFromContainer(obj, rx_keys[key], strlen(rx_keys[key]), &v);

	*isnull = found == NULL || found->type == jbvNull;
	if (*isnull)
		return (Datum) 0;
	if (found->type != jbvString)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, RX_HINT,
				 "line %d of checkout: \"%s\" must be a string", index + 1, rx_keys[key]);
	if (found->val.string.len > 1000)
		mk_error(ERRCODE_STRING_DATA_RIGHT_TRUNCATION, NULL,
				 "line %d of checkout: \"%s\" must have at most 1000 bytes, not %d",
				 index + 1, rx_keys[key], found->val.string.len);
	if (key == 2)
	{
		/* parsed here, so that a bad date names the line, not our INSERT */
		char	   *text = pnstrdup(found->val.string.val, found->val.string.len);

		if (strspn(text, "0123456789-") != strlen(text) || strlen(text) != 10)
			mk_error(ERRCODE_INVALID_DATETIME_FORMAT, "Write the date as YYYY-MM-DD.",
					 "line %d of checkout: prescription_date must be a date, not \"%s\"",
					 index + 1, mk_quote_short(text));
		return DirectFunctionCall1(date_in, CStringGetDatum(text));
	}
	return PointerGetDatum(cstring_to_text_with_len(found->val.string.val, found->val.string.len));
}

static void
parse_lines(Checkout *co, Jsonb *jb)
{
	static const char *const known[] = {"sku", "qty", "discount_percent", "discount_amount",
	"prescriber", "prescription_no", "prescription_date", NULL};

	if (!JB_ROOT_IS_ARRAY(jb) || JB_ROOT_IS_SCALAR(jb))
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, CHECKOUT_HINT,
				 "lines must be a JSON array, not %s",
				 JB_ROOT_IS_OBJECT(jb) ? "an object" : "a scalar");
	co->n = JB_ROOT_COUNT(jb);
	if (co->n == 0 || co->n > CHECKOUT_MAX_LINES)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, CHECKOUT_HINT,
				 "lines must hold 1 to %d lines, not %d", CHECKOUT_MAX_LINES, co->n);
	co->lines = palloc0(sizeof(CoLine) * co->n);
	for (int i = 0; i < co->n; i++)
	{
		JsonbValue *el = getIthJsonbValueFromContainer(&jb->root, i);
		JsonbContainer *obj;
		JsonbValue	a, b;
		CoLine	   *l = &co->lines[i];

		if (el == NULL || el->type != jbvBinary || !JsonContainerIsObject(el->val.binary.data))
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE, CHECKOUT_HINT,
					 "line %d of checkout must be a JSON object", i + 1);
		obj = el->val.binary.data;
		reject_unknown_keys(obj, "line", i, known, CHECKOUT_HINT);
		l->sku = line_sku(getKeyJsonValueFromContainer(obj, "sku", 3, &a), i);
		l->qty = line_qty(getKeyJsonValueFromContainer(obj, "qty", 3, &a), i);
		l->pct_bp = parse_percent(getKeyJsonValueFromContainer(obj, "discount_percent", 16, &a),
								  psprintf("discount_percent of line %d", i + 1));
		l->disc_amount = parse_amount(getKeyJsonValueFromContainer(obj, "discount_amount", 15, &b),
									  psprintf("discount_amount of line %d", i + 1), false);
		if (l->pct_bp >= 0 && l->disc_amount >= 0)
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL,
					 "line %d of checkout has both discount_percent and discount_amount", i + 1);
		for (int k = 0; k < 3; k++)
			l->rx[k] = line_rx(obj, k, i, &l->rx_null[k]);
		if (l->rx_null[0] != l->rx_null[1] || l->rx_null[0] != l->rx_null[2])
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE, RX_HINT,
					 "line %d of checkout: give prescriber, prescription_no and prescription_date together", i + 1);
		CHECK_FOR_INTERRUPTS();
	}
}

static void
parse_sale_discount(Checkout *co, Jsonb *jb)
{
	static const char *const known[] = {"percent", "amount", NULL};
	JsonbValue	a;

	co->sale_pct_bp = co->sale_amount = -1;
	if (jb == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(jb))
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, "discount is {\"percent\": 5} or {\"amount\": 2000}, or NULL.",
				 "discount of checkout must be a JSON object");
	reject_unknown_keys(&jb->root, "discount", 0, known, "discount is {\"percent\": 5} or {\"amount\": 2000}, or NULL.");
	co->sale_pct_bp = parse_percent(getKeyJsonValueFromContainer(&jb->root, "percent", 7, &a), "discount percent");
	co->sale_amount = parse_amount(getKeyJsonValueFromContainer(&jb->root, "amount", 6, &a), "discount amount", false);
	if (co->sale_pct_bp >= 0 && co->sale_amount >= 0)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL, "discount of checkout has both percent and amount");
}

static void
parse_payments(Checkout *co, Jsonb *jb)
{
	static const char *const known[] = {"method", "amount", "reference", NULL};

	if (!JB_ROOT_IS_ARRAY(jb) || JB_ROOT_IS_SCALAR(jb))
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, PAYMENTS_HINT, "payments must be a JSON array");
	co->npay = JB_ROOT_COUNT(jb);
	if (co->npay == 0 || co->npay > CHECKOUT_MAX_PAYMENTS)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, PAYMENTS_HINT,
				 "payments must hold 1 to %d payments, not %d", CHECKOUT_MAX_PAYMENTS, co->npay);
	co->pays = palloc0(sizeof(CoPay) * co->npay);
	for (int i = 0; i < co->npay; i++)
	{
		JsonbValue *el = getIthJsonbValueFromContainer(&jb->root, i);
		JsonbContainer *obj;
		JsonbValue	a, *m, *r;
		CoPay	   *p = &co->pays[i];

		if (el == NULL || el->type != jbvBinary || !JsonContainerIsObject(el->val.binary.data))
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE, PAYMENTS_HINT,
					 "payment %d of checkout must be a JSON object", i + 1);
		obj = el->val.binary.data;
		reject_unknown_keys(obj, "payment", i, known, PAYMENTS_HINT);
		m = getKeyJsonValueFromContainer(obj, "method", 6, &a);
		if (m == NULL || m->type != jbvString)
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE, PAYMENTS_HINT,
					 "payment %d of checkout needs a string \"method\"", i + 1);
		p->method = pnstrdup(m->val.string.val, m->val.string.len);
		if (!pos_payment_method_known(p->method))
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE, POS_METHODS_HINT,
					 "payment %d of checkout has an unknown method \"%s\"", i + 1, mk_quote_short(p->method));
		p->given = parse_amount(getKeyJsonValueFromContainer(obj, "amount", 6, &a),
								psprintf("amount of payment %d", i + 1), true);
		if (p->given < 0)
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE, PAYMENTS_HINT,
					 "payment %d of checkout needs an \"amount\"", i + 1);
		r = getKeyJsonValueFromContainer(obj, "reference", 9, &a);
		if (r != NULL && r->type != jbvNull)
		{
			if (r->type != jbvString || r->val.string.len == 0 || r->val.string.len > 64)
				mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL,
						 "reference of payment %d of checkout must be a string of 1 to 64 characters", i + 1);
			p->reference = pnstrdup(r->val.string.val, r->val.string.len);
		}
		if (strcmp(p->method, "cash") != 0 && p->reference == NULL)
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
					 "Give the card approval code, QRIS or transfer reference as \"reference\".",
					 "payment %d of checkout (%s) needs a \"reference\"", i + 1, p->method);
	}
}

/* --------------------------------------------------------------- money */

/*
 * Every line's discounts and money.  The sale's discount is shared among
 * the lines in proportion to what each costs after its own discount, in
 * whole rupiah, by largest remainder (ties: the earlier line), so the
 * shares add up to the discount exactly.
 */
static void
compute_money(Checkout *co)
{
	int64		base = 0, sale_disc = 0, given = 0;
	int64	   *rem = palloc(sizeof(int64) * co->n);

	for (int i = 0; i < co->n; i++)
	{
		CoLine	   *l = &co->lines[i];
		int64		gross;

		pos_line_money(pos_numeric_cents(l->price, "price"), l->qty, 0, 0, 0, true, &l->m);
		gross = l->m.gross;
		if (l->pct_bp >= 0)
			l->disc = pos_percent_rupiah(gross, l->pct_bp);
		else if (l->disc_amount >= 0)
			l->disc = l->disc_amount;
		if (l->disc > gross)
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL,
					 "the discount %s of line %d of checkout is more than the line's price %s",
					 pos_rupiah(l->disc), i + 1, pos_rupiah(gross));
		base += gross - l->disc;
	}
	if (co->sale_pct_bp >= 0)
		sale_disc = pos_percent_rupiah(base, co->sale_pct_bp);
	else if (co->sale_amount >= 0)
		sale_disc = co->sale_amount;
	if (sale_disc > base)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL,
				 "the sale's discount %s is more than what its lines cost, %s",
				 pos_rupiah(sale_disc), pos_rupiah(base));
	if (sale_disc > 0)
	{
		/* in whole rupiah: floor shares, then one rupiah more to the largest remainders */
		int64		rupiah = sale_disc / 100, cents = sale_disc % 100;

		for (int i = 0; i < co->n; i++)
		{
			CoLine	   *l = &co->lines[i];
			__int128	num = (__int128) rupiah * (l->m.gross - l->disc);

			l->sdisc = (int64) (num / base) * 100;
			rem[i] = (int64) (num % base);
			given += l->sdisc;
		}
		while (given < rupiah * 100)
		{
			int			best = -1;

			for (int i = 0; i < co->n; i++)
				if (rem[i] >= 0 && (best < 0 || rem[i] > rem[best]))
					best = i;
			co->lines[best].sdisc += 100;
			rem[best] = -1;
			given += 100;
		}
		/* cents of a discount with cents: to the first line that has room */
		for (int i = 0; i < co->n && cents > 0; i++)
		{
			CoLine	   *l = &co->lines[i];
			int64		room = l->m.gross - l->disc - l->sdisc;
			int64		take = Min(room, cents);

			l->sdisc += take;
			cents -= take;
		}
	}
	co->total = 0;
	for (int i = 0; i < co->n; i++)
	{
		CoLine	   *l = &co->lines[i];

		pos_line_money(pos_numeric_cents(l->price, "price"), l->qty, l->disc, l->sdisc,
					   l->rate_bp, co->included, &l->m);
		co->total += l->m.amount;
	}
	pfree(rem);
}

/*
 * Match the payments to the total: the non-cash ones count first and may
 * not exceed it (23M03); cash covers the rest (23M02 when short), in the
 * order given, and the change comes out of the cash.
 */
static void
plan_payments(Checkout *co, ArrayType *accepted)
{
	int64		due = co->total, noncash = 0;
	Datum	   *acc;
	int			nacc;

	deconstruct_array(accepted, TEXTOID, -1, false, TYPALIGN_INT, &acc, NULL, &nacc);
	if (co->npay < 0)
	{
		/* the old call: the total, in cash, exactly */
		co->npay = due > 0 ? 1 : 0;
		co->pays = palloc0(sizeof(CoPay));
		co->pays[0].method = "cash";
		co->pays[0].amount = co->pays[0].tendered = due;
		return;
	}
	for (int i = 0; i < co->npay; i++)
	{
		CoPay	   *p = &co->pays[i];
		bool		ok = false;

		for (int k = 0; k < nacc && !ok; k++)
			ok = strcmp(TextDatumGetCString(acc[k]), p->method) == 0;
		if (!ok)
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
					 "An admin sets the methods a branch accepts in mekatek.branch.payment_methods.",
					 "payment method \"%s\" is not accepted at branch %d", p->method, co->branch_id);
		if (strcmp(p->method, "cash") != 0)
		{
			p->amount = p->given;
			noncash += p->given;
		}
	}
	if (noncash > due)
		ereport(ERROR,
				(errcode(POS_ERRCODE_OVERPAID),
				 errmsg("the card, QRIS, transfer and store credit payments, %s, exceed the total %s",
						pos_rupiah(noncash), pos_rupiah(due)),
				 errdetail_internal("{\"total\": %s, \"non_cash\": %s}",
									DatumGetCString(DirectFunctionCall1(numeric_out, pos_cents_numeric(due))),
									DatumGetCString(DirectFunctionCall1(numeric_out, pos_cents_numeric(noncash)))),
				 errhint("Only cash gives change; charge a non-cash method at most what is left to pay.")));
	due -= noncash;
	for (int i = 0; i < co->npay; i++)
	{
		CoPay	   *p = &co->pays[i];

		if (strcmp(p->method, "cash") != 0)
			continue;
		if (due == 0)
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL,
					 "payment %d of checkout (cash %s) is not needed: the sale is paid already",
					 i + 1, pos_rupiah(p->given));
		p->tendered = p->given;
		p->amount = Min(p->given, due);
		p->change = p->tendered - p->amount;
		due -= p->amount;
	}
	if (due > 0)
	{
		int64		paid = co->total - due;

		ereport(ERROR,
				(errcode(POS_ERRCODE_UNDERPAID),
				 errmsg("the payments, %s, do not cover the total %s", pos_rupiah(paid), pos_rupiah(co->total)),
				 errdetail_internal("{\"total\": %s, \"paid\": %s}",
									DatumGetCString(DirectFunctionCall1(numeric_out, pos_cents_numeric(co->total))),
									DatumGetCString(DirectFunctionCall1(numeric_out, pos_cents_numeric(paid)))),
				 errhint("Add a payment for the rest; cash tendered above the total is given back as change.")));
	}
}

/* ------------------------------------------------------------ database */

/* The branch's settings, and who may sell there; raises this module's errors. */
static ArrayType *
check_branch(Checkout *co)
{
	static const Oid types[] = {INT4OID};
	Datum		args[1];
	bool		isnull, staff_null;
	int32		staff_branch;
	ArrayType  *accepted;

	mk_spi_plan(&branch_plan,
				"SELECT b.prices_include_tax, b.payment_methods, st.branch_id, st.role_name IS NOT NULL,"
				"       (pg_catalog.now() AT TIME ZONE b.time_zone)::date, b.name, b.time_zone, st.full_name,"
				"       CURRENT_USER::text"
				"  FROM mekatek.branch b"
				"  LEFT JOIN mekatek.staff st ON st.role_name OPERATOR(pg_catalog.=) CURRENT_USER"
				" WHERE b.branch_id OPERATOR(pg_catalog.=) $1",
				1, types);
	args[0] = Int32GetDatum(co->branch_id);
	if (mk_spi_execute_plan(branch_plan, args, NULL, true, 1, SPI_OK_SELECT, "branch lookup") == 0)
		mk_error(ERRCODE_FOREIGN_KEY_VIOLATION, NULL, "branch %d does not exist", co->branch_id);
	co->included = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	accepted = DatumGetArrayTypePCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	staff_branch = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &staff_null));
	co->today = DatumGetDateADT(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5, &isnull));
	/* SPI_getvalue copies into the current (the call's) context */
	co->branch_name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 6);
	co->time_zone = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 7);
	co->staff_name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 8);
	co->user_name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 9);
	pos_staff_check(co->branch_id, DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull)),
					staff_null, staff_branch);
	return accepted;
}

static void
resolve_skus(Checkout *co)
{
	static const Oid types[] = {TEXTARRAYOID, INT4OID};
	Datum		args[2];
	Datum	   *skus = palloc(sizeof(Datum) * co->n);
	bool		isnull;

	for (int i = 0; i < co->n; i++)
		skus[i] = CStringGetTextDatum(co->lines[i].sku);
	mk_spi_plan(&resolve_plan,
				"SELECT p.product_id, p.price, p.active,"
				"       coalesce((tc.rate OPERATOR(pg_catalog.*) 100)::int4, $2), p.name"
				"  FROM unnest($1) WITH ORDINALITY AS t(sku, ord)"
				"  LEFT JOIN mekatek.product p ON p.sku OPERATOR(pg_catalog.=) t.sku"
				"  LEFT JOIN mekatek.tax_class tc ON tc.tax_class OPERATOR(pg_catalog.=) p.tax_class"
				" ORDER BY t.ord",
				2, types);
	args[0] = PointerGetDatum(construct_array(skus, co->n, TEXTOID, -1, false, TYPALIGN_INT));
	args[1] = Int32GetDatum(pos_ppn_rate_bp());
	if (mk_spi_execute_plan(resolve_plan, args, NULL, true, 0, SPI_OK_SELECT, "SKU lookup") != (uint64) co->n)
		mk_error(ERRCODE_INTERNAL_ERROR, NULL, "SKU lookup returned " UINT64_FORMAT " rows for %d lines",
				 SPI_processed, co->n);
	for (int i = 0; i < co->n; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		CoLine	   *l = &co->lines[i];

		l->pid = SPI_getbinval(row, desc, 1, &isnull);
		if (isnull)
			mk_error(ERRCODE_FOREIGN_KEY_VIOLATION, "Register the product in mekatek.product first.",
					 "unknown SKU \"%s\" on line %d of checkout", mk_quote_short(l->sku), i + 1);
		l->price = SPI_datumTransfer(SPI_getbinval(row, desc, 2, &isnull), false, -1);
		if (!DatumGetBool(SPI_getbinval(row, desc, 3, &isnull)))
			mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, NULL,
					 "product \"%s\" is not active", l->sku);
		l->rate_bp = DatumGetInt32(SPI_getbinval(row, desc, 4, &isnull));
		l->name = SPI_getvalue(row, desc, 5);
	}
}

/*
 * The sale with this request's idempotency key, or 0.  must_exist: after a
 * conflict, the sale of the transaction we waited for.
 */
static int64
find_sale(Checkout *co, bool must_exist)
{
	static const Oid types[] = {INT4OID, TEXTOID};
	Datum		args[2];
	bool		isnull;

	mk_spi_plan(&existing_plan,
				"SELECT sale_id FROM mekatek.sale WHERE branch_id OPERATOR(pg_catalog.=) $1"
				"   AND idempotency_key OPERATOR(pg_catalog.=) $2", 2, types);
	args[0] = Int32GetDatum(co->branch_id);
	args[1] = CStringGetTextDatum(co->key);
	if (mk_spi_execute_plan(existing_plan, args, NULL, false, 1, SPI_OK_SELECT, "idempotency lookup") == 1)
		return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (must_exist)
		mk_error(ERRCODE_T_R_SERIALIZATION_FAILURE, "Retry the request; in READ COMMITTED it finds the first sale.",
				 "a sale with idempotency key \"%s\" exists at branch %d but is not visible to this transaction",
				 mk_quote_short(co->key), co->branch_id);
	return 0;
}

/* The new sale, or 0 when a sale with this idempotency key exists (*existing). */
static int64
insert_sale(Checkout *co, int64 *existing)
{
	static const Oid types[] = {INT4OID, TEXTOID};
	Datum		args[2];
	char		nulls[2] = {' ', co->key ? ' ' : 'n'};
	bool		isnull;
	volatile uint64 n = 0;

	mk_spi_plan(&sale_plan,
				"INSERT INTO mekatek.sale (branch_id, idempotency_key) VALUES ($1, $2)"
				" ON CONFLICT (branch_id, idempotency_key) DO NOTHING RETURNING sale_id", 2, types);
	args[0] = Int32GetDatum(co->branch_id);
	args[1] = co->key ? CStringGetTextDatum(co->key) : (Datum) 0;
	pos_checkout_staff_checked = true;
	PG_TRY();
	{
		n = mk_spi_execute_plan(sale_plan, args, nulls, false, 0, SPI_OK_INSERT_RETURNING, "sale insert");
	}
	PG_FINALLY();
	{
		pos_checkout_staff_checked = false;
	}
	PG_END_TRY();
	if (n == 1)
		return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	*existing = find_sale(co, true);
	return 0;
}

static void
insert_lines(Checkout *co, int64 sale_id)
{
	static const Oid types[] = {INT8OID, INT8ARRAYOID, INT4ARRAYOID, NUMERICARRAYOID, NUMERICARRAYOID,
	NUMERICARRAYOID, NUMERICARRAYOID, BOOLOID, TEXTARRAYOID, TEXTARRAYOID, DATEARRAYOID};
	Datum		args[11];
	Datum	   *pids = palloc(sizeof(Datum) * co->n), *qtys = palloc(sizeof(Datum) * co->n);
	Datum	   *prices = palloc(sizeof(Datum) * co->n), *discs = palloc(sizeof(Datum) * co->n);
	Datum	   *sdiscs = palloc(sizeof(Datum) * co->n), *rates = palloc(sizeof(Datum) * co->n);
	Datum	   *rx[3];
	bool	   *rx_null[3];
	int			dims[1] = {co->n}, lbs[1] = {1};

	for (int k = 0; k < 3; k++)
	{
		rx[k] = palloc(sizeof(Datum) * co->n);
		rx_null[k] = palloc(sizeof(bool) * co->n);
	}
	for (int i = 0; i < co->n; i++)
	{
		for (int k = 0; k < 3; k++)
		{
			rx[k][i] = co->lines[i].rx[k];
			rx_null[k][i] = co->lines[i].rx_null[k];
		}
		pids[i] = co->lines[i].pid;
		qtys[i] = Int32GetDatum(co->lines[i].qty);
		prices[i] = co->lines[i].price;
		discs[i] = pos_cents_numeric(co->lines[i].disc);
		sdiscs[i] = pos_cents_numeric(co->lines[i].sdisc);
		rates[i] = pos_cents_numeric(co->lines[i].rate_bp);
	}
	mk_spi_plan(&lines_plan,
				"INSERT INTO mekatek.sale_line (sale_id, line_no, product_id, qty, unit_price,"
				"                               discount, sale_discount, tax_rate, tax_included,"
				"                               prescriber, prescription_no, prescription_date)"
				" SELECT $1, t.ord, t.product_id, t.qty, t.price, t.discount, t.sale_discount, t.rate, $8,"
				"        t.prescriber, t.rx_no, t.rx_date"
				"   FROM unnest($2, $3, $4, $5, $6, $7, $9, $10, $11) WITH ORDINALITY"
				"        AS t(product_id, qty, price, discount, sale_discount, rate, prescriber, rx_no, rx_date, ord)",
				11, types);
	args[0] = Int64GetDatum(sale_id);
	args[1] = PointerGetDatum(construct_array(pids, co->n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[2] = PointerGetDatum(construct_array(qtys, co->n, INT4OID, 4, true, TYPALIGN_INT));
	args[3] = PointerGetDatum(construct_array(prices, co->n, NUMERICOID, -1, false, TYPALIGN_INT));
	args[4] = PointerGetDatum(construct_array(discs, co->n, NUMERICOID, -1, false, TYPALIGN_INT));
	args[5] = PointerGetDatum(construct_array(sdiscs, co->n, NUMERICOID, -1, false, TYPALIGN_INT));
	args[6] = PointerGetDatum(construct_array(rates, co->n, NUMERICOID, -1, false, TYPALIGN_INT));
	args[7] = BoolGetDatum(co->included);
	args[8] = PointerGetDatum(construct_md_array(rx[0], rx_null[0], 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
	args[9] = PointerGetDatum(construct_md_array(rx[1], rx_null[1], 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
	args[10] = PointerGetDatum(construct_md_array(rx[2], rx_null[2], 1, dims, lbs, DATEOID, 4, true, TYPALIGN_INT));
	mk_spi_execute_plan(lines_plan, args, NULL, false, 0, SPI_OK_INSERT, "sale line insert");
}

static void
insert_payments(Checkout *co, int64 sale_id)
{
	static const Oid types[] = {INT8OID, TEXTARRAYOID, NUMERICARRAYOID, NUMERICARRAYOID,
	NUMERICARRAYOID, TEXTARRAYOID};
	Datum		args[6];
	int			n = co->npay;
	Datum	   *m = palloc(sizeof(Datum) * n), *a = palloc(sizeof(Datum) * n);
	Datum	   *t = palloc(sizeof(Datum) * n), *c = palloc(sizeof(Datum) * n);
	Datum	   *r = palloc(sizeof(Datum) * n);
	bool	   *tn = palloc(sizeof(bool) * n), *rn = palloc(sizeof(bool) * n);
	int			dims[1] = {n}, lbs[1] = {1};

	if (n == 0)
		return;
	for (int i = 0; i < n; i++)
	{
		CoPay	   *p = &co->pays[i];
		bool		cash = strcmp(p->method, "cash") == 0;

		m[i] = CStringGetTextDatum(p->method);
		a[i] = pos_cents_numeric(p->amount);
		tn[i] = !cash;
		t[i] = cash ? pos_cents_numeric(p->tendered) : (Datum) 0;
		c[i] = cash ? pos_cents_numeric(p->change) : (Datum) 0;
		rn[i] = p->reference == NULL;
		r[i] = p->reference ? CStringGetTextDatum(p->reference) : (Datum) 0;
	}
	mk_spi_plan(&pay_plan,
				"INSERT INTO mekatek.payment (sale_id, method, amount, tendered, change, reference)"
				" SELECT $1, t.m, t.a, t.t, t.c, t.r FROM unnest($2, $3, $4, $5, $6) AS t(m, a, t, c, r)",
				6, types);
	args[0] = Int64GetDatum(sale_id);
	args[1] = PointerGetDatum(construct_array(m, n, TEXTOID, -1, false, TYPALIGN_INT));
	args[2] = PointerGetDatum(construct_array(a, n, NUMERICOID, -1, false, TYPALIGN_INT));
	args[3] = PointerGetDatum(construct_md_array(t, tn, 1, dims, lbs, NUMERICOID, -1, false, TYPALIGN_INT));
	args[4] = PointerGetDatum(construct_md_array(c, tn, 1, dims, lbs, NUMERICOID, -1, false, TYPALIGN_INT));
	args[5] = PointerGetDatum(construct_md_array(r, rn, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
	mk_spi_execute_plan(pay_plan, args, NULL, false, 0, SPI_OK_INSERT, "payment insert");
}

static Datum
receipt_of(int64 sale_id, MemoryContext into)
{
	static const Oid types[] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(sale_id)};
	bool		isnull;
	Datum		doc;
	MemoryContext old;

	/* receipt() is SECURITY DEFINER: it reads the lots, which a cashier cannot */
	mk_spi_plan(&receipt_plan, "SELECT mekatek.receipt($1)", 1, types);
	mk_spi_execute_plan(receipt_plan, args, NULL, false, 1, SPI_OK_SELECT, "receipt");
	doc = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	old = MemoryContextSwitchTo(into);
	doc = PointerGetDatum(PG_DETOAST_DATUM_COPY(doc));
	MemoryContextSwitchTo(old);
	return doc;
}


/* ------------------------------------------------------------ receipt */

/*
 * The receipt of the sale this call has just written, built from what it
 * knows (the lines, the payments, the lots the stock trigger took and the
 * paid row the guard trigger stored: pos_checkout_capture) instead of read
 * back with receipt.c's query, which cost a seventh of a sale and ran with
 * the branch's receipt counter locked.  It must equal mekatek.receipt(),
 * byte for byte (sql/pos_receipt_built.sql compares them): the same
 * values, with the scales of the stored columns, through the same output
 * functions.  (Datum) 0 when the capture is not what this expects; the
 * caller then reads the receipt back.
 */
/* A column of the captured sale row; *ok false when absent or NULL. */
static Datum
sale_col(const char *name, bool *ok)
{
	PosCheckoutCapture *c = &pos_checkout_capture;
	int			att = SPI_fnumber(c->desc, name);
	bool		isnull = true;
	Datum		d = (Datum) 0;

	if (att > 0)
		d = heap_getattr(c->sale, att, c->desc, &isnull);
	if (isnull)
		*ok = false;
	return d;
}

static Datum
receipt_built(Checkout *co, int64 sale_id, MemoryContext into)
{
	PosCheckoutCapture *c = &pos_checkout_capture;
	JsonbParseState *st = NULL;
	JsonbValue *res;
	bool		ok = true;
	Datum		receipt_no, cashier, sold_at, when;
	Datum		gross, discount, dpp, ppn, total, refunded;
	char	   *login;
	int64		change = 0;
	bool		any_cash = false;
	MemoryContext old;
	Jsonb	   *doc;

	if (c->sale == NULL || c->nlots == 0 || co->time_zone == NULL || co->branch_name == NULL)
		return (Datum) 0;
	receipt_no = sale_col("receipt_no", &ok);
	cashier = sale_col("cashier", &ok);
	sold_at = sale_col("sold_at", &ok);
	gross = sale_col("gross", &ok);
	discount = sale_col("discount", &ok);
	dpp = sale_col("dpp", &ok);
	ppn = sale_col("ppn", &ok);
	total = sale_col("total", &ok);
	refunded = sale_col("refunded", &ok);
	if (!ok || DatumGetInt64(sale_col("sale_id", &ok)) != sale_id || !ok)
		return (Datum) 0;
	/* the staff name read in check_branch is the acting role's: the sale's cashier */
	login = NameStr(*DatumGetName(cashier));
	if (co->user_name == NULL || strcmp(login, co->user_name) != 0)
		return (Datum) 0;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	mk_jsonb_int(&st, "sale_id", sale_id);
	mk_jsonb_str(&st, "receipt_no", TextDatumGetCString(receipt_no));
	mk_jsonb_str(&st, "status", "paid");
	mk_jsonb_key(&st, "branch");
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	mk_jsonb_int(&st, "branch_id", co->branch_id);
	mk_jsonb_str(&st, "name", co->branch_name);
	pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	mk_jsonb_key(&st, "cashier");
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	mk_jsonb_str(&st, "login", login);
	mk_jsonb_str(&st, "name", co->staff_name);
	pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	/* to_char(timezone(b.time_zone, s.sold_at), ...) as receipt.c writes it */
	when = DirectFunctionCall2(timestamptz_zone, CStringGetTextDatum(co->time_zone), sold_at);
	mk_jsonb_str(&st, "time", TextDatumGetCString(DirectFunctionCall2Coll(timestamp_to_char, DEFAULT_COLLATION_OID, when,
																	CStringGetTextDatum("YYYY-MM-DD\"T\"HH24:MI:SS"))));
	mk_jsonb_str(&st, "time_zone", co->time_zone);
	mk_jsonb_bool(&st, "prices_include_tax", co->included);

	mk_jsonb_key(&st, "lines");
	pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < co->n; i++)
	{
		CoLine	   *l = &co->lines[i];
		int			nl = 0;

		pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
		mk_jsonb_int(&st, "line_no", i + 1);
		mk_jsonb_str(&st, "sku", l->sku);
		mk_jsonb_str(&st, "name", l->name);
		mk_jsonb_int(&st, "qty", l->qty);
		mk_jsonb_numeric(&st, "unit_price", l->price);
		mk_jsonb_numeric(&st, "discount", pos_cents_numeric(l->disc));
		mk_jsonb_numeric(&st, "sale_discount", pos_cents_numeric(l->sdisc));
		mk_jsonb_numeric(&st, "tax_rate", pos_cents_numeric(l->rate_bp));
		mk_jsonb_numeric(&st, "dpp", pos_cents_numeric(l->m.dpp));
		mk_jsonb_numeric(&st, "ppn", pos_cents_numeric(l->m.ppn));
		mk_jsonb_numeric(&st, "amount", pos_cents_numeric(l->m.amount));
		mk_jsonb_int(&st, "returned", 0);
		mk_jsonb_key(&st, "lots");
		pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
		/* FEFO took them in (expires_on, batch_id) order, the receipt's order */
		for (int k = 0; k < c->nlots; k++)
		{
			PosCheckoutLot *lot = &c->lots[k];
			char		buf[MAXDATELEN + 1];

			if (lot->line_no != i + 1)
				continue;
			if (nl > 0)
			{
				PosCheckoutLot *prev = NULL;

				for (int j = k - 1; j >= 0 && prev == NULL; j--)
					if (c->lots[j].line_no == i + 1)
						prev = &c->lots[j];
				if (prev->expires_on > lot->expires_on ||
					(prev->expires_on == lot->expires_on && prev->batch_id >= lot->batch_id))
					return (Datum) 0;
			}
			nl++;
			pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
			mk_jsonb_str(&st, "lot", lot->lot);
			/* the value keeps a pointer to the string: a copy, not buf */
			mk_jsonb_str(&st, "expires_on", pstrdup(JsonEncodeDateTime(buf, DateADTGetDatum(lot->expires_on), DATEOID, NULL)));
			mk_jsonb_int(&st, "qty", lot->qty);
			pushJsonbValue(&st, WJB_END_OBJECT, NULL);
		}
		if (nl == 0)
			return (Datum) 0;
		pushJsonbValue(&st, WJB_END_ARRAY, NULL);
		pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	}
	pushJsonbValue(&st, WJB_END_ARRAY, NULL);

	mk_jsonb_numeric(&st, "gross", gross);
	mk_jsonb_numeric(&st, "discount", discount);
	mk_jsonb_numeric(&st, "dpp", dpp);
	mk_jsonb_numeric(&st, "ppn", ppn);
	mk_jsonb_numeric(&st, "total", total);
	mk_jsonb_key(&st, "payments");
	pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < co->npay; i++)
	{
		CoPay	   *p = &co->pays[i];
		bool		cash = strcmp(p->method, "cash") == 0;

		if (p->amount <= 0)
			return (Datum) 0;
		/* jsonb_strip_nulls: no tendered and change but for cash, no null reference */
		pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
		mk_jsonb_str(&st, "method", p->method);
		mk_jsonb_numeric(&st, "amount", pos_cents_numeric(p->amount));
		if (cash)
		{
			mk_jsonb_numeric(&st, "tendered", pos_cents_numeric(p->tendered));
			mk_jsonb_numeric(&st, "change", pos_cents_numeric(p->change));
			change += p->change;
			any_cash = true;
		}
		if (p->reference)
			mk_jsonb_str(&st, "reference", p->reference);
		pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	}
	pushJsonbValue(&st, WJB_END_ARRAY, NULL);
	/* coalesce(sum(change), 0): numeric(14,2)'s scale, or a bare 0 without cash */
	mk_jsonb_numeric(&st, "change", any_cash ? pos_cents_numeric(change) : NumericGetDatum(int64_to_numeric(0)));
	mk_jsonb_numeric(&st, "refunded", refunded);
	res = pushJsonbValue(&st, WJB_END_OBJECT, NULL);

	old = MemoryContextSwitchTo(into);
	doc = JsonbValueToJsonb(res);
	MemoryContextSwitchTo(old);
	return JsonbPGetDatum(doc);
}

static void
capture_reset(void)
{
	pos_checkout_capture.collect = false;
	pos_checkout_capture.nlots = pos_checkout_capture.cap = 0;
	pos_checkout_capture.lots = NULL;
	pos_checkout_capture.sale = NULL;
	pos_checkout_capture.desc = NULL;
}

/*
 * 0.1.0's checkout on 0.1.0's tables (the library is new, the schema not
 * updated yet): no tax, no payments; row security decides the branch.
 */
static int64
legacy_checkout(Checkout *co)
{
	static const Oid rtypes[] = {TEXTARRAYOID};
	static const Oid stypes[] = {INT4OID};
	static const Oid ltypes[] = {INT8OID, INT8ARRAYOID, INT4ARRAYOID, NUMERICARRAYOID};
	Datum		args[4];
	Datum	   *skus = palloc(sizeof(Datum) * co->n), *pids = palloc(sizeof(Datum) * co->n);
	Datum	   *qtys = palloc(sizeof(Datum) * co->n), *prices = palloc(sizeof(Datum) * co->n);
	bool		isnull;
	int64		sale_id;

	for (int i = 0; i < co->n; i++)
		skus[i] = CStringGetTextDatum(co->lines[i].sku);
	mk_spi_plan(&legacy_resolve_plan,
				"SELECT p.product_id, p.price, p.active FROM unnest($1) WITH ORDINALITY AS t(sku, ord)"
				"  LEFT JOIN mekatek.product p ON p.sku OPERATOR(pg_catalog.=) t.sku ORDER BY t.ord",
				1, rtypes);
	args[0] = PointerGetDatum(construct_array(skus, co->n, TEXTOID, -1, false, TYPALIGN_INT));
	mk_spi_execute_plan(legacy_resolve_plan, args, NULL, true, 0, SPI_OK_SELECT, "SKU lookup");
	for (int i = 0; i < co->n; i++)
	{
		pids[i] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
		if (isnull)
			mk_error(ERRCODE_FOREIGN_KEY_VIOLATION, "Register the product in mekatek.product first.",
					 "unknown SKU \"%s\" on line %d of checkout", mk_quote_short(co->lines[i].sku), i + 1);
		prices[i] = SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull),
									  false, -1);
		if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull)))
			mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, NULL,
					 "product \"%s\" is not active", co->lines[i].sku);
		qtys[i] = Int32GetDatum(co->lines[i].qty);
	}
	mk_spi_plan(&legacy_sale_plan,
				"INSERT INTO mekatek.sale (branch_id) VALUES ($1) RETURNING sale_id", 1, stypes);
	args[0] = Int32GetDatum(co->branch_id);
	mk_spi_execute_plan(legacy_sale_plan, args, NULL, false, 0, SPI_OK_INSERT_RETURNING, "sale insert");
	sale_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	mk_spi_plan(&legacy_lines_plan,
				"INSERT INTO mekatek.sale_line (sale_id, line_no, product_id, qty, unit_price)"
				" SELECT $1, t.ord, t.product_id, t.qty, t.price"
				"   FROM unnest($2, $3, $4) WITH ORDINALITY AS t(product_id, qty, price, ord)",
				4, ltypes);
	args[0] = Int64GetDatum(sale_id);
	args[1] = PointerGetDatum(construct_array(pids, co->n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[2] = PointerGetDatum(construct_array(qtys, co->n, INT4OID, 4, true, TYPALIGN_INT));
	args[3] = PointerGetDatum(construct_array(prices, co->n, NUMERICOID, -1, false, TYPALIGN_INT));
	pos_checkout_sale_id = sale_id;
	mk_spi_execute_plan(legacy_lines_plan, args, NULL, false, 0, SPI_OK_INSERT, "sale line insert");
	pos_checkout_sale_id = 0;
	return sale_id;
}

/*
 * The sale; *doc its receipt when want_receipt.  Errors of the statements
 * inside are re-raised without their CONTEXT lines of our SQL.
 */
static int64
run_checkout(Checkout *co, bool want_receipt, Datum *doc)
{
	MemoryContext outer = CurrentMemoryContext;
	volatile int64 sale_id = 0;

	SPI_connect();
	PG_TRY();
	{
		if (!pos_till_schema())
			sale_id = legacy_checkout(co);
		else
		{
			ArrayType  *accepted = check_branch(co);
			int64		existing = 0;

			/* a retry of a request that went through: its sale, whatever it says now */
			if (co->key != NULL && (existing = find_sale(co, false)) != 0)
				sale_id = existing;
			else
			{
				resolve_skus(co);
				compute_money(co);
				plan_payments(co, accepted);
				sale_id = insert_sale(co, &existing);
				if (sale_id != 0)
				{
					/*
					 * Payments first: the lines' statement marks the sale
					 * paid, which takes the branch's receipt number and
					 * holds its counter row until commit, so as little as
					 * possible comes after it.
					 */
					pos_checkout_sale_id = sale_id;
					pos_checkout_branch_id = co->branch_id;
					pos_checkout_today = co->today;
					pos_checkout_branch_known = true;
					insert_payments(co, sale_id);
					capture_reset();
					pos_checkout_capture.collect = want_receipt;
					pos_checkout_capture.cxt = CurrentMemoryContext;
					insert_lines(co, sale_id);
					pos_checkout_capture.collect = false;
					pos_checkout_sale_id = 0;
					pos_checkout_branch_known = false;
					if (want_receipt)
						*doc = receipt_built(co, sale_id, outer);
					capture_reset();
				}
				else
					sale_id = existing;
			}
		}
		if (want_receipt && *doc == (Datum) 0)
			*doc = receipt_of(sale_id, outer);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		pos_checkout_sale_id = 0;
		pos_checkout_branch_known = false;
		capture_reset();
		MemoryContextSwitchTo(outer);
		edata = CopyErrorData();
		if (edata->sqlerrcode == ERRCODE_INTERNAL_ERROR || edata->elevel > ERROR)
			PG_RE_THROW();
		FlushErrorState();
		/* the caller's context callbacks add their lines again */
		edata->context = NULL;
		ThrowErrorData(edata);
	}
	PG_END_TRY();
	SPI_finish();
	return sale_id;
}

/* checkout(branch_id integer, lines jsonb) RETURNS bigint: 0.1.0's call. */
Datum
pos_checkout(PG_FUNCTION_ARGS)
{
	Checkout	co = {0};

	mk_arg_not_null(fcinfo, 0, "branch_id");
	mk_arg_not_null(fcinfo, 1, "lines");
	co.branch_id = PG_GETARG_INT32(0);
	parse_lines(&co, PG_GETARG_JSONB_P(1));
	co.npay = -1;
	co.sale_pct_bp = co.sale_amount = -1;
	PG_RETURN_INT64(run_checkout(&co, false, NULL));
}

/*
 * checkout(branch_id integer, lines jsonb, payments jsonb, discount jsonb
 * DEFAULT NULL, idempotency_key text DEFAULT NULL) RETURNS jsonb
 */
Datum
pos_checkout_pay(PG_FUNCTION_ARGS)
{
	Checkout	co = {0};
	Datum		doc = (Datum) 0;

	mk_arg_not_null(fcinfo, 0, "branch_id");
	mk_arg_not_null(fcinfo, 1, "lines");
	mk_arg_not_null(fcinfo, 2, "payments");
	co.branch_id = PG_GETARG_INT32(0);
	parse_lines(&co, PG_GETARG_JSONB_P(1));
	parse_payments(&co, PG_GETARG_JSONB_P(2));
	parse_sale_discount(&co, PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3));
	if (!PG_ARGISNULL(4))
	{
		co.key = text_to_cstring(PG_GETARG_TEXT_PP(4));
		if (strlen(co.key) == 0 || strlen(co.key) > 128)
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE, "Send a UUID or another key of 1 to 128 characters.",
					 "idempotency_key must have 1 to 128 characters, not %zu", strlen(co.key));
	}
	(void) run_checkout(&co, true, &doc);
	PG_RETURN_DATUM(doc);
}
