/*
 * devices.h: what the device modules (lab_rfid.c, room_occupancy.c,
 * door_access.c) share: RFID UID parsing, the JSON payloads of their
 * notifications and the settings they read.
 */
#ifndef MEKATEK_DEVICES_H
#define MEKATEK_DEVICES_H

#include "core/mekatek.h"

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

#endif							/* MEKATEK_DEVICES_H */
