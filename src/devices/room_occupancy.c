/*
 * room_occupancy.c: visitor counting, in event time.
 *
 * Cameras only INSERT into mekatek.visitor_event.  An AFTER INSERT trigger
 * FOR EACH STATEMENT applies the statement's transition table (only rows
 * actually inserted: a replay dropped by ON CONFLICT DO NOTHING is not
 * there) to mekatek.room_occupancy, one UPDATE per room per statement
 * however many events a batch carries.  Events are applied in the order of
 * their time (seen_at, then event_no), not of their arrival: two cameras
 * of one room, one of them slow, must not count a visitor who left before
 * he came in.
 *
 *  1. One pass over the transition table collects each room's events (a
 *     small struct each); an event whose clock is outside the window
 *     (mk_device_time_ok) is only flagged bad_time.  Each room's events are
 *     sorted by time, and the sums and the lowest and highest points of
 *     their running sum taken in that order.
 *  2. Rooms are visited in room_id order (two statements covering the same
 *     rooms therefore lock them in the same order and cannot deadlock).  For
 *     each, one UPDATE adds the sums WHERE inside + lowest point >= 0 (no
 *     'out' of the batch can find the room emptier than it counts) and the
 *     room's latest applied event (last_event_at) is not after the batch's
 *     first: the batch continues the room's history.  The UPDATE's row lock
 *     serialises the cameras of one room until commit, and under READ
 *     COMMITTED a blocked UPDATE re-reads the row the other camera
 *     committed: no count is ever lost.
 *  3. Only when the batch may cross the room's capacity is the room's part
 *     replayed event by event, to find the exact events that cross: one
 *     capacity_alert row and one NOTIFY mekatek_capacity each.
 *  4. Otherwise the room is locked with SELECT ... FOR UPDATE.  An event
 *     older than last_event_at by more than mekatek.event_lateness is
 *     flagged late and moves nothing.  When the rest all continue the
 *     history, they are replayed from the room's level: inside stops at
 *     zero and the excess is written to that event's miscount, so that for
 *     every room at all times inside = entered - exited + miscounted.
 *  5. When some are late but within the lateness, the span from the
 *     earliest of them is replayed again with the events already applied
 *     in it (the level before the span is inside minus their effects, which
 *     their stored miscounts make exact), and its miscounts and alerts are
 *     made what they would have been had the events arrived in order:
 *     changed miscounts are rewritten, and alerts are reconciled with the
 *     new crossings (span_alerts).
 *
 * Memory: one small struct per event and one entry per distinct room.
 *
 * Between installing this library and ALTER EXTENSION mekatek UPDATE, the
 * tables are still 0.1.0's (no visitor_event.flag, no last_event_at, no
 * retracted_at).  The trigger then works as 0.1.0 did, apart from sorting
 * each batch by time: no flags, no lateness (schema_0_1).
 */
#include "devices/devices.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(mk_visitor_event_apply);
PG_FUNCTION_INFO_V1(mk_count_accuracy);

/* One camera event: +n for an 'in', -n for an 'out'. */
typedef struct Ev
{
	int64		event_no;
	TimestampTz at;
	int32		delta;
	int32		miscount;		/* as replayed */
	int32		old_miscount;	/* as stored, for an event applied before */
	bool		old;			/* applied by an earlier statement */
	bool		late;
} Ev;

typedef struct Room
{
	char	   *room_id;
	uint32		hash;
	Ev		   *evs;
	int			nevs,
				cap;
	bool		sorted;
	int64		entered,
				exited,
				sum,			/* entered - exited */
				low,			/* lowest running sum, <= 0 */
				high;			/* highest running sum, >= 0 */
	/* during a replay */
	int64		inside;
	int64		miscounted;
	bool		nocap;
	int32		capacity;
} Room;

/* A capacity crossing found by a replay. */
typedef struct Crossing
{
	int64		event_no;
	TimestampTz at;
	bool		full;
	int64		inside;
} Crossing;

/* Open addressing over Room pointers: a statement rarely has many rooms. */
typedef struct RoomSet
{
	Room	  **slots;
	int			size;			/* power of two */
	int			count;
} RoomSet;

