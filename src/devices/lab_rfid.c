/*
 * lab_rfid.c: lab samples tracked by RFID tags.
 *
 * The counter binds a tag to an item (lab_register); scanners only INSERT
 * into mekatek.rfid_scan and the AFTER INSERT trigger here advances the
 * item: registered -> queued (antrian) -> testing (uji) -> done (selesai),
 * one row per item in mekatek.lab_item and one history row per transition.
 *
 * The state change happens in an AFTER INSERT statement trigger reading
 * the transition table, so it sees only rows actually inserted: an edge
 * client replaying an event with INSERT ... ON CONFLICT DO NOTHING changes
 * nothing twice.  How the scans of one statement are applied, and why
 * two scanners reading one tag at once advance it once, is told above
 * mk_rfid_scan_apply's helpers below.
 */
#include "devices/devices.h"
#include "devices/direct.h"

#include "access/heaptoast.h"
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/toast_compression.h"
#include "access/toast_internals.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_index.h"
#include "executor/tuptable.h"
#include "parser/parse_relation.h"
#include "utils/fmgroids.h"
#include "utils/snapmgr.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/jsonb.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"

PG_FUNCTION_INFO_V1(mk_rfid_uid);
PG_FUNCTION_INFO_V1(mk_rfid_uid_trigger);
PG_FUNCTION_INFO_V1(mk_lab_register);
PG_FUNCTION_INFO_V1(mk_rfid_scan_apply);

/* mekatek.rfid_uid(text): the normalised UID, or 22P02. */
Datum
mk_rfid_uid(PG_FUNCTION_ARGS)
{
	bool		clipped;
	char	   *raw;

	/* No UID is that long: its prefix is enough to refuse it. */
	mk_arg_not_null(fcinfo, 0, "uid");
	raw = mk_text_prefix(PG_GETARG_DATUM(0), MK_UID_TEXT_MAX + 1, &clipped);
	PG_RETURN_TEXT_P(cstring_to_text(mk_uid_parse(raw, "uid")));
}

/*
 * BEFORE INSERT OR UPDATE trigger normalising a UID column in place.
 * TG_ARGV[0] names the column; TG_ARGV[1] is 'strict' (a bad UID is an
 * ERROR: cards, lab items) or 'keep' (a bad UID is kept as sent, for the
 * AFTER trigger to flag: scans are never refused).
 */
Datum
mk_rfid_uid_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	tuple;
	int			attnum;
	bool		strict;
	bool		isnull;
	bool		clipped;
	Datum		value;
	char	   *raw;
	char	   *uid;
	Datum		newval;
	bool		newnull = false;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) || TRIGGER_FIRED_BY_DELETE(td->tg_event))
		mk_trigger_check(fcinfo, "rfid_uid_normalise", false, false);
	if (td->tg_trigger->tgnargs != 2)
		mk_error(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
				 "Pass the column name and 'strict' or 'keep'.",
				 "trigger \"%s\" needs 2 arguments, not %d",
				 td->tg_trigger->tgname, td->tg_trigger->tgnargs);

	tuple = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	desc = RelationGetDescr(td->tg_relation);
	attnum = mk_trigger_column(td, td->tg_trigger->tgargs[0], TEXTOID, false);
	strict = strcmp(td->tg_trigger->tgargs[1], "strict") == 0;

	value = heap_getattr(tuple, attnum, desc, &isnull);
	if (isnull)
		return PointerGetDatum(tuple);	/* NOT NULL constraints speak for themselves */
	raw = mk_text_prefix(value, MK_UID_TEXT_MAX, &clipped);
	uid = strict ? mk_uid_parse(raw, td->tg_trigger->tgargs[0]) : mk_uid_normalise(raw);
	/* A scan's oversized non-UID is kept, as its bounded prefix, to be flagged. */
	if (uid == NULL && clipped)
		uid = raw;
	else if (uid == NULL || strcmp(uid, raw) == 0)
		return PointerGetDatum(tuple);

	newval = CStringGetTextDatum(uid);
	return PointerGetDatum(heap_modify_tuple_by_cols(tuple, desc, 1, &attnum, &newval, &newnull));
}

/*
 * mekatek.lab_register(uid, item_code, company, kind, test) -> lab_item.
 * One INSERT ... ON CONFLICT DO NOTHING; when it inserts nothing, find out
 * which rule it broke and say so.
 */
Datum
mk_lab_register(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan_insert = NULL;
	char	   *uid = mk_uid_parse(mk_device_arg(fcinfo, 0, "uid", MK_UID_TEXT_MAX, false), "uid");
	char	   *code = mk_device_arg(fcinfo, 1, "item_code", MK_ITEM_CODE_MAX, false);
	char	   *company = mk_device_arg(fcinfo, 2, "company", MK_ITEM_TEXT_MAX, false);
	char	   *kind = mk_device_arg(fcinfo, 3, "kind", MK_ITEM_TEXT_MAX, false);
	char	   *test = mk_device_arg(fcinfo, 4, "test", MK_ITEM_TEXT_MAX, false);
	Datum		args[5];
	Datum		result;

	args[0] = CStringGetTextDatum(uid);
	args[1] = CStringGetTextDatum(code);
	args[2] = CStringGetTextDatum(company);
	args[3] = CStringGetTextDatum(kind);
	args[4] = CStringGetTextDatum(test);

	SPI_connect();
	{
		static const Oid types[5] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};

		mk_spi_plan(&plan_insert,
					"WITH i AS (INSERT INTO mekatek.lab_item(uid, active_uid, item_code, company, kind, test) "
					"           VALUES ($1, $1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING *), "
					"     h AS (INSERT INTO mekatek.lab_item_history(item_id, uid, item_code, to_state, at) "
					"           SELECT item_id, uid, item_code, state, registered_at FROM i) "
					"SELECT * FROM i", 5, types);
	}
	mk_spi_execute_plan(plan_insert, args, NULL, false, 1, SPI_OK_SELECT, "lab_register: insert");

	if (SPI_processed == 0)
	{
		/* Which unique rule did it meet?  Say it with the other item's data. */
		if (mk_spi_execute("SELECT item_code, state::text FROM mekatek.lab_item "
						   "WHERE active_uid = $1",
						   1, (Oid[]) {TEXTOID}, args, NULL, true, 1, SPI_OK_SELECT,
						   "lab_register: explaining a conflict") == 1)
			mk_error(ERRCODE_UNIQUE_VIOLATION,
					 "A tag can be registered again once its item is done.",
					 "RFID tag %s is still in the lab as item %s (state %s)", uid,
					 SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
					 SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2));
		if (mk_spi_execute("SELECT uid FROM mekatek.lab_item WHERE item_code = $1",
						   1, (Oid[]) {TEXTOID}, &args[1], NULL, true, 1, SPI_OK_SELECT,
						   "lab_register: explaining a conflict") == 1)
			mk_error(ERRCODE_UNIQUE_VIOLATION,
					 "Item codes are test numbers and are never reused.",
					 "item code \"%s\" is already registered (tag %s)", code,
					 SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
		mk_error(ERRCODE_T_R_SERIALIZATION_FAILURE, "Try again.",
				 "RFID tag %s or item code \"%s\" was registered concurrently", uid, code);
	}

	result = PointerGetDatum(SPI_returntuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc));
	SPI_finish();
	PG_RETURN_DATUM(result);
}

/*
 * The statement's scans are applied set-wise, never one statement per scan
 * (that cost four times the bare INSERT).  When each tag appears once in
 * the statement, the usual case, one UPDATE ... RETURNING feeding the
 * history INSERT does it (scans_apply_distinct).  Otherwise the items are
 * locked once, the state machine runs here over the scans in insertion
 * order, and the result is written with one UPDATE and one history INSERT
 * (scans_apply_stepwise).  Either way scans of no item in the lab get one
 * UPDATE of their flags.  The distinct case is written by rows where that
 * is exact (scans_apply_distinct_direct, through direct.c): the same rows
 * in the same order without the statements' plans, scans and joins.
 *
 * Both paths lock the items in UID order, so two scanners' statements
 * cannot deadlock, and both keep the READ COMMITTED behaviour of the old
 * per-scan UPDATE: a statement that waited for another scanner's lock reads
 * the row that scanner committed (its new state and last scan time), so the
 * same press read by two scanners counts once.
 */
#define LAB_STATES 4
static const char *const lab_state_names[LAB_STATES] = {"registered", "queued", "testing", "done"};
#define LAB_DONE (LAB_STATES - 1)
/*
 * States travel to SQL as positions (1-based) into this constant, which the
 * planner folds once: no enum input function per row.
 */
#define LAB_STATE_ARRAY "'{registered,queued,testing,done}'::mekatek.lab_state[]"

typedef struct RfidScan
{
	int64		scan_id;
	char	   *raw_uid;		/* as sent, for the notification */
	char	   *uid;			/* normalised; NULL when no UID */
	char	   *lab;
	char	   *scanner;
	TimestampTz at;
} RfidScan;

typedef struct LabItem
{
	ItemPointerData ctid;		/* of the locked row: the UPDATE fetches it by TID */
	int64		item_id;
	char	   *uid;
	char	   *item_code;
	int			state;			/* index into lab_state_names */
	bool		has_last;
	TimestampTz last_scan_at;
	TimestampTz registered_at;
	char	   *lab;			/* of the last counted scan; NULL before the first */
	bool		changed;
} LabItem;

