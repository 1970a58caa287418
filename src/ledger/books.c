/*
 * books.c: the ledger's entries, balances and settlements.
 *
 * Every posting first updates its group's row (unpaid), and a settlement
 * first locks that row: so a group's postings and its settlement are
 * serialised by one row lock, and an entry's id is drawn only while the
 * lock is held.  When a settlement reads the open entries (a new snapshot
 * after the lock, READ COMMITTED), every entry of the group with a smaller
 * id has committed, and every later one will have a larger id: it closes
 * exactly the entries up to the mark it records, and a racing "done" is
 * either in it or open for the next one, never both or neither.
 */
#include "ledger/ledger.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "utils/builtins.h"

/* Queue a reply for the bot: group, text, and the message it answers. */
void
lk_enqueue(text *group_id, const char *reply, lk_msg *m, const char *action)
{
	static SPIPlanPtr plan;
	static const Oid types[] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		v[5];
	bool		n[5] = {false, false, false, false, false};

	v[0] = PointerGetDatum(group_id);
	v[1] = CStringGetTextDatum(reply);
	v[2] = PointerGetDatum(m->source);
	v[3] = PointerGetDatum(m->message_id);
	v[4] = action ? CStringGetTextDatum(action) : (Datum) 0;
	n[4] = action == NULL;
	lk_run(&plan,
		   "SELECT mekatek.outbox_enqueue('ledger', jsonb_strip_nulls(jsonb_build_object("
		   "'group_id', $1, 'reply', $2, 'source', $3, 'message_id', $4, 'action', $5)))",
		   5, types, v, n, 0);
}

/*
 * Post one entry and change the group's balance by it, in one statement:
 * the UPDATE of the group row (its lock) feeds the INSERT, so the entry's
 * id is drawn while the lock is held (see the top of this file).  A
 * carry_over leaves the balance as it is: it moves the balance between
 * periods.  Sets *unpaid to the group's new balance; returns the entry id.
 */
static int64
post(lk_msg *m, text *group_id, const char *kind, int64 amount, bool paid_side,
	 int32 qty, int64 price, lk_span note, int64 reverses, int64 *unpaid)
{
	static SPIPlanPtr plan;
	static const Oid types[] = {TEXTOID, TEXTOID, INT8OID, BOOLOID, INT4OID, INT8OID, TEXTOID,
	INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, INT8OID};
	Datum		v[14];
	bool		n[14] = {false};

	v[0] = PointerGetDatum(group_id);
	v[1] = CStringGetTextDatum(kind);
	v[2] = Int64GetDatum(amount);
	v[3] = BoolGetDatum(paid_side);
	v[4] = Int32GetDatum(qty);
	n[4] = qty == 0;
	v[5] = Int64GetDatum(price);
	n[5] = qty == 0;
	v[6] = note.len > 0 ? lk_span_text(note) : (Datum) 0;
	n[6] = note.len == 0;
	v[7] = Int64GetDatum(reverses);
	n[7] = reverses == 0;
	v[8] = CStringGetTextDatum(m->sender);
	v[9] = PointerGetDatum(m->source);
	v[10] = PointerGetDatum(m->message_id);
	v[11] = PointerGetDatum(m->root);
	v[12] = TimestampTzGetDatum(m->sent_at);
	v[13] = Int64GetDatum(strcmp(kind, "carry_over") == 0 ? 0 : amount);
	if (lk_run(&plan,
			   "WITH g AS (UPDATE mekatek.ledger_group SET unpaid = unpaid + $14 WHERE group_id = $1"
			   "           RETURNING unpaid)"
			   " INSERT INTO mekatek.ledger_entry (group_id, kind, amount, paid_side, qty, price, note,"
			   " reverses, sender, source, message_id, root_message_id, booked_at)"
			   " SELECT $1, $2::mekatek.ledger_entry_kind, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 FROM g"
			   " RETURNING entry_id, (SELECT unpaid FROM g)", 14, types, v, n, 0) != 1)
		mk_error(ERRCODE_NO_DATA_FOUND, NULL, "ledger group \"%s\" does not exist",
				 text_to_cstring(group_id));
	*unpaid = lk_col_int64(0, 2, NULL);
	return lk_col_int64(0, 1, NULL);
}