static SPIPlanPtr plan_add = NULL;
static SPIPlanPtr plan_lock = NULL;
static SPIPlanPtr plan_create = NULL;
static SPIPlanPtr plan_write = NULL;
static SPIPlanPtr plan_miscount = NULL;
static SPIPlanPtr plan_alert = NULL;
static SPIPlanPtr plan_span = NULL;
static SPIPlanPtr plan_live_alerts = NULL;
static SPIPlanPtr plan_retract = NULL;
static SPIPlanPtr plan_announced = NULL;
static SPIPlanPtr plan_flag = NULL;

static bool schema_0_1 = false;	/* the plans above are 0.1.0's */

static void
prepare_plans(bool old_schema)
{
	if (old_schema != schema_0_1)
	{
		SPIPlanPtr *all[] = {&plan_add, &plan_lock, &plan_write, &plan_alert};

		for (int i = 0; i < (int) lengthof(all); i++)
			if (*all[i])
			{
				SPI_freeplan(*all[i]);
				*all[i] = NULL;
			}
		schema_0_1 = old_schema;
	}
	/* Parameters a 0.1.0 text does not use keep their declared types. */
	mk_spi_plan(&plan_add, old_schema
				? "UPDATE mekatek.room_occupancy SET entered = entered + $2, exited = exited + $3, "
				"inside = inside + $2 - $3, updated_at = now() "
				"WHERE room_id = $1 AND inside + $4 >= 0 AND $5 <= $6 "
				"RETURNING inside, (SELECT capacity FROM mekatek.room r WHERE r.room_id = $1)"
				: "UPDATE mekatek.room_occupancy SET entered = entered + $2, exited = exited + $3, "
				"inside = inside + $2 - $3, last_event_at = GREATEST(last_event_at, $6), updated_at = now() "
				"WHERE room_id = $1 AND inside + $4 >= 0 AND (last_event_at IS NULL OR last_event_at <= $5) "
				"RETURNING inside, (SELECT capacity FROM mekatek.room r WHERE r.room_id = $1)",
				6, (Oid[]) {TEXTOID, INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID});
	mk_spi_plan(&plan_lock, old_schema
				? "SELECT o.inside, r.capacity, NULL::timestamptz FROM mekatek.room_occupancy o "
				"LEFT JOIN mekatek.room r ON r.room_id = o.room_id "
				"WHERE o.room_id = $1 FOR UPDATE OF o"
				: "SELECT o.inside, r.capacity, o.last_event_at FROM mekatek.room_occupancy o "
				"LEFT JOIN mekatek.room r ON r.room_id = o.room_id "
				"WHERE o.room_id = $1 FOR UPDATE OF o",
				1, (Oid[]) {TEXTOID});
	mk_spi_plan(&plan_create,
				"INSERT INTO mekatek.room_occupancy(room_id) VALUES ($1) ON CONFLICT DO NOTHING",
				1, (Oid[]) {TEXTOID});
	mk_spi_plan(&plan_write, old_schema
				? "UPDATE mekatek.room_occupancy SET entered = entered + $2, exited = exited + $3, "
				"miscounted = miscounted + $4, inside = $5, updated_at = now() "
				"WHERE room_id = $1 AND $6 IS NOT NULL"
				: "UPDATE mekatek.room_occupancy SET entered = entered + $2, exited = exited + $3, "
				"miscounted = miscounted + $4, inside = $5, last_event_at = GREATEST(last_event_at, $6), "
				"updated_at = now() WHERE room_id = $1",
				6, (Oid[]) {TEXTOID, INT8OID, INT8OID, INT8OID, INT4OID, TIMESTAMPTZOID});
	mk_spi_plan(&plan_miscount,
				"UPDATE mekatek.visitor_event SET miscount = $2 WHERE event_no = $1",
				2, (Oid[]) {INT8OID, INT4OID});
	mk_spi_plan(&plan_alert, old_schema
				? "INSERT INTO mekatek.capacity_alert(room_id, state, inside, capacity, at, event_no) "
				"VALUES ($1, $2, $3, $4, $5, $6) RETURNING CASE WHEN $7 THEN alert_id ELSE alert_id END"
				: "INSERT INTO mekatek.capacity_alert(room_id, state, inside, capacity, at, event_no, retracted_at) "
				"VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7 THEN now() END) RETURNING alert_id",
				7, (Oid[]) {TEXTOID, TEXTOID, INT4OID, INT4OID, TIMESTAMPTZOID, INT8OID, BOOLOID});
	if (old_schema)
		return;
	/* The events already applied in a span, as the row lock lets us see them. */
	mk_spi_plan(&plan_span,
				"SELECT event_no, seen_at, direction = 'in', n, miscount FROM mekatek.visitor_event "
				"WHERE room_id = $1 AND seen_at >= $2 AND flag IS NULL "
				"AND NOT (event_no = ANY ($3)) ORDER BY seen_at, event_no",
				3, (Oid[]) {TEXTOID, TIMESTAMPTZOID, INT8ARRAYOID});
	mk_spi_plan(&plan_live_alerts,
				"SELECT alert_id, event_no, state = 'full', inside, at FROM mekatek.capacity_alert "
				"WHERE room_id = $1 AND at >= $2 AND retracted_at IS NULL ORDER BY at, alert_id",
				2, (Oid[]) {TEXTOID, TIMESTAMPTZOID});
	mk_spi_plan(&plan_retract,
				"UPDATE mekatek.capacity_alert SET retracted_at = now() WHERE alert_id = $1",
				1, (Oid[]) {INT8OID});
	mk_spi_plan(&plan_announced,
				"SELECT state = 'full' FROM mekatek.capacity_alert "
				"WHERE room_id = $1 AND retracted_at IS NULL ORDER BY at DESC, alert_id DESC LIMIT 1",
				1, (Oid[]) {TEXTOID});
	mk_spi_plan(&plan_flag,
				"UPDATE mekatek.visitor_event e SET flag = u.flag "
				"  FROM unnest($1::int8[], $2::text[]) AS u(event_no, flag) "
				" WHERE e.event_no = u.event_no",
				2, (Oid[]) {INT8ARRAYOID, TEXTARRAYOID});
}

