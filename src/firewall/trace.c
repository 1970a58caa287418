/*
 * trace.c: mekatek.fw_trace, which rule decides a packet.
 *
 * The packet goes through the policy as iptables sends it: the rules of its
 * built-in chain in order, into a user chain at -j (back at its end or at
 * RETURN), into one for good at -g, and the chain policy when no rule
 * decides.  Every rule on the way that the packet matches is a row (a LOG
 * rule, a jump, a RETURN), the last row the decision.  A rule with a match
 * Mekatek does not model, whose other fields match, is a row with certain
 * false and the packet goes on as if it had not matched: the verdict is
 * then one possibility, and the last row says so.
 *
 * The policy is loaded once per statement (fn_extra), so a LATERAL call
 * over a table of packets reads it once.
 */
#include "core/mekatek.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/inet.h"

#include "firewall/model.h"

typedef struct trace_cache
{
	char	   *policy;
	LocalTransactionId lxid;
	CommandId	cid;
	fw_policy_model m;
} trace_cache;

typedef struct trace_state
{
	const fw_policy_model *m;
	const fw_packet *p;
	const char *top;			/* the built-in chain */
	ReturnSetInfo *rsinfo;
	int			step;
	bool		certain;
} trace_state;

static void
emit(trace_state *t, const char *chain, const fw_mrule *r, const char *target, const char *verdict,
	 bool certain)
{
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};

	values[0] = Int32GetDatum(++t->step);
	values[1] = CStringGetTextDatum(chain);
	if (r)
		values[2] = Int32GetDatum(r->position);
	else
		nulls[2] = true;
	if (target)
		values[3] = CStringGetTextDatum(target);
	else
		nulls[3] = true;
	if (verdict)
		values[4] = CStringGetTextDatum(verdict);
	else
		nulls[4] = true;
	values[5] = BoolGetDatum(certain);
	tuplestore_putvalues(t->rsinfo->setResult, t->rsinfo->setDesc, values, nulls);
}

static const char *
target_text(const fw_mrule *r)
{
	if (r->target)
		return r->target;
	if (r->action)
		return strcmp(r->action, "deny") == 0 ? "DROP" :
			strcmp(r->action, "accept") == 0 ? "ACCEPT" :
			strcmp(r->action, "drop") == 0 ? "DROP" : "REJECT";
	return NULL;
}

/* true when a rule of chain decided the packet */
static bool
trace_chain(trace_state *t, const char *chain, int depth)
{
	const fw_policy_model *m = t->m;

	check_stack_depth();
	mk_fw_chain_depth_check(m, chain, depth);
	for (int i = 0; i < m->n; i++)
	{
		const fw_mrule *r = &m->r[i];
		const char *shown = r->chain ? r->chain : chain;
		int			hit;

		if (r->chain == NULL ? depth > 0 : strcmp(r->chain, chain) != 0)
			continue;
		hit = mk_fw_mrule_match(r, t->p);
		if (hit == 0)
			continue;
		if (hit == 2)
		{
			/* it may match: show it, and go on as if it did not */
			emit(t, shown, r, target_text(r), NULL, false);
			t->certain = false;
			continue;
		}
		switch (r->kind)
		{
			case FW_K_ACCEPT:
			case FW_K_BLOCK:
				emit(t, shown, r, target_text(r), r->action, t->certain);
				return true;
			case FW_K_UNKNOWN:
				t->certain = false;
				emit(t, shown, r, r->target, "unknown", false);
				return true;
			case FW_K_NONE:
				emit(t, shown, r, target_text(r), NULL, true);
				break;
			case FW_K_RETURN:
				emit(t, shown, r, "RETURN", NULL, true);
				return false;
			case FW_K_JUMP:
				emit(t, shown, r, r->target, NULL, true);
				if (trace_chain(t, r->target, depth + 1))
					return true;
				break;
			case FW_K_GOTO:
				emit(t, shown, r, r->target, NULL, true);
				/* the end of a goto's chain ends this chain too */
				return trace_chain(t, r->target, depth + 1);
		}
	}
	return false;
}

static int
proto_arg(FunctionCallInfo fcinfo, int argno)
{
	char	   *s;
	int			pn;

	if (PG_ARGISNULL(argno))
		return -1;
	s = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	pn = mk_fw_proto_num(s, strlen(s));
	if (pn < 0)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
				 "Give a protocol name (tcp, udp, icmp, ipv6-icmp, esp, ...) or its number 0-255.",
				 "fw_trace: unknown protocol \"%s\"", mk_quote_short(s));
	return pn;
}

static int
int_arg(FunctionCallInfo fcinfo, int argno, const char *name, int max)
{
	if (PG_ARGISNULL(argno))
		return -1;
	return mk_arg_int32_range(fcinfo, argno, name, 0, max);
}

