/*
 * redact.c: a secret's value out of a log line.
 *
 * Redacting every way a statement can carry a secret is a losing game (bound
 * parameters, names built from pieces, a value in a literal); what can be
 * done reliably is to replace the value itself once the server knows it.
 * Called from an emit_log_hook, so it must not raise: it only allocates in
 * the current (error) context and rewrites the fields the log line is made
 * of.
 */
#include "core/mekatek.h"

#include "lib/stringinfo.h"
#include "tcop/tcopprot.h"
#include "utils/elog.h"

#define MK_REDACTED "<redacted>"

/*
 * Shorter values are not looked for: replacing every "abc" in a log would
 * wreck it, and no real credential is that short (AWS secrets have 40
 * characters, access key ids 20).
 */
#define MK_REDACT_MIN 8

/* text with each occurrence of any secret replaced, or text itself. */
static char *
redact_text(char *text, const char *const *secrets, int nsecrets)
{
	char	   *out = text;

	if (text == NULL)
		return NULL;
	for (int i = 0; i < nsecrets; i++)
	{
		const char *s = secrets[i];
		size_t		n;
		const char *from;
		const char *at;
		StringInfoData buf;

		if (s == NULL || (n = strlen(s)) < MK_REDACT_MIN || strstr(out, s) == NULL)
			continue;
		initStringInfo(&buf);
		from = out;
		while ((at = strstr(from, s)) != NULL)
		{
			appendBinaryStringInfo(&buf, from, at - from);
			appendStringInfoString(&buf, MK_REDACTED);
			from = at + n;
		}
		appendStringInfoString(&buf, from);
		out = buf.data;
	}
	return out;
}

bool
mk_redact_error(ErrorData *edata, const char *const *secrets, int nsecrets)
{
	bool		found = false;
	char	  **fields[] = {&edata->message, &edata->detail, &edata->detail_log,
	&edata->hint, &edata->context, &edata->internalquery};

	for (int i = 0; i < (int) lengthof(fields); i++)
	{
		char	   *was = *fields[i];

		*fields[i] = redact_text(was, secrets, nsecrets);
		found |= (*fields[i] != was);
	}
	/* The statement is printed from debug_query_string, which is not ours. */
	if (debug_query_string && redact_text((char *) debug_query_string, secrets, nsecrets) != debug_query_string)
	{
		edata->hide_stmt = true;
		found = true;
	}
	return found;
}