static Room *
roomset_get(RoomSet *set, const char *room_id)
{
	uint32		h = hash_bytes((const unsigned char *) room_id, strlen(room_id));
	int			i;

	if (set->count * 2 >= set->size)
	{
		RoomSet		bigger = {palloc0(sizeof(Room *) * set->size * 2), set->size * 2, 0};

		for (int j = 0; j < set->size; j++)
			if (set->slots[j])
			{
				int			k = set->slots[j]->hash & (bigger.size - 1);

				while (bigger.slots[k])
					k = (k + 1) & (bigger.size - 1);
				bigger.slots[k] = set->slots[j];
			}
		bigger.count = set->count;
		pfree(set->slots);
		*set = bigger;
	}
	for (i = h & (set->size - 1); set->slots[i]; i = (i + 1) & (set->size - 1))
		if (set->slots[i]->hash == h && strcmp(set->slots[i]->room_id, room_id) == 0)
			return set->slots[i];
	set->slots[i] = palloc0(sizeof(Room));
	set->slots[i]->room_id = pstrdup(room_id);
	set->slots[i]->hash = h;
	set->slots[i]->sorted = true;
	set->count++;
	return set->slots[i];
}

static int
room_cmp(const void *a, const void *b)
{
	return strcmp((*(Room *const *) a)->room_id, (*(Room *const *) b)->room_id);
}

/* Event time, then the order of insertion. */
static int
ev_cmp(const void *a, const void *b)
{
	const Ev   *x = a;
	const Ev   *y = b;

	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	return (x->event_no > y->event_no) - (x->event_no < y->event_no);
}

static bool
ev_before(const Ev *x, const Ev *y)
{
	return ev_cmp(x, y) < 0;
}

static void
room_add(Room *room, const Ev *ev)
{
	if (room->nevs == room->cap)
	{
		room->cap = room->cap ? room->cap * 2 : 8;
		room->evs = room->evs ? repalloc(room->evs, sizeof(Ev) * room->cap)
			: palloc(sizeof(Ev) * room->cap);
	}
	if (room->nevs > 0 && ev_before(ev, &room->evs[room->nevs - 1]))
		room->sorted = false;
	room->evs[room->nevs++] = *ev;
}

