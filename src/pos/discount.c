/*
 * discount.c: the cashier's discount limit.
 *
 * A line's discounts (its own and its share of the sale's) may not exceed
 * mekatek.max_cashier_discount percent of the line's price unless the
 * acting role is an admin.  The check is in the line trigger, so it holds
 * for checkout() and for lines inserted by hand alike; the amounts are
 * computed in the database (checkout turns a percent into rupiah), never
 * taken from the client's totals.  Who gave a discount is the sale's
 * cashier, and every discounted line is written to the audit log
 * (sale.c).
 */
#include "pos/pos.h"

void
pos_check_discount_limit(int64 sale_id, int32 line_no, int64 gross, int64 discount)
{
	/* discount * 100 / gross > limit, in 128 bits (cents * percent) */
	if (discount <= 0)
		return;
	if ((__int128) discount * 10000 > (__int128) gross * (int64) (pos_max_cashier_discount * 100 + 0.5) &&
		!mk_acting_is_admin())
		mk_error(ERRCODE_INSUFFICIENT_PRIVILEGE,
				 "A cashier may give at most mekatek.max_cashier_discount percent; ask a member of mekatek_admin.",
				 "a discount of %s on line %d of sale " INT64_FORMAT " is more than %g%% of its price %s",
				 pos_rupiah(discount), line_no, sale_id, pos_max_cashier_discount, pos_rupiah(gross));
}
