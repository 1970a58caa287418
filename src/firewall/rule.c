/*
 * rule.c: policies as rows and as C structs.
 *
 *   mekatek.fw_import_iptables(policy, rules)  iptables-save / command lines
 *   mk_fw_load_policy()                        rules -> fw_rule structs, for
 *                                              anomaly.c and usage.c
 *
 * The importer never drops a match silently: options the columns cannot
 * hold go, verbatim and in order, into the jsonb array "matches", which flags
 * the rule.
 */
#include "core/mekatek.h"

#include <sys/socket.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/inet.h"
#include "utils/json.h"
#include "utils/rangetypes.h"
#include "utils/typcache.h"

#include "firewall/firewall.h"

/* ---------------------------------------------------------------------- */
/* Shared helpers                                                          */
/* ---------------------------------------------------------------------- */

int
mk_fw_proto_num(const char *name, int len)
{
	static const struct
	{
		const char *name;
		int			num;
	}			names[] = {
		{"icmp", 1}, {"igmp", 2}, {"tcp", 6}, {"udp", 17}, {"gre", 47},
		{"esp", 50}, {"ah", 51}, {"icmpv6", 58}, {"ipv6-icmp", 58},
		{"sctp", 132}, {"udplite", 136}
	};
	int			v = 0;

	if (len > 0 && len <= 3)
	{
		int			i;

		for (i = 0; i < len && name[i] >= '0' && name[i] <= '9'; i++)
			v = v * 10 + (name[i] - '0');
		if (i == len)
			return v <= 255 ? v : -2;
	}
	for (int i = 0; i < (int) lengthof(names); i++)
		if ((int) strlen(names[i].name) == len && pg_strncasecmp(names[i].name, name, len) == 0)
			return names[i].num;
	return -2;
}

bool
mk_fw_iface_match(const char *pattern, const char *name, int len)
{
	int			plen;

	if (pattern == NULL)
		return true;
	if (name == NULL)
		return false;
	plen = strlen(pattern);
	if (plen > 0 && pattern[plen - 1] == '+')
		return len >= plen - 1 && memcmp(pattern, name, plen - 1) == 0;
	return plen == len && memcmp(pattern, name, len) == 0;
}

static void
load_addr(Datum d, bool isnull, fw_addr *a)
{
	inet	   *in;

	memset(a, 0, sizeof(*a));
	if (isnull)
		return;
	in = DatumGetInetPP(d);
	a->family = ip_family(in) == PGSQL_AF_INET ? 4 : 6;
	a->bits = ip_bits(in);
	memcpy(a->addr, ip_addr(in), ip_addrsize(in));
}

static char *
text_or_null(HeapTuple tup, TupleDesc td, int col)
{
	char	   *v = SPI_getvalue(tup, td, col);

	return v;
}

/*
 * Whether the installed schema is 0.2.0's (mekatek.fw_policy exists).  The
 * library is updated before ALTER EXTENSION UPDATE runs, so until then the
 * C functions must work on 0.1.0's tables.
 */
bool
mk_fw_schema_0_2(void)
{
	bool		isnull;
	bool		r;

	SPI_connect();
	mk_spi_execute("SELECT pg_catalog.to_regclass('mekatek.fw_policy') IS NOT NULL", 0, NULL, NULL, NULL,
				   true, 0, SPI_OK_SELECT, "reading the schema version");
	r = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return r;
}

/*
 * A policy's address family; ERROR when the policy does not exist (an
 * unknown name must never read as an empty policy: restoring the export of
 * one flushes every filter rule) or mixes the families.
 */