/* Sums and running extremes of the room's (sorted) events that count. */
static void
room_sums(Room *room)
{
	room->entered = room->exited = room->sum = room->low = room->high = 0;
	for (int i = 0; i < room->nevs; i++)
	{
		Ev		   *e = &room->evs[i];

		if (e->late || e->old)
			continue;
		if (e->delta > 0)
			room->entered += e->delta;
		else
			room->exited -= e->delta;
		room->sum += e->delta;
		room->low = Min(room->low, room->sum);
		room->high = Max(room->high, room->sum);
	}
}

static void
notify_alert(Room *room, const char *state, const char *of, int64 alert_id,
			 int64 inside, TimestampTz at, int64 event_no)
{
	MkPayload	p;

	mk_payload_begin(&p);
	mk_payload_str(&p, "room", room->room_id);
	mk_payload_str(&p, "state", state);
	if (of)
		mk_payload_str(&p, "of", of);
	if (alert_id > 0)
		mk_payload_int(&p, "alert", alert_id);
	mk_payload_int(&p, "inside", inside);
	mk_payload_int(&p, "capacity", room->capacity);
	mk_payload_time(&p, "at", at);
	mk_payload_int(&p, "event", event_no);
	if (schema_0_1)
		mk_payload_notify(&p, "mekatek_capacity");
	else
		mk_payload_outbox(&p, "mekatek_capacity", "capacity");
}

/* Store a crossing (already retracted when 'retracted') and announce it. */
static void
alert_insert(Room *room, const Crossing *c, bool retracted)
{
	const char *state = c->full ? "full" : "below";
	Datum		a[7];
	bool		isnull;
	int64		alert_id;

	a[0] = CStringGetTextDatum(room->room_id);
	a[1] = CStringGetTextDatum(state);
	a[2] = Int32GetDatum((int32) Min(c->inside, PG_INT32_MAX));
	a[3] = Int32GetDatum(room->capacity);
	a[4] = TimestampTzGetDatum(c->at);
	a[5] = Int64GetDatum(c->event_no);
	a[6] = BoolGetDatum(retracted);
	mk_spi_execute_plan(plan_alert, a, NULL, false, 0, SPI_OK_INSERT_RETURNING,
						"visitor_event_apply: alert insert");
	alert_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	if (retracted)
		notify_alert(room, "retracted", state, alert_id, c->inside, c->at, c->event_no);
	else
		notify_alert(room, state, NULL, alert_id, c->inside, c->at, c->event_no);
}

/*
 * One event against the room's replayed level: its miscount, written when
 * it changed, and its crossing, if any, into *c (returns true then).
 */
static bool
room_step(Room *room, Ev *e, Crossing *c)
{
	int64		before = room->inside;
	int32		m = 0;

	if (e->delta < 0 && -e->delta > room->inside)
		m = (int32) (-e->delta - room->inside);
	room->inside += e->delta + m;
	room->miscounted += m;
	e->miscount = m;
	if (m != (e->old ? e->old_miscount : 0))
	{
		Datum		a[2] = {Int64GetDatum(e->event_no), Int32GetDatum(m)};

		mk_rollup_counted_update(plan_miscount, a, "visitor_event_apply: miscount update");
	}
	if (room->nocap || (before < room->capacity) == (room->inside < room->capacity))
		return false;
	c->event_no = e->event_no;
	c->at = e->at;
	c->full = room->inside >= room->capacity;
	c->inside = room->inside;
	return true;
}

/* Replay the room's new events from its level, announcing each crossing. */
static void
room_replay(Room *room)
{
	for (int i = 0; i < room->nevs; i++)
	{
		Crossing	c;

		if (room->evs[i].late)
			continue;
		if (room_step(room, &room->evs[i], &c))
			alert_insert(room, &c, false);
	}
}

static void
read_level(Room *room, TimestampTz *last, bool *nolast)
{
	bool		isnull;

	room->inside = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	room->capacity = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &room->nocap));
	if (last)
		*last = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, nolast));
	SPI_freetuptable(SPI_tuptable);
}

