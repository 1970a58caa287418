/*
 * pos.h: what the pharmacy cashier's C files share.
 */
#ifndef MEKATEK_POS_H
#define MEKATEK_POS_H

#include "core/mekatek.h"

/*
 * The one writer of stock: adds delta to a batch's qty_on_hand and appends
 * the matching stock_movement row in one statement, so that qty_on_hand
 * always equals the sum of the batch's ledger.  sale_id and line_no may be
 * 0 (NULL), note NULL.  The caller holds the batch row lock or takes it
 * here.  Returns the movement_id.  Must run inside SPI.
 */
extern int64 pos_ledger_apply(int64 batch_id, int32 delta, const char *reason,
							  int64 sale_id, int32 line_no, const char *note);

/*
 * The sale whose lines checkout() is inserting right now (0 when none).
 * checkout() has already checked that sale and each line's product and
 * price, so the row trigger skips its own lookup for exactly those rows.
 */
extern int64 pos_checkout_sale_id;

#endif							/* MEKATEK_POS_H */