/* A done item's last counted scan: a read of its tag close to it is a bounce. */
typedef struct DoneScan
{
	char	   *uid;
	TimestampTz at;
} DoneScan;

static int
cmp_item_uid(const void *key, const void *item)
{
	return strcmp((const char *) key, ((const LabItem *) item)->uid);
}

/*
 * Two reads of one tag closer than mekatek.rfid_debounce are one press: a
 * read at 'at' is a bounce of a counted scan at a time in the open interval
 * (*lo, *hi).  Infinite times compare as PostgreSQL's timestamp arithmetic
 * would (an interval added to infinity is infinity, so nothing is within
 * it): their interval is empty.  Finite timestamps stay days away from the
 * int64 limits and the debounce is at most an hour, so nothing overflows.
 */
static void
bounce_window(TimestampTz at, TimestampTz *lo, TimestampTz *hi)
{
	int64		debounce = (int64) mk_rfid_debounce_ms * 1000;

	if (TIMESTAMP_NOT_FINITE(at))
	{
		*lo = *hi = 0;
		return;
	}
	*lo = at - debounce;
	*hi = at + debounce;
}

static bool
rfid_bounced(TimestampTz last, TimestampTz at)
{
	TimestampTz lo,
				hi;

	bounce_window(at, &lo, &hi);
	return last > lo && last < hi;
}

static int
lab_state_index(const char *name)
{
	for (int i = 0; i < LAB_STATES; i++)
		if (strcmp(name, lab_state_names[i]) == 0)
			return i;
	elog(ERROR, "rfid_scan_apply: unknown lab state \"%s\"", name);
	return -1;					/* keep the compiler quiet */
}

/* The statement's scans, in insertion order. */
static RfidScan *
scans_read(FunctionCallInfo fcinfo, MkTransition *t, int *nscans)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	AttrNumber	a_scan_id = mk_trigger_column(td, "scan_id", INT8OID, true);
	AttrNumber	a_uid = mk_trigger_column(td, "uid", TEXTOID, true);
	AttrNumber	a_lab = mk_trigger_column(td, "lab", TEXTOID, true);
	AttrNumber	a_scanner = mk_trigger_column(td, "scanner", TEXTOID, true);
	AttrNumber	a_at = mk_trigger_column(td, "scanned_at", TIMESTAMPTZOID, true);
	int			cap = 64;
	int			n = 0;
	RfidScan   *scans = palloc(sizeof(RfidScan) * cap);

	mk_transition_rewind(t);
	while (mk_transition_next(t))
	{
		RfidScan   *s;
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		if (n == cap)
		{
			cap *= 2;
			scans = repalloc(scans, sizeof(RfidScan) * cap);
		}
		s = &scans[n++];
		s->scan_id = DatumGetInt64(slot_getattr(t->slot, a_scan_id, &isnull));
		s->raw_uid = TextDatumGetCString(slot_getattr(t->slot, a_uid, &isnull));
		s->uid = mk_uid_normalise(s->raw_uid);
		s->lab = TextDatumGetCString(slot_getattr(t->slot, a_lab, &isnull));
		s->scanner = TextDatumGetCString(slot_getattr(t->slot, a_scanner, &isnull));
		s->at = DatumGetTimestampTz(slot_getattr(t->slot, a_at, &isnull));
	}
	*nscans = n;
	return scans;
}

static int
cmp_scan_uid(const void *a, const void *b, void *arg)
{
	const RfidScan *scans = arg;
	int			i = *(const int *) a;
	int			j = *(const int *) b;
	int			c = strcmp(scans[i].uid, scans[j].uid);

	return c != 0 ? c : (i > j) - (i < j);
}

/* Positions of the scans with a UID, sorted by UID (bytewise), then by position. */
static int *
scans_by_uid(RfidScan *scans, int nscans, int *nvalid)
{
	int		   *order = palloc(sizeof(int) * Max(nscans, 1));
	int			n = 0;

	for (int i = 0; i < nscans; i++)
		if (scans[i].uid)
			order[n++] = i;
	qsort_arg(order, n, sizeof(int), cmp_scan_uid, scans);
	*nvalid = n;
	return order;
}

/* The distinct UIDs, in order; *counts gets the scans of each. */
static char **
scans_uids(RfidScan *scans, int *order, int nvalid, int *nuids, int **counts)
{
	char	  **uids = palloc(sizeof(char *) * Max(nvalid, 1));
	int			k = 0;

	*counts = palloc0(sizeof(int) * Max(nvalid, 1));
	for (int i = 0; i < nvalid; i++)
	{
		char	   *uid = scans[order[i]].uid;

		if (k > 0 && strcmp(uids[k - 1], uid) == 0)
		{
			(*counts)[k - 1]++;
			continue;
		}
		uids[k] = uid;
		(*counts)[k++] = 1;
	}
	*nuids = k;
	return uids;
}

static Datum
text_array(char **values, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = CStringGetTextDatum(values[i]);
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * Lock the items in the lab that the UIDs name, in UID order, and read
 * them as they are now (after any scanner we waited for).
 */
static LabItem *
items_lock(char **uids, int nuids, int *nitems)
{
	static SPIPlanPtr plan = NULL;
	Datum		arg = text_array(uids, nuids);
	LabItem    *items;

	mk_spi_plan(&plan,
				"SELECT item_id, uid, item_code, state::text, last_scan_at, ctid, registered_at, lab "
				"  FROM mekatek.lab_item WHERE active_uid = ANY ($1) "
				" ORDER BY active_uid FOR UPDATE",
				1, (Oid[]) {TEXTARRAYOID});
	mk_spi_execute_plan(plan, &arg, NULL, false, 0, SPI_OK_SELECT, "rfid_scan_apply: locking the items");

	items = palloc(sizeof(LabItem) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		LabItem    *it = &items[i];

		it->item_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		it->uid = SPI_getvalue(tup, desc, 2);
		it->item_code = SPI_getvalue(tup, desc, 3);
		it->state = lab_state_index(SPI_getvalue(tup, desc, 4));
		it->last_scan_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 5, &isnull));
		it->has_last = !isnull;
		ItemPointerCopy((ItemPointer) DatumGetPointer(SPI_getbinval(tup, desc, 6, &isnull)), &it->ctid);
		it->registered_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 7, &isnull));
		it->lab = SPI_getvalue(tup, desc, 8);
		it->changed = false;
	}
	*nitems = (int) SPI_processed;
	return items;
}

/*
 * Last scans of done items that could make one of the statement's scans a
 * bounce: only for tags with no item in the lab, or with more scans in this
 * statement than their item has steps left.
 */
static DoneScan *
done_scans(RfidScan *scans, int nscans, char **uids, int *counts, int nuids,
		   LabItem *items, int nitems, int *ndone)
{
	static SPIPlanPtr plan = NULL;
	char	  **want = palloc(sizeof(char *) * Max(nuids, 1));
	int			nwant = 0;
	TimestampTz lo = DT_NOEND,
				hi = DT_NOBEGIN;
	Datum		args[3];
	DoneScan   *done;

	*ndone = 0;
	for (int i = 0; i < nuids; i++)
	{
		LabItem    *it = bsearch(uids[i], items, nitems, sizeof(LabItem), cmp_item_uid);

		if (it == NULL || counts[i] > LAB_DONE - it->state)
			want[nwant++] = uids[i];
	}
	if (nwant == 0)
		return NULL;
	/* The union of the scans' windows bounds the search; done_bounce decides. */
	for (int i = 0; i < nscans; i++)
	{
		TimestampTz wlo,
					whi;

		bounce_window(scans[i].at, &wlo, &whi);
		if (wlo == whi)
			continue;
		lo = Min(lo, wlo);
		hi = Max(hi, whi);
	}
	if (lo >= hi)
		return NULL;

	mk_spi_plan(&plan,
				"SELECT uid, last_scan_at FROM mekatek.lab_item "
				" WHERE uid = ANY ($1) AND state = 'done' "
				"   AND last_scan_at > $2 AND last_scan_at < $3",
				3, (Oid[]) {TEXTARRAYOID, TIMESTAMPTZOID, TIMESTAMPTZOID});
	args[0] = text_array(want, nwant);
	args[1] = TimestampTzGetDatum(lo);
	args[2] = TimestampTzGetDatum(hi);
	/* Not read-only: see the items as the lock step saw them, not as they
	 * were when the INSERT began. */
	mk_spi_execute_plan(plan, args, NULL, false, 0, SPI_OK_SELECT, "rfid_scan_apply: reading done items");

	done = palloc(sizeof(DoneScan) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		done[i].uid = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		done[i].at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[i],
													   SPI_tuptable->tupdesc, 2, &isnull));
	}
	*ndone = (int) SPI_processed;
	return done;
}

static bool
done_bounce(DoneScan *done, int ndone, LabItem *items, int nitems, RfidScan *s)
{
	for (int i = 0; i < ndone; i++)
		if (strcmp(done[i].uid, s->uid) == 0 && rfid_bounced(done[i].at, s->at))
			return true;
	/* Items finished earlier in this statement. */
	{
		LabItem    *it = bsearch(s->uid, items, nitems, sizeof(LabItem), cmp_item_uid);

		return it != NULL && it->state == LAB_DONE && rfid_bounced(it->last_scan_at, s->at);
	}
}

