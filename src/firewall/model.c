/*
 * model.c: policies as iptables evaluates them (see model.h).
 *
 *   mk_fw_model_load     rows of mekatek.fw_rule -> fw_mrule, the options
 *                        kept in "matches" read into the fields' sets
 *   mk_fw_model_flatten  user chains inlined into the evaluation order
 *   mk_fw_mrule_rel      how two rules' match sets relate, exactly
 *
 * The options understood are those iptables-save writes for the filter
 * table's common matches: ! before -s -d -p -i -o --sport --dport, -s/-d
 * lists, state/conntrack (--state, --ctstate), multiport (--sports,
 * --dports), iprange (--src-range, --dst-range), icmp (--icmp-type),
 * icmp6 (--icmpv6-type), tcp (--tcp-flags, --syn) and comment.  Anything
 * else (limit, recent, mark, owner, --ports of multiport, negated
 * interfaces, ...) makes the rule conservative.
 */
#include "core/mekatek.h"

#include <sys/socket.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/inet.h"

#include "firewall/model.h"

/* ---------------------------------------------------------------------- */
/* Sets                                                                    */
/* ---------------------------------------------------------------------- */

static fw_iset
iset_one(fw_u128 lo, fw_u128 hi)
{
	fw_iset		s;

	s.n = 1;
	s.v = palloc(sizeof(fw_ivl));
	s.v[0].lo = lo;
	s.v[0].hi = hi;
	return s;
}

/* Sort and merge n raw intervals into a set. */
static int
ivl_cmp(const void *a, const void *b)
{
	const fw_ivl *x = a,
			   *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo ? 1 : 0;
}

static fw_iset
iset_from(fw_ivl *v, int n)
{
	fw_iset		s;
	int			k = 0;

	s.v = palloc(sizeof(fw_ivl) * Max(n, 1));
	qsort(v, n, sizeof(fw_ivl), ivl_cmp);
	for (int i = 0; i < n; i++)
	{
		if (k > 0 && (v[i].lo <= s.v[k - 1].hi ||
					  (s.v[k - 1].hi != ~(fw_u128) 0 && v[i].lo == s.v[k - 1].hi + 1)))
		{
			if (v[i].hi > s.v[k - 1].hi)
				s.v[k - 1].hi = v[i].hi;
		}
		else
			s.v[k++] = v[i];
	}
	s.n = k;
	return s;
}

static fw_iset
iset_complement(fw_iset a, fw_u128 max)
{
	fw_ivl	   *v = palloc(sizeof(fw_ivl) * (a.n + 1));
	int			k = 0;
	fw_u128		next = 0;
	bool		open = true;	/* next is still inside [0, max] */
	fw_iset		s;

	for (int i = 0; i < a.n; i++)
	{
		if (a.v[i].lo > next)
		{
			v[k].lo = next;
			v[k].hi = a.v[i].lo - 1;
			k++;
		}
		if (a.v[i].hi >= max)
		{
			open = false;
			break;
		}
		next = a.v[i].hi + 1;
	}
	if (open)
	{
		v[k].lo = next;
		v[k].hi = max;
		k++;
	}
	s.n = k;
	s.v = v;
	return s;
}

static fw_iset
iset_intersect(fw_iset a, fw_iset b)
{
	fw_iset		s;
	int			i = 0,
				j = 0;

	s.v = palloc(sizeof(fw_ivl) * (a.n + b.n + 1));
	s.n = 0;
	while (i < a.n && j < b.n)
	{
		fw_u128		lo = Max(a.v[i].lo, b.v[j].lo);
		fw_u128		hi = Min(a.v[i].hi, b.v[j].hi);

		if (lo <= hi)
		{
			s.v[s.n].lo = lo;
			s.v[s.n].hi = hi;
			s.n++;
		}
		if (a.v[i].hi < b.v[j].hi)
			i++;
		else
			j++;
	}
	return s;
}

static bool
iset_equal(fw_iset a, fw_iset b)
{
	if (a.n != b.n)
		return false;
	for (int i = 0; i < a.n; i++)
		if (a.v[i].lo != b.v[i].lo || a.v[i].hi != b.v[i].hi)
			return false;
	return true;
}

