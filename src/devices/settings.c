/*
 * settings.c: the devices module's settings (mk_devices_init, called from _PG_init).
 */
#include "core/mekatek.h"

#include "utils/guc.h"
#include "devices/devices.h"

int			mk_rfid_debounce_ms = 3000;
int			mk_device_time_ahead_s = 3600;
int			mk_device_time_behind_s = 3650 * 86400;
int			mk_event_lateness_ms = 5 * 60 * 1000;

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
}
