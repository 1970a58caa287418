/*
 * Numbers of any SQL numeric type as double, for code that reads columns
 * it did not declare (survey's points, pos's Excel cells).
 */
#include "core/mekatek.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"

/* The types mk_number_to_double takes. */
bool
mk_is_number_type(Oid type)
{
	return type == FLOAT8OID || type == FLOAT4OID || type == INT2OID || type == INT4OID ||
		type == INT8OID || type == NUMERICOID;
}

/*
 * A value of one of mk_is_number_type's types as double; a numeric beyond
 * double's range becomes +/-Infinity rather than an error.
 */
double
mk_number_to_double(Datum v, Oid type)
{
	switch (type)
	{
		case FLOAT8OID:
			return DatumGetFloat8(v);
		case FLOAT4OID:
			return DatumGetFloat4(v);
		case INT2OID:
			return DatumGetInt16(v);
		case INT4OID:
			return DatumGetInt32(v);
		case INT8OID:
			return (double) DatumGetInt64(v);
		default:
			return DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, v));
	}
}
