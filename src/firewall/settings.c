/*
 * settings.c: the firewall module's settings (mk_firewall_init, called from _PG_init).
 */
#include "core/mekatek.h"

#include "utils/guc.h"
#include "firewall/firewall.h"

int			fw_log_year = 0;
bool		fw_parse_strict = true;

void
mk_firewall_init(void)
{
	DefineCustomIntVariable("mekatek.fw_log_year",
							"Year for classic syslog headers, which print none (0: the year the transaction started in, or the year before for a date more than a day after that start).",
							NULL, &fw_log_year, 0, 0, 9999,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("mekatek.fw_parse_strict",
							 "When off, mekatek.fw_parse returns NULL for a line that is not a LOG line instead of raising an error.",
							 NULL, &fw_parse_strict, true,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	mk_fw_alert_init();
	mk_fw_log_directory_init();
	mk_fw_diff_init();
	mk_fw_anomalies_init();
}
