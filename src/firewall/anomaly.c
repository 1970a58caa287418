/*
 * anomaly.c: mekatek.fw_anomalies, Al-Shaer and Hamed's classification
 * ("Discovery of policy anomalies in distributed firewalls", INFOCOM 2004).
 *
 * Each field of two rules is compared as equal, subset, superset, partially
 * overlapping or disjoint (addresses by prefix, ports as integer intervals,
 * chain, protocol and interfaces as "any or one value"); the rules' match
 * sets relate as the fields do together.  Then, for rule a before rule b:
 *
 *   b within a (equal or subset), other decision  shadowing
 *   a strictly within b, other decision           generalization
 *   partial overlap, other decision               correlation
 *   b within a, same decision                     redundancy (b is redundant)
 *   a strictly within b, same decision, and no
 *   rule between them that overlaps a with the
 *   other decision                                redundancy (a is redundant)
 *
 * Ports of a range are an interval, so two ranges may partially overlap even
 * when all other fields are equal; that is a correlation of the match sets,
 * exactly as Al-Shaer and Hamed define it for mixed subset/superset fields.
 */
#include "core/mekatek.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "catalog/pg_operator_d.h"
#include "executor/tuptable.h"
#include "utils/memutils.h"
#include "utils/tuplesort.h"
#include "utils/tuplestore.h"

#include "firewall/firewall.h"
#include "firewall/model.h"

typedef fw_rel rel;

#define REL_EQUAL		FW_REL_EQUAL
#define REL_SUBSET		FW_REL_SUBSET
#define REL_SUPERSET	FW_REL_SUPERSET
#define REL_OVERLAP		FW_REL_OVERLAP
#define REL_DISJOINT	FW_REL_DISJOINT

static inline rel
rel_text(const char *a, const char *b)
{
	if (a == NULL)
		return b == NULL ? REL_EQUAL : REL_SUPERSET;
	if (b == NULL)
		return REL_SUBSET;
	return strcmp(a, b) == 0 ? REL_EQUAL : REL_DISJOINT;
}

fw_rel
mk_fw_rel_iface(const char *a, const char *b)
{
	int			la,
				lb;
	bool		wa,
				wb;

	if (a == NULL || b == NULL)
		return rel_text(a, b);
	la = strlen(a);
	lb = strlen(b);
	wa = la > 0 && a[la - 1] == '+';
	wb = lb > 0 && b[lb - 1] == '+';
	if (!wa && !wb)
		return strcmp(a, b) == 0 ? REL_EQUAL : REL_DISJOINT;
	if (wa && wb)
	{
		/* two prefixes: nested or disjoint */
		int			m = Min(la, lb) - 1;

		if (memcmp(a, b, m) != 0)
			return REL_DISJOINT;
		return la == lb ? REL_EQUAL : (la < lb ? REL_SUPERSET : REL_SUBSET);
	}
	if (wa)
		return mk_fw_iface_match(a, b, lb) ? REL_SUPERSET : REL_DISJOINT;
	return mk_fw_iface_match(b, a, la) ? REL_SUBSET : REL_DISJOINT;
}

static inline rel
rel_proto(const fw_rule *a, const fw_rule *b)
{
	if (a->proto_num == -1)
		return b->proto_num == -1 ? REL_EQUAL : REL_SUPERSET;
	if (b->proto_num == -1)
		return REL_SUBSET;
	if (a->proto_num >= 0 && b->proto_num >= 0)
		return a->proto_num == b->proto_num ? REL_EQUAL : REL_DISJOINT;
	return strcmp(a->proto, b->proto) == 0 ? REL_EQUAL : REL_DISJOINT;
}

static inline rel
rel_addr(const fw_addr *a, const fw_addr *b)
{
	int			m,
				full,
				rest;

	if (a->family == 0)
		return b->family == 0 ? REL_EQUAL : REL_SUPERSET;
	if (b->family == 0)
		return REL_SUBSET;
	if (a->family != b->family)
		return REL_DISJOINT;
	m = Min(a->bits, b->bits);
	full = m / 8;
	rest = m % 8;
	if (memcmp(a->addr, b->addr, full) != 0)
		return REL_DISJOINT;
	if (rest)
	{
		uint8		mask = (uint8) (0xFF << (8 - rest));

		if ((a->addr[full] & mask) != (b->addr[full] & mask))
			return REL_DISJOINT;
	}
	if (a->bits == b->bits)
		return REL_EQUAL;
	return a->bits > b->bits ? REL_SUBSET : REL_SUPERSET;
}

