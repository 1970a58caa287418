/*
 * diff.c: mekatek.fw_diff(policy_a, policy_b): rules removed, added and
 * moved, chain policies changed, and the decisions the two policies
 * disagree on, each with a sample packet.
 *
 * Both policies are flattened (model.c: user chains inlined, the chain
 * policy last).  A packet of built-in chain d is decided in A by the first
 * rule i of A's order for d that matches it, in B by the first rule j.
 * For every pair (i, j) with different verdicts, the packets that pair
 * decides are box(i) & box(j) minus every earlier rule of A and of B.  A
 * witness is searched for exactly: a box minus a box is at most one box
 * per field (the fields before taken from the intersection, the field
 * itself from the difference), and the search goes depth first through
 * the earlier rules, so the first box left when the rules run out holds
 * only packets decided by i and j.  Interfaces are names, not intervals:
 * they become a finite set of candidate names (each exact name, each
 * prefix pattern with a suffix no other pattern names, one name no
 * pattern matches), which represents every class of names the patterns
 * tell apart.
 *
 * A conservative rule (a match Mekatek does not model) is subtracted from
 * what comes after it, so every witness is outside it and its verdict
 * certain; when it decides the pair itself, the row says certain = false.
 * The search is exponential in the worst case: mekatek.fw_diff_work
 * bounds the box operations, and past it the call is an ERROR (54000),
 * never a silently short answer.
 */
#include "core/mekatek.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inet.h"

#include "firewall/model.h"

int			fw_diff_work = 10000000;

#define MAX_IFACES 64
#define NCOLS 19

typedef struct box
{
	fw_bits		proto,
				tflags;
	uint8		state;
	fw_iset		src,
				dst,
				sport,
				dport,
				icmp;
	uint64		in,
				out;			/* candidate interface names */
} box;

typedef struct diff_ctx
{
	int			family;
	fw_u128		addr_max;
	int			nifaces;
	const char *iface[MAX_IFACES];
	int64		work;
	box			found;
} diff_ctx;

static void
add_iface(diff_ctx *c, const char *name)
{
	for (int i = 0; i < c->nifaces; i++)
		if (strcmp(c->iface[i], name) == 0)
			return;
	if (c->nifaces == MAX_IFACES)
		mk_error(ERRCODE_PROGRAM_LIMIT_EXCEEDED, NULL,
				 "fw_diff: the policies name more than %d interfaces", MAX_IFACES);
	c->iface[c->nifaces++] = name;
}

static void
iface_candidates(diff_ctx *c, const fw_mrule *r, int n)
{
	for (int i = 0; i < n; i++)
	{
		const char *pats[2] = {r[i].in_iface, r[i].out_iface};

		for (int k = 0; k < 2; k++)
		{
			const char *p = pats[k];
			size_t		len;

			if (p == NULL)
				continue;
			len = strlen(p);
			if (len > 0 && p[len - 1] == '+')
				add_iface(c, psprintf("%.*s~9", (int) (len - 1), p));
			else
				add_iface(c, p);
		}
	}
}

static uint64
iface_mask(const diff_ctx *c, const char *pattern)
{
	uint64		m = 0;

	for (int i = 0; i < c->nifaces; i++)
		if (pattern == NULL || mk_fw_iface_match(pattern, c->iface[i], strlen(c->iface[i])))
			m |= UINT64CONST(1) << i;
	return m;
}

static void
box_of(const diff_ctx *c, const fw_mrule *r, box *b)
{
	b->proto = r->proto;
	b->tflags = r->tflags;
	b->state = r->state;
	b->src = r->src;
	b->dst = r->dst;
	b->sport = r->sport;
	b->dport = r->dport;
	b->icmp = r->icmp;
	b->in = iface_mask(c, r->in_iface);
	b->out = iface_mask(c, r->out_iface);
}

static bool
bits_any(const fw_bits *b)
{
	return (b->w[0] | b->w[1] | b->w[2] | b->w[3]) != 0;
}