int
mk_fw_policy_family(const char *policy)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	bool		isnull;
	Datum		d;
	int			stored = 0,
				derived = 0;
	bool		exists;
	int			nfam = 0;
	char	   *fams;

	bool		v2 = mk_fw_schema_0_2();

	args[0] = CStringGetTextDatum(policy);
	SPI_connect();
	mk_spi_execute(v2 ?
				   "SELECT (SELECT p.family FROM mekatek.fw_policy p WHERE p.policy OPERATOR(pg_catalog.=) $1), "
				   "  EXISTS (SELECT FROM mekatek.fw_policy p WHERE p.policy OPERATOR(pg_catalog.=) $1) "
				   "  OR EXISTS (SELECT FROM mekatek.fw_rule r WHERE r.policy OPERATOR(pg_catalog.=) $1) "
				   "  OR EXISTS (SELECT FROM mekatek.fw_chain_policy c WHERE c.policy OPERATOR(pg_catalog.=) $1), "
				   "  (SELECT pg_catalog.count(DISTINCT f) OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) "
				   "          coalesce(pg_catalog.min(f), 0) FROM ( "
				   "     SELECT pg_catalog.family(r.src) FROM mekatek.fw_rule r WHERE r.policy OPERATOR(pg_catalog.=) $1 "
				   "     UNION ALL SELECT pg_catalog.family(r.dst) FROM mekatek.fw_rule r WHERE r.policy OPERATOR(pg_catalog.=) $1 "
				   "     UNION ALL SELECT CASE WHEN r.proto OPERATOR(pg_catalog.=) ANY ('{icmp,1}') THEN 4 "
				   "                           WHEN r.proto OPERATOR(pg_catalog.=) ANY ('{icmpv6,ipv6-icmp,58}') THEN 6 END "
				   "       FROM mekatek.fw_rule r WHERE r.policy OPERATOR(pg_catalog.=) $1) x(f) "
				   "   WHERE f IS NOT NULL)" :
				   "SELECT NULL::int, EXISTS (SELECT FROM mekatek.fw_rule r WHERE r.policy OPERATOR(pg_catalog.=) $1) "
				   "  OR EXISTS (SELECT FROM mekatek.fw_chain_policy c WHERE c.policy OPERATOR(pg_catalog.=) $1), "
				   "  (SELECT pg_catalog.count(DISTINCT f) OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) "
				   "          coalesce(pg_catalog.min(f), 0) FROM ( "
				   "     SELECT pg_catalog.family(r.src) FROM mekatek.fw_rule r WHERE r.policy OPERATOR(pg_catalog.=) $1 "
				   "     UNION ALL SELECT pg_catalog.family(r.dst) FROM mekatek.fw_rule r WHERE r.policy OPERATOR(pg_catalog.=) $1) x(f) "
				   "   WHERE f IS NOT NULL)",
				   1, argtypes, args, NULL, true, 0, SPI_OK_SELECT, "reading the policy's family");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		stored = DatumGetInt32(d);
	exists = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	fams = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	if (fams == NULL || sscanf(fams, "%d:%d", &nfam, &derived) != 2)
		elog(ERROR, "fw_policy_family: unexpected family summary");
	if (!exists)
	{
		SPI_finish();
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("firewall policy \"%s\" does not exist", mk_quote_short(policy)),
				 errhint("Import it with mekatek.fw_import_iptables; SELECT policy FROM mekatek.fw_policy lists the imported ones.")));
	}
	if (nfam > 1 ||
		(stored != 0 && derived != 0 && stored != derived))
	{
		SPI_finish();
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("firewall policy \"%s\" mixes IPv4 and IPv6 rules", mk_quote_short(policy)),
				 errhint("Keep each family in a policy of its own: one file could be restored by neither iptables-restore nor ip6tables-restore.")));
	}
	SPI_finish();
	return stored ? stored : derived ? derived : 4;
}

PG_FUNCTION_INFO_V1(mk_fw_policy_family_sql);
Datum
mk_fw_policy_family_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(mk_fw_policy_family(mk_arg_cstring(fcinfo, 0, "policy", false)));
}

