/*
 * fw_usage.c: mekatek.fw_rule_usage, first-match rule usage over the log.
 *
 * The policy is loaded once into fw_rule structs and compiled into a flat
 * form; each logged packet is then matched in C against the rules that can
 * apply to its chain and protocol class (the lists keep policy order, so the
 * first hit in a list is the first-match rule).  Packets are read through
 * an SPI cursor in batches, so memory stays bounded by one batch plus the
 * policy, whatever the size of the log.
 */
#include "mekatek.h"

#include <sys/socket.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/inet.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "fw_common.h"

#define NDIR	4				/* INPUT, OUTPUT, FORWARD, other/none */
#define NPCLASS	4				/* tcp, udp, icmp, other */
#define FETCH	8192

typedef struct crule
{
	uint32		src4,
				src4mask,
				dst4,
				dst4mask;
	int			src_family,
				dst_family;
	int			proto_num;		/* -1 any */
	int32		sport_lo,
				sport_hi,
				dport_lo,
				dport_hi;
	bool		ports_any;		/* both port fields any */
	const fw_rule *r;
} crule;

static int
dir_code(const char *d, int len)
{
	if (d == NULL)
		return 3;
	if (len == 5 && memcmp(d, "INPUT", 5) == 0)
		return 0;
	if (len == 6 && memcmp(d, "OUTPUT", 6) == 0)
		return 1;
	if (len == 7 && memcmp(d, "FORWARD", 7) == 0)
		return 2;
	return 3;
}

static int
pclass(int proto_num)
{
	switch (proto_num)
	{
		case 6:
			return 0;
		case 17:
			return 1;
		case 1:
		case 58:
			return 2;
		default:
			return 3;
	}
}

static uint32
v4(const uint8 *a)
{
	return ((uint32) a[0] << 24) | ((uint32) a[1] << 16) | ((uint32) a[2] << 8) | a[3];
}

static uint32
v4mask(int bits)
{
	return bits == 0 ? 0 : 0xFFFFFFFFu << (32 - bits);
}

static bool
addr6_in(const fw_addr *net, const uint8 *a)
{
	int			full = net->bits / 8,
				rest = net->bits % 8;

	if (memcmp(net->addr, a, full) != 0)
		return false;
	if (rest)
	{
		uint8		mask = (uint8) (0xFF << (8 - rest));

		return (net->addr[full] & mask) == (a[full] & mask);
	}
	return true;
}

/* One packet as read from the log. */
typedef struct packet
{
	int			dir;
	int			proto_num;
	int			family;
	uint32		src4,
				dst4;
	const uint8 *src,
			   *dst;
	bool		has_spt,
				has_dpt;
	int32		spt,
				dpt;
	const char *in_iface,
			   *out_iface;
	int			in_len,
				out_len;
} packet;

static inline bool
crule_match(const crule *c, const packet *p)
{
	const fw_rule *r = c->r;

	if (c->proto_num >= 0 && c->proto_num != p->proto_num)
		return false;
	if (c->src_family)
	{
		if (c->src_family != p->family)
			return false;
		if (p->family == 4 ? (p->src4 & c->src4mask) != c->src4 : !addr6_in(&r->src, p->src))
			return false;
	}
	if (c->dst_family)
	{
		if (c->dst_family != p->family)
			return false;
		if (p->family == 4 ? (p->dst4 & c->dst4mask) != c->dst4 : !addr6_in(&r->dst, p->dst))
			return false;
	}
	if (!c->ports_any)
	{
		if (!r->sport_any && (!p->has_spt || p->spt < c->sport_lo || p->spt > c->sport_hi))
			return false;
		if (!r->dport_any && (!p->has_dpt || p->dpt < c->dport_lo || p->dpt > c->dport_hi))
			return false;
	}
	if (r->in_iface && !mk_fw_iface_match(r->in_iface, p->in_iface, p->in_len))
		return false;
	if (r->out_iface && !mk_fw_iface_match(r->out_iface, p->out_iface, p->out_len))
		return false;
	return true;
}

/* A text column as pointer and length; NULL when the column is. */
static const char *
get_text(HeapTuple tup, TupleDesc td, int col, int *len)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, td, col, &isnull);
	text	   *x;

	*len = 0;
	if (isnull)
		return NULL;
	x = DatumGetTextPP(d);
	*len = VARSIZE_ANY_EXHDR(x);
	return VARDATA_ANY(x);
}