static bool
iset_contains(fw_iset a, fw_u128 x)
{
	int			lo = 0,
				hi = a.n - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (x < a.v[mid].lo)
			hi = mid - 1;
		else if (x > a.v[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

static fw_rel
iset_rel(fw_iset a, fw_iset b)
{
	fw_iset		x = iset_intersect(a, b);
	fw_rel		r;

	if (x.n == 0)
		r = FW_REL_DISJOINT;
	else if (iset_equal(a, b))
		r = FW_REL_EQUAL;
	else if (iset_equal(x, a))
		r = FW_REL_SUBSET;
	else if (iset_equal(x, b))
		r = FW_REL_SUPERSET;
	else
		r = FW_REL_OVERLAP;
	pfree(x.v);
	return r;
}

static fw_bits
bits_all(void)
{
	fw_bits		b;

	memset(&b, 0xFF, sizeof(b));
	return b;
}

static inline bool
bits_has(const fw_bits *b, int v)
{
	return (b->w[v >> 6] >> (v & 63)) & 1;
}

static inline void
bits_set(fw_bits *b, int v)
{
	b->w[v >> 6] |= (uint64) 1 << (v & 63);
}

static fw_rel
bits_rel(const fw_bits *a, const fw_bits *b)
{
	bool		any = false,
				a_in_b = true,
				b_in_a = true;

	for (int i = 0; i < 4; i++)
	{
		if (a->w[i] & b->w[i])
			any = true;
		if (a->w[i] & ~b->w[i])
			a_in_b = false;
		if (b->w[i] & ~a->w[i])
			b_in_a = false;
	}
	if (!any)
		return FW_REL_DISJOINT;
	if (a_in_b && b_in_a)
		return FW_REL_EQUAL;
	return a_in_b ? FW_REL_SUBSET : b_in_a ? FW_REL_SUPERSET : FW_REL_OVERLAP;
}

static bool
bits_empty(const fw_bits *b)
{
	return (b->w[0] | b->w[1] | b->w[2] | b->w[3]) == 0;
}

static void
bits_not(fw_bits *b)
{
	for (int i = 0; i < 4; i++)
		b->w[i] = ~b->w[i];
}

/* ---------------------------------------------------------------------- */
/* Reading the options                                                     */
/* ---------------------------------------------------------------------- */

typedef struct rule_reader
{
	fw_mrule   *r;
	int			family;
	fw_u128		addr_max;
	char	  **tok;
	int			ntok;
	int			i;
} rule_reader;

static void
mark_unknown(rule_reader *rd, const char *what)
{
	rd->r->conservative = true;
	if (rd->r->unknown == NULL)
		rd->r->unknown = pstrdup(what);
}

/* one address or network "a.b.c.d[/n]" as an interval; false when bad */
static bool
addr_ivl(rule_reader *rd, const char *v, fw_ivl *out)
{
	unsigned char buf[16];
	int			fam = strchr(v, ':') ? PGSQL_AF_INET6 : PGSQL_AF_INET;
	int			bits,
				width = fam == PGSQL_AF_INET ? 32 : 128;
	fw_u128		x = 0,
				host;

	if ((fam == PGSQL_AF_INET ? 4 : 6) != rd->family)
		return false;
	bits = pg_inet_net_pton(fam, v, buf, -1);
	if (bits < 0 || bits > width)
		return false;
	for (int k = 0; k < width / 8; k++)
		x = (x << 8) | buf[k];
	host = bits == width ? 0 : (((fw_u128) 1 << (width - bits)) - 1);
	if (width == 128 && bits == 0)
		host = ~(fw_u128) 0;
	out->lo = x & ~host;
	out->hi = out->lo | host;
	return true;
}

static bool
addr_value(rule_reader *rd, const char *v, fw_u128 *out)
{
	fw_ivl		i;

	if (strchr(v, '/') || !addr_ivl(rd, v, &i))
		return false;
	*out = i.lo;
	return true;
}

/* "-s a,b/n" */
static bool
addr_list(rule_reader *rd, const char *v, fw_iset *out)
{
	char	   *copy = pstrdup(v),
			   *save,
			   *p;
	fw_ivl	   *iv = palloc(sizeof(fw_ivl) * (strlen(v) / 2 + 2));
	int			n = 0;

	for (p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save))
		if (!addr_ivl(rd, p, &iv[n++]))
			return false;
	*out = iset_from(iv, n);
	return n > 0;
}

/* "22", "1024:", ":1023", "80,443,8000:8080" */
static bool
port_list(const char *v, fw_iset *out)
{
	char	   *copy = pstrdup(v),
			   *save,
			   *p;
	fw_ivl	   *iv = palloc(sizeof(fw_ivl) * (strlen(v) / 2 + 2));
	int			n = 0;

	for (p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save))
	{
		char	   *colon = strchr(p, ':'),
				   *end;
		long		lo,
					hi;

		if (colon)
		{
			*colon = '\0';
			lo = *p ? strtol(p, &end, 10) : 0;
			if (*p && *end)
				return false;
			hi = colon[1] ? strtol(colon + 1, &end, 10) : 65535;
			if (colon[1] && *end)
				return false;
		}
		else
		{
			lo = hi = strtol(p, &end, 10);
			if (end == p || *end)
				return false;
		}
		if (lo < 0 || hi > 65535 || lo > hi)
			return false;
		iv[n].lo = lo;
		iv[n].hi = hi;
		n++;
	}
	*out = iset_from(iv, n);
	return n > 0;
}

static int
state_bits(const char *v)
{
	static const struct
	{
		const char *name;
		int			bit;
	}			names[] = {
		{"NEW", FW_ST_NEW}, {"ESTABLISHED", FW_ST_ESTABLISHED}, {"RELATED", FW_ST_RELATED},
		{"INVALID", FW_ST_INVALID}, {"UNTRACKED", FW_ST_UNTRACKED}
	};
	char	   *copy = pstrdup(v),
			   *save,
			   *p;
	int			b = 0;

	for (p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save))
	{
		int			k;

		for (k = 0; k < (int) lengthof(names); k++)
			if (pg_strcasecmp(p, names[k].name) == 0)
				break;
		if (k == (int) lengthof(names))
			return -1;			/* SNAT, DNAT: not modelled */
		b |= names[k].bit;
	}
	return b;
}