int
mk_fw_load_policy(const char *policy, bool keep_all, fw_rule **rules, int *nskipped)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	int			n;
	fw_rule    *r;
	MemoryContext caller = CurrentMemoryContext;
	int			family = mk_fw_policy_family(policy);

	args[0] = CStringGetTextDatum(policy);
	SPI_connect();
	mk_spi_execute(
								"SELECT position, direction, proto, src, dst, "
								"       coalesce(lower(sport), 0), coalesce(upper(sport) - 1, 65535), sport IS NULL, "
								"       coalesce(lower(dport), 0), coalesce(upper(dport) - 1, 65535), dport IS NULL, "
								"       in_iface, out_iface, action = 'accept', "
								"       (action IS NULL OR flagged OR coalesce(isempty(sport), false) "
								"        OR coalesce(isempty(dport), false)) AS skip "
								"  FROM mekatek.fw_rule WHERE policy = $1 ORDER BY position",
								1, argtypes, args, NULL, true, 0, SPI_OK_SELECT, "loading the policy");
	r = MemoryContextAllocZero(caller, sizeof(fw_rule) * (SPI_processed + 1));
	n = 0;
	*nskipped = 0;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		bool		isnull;
		fw_rule    *x = &r[n];
		MemoryContext old;
		Datum		d;

		if (DatumGetBool(SPI_getbinval(tup, td, 15, &isnull)))
		{
			(*nskipped)++;
			if (!keep_all)
				continue;
			x->barrier = true;
		}
		old = MemoryContextSwitchTo(caller);
		x->position = DatumGetInt32(SPI_getbinval(tup, td, 1, &isnull));
		x->family = family;
		x->direction = text_or_null(tup, td, 2);
		x->proto = text_or_null(tup, td, 3);
		x->proto_num = x->proto ? mk_fw_proto_num(x->proto, strlen(x->proto)) : -1;
		d = SPI_getbinval(tup, td, 4, &isnull);
		load_addr(d, isnull, &x->src);
		d = SPI_getbinval(tup, td, 5, &isnull);
		load_addr(d, isnull, &x->dst);
		x->sport_lo = DatumGetInt32(SPI_getbinval(tup, td, 6, &isnull));
		x->sport_hi = DatumGetInt32(SPI_getbinval(tup, td, 7, &isnull));
		x->sport_any = DatumGetBool(SPI_getbinval(tup, td, 8, &isnull));
		x->dport_lo = DatumGetInt32(SPI_getbinval(tup, td, 9, &isnull));
		x->dport_hi = DatumGetInt32(SPI_getbinval(tup, td, 10, &isnull));
		x->dport_any = DatumGetBool(SPI_getbinval(tup, td, 11, &isnull));
		x->in_iface = text_or_null(tup, td, 12);
		x->out_iface = text_or_null(tup, td, 13);
		x->decision = DatumGetBool(SPI_getbinval(tup, td, 14, &isnull)) ? FW_ACCEPT : FW_BLOCK;
		MemoryContextSwitchTo(old);
		n++;
	}
	SPI_finish();
	*rules = r;
	return n;
}

/* ---------------------------------------------------------------------- */
/* The importer                                                            */
/* ---------------------------------------------------------------------- */

typedef struct import_state
{
	const char *policy;
	int			lineno;
	const char *line;
	int			position;
	int			skipped_tables;
	int			family;			/* 0 until a line shows it, then 4 or 6 */
	int			family_line;	/* the line that showed it */
	List	   *chains_set;		/* chains whose policy a line has set */
	SPIPlanPtr	insert_rule;
	SPIPlanPtr	insert_chain;
} import_state;

static void pg_attribute_noreturn()
bad_line(import_state *st, const char *why)
{
	mk_error(ERRCODE_INVALID_TEXT_REPRESENTATION,
			 "fw_import_iptables reads iptables-save output and iptables/ip6tables -A, -P, -F, -N command lines (filter table).",
			 "cannot import line %d (%s): \"%s\"", st->lineno, why, mk_quote_short(st->line));
}

/* Split a line into words as a shell would (quotes and backslashes). */
static List *
split_words(import_state *st, const char *s)
{
	List	   *words = NIL;
	StringInfoData w;

	initStringInfo(&w);
	for (;;)
	{
		bool		have = false;

		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0' || *s == '#')
			break;
		resetStringInfo(&w);
		while (*s && *s != ' ' && *s != '\t')
		{
			have = true;
			if (*s == '"')
			{
				s++;
				while (*s && *s != '"')
				{
					if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
						s++;
					appendStringInfoChar(&w, *s++);
				}
				if (*s != '"')
					bad_line(st, "unterminated double quote");
				s++;
			}
			else if (*s == '\'')
			{
				s++;
				while (*s && *s != '\'')
					appendStringInfoChar(&w, *s++);
				if (*s != '\'')
					bad_line(st, "unterminated single quote");
				s++;
			}
			else if (*s == '\\' && s[1])
			{
				appendStringInfoChar(&w, s[1]);
				s += 2;
			}
			else
				appendStringInfoChar(&w, *s++);
		}
		if (have)
			words = lappend(words, pstrdup(w.data));
	}
	return words;
}

static bool
is_opt(const char *w, const char *shortname, const char *longname)
{
	return (shortname && strcmp(w, shortname) == 0) || (longname && strcmp(w, longname) == 0);
}

