/*
 * edge_mqtt.c: an MQTT message (topic + JSON payload) as a mekatek-edge
 * event, or the reason it is none.
 *
 * Topics (PREFIX is --mqtt-prefix, default "mekatek"; the last level is the
 * device's name, so a broker ACL such as "pattern write mekatek/+/%c" keeps
 * each device to its own name):
 *   PREFIX/visitor/CAMERA   {"room": "r2", "dir": "in", "n": 2, "time": ..., "id": ...}
 *   PREFIX/rfid/SCANNER     {"uid": "04A1B2C3", "lab": "LAB-KIMIA", "time": ..., "id": ...}
 * "n" (1 to 10000) defaults to 1.  "time" is ISO 8601 text or seconds since
 * the epoch (a number, from an ESP32's NTP clock).  "id" (1 to 80
 * characters) is the device's own event id; the event's id is DEVICE/ID so
 * that two devices counting from 1 never collide.  A message without "id"
 * gets one from its content: "mqtt:" and 128 bits of SHA-256 over the
 * event's fields (device and time included), so a QoS 1 redelivery is the
 * same event.  Two genuinely identical messages are therefore one event:
 * a device that can send the same reading twice in one clock tick sends
 * "n" or an "id".  A message with neither "id" nor "time" is refused: its
 * redelivery could not be told from a new reading.
 *
 * Everything else is malformed: not UTF-8 JSON, not an object, an unknown
 * key (a misspelt "tme" must not silently become "stamped on arrival"), a
 * value of the wrong type or out of bounds, a blank or control character
 * in a name (events travel as tab-separated spool lines and as
 * blank-separated reject lines).
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "edge_mqtt.h"

#define NAME_MAX_BYTES	64		/* devices.h MK_DEVICE_NAME_MAX */
#define ID_MAX_CHARS	80		/* DEVICE/ID stays within MK_EVENT_ID_MAX */
#define TIME_MAX_BYTES	40

static bool
fail(char *why, size_t whylen, const char *fmt, const char *arg)
{
	snprintf(why, whylen, fmt, arg);
	return false;
}

static bool token_ok(const char *s, size_t max);

/*
 * A JSON string that is a name or a token: 1 to max bytes, no blank, no
 * control character (a \u0000 inside would otherwise cut it short).
 */
static bool
json_token_ok(json_object *v, size_t max)
{
	const char *s = json_object_get_string(v);

	return (size_t) json_object_get_string_len(v) == strlen(s) && token_ok(s, max);
}

/* A name or a token: 1 to max bytes, no blank, no control character. */
static bool
token_ok(const char *s, size_t max)
{
	size_t		n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

static bool
get_token(json_object *o, const char *key, size_t max, const char **out,
		  char *why, size_t whylen)
{
	json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v))
		return true;
	if (!json_object_is_type(v, json_type_string) || !json_token_ok(v, max))
	{
		snprintf(why, whylen, "\"%s\" must be a string of 1 to %zu bytes without blanks or control characters", key, max);
		return false;
	}
	*out = json_object_get_string(v);
	return true;
}

/* "time": ISO text as sent (the server parses it), or epoch seconds. */
static bool
get_time(json_object *o, char *out, size_t outlen, bool *has, char *why, size_t whylen)
{
	json_object *v;

	*has = false;
	if (!json_object_object_get_ex(o, "time", &v))
		return true;
	if (json_object_is_type(v, json_type_string))
	{
		if (!json_token_ok(v, TIME_MAX_BYTES))
			return fail(why, whylen, "\"time\" must be ISO 8601 without blanks%s", "");
		snprintf(out, outlen, "%s", json_object_get_string(v));
	}
	else if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double))
	{
		double		t = json_object_get_double(v);
		time_t		s;
		struct tm	tm;
		long		us;

		/* Years 1970 to 9999; the server's clock window judges the rest. */
		if (!isfinite(t) || t < 0 || t > 253402300799.0)
			return fail(why, whylen, "\"time\" in seconds must be from 0 to 253402300799%s", "");
		s = (time_t) t;
		us = (long) llround((t - (double) s) * 1e6);
		if (us >= 1000000)
		{
			s++;
			us -= 1000000;
		}
		gmtime_r(&s, &tm);
		strftime(out, outlen, "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(out + strlen(out), outlen - strlen(out), ".%06ldZ", us);
	}
	else
		return fail(why, whylen, "\"time\" must be ISO 8601 text or seconds since 1970%s", "");
	*has = true;
	return true;
}

static bool
keys_known(json_object *o, const char *const *known, char *why, size_t whylen)
{
	json_object_object_foreach(o, key, val)
	{
		bool		ok = false;

		(void) val;
		for (int i = 0; known[i]; i++)
			ok = ok || strcmp(key, known[i]) == 0;
		if (!ok)
		{
			char		k[40];

			/* The key as a short, printable prefix. */
			snprintf(k, sizeof k, "%s", key);
			for (char *p = k; *p; p++)
				if ((unsigned char) *p < ' ')
					*p = '?';
			return fail(why, whylen, "unknown key \"%s\"", k);
		}
	}
	return true;
}

