/*
 * nearest.c: mekatek.nearest_agents, exact k-nearest agents with stock.
 *
 * The search walks the partial GiST index mekatek.agent_geo_idx (on
 * mekatek.geo_cell(lat, lon) WHERE active AND stock >= 1) in distance order,
 * as an ORDER BY ... <-> ... scan would, and stops as soon as no unseen
 * agent can enter the answer.  The index returns agents in nondecreasing
 * order of its own distance, which is computed from unit vectors and agrees
 * with haversine_km to about 1e-15 relative; the answer is ranked by
 * haversine_km itself.  So the scan stops once the index distance of the
 * agent just read, less a slack far above that rounding error, exceeds the
 * k-th best haversine distance so far: every agent not yet read is at least
 * that far, hence strictly farther than the k-th, and cannot displace it even
 * on a tie of agent_id.  Agents with too little stock are skipped, and the
 * walk continues past them; typically k + 1 index entries are read.
 *
 * The scan is a plain index scan (index_beginscan with an ORDER BY key), so
 * it needs no planner, no SPI, and reads only what it ranks.  It reads the
 * table under the caller's snapshot and rights: the caller must be allowed
 * to SELECT from mekatek.agent, and row-level security on it is refused
 * rather than bypassed.
 */
#include "core/mekatek.h"
#include "geo/geo.h"

#include <math.h>

#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_am_d.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

/* Bound on k: the answer is held in memory, k rows of one agent each. */
#define MK_GEO_MAX_K 10000

typedef struct MkNearest
{
	double		dist;
	int64		agent_id;
	int32		stock;
	double		lat;
	double		lon;
	Datum		name;
	Datum		address;
	bool		name_null;
	bool		address_null;
} MkNearest;

static inline bool
mk_nearest_before(double d1, int64 id1, double d2, int64 id2)
{
	return d1 < d2 || (d1 == d2 && id1 < id2);
}

static Datum
mk_copy_text(TupleTableSlot *slot, AttrNumber att, bool *isnull)
{
	Datum		d = slot_getattr(slot, att, isnull);

	return *isnull ? (Datum) 0 : PointerGetDatum(PG_DETOAST_DATUM_COPY(d));
}

static AttrNumber
mk_agent_attnum(Oid relid, const char *col)
{
	AttrNumber	att = get_attnum(relid, col);

	if (att == InvalidAttrNumber)
		mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, NULL,
				 "table mekatek.agent has no column \"%s\"", col);
	return att;
}

/* The search: where from, how many, how much stock, how far at most. */
typedef struct MkNearestArgs
{
	double		lat;
	double		lon;
	int32		k;
	int32		min_stock;
	double		max_km;			/* infinity: no limit */
} MkNearestArgs;

/* The agent table's columns, by name. */
typedef struct MkAgentCols
{
	AttrNumber	id, name, address, lat, lon, stock, active;
} MkAgentCols;

#define MK_GEO_INDEX_HINT "Recreate it: CREATE INDEX agent_geo_idx ON mekatek.agent USING gist (mekatek.geo_cell(lat, lon)) WHERE active AND stock >= 1;"

/*
 * NULL is refused for every argument but max_km, where it means "no
 * limit": a NULL position is a client bug, not an empty answer.
 */
static void
nearest_args(FunctionCallInfo fcinfo, MkNearestArgs *a)
{
	a->lat = DatumGetFloat8(mk_arg_datum(fcinfo, 0, "lat"));
	a->lon = DatumGetFloat8(mk_arg_datum(fcinfo, 1, "lon"));
	mk_geo_check_latlon(a->lat, a->lon, "lat", "lon");
	a->k = mk_arg_int32_range(fcinfo, 2, "k", 1, MK_GEO_MAX_K);
	a->min_stock = mk_arg_int32_range(fcinfo, 3, "min_stock", 1, PG_INT32_MAX);
	a->max_km = get_float8_infinity();
	if (!PG_ARGISNULL(4))
	{
		a->max_km = PG_GETARG_FLOAT8(4);
		if (isnan(a->max_km) || a->max_km < 0.0)
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
					 "Pass NULL for no distance limit.",
					 "argument \"max_km\" must be a non-negative distance, not %s",
					 float8out_internal(a->max_km));
	}
}

/*
 * Open mekatek.agent and its distance index under the caller's rights,
 * checked as a SELECT would be; returns the index's distance operator.
 */
static Oid
open_agent_index(Relation *heap, Relation *index, MkAgentCols *c)
{
	Oid			nsp = get_namespace_oid("mekatek", false);
	Oid			relid = get_relname_relid("agent", nsp);
	Oid			idxid = get_relname_relid("agent_geo_idx", nsp);
	Oid			op;

	if (!OidIsValid(relid) || !OidIsValid(idxid))
		mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, MK_GEO_INDEX_HINT,
				 "index mekatek.agent_geo_idx is missing");
	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		mk_error(ERRCODE_INSUFFICIENT_PRIVILEGE,
				 "Grant the role mekatek_cashier, mekatek_analyst or mekatek_admin.",
				 "permission denied to read table mekatek.agent");
	if (check_enable_rls(relid, InvalidOid, false) == RLS_ENABLED)
		mk_error(ERRCODE_FEATURE_NOT_SUPPORTED, NULL,
				 "mekatek.nearest_agents does not support row-level security on mekatek.agent");

	*heap = table_open(relid, AccessShareLock);
	*index = index_open(idxid, AccessShareLock);
	if ((*index)->rd_index->indrelid != relid || !(*index)->rd_index->indisvalid ||
		(*index)->rd_rel->relam != GIST_AM_OID ||
		IndexRelationGetNumberOfKeyAttributes(*index) != 1 ||
		!OidIsValid(op = get_opfamily_member((*index)->rd_opfamily[0],
											 (*index)->rd_opcintype[0],
											 (*index)->rd_opcintype[0],
											 RTKNNSearchStrategyNumber)))
		mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, MK_GEO_INDEX_HINT,
				 "index mekatek.agent_geo_idx is not a valid GiST index on mekatek.geo_cell(lat, lon)");

	c->id = mk_agent_attnum(relid, "agent_id");
	c->name = mk_agent_attnum(relid, "name");
	c->address = mk_agent_attnum(relid, "address");
	c->lat = mk_agent_attnum(relid, "lat");
	c->lon = mk_agent_attnum(relid, "lon");
	c->stock = mk_agent_attnum(relid, "stock");
	c->active = mk_agent_attnum(relid, "active");
	return op;
}

