/*
 * devices.h: what the device modules (lab_rfid.c, room_occupancy.c,
 * door_access.c) share: RFID UID parsing, the JSON payloads of their
 * notifications and the settings they read.
 */
#ifndef MEKATEK_DEVICES_H
#define MEKATEK_DEVICES_H

#include "mekatek.h"

#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "lib/stringinfo.h"
#include "utils/tuplestore.h"
#include "utils/timestamp.h"

/* mekatek.rfid_debounce, in milliseconds. */
extern int	mk_rfid_debounce_ms;

/*
 * Normalise an RFID UID: separators (space, ':' and '-') between hex digits
 * are dropped, letters are upper-cased, and the result must be 4, 7 or 10
 * bytes (8, 14 or 20 hex digits).  Returns a palloc'd string, or NULL when
 * the text is no UID.
 */
extern char *mk_uid_normalise(const char *raw);

/* Same, raising 22P02 naming the value (argname says which argument). */
extern char *mk_uid_parse(const char *raw, const char *argname);

/*
 * Notification payloads are small JSON objects.  String members are clipped
 * (at a character boundary) so that a payload never exceeds NOTIFY's 8000
 * byte limit, whatever a device sends; the row in the table keeps the full
 * value, and a clipped member is marked by "truncated": true.
 */
typedef struct MkPayload
{
	StringInfoData buf;
	bool		truncated;
} MkPayload;

extern void mk_payload_begin(MkPayload *p);
extern void mk_payload_str(MkPayload *p, const char *key, const char *value);
extern void mk_payload_int(MkPayload *p, const char *key, int64 value);
extern void mk_payload_time(MkPayload *p, const char *key, TimestampTz value);
/* Close the object and queue NOTIFY channel (sent at commit, if any). */
extern void mk_payload_notify(MkPayload *p, const char *channel);

/*
 * The attribute number of a trigger relation's column, checked: it must
 * exist with the given type and, when not_null, be declared NOT NULL (so
 * that the trigger may read it without a NULL check).  A trigger function
 * attached to the wrong table gets an ERROR, never a misread datum.
 */
extern AttrNumber mk_trigger_column(TriggerData *td, const char *name, Oid type, bool not_null);

/*
 * The inserted rows of an AFTER INSERT ... FOR EACH STATEMENT trigger with
 * REFERENCING NEW TABLE, read straight from the transition tuplestore with
 * a read pointer of our own (as a NamedTuplestoreScan takes one), so the
 * rows can be read several times.  mk_transition_open raises 39P01 when
 * the trigger is not declared that way and returns false when the
 * statement inserted no row.
 */
typedef struct MkTransition
{
	Tuplestorestate *store;
	int			readptr;
	TupleTableSlot *slot;
} MkTransition;

extern bool mk_transition_open(MkTransition *t, FunctionCallInfo fcinfo, const char *funcname);
extern void mk_transition_rewind(MkTransition *t);
extern bool mk_transition_next(MkTransition *t);
extern void mk_transition_close(MkTransition *t);

/* Raise 39P01-style misuse errors when a trigger function is called wrongly. */
extern void mk_trigger_check(FunctionCallInfo fcinfo, const char *funcname,
							 bool after, bool insert_only);

#endif							/* MEKATEK_DEVICES_H */
