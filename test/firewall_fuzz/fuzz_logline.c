/*
 * libFuzzer harness for the LOG-line parser (src/firewall/logline.c), built
 * outside the server:  see test/scripts/firewall_fuzz.sh.
 *
 * Besides "no crash, no sanitizer report" it checks the parser's promises:
 * every span it returns lies inside the input, and counts stay in bounds.
 */
#include "firewall/logline.h"

#include <stdio.h>
#include <stdlib.h>

static void
check_span(const uint8_t *data, size_t size, fwl_span s)
{
	if (s.len < 0)
		abort();
	if (s.len == 0)
		return;
	if ((const uint8_t *) s.p < data || (const uint8_t *) s.p + s.len > data + size)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fwl_event	ev;
	size_t		off;
	fwl_status	st;

	/* the input is not NUL-terminated: ASan catches any read past it */
	st = fwl_parse((const char *) data, size, &ev, &off);
	if (off > size && st != FWL_ERR_NUL && st != FWL_ERR_TOO_LONG)
		abort();
	if (st != FWL_OK)
		return 0;
	check_span(data, size, ev.host);
	check_span(data, size, ev.prefix);
	check_span(data, size, ev.in_iface);
	check_span(data, size, ev.out_iface);
	check_span(data, size, ev.proto);
	check_span(data, size, ev.inner_proto);
	if (ev.nkv < 0 || ev.nkv > FWL_MAX_KV || ev.nflags < 0 || ev.nflags > FWL_MAX_FLAGS)
		abort();
	for (int i = 0; i < ev.nkv; i++)
	{
		check_span(data, size, ev.kv[i].key);
		if (ev.kv[i].key.len == 0)
			abort();
		if (ev.kv[i].has_val)
			check_span(data, size, ev.kv[i].val);
	}
	for (int i = 0; i < ev.nflags; i++)
		check_span(data, size, ev.tcp_flags[i]);
	if (ev.family != 4 && ev.family != 6)
		abort();
	if (ev.header == FWL_HDR_ISO &&
		(ev.mon < 1 || ev.mon > 12 || ev.day < 1 || ev.day > fwl_days_in_month(ev.year, ev.mon)))
		abort();
	return 0;
}
