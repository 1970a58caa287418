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



