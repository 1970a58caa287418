/*
 * devices.c: the pieces the device modules share (see devices.h).
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
#include "access/detoast.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "utils/lsyscache.h"



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
				 "invalid RFID UID for \"%s\": \"%s\"", argname, mk_quote_short(raw));
	return uid;
}

char *
mk_text_prefix(Datum value, int max, bool *clipped)
{
	Size		size = toast_raw_datum_size(value) - VARHDRSZ;
	text	   *t;
	int			len;
	char	   *s;

	/* One byte more than max: a cut character still shows as a cut. */
	if (size > (Size) max)
		t = DatumGetTextPSlice(value, 0, max + MAX_MULTIBYTE_CHAR_LEN);
	else
		t = DatumGetTextPP(value);
	len = VARSIZE_ANY_EXHDR(t);
	*clipped = size > (Size) max;
	if (*clipped)
		len = pg_mbcliplen(VARDATA_ANY(t), len, max);
	s = palloc(len + 1);
	memcpy(s, VARDATA_ANY(t), len);
	s[len] = '\0';
	return s;
}

char *
mk_device_arg(FunctionCallInfo fcinfo, int argno, const char *argname, int max,
			  bool allow_empty)
{
	bool		clipped;
	char	   *s;

	mk_arg_not_null(fcinfo, argno, argname);
	/* A byte more than allowed, so that the quoted prefix shows its cut. */
	s = mk_text_prefix(PG_GETARG_DATUM(argno), max + 1, &clipped);
	if (clipped || strlen(s) > (size_t) max)
		mk_error(ERRCODE_STRING_DATA_RIGHT_TRUNCATION,
				 psprintf("\"%s\" holds at most %d bytes.", argname, max),
				 "argument \"%s\" is %zu bytes long: \"%s\"", argname,
				 (Size) (toast_raw_datum_size(PG_GETARG_DATUM(argno)) - VARHDRSZ),
				 mk_quote_short(s));
	if (!allow_empty && s[0] == '\0')
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL,
				 "argument \"%s\" must not be empty", argname);
	return s;
}

bool
mk_devices_schema_0_2(void)
{
	Oid			nsp = get_namespace_oid("mekatek", true);
	Oid			rel = OidIsValid(nsp) ? get_relname_relid("visitor_event", nsp) : InvalidOid;

	return OidIsValid(rel) && get_attnum(rel, "flag") != InvalidAttrNumber;
}

bool
mk_device_time_ok(TimestampTz at)
{
	TimestampTz now = GetCurrentTransactionStartTimestamp();

	if (TIMESTAMP_NOT_FINITE(at))
		return false;
	/* Finite timestamps are far from the int64 limits: no overflow. */
	return at <= now + (int64) mk_device_time_ahead_s * USECS_PER_SEC &&
		at >= now - (int64) mk_device_time_behind_s * USECS_PER_SEC;
}