static Datum
room_event_nos(Room *room)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(room->nevs, 1));

	for (int i = 0; i < room->nevs; i++)
		d[i] = Int64GetDatum(room->evs[i].event_no);
	return PointerGetDatum(construct_array(d, room->nevs, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * Alerts of a replayed span, made what in-order arrival would have made
 * them.  A live alert the replay does not find again is retracted (and
 * announced as such).  A crossing the replay finds that is not an alert
 * yet is stored: live, and announced, when it is the span's last crossing
 * and the room's state now differs from the one announced; otherwise it
 * happened and was over before anyone could be told, so it is stored
 * already retracted and announced once as a retraction -- unless it only
 * returns to the announced state, which needs no word.
 */
static void
span_alerts(Room *room, TimestampTz t0, Crossing *cs, int ncs)
{
	Datum		a[2] = {CStringGetTextDatum(room->room_id), TimestampTzGetDatum(t0)};
	bool	   *found = palloc0(sizeof(bool) * Max(ncs, 1));
	bool		announced_full = false;
	bool		isnull;
	uint64		nlive;
	SPITupleTable *live;

	mk_spi_execute_plan(plan_live_alerts, a, NULL, false, 0, SPI_OK_SELECT,
						"visitor_event_apply: reading the span's alerts");
	live = SPI_tuptable;
	nlive = SPI_processed;
	for (uint64 i = 0; i < nlive; i++)
	{
		int64		alert_id = DatumGetInt64(SPI_getbinval(live->vals[i], live->tupdesc, 1, &isnull));
		int64		event_no = DatumGetInt64(SPI_getbinval(live->vals[i], live->tupdesc, 2, &isnull));
		bool		full = DatumGetBool(SPI_getbinval(live->vals[i], live->tupdesc, 3, &isnull));
		int64		inside = DatumGetInt32(SPI_getbinval(live->vals[i], live->tupdesc, 4, &isnull));
		bool		kept = false;

		for (int k = 0; k < ncs && !kept; k++)
			if (!found[k] && cs[k].event_no == event_no && cs[k].full == full)
				kept = found[k] = true;
		if (!kept)
		{
			Datum		id = Int64GetDatum(alert_id);
			TimestampTz at = DatumGetTimestampTz(SPI_getbinval(live->vals[i], live->tupdesc, 5, &isnull));

			mk_spi_execute_plan(plan_retract, &id, NULL, false, 0, SPI_OK_UPDATE,
								"visitor_event_apply: retracting an alert");
			notify_alert(room, "retracted", full ? "full" : "below", alert_id, inside, at, event_no);
		}
	}
	SPI_freetuptable(live);

	if (mk_spi_execute_plan(plan_announced, a, NULL, false, 1, SPI_OK_SELECT,
							"visitor_event_apply: reading the announced state") == 1)
		announced_full = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);

	for (int k = 0; k < ncs; k++)
	{
		if (found[k])
			continue;
		if (k == ncs - 1 && cs[k].full != announced_full)
			alert_insert(room, &cs[k], false);
		else if (cs[k].full != announced_full)
			alert_insert(room, &cs[k], true);
	}
}

/*
 * Step 5: the room's events merged with those already applied from t0 on,
 * replayed from the level before t0.
 */
static void
room_respan(Room *room, TimestampTz t0, Datum *a)
{
	Datum		sa[3] = {a[0], TimestampTzGetDatum(t0), room_event_nos(room)};
	int64		old_effect = 0;
	int64		old_mis = 0;
	Crossing   *cs;
	int			ncs = 0;

	mk_spi_execute_plan(plan_span, sa, NULL, false, 0, SPI_OK_SELECT,
						"visitor_event_apply: reading the late span");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Ev			e = {0};
		int32		n = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));

		e.event_no = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		e.at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 2, &isnull));
		e.delta = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull)) ? n : -n;
		e.old_miscount = DatumGetInt32(SPI_getbinval(tup, desc, 5, &isnull));
		e.old = true;
		old_effect += e.delta + e.old_miscount;
		old_mis += e.old_miscount;
		room_add(room, &e);
	}
	SPI_freetuptable(SPI_tuptable);
	qsort(room->evs, room->nevs, sizeof(Ev), ev_cmp);

	room->inside -= old_effect;	/* the level before t0 */
	room->miscounted = -old_mis;
	cs = palloc(sizeof(Crossing) * Max(room->nevs, 1));
	for (int i = 0; i < room->nevs; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (!room->evs[i].late && room_step(room, &room->evs[i], &cs[ncs]))
			ncs++;
	}
	if (!room->nocap)
		span_alerts(room, t0, cs, ncs);
}

