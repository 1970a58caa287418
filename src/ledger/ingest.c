/*
 * ingest.c: mekatek.chat_ingest, the one door of the ledger, and the
 * parser's SQL face (chat_parse, ledger_amount, ledger_format,
 * ledger_phone).
 *
 * Replay safety: chat_ingest first takes a transaction-level advisory
 * lock on the message's key (source, message_id, revoked), then looks the
 * key up in ledger_message in the same query that finds the sender and
 * the group.  A second delivery of the same message, even one arriving
 * while the first is still in progress, waits for the first transaction's
 * lock, then finds its row: it returns the stored answer and posts
 * nothing.  The message row, the reply in the outbox and the entries
 * commit or roll back together; the primary key of ledger_message stays
 * as the last guard.
 *
 * A sale or a payment is two steps: the lookup, then the group update
 * feeding the entry, the outbox row and the message row.  In READ
 * COMMITTED both go by rows (direct.c); otherwise, or when a table has
 * changed in a way direct.c does not write, they are two statements
 * (lookup_context, store_posting).  Other postings take the group update
 * feeding the entry (books.c) and then the answer.
 *
 * One NOTIFY per burst of replies, not per reply: PostgreSQL serialises
 * the commits of all notifying transactions on one lock, which capped
 * ingestion at the rate of that lock.  A reply notifies only when the
 * outbox holds no other unclaimed ledger reply (a deliverer is then due to
 * claim anyway), under the core's outbox fence (MK_OUTBOX_FENCE): held
 * shared from before the check until commit, taken exclusively by every
 * outbox_claim, so the claim that empties the outbox also takes the
 * replies of producers that relied on an earlier one.  Why nothing is
 * missed: if a reply waited unclaimed after a deliverer's last (empty)
 * claim, the earliest such reply found nothing unclaimed, so it notified.
 */
#include "ledger/ledger.h"

#include "access/htup_details.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"

/* The advisory lock class of message keys: "LEDG". */
#define LK_LOCK_CLASS 0x4C454447

/* ---------------------------------------------------------------- SPI helpers */

uint64
lk_run(SPIPlanPtr *slot, const char *sql, int nargs, const Oid *types,
	   Datum *values, const bool *isnull, long tcount)
{
	char		nulls[16];
	int			rc;
	int			pin;

	Assert(nargs <= 16);
	for (int i = 0; i < nargs; i++)
		nulls[i] = (isnull && isnull[i]) ? 'n' : ' ';
	/*
	 * Executed (and replanned) under MK_SEARCH_PATH, as the plan was made:
	 * chat_ingest has no SET clause (see ledger.sql), so the caller's path
	 * is in force until here.
	 */
	pin = mk_spi_pin_begin();
	rc = SPI_execute_plan(mk_spi_plan(slot, sql, nargs, types), values,
						  nargs > 0 ? nulls : NULL, false, tcount);
	mk_spi_pin_end(pin);
	if (rc < 0)
		elog(ERROR, "ledger: SPI_execute_plan failed (%s): %s", SPI_result_code_string(rc), sql);
	return SPI_processed;
}

char *
lk_col_text(uint64 row, int col)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
}

int64
lk_col_int64(uint64 row, int col, bool *isnull)
{
	bool		n;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &n);

	if (isnull)
		*isnull = n;
	return n ? 0 : DatumGetInt64(d);
}

bool
lk_col_bool(uint64 row, int col)
{
	bool		n;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &n);

	return !n && DatumGetBool(d);
}

Datum
lk_span_text(lk_span s)
{
	return PointerGetDatum(cstring_to_text_with_len(s.p, s.len));
}

void
lk_amount_append(StringInfo buf, int64 v)
{
	char		tmp[32];

	lk_format_amount(v, tmp);
	appendStringInfoString(buf, tmp);
}

/* ---------------------------------------------------------------- chat_ingest */