/*
 * Offer the agent in slot, at haversine distance d, to the sorted top k
 * (n of them so far); returns the new n.  k is small: insertion sort.
 */
static int
top_k_offer(MkNearest *top, int n, int k, TupleTableSlot *slot, const MkAgentCols *c,
			double d, int64 id, int32 stock, double lat, double lon)
{
	int			pos;

	if (n == k && !mk_nearest_before(d, id, top[k - 1].dist, top[k - 1].agent_id))
		return n;
	pos = (n < k) ? n++ : k - 1;
	while (pos > 0 && mk_nearest_before(d, id, top[pos - 1].dist, top[pos - 1].agent_id))
	{
		top[pos] = top[pos - 1];
		pos--;
	}
	top[pos].dist = d;
	top[pos].agent_id = id;
	top[pos].stock = stock;
	top[pos].lat = lat;
	top[pos].lon = lon;
	top[pos].name = mk_copy_text(slot, c->name, &top[pos].name_null);
	top[pos].address = mk_copy_text(slot, c->address, &top[pos].address_null);
	return n;
}

/* The index walk (see the file's opening comment); returns how many found. */
static int
scan_nearest(const MkNearestArgs *a, MkNearest *top)
{
	Relation	heap,
				index;
	MkAgentCols c;
	Oid			op = open_agent_index(&heap, &index, &c);
	MkGeoCell	query;
	ScanKeyData orderby;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	int			n = 0;

	mk_geo_cell_set(&query, a->lat, a->lon);
	ScanKeyInit(&orderby, 1, RTKNNSearchStrategyNumber, get_opcode(op),
				PointerGetDatum(&query));
	scan = index_beginscan(heap, index, GetActiveSnapshot(), 0, 1);
	index_rescan(scan, NULL, 0, &orderby, 1);
	slot = table_slot_create(heap, NULL);

	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		double		bound,
					d,
					lat,
					lon;
		bool		isnull;
		int32		stock;

		CHECK_FOR_INTERRUPTS();

		/* A lower bound on the haversine distance of this agent and of every
		 * agent the scan has not returned yet. */
		bound = scan->xs_orderbynulls[0] ? 0.0 : DatumGetFloat8(scan->xs_orderbyvals[0]);
		bound = bound * (1.0 - 1e-12) - 1e-9;
		if (bound > a->max_km || (n == a->k && bound > top[a->k - 1].dist))
			break;

		/* The partial index holds active agents with stock >= 1 only; the
		 * columns are checked anyway so that min_stock applies. */
		if (!DatumGetBool(slot_getattr(slot, c.active, &isnull)) || isnull)
			continue;
		stock = DatumGetInt32(slot_getattr(slot, c.stock, &isnull));
		if (isnull || stock < a->min_stock)
			continue;
		lat = DatumGetFloat8(slot_getattr(slot, c.lat, &isnull));
		lon = DatumGetFloat8(slot_getattr(slot, c.lon, &isnull));
		d = MK_GEO_EARTH_KM * mk_geo_angle(a->lat, a->lon, lat, lon);
		if (d > a->max_km)
			continue;
		n = top_k_offer(top, n, a->k, slot, &c,
						d, DatumGetInt64(slot_getattr(slot, c.id, &isnull)), stock, lat, lon);
	}

	ExecDropSingleTupleTableSlot(slot);
	index_endscan(scan);
	index_close(index, AccessShareLock);
	table_close(heap, AccessShareLock);
	return n;
}

PG_FUNCTION_INFO_V1(mk_geo_nearest_agents);
Datum
mk_geo_nearest_agents(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MkNearestArgs a;
	MkNearest  *top;
	int			n;

	nearest_args(fcinfo, &a);
	InitMaterializedSRF(fcinfo, 0);
	top = palloc(sizeof(MkNearest) * a.k);
	n = scan_nearest(&a, top);

	for (int i = 0; i < n; i++)
	{
		Datum		values[7];
		bool		nulls[7] = {false, false, false, false, false, false, false};

		values[0] = Int64GetDatum(top[i].agent_id);
		values[1] = top[i].name;
		nulls[1] = top[i].name_null;
		values[2] = top[i].address;
		nulls[2] = top[i].address_null;
		values[3] = Int32GetDatum(top[i].stock);
		values[4] = Float8GetDatum(top[i].dist);
		/* lat and lon since 0.2.0; 0.1.0's declaration has five columns */
		values[5] = Float8GetDatum(top[i].lat);
		values[6] = Float8GetDatum(top[i].lon);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
