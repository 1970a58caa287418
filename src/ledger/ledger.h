/*
 * ledger.h: what the ledger's C files share (the pure-C parser is parse.h).
 */
#ifndef LEDGER_H
#define LEDGER_H

#include "core/mekatek.h"
#include "ledger/parse.h"

#include "lib/stringinfo.h"
#include "utils/timestamp.h"

extern char *mk_ledger_tz;

/* One message on its way through chat_ingest. */
typedef struct lk_msg
{
	text	   *source;
	text	   *message_id;
	text	   *group_id;
	char	   *sender;			/* normalised phone, or the raw id if it is none */
	bool		sender_is_phone;
	TimestampTz sent_at;
	text	   *body;
	text	   *edited_of;
	text	   *quoted_id;
	text	   *root;			/* the message an edit chain started with */
	bool		revoked;
	lk_cmd		cmd;

	/* the sender and the group, from one lookup */
	bool		known;
	char	   *user_name;
	bool		permitted;
	bool		own_only;
	bool		group_found;
	char	   *group_name;
	char	   *buyer_phone;
	int64		unpaid;

	/* the answer (reply lives in the caller's memory context) */
	const char *outcome;
	StringInfo	reply;
	bool		has_unpaid;
	const char *action;			/* extra payload key for the bot, e.g. tagall */

	/*
	 * A plain sale or payment is posted by the statement that stores the
	 * answer (ingest.c), one statement instead of two: the reply then
	 * ends with "Unpaid: " and the statement appends the new balance.
	 */
	struct
	{
		bool		pending;
		const char *kind;
		int64		amount;
		bool		paid_side;
		int32		qty;		/* 0: none (a payment) */
		int64		price;
	}			post;
} lk_msg;

/* SPI with kept plans: run a statement, returning SPI_processed. */
extern uint64 lk_run(SPIPlanPtr *slot, const char *sql, int nargs, const Oid *types,
					 Datum *values, const bool *isnull, long tcount);
extern char *lk_col_text(uint64 row, int col);	/* NULL for SQL NULL */
extern int64 lk_col_int64(uint64 row, int col, bool *isnull);
extern bool lk_col_bool(uint64 row, int col);
extern Datum lk_span_text(lk_span s);
extern void lk_amount_append(StringInfo buf, int64 v);

/*
 * direct.c: a plain sale or payment (m->post) written row by row; false,
 * having written nothing, where only the statement writes it exactly.
 */
extern bool lk_post_direct(lk_msg *m, bool *notify);
/* direct.c: the lookup of ingest.c's lookup_context by index; false where only it reads exactly */
extern bool lk_lookup_direct(lk_msg *m, const char *command);

/* books.c: entries, balances, settlements */
extern void lk_do_done(lk_msg *m, bool adjustment);
extern void lk_do_payment(lk_msg *m, bool adjustment);
extern int64 lk_reverse_root(lk_msg *m, text *root, bool same_sender_only, int *count);
extern void lk_do_cancel(lk_msg *m);
extern void lk_do_total(lk_msg *m);
extern void lk_do_totalall(lk_msg *m);
extern void lk_do_settle(lk_msg *m);
extern void lk_do_settleall(lk_msg *m);
extern void lk_do_report(lk_msg *m);
extern void lk_enqueue(text *group_id, const char *reply, lk_msg *m, const char *action);

/* admin.c: users, roles, groups and the small commands */
extern void lk_do_admin(lk_msg *m);

#endif							/* LEDGER_H */
