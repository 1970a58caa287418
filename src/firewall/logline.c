/*
 * logline.c: the netfilter LOG-line parser (see logline.h).
 *
 * The layout follows the kernel's net/netfilter/nf_log_syslog.c: the log
 * prefix is printed immediately before "IN=", so a prefix "DROP_LOG" yields
 * "DROP_LOGIN=eth0 OUT= ...".  The parser therefore looks for the first
 * "IN=<iface> OUT=" pair rather than for a word boundary.  Every loop is
 * linear in the line length (the fuzz harness would find the quadratic ones)
 * and nothing is written outside *ev.
 */
#include "firewall/logline.h"

#include <arpa/inet.h>
#include <string.h>

/* syslog lines are at most 8 KiB in rsyslog's default; the kernel's < 1 KiB */
#define FWL_MAX_LINE 8192

static const char *const months[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

static const char *const tcp_flag_names[] = {
	"CWR", "ECE", "URG", "ACK", "PSH", "RST", "SYN", "FIN"
};

const char *
fwl_status_text(fwl_status st)
{
	switch (st)
	{
		case FWL_OK:
			return "ok";
		case FWL_ERR_NO_IN_OUT:
			return "no \"IN=<interface> OUT=\" pair";
		case FWL_ERR_HEADER:
			return "impossible date in the syslog header";
		case FWL_ERR_FIELD:
			return "a field that is neither KEY=VALUE, a flag nor [...]";
		case FWL_ERR_NUMBER:
			return "a numeric field that is not a number between 0 and 2147483647";
		case FWL_ERR_ADDRESS:
			return "SRC= or DST= is not an IP address of one family";
		case FWL_ERR_MISSING:
			return "SRC= or DST= is missing";
		case FWL_ERR_BRACKET:
			return "an unterminated or nested [...] or (...)";
		case FWL_ERR_TOO_MANY:
			return "more fields than a LOG line has";
		case FWL_ERR_NUL:
			return "a NUL byte inside the line";
		case FWL_ERR_TOO_LONG:
			return "a line longer than 8192 bytes";
		case FWL_ERR_PORT:
			return "SPT= or DPT= is not a port between 0 and 65535";
	}
	return "unknown";
}

int
fwl_days_in_month(int year, int mon)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (mon < 1 || mon > 12)
		return 0;
	if (mon == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
		return 29;
	return days[mon - 1];
}

static inline int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* n decimal digits at s into *v; 1 on success */
static int
digits(const char *s, size_t avail, int n, int *v)
{
	int			x = 0;

	if ((size_t) n > avail)
		return 0;
	for (int i = 0; i < n; i++)
	{
		if (!is_digit(s[i]))
			return 0;
		x = x * 10 + (s[i] - '0');
	}
	*v = x;
	return 1;
}

static int
span_eq(fwl_span s, const char *lit)
{
	size_t		n = strlen(lit);

	return (size_t) s.len == n && memcmp(s.p, lit, n) == 0;
}

/* A decimal in [0, INT32_MAX]; 1 on success. */
static int
parse_int(fwl_span s, int32_t *out)
{
	int64_t		v = 0;

	if (s.len < 1 || s.len > 10)
		return 0;
	for (int i = 0; i < s.len; i++)
	{
		if (!is_digit(s.p[i]))
			return 0;
		v = v * 10 + (s.p[i] - '0');
	}
	if (v > INT32_MAX)
		return 0;
	*out = (int32_t) v;
	return 1;
}

/* An IPv4 or IPv6 address; returns 4, 6 or 0. */
static int
parse_addr(fwl_span s, uint8_t *out)
{
	char		tmp[64];

	if (s.len < 2 || s.len >= (int) sizeof(tmp))
		return 0;
	memcpy(tmp, s.p, s.len);
	tmp[s.len] = '\0';
	if (memchr(tmp, ':', s.len))
	{
		if (inet_pton(AF_INET6, tmp, out) == 1)
			return 6;
		return 0;
	}
	memset(out, 0, 16);
	if (inet_pton(AF_INET, tmp, out) == 1)
		return 4;
	return 0;
}

/*
 * The syslog header, if any: classic "Nov 23 07:08:09 host tag: " or ISO
 * "2024-03-05T10:11:12.123456+07:00 host tag: ".  Returns the offset after
 * it (0 when there is none) or -1 for an impossible date.
 */
static long
parse_header(const char *b, size_t n, fwl_event *ev)
{
	size_t		i = 0;
	int			v;

	if (n >= 16 && b[3] == ' ')
	{
		int			mon = 0;

		for (int m = 0; m < 12; m++)
			if (memcmp(b, months[m], 3) == 0)
				mon = m + 1;
		if (mon)
		{
			int			day,
						hh,
						mi,
						ss;

			i = 4;
			if (b[i] == ' ')
				i++;			/* "Nov  5": the day is space-padded */
			if (i + 1 < n && is_digit(b[i]) && is_digit(b[i + 1]))
			{
				digits(b + i, n - i, 2, &day);
				i += 2;
			}
			else if (i < n && is_digit(b[i]))
			{
				day = b[i] - '0';
				i += 1;
			}
			else
				return 0;
			if (i + 9 > n || b[i] != ' ' ||
				!digits(b + i + 1, n - i - 1, 2, &hh) || b[i + 3] != ':' ||
				!digits(b + i + 4, n - i - 4, 2, &mi) || b[i + 6] != ':' ||
				!digits(b + i + 7, n - i - 7, 2, &ss))
				return 0;
			i += 9;
			if (i >= n || b[i] != ' ')
				return 0;
			if (day < 1 || day > 31 || hh > 23 || mi > 59 || ss > 60)
				return -1;
			ev->header = FWL_HDR_CLASSIC;
			ev->year = 0;
			ev->mon = mon;
			ev->day = day;
			ev->hour = hh;
			ev->min = mi;
			ev->sec = ss;
			ev->usec = 0;
			goto host;
		}
	}
	if (n >= 20 && digits(b, n, 4, &v) && b[4] == '-' && b[7] == '-' && b[10] == 'T')
	{
		int			mo,
					dd,
					hh,
					mi,
					ss;

		if (!digits(b + 5, n - 5, 2, &mo) || !digits(b + 8, n - 8, 2, &dd) ||
			!digits(b + 11, n - 11, 2, &hh) || b[13] != ':' ||
			!digits(b + 14, n - 14, 2, &mi) || b[16] != ':' ||
			!digits(b + 17, n - 17, 2, &ss))
			return 0;
		if (v < 1 || mo < 1 || mo > 12 || dd < 1 || dd > fwl_days_in_month(v, mo) ||
			hh > 23 || mi > 59 || ss > 60)
			return -1;
		ev->header = FWL_HDR_ISO;
		ev->year = v;
		ev->mon = mo;
		ev->day = dd;
		ev->hour = hh;
		ev->min = mi;
		ev->sec = ss;
		ev->usec = 0;
		i = 19;
		if (i < n && b[i] == '.')
		{
			int			nd = 0,
						us = 0;

			i++;
			while (i < n && is_digit(b[i]))
			{
				if (nd < 6)
				{
					us = us * 10 + (b[i] - '0');
					nd++;
				}
				i++;
			}
			if (nd == 0)
				return -1;
			while (nd++ < 6)
				us *= 10;
			ev->usec = us;
		}
		if (i < n && b[i] == 'Z')
		{
			ev->has_tz = 1;
			ev->tz_sec = 0;
			i++;
		}
		else if (i < n && (b[i] == '+' || b[i] == '-'))
		{
			int			th,
						tm;
			int			sign = b[i] == '-' ? -1 : 1;

			if (!digits(b + i + 1, n - i - 1, 2, &th) || i + 3 >= n || b[i + 3] != ':' ||
				!digits(b + i + 4, n - i - 4, 2, &tm) || th > 15 || tm > 59)
				return -1;
			ev->has_tz = 1;
			ev->tz_sec = sign * (th * 3600 + tm * 60);
			i += 6;
		}
		if (i >= n || b[i] != ' ')
			return -1;
		goto host;
	}
	return 0;

host:
	/* host, then the tag ("kernel:") when present */
	while (i < n && b[i] == ' ')
		i++;
	ev->host.p = b + i;
	while (i < n && b[i] != ' ')
		i++;
	ev->host.len = (int) (b + i - ev->host.p);
	while (i < n && b[i] == ' ')
		i++;
	{
		size_t		t = i;

		while (t < n && b[t] != ' ')
			t++;
		if (t > i && b[t - 1] == ':')
			i = t;
	}
	return (long) i;
}

/* Skip "[  1234.567890] " (the kernel's uptime stamp) at *i. */
static void
skip_uptime(const char *b, size_t n, size_t *i)
{
	size_t		j = *i;

	while (j < n && b[j] == ' ')
		j++;
	if (j < n && b[j] == '[')
	{
		size_t		k = j + 1;

		while (k < n && (b[k] == ' ' || b[k] == '.' || is_digit(b[k])))
			k++;
		if (k < n && b[k] == ']' && k > j + 1)
		{
			j = k + 1;
			while (j < n && b[j] == ' ')
				j++;
			*i = j;
			return;
		}
	}
	*i = j;
}

static fwl_status
add_kv(fwl_event *ev, fwl_span key, fwl_span val, int has_val, int inner, int qualify)
{
	fwl_kv	   *kv;

	if (ev->nkv >= FWL_MAX_KV)
		return FWL_ERR_TOO_MANY;
	kv = &ev->kv[ev->nkv++];
	kv->key = key;
	kv->val = val;
	kv->has_val = (uint8_t) has_val;
	kv->inner = (uint8_t) inner;
	kv->qualify = (uint8_t) qualify;
	return FWL_OK;
}

typedef struct tokstate
{
	int			seen_proto;
	int			is_tcp;
	int			is_icmp;
	int			have_src,
				have_dst,
				have_len,
				have_id;
} tokstate;

/* One outer KEY=VALUE field. */
static fwl_status
outer_field(fwl_event *ev, tokstate *ts, fwl_span key, fwl_span val)
{
	int			fam;

	if (span_eq(key, "SRC") && !ts->have_src)
	{
		fam = parse_addr(val, ev->src);
		if (!fam || (ev->family && ev->family != fam))
			return FWL_ERR_ADDRESS;
		ev->family = fam;
		ts->have_src = 1;
		return FWL_OK;
	}
	if (span_eq(key, "DST") && !ts->have_dst)
	{
		fam = parse_addr(val, ev->dst);
		if (!fam || (ev->family && ev->family != fam))
			return FWL_ERR_ADDRESS;
		ev->family = fam;
		ts->have_dst = 1;
		return FWL_OK;
	}
	if (span_eq(key, "PROTO") && !ts->seen_proto)
	{
		ev->proto = val;
		ts->seen_proto = 1;
		ts->is_tcp = span_eq(val, "TCP");
		ts->is_icmp = span_eq(val, "ICMP") || span_eq(val, "ICMPv6");
		return FWL_OK;
	}
	if (!ts->seen_proto)
	{
		if (span_eq(key, "LEN") && !ts->have_len)
		{
			ts->have_len = 1;
			ev->has |= FWL_HAS_LEN;
			return parse_int(val, &ev->len) ? FWL_OK : FWL_ERR_NUMBER;
		}
		if ((span_eq(key, "TTL") || span_eq(key, "HOPLIMIT")) && !(ev->has & FWL_HAS_TTL))
		{
			ev->has |= FWL_HAS_TTL;
			return parse_int(val, &ev->ttl) ? FWL_OK : FWL_ERR_NUMBER;
		}
		if (span_eq(key, "ID") && !ts->have_id)
		{
			ts->have_id = 1;
			ev->has |= FWL_HAS_ID;
			return parse_int(val, &ev->id) ? FWL_OK : FWL_ERR_NUMBER;
		}
		return add_kv(ev, key, val, 1, 0, 0);
	}
	if (span_eq(key, "SPT") && !(ev->has & FWL_HAS_SPT))
	{
		ev->has |= FWL_HAS_SPT;
		if (!parse_int(val, &ev->spt))
			return FWL_ERR_NUMBER;
		return ev->spt <= 65535 ? FWL_OK : FWL_ERR_PORT;
	}
	if (span_eq(key, "DPT") && !(ev->has & FWL_HAS_DPT))
	{
		ev->has |= FWL_HAS_DPT;
		if (!parse_int(val, &ev->dpt))
			return FWL_ERR_NUMBER;
		return ev->dpt <= 65535 ? FWL_OK : FWL_ERR_PORT;
	}
	if (ts->is_icmp && span_eq(key, "TYPE") && !(ev->has & FWL_HAS_TYPE))
	{
		ev->has |= FWL_HAS_TYPE;
		return parse_int(val, &ev->icmp_type) ? FWL_OK : FWL_ERR_NUMBER;
	}
	if (ts->is_icmp && span_eq(key, "CODE") && !(ev->has & FWL_HAS_CODE))
	{
		ev->has |= FWL_HAS_CODE;
		return parse_int(val, &ev->icmp_code) ? FWL_OK : FWL_ERR_NUMBER;
	}
	/* UDP's LEN, ICMP's ID and TCP's OPT repeat IP-level names */
	return add_kv(ev, key, val, 1, 0,
				  span_eq(key, "LEN") || span_eq(key, "ID") || span_eq(key, "OPT"));
}

static fwl_status
outer_flag(fwl_event *ev, tokstate *ts, fwl_span word)
{
	if (ts->is_tcp && ev->nflags < FWL_MAX_FLAGS)
	{
		for (int f = 0; f < (int) (sizeof(tcp_flag_names) / sizeof(tcp_flag_names[0])); f++)
			if (span_eq(word, tcp_flag_names[f]))
			{
				ev->tcp_flags[ev->nflags++] = word;
				return FWL_OK;
			}
	}
	return add_kv(ev, word, (fwl_span) {NULL, 0}, 0, 0, 0);
}

/*
 * The fields from b[i] to b[end]: KEY=VALUE, FLAG, FLAG:VALUE, "OPT (hex)",
 * and, outside brackets, "[...]" (an ICMP error's embedded header, or the
 * value of the flag before it as in "INCOMPLETE [65535 bytes]").
 */
static fwl_status
parse_fields(const char *b, size_t i, size_t end, fwl_event *ev, tokstate *ts,
			 int inner, size_t *err_off)
{
	fwl_status	st;

	for (;;)
	{
		size_t		t;
		fwl_span	tok;
		const char *eq;

		while (i < end && b[i] == ' ')
			i++;
		if (i >= end)
			return FWL_OK;
		*err_off = i;
		if (b[i] == '[')
		{
			size_t		k = i + 1;

			if (inner)
				return FWL_ERR_BRACKET;
			while (k < end && b[k] != ']' && b[k] != '[')
				k++;
			if (k >= end || b[k] != ']')
				return FWL_ERR_BRACKET;
			if (ev->nkv > 0 && !ev->kv[ev->nkv - 1].has_val && !ev->kv[ev->nkv - 1].inner &&
				ev->kv[ev->nkv - 1].key.p + ev->kv[ev->nkv - 1].key.len + 1 == b + i)
			{
				ev->kv[ev->nkv - 1].val = (fwl_span) {b + i + 1, (int) (k - i - 1)};
				ev->kv[ev->nkv - 1].has_val = 1;
			}
			else
			{
				st = parse_fields(b, i + 1, k, ev, ts, 1, err_off);
				if (st != FWL_OK)
					return st;
			}
			i = k + 1;
			continue;
		}
		if (b[i] == ']' || b[i] == '(' || b[i] == ')')
			return FWL_ERR_FIELD;
		t = i;
		while (t < end && b[t] != ' ')
			t++;
		tok = (fwl_span) {b + i, (int) (t - i)};
		eq = memchr(tok.p, '=', tok.len);
		if (eq)
		{
			fwl_span	key = {tok.p, (int) (eq - tok.p)};
			fwl_span	val = {eq + 1, (int) (tok.p + tok.len - eq - 1)};

			if (key.len == 0)
				return FWL_ERR_FIELD;
			if (inner)
			{
				if (span_eq(key, "PROTO") && ev->inner_proto.p == NULL)
					ev->inner_proto = val;
				st = add_kv(ev, key, val, 1, 1,
							ev->inner_proto.p != NULL && val.p != ev->inner_proto.p &&
							(span_eq(key, "LEN") || span_eq(key, "ID") || span_eq(key, "OPT")));
			}
			else
				st = outer_field(ev, ts, key, val);
			if (st != FWL_OK)
				return st;
			i = t;
			continue;
		}
		/* "OPT (0204...)": a word whose value follows in parentheses */
		if (t + 1 < end && b[t] == ' ' && b[t + 1] == '(')
		{
			size_t		k = t + 2;

			while (k < end && b[k] != ')' && b[k] != '(')
				k++;
			if (k >= end || b[k] != ')')
				return FWL_ERR_BRACKET;
			st = add_kv(ev, tok, (fwl_span) {b + t + 2, (int) (k - t - 2)}, 1, inner,
						(inner ? ev->inner_proto.p != NULL : ts->seen_proto) && span_eq(tok, "OPT"));
			if (st != FWL_OK)
				return st;
			i = k + 1;
			continue;
		}
		{
			const char *colon = memchr(tok.p, ':', tok.len);

			if (colon && colon > tok.p)
				st = add_kv(ev, (fwl_span) {tok.p, (int) (colon - tok.p)},
							(fwl_span) {colon + 1, (int) (tok.p + tok.len - colon - 1)},
							1, inner, 0);
			else if (inner)
				st = add_kv(ev, tok, (fwl_span) {NULL, 0}, 0, 1, 0);
			else
				st = outer_flag(ev, ts, tok);
		}
		if (st != FWL_OK)
			return st;
		i = t;
	}
}

fwl_status
fwl_parse(const char *buf, size_t len, fwl_event *ev, size_t *err_off)
{
	size_t		i,
				in_at = 0,
				j,
				k,
				next_sp = 0;
	long		h;
	int			found = 0;
	tokstate	ts;
	fwl_status	st;

	memset(ev, 0, sizeof(*ev));
	memset(&ts, 0, sizeof(ts));
	*err_off = 0;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (len > 0 && memchr(buf, '\0', len))
	{
		*err_off = (size_t) ((const char *) memchr(buf, '\0', len) - buf);
		return FWL_ERR_NUL;
	}
	if (len > FWL_MAX_LINE)
	{
		*err_off = FWL_MAX_LINE;
		return FWL_ERR_TOO_LONG;
	}

	h = parse_header(buf, len, ev);
	if (h < 0)
		return FWL_ERR_HEADER;
	i = (size_t) h;
	skip_uptime(buf, len, &i);

	/*
	 * The first "IN=" followed by a word and " OUT=".  next_sp caches the
	 * next blank so that the search stays linear.
	 */
	for (size_t p = i; p + 3 <= len; p++)
	{
		if (buf[p] != 'I' || buf[p + 1] != 'N' || buf[p + 2] != '=')
			continue;
		if (next_sp < p + 3)
		{
			next_sp = p + 3;
			while (next_sp < len && buf[next_sp] != ' ')
				next_sp++;
		}
		if (next_sp + 5 <= len && memcmp(buf + next_sp, " OUT=", 5) == 0)
		{
			in_at = p;
			found = 1;
			break;
		}
	}
	if (!found)
	{
		*err_off = i;
		return FWL_ERR_NO_IN_OUT;
	}
	j = in_at;
	while (j > i && buf[j - 1] == ' ')
		j--;
	ev->prefix = (fwl_span) {buf + i, (int) (j - i)};
	ev->in_iface = (fwl_span) {buf + in_at + 3, (int) (next_sp - in_at - 3)};
	k = next_sp + 5;
	j = k;
	while (j < len && buf[j] != ' ')
		j++;
	ev->out_iface = (fwl_span) {buf + k, (int) (j - k)};

	st = parse_fields(buf, j, len, ev, &ts, 0, err_off);
	if (st != FWL_OK)
		return st;
	if (!ts.have_src || !ts.have_dst)
	{
		*err_off = j;
		return FWL_ERR_MISSING;
	}
	return FWL_OK;
}