static bool
box_and(diff_ctx *c, const box *a, const box *b, box *res)
{
	if (++c->work > fw_diff_work)
		mk_error(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
				 "Raise mekatek.fw_diff_work, or compare smaller policies (one chain at a time).",
				 "fw_diff: more than mekatek.fw_diff_work (%d) box operations", fw_diff_work);
	for (int k = 0; k < 4; k++)
	{
		res->proto.w[k] = a->proto.w[k] & b->proto.w[k];
		res->tflags.w[k] = a->tflags.w[k] & b->tflags.w[k];
	}
	res->state = a->state & b->state;
	res->in = a->in & b->in;
	res->out = a->out & b->out;
	if (!bits_any(&res->proto) || !bits_any(&res->tflags) || res->state == 0 || res->in == 0 || res->out == 0)
		return false;
	res->src = mk_fw_iset_and(a->src, b->src);
	if (res->src.n == 0)
		return false;
	res->dst = mk_fw_iset_and(a->dst, b->dst);
	if (res->dst.n == 0)
		return false;
	res->sport = mk_fw_iset_and(a->sport, b->sport);
	if (res->sport.n == 0)
		return false;
	res->dport = mk_fw_iset_and(a->dport, b->dport);
	if (res->dport.n == 0)
		return false;
	res->icmp = mk_fw_iset_and(a->icmp, b->icmp);
	return res->icmp.n > 0;
}

/*
 * Depth first: the packets of p that none of rules[k..n) matches.  p & b
 * (b the first rule that meets p) is dropped; p minus b is, field by field,
 * p with that field minus b's and the fields before it within b's.
 */
static bool
find(diff_ctx *c, const box *p, box *const *rules, int k, int n)
{
	box			meet;
	box			piece;
	box			prefix;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	for (; k < n; k++)
		if (box_and(c, p, rules[k], &meet))
			break;
	if (k == n)
	{
		c->found = *p;
		return true;
	}
	prefix = *p;				/* p, with the fields done so far narrowed to meet */
	for (int f = 0; f < 10; f++)
	{
		bool		empty = false;

		piece = prefix;
		switch (f)
		{
			case 0:
				for (int w = 0; w < 4; w++)
					piece.proto.w[w] = prefix.proto.w[w] & ~rules[k]->proto.w[w];
				empty = !bits_any(&piece.proto);
				prefix.proto = meet.proto;
				break;
			case 1:
				for (int w = 0; w < 4; w++)
					piece.tflags.w[w] = prefix.tflags.w[w] & ~rules[k]->tflags.w[w];
				empty = !bits_any(&piece.tflags);
				prefix.tflags = meet.tflags;
				break;
			case 2:
				piece.state = prefix.state & ~rules[k]->state;
				empty = piece.state == 0;
				prefix.state = meet.state;
				break;
			case 3:
				piece.in = prefix.in & ~rules[k]->in;
				empty = piece.in == 0;
				prefix.in = meet.in;
				break;
			case 4:
				piece.out = prefix.out & ~rules[k]->out;
				empty = piece.out == 0;
				prefix.out = meet.out;
				break;
			case 5:
				piece.src = mk_fw_iset_minus(prefix.src, rules[k]->src, c->addr_max);
				empty = piece.src.n == 0;
				prefix.src = meet.src;
				break;
			case 6:
				piece.dst = mk_fw_iset_minus(prefix.dst, rules[k]->dst, c->addr_max);
				empty = piece.dst.n == 0;
				prefix.dst = meet.dst;
				break;
			case 7:
				piece.sport = mk_fw_iset_minus(prefix.sport, rules[k]->sport, 65535);
				empty = piece.sport.n == 0;
				prefix.sport = meet.sport;
				break;
			case 8:
				piece.dport = mk_fw_iset_minus(prefix.dport, rules[k]->dport, 65535);
				empty = piece.dport.n == 0;
				prefix.dport = meet.dport;
				break;
			case 9:
				piece.icmp = mk_fw_iset_minus(prefix.icmp, rules[k]->icmp, 65535);
				empty = piece.icmp.n == 0;
				prefix.icmp = meet.icmp;
				break;
		}
		if (!empty && find(c, &piece, rules, k + 1, n))
			return true;
	}
	return false;
}