/* Commands that act on the group the message came from. */
static bool
group_scoped(lk_cmdid c)
{
	switch (c)
	{
		case LK_DONE:
		case LK_PAYMENT:
		case LK_CANCEL:
		case LK_TOTAL:
		case LK_SETTLE:
		case LK_GROUPEDIT:
		case LK_GROUPDELETE:
		case LK_TAGALL:
		case LK_AUTOCHARGE:
			return true;
		default:
			return false;
	}
}

/*
 * One lookup for everything a message needs: whether it was seen before
 * (and its answer), the sender's user and permission for the command, and
 * the group.
 */
static void
lookup_context(lk_msg *m, const char *command)
{
	static SPIPlanPtr plan;
	static const Oid types[] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, BOOLOID};
	Datum		v[6];

	v[0] = CStringGetTextDatum(m->sender);
	v[1] = CStringGetTextDatum(command);
	v[2] = PointerGetDatum(m->group_id);
	v[3] = PointerGetDatum(m->source);
	v[4] = PointerGetDatum(m->message_id);
	v[5] = BoolGetDatum(m->revoked);
	lk_run(&plan,
		   "SELECT u.user_id, u.name, p.own_only, g.name, g.buyer_phone, g.unpaid, d.seen, d.reply, d.unpaid"
		   "  FROM (SELECT) one"
		   "  LEFT JOIN LATERAL (SELECT true AS seen, lm.reply, lm.unpaid FROM mekatek.ledger_message lm"
		   "                      WHERE lm.source = $4 AND lm.message_id = $5 AND lm.revoked = $6) d ON true"
		   "  LEFT JOIN mekatek.ledger_user u ON u.phone = $1"
		   "  LEFT JOIN LATERAL (SELECT bool_and(rp.own_group_only) AS own_only"
		   "                       FROM mekatek.ledger_user_role ur"
		   "                       JOIN mekatek.ledger_role_permission rp ON rp.role_name = ur.role_name"
		   "                      WHERE ur.user_id = u.user_id AND rp.command = $2) p ON true"
		   "  LEFT JOIN mekatek.ledger_group g ON g.group_id = $3 AND g.deleted_at IS NULL",
		   6, types, v, NULL, 1);
	{
		bool		nouser,
					nogroup,
					noperm,
					unseen,
					nounpaid;
		char	   *r;

		(void) lk_col_int64(0, 1, &nouser);
		m->known = !nouser;
		m->user_name = lk_col_text(0, 2);
		SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &noperm);
		m->permitted = !noperm;
		m->own_only = lk_col_bool(0, 3);
		m->group_name = lk_col_text(0, 4);
		m->buyer_phone = lk_col_text(0, 5);
		m->unpaid = lk_col_int64(0, 6, &nogroup);
		m->group_found = !nogroup;
		SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 7, &unseen);
		if (!unseen)
		{
			/* a redelivery: the first answer, nothing else */
			m->outcome = "duplicate";
			r = lk_col_text(0, 8);
			if (r)
				appendStringInfoString(m->reply, r);
			m->unpaid = lk_col_int64(0, 9, &nounpaid);
			m->has_unpaid = !nounpaid;
		}
		else
			m->unpaid = m->group_found ? m->unpaid : 0;
	}
}

/*
 * Whether another ledger reply waits unclaimed, for the NOTIFY rule at the
 * top of this file (the statement's snapshot does not see the rows the
 * statement itself inserts).  The ORDER BY keeps the probe on the partial
 * index outbox_pending, whatever the statistics were when the plan was
 * made: delivered rows stay in the table.
 */
#define LK_NOTIFY_SQL \
	"NOT EXISTS (SELECT FROM (SELECT p.claimed_at FROM mekatek.outbox p" \
	"             WHERE p.channel = 'ledger' AND p.delivered_at IS NULL" \
	"             ORDER BY p.channel, p.outbox_id) w WHERE w.claimed_at IS NULL)"

/*
 * A plain sale or payment and its answer in one statement: the group
 * update feeds the entry (its id drawn under the group's row lock, as in
 * books.c's post) and the new balance ends the reply that goes into the
 * outbox and the message row.  Returns whether to notify.
 */
