/*
 * init.c: the library's entry point and the argument checks every module
 * uses.
 */
#include "core/mekatek.h"

#include <math.h>

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	/* The modules' own settings and hooks, in the order of MODULES. */
#define MK_MODULE(m) mk_##m##_init();
#include "mk_modules.h"
#undef MK_MODULE
	mk_drop_guard_init();
	mk_outbox_prune_init();

	/*
	 * After every module has defined its settings: a mistyped
	 * mekatek.<name> in postgresql.conf or SET is then an error, not a
	 * silent placeholder.
	 */
	MarkGUCPrefixReserved("mekatek");
}

void
mk_arg_not_null(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		mk_error(ERRCODE_NULL_VALUE_NOT_ALLOWED, NULL,
				 "argument \"%s\" must not be null", argname);
}

int32
mk_arg_int32_range(FunctionCallInfo fcinfo, int argno, const char *argname,
				   int32 min, int32 max)
{
	int32		v;

	mk_arg_not_null(fcinfo, argno, argname);
	v = PG_GETARG_INT32(argno);
	if (v < min || v > max)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL,
				 "argument \"%s\" must be between %d and %d, not %d",
				 argname, min, max, v);
	return v;
}

float8
mk_arg_float8_range(FunctionCallInfo fcinfo, int argno, const char *argname,
					float8 min, float8 max)
{
	float8		v;

	mk_arg_not_null(fcinfo, argno, argname);
	v = PG_GETARG_FLOAT8(argno);
	if (isnan(v) || v < min || v > max)
		mk_error(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, NULL,
				 "argument \"%s\" must be between %g and %g, not %g",
				 argname, min, max, v);
	return v;
}

Datum
mk_arg_datum(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	mk_arg_not_null(fcinfo, argno, argname);
	return PG_GETARG_DATUM(argno);
}

char *
mk_arg_cstring(FunctionCallInfo fcinfo, int argno, const char *argname,
			   bool allow_empty)
{
	char	   *s;

	mk_arg_not_null(fcinfo, argno, argname);
	s = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (!allow_empty && s[0] == '\0')
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL,
				 "argument \"%s\" must not be empty", argname);
	return s;
}

char *
mk_quote_short(const char *value)
{
	int			len = strlen(value);
	int			cut;

	if (len <= MK_QUOTE_MAX)
		return pstrdup(value);
	cut = pg_mbcliplen(value, len, MK_QUOTE_MAX);
	return psprintf("%.*s...", cut, value);
}
