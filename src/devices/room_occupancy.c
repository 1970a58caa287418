/*
 * room_occupancy.c: visitor counting.
 *
 * Cameras only INSERT into mekatek.visitor_event.  An AFTER INSERT trigger
 * FOR EACH STATEMENT applies the statement's transition table (only rows
 * actually inserted: a replay dropped by ON CONFLICT DO NOTHING is not
 * there) to mekatek.room_occupancy, one UPDATE per room per statement
 * however many events a batch carries:
 *
 *  1. One pass over the transition table sums each room's events and keeps
 *     the lowest and highest points of its running sum.
 *  2. Rooms are visited in room_id order (two statements covering the same
 *     rooms therefore lock them in the same order and cannot deadlock).  For
 *     each, one UPDATE adds the sums WHERE inside + lowest point >= 0, i.e.
 *     when no 'out' of the batch can find the room emptier than it counts.
 *     The UPDATE's row lock serialises the cameras of one room (only of that
 *     room) until commit, and under READ COMMITTED a blocked UPDATE re-reads
 *     the row the other camera committed: no count is ever lost.  RETURNING
 *     gives inside after the batch, hence before it.
 *  3. Only when the batch may cross the room's capacity (its running level
 *     is below capacity at some point and at or above it at another) is the
 *     room's part replayed event by event, to find the exact events that
 *     cross: one capacity_alert row and one NOTIFY mekatek_capacity each.
 *  4. When the UPDATE's condition fails (an 'out' would take inside below
 *     zero) the room is locked with SELECT ... FOR UPDATE and replayed event
 *     by event: inside stops at zero and the excess is written to that
 *     event's visitor_event.miscount, so that for every room at all times
 *       inside = entered - exited + miscounted.
 *
 * Memory: one entry per distinct room of the statement; the events are
 * read from the transition tuplestore (which spills to disk), never copied.
 */
#include "devices/devices.h"

#include <math.h>

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(mk_visitor_event_apply);
PG_FUNCTION_INFO_V1(mk_count_accuracy);

typedef struct Room
{
	char	   *room_id;
	uint32		hash;
	int64		entered,
				exited,
				sum,			/* entered - exited so far */
				low,			/* lowest running sum, <= 0 */
				high;			/* highest running sum, >= 0 */
	/* during a replay */
	int64		inside;
	int64		miscounted;
	bool		nocap;
	int32		capacity;
} Room;

/* The statement's events, read straight from the transition tuplestore. */
typedef struct Events
{
	MkTransition t;
	TupleTableSlot *slot;		/* t.slot */
	AttrNumber	a_event_no,
				a_room,
				a_direction,
				a_n,
				a_seen_at;
} Events;

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

static void
prepare_plans(void)
{
	mk_spi_plan(&plan_add,
				 "UPDATE mekatek.room_occupancy SET entered = entered + $2, exited = exited + $3, "
				 "inside = inside + $2 - $3, updated_at = now() "
				 "WHERE room_id = $1 AND inside + $4 >= 0 "
				 "RETURNING inside, (SELECT capacity FROM mekatek.room r WHERE r.room_id = $1)",
				 4, (Oid[]) {TEXTOID, INT8OID, INT8OID, INT8OID});
	mk_spi_plan(&plan_lock,
				 "SELECT o.inside, r.capacity FROM mekatek.room_occupancy o "
				 "LEFT JOIN mekatek.room r ON r.room_id = o.room_id "
				 "WHERE o.room_id = $1 FOR UPDATE OF o",
				 1, (Oid[]) {TEXTOID});
	mk_spi_plan(&plan_create,
				 "INSERT INTO mekatek.room_occupancy(room_id) VALUES ($1) ON CONFLICT DO NOTHING",
				 1, (Oid[]) {TEXTOID});
	mk_spi_plan(&plan_write,
				 "UPDATE mekatek.room_occupancy SET entered = entered + $2, exited = exited + $3, "
				 "miscounted = miscounted + $4, inside = $5, updated_at = now() WHERE room_id = $1",
				 5, (Oid[]) {TEXTOID, INT8OID, INT8OID, INT8OID, INT4OID});
	mk_spi_plan(&plan_miscount,
				 "UPDATE mekatek.visitor_event SET miscount = $2 WHERE event_no = $1",
				 2, (Oid[]) {INT8OID, INT4OID});
	mk_spi_plan(&plan_alert,
				 "INSERT INTO mekatek.capacity_alert(room_id, state, inside, capacity, at, event_no) "
				 "VALUES ($1, $2, $3, $4, $5, $6)",
				 6, (Oid[]) {TEXTOID, TEXTOID, INT4OID, INT4OID, TIMESTAMPTZOID, INT8OID});
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
	set->count++;
	return set->slots[i];
}

static int
room_cmp(const void *a, const void *b)
{
	return strcmp((*(Room *const *) a)->room_id, (*(Room *const *) b)->room_id);
}

static void
events_rewind(Events *ev)
{
	mk_transition_rewind(&ev->t);
}

static bool
events_next(Events *ev)
{
	return mk_transition_next(&ev->t);
}

static char *
event_room(Events *ev)
{
	bool		isnull;

	return TextDatumGetCString(slot_getattr(ev->slot, ev->a_room, &isnull));
}