static int
pick_bit(const fw_bits *b, const int *prefer, int nprefer)
{
	for (int i = 0; i < nprefer; i++)
		if (b->w[prefer[i] / 64] & (UINT64CONST(1) << (prefer[i] % 64)))
			return prefer[i];
	for (int v = 0; v < 256; v++)
		if (b->w[v / 64] & (UINT64CONST(1) << (v % 64)))
			return v;
	return -1;
}

static const char *
verdict_of(const fw_mrule *r)
{
	return r->kind == FW_K_ACCEPT ? "accept" : "drop";
}

static const char *
policy_verdict(const fw_policy_model *m, const char *chain)
{
	for (int i = 0; i < m->nchains; i++)
		if (strcmp(m->chain_name[i], chain) == 0)
			return strcmp(m->chain_policy[i], "accept") == 0 ? "accept" : "drop";
	return "accept";
}

static Datum
addr_datum(int family, fw_u128 v)
{
	uint8		a[16];
	int			len = family == 4 ? 4 : 16;

	for (int i = len - 1; i >= 0; i--)
	{
		a[i] = (uint8) (v & 0xFF);
		v >>= 8;
	}
	return mk_fw_inet_datum(family, a);
}

static char *
flags_text(int v)
{
	static const char *const names[] = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"};
	StringInfoData s;

	if (v == 0)
		return pstrdup("NONE");
	initStringInfo(&s);
	for (int k = 0; k < 8; k++)
		if (v & (1 << k))
			appendStringInfo(&s, "%s%s", s.len ? "," : "", names[k]);
	return s.data;
}

static const char *
state_text(int bit)
{
	switch (bit)
	{
		case FW_ST_NEW:
			return "NEW";
		case FW_ST_ESTABLISHED:
			return "ESTABLISHED";
		case FW_ST_RELATED:
			return "RELATED";
		case FW_ST_INVALID:
			return "INVALID";
		default:
			return "UNTRACKED";
	}
}

/* the rules of flattened order f that a packet of chain d meets */
static int
rules_for(const fw_mrule *f, int n, const char *d, const fw_mrule ***out)
{
	const fw_mrule **v = palloc(sizeof(fw_mrule *) * (n + 1));
	int			k = 0;

	for (int i = 0; i < n; i++)
		if (f[i].direction == NULL || strcmp(f[i].direction, d) == 0)
			v[k++] = &f[i];
	*out = v;
	return k;
}

