/*
 * devices.c: the pieces the device modules share (see devices.h) and the
 * module's settings.
 */
#include "devices/devices.h"

#include <ctype.h>

#include "commands/async.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/json.h"

int			mk_rfid_debounce_ms = 3000;

/*
 * Longest string member of a notification payload, in bytes.  Five members
 * of this size stay far below the 8000 byte limit of NOTIFY, so a device
 * that sends a huge name can never make its own INSERT fail in Async_Notify.
 */
#define MK_PAYLOAD_STR_MAX 200

void
mk_devices_init(void)
{
	/*
	 * SUSET: a device session must not be able to turn debouncing off for
	 * itself and advance a tag twice.
	 */
	DefineCustomIntVariable("mekatek.rfid_debounce",
							"Repeated reads of one RFID tag closer than this count once.",
							"Measured on rfid_scan.scanned_at; 0 turns debouncing off.",
							&mk_rfid_debounce_ms,
							3000, 0, 3600 * 1000,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
}

char *
mk_uid_normalise(const char *raw)
{
	StringInfoData out;
	bool		sep_ok = false; /* a separator may follow a digit only */

	initStringInfo(&out);
	for (const char *c = raw; *c; c++)
	{
		if (isxdigit((unsigned char) *c))
		{
			appendStringInfoChar(&out, (char) toupper((unsigned char) *c));
			sep_ok = true;
		}
		else if ((*c == ' ' || *c == ':' || *c == '-') && sep_ok)
			sep_ok = false;
		else
			return NULL;
		if (out.len > 20)
			return NULL;
	}
	if (!sep_ok && out.len > 0)
		return NULL;			/* trailing separator */
	if (out.len != 8 && out.len != 14 && out.len != 20)
		return NULL;
	return out.data;
}

char *
mk_uid_parse(const char *raw, const char *argname)
{
	char	   *uid = mk_uid_normalise(raw);

	if (uid == NULL)
		mk_error(ERRCODE_INVALID_TEXT_REPRESENTATION,
				 "An RFID UID is 4, 7 or 10 bytes written as 8, 14 or 20 hexadecimal digits, e.g. 04D693CAA36580; single spaces, colons or hyphens may separate the digits.",
				 "invalid RFID UID for \"%s\": \"%s\"", argname, raw);
	return uid;
}

void
mk_payload_begin(MkPayload *p)
{
	initStringInfo(&p->buf);
	appendStringInfoChar(&p->buf, '{');
	p->truncated = false;
}

static void
payload_key(MkPayload *p, const char *key)
{
	if (p->buf.len > 1)
		appendStringInfoChar(&p->buf, ',');
	escape_json(&p->buf, key);
	appendStringInfoChar(&p->buf, ':');
}

void
mk_payload_str(MkPayload *p, const char *key, const char *value)
{
	payload_key(p, key);
	if (value == NULL)
	{
		appendStringInfoString(&p->buf, "null");
		return;
	}
	if (strlen(value) > MK_PAYLOAD_STR_MAX)
	{
		int			len = pg_mbcliplen(value, strlen(value), MK_PAYLOAD_STR_MAX);

		value = pnstrdup(value, len);
		p->truncated = true;
	}
	escape_json(&p->buf, value);
}

void
mk_payload_int(MkPayload *p, const char *key, int64 value)
{
	payload_key(p, key);
	appendStringInfo(&p->buf, INT64_FORMAT, value);
}

void
mk_payload_time(MkPayload *p, const char *key, TimestampTz value)
{
	char		buf[MAXDATELEN + 1];

	payload_key(p, key);
	appendStringInfoChar(&p->buf, '"');
	appendStringInfoString(&p->buf,
						   JsonEncodeDateTime(buf, TimestampTzGetDatum(value), TIMESTAMPTZOID, NULL));
	appendStringInfoChar(&p->buf, '"');
}

void
mk_payload_notify(MkPayload *p, const char *channel)
{
	if (p->truncated)
	{
		payload_key(p, "truncated");
		appendStringInfoString(&p->buf, "true");
	}
	appendStringInfoChar(&p->buf, '}');
	Async_Notify(channel, p->buf.data);
}


