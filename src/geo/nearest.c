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

PG_FUNCTION_INFO_V1(mk_geo_nearest_agents);
Datum
mk_geo_nearest_agents(PG_FUNCTION_ARGS)
{
	double		lat,
				lon,
				max_km = get_float8_infinity();
	int32		k,
				min_stock;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			nsp,
				relid,
				idxid,
				op;
	Relation	heap,
				index;
	MkGeoCell	query;
	ScanKeyData orderby;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	AttrNumber	a_id,
				a_name,
				a_address,
				a_lat,
				a_lon,
				a_stock,
				a_active;
	MkNearest  *top;
	int			n = 0;

	/* NULL is refused for every argument but max_km, where it means "no
	 * limit": a NULL position is a client bug, not an empty answer. */
	mk_arg_not_null(fcinfo, 0, "lat");
	mk_arg_not_null(fcinfo, 1, "lon");
	lat = PG_GETARG_FLOAT8(0);
	lon = PG_GETARG_FLOAT8(1);
	mk_geo_check_latlon(lat, lon, "lat", "lon");
	k = mk_arg_int32_range(fcinfo, 2, "k", 1, MK_GEO_MAX_K);
	min_stock = mk_arg_int32_range(fcinfo, 3, "min_stock", 1, PG_INT32_MAX);
	if (!PG_ARGISNULL(4))
	{
		max_km = PG_GETARG_FLOAT8(4);
		if (isnan(max_km) || max_km < 0.0)
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
					 "Pass NULL for no distance limit.",
					 "argument \"max_km\" must be a non-negative distance, not %s",
					 float8out_internal(max_km));
	}

	InitMaterializedSRF(fcinfo, 0);

	nsp = get_namespace_oid("mekatek", false);
	relid = get_relname_relid("agent", nsp);
	idxid = get_relname_relid("agent_geo_idx", nsp);
	if (!OidIsValid(relid) || !OidIsValid(idxid))
		mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
				 "Recreate it: CREATE INDEX agent_geo_idx ON mekatek.agent USING gist (mekatek.geo_cell(lat, lon)) WHERE active AND stock >= 1;",
				 "index mekatek.agent_geo_idx is missing");
	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		mk_error(ERRCODE_INSUFFICIENT_PRIVILEGE,
				 "Grant the role mekatek_cashier, mekatek_analyst or mekatek_admin.",
				 "permission denied to read table mekatek.agent");
	if (check_enable_rls(relid, InvalidOid, false) == RLS_ENABLED)
		mk_error(ERRCODE_FEATURE_NOT_SUPPORTED, NULL,
				 "mekatek.nearest_agents does not support row-level security on mekatek.agent");

	heap = table_open(relid, AccessShareLock);
	index = index_open(idxid, AccessShareLock);
	if (index->rd_index->indrelid != relid || !index->rd_index->indisvalid ||
		index->rd_rel->relam != GIST_AM_OID ||
		IndexRelationGetNumberOfKeyAttributes(index) != 1 ||
		!OidIsValid(op = get_opfamily_member(index->rd_opfamily[0],
											 index->rd_opcintype[0],
											 index->rd_opcintype[0],
											 RTKNNSearchStrategyNumber)))
		mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
				 "Recreate it: CREATE INDEX agent_geo_idx ON mekatek.agent USING gist (mekatek.geo_cell(lat, lon)) WHERE active AND stock >= 1;",
				 "index mekatek.agent_geo_idx is not a valid GiST index on mekatek.geo_cell(lat, lon)");

	a_id = mk_agent_attnum(relid, "agent_id");
	a_name = mk_agent_attnum(relid, "name");
	a_address = mk_agent_attnum(relid, "address");
	a_lat = mk_agent_attnum(relid, "lat");
	a_lon = mk_agent_attnum(relid, "lon");
	a_stock = mk_agent_attnum(relid, "stock");
	a_active = mk_agent_attnum(relid, "active");

	mk_geo_cell_set(&query, lat, lon);
	ScanKeyInit(&orderby, 1, RTKNNSearchStrategyNumber, get_opcode(op),
				PointerGetDatum(&query));
	scan = index_beginscan(heap, index, GetActiveSnapshot(), 0, 1);
	index_rescan(scan, NULL, 0, &orderby, 1);
	slot = table_slot_create(heap, NULL);
	top = palloc(sizeof(MkNearest) * k);

	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		double		bound,
					d;
		bool		isnull;
		int64		id;
		int32		stock;
		int			pos;

		CHECK_FOR_INTERRUPTS();

		/* A lower bound on the haversine distance of this agent and of every
		 * agent the scan has not returned yet. */
		bound = scan->xs_orderbynulls[0] ? 0.0 : DatumGetFloat8(scan->xs_orderbyvals[0]);
		bound = bound * (1.0 - 1e-12) - 1e-9;
		if (bound > max_km || (n == k && bound > top[k - 1].dist))
			break;

		/* The partial index holds active agents with stock >= 1 only; the
		 * columns are checked anyway so that min_stock applies. */
		if (!DatumGetBool(slot_getattr(slot, a_active, &isnull)) || isnull)
			continue;
		stock = DatumGetInt32(slot_getattr(slot, a_stock, &isnull));
		if (isnull || stock < min_stock)
			continue;
		id = DatumGetInt64(slot_getattr(slot, a_id, &isnull));
		{
			double		alat = DatumGetFloat8(slot_getattr(slot, a_lat, &isnull));
			double		alon = DatumGetFloat8(slot_getattr(slot, a_lon, &isnull));

			d = MK_GEO_EARTH_KM * mk_geo_angle(lat, lon, alat, alon);
		}
		if (d > max_km)
			continue;
		if (n == k && !mk_nearest_before(d, id, top[k - 1].dist, top[k - 1].agent_id))
			continue;

		/* Insertion into the sorted top k; k is small. */
		pos = (n < k) ? n++ : k - 1;
		while (pos > 0 && mk_nearest_before(d, id, top[pos - 1].dist, top[pos - 1].agent_id))
		{
			top[pos] = top[pos - 1];
			pos--;
		}
		top[pos].dist = d;
		top[pos].agent_id = id;
		top[pos].stock = stock;
		top[pos].name = mk_copy_text(slot, a_name, &top[pos].name_null);
		top[pos].address = mk_copy_text(slot, a_address, &top[pos].address_null);
	}

	ExecDropSingleTupleTableSlot(slot);
	index_endscan(scan);
	index_close(index, AccessShareLock);
	table_close(heap, AccessShareLock);

	for (int i = 0; i < n; i++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		values[0] = Int64GetDatum(top[i].agent_id);
		values[1] = top[i].name;
		nulls[1] = top[i].name_null;
		values[2] = top[i].address;
		nulls[2] = top[i].address_null;
		values[3] = Int32GetDatum(top[i].stock);
		values[4] = Float8GetDatum(top[i].dist);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