static void
decision_rows(ReturnSetInfo *rsinfo, const char *pa, const char *pb)
{
	static const char *const chains[] = {"INPUT", "FORWARD", "OUTPUT"};
	fw_policy_model ma,
				mb;
	fw_mrule   *fa,
			   *fb;
	int			na,
				nb;
	diff_ctx	c;
	box			all;

	mk_fw_model_load(&ma, pa);
	mk_fw_model_load(&mb, pb);
	if (ma.family != mb.family)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
				 "Compare an IPv4 policy with an IPv4 policy, an IPv6 one with an IPv6 one.",
				 "fw_diff: policy \"%s\" is IPv%d and policy \"%s\" IPv%d",
				 mk_quote_short(pa), ma.family, mk_quote_short(pb), mb.family);
	na = mk_fw_model_flatten(&ma, &fa);
	nb = mk_fw_model_flatten(&mb, &fb);

	memset(&c, 0, sizeof(c));
	c.family = ma.family;
	c.addr_max = ma.family == 4 ? (fw_u128) 0xFFFFFFFFu : ~(fw_u128) 0;
	iface_candidates(&c, fa, na);
	iface_candidates(&c, fb, nb);
	add_iface(&c, "mk~none0");	/* a name no pattern above matches */

	memset(&all, 0, sizeof(all));
	memset(&all.proto, 0xFF, sizeof(all.proto));
	memset(&all.tflags, 0xFF, sizeof(all.tflags));
	all.state = FW_ST_ALL;
	all.src.n = all.dst.n = all.sport.n = all.dport.n = all.icmp.n = 1;
	all.src.v = palloc(sizeof(fw_ivl));
	all.src.v[0].lo = 0;
	all.src.v[0].hi = c.addr_max;
	all.dst.v = all.src.v;
	all.sport.v = palloc(sizeof(fw_ivl));
	all.sport.v[0].lo = 0;
	all.sport.v[0].hi = 65535;
	all.dport.v = all.icmp.v = all.sport.v;
	all.in = all.out = (c.nifaces == 64) ? ~UINT64CONST(0) : (UINT64CONST(1) << c.nifaces) - 1;

	for (int d = 0; d < 3; d++)
	{
		const fw_mrule **ra,
				  **rb;
		int			ka = rules_for(fa, na, chains[d], &ra);
		int			kb = rules_for(fb, nb, chains[d], &rb);
		box		   *ba = palloc(sizeof(box) * (ka + 1));
		box		   *bb = palloc(sizeof(box) * (kb + 1));
		box		  **earlier = palloc(sizeof(box *) * (ka + kb + 2));

		for (int i = 0; i < ka; i++)
			box_of(&c, ra[i], &ba[i]);
		for (int j = 0; j < kb; j++)
			box_of(&c, rb[j], &bb[j]);
		ba[ka] = all;			/* the chain policy */
		bb[kb] = all;

		for (int i = 0; i <= ka; i++)
		{
			const char *va;

			if (i < ka && ra[i]->kind != FW_K_ACCEPT && ra[i]->kind != FW_K_BLOCK)
				continue;		/* an unknown verdict: subtracted, never compared */
			va = i < ka ? verdict_of(ra[i]) : policy_verdict(&ma, chains[d]);
			for (int j = 0; j <= kb; j++)
			{
				const char *vb;
				box			p;
				int			ne = 0;
				static const int pref_proto[] = {6, 17, 1, 58};
				static const int pref_flags[] = {0x02, 0x10, 0x12};
				int			proto,
							st;
				Datum		values[NCOLS];
				bool		nulls[NCOLS];

				if (j < kb && rb[j]->kind != FW_K_ACCEPT && rb[j]->kind != FW_K_BLOCK)
					continue;
				vb = j < kb ? verdict_of(rb[j]) : policy_verdict(&mb, chains[d]);
				if (strcmp(va, vb) == 0 || !box_and(&c, &ba[i], &bb[j], &p))
					continue;
				for (int k = 0; k < i; k++)
					earlier[ne++] = &ba[k];
				for (int k = 0; k < j; k++)
					earlier[ne++] = &bb[k];
				if (!find(&c, &p, earlier, 0, ne))
					continue;

				/* one packet of the box found */
				memset(nulls, true, sizeof(nulls));
				values[0] = CStringGetTextDatum("decision");
				nulls[0] = false;
				proto = pick_bit(&c.found.proto, pref_proto, 4);
				st = (c.found.state & FW_ST_NEW) ? FW_ST_NEW : (c.found.state & -c.found.state);
				values[4] = CStringGetTextDatum(chains[d]);
				nulls[4] = false;
				/* a goto's or RETURN's fall-through: the chain policy decides */
				if (i < ka && !ra[i]->synthetic)
				{
					values[1] = Int32GetDatum(ra[i]->position);
					nulls[1] = false;
				}
				if (j < kb && !rb[j]->synthetic)
				{
					values[2] = Int32GetDatum(rb[j]->position);
					nulls[2] = false;
				}
				values[5] = CStringGetTextDatum(va);
				values[6] = CStringGetTextDatum(vb);
				values[7] = CStringGetTextDatum(proto == 6 ? "tcp" : proto == 17 ? "udp" :
												proto == 1 ? "icmp" : proto == 58 ? "ipv6-icmp" :
												psprintf("%d", proto));
				values[8] = addr_datum(c.family, c.found.src.v[0].lo);
				values[9] = addr_datum(c.family, c.found.dst.v[0].lo);
				nulls[5] = nulls[6] = nulls[7] = nulls[8] = nulls[9] = false;
				if (proto == 6 || proto == 17 || proto == 132 || proto == 136)
				{
					values[10] = Int32GetDatum((int32) c.found.sport.v[0].lo);
					values[11] = Int32GetDatum((int32) c.found.dport.v[0].lo);
					nulls[10] = nulls[11] = false;
				}
				if (proto == 1 || proto == 58)
				{
					values[12] = Int32GetDatum((int32) (c.found.icmp.v[0].lo >> 8));
					values[13] = Int32GetDatum((int32) (c.found.icmp.v[0].lo & 0xFF));
					nulls[12] = nulls[13] = false;
				}
				if (proto == 6)
				{
					values[14] = CStringGetTextDatum(flags_text(pick_bit(&c.found.tflags, pref_flags, 3)));
					nulls[14] = false;
				}
				values[15] = CStringGetTextDatum(state_text(st));
				nulls[15] = false;
				for (int k = 0; k < c.nifaces; k++)
					if (c.found.in & (UINT64CONST(1) << k))
					{
						values[16] = CStringGetTextDatum(c.iface[k]);
						nulls[16] = false;
						break;
					}
				for (int k = 0; k < c.nifaces; k++)
					if (c.found.out & (UINT64CONST(1) << k))
					{
						values[17] = CStringGetTextDatum(c.iface[k]);
						nulls[17] = false;
						break;
					}
				values[18] = BoolGetDatum(!((i < ka && ra[i]->conservative) || (j < kb && rb[j]->conservative)));
				nulls[18] = false;
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			}
		}
	}
}

