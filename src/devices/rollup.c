/*
 * rollup.c: the counts behind visitor_hourly/_daily and rfid_hourly/_daily.
 *
 * The apply triggers (room_occupancy.c, lab_rfid.c) already walk each
 * statement's rows and decide every flag; they hand each row to
 * mk_rollup_add here, which sums the rows per (room or lab, hour) in C,
 * and mk_rollup_write appends the sums to the pending table with one
 * set-wise INSERT (unnest of arrays).  mekatek.device_rollup_absorb() adds
 * the pending rows up later (devices.sql says why in two steps).  This
 * replaced two PL/pgSQL statement triggers per table (the inserted rows'
 * counts, then the deltas of the flags the apply trigger set), which made
 * a single-event INSERT 15-20 % dearer by themselves.
 *
 * Hours and days are computed by the SQL functions the rest of the module
 * uses (date_trunc('hour', at, zone) and (at AT TIME ZONE zone)::date), so
 * a pending row lands in exactly the bucket device_apply_retention later
 * looks for; rows with the timestamp of the row before (a batch stamped by
 * now()) reuse its bucket.
 *
 * The apply triggers' own UPDATEs of the raw tables (flags, miscounts) go
 * through mk_rollup_counted_update: the rows are counted as they end up,
 * so the AFTER UPDATE trigger device_rollup_reflag, there for any other
 * UPDATE of a raw row (a superuser's correction), lets them pass.
 */
#include "devices/devices.h"
#include "devices/direct.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/fmgrprotos.h"
#include "utils/memutils.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(mk_device_rollup_reflag);

/* Pending rows searched for one to add to: a statement's rows cluster. */
#define ROLLUP_RECENT 8
/* Bucket computations between resets of their scratch memory. */
#define ROLLUP_SCRATCH_CALLS 1024

/* Set while an apply trigger runs an UPDATE whose rows it has counted. */
static bool rollup_counted = false;

void
mk_rollup_begin(MkRollup *r, bool visitor)
{
	r->visitor = visitor;
	r->n = 0;
	r->cap = 8;
	r->rows = palloc(sizeof(MkRollupRow) * r->cap);
	r->zone = CStringGetTextDatum(mk_device_rollup_zone());
	r->unit = CStringGetTextDatum("hour");
	r->have_last = false;
	r->calls = 0;
	r->scratch = AllocSetContextCreate(CurrentMemoryContext, "mekatek rollup buckets",
									   ALLOCSET_SMALL_SIZES);
}

static void
rollup_bucket(MkRollup *r, TimestampTz at, TimestampTz *hour, DateADT *day)
{
	MemoryContext old;

	if (!r->have_last || at != r->last_at)
	{
		old = MemoryContextSwitchTo(r->scratch);
		r->last_hour = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_trunc_zone, r->unit,
															   TimestampTzGetDatum(at), r->zone));
		r->last_day = DatumGetDateADT(DirectFunctionCall1(timestamp_date,
														  DirectFunctionCall2(timestamptz_zone, r->zone,
																			  TimestampTzGetDatum(at))));
		MemoryContextSwitchTo(old);
		if (++r->calls % ROLLUP_SCRATCH_CALLS == 0)
			MemoryContextReset(r->scratch);
		r->last_at = at;
		r->have_last = true;
	}
	*hour = r->last_hour;
	*day = r->last_day;
}

void
mk_rollup_add(MkRollup *r, const char *key, TimestampTz at, int64 entered, int64 exited,
			  bool flagged)
{
	TimestampTz hour;
	DateADT		day;
	MkRollupRow *row = NULL;

	rollup_bucket(r, at, &hour, &day);
	for (int i = r->n - 1; i >= 0 && i >= r->n - ROLLUP_RECENT; i--)
		if (r->rows[i].hour == hour && r->rows[i].day == day && strcmp(r->rows[i].key, key) == 0)
		{
			row = &r->rows[i];
			break;
		}
	if (row == NULL)
	{
		/* Another row for a bucket seen further back is harmless: absorb sums them. */
		if (r->n == r->cap)
		{
			r->cap *= 2;
			r->rows = repalloc(r->rows, sizeof(MkRollupRow) * r->cap);
		}
		row = &r->rows[r->n++];
		row->key = key;
		row->hour = hour;
		row->day = day;
		row->entered = row->exited = row->events = row->flagged = 0;
	}
	row->events++;
	if (flagged)
		row->flagged++;
	else
	{
		row->entered += entered;
		row->exited += exited;
	}
}

