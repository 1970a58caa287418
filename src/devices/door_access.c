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
PG_FUNCTION_INFO_V1(mk_door_unlock);

/*
 * The door's settings (NULLs when it has no mekatek.door row) and the
 * card's recent refusals there, for the lockout.
 */
typedef struct DoorSettings
{
	bool		notify_grants;
	const char *time_zone;
	bool		locked_out;
} DoorSettings;

static void
door_settings(const char *door, const char *uid, DoorSettings *d)
{
	static SPIPlanPtr plan = NULL;
	Datum		a[2];
	char		nulls[2] = {' ', uid ? ' ' : 'n'};

	d->notify_grants = false;
	d->time_zone = "UTC";
	d->locked_out = false;
	mk_spi_plan(&plan,
				"SELECT d.notify_grants, d.time_zone, "
				"       d.lockout_after IS NOT NULL AND $2 IS NOT NULL AND "
				"       (SELECT count(*) FROM mekatek.door_attempt a "
				"         WHERE a.door_id = $1 AND a.uid = $2 AND NOT a.granted "
				"           AND a.at > clock_timestamp() - d.lockout_window) >= d.lockout_after "
				"  FROM mekatek.door d WHERE d.door_id = $1",
				2, (Oid[]) {TEXTOID, TEXTOID});
	a[0] = CStringGetTextDatum(door);
	a[1] = uid ? CStringGetTextDatum(uid) : (Datum) 0;
	if (mk_spi_execute_plan(plan, a, nulls, true, 1, SPI_OK_SELECT, "door_access: door settings") == 1)
	{
		bool		isnull;

		d->notify_grants = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		d->time_zone = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		d->locked_out = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	}
}

