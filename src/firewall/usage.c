/*
 * usage.c: mekatek.fw_rule_usage, first-match rule usage over the log.
 *
 * The policy is loaded once into fw_rule structs and compiled into a flat
 * form; each logged packet is then matched in C against the rules that can
 * apply to its chain and protocol class (the lists keep policy order, so the
 * first hit in a list is the first-match rule).  The log is read by a plan
 * SPI prepares (so a time window uses the BRIN index) whose rows go
 * straight to a DestReceiver that matches each slot in place: no tuple is
 * copied and memory stays bounded by the policy, whatever the log's size.
 */
#include "core/mekatek.h"

#include <sys/socket.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "nodes/params.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/inet.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "firewall/firewall.h"

#define NDIR	4				/* INPUT, OUTPUT, FORWARD, other/none */
#define NPCLASS	4				/* tcp, udp, icmp, other */

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

/* The matcher as a DestReceiver: one call per logged packet. */
typedef struct usage_dest
{
	DestReceiver pub;
	crule	   *c;
	int		   *lists[NDIR][NPCLASS];
	int			nlist[NDIR][NPCLASS];
	int64	   *hits;
	int			family;			/* the policy's; other packets are not its traffic */
	int64		total;
	int64		unmatched;
} usage_dest;

/* A text column as pointer and length; NULL when the column is. */
static inline const char *
slot_text(TupleTableSlot *slot, int col, int *len)
{
	text	   *x;

	*len = 0;
	if (slot->tts_isnull[col])
		return NULL;
	x = DatumGetTextPP(slot->tts_values[col]);
	*len = VARSIZE_ANY_EXHDR(x);
	return VARDATA_ANY(x);
}

static bool
usage_receive(TupleTableSlot *slot, DestReceiver *self)
{
	usage_dest *u = (usage_dest *) self;
	packet		p;
	inet	   *s,
			   *t;
	const char *str;
	int			slen,
				pc,
				nl,
				hit = -1;
	int		   *lst;

	slot_getallattrs(slot);
	str = slot_text(slot, 0, &slen);
	p.dir = dir_code(str, slen);
	str = slot_text(slot, 1, &slen);
	p.proto_num = str ? mk_fw_proto_num(str, slen) : -2;
	/* src and dst are NOT NULL in mekatek.fw_log */
	s = DatumGetInetPP(slot->tts_values[2]);
	t = DatumGetInetPP(slot->tts_values[3]);
	p.family = ip_family(s) == PGSQL_AF_INET ? 4 : 6;
	if (ip_family(t) != ip_family(s))
		p.family = 0;			/* never from the parser */
	if (p.family != u->family)
		return true;			/* the other family's policy decides it */
	p.src = ip_addr(s);
	p.dst = ip_addr(t);
	p.src4 = p.dst4 = 0;
	if (p.family == 4)
	{
		p.src4 = v4(p.src);
		p.dst4 = v4(p.dst);
	}
	p.has_spt = !slot->tts_isnull[4];
	p.spt = p.has_spt ? DatumGetInt32(slot->tts_values[4]) : 0;
	p.has_dpt = !slot->tts_isnull[5];
	p.dpt = p.has_dpt ? DatumGetInt32(slot->tts_values[5]) : 0;
	p.in_iface = slot_text(slot, 6, &p.in_len);
	p.out_iface = slot_text(slot, 7, &p.out_len);

	pc = p.proto_num >= 0 ? pclass(p.proto_num) : 3;
	lst = u->lists[p.dir][pc];
	nl = u->nlist[p.dir][pc];
	for (int m = 0; m < nl; m++)
		if (crule_match(&u->c[lst[m]], &p))
		{
			hit = lst[m];
			break;
		}
	if (hit >= 0)
		u->hits[hit]++;
	else
		u->unmatched++;
	u->total++;
	return true;
}