void
mk_rollup_write(MkRollup *r)
{
	static SPIPlanPtr plan_visitor = NULL;
	static SPIPlanPtr plan_rfid = NULL;
	static const Oid types[7] = {TEXTOID, TIMESTAMPTZOID, DATEOID, INT8OID, INT8OID, INT8OID, INT8OID};
	MkColumns	c;
	Datum		args[7];

	MemoryContextDelete(r->scratch);
	if (r->n == 0)
		return;
	mk_columns_init(&c, r->visitor ? 7 : 5, r->n);
	for (int i = 0; i < r->n; i++)
	{
		MkRollupRow *row = &r->rows[i];
		int			k = mk_columns_add(&c);
		int			col = 3;

		c.cols[0][k] = CStringGetTextDatum(row->key);
		c.cols[1][k] = TimestampTzGetDatum(row->hour);
		c.cols[2][k] = DateADTGetDatum(row->day);
		if (r->visitor)
		{
			c.cols[col++][k] = Int64GetDatum(row->entered);
			c.cols[col++][k] = Int64GetDatum(row->exited);
		}
		c.cols[col++][k] = Int64GetDatum(row->events);
		c.cols[col][k] = Int64GetDatum(row->flagged);
	}
	mk_columns_arrays(&c, types, args);
	if (r->visitor)
	{
		mk_spi_plan(&plan_visitor,
					"INSERT INTO mekatek.visitor_rollup_pending (room_id, hour, day, entered, exited, events, flagged) "
					"SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::date[], $4::int8[], $5::int8[], "
					"                     $6::int8[], $7::int8[])",
					7, (Oid[]) {TEXTARRAYOID, TIMESTAMPTZARRAYOID, DATEARRAYOID, INT8ARRAYOID,
					INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID});
		mk_spi_execute_plan(plan_visitor, args, NULL, false, 0, SPI_OK_INSERT,
							"visitor_event_apply: pending rollup rows");
	}
	else
	{
		/* rfid_rollup_pending's scans are the rows' events. */
		mk_spi_plan(&plan_rfid,
					"INSERT INTO mekatek.rfid_rollup_pending (lab, hour, day, scans, flagged) "
					"SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::date[], $4::int8[], $5::int8[])",
					5, (Oid[]) {TEXTARRAYOID, TIMESTAMPTZARRAYOID, DATEARRAYOID, INT8ARRAYOID, INT8ARRAYOID});
		mk_spi_execute_plan(plan_rfid, args, NULL, false, 0, SPI_OK_INSERT,
							"rfid_scan_apply: pending rollup rows");
	}
}

/*
 * rfid_rollup_pending's rows by rows, for the RFID batch written through
 * direct.c (lab_rfid.c): the same rows as mk_rollup_write's INSERT, whose
 * plan check, executor start and unnest were 1.5 % of a batch of 100 scans
 * for the one or two rows a batch makes.
 */
const char *const mk_rfid_rollup_cols[] = {"lab", "hour", "day", "scans", "flagged", NULL};
const Oid	mk_rfid_rollup_types[] = {TEXTOID, TIMESTAMPTZOID, DATEOID, INT8OID, INT8OID};

void
mk_rollup_write_direct(MkRollup *r, MkDirect *d, MkDirectTable *t)
{
	Assert(!r->visitor);
	MemoryContextDelete(r->scratch);
	for (int i = 0; i < r->n; i++)
	{
		MkRollupRow *row = &r->rows[i];

		mk_direct_new_row(t);
		mk_direct_set(t, 0, CStringGetTextDatum(row->key));
		mk_direct_set(t, 1, TimestampTzGetDatum(row->hour));
		mk_direct_set(t, 2, DateADTGetDatum(row->day));
		mk_direct_set(t, 3, Int64GetDatum(row->events));
		mk_direct_set(t, 4, Int64GetDatum(row->flagged));
		mk_direct_insert(d, t);
	}
}

uint64
mk_rollup_counted_update(SPIPlanPtr plan, Datum *args, const char *what)
{
	bool		save = rollup_counted;
	volatile uint64 n = 0;

	rollup_counted = true;
	PG_TRY();
	{
		n = mk_spi_execute_plan(plan, args, NULL, false, 0, SPI_OK_UPDATE, what);
	}
	PG_FINALLY();
	{
		rollup_counted = save;
	}
	PG_END_TRY();
	return n;
}

/*
 * Any other UPDATE of a raw row that changes what it counts for: the old
 * row's counts out, the new row's in, as pending deltas (rows paired by
 * their key).  Rare (devices may not UPDATE; only the table's owner can),
 * so the statement is planned each time.
 */
