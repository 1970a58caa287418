/*
 * parse.c: mekatek.fw_parse and friends, the server side of the LOG-line
 * parser.  The parsing itself is logline.c (plain C, fuzzed outside the
 * server); this file turns its spans into a mekatek.fw_event tuple.
 *
 * Spans are cut at ASCII bytes (blank, '=', ':', brackets) and every server
 * encoding is ASCII-safe, so each span of valid text is valid text again.
 */
#include "core/mekatek.h"

#include <sys/socket.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/inet.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "firewall/logline.h"
#include "firewall/firewall.h"



/* Per-statement state: the result descriptor and the prefix -> action map. */
typedef struct parse_cache
{
	TupleDesc	tupdesc;
	fw_prefix_map map;
	int			year;			/* resolved mekatek.fw_log_year */
} parse_cache;

void
mk_fw_load_prefix_map(fw_prefix_map *map, MemoryContext mcxt)
{
	bool		v2 = mk_fw_schema_0_2();

	SPI_connect();
	mk_spi_execute(!v2 ? "SELECT p.prefix, p.action FROM mekatek.fw_prefix_action p" :
				   "SELECT p.prefix, p.action FROM mekatek.fw_prefix_action p "
				   "UNION ALL "
				   "SELECT d.prefix, d.action FROM mekatek.fw_prefix_action_default d "
				   " WHERE NOT EXISTS (SELECT FROM mekatek.fw_prefix_action p "
				   "                    WHERE p.prefix OPERATOR(pg_catalog.=) d.prefix)", 0, NULL, NULL, NULL,
				   true, 0, SPI_OK_SELECT, "reading mekatek.fw_prefix_action");
	map->n = (int) SPI_processed;
	map->prefix = MemoryContextAlloc(mcxt, sizeof(char *) * (map->n + 1));
	map->len = MemoryContextAlloc(mcxt, sizeof(int) * (map->n + 1));
	map->action = MemoryContextAlloc(mcxt, sizeof(char *) * (map->n + 1));
	for (int i = 0; i < map->n; i++)
	{
		char	   *p = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *a = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

		map->prefix[i] = MemoryContextStrdup(mcxt, p);
		map->len[i] = strlen(p);
		map->action[i] = MemoryContextStrdup(mcxt, a);
	}
	SPI_finish();
}

/*
 * Classic syslog headers print no year.  With mekatek.fw_log_year unset a
 * line takes the year the transaction started in, unless its month and day
 * lie more than one day after that start: no log is written in the future,
 * so such a line was written last year (a December line read in January).
 * The one day of slack covers a logging host whose clock or time zone runs
 * ahead of the server's.  A set mekatek.fw_log_year is taken as it is.
 */
static int	fw_rollover_limit = 13 * 32;	/* month * 32 + day; later dates roll back */

/* mekatek.fw_log_year, or the year the transaction started in */
int
mk_fw_log_year(void)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tz;
	int			year;

	if (fw_log_year > 0)
		return fw_log_year;
	if (timestamp2tm(GetCurrentTransactionStartTimestamp(), &tz, &tm, &fsec, NULL, NULL) != 0)
		elog(ERROR, "timestamp out of range");
	year = tm.tm_year;
	if (timestamp2tm(GetCurrentTransactionStartTimestamp() + USECS_PER_DAY, &tz, &tm, &fsec, NULL, NULL) != 0)
		elog(ERROR, "timestamp out of range");
	/* on 31 December every date of the year is at most a day ahead */
	fw_rollover_limit = tm.tm_year > year ? 13 * 32 : tm.tm_mon * 32 + tm.tm_mday;
	return year;
}

/* The year of a classic header's date, given mk_fw_log_year()'s result. */
int
mk_fw_classic_year(const fwl_event *ev, int year)
{
	if (fw_log_year > 0)
		return year;
	return ev->mon * 32 + ev->day > fw_rollover_limit ? year - 1 : year;
}

/*
 * The header time of a parsed line (classic headers take the given year);
 * false for a date the year makes impossible (30 February, 29 February of
 * a common year) or one out of range.
 */