static void
items_update(LabItem *items, int nitems)
{
	static SPIPlanPtr plan = NULL;
	static const Oid types[4] = {TIDOID, INT2OID, TEXTOID, TIMESTAMPTZOID};
	MkColumns c;
	Datum		args[4];

	mk_columns_init(&c, 4, nitems);
	for (int i = 0; i < nitems; i++)
	{
		int			r;

		if (!items[i].changed)
			continue;
		r = mk_columns_add(&c);
		c.cols[0][r] = PointerGetDatum(&items[i].ctid);
		c.cols[1][r] = Int16GetDatum(items[i].state + 1);
		c.cols[2][r] = CStringGetTextDatum(items[i].lab);
		c.cols[3][r] = TimestampTzGetDatum(items[i].last_scan_at);
	}
	if (c.n == 0)
		return;
	mk_columns_arrays(&c, types, args);
	/*
	 * By TID: the rows are locked, so the TIDs the lock step read are still
	 * the rows' current versions, and a TID scan skips an index descent.
	 */
	mk_spi_plan(&plan,
				"UPDATE mekatek.lab_item i "
				"   SET state = (" LAB_STATE_ARRAY ")[u.state], "
				"       active_uid = CASE WHEN u.state = 4 THEN NULL ELSE i.active_uid END, "
				"       lab = u.lab, last_scan_at = u.at, updated_at = now() "
				"  FROM unnest($1::tid[], $2::int2[], $3::text[], $4::timestamptz[]) "
				"       AS u(t, state, lab, at) "
				" WHERE i.ctid = u.t",
				4, (Oid[]) {TIDARRAYOID, INT2ARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID});
	if (mk_spi_execute_plan(plan, args, NULL, false, 0, SPI_OK_UPDATE,
							"rfid_scan_apply: writing the items") != (uint64) c.n)
		mk_error(ERRCODE_INTERNAL_ERROR, NULL,
				 "rfid_scan_apply: updated " UINT64_FORMAT " of %d lab items",
				 SPI_processed, c.n);
}

static void
history_insert(MkColumns *h)
{
	static SPIPlanPtr plan = NULL;
	static const Oid types[8] = {INT8OID, TEXTOID, TEXTOID, INT2OID, INT2OID, TEXTOID,
	INT8OID, TIMESTAMPTZOID};
	Datum		args[8];

	if (h->n == 0)
		return;
	mk_columns_arrays(h, types, args);
	mk_spi_plan(&plan,
				"INSERT INTO mekatek.lab_item_history"
				"       (item_id, uid, item_code, from_state, to_state, lab, scan_id, at) "
				"SELECT item_id, uid, item_code, (" LAB_STATE_ARRAY ")[f], "
				"       (" LAB_STATE_ARRAY ")[t], lab, scan_id, at "
				"  FROM unnest($1::int8[], $2::text[], $3::text[], $4::int2[], $5::int2[], "
				"              $6::text[], $7::int8[], $8::timestamptz[]) "
				"       AS u(item_id, uid, item_code, f, t, lab, scan_id, at)",
				8, (Oid[]) {INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INT2ARRAYOID,
				INT2ARRAYOID, TEXTARRAYOID, INT8ARRAYOID, TIMESTAMPTZARRAYOID});
	mk_spi_execute_plan(plan, args, NULL, false, 0, SPI_OK_INSERT, "rfid_scan_apply: writing history");
}

/*
 * A lab state change, announced: NOTIFY mekatek_lab now; *p keeps the
 * payload.  States are indexes into lab_state_names.
 */
static void
lab_notify(MkPayload *p, const char *item_code, const RfidScan *s, int from, int to)
{
	mk_payload_begin(p);
	mk_payload_str(p, "item", item_code);
	mk_payload_str(p, "uid", s->uid);
	mk_payload_str(p, "from", lab_state_names[from]);
	mk_payload_str(p, "to", lab_state_names[to]);
	mk_payload_str(p, "lab", s->lab);
	mk_payload_int(p, "scan", s->scan_id);
	mk_payload_time(p, "at", s->at);
	mk_payload_notify(p, "mekatek_lab");
}

/*
 * The outbox payload of lab_notify's change as jsonb, built from the same
 * members rather than parsed from p's text (the parse was a fifth of the
 * outbox row's cost); parsed when notify.c clipped a member, so the row
 * says "truncated" exactly as the text does.
 */
static Jsonb *
lab_payload_jsonb(const MkPayload *p, const char *item_code, const RfidScan *s, int from, int to)
{
	MkJb		j;

	if (p->truncated)
		return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(p->buf.data)));
	mk_jb_begin(&j);
	mk_jb_str(&j, "item", item_code);
	mk_jb_str(&j, "uid", s->uid);
	mk_jb_str(&j, "from", lab_state_names[from]);
	mk_jb_str(&j, "to", lab_state_names[to]);
	mk_jb_str(&j, "lab", s->lab);
	mk_jb_int(&j, "scan", s->scan_id);
	mk_jb_time(&j, "at", s->at);
	return mk_jb_end(&j);
}

/*
 * How a lab's state changes are announced, per lab (mekatek.lab.announce;
 * a lab without a row: batch).  'each' sends one NOTIFY mekatek_lab and one
 * outbox row per change, as lab_notify and lab_payload_jsonb write it.
 * 'batch' sends one outbox row per lab and INSERT statement, a digest of
 * that statement's changes of the lab in the scans' order, and one NOTIFY
 * mekatek_lab saying how many changes it holds.  A scanner reads 100 to
 * 500 tubes in one batch, and a chat (the Telegram Bot API allows about
 * one message a second per chat) would take minutes to deliver them one
 * by one and bury the owner in messages: a digest is what a lab wants.
 * A digest holds at most LAB_DIGEST_MAX changes (more make more rows,
 * part k of n), so that the notifier's message stays under Telegram's
 * 4096 characters with the longest item codes.  'off' sends nothing; the
 * history is written all the same.  Until ALTER EXTENSION mekatek UPDATE
 * (0.1.0's tables, no mekatek.lab) every lab is 'each'.
 */
#define LAB_DIGEST_MAX 30

typedef enum LabAnnounce
{
	ANNOUNCE_EACH,
	ANNOUNCE_BATCH,
	ANNOUNCE_OFF
} LabAnnounce;

typedef struct LabChange
{
	const char *item_code;
	const RfidScan *s;
	int			from;
	int			lab;			/* index into Announcer.labs */
} LabChange;

typedef struct Announcer
{
	int			nlabs;
	char	  **labs;			/* the statement's labs, sorted, distinct */
	LabAnnounce *mode;
	int			n;				/* the batch labs' changes, in order */
	int			cap;
	LabChange  *changes;
	MkColumns	rows;			/* outbox payloads (jsonb) for announcer_write */
} Announcer;

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static LabAnnounce
announce_mode(const char *m)
{
	return strcmp(m, "each") == 0 ? ANNOUNCE_EACH : strcmp(m, "off") == 0 ? ANNOUNCE_OFF : ANNOUNCE_BATCH;
}

/*
 * The labs' rows read through lab_pkey under the statement's snapshot, as
 * the SELECT below reads them read-only, without starting a statement
 * (its plan check, executor and portal were as much as the reading, once
 * per INSERT).  False, with nothing read, when the table or its key is
 * not as created (then the SELECT runs) or under row security.
 */
static bool
lab_modes_by_index(Announcer *a, Oid nsp)
{
	Oid			relid = get_relname_relid("lab", nsp);
	Oid			idxoid = get_relname_relid("lab_pkey", nsp);
	Relation	rel;
	Relation	idx;
	AttrNumber	a_id,
				a_announce;
	IndexScanDesc scan;
	TupleTableSlot *slot;

	if (!OidIsValid(relid) || !OidIsValid(idxoid))
		return false;
	rel = table_open(relid, AccessShareLock);
	a_id = attnameAttNum(rel, "lab_id", false);
	a_announce = attnameAttNum(rel, "announce", false);
	if (rel->rd_rel->relrowsecurity || rel->rd_rel->relkind != RELKIND_RELATION ||
		a_id <= 0 || a_announce <= 0 ||
		TupleDescAttr(RelationGetDescr(rel), a_id - 1)->atttypid != TEXTOID ||
		TupleDescAttr(RelationGetDescr(rel), a_announce - 1)->atttypid != TEXTOID)
	{
		table_close(rel, AccessShareLock);
		return false;
	}
	idx = index_open(idxoid, AccessShareLock);
	if (idx->rd_index->indrelid != relid || !idx->rd_index->indisvalid ||
		idx->rd_rel->relam != BTREE_AM_OID || idx->rd_index->indnatts != 1 ||
		idx->rd_index->indkey.values[0] != a_id ||
		!heap_attisnull(idx->rd_indextuple, Anum_pg_index_indpred, NULL) ||
		!heap_attisnull(idx->rd_indextuple, Anum_pg_index_indexprs, NULL))
	{
		index_close(idx, AccessShareLock);
		table_close(rel, AccessShareLock);
		return false;
	}
	scan = index_beginscan(rel, idx, GetActiveSnapshot(), 1, 0);
	slot = table_slot_create(rel, NULL);
	for (int i = 0; i < a->nlabs; i++)
	{
		ScanKeyData key;
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(a->labs[i]));
		key.sk_collation = idx->rd_indcollation[0];
		index_rescan(scan, &key, 1, NULL, 0);
		if (index_getnext_slot(scan, ForwardScanDirection, slot))
		{
			Datum		m = slot_getattr(slot, a_announce, &isnull);

			if (!isnull)
				a->mode[i] = announce_mode(TextDatumGetCString(m));
		}
	}
	ExecDropSingleTupleTableSlot(slot);
	index_endscan(scan);
	index_close(idx, AccessShareLock);
	table_close(rel, AccessShareLock);
	return true;
}