static void
room_settle(Room *room, MkColumns *flags)
{
	Datum		a[6];
	TimestampTz last;
	bool		nolast;
	TimestampTz t0 = 0;
	bool		respan = false;
	bool		any = false;

	if (!room->sorted)
		qsort(room->evs, room->nevs, sizeof(Ev), ev_cmp);
	room_sums(room);
	a[0] = CStringGetTextDatum(room->room_id);
	a[1] = Int64GetDatum(room->entered);
	a[2] = Int64GetDatum(room->exited);
	a[3] = Int64GetDatum(room->low);
	a[4] = TimestampTzGetDatum(room->evs[0].at);
	a[5] = TimestampTzGetDatum(room->evs[room->nevs - 1].at);

	/* 2. The common case: one UPDATE for a batch that continues the room. */
	mk_spi_execute_plan(plan_add, a, NULL, false, 0, SPI_OK_UPDATE_RETURNING, "visitor_event_apply: occupancy update");
	if (SPI_processed == 1)
	{
		read_level(room, NULL, NULL);
		room->inside -= room->sum;	/* the level before this statement */
		/* 3. Replay only when a crossing is possible. */
		if (!room->nocap && room->inside + room->low < room->capacity &&
			room->inside + room->high >= room->capacity)
			room_replay(room);
		return;
	}
	SPI_freetuptable(SPI_tuptable);

	/* 4. Lock (creating the row for a room's first events). */
	for (int attempt = 0;; attempt++)
	{
		mk_spi_execute_plan(plan_lock, a, NULL, false, 1, SPI_OK_SELECT, "visitor_event_apply: occupancy lock");
		if (SPI_processed == 1)
			break;
		SPI_freetuptable(SPI_tuptable);
		if (attempt == 1)
			elog(ERROR, "visitor_event_apply: occupancy row of room \"%s\" vanished", room->room_id);

		/*
		 * A room's first event (also for a room not configured yet: the
		 * count is kept, without capacity).  ON CONFLICT makes two first
		 * events racing each other harmless.
		 */
		mk_spi_execute_plan(plan_create, a, NULL, false, 0, SPI_OK_INSERT, "visitor_event_apply: occupancy insert");
	}
	read_level(room, &last, &nolast);

	for (int i = 0; i < room->nevs; i++)
	{
		Ev		   *e = &room->evs[i];

		if (!nolast && e->at < last)
		{
			/* Finite times are far from the limits: no overflow. */
			if (last - e->at > (int64) mk_event_lateness_ms * 1000)
			{
				int			r = mk_columns_add(flags);

				e->late = true;
				flags->cols[0][r] = Int64GetDatum(e->event_no);
				flags->cols[1][r] = CStringGetTextDatum("late");
				continue;
			}
			if (!respan)
				t0 = e->at;		/* the earliest: events are sorted */
			respan = true;
		}
		any = true;
	}
	if (!any)
		return;
	room_sums(room);
	room->miscounted = 0;
	if (respan)
		room_respan(room, t0, a);
	else
		room_replay(room);
	if (room->inside > PG_INT32_MAX)
		mk_error(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, NULL,
				 "room \"%s\" would have more than %d visitors inside", room->room_id, PG_INT32_MAX);
	a[1] = Int64GetDatum(room->entered);
	a[2] = Int64GetDatum(room->exited);
	a[3] = Int64GetDatum(room->miscounted);
	a[4] = Int32GetDatum((int32) room->inside);
	mk_spi_execute_plan(plan_write, a, NULL, false, 0, SPI_OK_UPDATE, "visitor_event_apply: occupancy write");
}

