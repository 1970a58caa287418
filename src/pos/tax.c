/*
 * tax.c: a line's money, PPN included, in int64 cents.
 *
 * The rounding rule (README "PPN"): per line, half up, to whole rupiah.
 *   prices include PPN:   dpp = round(net * 100 / (100 + rate)), ppn = net - dpp,
 *                         amount = net
 *   prices exclude PPN:   dpp = net, ppn = round(net * rate / 100),
 *                         amount = net + ppn
 * where net = unit_price * qty - discount - sale_discount.  Rounding per
 * line makes every line of a receipt add up on its own, and a return of a
 * whole line gives back exactly what the line cost.  Intermediates are
 * 128-bit, so no product of a numeric(14,2) and a rate can overflow.
 */
#include "pos/pos.h"

#include "common/int.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

/* round(num / den) half up, for num >= 0 and den > 0 */
static int64
div_half_up(__int128 num, __int128 den)
{
	return (int64) ((2 * num + den) / (2 * den));
}

int64
pos_percent_rupiah(int64 cents, int64 bp)
{
	/* cents * bp / 10000 cents = cents * bp / 1000000 rupiah */
	return div_half_up((__int128) cents * bp, 1000000) * 100;
}

int64
pos_numeric_cents(Datum numeric, const char *what)
{
	Datum		c = DirectFunctionCall2(numeric_mul, numeric,
										DirectFunctionCall1(int4_numeric, Int32GetDatum(100)));
	Datum		whole = DirectFunctionCall2(numeric_trunc, c, Int32GetDatum(0));
	Datum		limit = DirectFunctionCall1(int8_numeric, Int64GetDatum(INT64CONST(99999999999999)));

	if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, c, whole)) != 0)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL,
				 "%s must have at most 2 decimals, not %s", what,
				 mk_quote_short(DatumGetCString(DirectFunctionCall1(numeric_out, numeric))));
	/* NaN compares above every number */
	if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, DirectFunctionCall1(numeric_abs, c), limit)) > 0)
		mk_error(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, NULL,
				 "%s is out of range: %s", what,
				 mk_quote_short(DatumGetCString(DirectFunctionCall1(numeric_out, numeric))));
	return DatumGetInt64(DirectFunctionCall1(numeric_int8, c));
}

Datum
pos_cents_numeric(int64 cents)
{
	char		buf[40];
	uint64		a = cents < 0 ? (uint64) (-(cents + 1)) + 1 : (uint64) cents;

	snprintf(buf, sizeof(buf), "%s" UINT64_FORMAT ".%02d", cents < 0 ? "-" : "",
			 a / 100, (int) (a % 100));
	return DirectFunctionCall3(numeric_in, CStringGetDatum(buf), ObjectIdGetDatum(InvalidOid),
							   Int32GetDatum(-1));
}

int32
pos_rate_bp(Datum numeric)
{
	return (int32) pos_numeric_cents(numeric, "tax rate");
}

void
pos_line_money(int64 unit_price, int32 qty, int64 discount, int64 sale_discount,
			   int32 rate_bp, bool included, PosLineMoney *m)
{
	if (pg_mul_s64_overflow(unit_price, qty, &m->gross) || m->gross > INT64CONST(99999999999999))
		mk_error(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, NULL,
				 "a line of %d units at %s is too large", qty, pos_rupiah(unit_price));
	m->net = m->gross - discount - sale_discount;
	if (discount < 0 || sale_discount < 0 || m->net < 0)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, "A discount is at most what the line costs.",
				 "the discounts (%s and %s) of a line exceed its price %s",
				 pos_rupiah(discount), pos_rupiah(sale_discount), pos_rupiah(m->gross));
	if (included)
	{
		/* rupiah = net cents * 10000 / (10000 + bp) / 100 */
		m->dpp = div_half_up((__int128) m->net * 10000, (__int128) (10000 + rate_bp) * 100) * 100;
		if (m->dpp > m->net)
			m->dpp = m->net;	/* a fraction of a rupiah of net: all of it is base */
		m->ppn = m->net - m->dpp;
		m->amount = m->net;
	}
	else
	{
		m->dpp = m->net;
		m->ppn = pos_percent_rupiah(m->net, rate_bp);
		m->amount = m->net + m->ppn;
	}
}

/* Indonesian style: "." groups thousands, "," before the cents (only when there are some). */
char *
pos_rupiah(int64 cents)
{
	uint64		a = cents < 0 ? (uint64) (-(cents + 1)) + 1 : (uint64) cents;
	uint64		whole = a / 100;
	char		digits[32];
	StringInfoData out;
	int			len, first;

	snprintf(digits, sizeof(digits), UINT64_FORMAT, whole);
	len = strlen(digits);
	initStringInfo(&out);
	appendStringInfoString(&out, cents < 0 ? "-Rp " : "Rp ");
	first = len % 3 == 0 ? 3 : len % 3;
	appendBinaryStringInfo(&out, digits, first);
	for (int i = first; i < len; i += 3)
	{
		appendStringInfoChar(&out, '.');
		appendBinaryStringInfo(&out, digits + i, 3);
	}
	if (a % 100 != 0)
		appendStringInfo(&out, ",%02d", (int) (a % 100));
	return out.data;
}