static bool
store_posting(lk_msg *m)
{
	static SPIPlanPtr plan;
	static const Oid types[] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID,
		TEXTOID, TEXTOID, INT8OID, BOOLOID, INT4OID, INT8OID, TEXTOID, TEXTOID};
	Datum		v[14];
	bool		n[14] = {false};

	v[0] = PointerGetDatum(m->source);
	v[1] = PointerGetDatum(m->message_id);
	v[2] = PointerGetDatum(m->group_id);
	v[3] = CStringGetTextDatum(m->sender);
	v[4] = TimestampTzGetDatum(m->sent_at);
	v[5] = PointerGetDatum(m->body);
	v[6] = PointerGetDatum(m->quoted_id);
	n[6] = m->quoted_id == NULL;
	v[7] = CStringGetTextDatum(m->post.kind);
	v[8] = Int64GetDatum(m->post.amount);
	v[9] = BoolGetDatum(m->post.paid_side);
	v[10] = Int32GetDatum(m->post.qty);
	n[10] = m->post.qty == 0;
	v[11] = Int64GetDatum(m->post.price);
	n[11] = m->post.qty == 0;
	v[12] = m->cmd.rest.len > 0 ? lk_span_text(m->cmd.rest) : (Datum) 0;
	n[12] = m->cmd.rest.len == 0;
	v[13] = CStringGetTextDatum(m->reply->data);
	if (lk_run(&plan,
			   "WITH g AS (UPDATE mekatek.ledger_group SET unpaid = unpaid + $9 WHERE group_id = $3"
			   "           RETURNING unpaid),"
			   " e AS (INSERT INTO mekatek.ledger_entry (group_id, kind, amount, paid_side, qty, price,"
			   "       note, sender, source, message_id, root_message_id, booked_at)"
			   "       SELECT $3, $8::mekatek.ledger_entry_kind, $9, $10, $11, $12, $13, $4, $1, $2, $2, $5"
			   "         FROM g),"
			   " r AS (SELECT g.unpaid, $14 || mekatek.ledger_format(g.unpaid) AS reply FROM g),"
			   " o AS (INSERT INTO mekatek.outbox (channel, payload)"
			   "       SELECT 'ledger', jsonb_build_object('group_id', $3, 'reply', r.reply,"
			   "              'source', $1, 'message_id', $2) FROM r),"
			   " w AS (INSERT INTO mekatek.ledger_message (source, message_id, revoked, group_id, sender,"
			   "       sent_at, body, quoted_id, outcome, reply, unpaid)"
			   "       SELECT $1, $2, false, $3, $4, $5, $6, $7, 'recorded', r.reply, r.unpaid FROM r)"
			   " SELECT r.unpaid, r.reply, " LK_NOTIFY_SQL " FROM r", 14, types, v, n, 0) != 1)
		mk_error(ERRCODE_NO_DATA_FOUND, NULL, "ledger group \"%s\" does not exist",
				 text_to_cstring(m->group_id));
	m->unpaid = lk_col_int64(0, 1, NULL);
	resetStringInfo(m->reply);
	appendStringInfoString(m->reply, lk_col_text(0, 2));
	return lk_col_bool(0, 3);
}

