/*
 * Members of a jsonb object pushed one by one (pushJsonbValue), for C code
 * that builds a document from values it already holds instead of printing
 * text for jsonb_in to parse: pos's receipt built by checkout, the
 * ledger's outbox payload.  A key is pushed as given: the caller keeps the
 * keys of one object distinct.
 */
#include "core/mekatek.h"

#include "utils/numeric.h"

void
mk_jsonb_key(JsonbParseState **st, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(st, WJB_KEY, &k);
}

/* A string member of len bytes, or null when val is NULL. */
void
mk_jsonb_strn(JsonbParseState **st, const char *key, const char *val, int len)
{
	JsonbValue	v;

	mk_jsonb_key(st, key);
	if (val == NULL)
		v.type = jbvNull;
	else
	{
		v.type = jbvString;
		v.val.string.val = (char *) val;
		v.val.string.len = len;
	}
	pushJsonbValue(st, WJB_VALUE, &v);
}

void
mk_jsonb_str(JsonbParseState **st, const char *key, const char *val)
{
	mk_jsonb_strn(st, key, val, val ? strlen(val) : 0);
}

void
mk_jsonb_numeric(JsonbParseState **st, const char *key, Datum numeric)
{
	JsonbValue	v;

	mk_jsonb_key(st, key);
	v.type = jbvNumeric;
	v.val.numeric = DatumGetNumeric(numeric);
	pushJsonbValue(st, WJB_VALUE, &v);
}

void
mk_jsonb_int(JsonbParseState **st, const char *key, int64 n)
{
	mk_jsonb_numeric(st, key, NumericGetDatum(int64_to_numeric(n)));
}

void
mk_jsonb_bool(JsonbParseState **st, const char *key, bool b)
{
	JsonbValue	v;

	mk_jsonb_key(st, key);
	v.type = jbvBool;
	v.val.boolean = b;
	pushJsonbValue(st, WJB_VALUE, &v);
}