static void
usage_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
usage_noop(DestReceiver *self)
{
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
	usage_dest	u;
	Oid			argtypes[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	ParamListInfo params;
	SPIExecuteOptions opts;
	SPIPlanPtr	plan;
	double		cum = 0;
	int			ret,
				pin;

	if (!PG_ARGISNULL(1) && !PG_ARGISNULL(2) &&
		timestamp_cmp_internal(PG_GETARG_TIMESTAMPTZ(1), PG_GETARG_TIMESTAMPTZ(2)) > 0)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, "The window is [since, until): since comes first.",
				 "fw_rule_usage: since (%s) is after until (%s)",
				 pstrdup(timestamptz_to_str(PG_GETARG_TIMESTAMPTZ(1))),
				 pstrdup(timestamptz_to_str(PG_GETARG_TIMESTAMPTZ(2))));
	InitMaterializedSRF(fcinfo, 0);
	n = mk_fw_load_policy(policy, false, &r, &nskipped);

	/* compile */
	memset(&u, 0, sizeof(u));
	u.family = n > 0 ? r[0].family : mk_fw_policy_family(policy);
	c = palloc0(sizeof(crule) * (n + 1));
	u.c = c;
	u.hits = palloc0(sizeof(int64) * (n + 1));
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
			u.lists[d][pc] = palloc(sizeof(int) * (n + 1));
			u.nlist[d][pc] = 0;
			for (int i = 0; i < n; i++)
			{
				int			rd = r[i].direction ? dir_code(r[i].direction, strlen(r[i].direction)) : -1;

				/* a rule of a user chain is reached only by a jump: never */
				if (rd == 3 && r[i].direction != NULL)
					continue;
				/* a protocol name we cannot number matches no logged packet */
				if (c[i].proto_num == -3)
					continue;
				if (rd != -1 && rd != d)
					continue;
				if (c[i].proto_num >= 0 && pclass(c[i].proto_num) != pc)
					continue;
				u.lists[d][pc][u.nlist[d][pc]++] = i;
			}
		}

	/* scan the log */
	u.pub.receiveSlot = usage_receive;
	u.pub.rStartup = usage_startup;
	u.pub.rShutdown = usage_noop;
	u.pub.rDestroy = usage_noop;
	u.pub.mydest = DestNone;
	params = makeParamList(2);
	for (int k = 0; k < 2; k++)
	{
		params->params[k].ptype = TIMESTAMPTZOID;
		params->params[k].pflags = PARAM_FLAG_CONST;
		params->params[k].isnull = PG_ARGISNULL(k + 1);
		params->params[k].value = PG_ARGISNULL(k + 1) ? (Datum) 0 : PG_GETARG_DATUM(k + 1);
	}
	SPI_connect();
	plan = mk_spi_prepare("SELECT direction, proto, src, dst, spt, dpt, in_iface, out_iface "
					   "  FROM mekatek.fw_log "
					   " WHERE ($1 IS NULL OR logged_at >= $1) AND ($2 IS NULL OR logged_at < $2)",
					   2, argtypes, "fw_rule_usage");
	memset(&opts, 0, sizeof(opts));
	opts.params = params;
	opts.read_only = true;
	opts.dest = (DestReceiver *) &u;
	pin = mk_spi_pin_begin();
	ret = SPI_execute_plan_extended(plan, &opts);
	mk_spi_pin_end(pin);
	/* a SELECT into a DestReceiver of our own reports SPI_OK_UTILITY */
	if (ret < 0)
		mk_error(ERRCODE_INTERNAL_ERROR, NULL, "fw_rule_usage: reading the log failed: %s",
				 SPI_result_code_string(ret));
	SPI_finish();

	for (int i = 0; i <= n; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		int64		h = i < n ? u.hits[i] : u.unmatched;
		double		prob = u.total > 0 ? (double) h / (double) u.total : 0.0;

		if (i < n)
			values[0] = Int32GetDatum(r[i].position);
		else
			nulls[0] = true;	/* no rule matched: the chain's default policy */
		cum += prob;
		values[1] = Int64GetDatum(h);
		values[2] = Float8GetDatum(prob);
		values[3] = Float8GetDatum(i == n && u.total > 0 ? 1.0 : cum);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	if (nskipped > 0)
		ereport(NOTICE,
				(errmsg("fw_rule_usage left out %d rule(s) of policy \"%s\"", nskipped, policy),
				 errdetail("Rules with a non-terminating target, an empty port range or matches the table cannot represent (flagged) are not matched.")));
	return (Datum) 0;
}