/* The answer: the message row and, when there is a reply, its outbox row. */
static void
store_answer(lk_msg *m)
{
	static SPIPlanPtr plan;
	static const Oid types[] = {TEXTOID, TEXTOID, BOOLOID, TEXTOID, TEXTOID, TIMESTAMPTZOID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, TEXTOID};
	Datum		v[13];
	bool		n[13] = {false};
	bool		reply = m->reply->len > 0;

	/*
	 * Held until commit, taken before the statement's snapshot: see the
	 * top of this file.
	 */
	if (reply)
	{
		static int32 ledger_key;

		if (ledger_key == 0)
			ledger_key = DatumGetInt32(DirectFunctionCall1Coll(hashtext, DEFAULT_COLLATION_OID,
															   CStringGetTextDatum("ledger")));
		DirectFunctionCall2(pg_advisory_xact_lock_shared_int4, Int32GetDatum(MK_OUTBOX_FENCE),
							Int32GetDatum(ledger_key));
	}
	if (m->post.pending)
	{
		bool		notify;

		Assert(!m->revoked && m->edited_of == NULL && reply);
		if (!lk_post_direct(m, &notify))
			notify = store_posting(m);
		if (notify)
			Async_Notify("mekatek_outbox", "ledger");
		return;
	}

	v[0] = PointerGetDatum(m->source);
	v[1] = PointerGetDatum(m->message_id);
	v[2] = BoolGetDatum(m->revoked);
	v[3] = PointerGetDatum(m->group_id);
	v[4] = CStringGetTextDatum(m->sender);
	v[5] = TimestampTzGetDatum(m->sent_at);
	v[6] = PointerGetDatum(m->body);
	v[7] = PointerGetDatum(m->edited_of);
	n[7] = m->edited_of == NULL;
	v[8] = PointerGetDatum(m->quoted_id);
	n[8] = m->quoted_id == NULL;
	v[9] = CStringGetTextDatum(m->outcome);
	v[10] = reply ? CStringGetTextDatum(m->reply->data) : (Datum) 0;
	n[10] = !reply;
	v[11] = Int64GetDatum(m->unpaid);
	n[11] = !m->has_unpaid;
	v[12] = m->action ? CStringGetTextDatum(m->action) : (Datum) 0;
	n[12] = m->action == NULL;
	/* the same outbox row as mekatek.outbox_enqueue writes */
	lk_run(&plan,
		   "WITH o AS (INSERT INTO mekatek.outbox (channel, payload)"
		   "           SELECT 'ledger', jsonb_strip_nulls(jsonb_build_object('group_id', $4, 'reply', $11,"
		   "                  'source', $1, 'message_id', $2, 'action', $13))"
		   "            WHERE $11 IS NOT NULL),"
		   " m AS (INSERT INTO mekatek.ledger_message (source, message_id, revoked, group_id, sender,"
		   " sent_at, body, edited_of, quoted_id, outcome, reply, unpaid)"
		   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12))"
		   " SELECT $11 IS NOT NULL AND " LK_NOTIFY_SQL, 13, types, v, n, 0);
	if (lk_col_bool(0, 1))
		Async_Notify("mekatek_outbox", "ledger");
}

static void
store_reject(lk_msg *m)
{
	static SPIPlanPtr plan;
	static const Oid types[] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		v[6];

	v[0] = PointerGetDatum(m->source);
	v[1] = PointerGetDatum(m->message_id);
	v[2] = PointerGetDatum(m->group_id);
	v[3] = CStringGetTextDatum(m->sender);
	v[4] = PointerGetDatum(m->body);
	v[5] = CStringGetTextDatum(m->cmd.error);
	lk_run(&plan,
		   "INSERT INTO mekatek.ledger_reject (source, message_id, group_id, sender, body, reason)"
		   " VALUES ($1, $2, $3, $4, $5, $6)", 6, types, v, NULL, 0);
}

/* Is the sender allowed to run this command here?  Sets the refusal. */
static bool
allowed(lk_msg *m)
{
	const char *name = lk_cmd_name[m->cmd.cmd];

	m->outcome = "refused";
	if (!m->known)
	{
		appendStringInfoString(m->reply, "You are not registered with this ledger; ask the owner to add you.");
		return false;
	}
	if (!m->permitted || (m->own_only && group_scoped(m->cmd.cmd) &&
						  (!m->group_found || strcmp(m->buyer_phone, m->sender) != 0)))
	{
		appendStringInfo(m->reply, "You may not use %s%s.", name,
						 m->permitted ? " in this group" : "");
		return false;
	}
	if (group_scoped(m->cmd.cmd) && !m->group_found)
	{
		appendStringInfoString(m->reply, "This group is not registered; register it with groupadd <buyer phone> [name].");
		return false;
	}
	if (m->cmd.cmd == LK_GROUPADD && m->group_found)
	{
		appendStringInfo(m->reply, "This group is already registered as %s.", m->group_name);
		return false;
	}
	m->outcome = NULL;
	return true;
}