bool
mk_fw_event_time(const fwl_event *ev, int year, TimestampTz *result)
{
	struct pg_tm tm;
	int			tz;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = ev->header == FWL_HDR_CLASSIC ? mk_fw_classic_year(ev, year) : ev->year;
	tm.tm_mon = ev->mon;
	tm.tm_mday = ev->day;
	tm.tm_hour = ev->hour;
	tm.tm_min = ev->min;
	tm.tm_sec = ev->sec;
	if (tm.tm_mday > fwl_days_in_month(tm.tm_year, tm.tm_mon))
		return false;
	if (ev->header == FWL_HDR_ISO && ev->has_tz)
		tz = -ev->tz_sec;		/* PostgreSQL counts seconds west of UTC */
	else
		tz = DetermineTimeZoneOffset(&tm, session_timezone);
	return tm2timestamp(&tm, ev->usec, &tz, result) == 0;
}

/* The chain a line was logged in, from which interfaces it names. */
const char *
mk_fw_direction(const fwl_event *ev)
{
	if (ev->in_iface.len > 0 && ev->out_iface.len > 0)
		return "FORWARD";
	if (ev->in_iface.len > 0)
		return "INPUT";
	if (ev->out_iface.len > 0)
		return "OUTPUT";
	return NULL;
}

/* The action mapped to a prefix, or NULL. */
const char *
mk_fw_prefix_action(const fw_prefix_map *map, fwl_span prefix)
{
	for (int i = 0; i < map->n; i++)
		if (map->len[i] == prefix.len && memcmp(map->prefix[i], prefix.p, prefix.len) == 0)
			return map->action[i];
	return NULL;
}

static parse_cache *
get_cache(FunctionCallInfo fcinfo)
{
	parse_cache *c = fcinfo->flinfo->fn_extra;

	if (c == NULL)
	{
		MemoryContext mcxt = fcinfo->flinfo->fn_mcxt;
		MemoryContext old;
		TupleDesc	td;

		c = MemoryContextAllocZero(mcxt, sizeof(parse_cache));
		old = MemoryContextSwitchTo(mcxt);
		if (get_call_result_type(fcinfo, NULL, &td) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "fw_parse must return a composite type");
		c->tupdesc = BlessTupleDesc(CreateTupleDescCopy(td));
		MemoryContextSwitchTo(old);
		mk_fw_load_prefix_map(&c->map, mcxt);
		c->year = mk_fw_log_year();
		fcinfo->flinfo->fn_extra = c;
	}
	return c;
}

static inline Datum
span_text(fwl_span s)
{
	return PointerGetDatum(cstring_to_text_with_len(s.p, s.len));
}

Datum
mk_fw_inet_datum(int family, const uint8_t *addr)
{
	inet	   *res = palloc0(sizeof(inet));

	ip_family(res) = family == 4 ? PGSQL_AF_INET : PGSQL_AF_INET6;
	ip_bits(res) = family == 4 ? 32 : 128;
	memcpy(ip_addr(res), addr, family == 4 ? 4 : 16);
	SET_INET_VARSIZE(res);
	return InetPGetDatum(res);
}

static void
push_key(JsonbParseState **st, const char *k, int klen)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) k;
	v.val.string.len = klen;
	pushJsonbValue(st, WJB_KEY, &v);
}

static void
push_val(JsonbParseState **st, const fwl_kv *kv)
{
	JsonbValue	v;

	if (kv->has_val)
	{
		v.type = jbvString;
		v.val.string.val = (char *) kv->val.p;
		v.val.string.len = kv->val.len;
	}
	else
	{
		v.type = jbvBool;
		v.val.boolean = true;
	}
	pushJsonbValue(st, WJB_VALUE, &v);
}

/*
 * Keys of extra: UDP's second LEN becomes UDP_LEN (and so on), and a key
 * that still repeats gets _2, _3: jsonb would otherwise keep only the last
 * value and a field would be lost without a word.
 */