/* The modes of the labs the statement's counted-to-be scans name. */
static void
announcer_init(Announcer *a, RfidScan *scans, int nscans)
{
	static SPIPlanPtr plan = NULL;
	Oid			nsp = get_namespace_oid("mekatek", true);
	int			n = 0;

	memset(a, 0, sizeof(*a));
	mk_columns_init(&a->rows, 1, 8);
	a->labs = palloc(sizeof(char *) * Max(nscans, 1));
	for (int i = 0; i < nscans; i++)
		if (scans[i].uid)
			a->labs[n++] = scans[i].lab;
	qsort(a->labs, n, sizeof(char *), cmp_str);
	for (int i = 0; i < n; i++)
		if (a->nlabs == 0 || strcmp(a->labs[a->nlabs - 1], a->labs[i]) != 0)
			a->labs[a->nlabs++] = a->labs[i];
	a->mode = palloc(sizeof(LabAnnounce) * Max(a->nlabs, 1));
	if (a->nlabs == 0)
		return;
	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid("lab", nsp)))
	{
		for (int i = 0; i < a->nlabs; i++)
			a->mode[i] = ANNOUNCE_EACH;
		return;
	}
	for (int i = 0; i < a->nlabs; i++)
		a->mode[i] = ANNOUNCE_BATCH;
	if (lab_modes_by_index(a, nsp))
		return;
	mk_spi_plan(&plan,
				"SELECT lab_id, announce FROM mekatek.lab WHERE lab_id = ANY ($1)",
				1, (Oid[]) {TEXTARRAYOID});
	{
		Datum		arg = text_array(a->labs, a->nlabs);

		mk_spi_execute_plan(plan, &arg, NULL, true, 0, SPI_OK_SELECT,
							"rfid_scan_apply: reading the labs' settings");
	}
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *lab = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *m = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		char	  **at = bsearch(&lab, a->labs, a->nlabs, sizeof(char *), cmp_str);

		if (at != NULL)
			a->mode[at - a->labs] = announce_mode(m);
	}
}

static int
announcer_lab(Announcer *a, const char *lab)
{
	char	  **at = bsearch(&lab, a->labs, a->nlabs, sizeof(char *), cmp_str);

	if (at == NULL)
		elog(ERROR, "rfid_scan_apply: lab \"%s\" not among the statement's", lab);
	return at - a->labs;
}

/*
 * A change of the scan's lab: 'each' is returned for the caller to
 * announce at once (lab_notify); a batch change is kept for the digest.
 */
static LabAnnounce
announce(Announcer *a, const char *item_code, const RfidScan *s, int from)
{
	int			lab = announcer_lab(a, s->lab);
	LabChange  *c;

	if (a->mode[lab] != ANNOUNCE_BATCH)
		return a->mode[lab];
	if (a->n == a->cap)
	{
		a->cap = Max(16, a->cap * 2);
		a->changes = a->changes ? repalloc(a->changes, sizeof(LabChange) * a->cap)
			: palloc(sizeof(LabChange) * a->cap);
	}
	c = &a->changes[a->n++];
	c->item_code = item_code;
	c->s = s;
	c->from = from;
	c->lab = lab;
	return ANNOUNCE_BATCH;
}

/* An 'each' change for announcer_write: NOTIFY now, the outbox row kept. */
static void
announce_each(Announcer *a, const char *item_code, const RfidScan *s, int from)
{
	MkPayload	p;
	int			r;

	lab_notify(&p, item_code, s, from, from + 1);
	r = mk_columns_add(&a->rows);
	a->rows.cols[0][r] = JsonbPGetDatum(lab_payload_jsonb(&p, item_code, s, from, from + 1));
}

static char *
time_text(TimestampTz t)
{
	char		buf[MAXDATELEN + 1];

	return pstrdup(JsonEncodeDateTime(buf, TimestampTzGetDatum(t), TIMESTAMPTZOID, NULL));
}

static JsonbValue
jb_str(const char *v)
{
	JsonbValue	j;

	j.type = jbvString;
	j.val.string.val = (char *) v;
	j.val.string.len = strlen(v);
	return j;
}

static JsonbValue
jb_int(int64 v)
{
	JsonbValue	j;

	j.type = jbvNumeric;
	j.val.numeric = int64_to_numeric(v);
	return j;
}

static void
jb_pair(JsonbPair *p, int order, const char *key, JsonbValue v)
{
	p->key = jb_str(key);
	p->value = v;
	p->order = order;
}

/*
 * One digest row's payload, {"lab", "part", "parts", "changes": [{"at",
 * "to", "uid", "from", "item", "scan"}, ...]}, as a JsonbValue tree whose
 * members are written in jsonb's key order (shorter keys first, then
 * bytewise), so that no object needs the parse state's sort (a fifth of
 * the digest's cost when built by pushJsonbValue).
 */
static Jsonb *
digest_jsonb(Announcer *a, int lab, int *next, int first, int n, int part, int parts)
{
	JsonbValue	top;
	JsonbValue	arr;
	JsonbPair  *tp = palloc(sizeof(JsonbPair) * 4);
	JsonbValue *elems = palloc(sizeof(JsonbValue) * n);
	JsonbPair  *pairs = palloc(sizeof(JsonbPair) * 6 * n);
	int			i = first;
	TimestampTz last_at = 0;
	char	   *last_text = NULL;

	for (int k = 0; k < n; k++, i = next[i])
	{
		LabChange  *c = &a->changes[i];
		JsonbPair  *p = &pairs[6 * k];

		/* a batch stamped by now() has one time: written once */
		if (last_text == NULL || c->s->at != last_at)
		{
			last_text = time_text(c->s->at);
			last_at = c->s->at;
		}
		jb_pair(&p[0], 0, "at", jb_str(last_text));
		jb_pair(&p[1], 1, "to", jb_str(lab_state_names[c->from + 1]));
		jb_pair(&p[2], 2, "uid", jb_str(c->s->uid));
		jb_pair(&p[3], 3, "from", jb_str(lab_state_names[c->from]));
		jb_pair(&p[4], 4, "item", jb_str(c->item_code));
		jb_pair(&p[5], 5, "scan", jb_int(c->s->scan_id));
		elems[k].type = jbvObject;
		elems[k].val.object.nPairs = 6;
		elems[k].val.object.pairs = p;
	}
	arr.type = jbvArray;
	arr.val.array.rawScalar = false;
	arr.val.array.nElems = n;
	arr.val.array.elems = elems;
	jb_pair(&tp[0], 0, "lab", jb_str(a->labs[lab]));
	jb_pair(&tp[1], 1, "part", jb_int(part));
	jb_pair(&tp[2], 2, "parts", jb_int(parts));
	jb_pair(&tp[3], 3, "changes", arr);
	top.type = jbvObject;
	top.val.object.nPairs = 4;
	top.val.object.pairs = tp;
	return JsonbValueToJsonb(&top);
}

/*
 * The digests of the batch labs' changes, each lab's in the order of its
 * first change: emit gets each row's payload, and mekatek_lab hears of
 * each row (lab, changes, part, parts, first_scan, last_scan).
 */
static void
announce_digests(Announcer *a, void (*emit) (Jsonb *payload, void *arg), void *arg)
{
	int		   *first = palloc(sizeof(int) * Max(a->nlabs, 1));
	int		   *last = palloc(sizeof(int) * Max(a->nlabs, 1));
	int		   *count = palloc0(sizeof(int) * Max(a->nlabs, 1));
	int		   *next = palloc(sizeof(int) * Max(a->n, 1));
	int		   *labs_in_order = palloc(sizeof(int) * Max(a->nlabs, 1));
	int			nlabs = 0;

	for (int l = 0; l < a->nlabs; l++)
		first[l] = -1;
	for (int i = 0; i < a->n; i++)
	{
		int			l = a->changes[i].lab;

		next[i] = -1;
		if (first[l] < 0)
		{
			first[l] = i;
			labs_in_order[nlabs++] = l;
		}
		else
			next[last[l]] = i;
		last[l] = i;
		count[l]++;
	}
	for (int k = 0; k < nlabs; k++)
	{
		int			l = labs_in_order[k];
		int			parts = (count[l] + LAB_DIGEST_MAX - 1) / LAB_DIGEST_MAX;
		int			i = first[l];

		for (int part = 1; part <= parts; part++)
		{
			MkPayload	p;
			int			n = Min(LAB_DIGEST_MAX, count[l] - (part - 1) * LAB_DIGEST_MAX);
			int			from = i;
			int64		last_scan = 0;

			CHECK_FOR_INTERRUPTS();
			for (int m = 0; m < n; m++, i = next[i])
				last_scan = a->changes[i].s->scan_id;
			emit(digest_jsonb(a, l, next, from, n, part, parts), arg);

			mk_payload_begin(&p);
			mk_payload_str(&p, "lab", a->labs[l]);
			mk_payload_int(&p, "changes", n);
			mk_payload_int(&p, "part", part);
			mk_payload_int(&p, "parts", parts);
			mk_payload_int(&p, "first_scan", a->changes[from].s->scan_id);
			mk_payload_int(&p, "last_scan", last_scan);
			mk_payload_notify(&p, "mekatek_lab");
		}
	}
}