static void
append_unpaid(lk_msg *m)
{
	appendStringInfoString(m->reply, "Unpaid: ");
	lk_amount_append(m->reply, m->unpaid);
	m->has_unpaid = true;
}

static void
append_sale(StringInfo buf, int32 qty, int64 price, int64 amount)
{
	appendStringInfo(buf, "%d x ", qty);
	lk_amount_append(buf, price);
	appendStringInfoString(buf, " = ");
	lk_amount_append(buf, amount);
}

/*
 * A sale or payment: posted now (an edit's adjustment, after its
 * reversals), or left to the statement that stores the answer (see
 * lk_msg), which appends the balance after "Unpaid: ".
 */
static void
post_or_defer(lk_msg *m, bool adjustment, const char *kind, int64 amount, bool paid_side,
			  int32 qty, int64 price)
{
	m->outcome = "recorded";
	if (adjustment)
	{
		post(m, m->group_id, "adjustment", amount, paid_side, qty, price, m->cmd.rest, 0, &m->unpaid);
		append_unpaid(m);
		return;
	}
	m->post.kind = kind;
	m->post.amount = amount;
	m->post.paid_side = paid_side;
	m->post.qty = qty;
	m->post.price = price;
	m->post.pending = m->has_unpaid = true;
	appendStringInfoString(m->reply, "Unpaid: ");
}

void
lk_do_done(lk_msg *m, bool adjustment)
{
	int64		amount = (int64) m->cmd.qty * m->cmd.amount;

	appendStringInfoString(m->reply, "Recorded: ");
	append_sale(m->reply, m->cmd.qty, m->cmd.amount, amount);
	appendStringInfoString(m->reply, ". ");
	post_or_defer(m, adjustment, "sale", amount, false, m->cmd.qty, m->cmd.amount);
}

void
lk_do_payment(lk_msg *m, bool adjustment)
{
	appendStringInfoString(m->reply, "Payment recorded: ");
	lk_amount_append(m->reply, m->cmd.amount);
	appendStringInfoString(m->reply, ". ");
	post_or_defer(m, adjustment, "payment", -m->cmd.amount, true, 0, 0);
}

/*
 * Reverse every entry not yet reversed that a message chain booked (its
 * root message id); with same_sender_only, only the sender's own.  Returns
 * the total reversed (as it was booked) and sets m->unpaid.
 */
int64
lk_reverse_root(lk_msg *m, text *root, bool same_sender_only, int *count)
{
	static SPIPlanPtr find;
	static const Oid types[] = {TEXTOID, TEXTOID, TEXTOID, BOOLOID};
	Datum		v[4];
	int64		total = 0;
	uint64		n;
	int64	   *ids,
			   *amounts;
	bool	   *paid;
	char	  **groups;
	lk_span		none = {NULL, 0};

	*count = 0;
	v[0] = PointerGetDatum(m->source);
	v[1] = PointerGetDatum(root);
	v[2] = CStringGetTextDatum(m->sender);
	v[3] = BoolGetDatum(same_sender_only);

	/*
	 * Lock the groups first (an edit's entries are all in one group, but
	 * the lock must come before reading what is unreversed, as in cancel).
	 */
	lk_run(&find,
		   "SELECT g.group_id FROM mekatek.ledger_group g"
		   " WHERE g.group_id IN (SELECT e.group_id FROM mekatek.ledger_entry e"
		   "                       WHERE e.source = $1 AND e.root_message_id = $2)"
		   " ORDER BY g.group_id FOR UPDATE", 2, types, v, NULL, 0);
	{
		static SPIPlanPtr open;

		lk_run(&open,
			   "SELECT e.entry_id, e.amount, e.paid_side, e.group_id FROM mekatek.ledger_entry e"
			   " WHERE e.source = $1 AND e.root_message_id = $2 AND e.kind <> 'reversal'"
			   "   AND (NOT $4 OR e.sender = $3)"
			   "   AND NOT EXISTS (SELECT FROM mekatek.ledger_entry r WHERE r.reverses = e.entry_id)"
			   " ORDER BY e.entry_id", 4, types, v, NULL, 0);
	}
	n = SPI_processed;
	if (n == 0)
		return 0;
	ids = palloc(n * sizeof(int64));
	amounts = palloc(n * sizeof(int64));
	paid = palloc(n * sizeof(bool));
	groups = palloc(n * sizeof(char *));
	for (uint64 i = 0; i < n; i++)
	{
		ids[i] = lk_col_int64(i, 1, NULL);
		amounts[i] = lk_col_int64(i, 2, NULL);
		paid[i] = lk_col_bool(i, 3);
		groups[i] = lk_col_text(i, 4);
	}
	for (uint64 i = 0; i < n; i++)
	{
		text	   *g = cstring_to_text(groups[i]);

		post(m, g, "reversal", -amounts[i], paid[i], 0, 0, none, ids[i], &m->unpaid);
		total += amounts[i];
	}
	*count = (int) n;
	return total;
}