Datum
mk_door_access(PG_FUNCTION_ARGS)
{
	/* [0]: 0.1.0's tables (before ALTER EXTENSION UPDATE), [1]: 0.2.0's */
	static SPIPlanPtr plan_card[2] = {NULL, NULL};
	static SPIPlanPtr plan_other = NULL;
	static SPIPlanPtr plan_log = NULL;
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
	bool		current;
	int64		attempt;
	TimestampTz at;
	bool		isnull;
	DoorSettings settings = {false, "UTC", false};

	SPI_connect();
	current = mk_devices_schema_0_2();
	/*
	 * The best card for this door: a valid one if any, else say why not.
	 * Its hours are the door's local time ($3: the door's time zone).
	 */
	mk_spi_plan(&plan_card[current], current
				? "SELECT card_id, reason FROM ("
				"  SELECT card_id, door_id, CASE WHEN NOT enabled THEN 'disabled' "
				"                                WHEN now() < valid_from THEN 'not_yet_valid' "
				"                                WHEN now() >= valid_until THEN 'expired' "
				"                                WHEN hours_from IS NULL THEN 'granted' "
				"                                WHEN CASE WHEN hours_from <= hours_until "
				"                                          THEN t.local >= hours_from AND t.local < hours_until "
				"                                          ELSE t.local >= hours_from OR t.local < hours_until END "
				"                                THEN 'granted' ELSE 'outside_hours' END AS reason "
				"    FROM mekatek.door_card, "
				"         LATERAL (SELECT (pg_catalog.timezone($3, clock_timestamp()))::time AS local) t "
				"   WHERE uid = $1 AND (door_id IS NULL OR door_id = $2)) c "
				" ORDER BY reason = 'granted' DESC, door_id IS NULL, card_id LIMIT 1"
				: "SELECT card_id, reason FROM ("
				"  SELECT card_id, door_id, CASE WHEN NOT enabled THEN 'disabled' "
				"                                WHEN now() < valid_from THEN 'not_yet_valid' "
				"                                WHEN now() >= valid_until THEN 'expired' "
				"                                ELSE 'granted' END AS reason "
				"    FROM mekatek.door_card "
				"   WHERE uid = $1 AND (door_id IS NULL OR door_id = $2) AND $3 IS NOT NULL) c "
				" ORDER BY reason = 'granted' DESC, door_id IS NULL, card_id LIMIT 1",
				3, (Oid[]) {TEXTOID, TEXTOID, TEXTOID});
	mk_spi_plan(&plan_other, "SELECT 1 FROM mekatek.door_card WHERE uid = $1 LIMIT 1",
				1, (Oid[]) {TEXTOID});
	mk_spi_plan(&plan_log,
				"INSERT INTO mekatek.door_attempt(door_id, uid, card_id, granted, reason) "
				"VALUES ($1, $2, $3, $4, $5) RETURNING attempt_id, at",
				5, (Oid[]) {TEXTOID, TEXTOID, INT8OID, BOOLOID, TEXTOID});
	if (current && door && door[0] && !door_long)
		door_settings(door, uid, &settings);

	if (door == NULL || door[0] == '\0')
		reason = "no_door";
	else if (door_long)
		reason = "bad_door";
	else if (raw == NULL)
		reason = "no_uid";
	else if (uid == NULL)
		reason = "bad_uid";
	else if (settings.locked_out)
		reason = "locked_out";
	else
	{
		a[0] = CStringGetTextDatum(uid);
		a[1] = CStringGetTextDatum(door);
		a[2] = CStringGetTextDatum(settings.time_zone);
		mk_spi_execute_plan(plan_card[current], a, NULL, true, 1, SPI_OK_SELECT, "door_access: card lookup");
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
	announce = !granted || settings.notify_grants;

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

	if (announce)
	{
		MkPayload	p;

		mk_payload_begin(&p);
		mk_payload_int(&p, "attempt", attempt);
		mk_payload_str(&p, "door", door);
		mk_payload_str(&p, "reason", reason);
		mk_payload_str(&p, "uid_tail", uid ? uid + strlen(uid) - 4 : NULL);
		mk_payload_time(&p, "at", at);
		if (current)
			mk_payload_outbox(&p, "mekatek_door", "door");
		else
			mk_payload_notify(&p, "mekatek_door");
	}
	SPI_finish();
	PG_RETURN_BOOL(granted);
}

/*
 * mekatek.door_unlock(door_id, note) -> attempt_id: an admin opens a door
 * from afar.  Logged like a card (reason remote_unlock, the acting role as
 * actor), announced on mekatek_door and the outbox, and sent to the lock as
 * NOTIFY mekatek_door_unlock {"door", "attempt", "by"}.
 */
Datum
mk_door_unlock(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;
	char	   *door = mk_device_arg(fcinfo, 0, "door_id", MK_DEVICE_NAME_MAX, false);
	char	   *note = PG_ARGISNULL(1) ? NULL : mk_device_arg(fcinfo, 1, "note", MK_ITEM_TEXT_MAX, true);
	char	   *actor;
	Datum		a[3];
	char		nulls[3] = {' ', ' ', note ? ' ' : 'n'};
	int64		attempt;
	TimestampTz at;
	bool		isnull;
	MkPayload	p;

	mk_require_admin("door_unlock", "Remote unlock is for mekatek_admin.");
	actor = mk_acting_role();
	SPI_connect();
	mk_spi_plan(&plan,
				"INSERT INTO mekatek.door_attempt(door_id, granted, reason, actor) "
				"VALUES ($1, true, 'remote_unlock', $2 || coalesce(': ' || $3, '')) RETURNING attempt_id, at",
				3, (Oid[]) {TEXTOID, TEXTOID, TEXTOID});
	a[0] = CStringGetTextDatum(door);
	a[1] = CStringGetTextDatum(actor);
	a[2] = note ? CStringGetTextDatum(note) : (Datum) 0;
	mk_spi_execute_plan(plan, a, nulls, false, 1, SPI_OK_INSERT_RETURNING, "door_unlock: logging");
	attempt = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));

	mk_payload_begin(&p);
	mk_payload_str(&p, "door", door);
	mk_payload_int(&p, "attempt", attempt);
	mk_payload_str(&p, "by", actor);
	mk_payload_notify(&p, "mekatek_door_unlock");

	mk_payload_begin(&p);
	mk_payload_int(&p, "attempt", attempt);
	mk_payload_str(&p, "door", door);
	mk_payload_str(&p, "reason", "remote_unlock");
	mk_payload_str(&p, "by", actor);
	mk_payload_time(&p, "at", at);
	mk_payload_outbox(&p, "mekatek_door", "door");
	SPI_finish();
	PG_RETURN_INT64(attempt);
}
