/*
 * room_occupancy.c: visitor counting.
 *
 * Cameras only INSERT into mekatek.visitor_event.  An AFTER INSERT trigger
 * FOR EACH STATEMENT, reading the statement's transition table, applies the
 * events to mekatek.room_occupancy: per room it locks the occupancy row
 * (SELECT ... FOR UPDATE), replays the room's events in insertion order in
 * C, and writes the row once.  A batch of 100 events costs two statements
 * per room instead of 100 row updates, and the row lock serialises the
 * cameras of one room (and only of that room) until commit: under READ
 * COMMITTED the blocked lock returns the row the other camera committed,
 * so no count is ever lost.  Rooms are locked in room_id order, so two
 * statements covering the same rooms cannot deadlock each other.
 *
 * The transition table holds only rows actually inserted: an event
 * replayed with INSERT ... ON CONFLICT DO NOTHING is not applied twice.
 *
 * inside never goes below zero: an 'out' with fewer people inside than it
 * counted is kept and the excess written to its visitor_event.miscount, so
 *   inside = entered - exited + miscounted
 * holds for every room at every moment.  A capacity crossing (inside
 * reaching capacity from below, or falling back under it) is seen by the
 * one event that makes it: one capacity_alert row and one NOTIFY
 * mekatek_capacity each.
 */
#include "devices.h"

#include <math.h>

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(mk_visitor_event_apply);
PG_FUNCTION_INFO_V1(mk_count_accuracy);

/* Rows fetched from the transition table at a time: bounds memory. */
#define FETCH_ROWS 1000

typedef struct Room
{
	char	   *room_id;
	int64		inside;
	bool		nocap;
	int32		capacity;
	int64		entered,
				exited,
				miscounted;
} Room;

static SPIPlanPtr plan_lock = NULL;
static SPIPlanPtr plan_create = NULL;
static SPIPlanPtr plan_write = NULL;
static SPIPlanPtr plan_miscount = NULL;
static SPIPlanPtr plan_alert = NULL;

static void
prepare_plans(void)
{
	mk_keep_plan(&plan_lock,
				 "SELECT o.inside, r.capacity FROM mekatek.room_occupancy o "
				 "LEFT JOIN mekatek.room r ON r.room_id = o.room_id "
				 "WHERE o.room_id = $1 FOR UPDATE OF o",
				 1, (Oid[]) {TEXTOID});
	mk_keep_plan(&plan_create,
				 "INSERT INTO mekatek.room_occupancy(room_id) VALUES ($1) ON CONFLICT DO NOTHING",
				 1, (Oid[]) {TEXTOID});
	mk_keep_plan(&plan_write,
				 "UPDATE mekatek.room_occupancy SET entered = entered + $2, exited = exited + $3, "
				 "miscounted = miscounted + $4, inside = $5, updated_at = now() WHERE room_id = $1",
				 5, (Oid[]) {TEXTOID, INT8OID, INT8OID, INT8OID, INT4OID});
	mk_keep_plan(&plan_miscount,
				 "UPDATE mekatek.visitor_event SET miscount = $2 WHERE event_no = $1",
				 2, (Oid[]) {INT8OID, INT4OID});
	mk_keep_plan(&plan_alert,
				 "INSERT INTO mekatek.capacity_alert(room_id, state, inside, capacity, at, event_no) "
				 "VALUES ($1, $2, $3, $4, $5, $6)",
				 6, (Oid[]) {TEXTOID, TEXTOID, INT4OID, INT4OID, TIMESTAMPTZOID, INT8OID});
}

/* Lock the room's occupancy row (creating it for a room's first event). */
static void
room_begin(Room *room, const char *room_id)
{
	Datum		a[1] = {CStringGetTextDatum(room_id)};
	bool		isnull;

	memset(room, 0, sizeof(Room));
	room->room_id = pstrdup(room_id);
	for (int attempt = 0; attempt < 2; attempt++)
	{
		if (SPI_execute_plan(plan_lock, a, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "visitor_event_apply: occupancy lock failed");
		if (SPI_processed == 1)
		{
			room->inside = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
			room->capacity = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &room->nocap));
			SPI_freetuptable(SPI_tuptable);
			return;
		}
		SPI_freetuptable(SPI_tuptable);

		/*
		 * No row yet (also for a room not configured: the count is kept,
		 * without capacity).  ON CONFLICT makes two first events racing each
		 * other harmless.
		 */
		if (SPI_execute_plan(plan_create, a, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "visitor_event_apply: occupancy insert failed");
	}
	elog(ERROR, "visitor_event_apply: occupancy row of room \"%s\" vanished", room_id);
}