/*
 * Rules are the same when every field but position and counters is; the
 * k-th copy of a rule in A pairs with the k-th copy in B.  Rows: position
 * in A, in B (NULL: none), the rule's text, in A's order then B's.
 */
static const char *const pairs_sql =
"WITH s AS ("
"  SELECT x.in_a, r.position,"
"         pg_catalog.jsonb_build_array(r.direction, r.proto, r.src, r.sport, r.dst, r.dport, r.action,"
"             r.in_iface, r.out_iface, r.target, r.target_options, r.matches, r.\"goto\")::text AS sig,"
"         CASE WHEN pg_catalog.isempty(r.sport) OR pg_catalog.isempty(r.dport)"
"              THEN pg_catalog.format('# position %s has an empty port range', r.position)"
"              ELSE mekatek.fw_rule_text(r) END AS txt"
"    FROM (VALUES (true, $1), (false, $2)) x(in_a, policy)"
"    JOIN mekatek.fw_rule r ON r.policy OPERATOR(pg_catalog.=) x.policy"
"), n AS ("
"  SELECT s.*, pg_catalog.row_number() OVER (PARTITION BY s.in_a, s.sig ORDER BY s.position) AS occ FROM s"
")"
"SELECT a.position, b.position, coalesce(a.txt, b.txt)"
"  FROM (SELECT * FROM n WHERE n.in_a) a"
"  FULL JOIN (SELECT * FROM n WHERE NOT n.in_a) b"
"    ON a.sig OPERATOR(pg_catalog.=) b.sig AND a.occ OPERATOR(pg_catalog.=) b.occ"
" ORDER BY coalesce(a.position, b.position), b.position";

static const char *const chain_policy_sql =
"SELECT coalesce(a.chain, b.chain), coalesce(a.action, 'accept'), coalesce(b.action, 'accept')"
"  FROM (SELECT c.chain, c.action FROM mekatek.fw_chain_policy c WHERE c.policy OPERATOR(pg_catalog.=) $1) a"
"  FULL JOIN (SELECT c.chain, c.action FROM mekatek.fw_chain_policy c WHERE c.policy OPERATOR(pg_catalog.=) $2) b"
"    ON a.chain OPERATOR(pg_catalog.=) b.chain"
" WHERE coalesce(a.action, 'accept') OPERATOR(pg_catalog.<>) coalesce(b.action, 'accept')"
" ORDER BY 1";

