/*
 * settings.c: the basket module's settings (mk_basket_init, called from _PG_init).
 */
#include "core/mekatek.h"

#include "utils/guc.h"
#include "basket/engine.h"

void
mk_basket_init(void)
{
	/*
	 * 512MB: retail.dat copied to 5,000,000 baskets (51M items) mines at
	 * min_support 0.001 in a 338 MB peak (Borgelt's fpgrowth: 429 MB RSS),
	 * which 256MB refused; a run holds it only while it mines.
	 */
	DefineCustomIntVariable("mekatek.basket_work_mem",
							"Memory one basket mining run may use.",
							"Past it, mining stops with an error naming the bytes it needed.",
							&mk_basket_work_mem,
							512 * 1024, 1024, MAX_KILOBYTES,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
}