/* "22", "1024:65535", "1024:", ":1023" -> "[lo,hi]" */
static char *
port_range(import_state *st, const char *v)
{
	const char *colon = strchr(v, ':');
	long		lo,
				hi;
	char	   *end;

	if (colon == NULL)
	{
		lo = strtol(v, &end, 10);
		if (end == v || *end != '\0' || lo < 0 || lo > 65535)
			bad_line(st, psprintf("port \"%s\" is not a number between 0 and 65535 (service names are not resolved)", mk_quote_short(v)));
		hi = lo;
	}
	else
	{
		if (colon == v)
			lo = 0;
		else
		{
			lo = strtol(v, &end, 10);
			if (end != colon || lo < 0 || lo > 65535)
				bad_line(st, psprintf("port range \"%s\" is not lo:hi within 0..65535", mk_quote_short(v)));
		}
		if (colon[1] == '\0')
			hi = 65535;
		else
		{
			hi = strtol(colon + 1, &end, 10);
			if (*end != '\0' || hi < 0 || hi > 65535)
				bad_line(st, psprintf("port range \"%s\" is not lo:hi within 0..65535", mk_quote_short(v)));
		}
		if (lo > hi)
			bad_line(st, psprintf("port range \"%s\" is empty", mk_quote_short(v)));
	}
	return psprintf("[%ld,%ld]", lo, hi);
}

static char *
json_array(List *words)
{
	StringInfoData s;
	ListCell   *lc;
	bool		first = true;

	if (words == NIL)
		return NULL;
	initStringInfo(&s);
	appendStringInfoChar(&s, '[');
	foreach(lc, words)
	{
		if (!first)
			appendStringInfoString(&s, ", ");
		escape_json(&s, (const char *) lfirst(lc));
		first = false;
	}
	appendStringInfoChar(&s, ']');
	return s.data;
}


/*
 * One policy is one address family (iptables-restore and ip6tables-restore
 * each refuse the other's rules), so the first line that shows a family
 * fixes it and a line of the other family is an error.
 */
static void
note_family(import_state *st, int family, const char *what)
{
	if (family == 0)
		return;
	if (st->family == 0)
	{
		st->family = family;
		st->family_line = st->lineno;
	}
	else if (st->family != family)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
				 "Import the IPv4 rules (iptables-save) and the IPv6 rules (ip6tables-save) as two policies.",
				 "cannot import line %d (%s is IPv%d, but line %d made the policy IPv%d): \"%s\"",
				 st->lineno, what, family, st->family_line, st->family, mk_quote_short(st->line));
}

/* An address or network as iptables writes it; returns its family. */
static int
check_address(import_state *st, const char *opt, const char *v)
{
	unsigned char buf[16];
	int			family = strchr(v, ':') ? PGSQL_AF_INET6 : PGSQL_AF_INET;
	const char *slash = strchr(v, '/');
	int			bits;

	bits = pg_inet_net_pton(family, v, buf, -1);
	if (bits < 0 || (slash == NULL && bits != (family == PGSQL_AF_INET ? 32 : 128)))
	{
		/* pg_inet_net_pton accepts "10/8" and "10.1"; iptables-save writes neither */
		bits = -1;
	}
	if (bits < 0 && family == PGSQL_AF_INET)
	{
		/* a full dotted quad with a mask: "10.0.0.0/33" says which part is bad */
		if (slash)
		{
			char	   *end;
			long		m = strtol(slash + 1, &end, 10);

			if (*end == '\0' && end != slash + 1 && (m < 0 || m > 32))
				bad_line(st, psprintf("%s \"%s\": the mask must be between 0 and 32", opt, mk_quote_short(v)));
		}
	}
	if (bits < 0)
	{
		if (family == PGSQL_AF_INET6 && slash)
		{
			char	   *end;
			long		m = strtol(slash + 1, &end, 10);

			if (*end == '\0' && end != slash + 1 && (m < 0 || m > 128))
				bad_line(st, psprintf("%s \"%s\": the mask must be between 0 and 128", opt, mk_quote_short(v)));
		}
		bad_line(st, psprintf("%s \"%s\" is not an IP address or network (host names are not resolved)",
							  opt, mk_quote_short(v)));
	}
	return family == PGSQL_AF_INET ? 4 : 6;
}

