/*
 * settings.c: the devices module's settings (mk_devices_init, called from _PG_init).
 */
#include "core/mekatek.h"

#include "pgtime.h"
#include "utils/guc.h"
#include "devices/devices.h"

int			mk_rfid_debounce_ms = 3000;
int			mk_device_time_ahead_s = 3600;
int			mk_device_time_behind_s = 3650 * 86400;
int			mk_event_lateness_ms = 5 * 60 * 1000;
static char *mk_device_time_zone = NULL;
static int	mk_device_raw_retention_s = 0;

/* A zone PostgreSQL knows, so that every rollup row is bucketed alike. */
static bool
check_device_time_zone(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || **newval == '\0' || pg_tzset(*newval) == NULL)
	{
		GUC_check_errdetail("Time zone \"%s\" is unknown.", *newval ? *newval : "");
		return false;
	}
	return true;
}

const char *
mk_device_rollup_zone(void)
{
	return mk_device_time_zone && *mk_device_time_zone ? mk_device_time_zone : "UTC";
}

/* 0, or at least a day: never inside mekatek.event_lateness (at most 24 h). */
static bool
check_raw_retention(int *newval, void **extra, GucSource source)
{
	if (*newval != 0 && *newval < 86400)
	{
		GUC_check_errdetail("Raw events are kept at least one day (or 0: forever).");
		return false;
	}
	return true;
}

void
mk_devices_init(void)
{
	/*
	 * SUSET, all of them: a device session must not be able to turn
	 * debouncing off for itself and advance a tag twice, nor widen the
	 * windows that keep its events from moving state.
	 */
	DefineCustomIntVariable("mekatek.rfid_debounce",
							"Repeated reads of one RFID tag closer than this count once.",
							"Measured on rfid_scan.scanned_at; 0 turns debouncing off.",
							&mk_rfid_debounce_ms,
							3000, 0, 3600 * 1000,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("mekatek.device_time_ahead",
							"How far ahead of the server's clock a device's event time may be.",
							"Events stamped later (or infinity) are kept, flagged bad_time, and move no state.",
							&mk_device_time_ahead_s,
							3600, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	/*
	 * Ten years back by default: far enough for an edge client's spool and
	 * for back-filled history, near enough to catch a microcontroller whose
	 * clock was never set (it reports 1970).
	 */
	DefineCustomIntVariable("mekatek.device_time_behind",
							"How far behind the server's clock a device's event time may be.",
							"Events stamped earlier (or -infinity) are kept, flagged bad_time, and move no state.",
							&mk_device_time_behind_s,
							3650 * 86400, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("mekatek.event_lateness",
							"How late (in event time) a camera event may arrive and still be placed where it belongs.",
							"An event older than the room's latest event by more than this is kept, flagged late, and moves no state.",
							&mk_event_lateness_ms,
							5 * 60 * 1000, 0, 24 * 3600 * 1000,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomStringVariable("mekatek.device_time_zone",
							   "Time zone of the device rollups' hours and days.",
							   "An IANA name; changing it buckets only the events that arrive afterwards.",
							   &mk_device_time_zone,
							   "UTC",
							   PGC_SUSET, 0,
							   check_device_time_zone, NULL, NULL);
	DefineCustomIntVariable("mekatek.device_raw_retention",
							"How long raw device events are kept once the rollups hold them.",
							"Applied by mekatek.device_apply_retention(); 0 keeps them forever.",
							&mk_device_raw_retention_s,
							0, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							check_raw_retention, NULL, NULL);
}