Datum
mk_visitor_event_apply(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	MkTransition t;
	RoomSet		set;
	Room	  **rooms;
	int			nrooms = 0;
	AttrNumber	a_event_no,
				a_room,
				a_direction,
				a_n,
				a_seen_at;
	MkColumns	flags;
	MkRollup	rollup;
	bool		old_schema;

	if (!mk_transition_open(&t, fcinfo, "visitor_event_apply"))
		return PointerGetDatum(NULL);
	old_schema = SPI_fnumber(RelationGetDescr(td->tg_relation), "flag") <= 0;
	a_event_no = mk_trigger_column(td, "event_no", INT8OID, true);
	a_room = mk_trigger_column(td, "room_id", TEXTOID, true);
	a_direction = mk_trigger_column(td, "direction", TEXTOID, true);
	a_n = mk_trigger_column(td, "n", INT4OID, true);
	a_seen_at = mk_trigger_column(td, "seen_at", TIMESTAMPTZOID, true);

	/* 1. Each room's events. */
	mk_columns_init(&flags, 2, 8);
	if (!old_schema)
		mk_rollup_begin(&rollup, true);
	set.size = 8;
	set.count = 0;
	set.slots = palloc0(sizeof(Room *) * set.size);
	mk_transition_rewind(&t);
	while (mk_transition_next(&t))
	{
		bool		isnull;
		Ev			e = {0};
		int32		n = DatumGetInt32(slot_getattr(t.slot, a_n, &isnull));
		text	   *dir = DatumGetTextPP(slot_getattr(t.slot, a_direction, &isnull));
		char	   *r;

		CHECK_FOR_INTERRUPTS();
		e.event_no = DatumGetInt64(slot_getattr(t.slot, a_event_no, &isnull));
		e.at = DatumGetTimestampTz(slot_getattr(t.slot, a_seen_at, &isnull));
		if (!old_schema && !mk_device_time_ok(e.at))
		{
			int			k = mk_columns_add(&flags);

			flags.cols[0][k] = Int64GetDatum(e.event_no);
			flags.cols[1][k] = CStringGetTextDatum("bad_time");
			mk_rollup_add(&rollup, TextDatumGetCString(slot_getattr(t.slot, a_room, &isnull)),
						  e.at, 0, 0, true);
			continue;
		}
		/* The CHECK allows 'in' and 'out' only. */
		e.delta = VARSIZE_ANY_EXHDR(dir) == 2 ? n : -n;
		r = TextDatumGetCString(slot_getattr(t.slot, a_room, &isnull));
		room_add(roomset_get(&set, r), &e);
		pfree(r);
	}

	rooms = palloc(sizeof(Room *) * Max(set.count, 1));
	for (int i = 0; i < set.size; i++)
		if (set.slots[i])
			rooms[nrooms++] = set.slots[i];
	qsort(rooms, nrooms, sizeof(Room *), room_cmp);

	SPI_connect();
	prepare_plans(old_schema);
	for (int i = 0; i < nrooms; i++)
		room_settle(rooms[i], &flags);
	if (flags.n > 0)
	{
		Datum		args[2];

		mk_columns_arrays(&flags, (Oid[]) {INT8OID, TEXTOID}, args);
		mk_rollup_counted_update(plan_flag, args, "visitor_event_apply: flagging");
	}
	if (!old_schema)
	{
		/* Each event counted as it ended up: placed, or flagged late. */
		for (int i = 0; i < nrooms; i++)
			for (int k = 0; k < rooms[i]->nevs; k++)
			{
				Ev		   *e = &rooms[i]->evs[k];

				if (!e->old)
					mk_rollup_add(&rollup, rooms[i]->room_id, e->at, Max(e->delta, 0),
								  Max(-e->delta, 0), e->late);
			}
		mk_rollup_write(&rollup);
	}
	SPI_finish();

	mk_transition_close(&t);
	return PointerGetDatum(NULL);
}

/*
 * mekatek.count_accuracy(counted, manual): the paper's formula (2),
 *   accuracy = 100% - |counted - manual| / manual * 100%,
 * in percent, unrounded, clamped to [0, 100]: a count off by more than the
 * manual count itself is 0 % accurate, not -200 % (the formula read
 * literally goes below zero, which no accuracy can).
 */
Datum
mk_count_accuracy(PG_FUNCTION_ARGS)
{
	int32		counted = mk_arg_int32_range(fcinfo, 0, "counted", 0, PG_INT32_MAX);
	int32		manual;

	mk_arg_not_null(fcinfo, 1, "manual");
	manual = PG_GETARG_INT32(1);
	if (manual <= 0)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
				 "The manual count is the reference the formula divides by; it must be at least 1.",
				 "argument \"manual\" must be positive, not %d", manual);
	PG_RETURN_FLOAT8(Max(0.0, 100.0 - fabs((double) counted - (double) manual) / (double) manual * 100.0));
}