void
lk_do_cancel(lk_msg *m)
{
	static SPIPlanPtr lock,
				last;
	static const Oid types[] = {TEXTOID, TEXTOID};
	Datum		v[2];
	int64		id,
				amount;
	bool		isnull;
	int32		qty;
	int64		price;
	lk_span		none = {NULL, 0};

	if (m->quoted_id != NULL)
	{
		int			n;
		int64		total = lk_reverse_root(m, m->quoted_id, false, &n);

		if (n == 0)
		{
			m->outcome = "answered";
			appendStringInfoString(m->reply, "Nothing to cancel: the quoted message booked nothing open.");
			return;
		}
		m->outcome = "recorded";
		appendStringInfoString(m->reply, "Cancelled: ");
		lk_amount_append(m->reply, total);
		appendStringInfoString(m->reply, ". ");
		append_unpaid(m);
		return;
	}

	v[0] = PointerGetDatum(m->group_id);
	v[1] = CStringGetTextDatum(m->sender);
	lk_run(&lock, "SELECT unpaid FROM mekatek.ledger_group WHERE group_id = $1 FOR UPDATE",
		   1, types, v, NULL, 0);
	lk_run(&last,
		   "SELECT e.entry_id, e.amount, e.qty, e.price FROM mekatek.ledger_entry e"
		   " WHERE e.group_id = $1 AND e.sender = $2 AND e.kind IN ('sale', 'adjustment') AND NOT e.paid_side"
		   "   AND NOT EXISTS (SELECT FROM mekatek.ledger_entry r WHERE r.reverses = e.entry_id)"
		   " ORDER BY e.entry_id DESC LIMIT 1", 2, types, v, NULL, 0);
	if (SPI_processed == 0)
	{
		m->outcome = "answered";
		appendStringInfoString(m->reply, "Nothing to cancel: you have no sale in this group.");
		return;
	}
	id = lk_col_int64(0, 1, NULL);
	amount = lk_col_int64(0, 2, NULL);
	price = lk_col_int64(0, 4, NULL);
	qty = (int32) DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	post(m, m->group_id, "reversal", -amount, false, 0, 0, none, id, &m->unpaid);
	m->outcome = "recorded";
	appendStringInfoString(m->reply, "Cancelled: ");
	append_sale(m->reply, qty, price, amount);
	appendStringInfoString(m->reply, ". ");
	append_unpaid(m);
}

void
lk_do_total(lk_msg *m)
{
	m->outcome = "answered";
	appendStringInfo(m->reply, "%s: unpaid ", m->group_name);
	lk_amount_append(m->reply, m->unpaid);
	appendStringInfoString(m->reply, ".");
	m->has_unpaid = true;
}