const char *
mk_fw_extra_key(const fwl_event *ev, int idx, int *klen)
{
	const fwl_kv *kv = &ev->kv[idx];
	StringInfoData s;
	int			dup = 1;

	for (int i = 0; i < idx; i++)
	{
		const fwl_kv *o = &ev->kv[i];

		if (o->inner == kv->inner && o->qualify == kv->qualify &&
			o->key.len == kv->key.len && memcmp(o->key.p, kv->key.p, kv->key.len) == 0)
			dup++;
	}
	if (!kv->qualify && dup == 1)
	{
		/* the common case: the key as printed, no copy */
		*klen = kv->key.len;
		return kv->key.p;
	}
	initStringInfo(&s);
	if (kv->qualify)
	{
		fwl_span	pr = kv->inner ? ev->inner_proto : ev->proto;

		appendBinaryStringInfo(&s, pr.p, pr.len);
		appendStringInfoChar(&s, '_');
	}
	appendBinaryStringInfo(&s, kv->key.p, kv->key.len);
	if (dup > 1)
		appendStringInfo(&s, "_%d", dup);
	*klen = s.len;
	return s.data;
}

static Datum
build_extra(const fwl_event *ev)
{
	JsonbParseState *st = NULL;
	JsonbValue *res;
	bool		any_inner = false;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < ev->nkv; i++)
	{
		int			klen;
		const char *k;

		if (ev->kv[i].inner)
		{
			any_inner = true;
			continue;
		}
		k = mk_fw_extra_key(ev, i, &klen);
		push_key(&st, k, klen);
		push_val(&st, &ev->kv[i]);
	}
	if (any_inner)
	{
		/* the offending packet's header inside an ICMP error */
		push_key(&st, "inner", 5);
		pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
		for (int i = 0; i < ev->nkv; i++)
		{
			int			klen;
			const char *k;

			if (!ev->kv[i].inner)
				continue;
			k = mk_fw_extra_key(ev, i, &klen);
			push_key(&st, k, klen);
			push_val(&st, &ev->kv[i]);
		}
		pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	}
	res = pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(res));
}

/* A printable fragment of the line for an error message. */
static char *
fragment(const char *s, int len)
{
	int			n = pg_mbcliplen(s, len, 48);
	char	   *f = palloc(n + 4);

	for (int i = 0; i < n; i++)
		f[i] = ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	if (n < len)
	{
		memcpy(f + n, "...", 3);
		n += 3;
	}
	f[n] = '\0';
	return f;
}

static void
raise_not_log_line(const char *s, int len, fwl_status st, size_t off)
{
	mk_error(ERRCODE_INVALID_TEXT_REPRESENTATION,
			 "A LOG line has the form \"[header] <prefix>IN=<if> OUT=<if> ... SRC=<addr> DST=<addr> ...\"; set mekatek.fw_parse_strict = off to get NULL instead, or load through mekatek.fw_load, which keeps such lines in mekatek.fw_reject.",
			 "not a netfilter LOG line (%s, at byte %zu): \"%s\"",
			 fwl_status_text(st), off, fragment(s, len));
}

/*
 * Parse and form the tuple; on a parse failure return false and set *st,
 * *off (nothing is raised).
 */