static void pg_attribute_noreturn()
duplicate(import_state *st, const char *opt)
{
	bad_line(st, psprintf("option %s given twice in one rule", opt));
}

static void
import_rule(import_state *st, List *words, int start, const char *chain,
			const char *packets, const char *bytes)
{
	char	   *proto = NULL,
			   *src = NULL,
			   *dst = NULL,
			   *sport = NULL,
			   *dport = NULL,
			   *in = NULL,
			   *out = NULL,
			   *target = NULL,
			   *action = NULL;
	List	   *matches = NIL,
			   *topts = NIL;
	bool		is_goto = false;
	int			n = list_length(words);
	int			i = start;
	Datum		vals[12];
	char		nulls[12];

	while (i < n)
	{
		char	   *w = list_nth(words, i);
		char	   *arg = i + 1 < n ? list_nth(words, i + 1) : NULL;

		if (is_opt(w, "-j", "--jump") || is_opt(w, "-g", "--goto"))
		{
			if (arg == NULL)
				bad_line(st, psprintf("%s without a target", w));
			is_goto = w[1] == 'g' || w[2] == 'g';
			if (is_goto)
				target = arg;	/* -g names a user chain */
			else if (strcmp(arg, "ACCEPT") == 0)
				action = "accept";
			else if (strcmp(arg, "DROP") == 0)
				action = "drop";
			else if (strcmp(arg, "REJECT") == 0)
				action = "reject";
			else
				target = arg;
			for (int k = i + 2; k < n; k++)
			{
				char	   *o = list_nth(words, k);

				/* iptables refuses a second target; so do we */
				if (is_opt(o, "-j", "--jump") || is_opt(o, "-g", "--goto"))
					duplicate(st, o);
				topts = lappend(topts, o);
			}
			break;
		}
		if (strcmp(w, "!") == 0 || w[0] != '-')
		{
			/* a negation (or an old "-s ! addr"): keep it and its option */
			matches = lappend(matches, w);
			i++;
			continue;
		}
		if (arg != NULL && strcmp(arg, "!") != 0 &&
			(i == start || strcmp(list_nth(words, i - 1), "!") != 0))
		{
			bool		taken = true;
			char	  **slot = NULL;

			if (is_opt(w, "-p", "--protocol"))
				slot = &proto;
			else if (is_opt(w, "-s", "--source") && strchr(arg, ',') == NULL)
				slot = &src;
			else if (is_opt(w, "-d", "--destination") && strchr(arg, ',') == NULL)
				slot = &dst;
			else if (is_opt(w, "-i", "--in-interface"))
				slot = &in;
			else if (is_opt(w, "-o", "--out-interface"))
				slot = &out;
			else if (is_opt(w, NULL, "--sport") || is_opt(w, NULL, "--source-port"))
				slot = &sport;
			else if (is_opt(w, NULL, "--dport") || is_opt(w, NULL, "--destination-port"))
				slot = &dport;
			else if (is_opt(w, "-m", "--match") && proto != NULL && pg_strcasecmp(arg, proto) == 0)
				 /* "-p tcp -m tcp": implied by the protocol */ ;
			else
				taken = false;
			if (slot != NULL)
			{
				if (*slot != NULL)
					duplicate(st, w);
				if (slot == &sport || slot == &dport)
					*slot = port_range(st, arg);
				else
				{
					*slot = arg;
					if (slot == &src || slot == &dst)
						note_family(st, check_address(st, w, arg), w);
					else if (slot == &proto)
					{
						int			pn = mk_fw_proto_num(arg, strlen(arg));

						note_family(st, pn == 1 ? 4 : pn == 58 ? 6 : 0, "-p");
					}
				}
			}
			if (taken)
			{
				i += 2;
				continue;
			}
		}
		if (is_opt(w, "-4", "--ipv4") || is_opt(w, "-6", "--ipv6"))
		{
			note_family(st, is_opt(w, "-4", "--ipv4") ? 4 : 6, w);
			i++;
			continue;
		}
		/* anything else: the option and its arguments, verbatim */
		matches = lappend(matches, w);
		i++;
		while (i < n)
		{
			char	   *a = list_nth(words, i);

			if (a[0] == '-' || strcmp(a, "!") == 0)
				break;
			matches = lappend(matches, a);
			i++;
		}
	}
	/* no -j at all: a counting rule, kept with action NULL, never analysed */

	st->position++;
	memset(nulls, ' ', sizeof(nulls));
	vals[0] = CStringGetTextDatum(st->policy);
	vals[1] = Int32GetDatum(st->position);
	vals[2] = CStringGetTextDatum(chain);
#define SETTEXT(k, v) do { if (v) vals[k] = CStringGetTextDatum(v); else nulls[k] = 'n'; } while (0)
	SETTEXT(3, proto);
	SETTEXT(4, src);
	SETTEXT(5, sport);
	SETTEXT(6, dst);
	SETTEXT(7, dport);
	SETTEXT(8, action);
	SETTEXT(9, in);
	SETTEXT(10, out);
	SETTEXT(11, target);
#undef SETTEXT
	{
		Datum		all[17];
		char		alln[17];
		char	   *m = json_array(matches);
		char	   *t = json_array(topts);

		memcpy(all, vals, sizeof(vals));
		memcpy(alln, nulls, sizeof(nulls));
		all[12] = m ? CStringGetTextDatum(m) : (Datum) 0;
		alln[12] = m ? ' ' : 'n';
		all[13] = t ? CStringGetTextDatum(t) : (Datum) 0;
		alln[13] = t ? ' ' : 'n';
		all[14] = packets ? CStringGetTextDatum(packets) : (Datum) 0;
		alln[14] = packets ? ' ' : 'n';
		all[15] = bytes ? CStringGetTextDatum(bytes) : (Datum) 0;
		alln[15] = bytes ? ' ' : 'n';
		all[16] = BoolGetDatum(is_goto);
		alln[16] = ' ';
		mk_spi_execute_plan(st->insert_rule, all, alln, false, 0, SPI_OK_INSERT,
							"fw_import_iptables: rule insert");
	}
}