static void
dispatch(lk_msg *m, bool edit)
{
	switch (m->cmd.cmd)
	{
		case LK_DONE:
			lk_do_done(m, edit);
			break;
		case LK_PAYMENT:
			lk_do_payment(m, edit);
			break;
		case LK_CANCEL:
			lk_do_cancel(m);
			break;
		case LK_TOTAL:
			lk_do_total(m);
			break;
		case LK_TOTALALL:
			lk_do_totalall(m);
			break;
		case LK_SETTLE:
			lk_do_settle(m);
			break;
		case LK_SETTLEALL:
			lk_do_settleall(m);
			break;
		case LK_REPORT:
			lk_do_report(m);
			break;
		default:
			lk_do_admin(m);
			break;
	}
}

/* "reversed Rp50.000", or for a payment's entries "reversed payment Rp50.000" */
static void
append_reversed(lk_msg *m, const char *what, int64 reversed)
{
	appendStringInfo(m->reply, "%s: reversed %s", what, reversed < 0 ? "payment " : "");
	lk_amount_append(m->reply, reversed < 0 ? -reversed : reversed);
}

static void
ingest(lk_msg *m, lk_status st)
{
	int			reversed_n = 0;
	int64		reversed = 0;

	if (m->revoked)
	{
		/* the revoked message's entries, if its sender revokes it */
		reversed = lk_reverse_root(m, m->message_id, true, &reversed_n);
		if (reversed_n == 0)
		{
			m->outcome = "ignored";
			return;
		}
		m->outcome = "recorded";
		append_reversed(m, "Message deleted", reversed);
		appendStringInfoString(m->reply, ". Unpaid: ");
		lk_amount_append(m->reply, m->unpaid);
		m->has_unpaid = true;
		return;
	}

	if (m->edited_of != NULL &&
		(st == LK_CHATTER || m->cmd.cmd == LK_DONE || m->cmd.cmd == LK_PAYMENT))
	{
		/*
		 * An edit replaces what the message booked: the old entries are
		 * reversed, the new ones posted as an adjustment.  An edit into
		 * something that is not a posting (chatter, a rejected form) only
		 * reverses.
		 */
		if (st == LK_OK)
		{
			if (!allowed(m))
				return;
		}
		reversed = lk_reverse_root(m, m->root, true, &reversed_n);
		if (st == LK_OK)
		{
			if (reversed_n > 0)
			{
				append_reversed(m, "Edited", reversed);
				appendStringInfoString(m->reply, ". ");
			}
			dispatch(m, true);
			return;
		}
		if (reversed_n > 0)
		{
			m->outcome = "recorded";
			append_reversed(m, "Edited", reversed);
			appendStringInfoString(m->reply, ". Unpaid: ");
			lk_amount_append(m->reply, m->unpaid);
			m->has_unpaid = true;
			if (st == LK_REJECT)
			{
				appendStringInfo(m->reply, ". Not recorded: %s.", m->cmd.error);
				store_reject(m);
			}
			return;
		}
	}

	if (st == LK_CHATTER)
	{
		m->outcome = "ignored";
		return;
	}
	if (st == LK_REJECT)
	{
		m->outcome = "rejected";
		appendStringInfo(m->reply, "Not recorded: %s.", m->cmd.error);
		store_reject(m);
		return;
	}
	if (!allowed(m))
		return;
	dispatch(m, false);
}

/* The longest source, message, group or sender id chat_ingest takes (chat apps use ~40). */
#define LK_ID_MAX 256