int
mk_fw_state_bits(const char *v)
{
	return state_bits(v);
}

/* TCP flag names -> bits (FIN 1, SYN 2, RST 4, PSH 8, ACK 16, URG 32, ECE 64, CWR 128) */
int
mk_fw_tcp_flag_bits(const char *v)
{
	static const char *const names[] = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"};
	char	   *copy = pstrdup(v),
			   *save,
			   *p;
	int			b = 0;

	if (pg_strcasecmp(v, "NONE") == 0)
		return 0;
	for (p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save))
	{
		int			k;

		if (pg_strcasecmp(p, "ALL") == 0)
		{
			b |= 0x3F;			/* iptables' ALL: the six classic flags */
			continue;
		}
		for (k = 0; k < 8; k++)
			if (pg_strcasecmp(p, names[k]) == 0)
				break;
		if (k == 8)
			return -1;
		b |= 1 << k;
	}
	return b;
}

static fw_bits
tcp_flags_set(int mask, int comp)
{
	fw_bits		b;

	memset(&b, 0, sizeof(b));
	for (int v = 0; v < 256; v++)
		if ((v & mask) == comp)
			bits_set(&b, v);
	return b;
}

/* ICMP type names (iptables -p icmp -h, ip6tables -p icmpv6 -h) */
static bool
icmp_type(const char *v, bool v6, fw_iset *out)
{
	static const struct
	{
		const char *name;
		int			type,
					code;		/* -1: any code */
	}			v4[] = {
		{"any", -2, -1}, {"echo-reply", 0, -1}, {"pong", 0, -1},
		{"destination-unreachable", 3, -1}, {"network-unreachable", 3, 0},
		{"host-unreachable", 3, 1}, {"protocol-unreachable", 3, 2}, {"port-unreachable", 3, 3},
		{"fragmentation-needed", 3, 4}, {"source-route-failed", 3, 5},
		{"network-prohibited", 3, 9}, {"host-prohibited", 3, 10},
		{"communication-prohibited", 3, 13}, {"source-quench", 4, -1}, {"redirect", 5, -1},
		{"echo-request", 8, -1}, {"ping", 8, -1}, {"router-advertisement", 9, -1},
		{"router-solicitation", 10, -1}, {"time-exceeded", 11, -1}, {"ttl-exceeded", 11, -1},
		{"ttl-zero-during-transit", 11, 0}, {"ttl-zero-during-reassembly", 11, 1},
		{"parameter-problem", 12, -1}, {"timestamp-request", 13, -1},
		{"timestamp-reply", 14, -1}, {"address-mask-request", 17, -1}, {"address-mask-reply", 18, -1}
	}, v6n[] = {
		{"any", -2, -1}, {"destination-unreachable", 1, -1}, {"no-route", 1, 0},
		{"communication-prohibited", 1, 1}, {"address-unreachable", 1, 3}, {"port-unreachable", 1, 4},
		{"packet-too-big", 2, -1}, {"time-exceeded", 3, -1}, {"ttl-exceeded", 3, -1},
		{"parameter-problem", 4, -1}, {"echo-request", 128, -1}, {"ping", 128, -1},
		{"echo-reply", 129, -1}, {"pong", 129, -1}, {"router-solicitation", 133, -1},
		{"router-advertisement", 134, -1}, {"neighbour-solicitation", 135, -1},
		{"neighbor-solicitation", 135, -1}, {"neighbour-advertisement", 136, -1},
		{"neighbor-advertisement", 136, -1}, {"redirect", 137, -1}
	};
	int			type = -3,
				code = -1;
	const char *slash = strchr(v, '/');
	char	   *end;

	if (v[0] >= '0' && v[0] <= '9')
	{
		type = strtol(v, &end, 10);
		if (*end == '/')
		{
			code = strtol(end + 1, &end, 10);
			if (*end || code < 0 || code > 255)
				return false;
		}
		else if (*end)
			return false;
		if (type > 255)
			return false;
	}
	else if (slash == NULL)
	{
		int			n = v6 ? lengthof(v6n) : lengthof(v4);

		for (int k = 0; k < n; k++)
			if (pg_strcasecmp(v, v6 ? v6n[k].name : v4[k].name) == 0)
			{
				type = v6 ? v6n[k].type : v4[k].type;
				code = v6 ? v6n[k].code : v4[k].code;
			}
		if (type == -3)
			return false;
	}
	else
		return false;
	if (type == -2)
		*out = iset_one(0, 65535);
	else if (code < 0)
		*out = iset_one(type * 256, type * 256 + 255);
	else
		*out = iset_one(type * 256 + code, type * 256 + code);
	return true;
}