static void
room_end(Room *room)
{
	Datum		a[5];

	if (room->room_id == NULL)
		return;
	if (room->inside > PG_INT32_MAX)
		mk_error(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, NULL,
				 "room \"%s\" would have more than %d visitors inside", room->room_id, PG_INT32_MAX);
	a[0] = CStringGetTextDatum(room->room_id);
	a[1] = Int64GetDatum(room->entered);
	a[2] = Int64GetDatum(room->exited);
	a[3] = Int64GetDatum(room->miscounted);
	a[4] = Int32GetDatum((int32) room->inside);
	if (SPI_execute_plan(plan_write, a, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "visitor_event_apply: occupancy update failed");
	room->room_id = NULL;
}

/* One event, in insertion order, against the locked room. */
static void
room_apply(Room *room, int64 event_no, bool in, int32 n, TimestampTz at)
{
	int64		before = room->inside;

	if (in)
	{
		room->entered += n;
		room->inside += n;
	}
	else
	{
		room->exited += n;
		if (n > room->inside)
		{
			Datum		a[2] = {Int64GetDatum(event_no), Int32GetDatum((int32) (n - room->inside))};

			room->miscounted += n - room->inside;
			room->inside = 0;
			if (SPI_execute_plan(plan_miscount, a, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "visitor_event_apply: miscount update failed");
		}
		else
			room->inside -= n;
	}

	if (!room->nocap && (before < room->capacity) != (room->inside < room->capacity))
	{
		const char *state = room->inside >= room->capacity ? "full" : "below";
		Datum		a[6];
		MkPayload	p;

		a[0] = CStringGetTextDatum(room->room_id);
		a[1] = CStringGetTextDatum(state);
		a[2] = Int32GetDatum((int32) Min(room->inside, PG_INT32_MAX));
		a[3] = Int32GetDatum(room->capacity);
		a[4] = TimestampTzGetDatum(at);
		a[5] = Int64GetDatum(event_no);
		if (SPI_execute_plan(plan_alert, a, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "visitor_event_apply: alert insert failed");

		mk_payload_begin(&p);
		mk_payload_str(&p, "room", room->room_id);
		mk_payload_str(&p, "state", state);
		mk_payload_int(&p, "inside", room->inside);
		mk_payload_int(&p, "capacity", room->capacity);
		mk_payload_time(&p, "at", at);
		mk_payload_int(&p, "event", event_no);
		mk_payload_notify(&p, "mekatek_capacity");
	}
}

Datum
mk_visitor_event_apply(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	SPIPlanPtr	plan_events;
	Portal		portal;
	Room		room = {0};

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(td->tg_event) || !TRIGGER_FIRED_BY_INSERT(td->tg_event) ||
		td->tg_newtable == NULL)
		mk_error(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
				 "See the CREATE TRIGGER statements of the devices module (src/sql/60_devices.sql).",
				 "function \"%s\" must be fired AFTER INSERT FOR EACH STATEMENT "
				 "REFERENCING NEW TABLE AS new_events", "visitor_event_apply");

	SPI_connect();
	if (SPI_register_trigger_data(td) != SPI_OK_TD_REGISTER)
		elog(ERROR, "visitor_event_apply: cannot register the transition table");
	prepare_plans();
	/* The transition table is new per statement: this plan cannot be kept. */
	plan_events = SPI_prepare("SELECT room_id, event_no, direction = 'in', n, seen_at "
							  "FROM new_events ORDER BY room_id, event_no", 0, NULL);
	if (plan_events == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan_events, NULL, NULL, false);

	for (;;)
	{
		SPITupleTable *rows;
		uint64		nrows;

		SPI_cursor_fetch(portal, true, FETCH_ROWS);
		rows = SPI_tuptable;
		nrows = SPI_processed;
		if (nrows == 0)
			break;
		for (uint64 i = 0; i < nrows; i++)
		{
			HeapTuple	t = rows->vals[i];
			TupleDesc	d = rows->tupdesc;
			bool		isnull;
			char	   *room_id = TextDatumGetCString(SPI_getbinval(t, d, 1, &isnull));

			CHECK_FOR_INTERRUPTS();
			if (room.room_id == NULL || strcmp(room.room_id, room_id) != 0)
			{
				room_end(&room);
				room_begin(&room, room_id);
			}
			room_apply(&room,
					   DatumGetInt64(SPI_getbinval(t, d, 2, &isnull)),
					   DatumGetBool(SPI_getbinval(t, d, 3, &isnull)),
					   DatumGetInt32(SPI_getbinval(t, d, 4, &isnull)),
					   DatumGetTimestampTz(SPI_getbinval(t, d, 5, &isnull)));
			pfree(room_id);
		}
		SPI_freetuptable(rows);
	}
	room_end(&room);
	SPI_cursor_close(portal);
	SPI_finish();
	return PointerGetDatum(NULL);
}

/*
 * mekatek.count_accuracy(counted, manual): the paper's formula (2),
 *   accuracy = 100% - |counted - manual| / manual * 100%,
 * in percent, unrounded.  It goes below zero when the count is off by more
 * than the manual count itself, as the formula says.
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
	PG_RETURN_FLOAT8(100.0 - fabs((double) counted - (double) manual) / (double) manual * 100.0);
}