static const char *const reflag_visitor_sql =
"WITH ch AS ("
"    SELECT o.room_id AS o_room, o.seen_at AS o_at, o.direction AS o_dir, o.n AS o_n, o.flag AS o_flag,"
"           n.room_id, n.seen_at, n.direction, n.n, n.flag"
"      FROM old_rows o JOIN new_rows n ON n.event_no = o.event_no"
"     WHERE (o.room_id, o.seen_at, o.direction, o.n, o.flag) IS DISTINCT FROM"
"           (n.room_id, n.seen_at, n.direction, n.n, n.flag)"
"), c AS ("
"    SELECT room_id, seen_at, direction, n, flag, 1 AS sign FROM ch"
"    UNION ALL"
"    SELECT o_room, o_at, o_dir, o_n, o_flag, -1 FROM ch"
")"
"INSERT INTO mekatek.visitor_rollup_pending (room_id, hour, day, entered, exited, events, flagged)"
"SELECT room_id, date_trunc('hour', seen_at, $1), (seen_at AT TIME ZONE $1)::date,"
"       coalesce(sum(sign * n) FILTER (WHERE flag IS NULL AND direction = 'in'), 0),"
"       coalesce(sum(sign * n) FILTER (WHERE flag IS NULL AND direction = 'out'), 0),"
"       sum(sign), coalesce(sum(sign) FILTER (WHERE flag IS NOT NULL), 0)"
"  FROM c GROUP BY 1, 2, 3";

static const char *const reflag_rfid_sql =
"WITH ch AS ("
"    SELECT o.lab AS o_lab, o.scanned_at AS o_at, o.flag AS o_flag, n.lab, n.scanned_at, n.flag"
"      FROM old_rows o JOIN new_rows n ON n.scan_id = o.scan_id"
"     WHERE (o.lab, o.scanned_at, o.flag) IS DISTINCT FROM (n.lab, n.scanned_at, n.flag)"
"), c AS ("
"    SELECT lab, scanned_at, flag, 1 AS sign FROM ch"
"    UNION ALL"
"    SELECT o_lab, o_at, o_flag, -1 FROM ch"
")"
"INSERT INTO mekatek.rfid_rollup_pending (lab, hour, day, scans, flagged)"
"SELECT lab, date_trunc('hour', scanned_at, $1), (scanned_at AT TIME ZONE $1)::date,"
"       sum(sign), coalesce(sum(sign) FILTER (WHERE flag IS NOT NULL), 0)"
"  FROM c GROUP BY 1, 2, 3";

/*
 * AFTER UPDATE ... FOR EACH STATEMENT REFERENCING OLD TABLE AS old_rows
 * NEW TABLE AS new_rows, on mekatek.visitor_event or mekatek.rfid_scan.
 */
Datum
mk_device_rollup_reflag(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const char *table;
	const char *sql;
	Datum		zone;

	mk_trigger_on(fcinfo, "device_rollup_reflag", false, MK_ON_UPDATE, NULL);
	table = RelationGetRelationName(td->tg_relation);
	if (RelationGetNamespace(td->tg_relation) != get_namespace_oid("mekatek", false) ||
		(strcmp(table, "visitor_event") != 0 && strcmp(table, "rfid_scan") != 0))
		mk_error(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED, NULL,
				 "device_rollup_reflag fires only on mekatek.visitor_event and mekatek.rfid_scan, not on %s",
				 table);
	if (td->tg_trigger->tgoldtable == NULL || td->tg_trigger->tgnewtable == NULL ||
		strcmp(td->tg_trigger->tgoldtable, "old_rows") != 0 ||
		strcmp(td->tg_trigger->tgnewtable, "new_rows") != 0)
		mk_error(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
				 "See the CREATE TRIGGER statements in src/devices/devices.sql.",
				 "trigger \"%s\" must be declared REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
				 td->tg_trigger->tgname);
	if (rollup_counted || td->tg_oldtable == NULL || td->tg_newtable == NULL)
		return PointerGetDatum(NULL);

	sql = strcmp(table, "visitor_event") == 0 ? reflag_visitor_sql : reflag_rfid_sql;
	zone = CStringGetTextDatum(mk_device_rollup_zone());
	SPI_connect();
	if (SPI_register_trigger_data(td) != SPI_OK_TD_REGISTER)
		elog(ERROR, "device_rollup_reflag: could not register the transition tables");
	mk_spi_execute(sql, 1, (Oid[]) {TEXTOID}, &zone, NULL, false, 0, SPI_OK_INSERT,
				   "device_rollup_reflag: pending rollup deltas");
	SPI_finish();
	return PointerGetDatum(NULL);
}