void
lk_do_totalall(lk_msg *m)
{
	static SPIPlanPtr plan;
	static const Oid types[] = {TIMESTAMPTZOID};
	Datum		v[1];
	int64		sum = 0;
	uint64		n;

	v[0] = TimestampTzGetDatum(m->sent_at);
	n = lk_run(&plan, "SELECT name, unpaid, age_0_7, age_8_30, age_over_30 FROM mekatek.ledger_receivables($1)",
			   1, types, v, NULL, 0);
	m->outcome = "answered";
	appendStringInfoString(m->reply, "Unpaid per group (0-7 / 8-30 / over 30 days):");
	for (uint64 i = 0; i < n; i++)
	{
		appendStringInfo(m->reply, "\n%s: ", lk_col_text(i, 1));
		lk_amount_append(m->reply, lk_col_int64(i, 2, NULL));
		appendStringInfoString(m->reply, " (");
		lk_amount_append(m->reply, lk_col_int64(i, 3, NULL));
		appendStringInfoString(m->reply, " / ");
		lk_amount_append(m->reply, lk_col_int64(i, 4, NULL));
		appendStringInfoString(m->reply, " / ");
		lk_amount_append(m->reply, lk_col_int64(i, 5, NULL));
		appendStringInfoString(m->reply, ")");
		sum += lk_col_int64(i, 2, NULL);
	}
	appendStringInfoString(m->reply, "\nAll groups: ");
	lk_amount_append(m->reply, sum);
}

/*
 * Settle one group: close its open entries, carry the unpaid balance into
 * the next period (a carry_over out of this one, into the next), write
 * the settlement text into out.  False when there was nothing to settle.
 */
static bool
settle_group(lk_msg *m, text *group_id, StringInfo out, int64 *unpaid_out)
{
	static SPIPlanPtr lock,
				open,
				ins,
				mark;
	static const Oid types[] = {TEXTOID, INT8OID};
	Datum		v[2];
	char	   *name;
	int64		unpaid,
				through,
				first,
				last,
				carried = 0,
				transactions = 0,
				paid = 0,
				sid,
				ignored;
	uint64		n;
	int			line = 0;
	lk_span		none = {NULL, 0};
	StringInfoData lines;

	v[0] = PointerGetDatum(group_id);
	lk_run(&lock, "SELECT name, unpaid, settled_through FROM mekatek.ledger_group"
		   " WHERE group_id = $1 FOR UPDATE", 1, types, v, NULL, 0);
	name = lk_col_text(0, 1);
	unpaid = lk_col_int64(0, 2, NULL);
	through = lk_col_int64(0, 3, NULL);
	*unpaid_out = unpaid;
	v[1] = Int64GetDatum(through);
	n = lk_run(&open,
			   "SELECT entry_id, kind::text, amount, paid_side, qty, price, note FROM mekatek.ledger_entry"
			   " WHERE group_id = $1 AND entry_id > $2 ORDER BY entry_id", 2, types, v, NULL, 0);
	if (n == 0)
		return false;
	initStringInfo(&lines);
	first = lk_col_int64(0, 1, NULL);
	last = lk_col_int64(n - 1, 1, NULL);
	for (uint64 i = 0; i < n; i++)
	{
		char	   *kind = lk_col_text(i, 2);
		int64		amount = lk_col_int64(i, 3, NULL);
		bool		paid_side = lk_col_bool(i, 4);
		bool		noqty;
		int32		qty = (int32) DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 5, &noqty));
		int64		price = lk_col_int64(i, 6, NULL);
		char	   *note = lk_col_text(i, 7);

		if (strcmp(kind, "carry_over") == 0)
		{
			carried += amount;
			continue;
		}
		if (paid_side)
			paid -= amount;
		else
			transactions += amount;
		appendStringInfo(&lines, "\n%d. ", ++line);
		if (strcmp(kind, "reversal") == 0)
			appendStringInfoString(&lines, paid_side ? "payment reversed " : "cancelled ");
		else if (strcmp(kind, "adjustment") == 0)
			appendStringInfoString(&lines, "edited ");
		if (paid_side && strcmp(kind, "reversal") != 0)
		{
			appendStringInfoString(&lines, "payment ");
			lk_amount_append(&lines, -amount);
		}
		else if (!noqty)
			append_sale(&lines, qty, price, amount);
		else
			lk_amount_append(&lines, paid_side ? -amount : amount);
		if (note)
			appendStringInfo(&lines, " %s", note);
	}
	/* only the carried balance is open: nothing happened since */
	if (line == 0)
		return false;
	if (carried + transactions - paid != unpaid)
		mk_error(ERRCODE_DATA_CORRUPTED, "The group's unpaid column no longer equals the sum of its entries.",
				 "ledger group \"%s\" does not balance: entries say %lld, the group says %lld",
				 name, (long long) (carried + transactions - paid), (long long) unpaid);

	if (unpaid != 0)
		last = post(m, group_id, "carry_over", -unpaid, false, 0, 0, none, 0, &ignored);
	{
		static const Oid itypes[] = {TEXTOID, INT8OID, INT8OID, TIMESTAMPTZOID, TEXTOID, INT8OID,
		INT8OID, INT8OID, INT8OID, TEXTOID, TEXTOID};
		Datum		iv[11];

		iv[0] = PointerGetDatum(group_id);
		iv[1] = Int64GetDatum(first);
		iv[2] = Int64GetDatum(last);
		iv[3] = TimestampTzGetDatum(m->sent_at);
		iv[4] = CStringGetTextDatum(m->sender);
		iv[5] = Int64GetDatum(carried);
		iv[6] = Int64GetDatum(transactions);
		iv[7] = Int64GetDatum(paid);
		iv[8] = Int64GetDatum(unpaid);
		iv[9] = PointerGetDatum(m->source);
		iv[10] = PointerGetDatum(m->message_id);
		lk_run(&ins,
			   "INSERT INTO mekatek.ledger_settlement (group_id, first_entry_id, last_entry_id, settled_at,"
			   " settled_by, carried_in, transactions, paid, unpaid, source, message_id)"
			   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING settlement_id",
			   11, itypes, iv, NULL, 0);
		sid = lk_col_int64(0, 1, NULL);
	}
	if (unpaid != 0)
		post(m, group_id, "carry_over", unpaid, false, 0, 0, none, 0, &ignored);
	v[1] = Int64GetDatum(last);
	lk_run(&mark, "UPDATE mekatek.ledger_group SET settled_through = $2 WHERE group_id = $1",
		   2, types, v, NULL, 0);

	appendStringInfo(out, "Settlement #%lld, %s", (long long) sid, name);
	appendStringInfoString(out, lines.data);
	appendStringInfoString(out, "\nTransactions: ");
	lk_amount_append(out, transactions);
	appendStringInfoString(out, "\nCarried over: ");
	lk_amount_append(out, carried);
	appendStringInfoString(out, "\nPaid: ");
	lk_amount_append(out, paid);
	appendStringInfoString(out, "\nUnpaid: ");
	lk_amount_append(out, unpaid);
	return true;
}