static const char *
next_tok(rule_reader *rd)
{
	return rd->i < rd->ntok ? rd->tok[rd->i++] : NULL;
}

/* The options kept in "matches", in order. */
static void
read_matches(rule_reader *rd)
{
	fw_mrule   *r = rd->r;

	while (rd->i < rd->ntok)
	{
		const char *w = next_tok(rd);
		bool		neg = false;
		const char *v;

		if (strcmp(w, "!") == 0)
		{
			neg = true;
			w = next_tok(rd);
			if (w == NULL)
			{
				mark_unknown(rd, "!");
				return;
			}
		}
		if (strcmp(w, "-m") == 0 || strcmp(w, "--match") == 0)
		{
			/* loading a match module decides nothing; its options do */
			if (next_tok(rd) == NULL)
				mark_unknown(rd, w);
			continue;
		}
		if (strcmp(w, "--syn") == 0)
		{
			fw_bits		b = tcp_flags_set(0x17, 0x02);

			if (neg)
				bits_not(&b);
			for (int k = 0; k < 4; k++)
				r->tflags.w[k] &= b.w[k];
			continue;
		}
		v = next_tok(rd);
		/* the old syntax "-s ! addr" */
		if (v != NULL && strcmp(v, "!") == 0 && !neg)
		{
			neg = true;
			v = next_tok(rd);
		}
		if (v == NULL)
		{
			mark_unknown(rd, w);
			return;
		}
		if (strcmp(w, "-s") == 0 || strcmp(w, "--source") == 0 ||
			strcmp(w, "-d") == 0 || strcmp(w, "--destination") == 0 ||
			strcmp(w, "--src-range") == 0 || strcmp(w, "--dst-range") == 0)
		{
			bool		is_src = w[1] == 's' || strncmp(w, "--s", 3) == 0;
			fw_iset		s;
			fw_iset    *slot = is_src ? &r->src : &r->dst;

			if (strstr(w, "range"))
			{
				char	   *copy = pstrdup(v),
						   *dash = strchr(copy, '-');
				fw_u128		lo,
							hi;

				if (dash == NULL)
				{
					mark_unknown(rd, w);
					continue;
				}
				*dash = '\0';
				if (!addr_value(rd, copy, &lo) || !addr_value(rd, dash + 1, &hi) || lo > hi)
				{
					mark_unknown(rd, w);
					continue;
				}
				s = iset_one(lo, hi);
			}
			else if (!addr_list(rd, v, &s))
			{
				mark_unknown(rd, w);
				continue;
			}
			if (neg)
				s = iset_complement(s, rd->addr_max);
			*slot = iset_intersect(*slot, s);
		}
		else if (strcmp(w, "--sport") == 0 || strcmp(w, "--source-port") == 0 ||
				 strcmp(w, "--dport") == 0 || strcmp(w, "--destination-port") == 0 ||
				 strcmp(w, "--sports") == 0 || strcmp(w, "--source-ports") == 0 ||
				 strcmp(w, "--dports") == 0 || strcmp(w, "--destination-ports") == 0)
		{
			bool		is_src = strncmp(w, "--s", 3) == 0;
			fw_iset		s;

			if (!port_list(v, &s))
			{
				mark_unknown(rd, w);
				continue;
			}
			if (neg)
				s = iset_complement(s, 65535);
			if (is_src)
				r->sport = iset_intersect(r->sport, s);
			else
				r->dport = iset_intersect(r->dport, s);
		}
		else if (strcmp(w, "-p") == 0 || strcmp(w, "--protocol") == 0)
		{
			int			pn = mk_fw_proto_num(v, strlen(v));
			fw_bits		b;

			if (pn < 0)
			{
				mark_unknown(rd, w);
				continue;
			}
			memset(&b, 0, sizeof(b));
			bits_set(&b, pn);
			if (neg)
				bits_not(&b);
			for (int k = 0; k < 4; k++)
				r->proto.w[k] &= b.w[k];
		}
		else if (strcmp(w, "--state") == 0 || strcmp(w, "--ctstate") == 0)
		{
			int			b = state_bits(v);

			if (b < 0)
			{
				mark_unknown(rd, w);
				continue;
			}
			if (neg)
				b = ~b & FW_ST_ALL;
			r->state &= b;
		}
		else if (strcmp(w, "--icmp-type") == 0 || strcmp(w, "--icmpv6-type") == 0)
		{
			fw_iset		s;

			if (!icmp_type(v, w[6] == 'v', &s))
			{
				mark_unknown(rd, w);
				continue;
			}
			if (neg)
				s = iset_complement(s, 65535);
			r->icmp = iset_intersect(r->icmp, s);
		}
		else if (strcmp(w, "--tcp-flags") == 0)
		{
			const char *c = next_tok(rd);
			int			mask = mk_fw_tcp_flag_bits(v),
						comp = c ? mk_fw_tcp_flag_bits(c) : -1;
			fw_bits		b;

			if (mask < 0 || comp < 0)
			{
				mark_unknown(rd, w);
				continue;
			}
			b = tcp_flags_set(mask, comp & mask);
			if ((comp & ~mask) != 0)
				memset(&b, 0, sizeof(b));	/* a flag outside the mask can never be set */
			if (neg)
				bits_not(&b);
			for (int k = 0; k < 4; k++)
				r->tflags.w[k] &= b.w[k];
		}
		else if (strcmp(w, "--comment") == 0)
			 /* matches every packet */ ;
		else
		{
			/* -i/-o negated, limit, recent, --ports, ...: keep the rest unread */
			mark_unknown(rd, w);
			while (rd->i < rd->ntok && rd->tok[rd->i][0] != '-' && strcmp(rd->tok[rd->i], "!") != 0)
				rd->i++;
		}
	}
}

