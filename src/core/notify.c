/*
 * notify.c: JSON payloads for NOTIFY, written with PostgreSQL's own JSON
 * escaping and date formatting, in jsonb's text layout ({"k": v, ...}).
 *
 * A payload must never make the INSERT that fired it fail: NOTIFY refuses
 * payloads of 8000 bytes or more, and devices send names of any length.
 * So string members are clipped to MK_PAYLOAD_STR_MAX bytes (on a character
 * boundary) and the payload says "truncated": true; the row in the table
 * keeps the full value.
 */
#include "core/mekatek.h"

#include "commands/async.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"

/*
 * Longest string member, in bytes.  Five members of this size stay far
 * below NOTIFY's limit.
 */
#define MK_PAYLOAD_STR_MAX 200

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
		appendStringInfoString(&p->buf, ", ");
	escape_json(&p->buf, key);
	appendStringInfoString(&p->buf, ": ");
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

/*
 * The same payload, durable: a row of mekatek.outbox on outbox_channel
 * (the shape mekatek.outbox_enqueue writes, core.sql) and NOTIFY
 * mekatek_outbox naming the channel, both at commit, besides the NOTIFY on
 * channel for those who LISTEN.  NOTIFY alone is lost when nobody listens;
 * the row waits for a deliverer.  Needs an SPI connection.
 */
void
mk_payload_outbox(MkPayload *p, const char *channel, const char *outbox_channel)
{
	static SPIPlanPtr plan = NULL;
	Datum		a[2];

	mk_payload_notify(p, channel);
	mk_spi_plan(&plan,
				"INSERT INTO mekatek.outbox (channel, payload) VALUES ($1, $2::jsonb)",
				2, (Oid[]) {TEXTOID, TEXTOID});
	a[0] = CStringGetTextDatum(outbox_channel);
	a[1] = CStringGetTextDatum(p->buf.data);
	mk_spi_execute_plan(plan, a, NULL, false, 0, SPI_OK_INSERT, "outbox: queueing a notification");
	Async_Notify("mekatek_outbox", outbox_channel);
}