static void
import_chain_policy(import_state *st, const char *chain, const char *target)
{
	Datum		vals[3];
	ListCell   *lc;

	if (strcmp(target, "ACCEPT") != 0 && strcmp(target, "DROP") != 0)
		bad_line(st, psprintf("chain policy \"%s\" is neither ACCEPT nor DROP", mk_quote_short(target)));
	foreach(lc, st->chains_set)
		if (strcmp(lfirst(lc), chain) == 0)
			bad_line(st, psprintf("the policy of chain \"%s\" is set twice", mk_quote_short(chain)));
	st->chains_set = lappend(st->chains_set, pstrdup(chain));
	vals[0] = CStringGetTextDatum(st->policy);
	vals[1] = CStringGetTextDatum(chain);
	vals[2] = CStringGetTextDatum(strcmp(target, "ACCEPT") == 0 ? "accept" : "drop");
	mk_spi_execute_plan(st->insert_chain, vals, NULL, false, 0, SPI_OK_INSERT, "fw_import_iptables: chain policy insert");
}

static const char *
basename_of(const char *w)
{
	const char *s = strrchr(w, '/');

	return s ? s + 1 : w;
}

/* A policy name is a key of fw_policy and fw_rule, so it must fit an index row. */
#define FW_POLICY_NAME_MAX 200