static fw_kind
target_kind(const char *action, const char *target, bool is_goto, const fw_policy_model *m,
			bool chain_exists)
{
	static const char *const nonterminating[] = {
		"LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "TCPMSS", "CLASSIFY", "TRACE",
		"DSCP", "TOS", "TTL", "HL", "CT", "NOTRACK", "SET", "AUDIT", "CHECKSUM", "SECMARK",
		"CONNSECMARK", "LED", "IDLETIMER", "RATEEST"
	};

	if (action != NULL)
		return strcmp(action, "accept") == 0 ? FW_K_ACCEPT : FW_K_BLOCK;
	if (target == NULL)
		return FW_K_NONE;
	if (strcmp(target, "RETURN") == 0)
		return FW_K_RETURN;
	if (chain_exists)
		return is_goto ? FW_K_GOTO : FW_K_JUMP;
	for (int k = 0; k < (int) lengthof(nonterminating); k++)
		if (strcmp(target, nonterminating[k]) == 0)
			return FW_K_NONE;
	return FW_K_UNKNOWN;
}

/* The rows of a policy; 0.1.0's fw_rule (before ALTER EXTENSION UPDATE) has no goto. */
#define LOAD_SQL(goto_col) \
	"SELECT r.position, r.direction, r.proto, r.src, r.dst, " \
	"       pg_catalog.lower(r.sport), pg_catalog.upper(r.sport) OPERATOR(pg_catalog.-) 1, " \
	"       pg_catalog.lower(r.dport), pg_catalog.upper(r.dport) OPERATOR(pg_catalog.-) 1, " \
	"       r.in_iface, r.out_iface, r.action, r.target, " goto_col ", " \
	"       pg_catalog.array_to_string(ARRAY(SELECT pg_catalog.jsonb_array_elements_text(r.matches)), E'\\x1f'), " \
	"       r.sport IS NOT NULL AND pg_catalog.isempty(r.sport), " \
	"       r.dport IS NOT NULL AND pg_catalog.isempty(r.dport), " \
	"       coalesce(r.target OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT DISTINCT c.direction " \
	"                  FROM mekatek.fw_rule c WHERE c.policy OPERATOR(pg_catalog.=) $1 " \
	"                   AND c.direction IS NOT NULL)), false) " \
	"  FROM mekatek.fw_rule r WHERE r.policy OPERATOR(pg_catalog.=) $1 ORDER BY r.position"

static const char *const load_sql = LOAD_SQL("r.goto");
static const char *const load_sql_0_1 = LOAD_SQL("false");