PG_FUNCTION_INFO_V1(mk_chat_ingest);
Datum
mk_chat_ingest(PG_FUNCTION_ARGS)
{
	lk_msg		m;
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	MemoryContext outer = CurrentMemoryContext;
	const char *names[] = {"source", "message_id", "group_id", "sender", "sent_at", "body"};
	char	   *raw_sender;
	char		phone[16];

	/* every message is stored: refused here, not by one of our statements */
	PreventCommandIfReadOnly("chat_ingest()");
	for (int i = 0; i < 6; i++)
		mk_arg_not_null(fcinfo, i, names[i]);
	if (PG_ARGISNULL(7))
		mk_error(ERRCODE_NULL_VALUE_NOT_ALLOWED, NULL, "argument \"revoked\" must not be null");
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "chat_ingest must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);

	/* ids and the sender are indexed: refuse a long one here, by name */
	for (int i = 0; i < 9; i++)
	{
		static const char *const id_names[] = {"source", "message_id", "group_id", "sender", NULL, NULL,
		"edited_of", NULL, "quoted_id"};
		text	   *v;

		if (id_names[i] == NULL || PG_ARGISNULL(i))
			continue;
		v = PG_GETARG_TEXT_PP(i);
		if (VARSIZE_ANY_EXHDR(v) > LK_ID_MAX)
			mk_error(ERRCODE_STRING_DATA_RIGHT_TRUNCATION, NULL,
					 "chat_ingest: %s must have at most %d bytes, not %zu: %s", id_names[i], LK_ID_MAX,
					 (size_t) VARSIZE_ANY_EXHDR(v), mk_quote_short(text_to_cstring(v)));
	}
	memset(&m, 0, sizeof(m));
	(void) mk_arg_cstring(fcinfo, 0, "source", false);
	(void) mk_arg_cstring(fcinfo, 1, "message_id", false);
	m.source = PG_GETARG_TEXT_PP(0);
	m.message_id = PG_GETARG_TEXT_PP(1);
	m.group_id = PG_GETARG_TEXT_PP(2);
	raw_sender = text_to_cstring(PG_GETARG_TEXT_PP(3));
	if (lk_phone(raw_sender, strlen(raw_sender), phone) > 0)
		m.sender = pstrdup(phone);
	else
		m.sender = raw_sender;	/* matches no user: may do nothing */
	m.sent_at = PG_GETARG_TIMESTAMPTZ(4);
	m.body = PG_GETARG_TEXT_PP(5);
	m.edited_of = PG_ARGISNULL(6) ? NULL : PG_GETARG_TEXT_PP(6);
	m.revoked = PG_GETARG_BOOL(7);
	m.quoted_id = PG_ARGISNULL(8) ? NULL : PG_GETARG_TEXT_PP(8);
	m.root = m.edited_of ? m.edited_of : m.message_id;
	m.reply = makeStringInfo();

	SPI_connect();
	{
		StringInfoData key;
		lk_status	st = LK_CHATTER;

		/* concurrent deliveries of one message queue here (see the top) */
		initStringInfo(&key);
		appendBinaryStringInfo(&key, VARDATA_ANY(m.source), VARSIZE_ANY_EXHDR(m.source));
		appendStringInfoChar(&key, '\0');
		appendBinaryStringInfo(&key, VARDATA_ANY(m.message_id), VARSIZE_ANY_EXHDR(m.message_id));
		appendStringInfoChar(&key, m.revoked ? 'r' : 'm');
		DirectFunctionCall2(pg_advisory_xact_lock_int4, Int32GetDatum(LK_LOCK_CLASS),
							Int32GetDatum((int32) hash_any((unsigned char *) key.data, key.len)));

		if (!m.revoked)
			st = lk_parse(VARDATA_ANY(m.body), VARSIZE_ANY_EXHDR(m.body), &m.cmd);
		if (!lk_lookup_direct(&m, st == LK_OK ? lk_cmd_name[m.cmd.cmd] : ""))
			lookup_context(&m, st == LK_OK ? lk_cmd_name[m.cmd.cmd] : "");
		if (m.outcome == NULL)
		{
			ingest(&m, st);
			Assert(m.outcome != NULL);
			store_answer(&m);
		}
	}
	SPI_finish();
	MemoryContextSwitchTo(outer);

	values[0] = CStringGetTextDatum(m.outcome);
	if (m.reply->len > 0)
		values[1] = CStringGetTextDatum(m.reply->data);
	else
		nulls[1] = true;
	values[2] = Int64GetDatum(m.unpaid);
	nulls[2] = !m.has_unpaid;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* ---------------------------------------------------------------- the parser alone */

PG_FUNCTION_INFO_V1(mk_chat_parse);
Datum
mk_chat_parse(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	lk_cmd		c;
	lk_status	st;
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6] = {true, true, true, true, true, true};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "chat_parse must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);
	st = lk_parse(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &c);
	if (st != LK_CHATTER)
	{
		values[0] = CStringGetTextDatum(lk_cmd_name[c.cmd]);
		nulls[0] = false;
	}
	if (st == LK_REJECT)
	{
		values[5] = CStringGetTextDatum(c.error);
		nulls[5] = false;
	}
	else if (st == LK_OK)
	{
		if (c.cmd == LK_DONE)
		{
			values[1] = Int32GetDatum(c.qty);
			nulls[1] = false;
		}
		if (c.cmd == LK_DONE || c.cmd == LK_PAYMENT || c.cmd == LK_MATH)
		{
			values[2] = Int64GetDatum(c.amount);
			nulls[2] = false;
		}
		if (c.rest.len > 0)
		{
			values[3] = lk_span_text(c.rest);
			nulls[3] = false;
		}
		if (c.nargs > 0)
		{
			Datum		a[LK_MAX_ARGS];

			for (int i = 0; i < c.nargs; i++)
				a[i] = lk_span_text(c.args[i]);
			values[4] = PointerGetDatum(construct_array(a, c.nargs, TEXTOID, -1, false, TYPALIGN_INT));
			nulls[4] = false;
		}
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

PG_FUNCTION_INFO_V1(mk_ledger_amount);
Datum
mk_ledger_amount(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const char *s = VARDATA_ANY(t);
	size_t		len = VARSIZE_ANY_EXHDR(t);
	int64_t		v;
	char		err[LK_ERR_LEN];
	size_t		used = lk_parse_amount(s, len, &v, err, sizeof(err));

	if (used == 0)
		mk_error(ERRCODE_INVALID_TEXT_REPRESENTATION, "Write whole rupiah: 50000, 50.000, Rp 50.000, 50rb, 1,5jt.",
				 "%s", err);
	while (used < len && (s[used] == ' ' || s[used] == '\t' || s[used] == '\n' || s[used] == '\r'))
		used++;
	if (used < len)
		mk_error(ERRCODE_INVALID_TEXT_REPRESENTATION, NULL,
				 "unexpected \"%.*s\" after the amount", (int) Min(len - used, 24), s + used);
	PG_RETURN_INT64(v);
}

PG_FUNCTION_INFO_V1(mk_ledger_format);
Datum
mk_ledger_format(PG_FUNCTION_ARGS)
{
	char		buf[32];

	lk_format_amount(PG_GETARG_INT64(0), buf);
	PG_RETURN_TEXT_P(cstring_to_text(buf));
}

PG_FUNCTION_INFO_V1(mk_ledger_phone);
Datum
mk_ledger_phone(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	char		out[16];

	if (lk_phone(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), out) < 0)
		mk_error(ERRCODE_INVALID_TEXT_REPRESENTATION,
				 "Write the number with its country code (62812...) or as 0812...; 8 to 15 digits.",
				 "\"%.*s\" is not a phone number", (int) Min(VARSIZE_ANY_EXHDR(t), 24), VARDATA_ANY(t));
	PG_RETURN_TEXT_P(cstring_to_text(out));
}
