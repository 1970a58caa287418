/*
 * direct.h: what direct.c looks up once per backend instead of once per
 * message (direct_cache.c), private to those two files.
 */
#ifndef LEDGER_DIRECT_H
#define LEDGER_DIRECT_H

#include "ledger/ledger.h"

#include "nodes/execnodes.h"

#define LK_MAXCOLS 16

/* The tables a plain sale or payment writes, in direct.c's order. */
enum
{
	LK_W_GROUP, LK_W_ENTRY, LK_W_OUTBOX, LK_W_MESSAGE, LK_NWRITE
};

/* The tables the lookup reads, each through one index. */
enum
{
	LK_R_MESSAGE, LK_R_USER, LK_R_USER_ROLE, LK_R_ROLE_PERM, LK_R_GROUP, LK_NREAD
};

/* The columns of each written table, in lk_write_cols' order. */
enum
{
	G_GROUP_ID, G_NAME, G_BUYER, G_AUTOCHARGE, G_UNPAID
};
enum
{
	E_ID, E_GROUP_ID, E_KIND, E_AMOUNT, E_PAID_SIDE, E_QTY, E_PRICE, E_NOTE, E_REVERSES, E_SENDER,
	E_SOURCE, E_MESSAGE_ID, E_ROOT, E_BOOKED_AT
};
enum
{
	O_ID, O_CHANNEL, O_PAYLOAD, O_CREATED, O_CLAIMED_AT, O_DELIVERED_AT, O_ATTEMPTS
};
enum
{
	M_SOURCE, M_MESSAGE_ID, M_REVOKED, M_GROUP_ID, M_SENDER, M_SENT_AT, M_BODY, M_EDITED_OF,
	M_QUOTED_ID, M_RECEIVED_AT, M_OUTCOME, M_REPLY, M_UNPAID
};

/* A partial index's predicate, prepared once (ExecInsertIndexTuples would per statement). */
typedef struct lk_pred
{
	Oid			index;
	ExprState  *state;
} lk_pred;

typedef struct lk_wrel
{
	Oid			relid;
	bool		usable;			/* every column ours, no row security, no statement trigger */
	int			att[LK_MAXCOLS];	/* 0-based attribute of the file's i-th column */
	/*
	 * The CHECK constraints prepared as ExecRelCheck prepares them, in the
	 * relcache's order: for an insert, and for an update of the balance
	 * (the group), where a NULL entry is one that cannot change its
	 * answer (see direct_cache.c).  NULL when the table has none.
	 */
	int			ncheck;
	ExprState **insert_checks;
	ExprState **update_checks;
	int			npred;
	lk_pred    *preds;
} lk_wrel;

typedef struct lk_rrel
{
	Oid			relid;
	Oid			index;			/* primary key, or the one-column unique index of LK_USER_PHONE */
	bool		usable;			/* no row security, the index exists */
} lk_rrel;

/*
 * The cache, copied to the caller (a nested call may rebuild the shared
 * one while an outer call is still using its copy; the expressions a copy
 * points to live until the end of the transaction, see direct_cache.c).
 */
typedef struct lk_dcache
{
	uint64		generation;
	Oid			nsp;
	lk_wrel		w[LK_NWRITE];
	lk_rrel		r[LK_NREAD];
	Oid			entry_seq;
	Oid			outbox_seq;
	Oid			outbox_pending;
	Datum		kind_sale;
	Datum		kind_payment;
	/* column numbers (1-based) the lookup reads */
	AttrNumber	usr_user_id,
				usr_name,
				ur_role,
				rp_own,
				grp_name,
				grp_buyer,
				grp_unpaid,
				grp_deleted,
				msg_reply,
				msg_unpaid;
} lk_dcache;

/* The columns direct.c fills, per table (all of them: see direct.c). */
extern const char *const *const lk_write_cols[LK_NWRITE];
extern const char *const lk_write_names[LK_NWRITE];

/* A current copy of the cache in *out (built if needed); false: use the statements. */
extern bool lk_dcache_get(lk_dcache *out);
/* Whether a copy is still current: ask again after taking the tables' locks. */
extern bool lk_dcache_current(const lk_dcache *c);

#endif							/* LEDGER_DIRECT_H */