void
mk_fw_model_load(fw_policy_model *m, const char *policy)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	MemoryContext caller = CurrentMemoryContext;
	uint64		nrows;
	bool		v2;

	memset(m, 0, sizeof(*m));
	m->name = pstrdup(policy);
	m->family = mk_fw_policy_family(policy);
	args[0] = CStringGetTextDatum(policy);
	v2 = mk_fw_schema_0_2();	/* 0.1.0's fw_rule has no goto */
	SPI_connect();
	mk_spi_execute(v2 ? load_sql : load_sql_0_1,
				   1, argtypes, args, NULL, true, 0, SPI_OK_SELECT, "loading the policy");
	nrows = SPI_processed;
	m->r = MemoryContextAllocZero(caller, sizeof(fw_mrule) * (nrows + 1));
	for (uint64 i = 0; i < nrows; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		bool		isnull;
		fw_mrule   *x = &m->r[m->n];
		MemoryContext old = MemoryContextSwitchTo(caller);
		rule_reader rd;
		char	   *proto,
				   *toks;
		Datum		d;
		bool		is_goto,
					target_chain;

		memset(&rd, 0, sizeof(rd));
		rd.r = x;
		rd.family = m->family;
		rd.addr_max = m->family == 4 ? (fw_u128) 0xFFFFFFFFu : ~(fw_u128) 0;
		x->position = DatumGetInt32(SPI_getbinval(tup, td, 1, &isnull));
		x->chain = SPI_getvalue(tup, td, 2);
		x->proto = bits_all();
		x->tflags = bits_all();
		x->state = FW_ST_ALL;
		x->src = iset_one(0, rd.addr_max);
		x->dst = iset_one(0, rd.addr_max);
		x->sport = iset_one(0, 65535);
		x->dport = iset_one(0, 65535);
		x->icmp = iset_one(0, 65535);
		proto = SPI_getvalue(tup, td, 3);
		if (proto)
		{
			int			pn = mk_fw_proto_num(proto, strlen(proto));

			memset(&x->proto, 0, sizeof(x->proto));
			if (pn >= 0)
				bits_set(&x->proto, pn);
			else
				mark_unknown(&rd, "-p");
		}
		for (int k = 0; k < 2; k++)
		{
			d = SPI_getbinval(tup, td, 4 + k, &isnull);
			if (!isnull)
			{
				char	   *t = SPI_getvalue(tup, td, 4 + k);
				fw_ivl		iv;

				if (addr_ivl(&rd, t, &iv))
					*(k == 0 ? &x->src : &x->dst) = iset_one(iv.lo, iv.hi);
				else
					mark_unknown(&rd, k == 0 ? "-s" : "-d");
			}
		}
		for (int k = 0; k < 2; k++)
		{
			d = SPI_getbinval(tup, td, 6 + 2 * k, &isnull);
			if (!isnull)
			{
				int32		lo = DatumGetInt32(d);
				int32		hi = DatumGetInt32(SPI_getbinval(tup, td, 7 + 2 * k, &isnull));

				if (isnull)
					hi = 65535;
				*(k == 0 ? &x->sport : &x->dport) = iset_one(lo, hi);
			}
			else if (!DatumGetBool(SPI_getbinval(tup, td, 16 + k, &isnull)))
			{
				/* upper bound only: (,n] */
				d = SPI_getbinval(tup, td, 7 + 2 * k, &isnull);
				if (!isnull)
					*(k == 0 ? &x->sport : &x->dport) = iset_one(0, DatumGetInt32(d));
			}
			else
			{
				/* an empty range matches nothing */
				(k == 0 ? &x->sport : &x->dport)->n = 0;
			}
		}
		x->in_iface = SPI_getvalue(tup, td, 10);
		x->out_iface = SPI_getvalue(tup, td, 11);
		x->action = SPI_getvalue(tup, td, 12);
		x->target = SPI_getvalue(tup, td, 13);
		is_goto = DatumGetBool(SPI_getbinval(tup, td, 14, &isnull));
		toks = SPI_getvalue(tup, td, 15);
		if (toks && *toks)
		{
			char	   *save,
					   *p;

			rd.tok = palloc(sizeof(char *) * (strlen(toks) + 1));
			for (p = strtok_r(toks, "\x1f", &save); p; p = strtok_r(NULL, "\x1f", &save))
				rd.tok[rd.ntok++] = p;
			read_matches(&rd);
		}
		target_chain = DatumGetBool(SPI_getbinval(tup, td, 18, &isnull));
		x->kind = target_kind(x->action, x->target, is_goto, m, target_chain);
		MemoryContextSwitchTo(old);
		m->n++;
	}
	mk_spi_execute("SELECT chain, action FROM mekatek.fw_chain_policy WHERE policy OPERATOR(pg_catalog.=) $1",
				   1, argtypes, args, NULL, true, 0, SPI_OK_SELECT, "loading the chain policies");
	m->nchains = (int) SPI_processed;
	m->chain_name = MemoryContextAlloc(caller, sizeof(char *) * (m->nchains + 1));
	m->chain_policy = MemoryContextAlloc(caller, sizeof(char *) * (m->nchains + 1));
	for (int i = 0; i < m->nchains; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(caller);

		m->chain_name[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		m->chain_policy[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
}

/* ---------------------------------------------------------------------- */
/* Relations and intersections                                             */
/* ---------------------------------------------------------------------- */

static inline fw_rel
rel_chain(const char *a, const char *b)
{
	if (a == NULL)
		return b == NULL ? FW_REL_EQUAL : FW_REL_SUPERSET;
	if (b == NULL)
		return FW_REL_SUBSET;
	return strcmp(a, b) == 0 ? FW_REL_EQUAL : FW_REL_DISJOINT;
}

fw_rel
mk_fw_mrule_rel(const fw_mrule *a, const fw_mrule *b)
{
	fw_rel		f[11];
	bool		sub = true,
				sup = true;

	f[0] = rel_chain(a->direction, b->direction);
	f[1] = bits_rel(&a->proto, &b->proto);
	f[2] = iset_rel(a->src, b->src);
	f[3] = iset_rel(a->dst, b->dst);
	f[4] = iset_rel(a->sport, b->sport);
	f[5] = iset_rel(a->dport, b->dport);
	f[6] = iset_rel(a->icmp, b->icmp);
	f[7] = bits_rel(&a->tflags, &b->tflags);
	f[8] = (a->state & b->state) == 0 ? FW_REL_DISJOINT :
		a->state == b->state ? FW_REL_EQUAL :
		(a->state & ~b->state) == 0 ? FW_REL_SUBSET :
		(b->state & ~a->state) == 0 ? FW_REL_SUPERSET : FW_REL_OVERLAP;
	f[9] = mk_fw_rel_iface(a->in_iface, b->in_iface);
	f[10] = mk_fw_rel_iface(a->out_iface, b->out_iface);
	for (int i = 0; i < 11; i++)
	{
		if (f[i] == FW_REL_DISJOINT)
			return FW_REL_DISJOINT;
		if (f[i] == FW_REL_OVERLAP)
			sub = sup = false;
		if (f[i] == FW_REL_SUPERSET)
			sub = false;
		if (f[i] == FW_REL_SUBSET)
			sup = false;
	}
	if (sub && sup)
		return FW_REL_EQUAL;
	return sub ? FW_REL_SUBSET : sup ? FW_REL_SUPERSET : FW_REL_OVERLAP;
}

/* a's pattern within b's: the narrower one, or false when disjoint */
static bool
iface_and(const char *a, const char *b, const char **out)
{
	fw_rel		r = mk_fw_rel_iface(a, b);

	if (r == FW_REL_DISJOINT)
		return false;
	*out = (r == FW_REL_SUPERSET) ? b : a;
	return true;
}

/* The rule `inner` as reached through `outer`'s match; false when empty. */
static bool
mrule_and(const fw_mrule *outer, const fw_mrule *inner, fw_mrule *res)
{
	*res = *inner;
	for (int k = 0; k < 4; k++)
	{
		res->proto.w[k] = outer->proto.w[k] & inner->proto.w[k];
		res->tflags.w[k] = outer->tflags.w[k] & inner->tflags.w[k];
	}
	res->state = outer->state & inner->state;
	res->src = iset_intersect(outer->src, inner->src);
	res->dst = iset_intersect(outer->dst, inner->dst);
	res->sport = iset_intersect(outer->sport, inner->sport);
	res->dport = iset_intersect(outer->dport, inner->dport);
	res->icmp = iset_intersect(outer->icmp, inner->icmp);
	res->direction = outer->direction;
	res->conservative = outer->conservative || inner->conservative;
	if (res->unknown == NULL)
		res->unknown = outer->unknown;
	if (!iface_and(outer->in_iface, inner->in_iface, &res->in_iface) ||
		!iface_and(outer->out_iface, inner->out_iface, &res->out_iface))
		return false;
	return !(bits_empty(&res->proto) || bits_empty(&res->tflags) || res->state == 0 ||
			 res->src.n == 0 || res->dst.n == 0 || res->sport.n == 0 || res->dport.n == 0 ||
			 res->icmp.n == 0);
}

/* ---------------------------------------------------------------------- */
/* Flattening                                                              */
/* ---------------------------------------------------------------------- */

typedef struct flat_out
{
	fw_mrule   *v;
	int			n,
				cap;
} flat_out;

static void
flat_add(flat_out *o, const fw_mrule *r)
{
	if (o->n == o->cap)
	{
		o->cap = o->cap ? o->cap * 2 : 64;
		o->v = o->v ? repalloc_huge(o->v, sizeof(fw_mrule) * o->cap) : palloc(sizeof(fw_mrule) * o->cap);
	}
	o->v[o->n++] = *r;
}

static const char *
chain_policy_of(const fw_policy_model *m, const char *chain)
{
	for (int i = 0; i < m->nchains; i++)
		if (strcmp(m->chain_name[i], chain) == 0)
			return m->chain_policy[i];
	return "accept";
}

static bool
is_builtin(const char *chain)
{
	return chain == NULL || strcmp(chain, "INPUT") == 0 || strcmp(chain, "OUTPUT") == 0 ||
		strcmp(chain, "FORWARD") == 0;
}

/*
 * The rules of `chain` as seen through `cond` (the jumps' matches, NULL at
 * the top), appended to o in evaluation order.
 */
static void
flatten_chain(const fw_policy_model *m, const char *chain, const fw_mrule *cond, int depth,
			  const char *direction, flat_out *o)
{
	bool		rest_conservative = false;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	mk_fw_chain_depth_check(m, chain, depth);
	for (int i = 0; i < m->n; i++)
	{
		const fw_mrule *r = &m->r[i];
		fw_mrule	f;

		if (depth == 0)
		{
			/* the top: this built-in chain's rules and those of no chain */
			if (r->chain != NULL &&
				(direction == NULL ? !is_builtin(r->chain) : strcmp(r->chain, direction) != 0))
				continue;
		}
		else if (r->chain == NULL || strcmp(r->chain, chain) != 0)
			continue;
		if (r->kind == FW_K_NONE)
			continue;
		if (cond)
		{
			if (!mrule_and(cond, r, &f))
				continue;
		}
		else
			f = *r;
		if (depth == 0)
			f.direction = direction ? direction : r->chain;
		if (rest_conservative)
			f.conservative = true;
		switch (r->kind)
		{
			case FW_K_RETURN:
				/* later rules of this chain see only what this one lets by */
				if (depth > 0)
					rest_conservative = true;
				else
				{
					/* RETURN in a built-in chain: the chain policy decides */
					f.action = chain_policy_of(m, direction ? direction : "INPUT");
					f.kind = strcmp(f.action, "accept") == 0 ? FW_K_ACCEPT : FW_K_BLOCK;
					f.synthetic = true;
					flat_add(o, &f);
				}
				break;
			case FW_K_JUMP:
			case FW_K_GOTO:
				flatten_chain(m, r->target, &f, depth + 1, direction, o);
				if (r->kind == FW_K_GOTO)
				{
					if (depth == 0 && direction != NULL)
					{
						/* what the target lets by meets this chain's policy */
						f.action = chain_policy_of(m, direction);
						f.kind = strcmp(f.action, "accept") == 0 ? FW_K_ACCEPT : FW_K_BLOCK;
						f.synthetic = true;
						flat_add(o, &f);
					}
					else
						rest_conservative = true;
				}
				break;
			default:
				flat_add(o, &f);
				break;
		}
	}
}

void
mk_fw_chain_depth_check(const fw_policy_model *m, const char *chain, int depth)
{
	if (depth > 64)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
				 "iptables refuses such a loop too; break it and import the policy again.",
				 "policy \"%s\": the user chains jump in a loop (through chain \"%s\")",
				 mk_quote_short(m->name), mk_quote_short(chain));
}

int
mk_fw_model_flatten(const fw_policy_model *m, fw_mrule **out)
{
	flat_out	o;
	static const char *const builtin[] = {"INPUT", "FORWARD", "OUTPUT"};
	bool		any_null = false;

	memset(&o, 0, sizeof(o));
	for (int i = 0; i < m->n; i++)
		if (m->r[i].chain == NULL)
			any_null = true;
	if (any_null)
	{
		/* hand-made rules without a chain: one order, the chain a field */
		flatten_chain(m, NULL, NULL, 0, NULL, &o);
	}
	else
		for (int k = 0; k < 3; k++)
			flatten_chain(m, builtin[k], NULL, 0, builtin[k], &o);
	*out = o.v;
	return o.n;
}

/* ---------------------------------------------------------------------- */
/* One packet                                                              */
/* ---------------------------------------------------------------------- */

static inline bool
iset_full(fw_iset s, fw_u128 max)
{
	return s.n == 1 && s.v[0].lo == 0 && s.v[0].hi == max;
}

/* 0: no, 1: yes, 2: the known fields match, an unknown one may not */
int
mk_fw_mrule_match(const fw_mrule *r, const fw_packet *p)
{
	if (p->proto < 0 || !bits_has(&r->proto, p->proto))
		return 0;
	if (!iset_contains(r->src, p->src) || !iset_contains(r->dst, p->dst))
		return 0;
	if (!iset_full(r->sport, 65535) && (p->sport < 0 || !iset_contains(r->sport, p->sport)))
		return 0;
	if (!iset_full(r->dport, 65535) && (p->dport < 0 || !iset_contains(r->dport, p->dport)))
		return 0;
	if (!iset_full(r->icmp, 65535) && (p->icmp < 0 || !iset_contains(r->icmp, p->icmp)))
		return 0;
	if ((r->tflags.w[0] & r->tflags.w[1] & r->tflags.w[2] & r->tflags.w[3]) != ~(uint64) 0 &&
		(p->tflags < 0 || !bits_has(&r->tflags, p->tflags)))
		return 0;
	if ((r->state & p->state) == 0)
		return 0;
	if (r->in_iface && !mk_fw_iface_match(r->in_iface, p->in_iface, p->in_iface ? strlen(p->in_iface) : 0))
		return 0;
	if (r->out_iface && !mk_fw_iface_match(r->out_iface, p->out_iface, p->out_iface ? strlen(p->out_iface) : 0))
		return 0;
	return r->conservative ? 2 : 1;
}

/* An address of the policy's family as the model's number. */
bool
mk_fw_addr_number(int family, Datum d, fw_u128 *out)
{
	inet	   *in = DatumGetInetPP(d);
	int			fam = ip_family(in) == PGSQL_AF_INET ? 4 : 6;
	fw_u128		x = 0;

	if (fam != family)
		return false;
	for (int k = 0; k < (fam == 4 ? 4 : 16); k++)
		x = (x << 8) | ip_addr(in)[k];
	*out = x;
	return true;
}

/* ---------------------------------------------------------------------- */
/* Set algebra for diff.c                                                  */
/* ---------------------------------------------------------------------- */

fw_iset
mk_fw_iset_and(fw_iset a, fw_iset b)
{
	return iset_intersect(a, b);
}

/* a minus b, within [0, max] */
fw_iset
mk_fw_iset_minus(fw_iset a, fw_iset b, fw_u128 max)
{
	return iset_intersect(a, iset_complement(b, max));
}
