/*
 * settings.c: the pos module's settings (mk_pos_init, called from _PG_init).
 *
 * The till's settings are PGC_SUSET: a cashier must not raise its own
 * discount limit or return window with SET.  A DBA sets them in
 * postgresql.conf, ALTER SYSTEM or ALTER DATABASE.
 */
#include "pos/pos.h"

#include <math.h>

#include "catalog/namespace.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

/* Read by the stock_alert view through current_setting(). */
static int	expiry_warning_days = 90;

double		pos_ppn_rate = 11.0;
double		pos_max_cashier_discount = 10.0;
int			pos_return_days = 7;

bool
pos_till_schema(void)
{
	Oid			nsp = get_namespace_oid("mekatek", true);

	return OidIsValid(nsp) && OidIsValid(get_relname_relid("payment", nsp));
}

bool
pos_till_columns(TriggerData *td)
{
	return SPI_fnumber(RelationGetDescr(td->tg_relation), "tax_included") > 0;
}

int32
pos_ppn_rate_bp(void)
{
	return (int32) rint(pos_ppn_rate * 100);
}

void
mk_pos_init(void)
{
	DefineCustomIntVariable("mekatek.expiry_warning_days",
							"Days before expiry at which mekatek.stock_alert lists a batch as expiring.",
							NULL, &expiry_warning_days, 90, 0, 3650, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("mekatek.ppn_rate",
							 "PPN (VAT) rate in percent for products without a tax class.",
							 "Products whose tax_class names a row of mekatek.tax_class pay that rate.",
							 &pos_ppn_rate, 11.0, 0.0, 99.99, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("mekatek.max_cashier_discount",
							 "Largest discount, in percent of a line's price, a cashier may give without an admin.",
							 NULL, &pos_max_cashier_discount, 10.0, 0.0, 100.0, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mekatek.return_days",
							"Days after a sale within which a cashier may take a return at its branch (an admin: always).",
							NULL, &pos_return_days, 7, 0, 3650, PGC_SUSET, 0, NULL, NULL, NULL);
}