/* One event, in insertion order, against the room's replayed level. */
static void
room_apply(Room *room, Events *ev)
{
	bool		isnull;
	int64		event_no = DatumGetInt64(slot_getattr(ev->slot, ev->a_event_no, &isnull));
	bool		in = strcmp(TextDatumGetCString(slot_getattr(ev->slot, ev->a_direction, &isnull)), "in") == 0;
	int32		n = DatumGetInt32(slot_getattr(ev->slot, ev->a_n, &isnull));
	int64		before = room->inside;

	if (in)
		room->inside += n;
	else if (n > room->inside)
	{
		Datum		a[2] = {Int64GetDatum(event_no), Int32GetDatum((int32) (n - room->inside))};

		room->miscounted += n - room->inside;
		room->inside = 0;
		mk_spi_execute_plan(plan_miscount, a, NULL, false, 0, SPI_OK_UPDATE, "visitor_event_apply: miscount update");
	}
	else
		room->inside -= n;

	if (!room->nocap && (before < room->capacity) != (room->inside < room->capacity))
	{
		const char *state = room->inside >= room->capacity ? "full" : "below";
		TimestampTz at = DatumGetTimestampTz(slot_getattr(ev->slot, ev->a_seen_at, &isnull));
		Datum		a[6];
		MkPayload	p;

		a[0] = CStringGetTextDatum(room->room_id);
		a[1] = CStringGetTextDatum(state);
		a[2] = Int32GetDatum((int32) Min(room->inside, PG_INT32_MAX));
		a[3] = Int32GetDatum(room->capacity);
		a[4] = TimestampTzGetDatum(at);
		a[5] = Int64GetDatum(event_no);
		mk_spi_execute_plan(plan_alert, a, NULL, false, 0, SPI_OK_INSERT, "visitor_event_apply: alert insert");

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

/* Replay the room's events from its level before the statement. */
static void
room_replay(Room *room, Events *ev)
{
	events_rewind(ev);
	while (events_next(ev))
	{
		char	   *r = event_room(ev);

		if (strcmp(r, room->room_id) == 0)
			room_apply(room, ev);
		pfree(r);
	}
}

static void
read_level(Room *room)
{
	bool		isnull;

	room->inside = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	room->capacity = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &room->nocap));
	SPI_freetuptable(SPI_tuptable);
}

static void
room_settle(Room *room, Events *ev)
{
	Datum		a[5];

	a[0] = CStringGetTextDatum(room->room_id);
	a[1] = Int64GetDatum(room->entered);
	a[2] = Int64GetDatum(room->exited);
	a[3] = Int64GetDatum(room->low);

	/* 2. The common case: one UPDATE, no 'out' finds the room too empty. */
	mk_spi_execute_plan(plan_add, a, NULL, false, 0, SPI_OK_UPDATE_RETURNING, "visitor_event_apply: occupancy update");
	if (SPI_processed == 1)
	{
		read_level(room);
		room->inside -= room->sum;	/* the level before this statement */
		/* 3. Replay only when a crossing is possible. */
		if (!room->nocap && room->inside + room->low < room->capacity &&
			room->inside + room->high >= room->capacity)
			room_replay(room, ev);
		return;
	}
	SPI_freetuptable(SPI_tuptable);

	/* 4. Lock (creating the row for a room's first events), replay, write. */
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
	read_level(room);
	room_replay(room, ev);
	if (room->inside > PG_INT32_MAX)
		mk_error(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, NULL,
				 "room \"%s\" would have more than %d visitors inside", room->room_id, PG_INT32_MAX);
	a[3] = Int64GetDatum(room->miscounted);
	a[4] = Int32GetDatum((int32) room->inside);
	mk_spi_execute_plan(plan_write, a, NULL, false, 0, SPI_OK_UPDATE, "visitor_event_apply: occupancy write");
}

Datum
mk_visitor_event_apply(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Events		ev;
	RoomSet		set;
	Room	  **rooms;
	int			nrooms = 0;

	if (!mk_transition_open(&ev.t, fcinfo, "visitor_event_apply"))
		return PointerGetDatum(NULL);
	ev.slot = ev.t.slot;
	ev.a_event_no = mk_trigger_column(td, "event_no", INT8OID, true);
	ev.a_room = mk_trigger_column(td, "room_id", TEXTOID, true);
	ev.a_direction = mk_trigger_column(td, "direction", TEXTOID, true);
	ev.a_n = mk_trigger_column(td, "n", INT4OID, true);
	ev.a_seen_at = mk_trigger_column(td, "seen_at", TIMESTAMPTZOID, true);

	/* 1. Sums and running extremes per room. */
	set.size = 8;
	set.count = 0;
	set.slots = palloc0(sizeof(Room *) * set.size);
	events_rewind(&ev);
	while (events_next(&ev))
	{
		bool		isnull;
		char	   *r = event_room(&ev);
		Room	   *room = roomset_get(&set, r);
		int32		n = DatumGetInt32(slot_getattr(ev.slot, ev.a_n, &isnull));

		if (strcmp(TextDatumGetCString(slot_getattr(ev.slot, ev.a_direction, &isnull)), "in") == 0)
		{
			room->entered += n;
			room->sum += n;
		}
		else
		{
			room->exited += n;
			room->sum -= n;
		}
		room->low = Min(room->low, room->sum);
		room->high = Max(room->high, room->sum);
		pfree(r);
	}

	rooms = palloc(sizeof(Room *) * Max(set.count, 1));
	for (int i = 0; i < set.size; i++)
		if (set.slots[i])
			rooms[nrooms++] = set.slots[i];
	qsort(rooms, nrooms, sizeof(Room *), room_cmp);

	SPI_connect();
	prepare_plans();
	for (int i = 0; i < nrooms; i++)
		room_settle(rooms[i], &ev);
	SPI_finish();

	mk_transition_close(&ev.t);
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