static inline rel
rel_range(int32 alo, int32 ahi, int32 blo, int32 bhi)
{
	if (ahi < blo || bhi < alo)
		return REL_DISJOINT;
	if (alo == blo && ahi == bhi)
		return REL_EQUAL;
	if (alo >= blo && ahi <= bhi)
		return REL_SUBSET;
	if (blo >= alo && bhi <= ahi)
		return REL_SUPERSET;
	return REL_OVERLAP;
}

/* How the match sets of a and b relate. */
fw_rel
mk_fw_rule_rel(const fw_rule *a, const fw_rule *b)
{
	rel			f[8];
	bool		sub = true,
				sup = true;

	/* an IPv4 rule and an IPv6 rule never see the same packet */
	if (a->family != 0 && b->family != 0 && a->family != b->family)
		return REL_DISJOINT;
	f[0] = rel_text(a->direction, b->direction);
	if (f[0] == REL_DISJOINT)
		return REL_DISJOINT;
	f[1] = rel_proto(a, b);
	if (f[1] == REL_DISJOINT)
		return REL_DISJOINT;
	f[2] = rel_addr(&a->src, &b->src);
	if (f[2] == REL_DISJOINT)
		return REL_DISJOINT;
	f[3] = rel_addr(&a->dst, &b->dst);
	if (f[3] == REL_DISJOINT)
		return REL_DISJOINT;
	f[4] = rel_range(a->sport_lo, a->sport_hi, b->sport_lo, b->sport_hi);
	if (f[4] == REL_DISJOINT)
		return REL_DISJOINT;
	f[5] = rel_range(a->dport_lo, a->dport_hi, b->dport_lo, b->dport_hi);
	if (f[5] == REL_DISJOINT)
		return REL_DISJOINT;
	f[6] = mk_fw_rel_iface(a->in_iface, b->in_iface);
	if (f[6] == REL_DISJOINT)
		return REL_DISJOINT;
	f[7] = mk_fw_rel_iface(a->out_iface, b->out_iface);
	if (f[7] == REL_DISJOINT)
		return REL_DISJOINT;
	for (int i = 0; i < 8; i++)
	{
		if (f[i] == REL_OVERLAP)
			return REL_OVERLAP;
		if (f[i] == REL_SUPERSET)
			sub = false;
		if (f[i] == REL_SUBSET)
			sup = false;
	}
	if (sub && sup)
		return REL_EQUAL;
	if (sub)
		return REL_SUBSET;
	if (sup)
		return REL_SUPERSET;
	return REL_OVERLAP;
}

/*
 * Reported pairs go through a tuplesort (work_mem, then temporary files)
 * to come out in (a, b, kind) order without duplicates (a rule inlined at
 * two jumps can meet the same rule twice), so memory stays bounded
 * however many pairs a policy has; mekatek.fw_anomalies_work bounds the
 * comparisons.  Kinds are sorted as their names.
 */
static const char *const kind_names[] = {"correlation", "generalization", "redundancy", "shadowing"};

int			fw_anomalies_work = 1000000000;

static void
count_work(int64 *work)
{
	if (++*work > fw_anomalies_work)
		mk_error(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
				 "Raise mekatek.fw_anomalies_work, or analyse the policy a chain at a time.",
				 "fw_anomalies: more than mekatek.fw_anomalies_work (%d) rule comparisons", fw_anomalies_work);
	if ((*work & 0xFFFF) == 0)
		CHECK_FOR_INTERRUPTS();
}

static inline bool
decides(const fw_mrule *r)
{
	return r->kind == FW_K_ACCEPT || r->kind == FW_K_BLOCK;
}

/*
 * The classification runs over the flattened evaluation order (user chains
 * inlined at their jumps, see model.c), so a rule of a chain is compared
 * with what comes before and after the jump that reaches it.  A
 * conservative rule (a match the model does not know, or a rule after a
 * RETURN) and a target of unknown verdict are never classified, but they
 * lie between the others: a rule a with the same decision as a later
 * superset b is redundant only when nothing between them could decide
 * some of a's packets otherwise, and such rules could.
 */
