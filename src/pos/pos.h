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

/*
 * The movements of sale lines (reason 'sale'), many in one statement; the
 * caller holds the batches' row locks.  Inside SPI.
 */
extern void pos_ledger_apply_sales(int n, const int64 *batch_ids, const int32 *deltas,
								   const int64 *sale_ids, const int32 *line_nos);

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

/*
 * While pos_checkout_branch_known: that sale's branch and the branch's
 * date now, which checkout() has read already (the stock trigger need not
 * look them up again).
 */
extern bool pos_checkout_branch_known;
extern int32 pos_checkout_branch_id;
extern DateADT pos_checkout_today;

/*
 * What checkout() needs to write its sale's receipt itself instead of
 * reading it back (the receipt query was a seventh of a sale's CPU and ran
 * while the branch's receipt counter row was locked): while collect is
 * set, the stock trigger records the lots each line of
 * pos_checkout_sale_id took, and the guard trigger the sale's row as it
 * becomes paid, in cxt.  Anything unexpected leaves sale NULL, and
 * checkout() reads the receipt back as before.
 */
typedef struct PosCheckoutLot
{
	int32		line_no;
	int64		batch_id;
	char	   *lot;
	DateADT		expires_on;
	int32		qty;
} PosCheckoutLot;

typedef struct PosCheckoutCapture
{
	bool		collect;
	MemoryContext cxt;
	int			nlots, cap;
	PosCheckoutLot *lots;
	HeapTuple	sale;			/* the paid row, as stored */
	TupleDesc	desc;
} PosCheckoutCapture;

extern PosCheckoutCapture pos_checkout_capture;

/*
 * The till's own SQLSTATEs (README "pos: errors"), in the standard classes
 * so that a handler of class 23 still catches them: an application tests
 * for exactly these.
 */
#define POS_ERRCODE_INSUFFICIENT_STOCK	MAKE_SQLSTATE('2','3','M','0','1')
#define POS_ERRCODE_UNDERPAID			MAKE_SQLSTATE('2','3','M','0','2')
#define POS_ERRCODE_OVERPAID			MAKE_SQLSTATE('2','3','M','0','3')
#define POS_ERRCODE_RETURN_EXCEEDS		MAKE_SQLSTATE('2','3','M','0','4')

/*
 * The new library runs on 0.1.0's tables until ALTER EXTENSION mekatek
 * UPDATE (the upgrade test does exactly that): the till's code paths test
 * for the till's tables or columns and fall back to 0.1.0's behaviour
 * (settings.c).
 */
extern bool pos_till_schema(void);
extern bool pos_till_columns(TriggerData *td);

/* Settings (settings.c). */
extern double pos_ppn_rate;			/* mekatek.ppn_rate, percent */
extern double pos_max_cashier_discount; /* mekatek.max_cashier_discount, percent */
extern int	pos_return_days;		/* mekatek.return_days */
extern int32 pos_ppn_rate_bp(void);		/* mekatek.ppn_rate in basis points */

/*
 * Money (tax.c).  Amounts are int64 cents (hundredths of a rupiah) inside
 * C, numeric(14,2) in tables.  Discounts and PPN are rounded to whole
 * rupiah, half up, per line; see README "PPN".
 */
typedef struct PosLineMoney
{
	int64		gross;			/* unit_price * qty */
	int64		net;			/* gross - discount - sale_discount */
	int64		dpp;			/* tax base */
	int64		ppn;
	int64		amount;			/* what the customer pays for the line */
} PosLineMoney;

extern int64 pos_numeric_cents(Datum numeric, const char *what);
extern Datum pos_cents_numeric(int64 cents);
/* A rate in basis points (11.00% = 1100) from a numeric percent. */
extern int32 pos_rate_bp(Datum numeric);
extern void pos_line_money(int64 unit_price, int32 qty, int64 discount, int64 sale_discount,
						   int32 rate_bp, bool included, PosLineMoney *m);
/* cents * bp / 10000, rounded half up to whole rupiah (a multiple of 100). */
extern int64 pos_percent_rupiah(int64 cents, int64 bp);
/* "Rp 49.000", "-Rp 1.500,50" */
extern char *pos_rupiah(int64 cents);

/*
 * Staff (staff.c): 42501 with this module's message unless the acting role
 * may sell at branch_id (admins anywhere).  pos_checkout_staff_checked:
 * checkout() has checked already, for the sale it inserts.
 */
extern void pos_staff_check(int32 branch_id, bool on_staff, bool no_branch, int32 staff_branch);
extern bool pos_checkout_staff_checked;

/* Payments (payment.c): one of the methods payment.method allows. */
extern bool pos_payment_method_known(const char *method);
#define POS_METHODS_HINT "The methods are cash, debit_card, credit_card, qris, bank_transfer and store_credit."

/* Set by return_line() while it inserts its refund (payment.c). */
extern bool pos_refund_in_progress;

/* Discounts (discount.c). */
extern void pos_check_discount_limit(int64 sale_id, int32 line_no, int64 gross, int64 discount);

/* Receipts (receipt.c): the next receipt number of a branch's day. */
extern char *pos_next_receipt_no(int32 branch_id, TimestampTz sold_at);
/* Raise 23503 unless the acting role may see the sale (its row security); inside SPI. */
extern void pos_check_sale_visible(int64 sale_id);
/* The receipt jsonb of a sale, copied into `into`; inside SPI. */
extern Datum pos_receipt_jsonb(int64 sale_id, MemoryContext into);

#endif							/* MEKATEK_POS_H */