PG_FUNCTION_INFO_V1(mk_fw_import_iptables);
Datum
mk_fw_import_iptables(PG_FUNCTION_ARGS)
{
	import_state st;
	bool		in_filter = true;
	bool		seen_filter = false;
	bool		v2;
	char	   *policy = mk_arg_cstring(fcinfo, 0, "policy", false);
	char	   *rules = mk_arg_cstring(fcinfo, 1, "rules", true);
	Oid			rule_types[17] = {TEXTOID, INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, BOOLOID};
	Oid			pol_types[2] = {TEXTOID, INT4OID};
	Datum		pol_args[2];
	int			table_line = 0;	/* line of the open "*filter", 0 when none is open */
	Oid			chain_types[3] = {TEXTOID, TEXTOID, TEXTOID};
	Oid			del_types[1] = {TEXTOID};
	Datum		del_args[1];
	char	   *save,
			   *line;

	/* the name is indexed: refuse it here, naming it, not in the index */
	if (strlen(policy) > FW_POLICY_NAME_MAX)
		mk_error(ERRCODE_NAME_TOO_LONG, NULL,
				 "fw_import_iptables: policy name must have at most %d bytes, not %zu: %s",
				 FW_POLICY_NAME_MAX, strlen(policy), mk_quote_short(policy));
	memset(&st, 0, sizeof(st));
	st.policy = policy;
	SPI_connect();
	v2 = mk_fw_schema_0_2();
	/* 0.1.0's table has no counters and no goto: they are not kept there */
	st.insert_rule = mk_spi_prepare(v2 ?
								 "INSERT INTO mekatek.fw_rule (policy, position, direction, proto, src, sport, dst, dport, "
								 "  action, in_iface, out_iface, target, matches, target_options, packets, bytes, goto) "
								 "VALUES ($1, $2, $3, $4, "
								 "  pg_catalog.network($5::pg_catalog.inet), $6::pg_catalog.int4range, "
								 "  pg_catalog.network($7::pg_catalog.inet), $8::pg_catalog.int4range, "
								 "  $9, $10, $11, $12, $13::pg_catalog.jsonb, $14::pg_catalog.jsonb, "
								 "  $15::pg_catalog.int8, $16::pg_catalog.int8, $17)" :
								 "INSERT INTO mekatek.fw_rule (policy, position, direction, proto, src, sport, dst, dport, "
								 "  action, in_iface, out_iface, target, matches, target_options) "
								 "VALUES ($1, $2, $3, $4, "
								 "  pg_catalog.network($5::pg_catalog.inet), $6::pg_catalog.int4range, "
								 "  pg_catalog.network($7::pg_catalog.inet), $8::pg_catalog.int4range, "
								 "  $9, $10, $11, $12, $13::pg_catalog.jsonb, $14::pg_catalog.jsonb)",
								 17, rule_types, "fw_import_iptables");
	st.insert_chain = mk_spi_prepare(
								  "INSERT INTO mekatek.fw_chain_policy (policy, chain, action) VALUES ($1, $2, $3) "
								  "ON CONFLICT (policy, chain) DO UPDATE SET action = excluded.action",
								  3, chain_types, "fw_import_iptables");
	del_args[0] = CStringGetTextDatum(policy);
	mk_spi_execute("DELETE FROM mekatek.fw_rule WHERE policy = $1", 1, del_types, del_args,
				   NULL, false, 0, SPI_OK_DELETE, "fw_import_iptables: replacing the policy");
	mk_spi_execute("DELETE FROM mekatek.fw_chain_policy WHERE policy = $1", 1, del_types, del_args,
				   NULL, false, 0, SPI_OK_DELETE, "fw_import_iptables: replacing the policy");

	for (line = strtok_r(rules, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
	{
		List	   *words;
		char	   *w0;
		char	   *packets = NULL,
				   *bytes = NULL;
		int			start = 0;
		int			len = strlen(line);

		CHECK_FOR_INTERRUPTS();
		st.lineno++;
		while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
			line[--len] = '\0';
		st.line = line;
		while (*line == ' ' || *line == '\t')
			line++;
		if (*line == '\0' || *line == '#')
			continue;
		if (*line == '*')
		{
			if (table_line > 0)
				bad_line(&st, psprintf("a table starts before the one of line %d ended with COMMIT", table_line));
			if (strcmp(line, "*filter") == 0)
			{
				if (seen_filter)
					bad_line(&st, "a second *filter table");
				seen_filter = true;
			}
			in_filter = strcmp(line, "*filter") == 0;
			table_line = st.lineno;
			continue;
		}
		if (strcmp(line, "COMMIT") == 0)
		{
			if (table_line == 0)
				bad_line(&st, "COMMIT without a table (\"*filter\") to commit");
			table_line = 0;
			in_filter = true;
			continue;
		}
		if (!in_filter)
		{
			st.skipped_tables++;
			continue;
		}
		words = split_words(&st, line);
		if (words == NIL)
			continue;
		w0 = linitial(words);
		if (w0[0] == ':')
		{
			/* ":INPUT DROP [0:0]" */
			if (list_length(words) < 2)
				bad_line(&st, "a chain line without a policy");
			if (strcmp(lsecond(words), "-") != 0)
				import_chain_policy(&st, w0 + 1, lsecond(words));
			continue;
		}
		if (w0[0] == '[')
		{
			/* iptables-save -c counters: "[packets:bytes]" */
			unsigned long long pk,
						by;
			int			used = -1;

			if (strlen(w0) > 44 || strspn(w0 + 1, "0123456789:]") != strlen(w0) - 1 ||
				sscanf(w0, "[%llu:%llu]%n", &pk, &by, &used) != 2 || used != (int) strlen(w0) ||
				pk > PG_INT64_MAX || by > PG_INT64_MAX)
				bad_line(&st, psprintf("counters \"%s\" are not [packets:bytes]", mk_quote_short(w0)));
			packets = psprintf("%llu", pk);
			bytes = psprintf("%llu", by);
			start = 1;
		}
		else if (strcmp(w0, "sudo") == 0 && list_length(words) > 1)
		{
			w0 = lsecond(words);
			start = 1;
		}
		if (strcmp(basename_of(w0), "iptables") == 0 || strcmp(basename_of(w0), "ip6tables") == 0)
		{
			note_family(&st, basename_of(w0)[2] == '6' ? 6 : 4, basename_of(w0));
			start++;
		}
		else if (strncmp(basename_of(w0), "iptables-", 9) == 0 || strncmp(basename_of(w0), "ip6tables-", 10) == 0)
			continue;			/* iptables-save / -restore invocations define no rule */
		else if (w0[0] != '-' && start == 0)
			bad_line(&st, "not an iptables command or iptables-save line");

		/* the table, if named, must be filter */
		{
			bool		other_table = false;

			for (int k = start; k + 1 < list_length(words); k++)
				if (is_opt(list_nth(words, k), "-t", "--table"))
				{
					if (strcmp(list_nth(words, k + 1), "filter") != 0)
						other_table = true;
					words = list_delete_nth_cell(words, k);
					words = list_delete_nth_cell(words, k);
					break;
				}
			if (other_table)
			{
				st.skipped_tables++;
				continue;
			}
		}
		if (start >= list_length(words))
			bad_line(&st, "no command");
		{
			char	   *cmd = list_nth(words, start);
			char	   *arg = start + 1 < list_length(words) ? list_nth(words, start + 1) : NULL;

			if (is_opt(cmd, "-A", "--append"))
			{
				if (arg == NULL)
					bad_line(&st, "-A without a chain");
				import_rule(&st, words, start + 2, arg, packets, bytes);
			}
			else if (is_opt(cmd, "-P", "--policy"))
			{
				if (arg == NULL || start + 2 >= list_length(words))
					bad_line(&st, "-P needs a chain and a target");
				import_chain_policy(&st, arg, list_nth(words, start + 2));
			}
			else if (is_opt(cmd, "-F", "--flush") || is_opt(cmd, "-X", "--delete-chain") ||
					 is_opt(cmd, "-Z", "--zero") || is_opt(cmd, "-N", "--new-chain"))
				 /* no rule to import */ ;
			else
				bad_line(&st, psprintf("command \"%s\" is not supported: only -A, -P, -F, -X, -Z and -N", mk_quote_short(cmd)));
		}
	}
	if (table_line > 0)
		mk_error(ERRCODE_INVALID_TEXT_REPRESENTATION,
				 "iptables-restore applies nothing of a table without COMMIT: the dump is cut short.",
				 "cannot import: the table of line %d has no COMMIT", table_line);
	/* the policy exists from now on, even with no rule (fw_require_policy) */
	/*
	 * ip6tables-save output need not name an IPv6 address: a dump that shows
	 * no family keeps the one fw_policy already records (4 for a new one).
	 */
	pol_args[0] = CStringGetTextDatum(policy);
	pol_args[1] = Int32GetDatum(st.family);
	if (v2)
		mk_spi_execute("INSERT INTO mekatek.fw_policy (policy, family) "
				   "VALUES ($1, coalesce(nullif($2, 0), 4)) "
				   "ON CONFLICT (policy) DO UPDATE "
				   "SET family = coalesce(nullif($2, 0), mekatek.fw_policy.family), "
				   "    imported_at = pg_catalog.now()",
				   2, pol_types, pol_args, NULL, false, 0, SPI_OK_INSERT, "fw_import_iptables: the policy row");
	SPI_finish();
	if (st.skipped_tables > 0)
		ereport(NOTICE,
				(errmsg("fw_import_iptables skipped %d line(s) of tables other than filter", st.skipped_tables)));
	PG_RETURN_INT32(st.position);
}