bool
edge_mqtt_event(const char *prefix, const char *topic, const char *payload, size_t len,
				char *fields, size_t fieldslen, char *id, size_t idlen,
				char *why, size_t whylen)
{
	static const char *const visitor_keys[] = {"id", "room", "dir", "n", "time", NULL};
	static const char *const rfid_keys[] = {"id", "uid", "lab", "time", NULL};
	size_t		plen = strlen(prefix);
	const char *kind,
			   *device,
			   *dev_id,
			   *a,
			   *b;
	char		ts[TIME_MAX_BYTES + 8];
	bool		has_time;
	bool		visitor;
	json_tokener *tok;
	json_object *o;
	bool		ok = false;
	int			n;

	id[0] = '\0';
	/* PREFIX/KIND/DEVICE */
	if (strncmp(topic, prefix, plen) != 0 || topic[plen] != '/')
		return fail(why, whylen, "topic is not under \"%s/\"", prefix);
	kind = topic + plen + 1;
	if (strncmp(kind, "visitor/", 8) == 0)
		visitor = true;
	else if (strncmp(kind, "rfid/", 5) == 0)
		visitor = false;
	else
	{
		snprintf(why, whylen, "topic must be %s/visitor/CAMERA or %s/rfid/SCANNER", prefix, prefix);
		return false;
	}
	device = strchr(kind, '/') + 1;
	if (!token_ok(device, NAME_MAX_BYTES) || strchr(device, '/'))
		return fail(why, whylen, "device name (last topic level) must be 1 to 64 bytes without blanks or '/'%s", "");

	if (memchr(payload, '\0', len))
		return fail(why, whylen, "payload holds a NUL byte%s", "");
	tok = json_tokener_new();
	if (tok == NULL)
		return fail(why, whylen, "out of memory%s", "");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, payload, (int) len);
	if (o == NULL)
	{
		enum json_tokener_error e = json_tokener_get_error(tok);

		snprintf(why, whylen, "payload is not JSON: %s",
				 e == json_tokener_continue ? "unexpected end" : json_tokener_error_desc(e));
		json_tokener_free(tok);
		return false;
	}
	/* In strict mode json-c takes trailing blanks and refuses any other trailing text. */
	if (!json_object_is_type(o, json_type_object))
	{
		snprintf(why, whylen, "payload must be a JSON object");
		goto out;
	}
	if (!keys_known(o, visitor ? visitor_keys : rfid_keys, why, whylen) ||
		!get_token(o, "id", ID_MAX_CHARS, &dev_id, why, whylen) ||
		!get_time(o, ts, sizeof ts, &has_time, why, whylen))
		goto out;
	if (dev_id == NULL && !has_time)
	{
		snprintf(why, whylen, "needs \"id\" or \"time\": without either a redelivered message cannot be told from a new one");
		goto out;
	}
	if (!has_time)
		snprintf(ts, sizeof ts, "-");	/* the caller stamps the arrival */

	if (visitor)
	{
		json_object *v;
		long long	count = 1;

		if (!get_token(o, "room", NAME_MAX_BYTES, &a, why, whylen) ||
			!get_token(o, "dir", NAME_MAX_BYTES, &b, why, whylen))
			goto out;
		if (a == NULL)
		{
			snprintf(why, whylen, "visitor needs \"room\"");
			goto out;
		}
		if (b == NULL || (strcmp(b, "in") != 0 && strcmp(b, "out") != 0))
		{
			snprintf(why, whylen, "\"dir\" must be \"in\" or \"out\"");
			goto out;
		}
		if (json_object_object_get_ex(o, "n", &v))
		{
			count = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : 0;
			if (count < 1 || count > 10000)
			{
				snprintf(why, whylen, "\"n\" must be an integer from 1 to 10000");
				goto out;
			}
		}
		n = snprintf(fields, fieldslen, "visitor\t%s\t%s\t%s\t%lld\t%s", device, a, b, count, ts);
	}
	else
	{
		if (!get_token(o, "uid", NAME_MAX_BYTES, &a, why, whylen) ||
			!get_token(o, "lab", NAME_MAX_BYTES, &b, why, whylen))
			goto out;
		if (a == NULL || b == NULL)
		{
			snprintf(why, whylen, "rfid needs \"uid\" and \"lab\"");
			goto out;
		}
		n = snprintf(fields, fieldslen, "rfid\t%s\t%s\t%s\t-\t%s", device, a, b, ts);
	}
	if (n < 0 || (size_t) n >= fieldslen)
	{
		snprintf(why, whylen, "event too long");
		goto out;
	}
	if (dev_id)
		snprintf(id, idlen, "%s/%s", device, dev_id);
	ok = true;
out:
	json_object_put(o);
	json_tokener_free(tok);
	return ok;
}
