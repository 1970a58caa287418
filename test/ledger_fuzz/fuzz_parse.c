/*
 * libFuzzer harness for the ledger's command parser (src/ledger/parse.c),
 * built outside the server: see test/scripts/ledger_fuzz.sh.
 *
 * Besides "no crash, no sanitizer report" it checks the parser's promises:
 * spans lie inside the input; accepted amounts are whole rupiah in range;
 * and the round-trip property: every amount the parser accepts prints in
 * the canonical form (lk_format_amount) to a string that parses back to
 * the same value.
 */
#include "ledger/parse.h"

#include <stdlib.h>
#include <string.h>

static void
check_span(const uint8_t *data, size_t size, lk_span s)
{
	if (s.len < 0)
		abort();
	if (s.len > 0 && ((const uint8_t *) s.p < data || (const uint8_t *) s.p + s.len > data + size))
		abort();
}

static void
round_trip(int64_t v)
{
	char		buf[32];
	char		err[LK_ERR_LEN];
	int64_t		back;
	size_t		n = lk_format_amount(v, buf);

	if (lk_parse_amount(buf, n, &back, err, sizeof(err)) != n || back != v)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lk_cmd		c;
	lk_status	st;
	int64_t		v;
	char		err[LK_ERR_LEN];
	char		phone[16];
	size_t		used;

	/* the input is not NUL-terminated: ASan catches any read past it */
	st = lk_parse((const char *) data, size, &c);
	if (st == LK_REJECT && (c.error[0] == '\0' || c.cmd == LK_NONE))
		abort();
	if (st == LK_OK)
	{
		check_span(data, size, c.rest);
		if (c.nargs < 0 || c.nargs > LK_MAX_ARGS)
			abort();
		for (int i = 0; i < c.nargs; i++)
			check_span(data, size, c.args[i]);
		if (c.cmd == LK_DONE)
		{
			if (c.qty < 1 || c.qty > LK_QTY_MAX || c.amount < 1 || c.amount > LK_AMOUNT_MAX)
				abort();
			round_trip(c.amount);
		}
		if (c.cmd == LK_PAYMENT && (c.amount < 1 || c.amount > LK_AMOUNT_MAX))
			abort();
	}

	used = lk_parse_amount((const char *) data, size, &v, err, sizeof(err));
	if (used > size)
		abort();
	if (used > 0)
	{
		if (v < 0 || v > LK_AMOUNT_MAX)
			abort();
		round_trip(v);
	}
	else if (err[0] == '\0')
		abort();

	{
		int			n = lk_phone((const char *) data, size, phone);

		if (n != -1 && (n < 8 || n > 15 || strlen(phone) != (size_t) n))
			abort();
	}
	(void) lk_math((const char *) data, size, &v, err, sizeof(err));
	return 0;
}
