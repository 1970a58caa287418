/*
 * settings.c: the devices module's settings (mk_devices_init, called from _PG_init).
 */
#include "core/mekatek.h"

#include "utils/guc.h"
#include "devices/devices.h"

int			mk_rfid_debounce_ms = 3000;

void
mk_devices_init(void)
{
	/*
	 * SUSET: a device session must not be able to turn debouncing off for
	 * itself and advance a tag twice.
	 */
	DefineCustomIntVariable("mekatek.rfid_debounce",
							"Repeated reads of one RFID tag closer than this count once.",
							"Measured on rfid_scan.scanned_at; 0 turns debouncing off.",
							&mk_rfid_debounce_ms,
							3000, 0, 3600 * 1000,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
}