PG_FUNCTION_INFO_V1(mk_fw_anomalies);
Datum
mk_fw_anomalies(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *policy = mk_arg_cstring(fcinfo, 0, "policy", false);
	fw_policy_model m;
	fw_mrule   *r;
	int			n,
				nconservative = 0;
	TupleDesc	sdesc;
	Tuplesortstate *sort;
	TupleTableSlot *slot;
	AttrNumber	cols[3] = {1, 2, 3};
	Oid			ops[3] = {Int4LessOperator, Int4LessOperator, Int4LessOperator};
	Oid			colls[3] = {InvalidOid, InvalidOid, InvalidOid};
	bool		nullsfirst[3] = {false, false, false};
	int64		work = 0;
	int32		last[3] = {-1, -1, -1};
	MemoryContext rowcxt;

	InitMaterializedSRF(fcinfo, 0);
	sdesc = CreateTemplateTupleDesc(3);
	TupleDescInitEntry(sdesc, 1, "a", INT4OID, -1, 0);
	TupleDescInitEntry(sdesc, 2, "b", INT4OID, -1, 0);
	TupleDescInitEntry(sdesc, 3, "kind", INT4OID, -1, 0);
	sort = tuplesort_begin_heap(sdesc, 3, cols, ops, colls, nullsfirst, work_mem, NULL, TUPLESORT_NONE);
	slot = MakeSingleTupleTableSlot(sdesc, &TTSOpsMinimalTuple);
	mk_fw_model_load(&m, policy);
	n = mk_fw_model_flatten(&m, &r);
	for (int i = 0; i < m.n; i++)
		if (m.r[i].conservative && m.r[i].kind != FW_K_NONE)
			nconservative++;

	for (int i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (!decides(&r[i]) || r[i].conservative)
			continue;
		for (int j = i + 1; j < n; j++)
		{
			rel			x;
			int			kind = -1;
			bool		same;

			/* a synthetic rule (a goto's fall-through) names the goto as a
			 * only: as b it would name a rule that is not there */
			if (!decides(&r[j]) || r[j].conservative || r[j].synthetic ||
				r[i].position == r[j].position)
				continue;
			count_work(&work);
			x = mk_fw_mrule_rel(&r[i], &r[j]);
			if (x == REL_DISJOINT)
				continue;
			same = r[i].kind == r[j].kind;
			if (!same)
			{
				if (x == REL_EQUAL || x == REL_SUPERSET)
					kind = 3;
				else if (x == REL_SUBSET)
					kind = 1;
				else
					kind = 0;
			}
			else if (x == REL_EQUAL || x == REL_SUPERSET)
				kind = 2;
			else if (x == REL_SUBSET)
			{
				/* removing a changes nothing unless a rule between them
				 * could then decide some of a's packets another way */
				bool		blocked = false;

				for (int k = i + 1; k < j && !blocked; k++)
					if (r[k].kind != r[i].kind && (count_work(&work), true) &&
						mk_fw_mrule_rel(&r[i], &r[k]) != REL_DISJOINT)
						blocked = true;
				if (!blocked)
					kind = 2;
			}
			if (kind >= 0)
			{
				ExecClearTuple(slot);
				slot->tts_values[0] = Int32GetDatum(r[i].position);
				slot->tts_values[1] = Int32GetDatum(r[j].position);
				slot->tts_values[2] = Int32GetDatum(kind);
				slot->tts_isnull[0] = slot->tts_isnull[1] = slot->tts_isnull[2] = false;
				ExecStoreVirtualTuple(slot);
				tuplesort_puttupleslot(sort, slot);
			}
		}
	}
	tuplesort_performsort(sort);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "fw_anomalies row", ALLOCSET_SMALL_SIZES);
	while (tuplesort_gettupleslot(sort, true, false, slot, NULL))
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};
		bool		isnull;
		int32		cur[3];
		MemoryContext old;

		for (int k = 0; k < 3; k++)
			cur[k] = DatumGetInt32(slot_getattr(slot, k + 1, &isnull));
		if (cur[0] == last[0] && cur[1] == last[1] && cur[2] == last[2])
			continue;
		memcpy(last, cur, sizeof(last));
		old = MemoryContextSwitchTo(rowcxt);
		values[0] = Int32GetDatum(cur[0]);
		values[1] = Int32GetDatum(cur[1]);
		values[2] = CStringGetTextDatum(kind_names[cur[2]]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(old);
		MemoryContextReset(rowcxt);
	}
	tuplesort_end(sort);
	ExecDropSingleTupleTableSlot(slot);
	if (nconservative > 0)
		ereport(NOTICE,
				(errmsg("fw_anomalies treated %d rule(s) of policy \"%s\" conservatively", nconservative,
						mk_quote_short(policy)),
				 errdetail("Rules with a match Mekatek does not model (limit, recent, mark, ...) or a target of unknown verdict are not classified; they may match any of their packets, so no rule is called redundant across them.")));
	return (Datum) 0;
}

