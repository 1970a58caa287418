/*
 * devices.h: what the device modules (lab_rfid.c, room_occupancy.c,
 * door_access.c) share: RFID UID parsing and the settings they read
 * (settings.c).
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

#endif							/* MEKATEK_DEVICES_H */
