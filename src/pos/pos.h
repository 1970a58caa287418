/*
 * pos.h: what the pharmacy cashier's C files share.
 */
#ifndef MEKATEK_POS_H
#define MEKATEK_POS_H

#include "core/mekatek.h"
#include "utils/date.h"

/*
 * The one writer of stock: adds delta to a batch's qty_on_hand and appends
 * the matching stock_movement row in one statement, so that qty_on_hand
 * always equals the sum of the batch's ledger.  sale_id and line_no may be
 * 0 (NULL), note NULL.  The caller holds the batch row lock or takes it
 * here.  Returns the movement_id.  Must run inside SPI.
 */
extern int64 pos_ledger_apply(int64 batch_id, int32 delta, const char *reason,
							  int64 sale_id, int32 line_no, const char *note);

/* The documents whose movements name them (stock_movement's column). */
typedef enum PosLedgerDoc
{
	POS_DOC_TRANSFER = 0,		/* transfer_id */
	POS_DOC_COUNT = 1			/* count_id */
} PosLedgerDoc;

extern int64 pos_ledger_apply_doc(int64 batch_id, int32 delta, const char *reason, PosLedgerDoc doc,
								  int64 doc_id, const char *note);

/*
 * Shared by the ways stock arrives (stock_ledger.c); all inside SPI but the
 * first.  pos_batch_upsert's branch_id 0 means 0.1.0's schema.
 */
extern void pos_check_lot_arrival(DateADT expires_on, DateADT today, const char *lot,
								  Datum unit_cost, bool cost_null);
extern int32 pos_branch_resolve(bool given, int32 branch_id, DateADT *today);
extern int64 pos_batch_upsert(int32 branch_id, int64 product_id, const char *sku, const char *lot,
							  DateADT expires_on, Datum unit_cost, bool cost_null);
extern int64 pos_product_by_sku(const char *sku);
/* False on a 0.1.0 schema not yet updated (no batch.branch_id); see stock_ledger.c. */
extern bool pos_schema_has_branches(void);

/*
 * The sale whose lines checkout() is inserting right now (0 when none).
 * checkout() has already checked that sale and each line's product and
 * price, so the row trigger skips its own lookup for exactly those rows.
 */
extern int64 pos_checkout_sale_id;

#endif							/* MEKATEK_POS_H */
