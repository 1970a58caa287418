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
#include "utils/date.h"
#include "utils/timestamp.h"

/* mekatek.rfid_debounce, in milliseconds. */
extern int	mk_rfid_debounce_ms;
/* mekatek.device_time_ahead / _behind, in seconds; mekatek.event_lateness, ms. */
extern int	mk_device_time_ahead_s;
extern int	mk_device_time_behind_s;
extern int	mk_event_lateness_ms;

/*
 * Bounds on every text a device sends, the same as the tables' CHECK
 * constraints (devices.sql): names of doors, scanners, labs, cameras and
 * rooms; event ids (the edge client makes ids up to 149 characters); a UID
 * as sent (the longest valid one, 10 bytes with separators, is 29); lab
 * item codes and the counter's other fields.
 */
#define MK_DEVICE_NAME_MAX	64
#define MK_EVENT_ID_MAX		150
#define MK_UID_TEXT_MAX		64
#define MK_ITEM_CODE_MAX	64
#define MK_ITEM_TEXT_MAX	200

/*
 * At most max bytes of a text datum (cut on a character boundary), read
 * through a slice so that a megabyte argument is never detoasted whole;
 * *clipped says whether the text was longer.
 */
extern char *mk_text_prefix(Datum value, int max, bool *clipped);

/*
 * A text argument of at most max bytes: 22004 when NULL, 22023 when empty
 * (unless allow_empty), 22001 naming the argument, its length and a short
 * quoted prefix when longer.
 */
extern char *mk_device_arg(FunctionCallInfo fcinfo, int argno, const char *argname,
						   int max, bool allow_empty);

/*
 * Whether a device's clock reading is believable: finite and within
 * mekatek.device_time_behind before and mekatek.device_time_ahead after
 * the server's clock (the transaction's start).  An event outside is kept
 * and flagged bad_time, and moves no state.
 */
extern bool mk_device_time_ok(TimestampTz at);

/*
 * Whether the installed tables are 0.2.0's (visitor_event has its flag
 * column), not 0.1.0's still waiting for ALTER EXTENSION mekatek UPDATE.
 */
extern bool mk_devices_schema_0_2(void);

/*
 * Normalise an RFID UID: separators (space, ':' and '-') between hex digits
 * are dropped, letters are upper-cased, and the result must be 4, 7 or 10
 * bytes (8, 14 or 20 hex digits).  Returns a palloc'd string, or NULL when
 * the text is no UID.
 */
extern char *mk_uid_normalise(const char *raw);

/* Same, raising 22P02 naming the value (argname says which argument). */
extern char *mk_uid_parse(const char *raw, const char *argname);

/* mekatek.device_time_zone: the zone of the rollups' hours and days. */
extern const char *mk_device_rollup_zone(void);

/*
 * A statement's rollup counts (rollup.c), summed per (room or lab, hour)
 * by the apply triggers: mk_rollup_add for each inserted row as it ends
 * up (entered/exited count only when not flagged; a scan passes 0, 0),
 * then mk_rollup_write, one INSERT into visitor_rollup_pending (visitor)
 * or rfid_rollup_pending, inside the trigger's SPI connection.
 */
typedef struct MkRollupRow
{
	const char *key;			/* room_id or lab, not copied */
	TimestampTz hour;
	DateADT		day;
	int64		entered,
				exited,
				events,
				flagged;
} MkRollupRow;

typedef struct MkRollup
{
	bool		visitor;
	MkRollupRow *rows;
	int			n,
				cap;
	Datum		zone;			/* text */
	Datum		unit;			/* 'hour' */
	bool		have_last;
	TimestampTz last_at,
				last_hour;
	DateADT		last_day;
	int			calls;
	MemoryContext scratch;
} MkRollup;

extern void mk_rollup_begin(MkRollup *r, bool visitor);
extern void mk_rollup_add(MkRollup *r, const char *key, TimestampTz at, int64 entered,
						  int64 exited, bool flagged);
extern void mk_rollup_write(MkRollup *r);

/*
 * An UPDATE (SPI_OK_UPDATE expected) of visitor_event or rfid_scan rows
 * whose final counts the caller gives mk_rollup_add: the AFTER UPDATE
 * rollup trigger leaves it alone.  Returns the rows updated.
 */
extern uint64 mk_rollup_counted_update(SPIPlanPtr plan, Datum *args, const char *what);

#endif							/* MEKATEK_DEVICES_H */