void
lk_do_settle(lk_msg *m)
{
	if (!settle_group(m, m->group_id, m->reply, &m->unpaid))
	{
		m->outcome = "answered";
		appendStringInfo(m->reply, "Nothing to settle in %s. ", m->group_name);
		append_unpaid(m);
		return;
	}
	m->outcome = "recorded";
	m->has_unpaid = true;
}

void
lk_do_settleall(lk_msg *m)
{
	static SPIPlanPtr plan;
	uint64		n;
	char	  **ids;
	int			settled = 0;
	int64		sum = 0;

	/* in key order, so two settleall never deadlock */
	n = lk_run(&plan, "SELECT group_id FROM mekatek.ledger_group WHERE deleted_at IS NULL ORDER BY group_id",
			   0, NULL, NULL, NULL, 0);
	ids = palloc(n * sizeof(char *));
	for (uint64 i = 0; i < n; i++)
		ids[i] = lk_col_text(i, 1);
	for (uint64 i = 0; i < n; i++)
	{
		StringInfoData one;
		text	   *g = cstring_to_text(ids[i]);
		int64		u;

		initStringInfo(&one);
		if (settle_group(m, g, &one, &u))
		{
			settled++;
			lk_enqueue(g, one.data, m, "settlement");
		}
		sum += u;
	}
	m->outcome = settled > 0 ? "recorded" : "answered";
	appendStringInfo(m->reply, "Settled %d of %d groups. All groups unpaid: ", settled, (int) n);
	lk_amount_append(m->reply, sum);
}