static void
digest_to_rows(Jsonb *payload, void *arg)
{
	Announcer  *a = arg;
	int			r = mk_columns_add(&a->rows);

	a->rows.cols[0][r] = JsonbPGetDatum(payload);
}

/*
 * The statement's announcements as mekatek.outbox rows (channel lab), one
 * INSERT ('each' rows in order, then the digests), and NOTIFY
 * mekatek_outbox.  0.1.0's tables have no outbox: until ALTER EXTENSION
 * mekatek UPDATE the NOTIFYs are all there is.
 */
static void
announcer_write(Announcer *a)
{
	static SPIPlanPtr plan = NULL;
	Datum		arg;

	announce_digests(a, digest_to_rows, a);
	if (a->rows.n == 0 || !mk_devices_schema_0_2())
		return;
	mk_columns_arrays(&a->rows, (Oid[]) {JSONBOID}, &arg);
	mk_spi_plan(&plan,
				"INSERT INTO mekatek.outbox (channel, payload) "
				"SELECT 'lab', p FROM unnest($1::jsonb[]) AS p",
				1, (Oid[]) {JSONBARRAYOID});
	mk_spi_execute_plan(plan, &arg, NULL, false, 0, SPI_OK_INSERT, "rfid_scan_apply: queueing notifications");
	Async_Notify("mekatek_outbox", "lab");
}

/*
 * Mark the scans that moved no item, and announce each on mekatek_rfid.
 * Until ALTER EXTENSION mekatek UPDATE, rfid_scan's CHECK is 0.1.0's and
 * knows two flags: a scan refused for a reason of 0.2.0 is written as
 * unregistered, 0.1.0's word for "moved no item" (the notification says
 * why).
 */
static void
flags_write(RfidScan *scans, const char **flags, int nscans)
{
	bool		old_schema = !mk_devices_schema_0_2();

	static SPIPlanPtr plan = NULL;
	static const Oid types[2] = {INT8OID, TEXTOID};
	MkColumns c;
	Datum		args[2];

	mk_columns_init(&c, 2, 8);
	for (int i = 0; i < nscans; i++)
	{
		MkPayload	p;
		int			r;

		if (flags[i] == NULL)
			continue;
		r = mk_columns_add(&c);
		c.cols[0][r] = Int64GetDatum(scans[i].scan_id);
		c.cols[1][r] = CStringGetTextDatum(old_schema && strcmp(flags[i], "bad_uid") != 0
										   ? "unregistered" : flags[i]);

		mk_payload_begin(&p);
		mk_payload_int(&p, "scan", scans[i].scan_id);
		mk_payload_str(&p, "flag", flags[i]);
		mk_payload_str(&p, "uid", scans[i].raw_uid);
		mk_payload_str(&p, "scanner", scans[i].scanner);
		mk_payload_str(&p, "lab", scans[i].lab);
		mk_payload_time(&p, "at", scans[i].at);
		if (old_schema)
			mk_payload_notify(&p, "mekatek_rfid");
		else
			mk_payload_outbox(&p, "mekatek_rfid", "rfid");
	}
	if (c.n == 0)
		return;
	mk_columns_arrays(&c, types, args);
	mk_spi_plan(&plan,
				"UPDATE mekatek.rfid_scan s SET flag = u.flag "
				"  FROM unnest($1::int8[], $2::text[]) AS u(scan_id, flag) "
				" WHERE s.scan_id = u.scan_id",
				2, (Oid[]) {INT8ARRAYOID, TEXTARRAYOID});
	mk_rollup_counted_update(plan, args, "rfid_scan_apply: flagging");
}

/*
 * Why a scan of an item in the lab, and no bounce, moves no state (NULL
 * when it counts).  A device's clock is believed only forwards: a scan
 * dated before the item was registered or before its last counted scan
 * would rewrite history that was already announced.  Once queued, an item
 * belongs to the lab that queued it; a scan at another lab is a sample in
 * the wrong place, held for someone to look at.  The fast path's UPDATE
 * and flag_uncounted say the same in SQL.
 */
static const char *
scan_refused(int state, TimestampTz registered_at, bool has_last, TimestampTz last,
			 const char *lab, const RfidScan *s)
{
	if (s->at < registered_at)
		return "before_registration";
	if (has_last && s->at < last)
		return "out_of_order";
	if (state != 0 && lab != NULL && strcmp(lab, s->lab) != 0)
		return "wrong_lab";
	return NULL;
}

/*
 * The general case, a statement naming some tag more than once (an edge
 * client's replayed spool, a tag held on the reader): lock the items, run
 * the state machine here over the scans in insertion order, write the
 * result back.
 */
static void
scans_apply_stepwise(RfidScan *scans, int nscans, char **uids, int *counts, int nuids,
					 const char **flags, Announcer *ann)
{
	LabItem    *items;
	int			nitems = 0;
	DoneScan   *done;
	int			ndone;
	MkColumns hist;

	items = items_lock(uids, nuids, &nitems);
	done = done_scans(scans, nscans, uids, counts, nuids, items, nitems, &ndone);

	mk_columns_init(&hist, 8, nscans);
	for (int i = 0; i < nscans; i++)
	{
		RfidScan   *s = &scans[i];
		LabItem    *it;
		int			r;

		CHECK_FOR_INTERRUPTS();
		if (s->uid == NULL)
			continue;
		it = bsearch(s->uid, items, nitems, sizeof(LabItem), cmp_item_uid);
		if (it == NULL || it->state == LAB_DONE)
		{
			if (!done_bounce(done, ndone, items, nitems, s))
				flags[i] = "unregistered";
			continue;
		}
		if (it->has_last && rfid_bounced(it->last_scan_at, s->at))
			continue;
		if ((flags[i] = scan_refused(it->state, it->registered_at, it->has_last,
									 it->last_scan_at, it->lab, s)) != NULL)
			continue;

		r = mk_columns_add(&hist);
		hist.cols[0][r] = Int64GetDatum(it->item_id);
		hist.cols[1][r] = CStringGetTextDatum(it->uid);
		hist.cols[2][r] = CStringGetTextDatum(it->item_code);
		hist.cols[3][r] = Int16GetDatum(it->state + 1);
		hist.cols[4][r] = Int16GetDatum(it->state + 2);
		hist.cols[5][r] = CStringGetTextDatum(s->lab);
		hist.cols[6][r] = Int64GetDatum(s->scan_id);
		hist.cols[7][r] = TimestampTzGetDatum(s->at);
		if (announce(ann, it->item_code, s, it->state) == ANNOUNCE_EACH)
			announce_each(ann, it->item_code, s, it->state);

		it->state++;
		it->has_last = true;
		it->last_scan_at = s->at;
		it->lab = s->lab;
		it->changed = true;
	}

	items_update(items, nitems);
	history_insert(&hist);
}

/*
 * Execute a statement that locks lab items, keeping the lock order by UID
 * that the lock step's ORDER BY gives: otherwise two scanners' batches
 * naming the same tags could deadlock.  Every plan that finds the rows
 * through the active_uid index locks them in that order (the index scan
 * returns a sorted array's keys in order, and joining the scans, also
 * sorted by UID, keeps either side's order); a sequential, bitmap or TID
 * scan would lock them in the heap's order.  A cached plan is made again
 * after an invalidation, at some later execution, so the settings that
 * rule those scans out are set around every execution, as ri_triggers.c
 * sets its own around its checks.
 */
static void
execute_in_uid_order(SPIPlanPtr plan, Datum *args)
{
	static const char *const scans_off[] = {"enable_seqscan", "enable_bitmapscan", "enable_tidscan"};
	int			nest = NewGUCNestLevel();

	for (int i = 0; i < (int) lengthof(scans_off); i++)
		(void) set_config_option(scans_off[i], "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	mk_spi_execute_plan(plan, args, NULL, false, 0, SPI_OK_SELECT,
						"rfid_scan_apply: advancing the items");
	AtEOXact_GUC(true, nest);
}

/*
 * Of the scans the fast path did not count, the bounces (some item with
 * the tag, in the lab or just done, was counted within the debounce) are
 * no news; the others get the flag that says why, as scan_refused and the
 * stepwise path decide.  'sc' holds the fast path's parameter columns
 * (uid, lab, at, lo, hi, scan_id, ord).
 */
static const char *const scan_flags[] = {"unregistered", "before_registration",
"out_of_order", "wrong_lab"};

