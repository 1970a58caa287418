/*
 * door_access.c: mekatek.door_access(door_id, uid) -> boolean.
 *
 * The lock's one SELECT.  It runs SECURITY DEFINER (search_path pinned in
 * the install script) so that a device role needs nothing but EXECUTE: it
 * cannot read the cards or the log.  Every attempt is logged, with its
 * decision and reason; a refused attempt is announced with NOTIFY
 * mekatek_door.  Bad input never raises: a lock must always get an answer,
 * and a malformed UID is an attempt worth logging too.
 *
 * A lock sends what it likes: the door and UID are read only up to their
 * bounds (devices.h) and a longer one is logged clipped, as bad_door or
 * bad_uid, so a 50 MB "UID" costs neither memory nor a 50 MB log row.
 *
 * Refusals, and grants at a door whose mekatek.door row says
 * notify_grants, are announced on mekatek_door and queued in mekatek.outbox
 * (channel door) for a notifier to deliver.
 *
 * Card UIDs open doors, so the notification (which any connected role may
 * LISTEN to) carries only the last four hex digits; the full UID stays in
 * mekatek.door_attempt, readable by mekatek_admin only.
 */
#include "devices/devices.h"

#include "executor/spi.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(mk_door_access);

Datum
mk_door_access(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan_card = NULL;
	static SPIPlanPtr plan_other = NULL;
	static SPIPlanPtr plan_log = NULL;
	static SPIPlanPtr plan_door = NULL;
	bool		door_long = false;
	bool		uid_long = false;
	char	   *door = PG_ARGISNULL(0) ? NULL :
		mk_text_prefix(PG_GETARG_DATUM(0), MK_DEVICE_NAME_MAX, &door_long);
	char	   *raw = PG_ARGISNULL(1) ? NULL :
		mk_text_prefix(PG_GETARG_DATUM(1), MK_UID_TEXT_MAX, &uid_long);
	char	   *uid = raw && !uid_long ? mk_uid_normalise(raw) : NULL;
	const char *reason;
	Datum		card = (Datum) 0;
	bool		nocard = true;
	Datum		a[5];
	char		nulls[5] = "     ";
	bool		granted;
	bool		announce;
	int64		attempt;
	TimestampTz at;
	bool		isnull;

	SPI_connect();
	if (plan_card == NULL)
	{
		/* The best card for this door: a valid one if any, else say why not. */
		mk_spi_plan(&plan_card, 
			"SELECT card_id, reason FROM ("
			"  SELECT card_id, door_id, CASE WHEN NOT enabled THEN 'disabled' "
			"                                WHEN now() < valid_from THEN 'not_yet_valid' "
			"                                WHEN now() >= valid_until THEN 'expired' "
			"                                ELSE 'granted' END AS reason "
			"    FROM mekatek.door_card "
			"   WHERE uid = $1 AND (door_id IS NULL OR door_id = $2)) c "
			" ORDER BY reason = 'granted' DESC, door_id IS NULL, card_id LIMIT 1",
			2, (Oid[]) {TEXTOID, TEXTOID});
		mk_spi_plan(&plan_other, "SELECT 1 FROM mekatek.door_card WHERE uid = $1 LIMIT 1",
								 1, (Oid[]) {TEXTOID});
		mk_spi_plan(&plan_log, 
			"INSERT INTO mekatek.door_attempt(door_id, uid, card_id, granted, reason) "
			"VALUES ($1, $2, $3, $4, $5) RETURNING attempt_id, at",
			5, (Oid[]) {TEXTOID, TEXTOID, INT8OID, BOOLOID, TEXTOID});
	}

	if (door == NULL || door[0] == '\0')
		reason = "no_door";
	else if (door_long)
		reason = "bad_door";
	else if (raw == NULL)
		reason = "no_uid";
	else if (uid == NULL)
		reason = "bad_uid";
	else
	{
		a[0] = CStringGetTextDatum(uid);
		a[1] = CStringGetTextDatum(door);
		mk_spi_execute_plan(plan_card, a, NULL, true, 1, SPI_OK_SELECT, "door_access: card lookup");
		if (SPI_processed == 1)
		{
			card = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &nocard);
			reason = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		}
		else
		{
			mk_spi_execute_plan(plan_other, a, NULL, true, 1, SPI_OK_SELECT, "door_access: card lookup");
			reason = SPI_processed == 1 ? "wrong_door" : "unknown_card";
		}
	}
	granted = strcmp(reason, "granted") == 0;
	announce = !granted;

	a[0] = door ? CStringGetTextDatum(door) : (Datum) 0;
	nulls[0] = door ? ' ' : 'n';
	a[1] = raw ? CStringGetTextDatum(uid ? uid : raw) : (Datum) 0;
	nulls[1] = raw ? ' ' : 'n';
	a[2] = card;
	nulls[2] = nocard ? 'n' : ' ';
	a[3] = BoolGetDatum(granted);
	a[4] = CStringGetTextDatum(reason);
	mk_spi_execute_plan(plan_log, a, nulls, false, 1, SPI_OK_INSERT_RETURNING, "door_access: logging the attempt");
	attempt = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));

	if (granted && mk_devices_schema_0_2())
	{
		a[0] = CStringGetTextDatum(door);
		mk_spi_plan(&plan_door, "SELECT notify_grants FROM mekatek.door WHERE door_id = $1",
					1, (Oid[]) {TEXTOID});
		announce = mk_spi_execute_plan(plan_door, a, NULL, true, 1, SPI_OK_SELECT,
									   "door_access: door settings") == 1 &&
			DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	if (announce)
	{
		MkPayload	p;

		mk_payload_begin(&p);
		mk_payload_int(&p, "attempt", attempt);
		mk_payload_str(&p, "door", door);
		mk_payload_str(&p, "reason", reason);
		mk_payload_str(&p, "uid_tail", uid ? uid + strlen(uid) - 4 : NULL);
		mk_payload_time(&p, "at", at);
		if (mk_devices_schema_0_2())
			mk_payload_outbox(&p, "mekatek_door", "door");
		else
			mk_payload_notify(&p, "mekatek_door");
	}
	SPI_finish();
	PG_RETURN_BOOL(granted);
}
