/*
 * room_occupancy.c: visitor counting.
 *
 * Cameras only INSERT into mekatek.visitor_event.  The AFTER INSERT row
 * trigger here applies each event to mekatek.room_occupancy with one
 * UPDATE ... RETURNING: the row lock it takes serialises the cameras of one
 * room (and only of that room) until commit, and under READ COMMITTED the
 * blocked UPDATE re-reads the committed row, so concurrent cameras never
 * lose a count.  The UPDATE also saves the value it replaced (prev_inside),
 * which is how the trigger sees a capacity crossing exactly once: the
 * crossing is the one event that moved inside from below capacity to at or
 * above it (or back).
 *
 * inside never goes below zero: an 'out' with nobody inside is kept and the
 * excess is written to visitor_event.miscount, so that
 *   inside = entered - exited + miscounted
 * holds for every room at every moment.
 */
#include "devices.h"

#include <math.h>

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(mk_visitor_event_apply);
PG_FUNCTION_INFO_V1(mk_count_accuracy);

#define OCC_UPDATE \
	"UPDATE mekatek.room_occupancy " \
	"   SET prev_inside = inside, " \
	"       entered = entered + $2, exited = exited + $3, " \
	"       inside = greatest(inside + $2 - $3, 0), " \
	"       miscounted = miscounted + greatest($3 - $2 - inside, 0), " \
	"       updated_at = now() " \
	" WHERE room_id = $1 " \
	"RETURNING prev_inside, inside, " \
	"          (SELECT capacity FROM mekatek.room r WHERE r.room_id = $1)"

Datum
mk_visitor_event_apply(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan_update = NULL;
	static SPIPlanPtr plan_create = NULL;
	static SPIPlanPtr plan_miscount = NULL;
	static SPIPlanPtr plan_alert = NULL;
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	tuple;
	bool		isnull;
	int64		event_no;
	char	   *room;
	bool		in;
	int32		n;
	TimestampTz at;
	Datum		a[6];
	int32		prev,
				inside,
				capacity;
	bool		nocap;

	mk_trigger_check(fcinfo, "visitor_event_apply", true, true);
	desc = RelationGetDescr(td->tg_relation);
	tuple = td->tg_trigtuple;
	event_no = DatumGetInt64(heap_getattr(tuple, SPI_fnumber(desc, "event_no"), desc, &isnull));
	room = TextDatumGetCString(heap_getattr(tuple, SPI_fnumber(desc, "room_id"), desc, &isnull));
	in = strcmp(TextDatumGetCString(heap_getattr(tuple, SPI_fnumber(desc, "direction"), desc, &isnull)),
				"in") == 0;
	n = DatumGetInt32(heap_getattr(tuple, SPI_fnumber(desc, "n"), desc, &isnull));
	at = DatumGetTimestampTz(heap_getattr(tuple, SPI_fnumber(desc, "seen_at"), desc, &isnull));

	SPI_connect();
	if (plan_update == NULL)
	{
		mk_keep_plan(&plan_update, OCC_UPDATE, 3, (Oid[]) {TEXTOID, INT4OID, INT4OID});
		mk_keep_plan(&plan_create, "INSERT INTO mekatek.room_occupancy(room_id) VALUES ($1) "
								   "ON CONFLICT DO NOTHING", 1, (Oid[]) {TEXTOID});
		mk_keep_plan(&plan_miscount, "UPDATE mekatek.visitor_event SET miscount = $2 "
									 "WHERE event_no = $1", 2, (Oid[]) {INT8OID, INT4OID});
		mk_keep_plan(&plan_alert, "INSERT INTO mekatek.capacity_alert"
								  "(room_id, state, inside, capacity, at, event_no) "
								  "VALUES ($1, $2, $3, $4, $5, $6)", 6,
								  (Oid[]) {TEXTOID, TEXTOID, INT4OID, INT4OID, TIMESTAMPTZOID, INT8OID});
	}

	a[0] = CStringGetTextDatum(room);
	a[1] = Int32GetDatum(in ? n : 0);
	a[2] = Int32GetDatum(in ? 0 : n);
	if (SPI_execute_plan(plan_update, a, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "visitor_event_apply: occupancy update failed");
	if (SPI_processed == 0)
	{
		/*
		 * First event of a room: its occupancy row is created here (also for
		 * a room not configured yet: the count is kept, without capacity).
		 * ON CONFLICT makes two first events racing each other harmless.
		 */
		if (SPI_execute_plan(plan_create, a, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "visitor_event_apply: occupancy insert failed");
		if (SPI_execute_plan(plan_update, a, NULL, false, 0) != SPI_OK_UPDATE_RETURNING ||
			SPI_processed != 1)
			elog(ERROR, "visitor_event_apply: occupancy row of room \"%s\" vanished", room);
	}
	prev = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	inside = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	capacity = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &nocap));

	if (!in && n > prev)
	{
		a[0] = Int64GetDatum(event_no);
		a[1] = Int32GetDatum(n - prev);
		if (SPI_execute_plan(plan_miscount, a, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "visitor_event_apply: miscount update failed");
	}

	if (!nocap && (prev < capacity) != (inside < capacity))
	{
		const char *state = inside >= capacity ? "full" : "below";
		MkPayload	p;

		a[0] = CStringGetTextDatum(room);
		a[1] = CStringGetTextDatum(state);
		a[2] = Int32GetDatum(inside);
		a[3] = Int32GetDatum(capacity);
		a[4] = TimestampTzGetDatum(at);
		a[5] = Int64GetDatum(event_no);
		if (SPI_execute_plan(plan_alert, a, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "visitor_event_apply: alert insert failed");

		mk_payload_begin(&p);
		mk_payload_str(&p, "room", room);
		mk_payload_str(&p, "state", state);
		mk_payload_int(&p, "inside", inside);
		mk_payload_int(&p, "capacity", capacity);
		mk_payload_time(&p, "at", at);
		mk_payload_int(&p, "event", event_no);
		mk_payload_notify(&p, "mekatek_capacity");
	}
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