static void
flag_uncounted(MkColumns *sc, const bool *counted, const char **flags)
{
	static SPIPlanPtr plan = NULL;
	static const Oid types[6] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	TIMESTAMPTZOID, INT4OID};
	static const int from[6] = {0, 1, 2, 3, 4, 6};
	MkColumns c;
	Datum		args[6];

	mk_columns_init(&c, 6, 8);
	for (int i = 0; i < sc->n; i++)
	{
		int			ord = DatumGetInt32(sc->cols[6][i]);
		int			r;

		if (counted[ord])
			continue;
		r = mk_columns_add(&c);
		for (int k = 0; k < 6; k++)
			c.cols[k][r] = sc->cols[from[k]][i];
	}
	mk_columns_arrays(&c, types, args);
	/* The CASE's numbers are positions in scan_flags, 0 for a bounce. */
	mk_spi_plan(&plan,
				"SELECT s.ord, CASE "
				"  WHEN i.item_id IS NULL THEN "
				"       CASE WHEN EXISTS (SELECT FROM mekatek.lab_item d WHERE d.uid = s.uid "
				"                            AND d.last_scan_at > s.lo AND d.last_scan_at < s.hi) "
				"            THEN 0 ELSE 1 END "
				"  WHEN i.last_scan_at > s.lo AND i.last_scan_at < s.hi THEN 0 "
				"  WHEN s.at < i.registered_at THEN 2 "
				"  WHEN s.at < i.last_scan_at THEN 3 "
				"  WHEN i.state <> 'registered' AND i.lab IS DISTINCT FROM s.lab THEN 4 "
				"  ELSE 1 END "
				"  FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], "
				"              $5::timestamptz[], $6::int4[]) AS s(uid, lab, at, lo, hi, ord) "
				"  LEFT JOIN mekatek.lab_item i ON i.active_uid = s.uid",
				6, (Oid[]) {TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID,
				TIMESTAMPTZARRAYOID, INT4ARRAYOID});
	/* A fresh snapshot: the rows the UPDATE saw, concurrent scanners' included. */
	mk_spi_execute_plan(plan, args, NULL, false, 0, SPI_OK_SELECT, "rfid_scan_apply: classifying uncounted scans");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int			ord = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		int			f = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));

		flags[ord] = f == 0 ? NULL : scan_flags[f - 1];
	}
}

/*
 * The usual statement names each tag once (a scanner's batch, a single
 * read): each item then takes at most one step, and one statement takes
 * them all, an UPDATE of the items the debounce lets through feeding the
 * history INSERT.  Its WHERE clause is checked again on the row a
 * concurrent scanner committed while this one waited for it (READ
 * COMMITTED's EvalPlanQual), so the same press read by two scanners counts
 * once, as with the lock step.  'order' lists the scans with a UID, sorted
 * by it.
 */
/* The fast path's parameters (uid, lab, at, lo, hi, scan_id, ord), in UID order. */
static void
distinct_params(RfidScan *scans, int *order, int nvalid, MkColumns *c)
{
	mk_columns_init(c, 7, nvalid);
	for (int i = 0; i < nvalid; i++)
	{
		RfidScan   *s = &scans[order[i]];
		TimestampTz lo,
					hi;
		int			r = mk_columns_add(c);

		bounce_window(s->at, &lo, &hi);
		c->cols[0][r] = CStringGetTextDatum(s->uid);
		c->cols[1][r] = CStringGetTextDatum(s->lab);
		c->cols[2][r] = TimestampTzGetDatum(s->at);
		c->cols[3][r] = TimestampTzGetDatum(lo);
		c->cols[4][r] = TimestampTzGetDatum(hi);
		c->cols[5][r] = Int64GetDatum(s->scan_id);
		c->cols[6][r] = Int32GetDatum(order[i]);
	}
}

static void
scans_apply_distinct(RfidScan *scans, int nscans, int *order, int nvalid, const char **flags,
					 Announcer *ann)
{
	static SPIPlanPtr plan = NULL;
	static const Oid types[7] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	TIMESTAMPTZOID, INT8OID, INT4OID};
	MkColumns c;
	Datum		args[7];
	bool	   *counted = palloc0(sizeof(bool) * nscans);

	distinct_params(scans, order, nvalid, &c);
	mk_columns_arrays(&c, types, args);
	mk_spi_plan(&plan,
				"WITH s AS (SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], "
				"                                $4::timestamptz[], $5::timestamptz[], $6::int8[], $7::int4[]) "
				"                  AS s(uid, lab, at, lo, hi, scan_id, ord)), "
				"     u AS (UPDATE mekatek.lab_item i "
				"              SET state = CASE i.state WHEN 'registered' THEN 'queued'::mekatek.lab_state "
				"                                       WHEN 'queued' THEN 'testing'::mekatek.lab_state "
				"                                       ELSE 'done'::mekatek.lab_state END, "
				"                  active_uid = CASE WHEN i.state = 'testing' THEN NULL ELSE i.active_uid END, "
				"                  lab = s.lab, last_scan_at = s.at, updated_at = now() "
				"             FROM s "
				"            WHERE i.active_uid = ANY ($1) AND i.active_uid = s.uid "
				"              AND (i.last_scan_at IS NULL OR i.last_scan_at <= s.lo) "
				"              AND s.at >= i.registered_at "
				"              AND (i.state = 'registered' OR i.lab = s.lab) "
				"           RETURNING i.item_id, i.uid, i.item_code, i.state, s.lab, s.scan_id, s.at, s.ord), "
				"     h AS (INSERT INTO mekatek.lab_item_history "
				"                  (item_id, uid, item_code, from_state, to_state, lab, scan_id, at) "
				"           SELECT item_id, uid, item_code, "
				"                  CASE state WHEN 'queued' THEN 'registered'::mekatek.lab_state "
				"                             WHEN 'testing' THEN 'queued'::mekatek.lab_state "
				"                             ELSE 'testing'::mekatek.lab_state END, "
				"                  state, lab, scan_id, at "
				"             FROM u ORDER BY ord) "
				"SELECT ord, item_code, state::text FROM u ORDER BY ord",
				7, (Oid[]) {TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID,
				TIMESTAMPTZARRAYOID, INT8ARRAYOID, INT4ARRAYOID});
	execute_in_uid_order(plan, args);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		int			ord = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		int			to = lab_state_index(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3));
		char	   *item_code = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

		counted[ord] = true;
		if (announce(ann, item_code, &scans[ord], to - 1) == ANNOUNCE_EACH)
			announce_each(ann, item_code, &scans[ord], to - 1);
	}
	if (SPI_processed < (uint64) nvalid)
		flag_uncounted(&c, counted, flags);
}

/*
 * scans_apply_distinct by rows (direct.c): the same UPDATE, history and
 * outbox rows, written through the executor's row entry points.  Each
 * item is found through lab_item_active_uid_key in UID order (the
 * statement's lock order), checked with the UPDATE's WHERE and updated as
 * the UPDATE updates it (checked again, locked, on the version a
 * concurrent scanner committed); the history and outbox rows follow in the
 * scans' order, as the statements write them, and when every scan counted
 * the rollup rows (mk_rollup_write_direct).  False, before anything is read, where the
 * statements must run instead (direct.c says when).
 */
enum
{
	I_ITEM_ID, I_UID, I_ITEM_CODE, I_STATE, I_ACTIVE_UID, I_LAB, I_REGISTERED_AT, I_LAST_SCAN_AT,
	I_UPDATED_AT
};
static const char *const item_cols[] = {"item_id", "uid", "item_code", "state", "active_uid", "lab",
"registered_at", "last_scan_at", "updated_at", NULL};
enum
{
	H_ID, H_ITEM_ID, H_UID, H_ITEM_CODE, H_FROM, H_TO, H_LAB, H_SCAN_ID, H_AT, H_RECORDED_AT
};
static const char *const history_cols[] = {"history_id", "item_id", "uid", "item_code", "from_state",
"to_state", "lab", "scan_id", "at", "recorded_at", NULL};
enum
{
	O_ID, O_CHANNEL, O_PAYLOAD, O_CREATED, O_CLAIMED_AT, O_DELIVERED_AT, O_ATTEMPTS
};
static const char *const outbox_cols[] = {"outbox_id", "channel", "payload", "created", "claimed_at",
"delivered_at", "attempts", NULL};

typedef struct ItemCheck
{
	MkDirectTable *item;
	const RfidScan *s;
	Datum		key;			/* s->uid as text */
	TimestampTz lo;				/* of the scan's debounce window */
	const Oid  *states;			/* lab_state's OIDs, in lab_state_names' order */
	int			state;			/* out: the item's state */
} ItemCheck;

static int
state_of(const Oid *states, Oid value)
{
	for (int i = 0; i < LAB_STATES; i++)
		if (states[i] == value)
			return i;
	elog(ERROR, "rfid_scan_apply: unknown lab state %u", value);
	return -1;					/* keep the compiler quiet */
}