static void
rule_rows(ReturnSetInfo *rsinfo, const char *pa, const char *pb)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		args[2] = {CStringGetTextDatum(pa), CStringGetTextDatum(pb)};
	uint64		n;
	int32	   *xa,
			   *xb;
	bool	   *keep;
	int		   *idx,
			   *tail,
			   *prev;
	int			m = 0,
				len = 0;

	SPI_connect();
	n = mk_spi_execute(pairs_sql, 2, types, args, NULL, true, 0, SPI_OK_SELECT, "fw_diff: pairing the rules");
	xa = palloc(sizeof(int32) * (n + 1));
	xb = palloc(sizeof(int32) * (n + 1));
	keep = palloc0(sizeof(bool) * (n + 1));
	idx = palloc(sizeof(int) * (n + 1));
	tail = palloc(sizeof(int) * (n + 1));
	prev = palloc(sizeof(int) * (n + 1));
	for (uint64 i = 0; i < n; i++)
	{
		bool		na,
					nb;

		xa[i] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &na));
		xb[i] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &nb));
		if (na)
			xa[i] = -1;
		if (nb)
			xb[i] = -1;
		if (!na && !nb)
			idx[m++] = (int) i;		/* in A's order: the rows are */
	}

	/*
	 * moved: the paired rules outside a longest run whose order both
	 * policies share (a longest increasing subsequence of B's positions in
	 * A's order), so one rule moved far is one row, not every rule it passed
	 */
	for (int i = 0; i < m; i++)
	{
		int			lo = 0,
					hi = len - 1;

		while (lo <= hi)
		{
			int			mid = (lo + hi) / 2;

			if (xb[idx[tail[mid]]] < xb[idx[i]])
				lo = mid + 1;
			else
				hi = mid - 1;
		}
		prev[i] = lo > 0 ? tail[lo - 1] : -1;
		tail[lo] = i;
		if (lo == len)
			len++;
	}
	for (int k = len > 0 ? tail[len - 1] : -1; k >= 0; k = prev[k])
		keep[idx[k]] = true;

	for (uint64 i = 0; i < n; i++)
	{
		Datum		values[NCOLS];
		bool		nulls[NCOLS];

		if (xa[i] >= 0 && xb[i] >= 0 && keep[i])
			continue;
		memset(nulls, true, sizeof(nulls));
		values[0] = CStringGetTextDatum(xb[i] < 0 ? "removed" : xa[i] < 0 ? "added" : "moved");
		nulls[0] = false;
		if (xa[i] >= 0)
		{
			values[1] = Int32GetDatum(xa[i]);
			nulls[1] = false;
		}
		if (xb[i] >= 0)
		{
			values[2] = Int32GetDatum(xb[i]);
			nulls[2] = false;
		}
		values[3] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &nulls[3]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	n = mk_spi_execute(chain_policy_sql, 2, types, args, NULL, true, 0, SPI_OK_SELECT,
					   "fw_diff: comparing the chain policies");
	for (uint64 i = 0; i < n; i++)
	{
		Datum		values[NCOLS];
		bool		nulls[NCOLS];
		char	   *chain = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *va = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		char	   *vb = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);

		memset(nulls, true, sizeof(nulls));
		values[0] = CStringGetTextDatum("chain policy");
		values[3] = CStringGetTextDatum(psprintf(":%s %s", chain, strcmp(vb, "accept") == 0 ? "ACCEPT" : "DROP"));
		values[4] = CStringGetTextDatum(chain);
		values[5] = CStringGetTextDatum(va);
		values[6] = CStringGetTextDatum(vb);
		nulls[0] = nulls[3] = nulls[4] = nulls[5] = nulls[6] = false;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
}

PG_FUNCTION_INFO_V1(mk_fw_diff);
Datum
mk_fw_diff(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *pa = mk_arg_cstring(fcinfo, 0, "policy_a", false);
	char	   *pb = mk_arg_cstring(fcinfo, 1, "policy_b", false);

	InitMaterializedSRF(fcinfo, 0);
	/* unknown policies are errors (42704), both checked before any row */
	(void) mk_fw_policy_family(pa);
	(void) mk_fw_policy_family(pb);
	rule_rows(rsinfo, pa, pb);
	decision_rows(rsinfo, pa, pb);
	return (Datum) 0;
}

void
mk_fw_diff_init(void)
{
	DefineCustomIntVariable("mekatek.fw_diff_work",
							"Box operations fw_diff may spend looking for packets the two policies decide differently.",
							"Past it fw_diff stops with an ERROR instead of returning a partial answer.",
							&fw_diff_work, 10000000, 1, INT_MAX, PGC_USERSET, 0, NULL, NULL, NULL);
}