void
lk_do_report(lk_msg *m)
{
	static SPIPlanPtr plan;
	static const Oid types[] = {TEXTOID, TEXTOID, TIMESTAMPTZOID};
	Datum		v[3];
	bool		nulls[3] = {false, false, false};
	char		from[16],
				to[16];
	uint64		n;
	int64		tr = 0,
				pd = 0;

	snprintf(from, sizeof(from), "%04d-%02d-%02d", m->cmd.date_from / 10000,
			 m->cmd.date_from / 100 % 100, m->cmd.date_from % 100);
	snprintf(to, sizeof(to), "%04d-%02d-%02d", m->cmd.date_to / 10000,
			 m->cmd.date_to / 100 % 100, m->cmd.date_to % 100);
	v[0] = CStringGetTextDatum(from);
	v[1] = CStringGetTextDatum(to);
	nulls[0] = nulls[1] = m->cmd.date_from == 0;
	v[2] = TimestampTzGetDatum(m->sent_at);
	n = lk_run(&plan,
			   "WITH p AS (SELECT coalesce($1::date, ($3 AT TIME ZONE mekatek.ledger_timezone())::date) AS f,"
			   "                  coalesce($2::date, ($3 AT TIME ZONE mekatek.ledger_timezone())::date) AS t)"
			   " SELECT to_char(p.f, 'YYYY-MM-DD'), to_char(p.t, 'YYYY-MM-DD'), r.settlement_id, r.name,"
			   "        to_char(r.settled_day, 'YYYY-MM-DD'),"
			   "        r.transactions, r.paid, r.unpaid"
			   "   FROM p LEFT JOIN LATERAL mekatek.ledger_report(p.f, p.t) r ON true"
			   "  ORDER BY r.settled_day, r.settlement_id",
			   3, types, v, nulls, 0);
	m->outcome = "answered";
	appendStringInfo(m->reply, "Report %s", lk_col_text(0, 1));
	if (strcmp(lk_col_text(0, 1), lk_col_text(0, 2)) != 0)
		appendStringInfo(m->reply, " to %s", lk_col_text(0, 2));
	appendStringInfoString(m->reply, ":");
	for (uint64 i = 0; i < n; i++)
	{
		bool		none;

		(void) lk_col_int64(i, 3, &none);
		if (none)
			break;
		appendStringInfo(m->reply, "\n#%s %s %s: transactions ", lk_col_text(i, 3), lk_col_text(i, 4),
						 lk_col_text(i, 5));
		lk_amount_append(m->reply, lk_col_int64(i, 6, NULL));
		appendStringInfoString(m->reply, ", paid ");
		lk_amount_append(m->reply, lk_col_int64(i, 7, NULL));
		appendStringInfoString(m->reply, ", unpaid ");
		lk_amount_append(m->reply, lk_col_int64(i, 8, NULL));
		tr += lk_col_int64(i, 6, NULL);
		pd += lk_col_int64(i, 7, NULL);
	}
	appendStringInfoString(m->reply, "\nTotal: transactions ");
	lk_amount_append(m->reply, tr);
	appendStringInfoString(m->reply, ", paid ");
	lk_amount_append(m->reply, pd);
}

/* ---------------------------------------------------------------- append-only */

PG_FUNCTION_INFO_V1(mk_ledger_append_only);
Datum
mk_ledger_append_only(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		mk_error(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED, NULL,
				 "ledger_append_only() must be called as a trigger");
	mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
			 "Correct the books with a new entry: cancel, or edit the message (a reversal is posted).",
			 "%s is append-only: %s is not allowed",
			 RelationGetRelationName(td->tg_relation),
			 TRIGGER_FIRED_BY_DELETE(td->tg_event) ? "DELETE" :
			 TRIGGER_FIRED_BY_TRUNCATE(td->tg_event) ? "TRUNCATE" : "UPDATE");
	PG_RETURN_NULL();
}