PG_FUNCTION_INFO_V1(mk_fw_rule_usage);
Datum
mk_fw_rule_usage(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *policy = mk_arg_cstring(fcinfo, 0, "policy", false);
	fw_rule    *r;
	int			n,
				nskipped;
	crule	   *c;
	int		   *lists[NDIR][NPCLASS];
	int			nlist[NDIR][NPCLASS];
	int64	   *hits;
	int64		total = 0,
				unmatched = 0;
	Oid			argtypes[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		args[2];
	char		argnulls[2];
	Portal		portal;
	SPIPlanPtr	plan;
	double		cum = 0;

	InitMaterializedSRF(fcinfo, 0);
	n = mk_fw_load_policy(policy, false, &r, &nskipped);

	/* compile */
	c = palloc0(sizeof(crule) * (n + 1));
	hits = palloc0(sizeof(int64) * (n + 1));
	for (int i = 0; i < n; i++)
	{
		c[i].r = &r[i];
		c[i].proto_num = r[i].proto_num == -2 ? -3 : r[i].proto_num;	/* unknown never matches */
		c[i].src_family = r[i].src.family;
		c[i].dst_family = r[i].dst.family;
		if (r[i].src.family == 4)
		{
			c[i].src4mask = v4mask(r[i].src.bits);
			c[i].src4 = v4(r[i].src.addr) & c[i].src4mask;
		}
		if (r[i].dst.family == 4)
		{
			c[i].dst4mask = v4mask(r[i].dst.bits);
			c[i].dst4 = v4(r[i].dst.addr) & c[i].dst4mask;
		}
		c[i].sport_lo = r[i].sport_lo;
		c[i].sport_hi = r[i].sport_hi;
		c[i].dport_lo = r[i].dport_lo;
		c[i].dport_hi = r[i].dport_hi;
		c[i].ports_any = r[i].sport_any && r[i].dport_any;
	}
	for (int d = 0; d < NDIR; d++)
		for (int pc = 0; pc < NPCLASS; pc++)
		{
			lists[d][pc] = palloc(sizeof(int) * (n + 1));
			nlist[d][pc] = 0;
			for (int i = 0; i < n; i++)
			{
				int			rd = r[i].direction ? dir_code(r[i].direction, strlen(r[i].direction)) : -1;

				/* a rule of a user chain is reached only by a jump: never */
				if (rd == 3 && r[i].direction != NULL)
					continue;
				if (rd != -1 && rd != d)
					continue;
				if (c[i].proto_num >= 0 && pclass(c[i].proto_num) != pc)
					continue;
				lists[d][pc][nlist[d][pc]++] = i;
			}
		}

	/* scan the log */
	SPI_connect();
	plan = SPI_prepare("SELECT direction, proto, src, dst, spt, dpt, in_iface, out_iface "
					   "  FROM mekatek.fw_log "
					   " WHERE ($1 IS NULL OR logged_at >= $1) AND ($2 IS NULL OR logged_at < $2)",
					   2, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed");
	args[0] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	args[1] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	argnulls[0] = PG_ARGISNULL(1) ? 'n' : ' ';
	argnulls[1] = PG_ARGISNULL(2) ? 'n' : ' ';
	portal = SPI_cursor_open(NULL, plan, args, argnulls, true);
	for (;;)
	{
		SPITupleTable *tt;

		SPI_cursor_fetch(portal, true, FETCH);
		if (SPI_processed == 0)
			break;
		tt = SPI_tuptable;
		for (uint64 k = 0; k < SPI_processed; k++)
		{
			HeapTuple	tup = tt->vals[k];
			TupleDesc	td = tt->tupdesc;
			bool		isnull;
			Datum		d;
			packet		p;
			inet	   *s,
					   *t;
			int			pc;
			int		   *lst;
			int			nl,
						hit = -1;
			const char *str;
			int			slen;

			str = get_text(tup, td, 1, &slen);
			p.dir = dir_code(str, slen);
			str = get_text(tup, td, 2, &slen);
			p.proto_num = str ? mk_fw_proto_num(str, slen) : -2;
			s = DatumGetInetPP(SPI_getbinval(tup, td, 3, &isnull));
			t = DatumGetInetPP(SPI_getbinval(tup, td, 4, &isnull));
			p.family = ip_family(s) == PGSQL_AF_INET ? 4 : 6;
			if (ip_family(t) != ip_family(s))
				p.family = 0;	/* cannot happen for parsed lines: matches only "any" */
			p.src = ip_addr(s);
			p.dst = ip_addr(t);
			if (p.family == 4)
			{
				p.src4 = v4(p.src);
				p.dst4 = v4(p.dst);
			}
			d = SPI_getbinval(tup, td, 5, &isnull);
			p.has_spt = !isnull;
			p.spt = isnull ? 0 : DatumGetInt32(d);
			d = SPI_getbinval(tup, td, 6, &isnull);
			p.has_dpt = !isnull;
			p.dpt = isnull ? 0 : DatumGetInt32(d);
			p.in_iface = get_text(tup, td, 7, &p.in_len);
			p.out_iface = get_text(tup, td, 8, &p.out_len);

			pc = p.proto_num >= 0 ? pclass(p.proto_num) : 3;
			lst = lists[p.dir][pc];
			nl = nlist[p.dir][pc];
			for (int m = 0; m < nl; m++)
				if (crule_match(&c[lst[m]], &p))
				{
					hit = lst[m];
					break;
				}
			if (hit >= 0)
				hits[hit]++;
			else
				unmatched++;
			total++;
		}
		SPI_freetuptable(tt);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	SPI_finish();

	for (int i = 0; i <= n; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		int64		h = i < n ? hits[i] : unmatched;
		double		prob = total > 0 ? (double) h / (double) total : 0.0;

		if (i < n)
			values[0] = Int32GetDatum(r[i].position);
		else
			nulls[0] = true;	/* no rule matched: the chain's default policy */
		cum += prob;
		values[1] = Int64GetDatum(h);
		values[2] = Float8GetDatum(prob);
		values[3] = Float8GetDatum(i == n && total > 0 ? 1.0 : cum);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	if (nskipped > 0)
		ereport(NOTICE,
				(errmsg("fw_rule_usage left out %d rule(s) of policy \"%s\"", nskipped, policy),
				 errdetail("Rules with a non-terminating target, an empty port range or matches the table cannot represent (flagged) are not matched.")));
	return (Datum) 0;
}