/*
 * mekatek.fw_suggest_order: the most used rules (hits over the whole log)
 * move up, but every pair of overlapping rules with different decisions
 * keeps its order, and nothing crosses a barrier (a flagged rule or a
 * non-terminating target, whose match set is unknown).  That keeps every
 * packet's decision: the first rule a packet meets in the new order either
 * is its old first rule or overlaps it, and then decides the same.  The
 * order is Kahn's topological sort of those pairs, taking among the rules
 * free to go next the one with the most hits (the earlier on ties).
 */
PG_FUNCTION_INFO_V1(mk_fw_suggest_order);
Datum
mk_fw_suggest_order(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *policy = mk_arg_cstring(fcinfo, 0, "policy", false);
	fw_rule    *r;
	int			n,
				nskipped;
	int64	   *hits;
	int		   *indeg;
	bool	   *done;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];

	InitMaterializedSRF(fcinfo, 0);
	n = mk_fw_load_policy(policy, true, &r, &nskipped);
	hits = palloc0(sizeof(int64) * (n + 1));
	indeg = palloc0(sizeof(int) * (n + 1));
	done = palloc0(sizeof(bool) * (n + 1));

	/* hits per rule; rules are in position order, so merge by position */
	args[0] = CStringGetTextDatum(policy);
	SPI_connect();
	mk_spi_execute("SELECT position, hits FROM mekatek.fw_rule_usage($1, NULL, NULL) "
				   " WHERE position IS NOT NULL ORDER BY position",
				   1, argtypes, args, NULL, true, 0, SPI_OK_SELECT, "fw_suggest_order: reading the hits");
	for (uint64 k = 0, i = 0; k < SPI_processed; k++)
	{
		bool		isnull;
		int32		pos = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 1, &isnull));

		while (i < (uint64) n && r[i].position < pos)
			i++;
		if (i < (uint64) n && r[i].position == pos)
			hits[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 2, &isnull));
	}
	SPI_finish();

#define MUST_PRECEDE(i, j) \
	(r[i].barrier || r[j].barrier || \
	 (r[i].decision != r[j].decision && mk_fw_rule_rel(&r[i], &r[j]) != REL_DISJOINT))

	for (int j = 0; j < n; j++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < j; i++)
			if (MUST_PRECEDE(i, j))
				indeg[j]++;
	}
	for (int step = 1; step <= n; step++)
	{
		int			best = -1;
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		CHECK_FOR_INTERRUPTS();
		for (int k = 0; k < n; k++)
			if (!done[k] && indeg[k] == 0 && (best < 0 || hits[k] > hits[best]))
				best = k;
		Assert(best >= 0);		/* the pairs only point forward: no cycle */
		done[best] = true;
		for (int j = best + 1; j < n; j++)
			if (!done[j] && MUST_PRECEDE(best, j))
				indeg[j]--;
		values[0] = Int32GetDatum(r[best].position);
		values[1] = Int32GetDatum(step);
		values[2] = Int64GetDatum(hits[best]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
#undef MUST_PRECEDE
	return (Datum) 0;
}

void
mk_fw_anomalies_init(void)
{
	DefineCustomIntVariable("mekatek.fw_anomalies_work",
							"Rule comparisons fw_anomalies may make (pairs, and the rules between a redundant pair).",
							"Past it fw_anomalies stops with an ERROR instead of running for hours; its memory is bounded by work_mem whatever the setting.",
							&fw_anomalies_work, 1000000000, 1, INT_MAX, PGC_USERSET, 0, NULL, NULL, NULL);
}
