/*
 * settings.c: the pos module's settings (mk_pos_init, called from _PG_init).
 */
#include "core/mekatek.h"

#include "utils/guc.h"

/* Read by the stock_alert view through current_setting(). */
static int	expiry_warning_days = 90;

void
mk_pos_init(void)
{
	DefineCustomIntVariable("mekatek.expiry_warning_days",
							"Days before expiry at which mekatek.stock_alert lists a batch as expiring.",
							NULL, &expiry_warning_days, 90, 0, 3650, PGC_USERSET, 0, NULL, NULL, NULL);
}