/* The fast path's WHERE clause, on a row of lab_item. */
static bool
item_check(TupleTableSlot *found, void *arg)
{
	ItemCheck  *c = arg;
	MkDirectTable *t = c->item;
	bool		isnull;
	Datum		v;
	int			state;

	v = slot_getattr(found, t->att[I_ACTIVE_UID] + 1, &isnull);
	if (isnull || !DatumGetBool(DirectFunctionCall2Coll(texteq, C_COLLATION_OID, v, c->key)))
		return false;
	state = state_of(c->states, DatumGetObjectId(slot_getattr(found, t->att[I_STATE] + 1, &isnull)));
	if (state == LAB_DONE)
		return false;
	v = slot_getattr(found, t->att[I_LAST_SCAN_AT] + 1, &isnull);
	if (!isnull && DatumGetTimestampTz(v) > c->lo)
		return false;
	v = slot_getattr(found, t->att[I_REGISTERED_AT] + 1, &isnull);
	if (isnull || c->s->at < DatumGetTimestampTz(v))
		return false;
	if (state != 0)
	{
		v = slot_getattr(found, t->att[I_LAB] + 1, &isnull);
		if (isnull || !DatumGetBool(DirectFunctionCall2Coll(texteq, DEFAULT_COLLATION_OID, v,
															CStringGetTextDatum(c->s->lab))))
			return false;
	}
	c->state = state;
	return true;
}

typedef struct Step
{
	int			ord;
	int64		item_id;
	Datum		uid;
	char	   *item_code;
	int			from;
} Step;

static int
cmp_step_ord(const void *a, const void *b)
{
	int			x = ((const Step *) a)->ord;
	int			y = ((const Step *) b)->ord;

	return (x > y) - (x < y);
}

/* A row of mekatek.outbox on channel lab, by row. */
static void
outbox_row(MkDirect *d, MkDirectTable *obox, Datum payload, TimestampTz now)
{
	mk_direct_new_row(obox);
	mk_direct_set(obox, O_ID, Int64GetDatum(mk_direct_identity(obox)));
	mk_direct_set(obox, O_CHANNEL, CStringGetTextDatum("lab"));
	mk_direct_set(obox, O_PAYLOAD, payload);
	mk_direct_set(obox, O_CREATED, TimestampTzGetDatum(now));
	mk_direct_set(obox, O_ATTEMPTS, Int32GetDatum(0));
	mk_direct_insert(d, obox);
}

typedef struct DirectOutbox
{
	MkDirect   *d;
	MkDirectTable *obox;
	TimestampTz now;
	int			n;
} DirectOutbox;

/*
 * A digest row by row, compressed here with lz4 (PostgreSQL's own
 * toast_compress_datum, as for a column SET COMPRESSION lz4) when the
 * payload column leaves the method open: a digest of 30 changes is some
 * 4 kB, and pglz, which the toaster would use, cost more than building
 * it.  The toaster keeps a compressed value as it is; readers see the
 * same jsonb.
 */
static void
digest_direct(Jsonb *payload, void *arg)
{
	DirectOutbox *o = arg;
	Datum		v = JsonbPGetDatum(payload);

#ifdef USE_LZ4
	{
		char		cm = TupleDescAttr(RelationGetDescr(o->obox->rel), o->obox->att[O_PAYLOAD])->attcompression;

		/* about where the toaster would compress: the other columns are small */
		if (VARSIZE(payload) > TOAST_TUPLE_THRESHOLD - 128 &&
			(cm == InvalidCompressionMethod || cm == TOAST_LZ4_COMPRESSION))
		{
			Datum		c = toast_compress_datum(v, TOAST_LZ4_COMPRESSION);

			if (DatumGetPointer(c) != NULL)
				v = c;
		}
	}
#endif
	outbox_row(o->d, o->obox, v, o->now);
	o->n++;
}

/*
 * lab_item's generated tag_code, computed here for a scan's update instead
 * of by ExecComputeStoredGenerated: that planned the expression again for
 * every statement, evaluated a CASE over the enum per row and copied the
 * whole new row once more (1.5 % of an RFID batch's backend, a tenth of
 * the item update).  Only while the column's stored expression is the one
 * devices.sql writes, deparsed (so by operator, function and enum label,
 * under the trigger's pinned search_path) and compared as text, and it is
 * lab_item's only generated column: anything else (a later release's
 * expression, an admin's ALTER) gets -1 and the executor's computation.
 * The answer is kept per backend with the expression's stored form
 * (adbin, from the relcache), and asked again when that form changes.
 */
#define TAG_CODE_EXPR "(item_code || CASE state WHEN 'queued'::lab_state THEN '-A'::text " \
	"WHEN 'testing'::lab_state THEN '-U'::text WHEN 'done'::lab_state THEN '-S'::text ELSE ''::text END)"
static const char *const tag_code_suffix[LAB_STATES] = {"", "-A", "-U", "-S"};

static int
tag_code_att(Relation rel, int code_att, int state_att)
{
	static char *known_adbin = NULL;
	static bool known_exact = false;
	TupleDesc	desc = RelationGetDescr(rel);
	TupleConstr *constr = desc->constr;
	int			att = -1;
	int			ngenerated = 0;
	const char *adbin = NULL;

	if (constr == NULL || !constr->has_generated_stored)
		return -1;
	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute f = TupleDescAttr(desc, a);

		if (f->attisdropped || f->attgenerated == '\0')
			continue;
		ngenerated++;
		if (f->attgenerated == ATTRIBUTE_GENERATED_STORED && f->atttypid == TEXTOID &&
			strcmp(NameStr(f->attname), "tag_code") == 0)
			att = a;
	}
	if (att < 0 || ngenerated != 1 || TupleDescAttr(desc, code_att)->atttypid != TEXTOID)
		return -1;
	for (int i = 0; i < constr->num_defval; i++)
		if (constr->defval[i].adnum == att + 1)
			adbin = constr->defval[i].adbin;
	if (adbin == NULL)
		return -1;
	if (known_adbin == NULL || strcmp(known_adbin, adbin) != 0)
	{
		char	   *text = deparse_expression(stringToNode(adbin),
											  deparse_context_for(RelationGetRelationName(rel),
																  RelationGetRelid(rel)),
											  false, false);
		char	   *copy = MemoryContextStrdup(TopMemoryContext, adbin);

		if (known_adbin)
			pfree(known_adbin);
		known_adbin = copy;
		known_exact = strcmp(text, TAG_CODE_EXPR) == 0;
	}
	return known_exact ? att : -1;
}

/* The new row's tag_code: item_code || the new state's suffix. */
static void
tag_code_set(MkDirectTable *item, int att, int state)
{
	bool		isnull;
	Datum		code = mk_direct_get(item, I_ITEM_CODE, &isnull);

	if (isnull)
	{
		item->slot->tts_values[att] = (Datum) 0;
		item->slot->tts_isnull[att] = true;
		return;
	}
	{
		text	   *t = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(code));
		size_t		len = VARSIZE_ANY_EXHDR(t);
		size_t		slen = strlen(tag_code_suffix[state]);
		text	   *r = palloc(VARHDRSZ + len + slen);

		SET_VARSIZE(r, VARHDRSZ + len + slen);
		memcpy(VARDATA(r), VARDATA_ANY(t), len);
		memcpy(VARDATA(r) + len, tag_code_suffix[state], slen);
		item->slot->tts_values[att] = PointerGetDatum(r);
		item->slot->tts_isnull[att] = false;
	}
}

