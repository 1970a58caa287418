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
 * nothing twice.  Scans are applied one by one in insertion order.  The change is
 * one UPDATE whose WHERE clause holds the debounce test; two scanners
 * reading one tag at once serialise on the item's row, and under READ
 * COMMITTED the one that waited re-checks the condition against the row
 * the other committed: it sees that scan's time and counts as a bounce.
 */
#include "devices.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(mk_rfid_uid);
PG_FUNCTION_INFO_V1(mk_rfid_uid_trigger);
PG_FUNCTION_INFO_V1(mk_lab_register);
PG_FUNCTION_INFO_V1(mk_rfid_scan_apply);

/* mekatek.rfid_uid(text): the normalised UID, or 22P02. */
Datum
mk_rfid_uid(PG_FUNCTION_ARGS)
{
	char	   *raw = mk_arg_cstring(fcinfo, 0, "uid", true);

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
	raw = TextDatumGetCString(value);
	uid = strict ? mk_uid_parse(raw, td->tg_trigger->tgargs[0]) : mk_uid_normalise(raw);
	if (uid == NULL || strcmp(uid, raw) == 0)
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
	char	   *uid = mk_uid_parse(mk_arg_cstring(fcinfo, 0, "uid", false), "uid");
	char	   *code = mk_arg_cstring(fcinfo, 1, "item_code", false);
	char	   *company = mk_arg_cstring(fcinfo, 2, "company", false);
	char	   *kind = mk_arg_cstring(fcinfo, 3, "kind", false);
	char	   *test = mk_arg_cstring(fcinfo, 4, "test", false);
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
	if (SPI_execute_plan(plan_insert, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "lab_register: insert failed");

	if (SPI_processed == 0)
	{
		/* Which unique rule did it meet?  Say it with the other item's data. */
		if (SPI_execute_with_args("SELECT item_code, state::text FROM mekatek.lab_item "
								  "WHERE active_uid = $1",
								  1, (Oid[]) {TEXTOID}, args, NULL, true, 1) == SPI_OK_SELECT &&
			SPI_processed == 1)
			mk_error(ERRCODE_UNIQUE_VIOLATION,
					 "A tag can be registered again once its item is done.",
					 "RFID tag %s is still in the lab as item %s (state %s)", uid,
					 SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
					 SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2));
		if (SPI_execute_with_args("SELECT uid FROM mekatek.lab_item WHERE item_code = $1",
								  1, (Oid[]) {TEXTOID}, &args[1], NULL, true, 1) == SPI_OK_SELECT &&
			SPI_processed == 1)
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

static SPIPlanPtr plan_advance = NULL;
static SPIPlanPtr plan_seen = NULL;
static SPIPlanPtr plan_flag = NULL;

/* One scan, in insertion order: advance its item, or debounce, or flag it. */
static void
scan_apply(int64 scan_id, const char *raw_uid, const char *lab, const char *scanner,
		   TimestampTz at)
{
	const char *flag = NULL;
	char	   *uid;

	uid = mk_uid_normalise(raw_uid);
	if (uid == NULL)
		flag = "bad_uid";
	else
	{
		Datum		a[5];
		Interval   *debounce = palloc0(sizeof(Interval));

		debounce->time = (int64) mk_rfid_debounce_ms * 1000;
		a[0] = CStringGetTextDatum(uid);
		a[1] = TimestampTzGetDatum(at);
		a[2] = IntervalPGetDatum(debounce);
		a[3] = CStringGetTextDatum(lab);
		a[4] = Int64GetDatum(scan_id);

		/*
		 * One statement for the common case: advance the tag's item unless
		 * this read is within the debounce interval of the last counted one.
		 * A second scanner blocked on the row re-checks the condition on
		 * the row the first one committed, and finds itself debounced.
		 */
		mk_spi_plan(&plan_advance,
					 "WITH u AS (UPDATE mekatek.lab_item "
					 "              SET state = CASE state WHEN 'registered' THEN 'queued' "
					 "                                     WHEN 'queued' THEN 'testing' "
					 "                                     ELSE 'done' END::mekatek.lab_state, "
					 "                  active_uid = CASE state WHEN 'testing' THEN NULL "
					 "                                          ELSE active_uid END, "
					 "                  lab = $4, last_scan_at = $2, updated_at = now() "
					 "            WHERE active_uid = $1 "
					 "              AND (last_scan_at IS NULL OR last_scan_at <= $2 - $3 "
					 "                   OR last_scan_at >= $2 + $3) "
					 "        RETURNING item_id, uid, item_code, state) "
					 "INSERT INTO mekatek.lab_item_history"
					 "       (item_id, uid, item_code, from_state, to_state, lab, scan_id, at) "
					 "SELECT item_id, uid, item_code, "
					 "       CASE state WHEN 'queued' THEN 'registered' WHEN 'testing' THEN 'queued' "
					 "                  ELSE 'testing' END::mekatek.lab_state, "
					 "       state, $4, $5, $2 FROM u",
					 5, (Oid[]) {TEXTOID, TIMESTAMPTZOID, INTERVALOID, TEXTOID, INT8OID});
		if (SPI_execute_plan(plan_advance, a, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "rfid_scan_apply: transition failed");
		if (SPI_processed == 0)
		{
			/*
			 * Nothing advanced: a bounce (of an item in the lab, or of the
			 * scan that just finished one), or a tag no item in the lab has.
			 */
			mk_spi_plan(&plan_seen,
						 "SELECT 1 FROM mekatek.lab_item WHERE uid = $1 AND (state <> 'done' "
						 "OR (last_scan_at > $2 - $3 AND last_scan_at < $2 + $3)) LIMIT 1",
						 3, (Oid[]) {TEXTOID, TIMESTAMPTZOID, INTERVALOID});
			if (SPI_execute_plan(plan_seen, a, NULL, true, 1) != SPI_OK_SELECT)
				elog(ERROR, "rfid_scan_apply: item lookup failed");
			if (SPI_processed == 0)
				flag = "unregistered";
		}
	}

	if (flag)
	{
		Datum		a[2];
		MkPayload	p;

		mk_spi_plan(&plan_flag,
				  "UPDATE mekatek.rfid_scan SET flag = $2 WHERE scan_id = $1",
				  2, (Oid[]) {INT8OID, TEXTOID});
		a[0] = Int64GetDatum(scan_id);
		a[1] = CStringGetTextDatum(flag);
		if (SPI_execute_plan(plan_flag, a, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "rfid_scan_apply: flagging failed");

		mk_payload_begin(&p);
		mk_payload_int(&p, "scan", scan_id);
		mk_payload_str(&p, "flag", flag);
		mk_payload_str(&p, "uid", raw_uid);
		mk_payload_str(&p, "scanner", scanner);
		mk_payload_str(&p, "lab", lab);
		mk_payload_time(&p, "at", at);
		mk_payload_notify(&p, "mekatek_rfid");
	}
}

/*
 * AFTER INSERT ... FOR EACH STATEMENT trigger on mekatek.rfid_scan: the
 * statement's scans, from its transition table, in insertion order (once
 * per statement: the SECURITY DEFINER switch and SPI set-up are not paid
 * per scan).
 */
Datum
mk_rfid_scan_apply(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	MkTransition t;
	AttrNumber	a_scan_id,
				a_uid,
				a_lab,
				a_scanner,
				a_at;

	if (!mk_transition_open(&t, fcinfo, "rfid_scan_apply"))
		return PointerGetDatum(NULL);
	a_scan_id = mk_trigger_column(td, "scan_id", INT8OID, true);
	a_uid = mk_trigger_column(td, "uid", TEXTOID, true);
	a_lab = mk_trigger_column(td, "lab", TEXTOID, true);
	a_scanner = mk_trigger_column(td, "scanner", TEXTOID, true);
	a_at = mk_trigger_column(td, "scanned_at", TIMESTAMPTZOID, true);

	SPI_connect();
	mk_transition_rewind(&t);
	while (mk_transition_next(&t))
	{
		bool		isnull;
		char	   *uid = TextDatumGetCString(slot_getattr(t.slot, a_uid, &isnull));
		char	   *lab = TextDatumGetCString(slot_getattr(t.slot, a_lab, &isnull));
		char	   *scanner = TextDatumGetCString(slot_getattr(t.slot, a_scanner, &isnull));

		scan_apply(DatumGetInt64(slot_getattr(t.slot, a_scan_id, &isnull)), uid, lab, scanner,
				   DatumGetTimestampTz(slot_getattr(t.slot, a_at, &isnull)));
		pfree(uid);
		pfree(lab);
		pfree(scanner);
	}
	SPI_finish();
	mk_transition_close(&t);
	return PointerGetDatum(NULL);
}