PG_FUNCTION_INFO_V1(mk_fw_trace);
Datum
mk_fw_trace(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *policy = mk_arg_cstring(fcinfo, 0, "policy", false);
	char	   *chain = mk_arg_cstring(fcinfo, 1, "chain", false);
	trace_cache *c = fcinfo->flinfo->fn_extra;
	fw_packet	p;
	trace_state t;
	int			icmp_type,
				icmp_code;

	InitMaterializedSRF(fcinfo, 0);
	if (c == NULL || strcmp(c->policy, policy) != 0 || c->lxid != MyProc->lxid ||
		c->cid != GetCurrentCommandId(false))
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (c == NULL)
			c = palloc0(sizeof(trace_cache));
		c->policy = pstrdup(policy);
		c->lxid = MyProc->lxid;
		c->cid = GetCurrentCommandId(false);
		mk_fw_model_load(&c->m, policy);
		fcinfo->flinfo->fn_extra = c;
		MemoryContextSwitchTo(old);
	}
	if (strcmp(chain, "INPUT") != 0 && strcmp(chain, "OUTPUT") != 0 && strcmp(chain, "FORWARD") != 0)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, "A packet enters the filter table in INPUT, FORWARD or OUTPUT.",
				 "fw_trace: chain \"%s\" is not a built-in chain", mk_quote_short(chain));

	memset(&p, 0, sizeof(p));
	p.proto = proto_arg(fcinfo, 2);
	if (p.proto < 0)
		mk_error(ERRCODE_NULL_VALUE_NOT_ALLOWED, NULL, "fw_trace: proto must not be null");
	mk_arg_not_null(fcinfo, 3, "src");
	mk_arg_not_null(fcinfo, 4, "dst");
	if (!mk_fw_addr_number(c->m.family, PG_GETARG_DATUM(3), &p.src) ||
		!mk_fw_addr_number(c->m.family, PG_GETARG_DATUM(4), &p.dst))
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
				 "An IPv4 policy sees IPv4 packets only, an IPv6 policy IPv6 packets.",
				 "fw_trace: the packet's addresses are not IPv%d, the family of policy \"%s\"",
				 c->m.family, mk_quote_short(policy));
	p.sport = int_arg(fcinfo, 5, "sport", 65535);
	p.dport = int_arg(fcinfo, 6, "dport", 65535);
	p.in_iface = PG_ARGISNULL(7) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(7));
	p.out_iface = PG_ARGISNULL(8) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(8));
	{
		char	   *st = mk_arg_cstring(fcinfo, 9, "state", false);
		int			b = mk_fw_state_bits(st);

		if (b <= 0 || (b & (b - 1)) != 0)
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
					 "A packet has one conntrack state: NEW, ESTABLISHED, RELATED, INVALID or UNTRACKED.",
					 "fw_trace: state \"%s\" is not one conntrack state", mk_quote_short(st));
		p.state = b;
	}
	icmp_type = int_arg(fcinfo, 10, "icmp_type", 255);
	icmp_code = int_arg(fcinfo, 11, "icmp_code", 255);
	p.icmp = icmp_type < 0 ? -1 : icmp_type * 256 + Max(icmp_code, 0);
	if (PG_ARGISNULL(12))
		p.tflags = p.proto == 6 ? (p.state == FW_ST_NEW ? 0x02 : 0x10) : -1;	/* SYN, or ACK */
	else
	{
		char	   *fl = text_to_cstring(PG_GETARG_TEXT_PP(12));

		p.tflags = mk_fw_tcp_flag_bits(fl);
		if (p.tflags < 0)
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
					 "Name the flags set, comma-separated: FIN, SYN, RST, PSH, ACK, URG, ECE, CWR (or NONE).",
					 "fw_trace: tcp_flags \"%s\" are not TCP flag names", mk_quote_short(fl));
	}
	if (p.proto != 6 && p.proto != 17 && p.proto != 132 && p.proto != 136 && (p.sport >= 0 || p.dport >= 0))
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL,
				 "fw_trace: only tcp, udp, sctp and udplite packets have ports");

	memset(&t, 0, sizeof(t));
	t.m = &c->m;
	t.p = &p;
	t.top = chain;
	t.rsinfo = rsinfo;
	t.certain = true;
	if (!trace_chain(&t, chain, 0))
	{
		const char *pol = "accept";

		for (int i = 0; i < c->m.nchains; i++)
			if (strcmp(c->m.chain_name[i], chain) == 0)
				pol = c->m.chain_policy[i];
		emit(&t, chain, NULL, strcmp(pol, "drop") == 0 ? "DROP" : "ACCEPT", pol, t.certain);
	}
	return (Datum) 0;
}