static bool
parse_to_tuple(FunctionCallInfo fcinfo, text *line, Datum *result,
			   fwl_status *st, size_t *off)
{
	parse_cache *c = get_cache(fcinfo);
	const char *s = VARDATA_ANY(line);
	int			len = VARSIZE_ANY_EXHDR(line);
	fwl_event	ev;
	Datum		values[19];
	bool		nulls[19];
	HeapTuple	tup;

	*st = fwl_parse(s, len, &ev, off);
	if (*st != FWL_OK)
		return false;

	memset(nulls, 0, sizeof(nulls));

	/* 0 logged_at */
	if (ev.header == FWL_HDR_NONE)
		nulls[0] = true;
	else
	{
		TimestampTz ts;

		if (!mk_fw_event_time(&ev, c->year, &ts))
		{
			*st = FWL_ERR_HEADER;
			*off = 0;
			return false;
		}
		values[0] = TimestampTzGetDatum(ts);
	}
	/* 1 host */
	if (ev.host.len > 0)
		values[1] = span_text(ev.host);
	else
		nulls[1] = true;
	/* 2 prefix */
	if (ev.prefix.len > 0)
		values[2] = span_text(ev.prefix);
	else
		nulls[2] = true;
	/* 3, 4 interfaces, 5 direction */
	if (ev.in_iface.len > 0)
		values[3] = span_text(ev.in_iface);
	else
		nulls[3] = true;
	if (ev.out_iface.len > 0)
		values[4] = span_text(ev.out_iface);
	else
		nulls[4] = true;
	{
		const char *dir = mk_fw_direction(&ev);

		if (dir)
			values[5] = CStringGetTextDatum(dir);
		else
			nulls[5] = true;
	}
	/* 6, 7 addresses */
	values[6] = mk_fw_inet_datum(ev.family, ev.src);
	values[7] = mk_fw_inet_datum(ev.family, ev.dst);
	/* 8 proto */
	if (ev.proto.len > 0)
		values[8] = span_text(ev.proto);
	else
		nulls[8] = true;
	/* 9..15 numbers */
	values[9] = Int32GetDatum(ev.spt);
	nulls[9] = !(ev.has & FWL_HAS_SPT);
	values[10] = Int32GetDatum(ev.dpt);
	nulls[10] = !(ev.has & FWL_HAS_DPT);
	values[11] = Int32GetDatum(ev.len);
	nulls[11] = !(ev.has & FWL_HAS_LEN);
	values[12] = Int32GetDatum(ev.ttl);
	nulls[12] = !(ev.has & FWL_HAS_TTL);
	values[13] = Int32GetDatum(ev.id);
	nulls[13] = !(ev.has & FWL_HAS_ID);
	values[14] = Int32GetDatum(ev.icmp_type);
	nulls[14] = !(ev.has & FWL_HAS_TYPE);
	values[15] = Int32GetDatum(ev.icmp_code);
	nulls[15] = !(ev.has & FWL_HAS_CODE);
	/* 16 tcp_flags: an array for TCP (maybe empty), NULL otherwise */
	if (ev.proto.len == 3 && memcmp(ev.proto.p, "TCP", 3) == 0)
	{
		Datum		fl[FWL_MAX_FLAGS];

		for (int i = 0; i < ev.nflags; i++)
			fl[i] = span_text(ev.tcp_flags[i]);
		values[16] = PointerGetDatum(construct_array(fl, ev.nflags, TEXTOID, -1, false, TYPALIGN_INT));
	}
	else
		nulls[16] = true;
	/* 17 action */
	{
		const char *act = mk_fw_prefix_action(&c->map, ev.prefix);

		if (act)
			values[17] = CStringGetTextDatum(act);
		else
			nulls[17] = true;
	}
	/* 18 extra */
	values[18] = build_extra(&ev);

	tup = heap_form_tuple(c->tupdesc, values, nulls);
	*result = HeapTupleGetDatum(tup);
	return true;
}

PG_FUNCTION_INFO_V1(mk_fw_parse);
Datum
mk_fw_parse(PG_FUNCTION_ARGS)
{
	text	   *line = PG_GETARG_TEXT_PP(0);
	Datum		result;
	fwl_status	st;
	size_t		off;

	if (parse_to_tuple(fcinfo, line, &result, &st, &off))
		PG_RETURN_DATUM(result);
	if (!fw_parse_strict)
		PG_RETURN_NULL();
	raise_not_log_line(VARDATA_ANY(line), VARSIZE_ANY_EXHDR(line), st, off);
	PG_RETURN_NULL();
}

PG_FUNCTION_INFO_V1(mk_fw_try_parse);
Datum
mk_fw_try_parse(PG_FUNCTION_ARGS)
{
	text	   *line = PG_GETARG_TEXT_PP(0);
	Datum		result;
	fwl_status	st;
	size_t		off;

	if (parse_to_tuple(fcinfo, line, &result, &st, &off))
		PG_RETURN_DATUM(result);
	PG_RETURN_NULL();
}

PG_FUNCTION_INFO_V1(mk_fw_parse_error);
Datum
mk_fw_parse_error(PG_FUNCTION_ARGS)
{
	text	   *line = PG_GETARG_TEXT_PP(0);
	fwl_event  *ev = palloc(sizeof(fwl_event));
	fwl_status	st;
	size_t		off;

	st = fwl_parse(VARDATA_ANY(line), VARSIZE_ANY_EXHDR(line), ev, &off);
	if (st == FWL_OK && ev->header == FWL_HDR_CLASSIC)
	{
		/* the day of month is checked against the year in the server */
		if (ev->day > fwl_days_in_month(mk_fw_classic_year(ev, mk_fw_log_year()), ev->mon))
		{
			st = FWL_ERR_HEADER;
			off = 0;
		}
	}
	if (st == FWL_OK)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("%s, at byte %zu", fwl_status_text(st), off)));
}