static bool
scans_apply_distinct_direct(RfidScan *scans, int nscans, int *order, int nvalid, const char **flags,
							Announcer *ann, bool *rollup_written)
{
	MkDirectTable item = {.name = "lab_item",.cols = item_cols,.update = true,
		.updated = {[I_STATE] = true,[I_ACTIVE_UID] = true,[I_LAB] = true,[I_LAST_SCAN_AT] = true,
		[I_UPDATED_AT] = true},
		.types = {[I_ITEM_ID] = INT8OID,[I_UID] = TEXTOID,[I_ITEM_CODE] = TEXTOID,
			[I_ACTIVE_UID] = TEXTOID,[I_LAB] = TEXTOID,[I_REGISTERED_AT] = TIMESTAMPTZOID,
		[I_LAST_SCAN_AT] = TIMESTAMPTZOID,[I_UPDATED_AT] = TIMESTAMPTZOID}};
	MkDirectTable hist = {.name = "lab_item_history",.cols = history_cols,
		.types = {[H_ID] = INT8OID,[H_ITEM_ID] = INT8OID,[H_UID] = TEXTOID,[H_ITEM_CODE] = TEXTOID,
			[H_LAB] = TEXTOID,[H_SCAN_ID] = INT8OID,[H_AT] = TIMESTAMPTZOID,
		[H_RECORDED_AT] = TIMESTAMPTZOID}};
	MkDirectTable obox = {.name = "outbox",.cols = outbox_cols,
		.types = {[O_ID] = INT8OID,[O_CHANNEL] = TEXTOID,[O_PAYLOAD] = JSONBOID,
			[O_CREATED] = TIMESTAMPTZOID,[O_CLAIMED_AT] = TIMESTAMPTZOID,
		[O_DELIVERED_AT] = TIMESTAMPTZOID,[O_ATTEMPTS] = INT4OID}};
	MkDirectTable roll = {.name = "rfid_rollup_pending",.cols = mk_rfid_rollup_cols};
	MkDirectTable *tables[4] = {&item, &hist, &obox, &roll};
	MkDirect	d;
	Oid			state_type;
	int			tag_att = -1;
	Oid			states[LAB_STATES];
	Step	   *steps;
	int			nsteps = 0;
	bool	   *counted;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	int			nrows = 0;
	MemoryContext outer;

	memcpy(roll.types, mk_rfid_rollup_types, sizeof(Oid) * 5);
	if (!mk_devices_schema_0_2() || !mk_direct_begin(&d, tables, 4))
		return false;
	state_type = TupleDescAttr(RelationGetDescr(item.rel), item.att[I_STATE])->atttypid;
	if (!mk_direct_use_index(&d, &item, "lab_item_active_uid_key", I_ACTIVE_UID) ||
		TupleDescAttr(RelationGetDescr(hist.rel), hist.att[H_FROM])->atttypid != state_type ||
		TupleDescAttr(RelationGetDescr(hist.rel), hist.att[H_TO])->atttypid != state_type ||
		!type_is_enum(state_type))
	{
		mk_direct_end(&d);
		return false;
	}
	for (int i = 0; i < LAB_STATES; i++)
		states[i] = DatumGetObjectId(DirectFunctionCall2(enum_in, CStringGetDatum(lab_state_names[i]),
														 ObjectIdGetDatum(state_type)));

	tag_att = tag_code_att(item.rel, item.att[I_ITEM_CODE], item.att[I_STATE]);
	item.generated_set = tag_att >= 0;
	steps = palloc(sizeof(Step) * Max(nvalid, 1));
	counted = palloc0(sizeof(bool) * Max(nscans, 1));
	for (int i = 0; i < nvalid; i++)
	{
		RfidScan   *s = &scans[order[i]];
		ItemCheck	c;
		TimestampTz hi;
		bool		isnull;
		Step	   *st;
		MkDirectUpdated updated;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(d.row_memory);
		outer = MemoryContextSwitchTo(d.row_memory);
		c.item = &item;
		c.s = s;
		c.key = CStringGetTextDatum(s->uid);
		c.states = states;
		bounce_window(s->at, &c.lo, &hi);
		if (mk_direct_find(&d, &item, c.key, item_check, &c) != MK_DIRECT_FOUND)
		{
			MemoryContextSwitchTo(outer);
			continue;
		}

		/*
		 * The new version, from the one found; built again from the version
		 * a concurrent scanner committed meanwhile, if any (item_check ran
		 * again on it and set c.state anew).
		 */
		do
		{
			mk_direct_row_from_found(&item);
			mk_direct_set(&item, I_STATE, ObjectIdGetDatum(states[c.state + 1]));
			if (c.state + 1 == LAB_DONE)
				mk_direct_set_null(&item, I_ACTIVE_UID);
			mk_direct_set(&item, I_LAB, CStringGetTextDatum(s->lab));
			mk_direct_set(&item, I_LAST_SCAN_AT, TimestampTzGetDatum(s->at));
			mk_direct_set(&item, I_UPDATED_AT, TimestampTzGetDatum(now));
			if (tag_att >= 0)
				tag_code_set(&item, tag_att, c.state + 1);
		} while ((updated = mk_direct_update(&d, &item)) == MK_DIRECT_AGAIN);
		if (updated != MK_DIRECT_UPDATED)
		{
			MemoryContextSwitchTo(outer);
			continue;
		}

		/* what the history and outbox rows need, kept for the whole batch */
		MemoryContextSwitchTo(outer);
		st = &steps[nsteps++];
		st->ord = order[i];
		st->item_id = DatumGetInt64(mk_direct_get(&item, I_ITEM_ID, &isnull));
		st->uid = PointerGetDatum(DatumGetTextPCopy(mk_direct_get(&item, I_UID, &isnull)));
		st->item_code = TextDatumGetCString(mk_direct_get(&item, I_ITEM_CODE, &isnull));
		st->from = c.state;
		counted[order[i]] = true;
	}

	/* history and outbox rows in the scans' order, as the statements write them */
	qsort(steps, nsteps, sizeof(Step), cmp_step_ord);
	for (int i = 0; i < nsteps; i++)
	{
		Step	   *st = &steps[i];
		RfidScan   *s = &scans[st->ord];
		MkPayload	p;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(d.row_memory);
		outer = MemoryContextSwitchTo(d.row_memory);
		mk_direct_new_row(&hist);
		mk_direct_set(&hist, H_ID, Int64GetDatum(mk_direct_identity(&hist)));
		mk_direct_set(&hist, H_ITEM_ID, Int64GetDatum(st->item_id));
		mk_direct_set(&hist, H_UID, st->uid);
		mk_direct_set(&hist, H_ITEM_CODE, CStringGetTextDatum(st->item_code));
		mk_direct_set(&hist, H_FROM, ObjectIdGetDatum(states[st->from]));
		mk_direct_set(&hist, H_TO, ObjectIdGetDatum(states[st->from + 1]));
		mk_direct_set(&hist, H_LAB, CStringGetTextDatum(s->lab));
		mk_direct_set(&hist, H_SCAN_ID, Int64GetDatum(s->scan_id));
		mk_direct_set(&hist, H_AT, TimestampTzGetDatum(s->at));
		mk_direct_set(&hist, H_RECORDED_AT, TimestampTzGetDatum(now));
		mk_direct_insert(&d, &hist);
		MemoryContextSwitchTo(outer);

		/* a batch change waits for its digest, in the batch's memory */
		if (announce(ann, st->item_code, s, st->from) != ANNOUNCE_EACH)
			continue;
		MemoryContextSwitchTo(d.row_memory);
		lab_notify(&p, st->item_code, s, st->from, st->from + 1);
		outbox_row(&d, &obox, JsonbPGetDatum(lab_payload_jsonb(&p, st->item_code, s, st->from, st->from + 1)),
				   now);
		MemoryContextSwitchTo(outer);
		nrows++;
	}
	{
		DirectOutbox o = {&d, &obox, now, 0};

		announce_digests(ann, digest_direct, &o);
		ann->n = 0;				/* written */
		nrows += o.n;
	}
	/*
	 * Every scan counted: the flags are final (only the ones set before,
	 * bad UIDs and times), and the rollup rows go in with the rest.
	 */
	if (nsteps == nvalid)
	{
		MkRollup	rollup;

		mk_rollup_begin(&rollup, false);
		for (int i = 0; i < nscans; i++)
			mk_rollup_add(&rollup, scans[i].lab, scans[i].at, 0, 0, flags[i] != NULL);
		mk_rollup_write_direct(&rollup, &d, &roll);
		*rollup_written = true;
	}
	mk_direct_end(&d);
	if (nrows > 0)
		Async_Notify("mekatek_outbox", "lab");

	if (nsteps < nvalid)
	{
		MkColumns	c;

		distinct_params(scans, order, nvalid, &c);
		flag_uncounted(&c, counted, flags);
	}
	return true;
}

/*
 * AFTER INSERT ... FOR EACH STATEMENT trigger on mekatek.rfid_scan: the
 * statement's scans, from its transition table, in insertion order.  Each
 * scan of a tag in the lab advances its item unless it is within the
 * debounce interval of the item's last counted scan; a scan of no item in
 * the lab is a bounce of a just-finished item's last press, or is flagged.
 */
Datum
mk_rfid_scan_apply(PG_FUNCTION_ARGS)
{
	MkTransition t;
	RfidScan   *scans;
	int			nscans;
	int		   *order;
	int			nvalid;
	char	  **uids;
	int		   *counts;
	int			nuids;
	const char **flags;
	Announcer	ann;
	bool		rollup_written = false;

	if (!mk_transition_open(&t, fcinfo, "rfid_scan_apply"))
		return PointerGetDatum(NULL);

	SPI_connect();
	scans = scans_read(fcinfo, &t, &nscans);
	flags = palloc0(sizeof(char *) * Max(nscans, 1));
	for (int i = 0; i < nscans; i++)
	{
		if (scans[i].uid == NULL)
			flags[i] = "bad_uid";
		else if (!mk_device_time_ok(scans[i].at))
		{
			/* Kept and flagged, and out of the state machine's way. */
			flags[i] = "bad_time";
			scans[i].uid = NULL;
		}
	}
	order = scans_by_uid(scans, nscans, &nvalid);
	uids = scans_uids(scans, order, nvalid, &nuids, &counts);
	announcer_init(&ann, scans, nscans);
	if (nuids == nvalid && nvalid > 0)
	{
		if (!scans_apply_distinct_direct(scans, nscans, order, nvalid, flags, &ann, &rollup_written))
			scans_apply_distinct(scans, nscans, order, nvalid, flags, &ann);
	}
	else if (nvalid > 0)
		scans_apply_stepwise(scans, nscans, uids, counts, nuids, flags, &ann);
	announcer_write(&ann);
	flags_write(scans, flags, nscans);
	if (mk_devices_schema_0_2() && !rollup_written)
	{
		MkRollup	rollup;

		/* Every scan, flagged when it moved no item. */
		mk_rollup_begin(&rollup, false);
		for (int i = 0; i < nscans; i++)
			mk_rollup_add(&rollup, scans[i].lab, scans[i].at, 0, 0, flags[i] != NULL);
		mk_rollup_write(&rollup);
	}
	SPI_finish();
	mk_transition_close(&t);
	return PointerGetDatum(NULL);
}
