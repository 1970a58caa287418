/*
 * columns.c: growing parallel arrays of datums, the array parameters of a
 * set-wise SPI statement (see MkColumns in mekatek.h).
 */
#include "core/mekatek.h"

#include "utils/array.h"
#include "utils/lsyscache.h"

void
mk_columns_init(MkColumns *c, int ncols, int cap)
{
	Assert(ncols <= MK_COLUMNS_MAX);
	c->ncols = ncols;
	c->n = 0;
	c->cap = Max(cap, 8);
	for (int i = 0; i < ncols; i++)
		c->cols[i] = palloc(sizeof(Datum) * c->cap);
}

int
mk_columns_add(MkColumns *c)
{
	if (c->n == c->cap)
	{
		c->cap *= 2;
		for (int i = 0; i < c->ncols; i++)
			c->cols[i] = repalloc(c->cols[i], sizeof(Datum) * c->cap);
	}
	return c->n++;
}

void
mk_columns_arrays(MkColumns *c, const Oid *types, Datum *args)
{
	for (int i = 0; i < c->ncols; i++)
	{
		int16		typlen;
		bool		typbyval;
		char		typalign;

		get_typlenbyvalalign(types[i], &typlen, &typbyval, &typalign);
		args[i] = PointerGetDatum(construct_array(c->cols[i], c->n, types[i],
												  typlen, typbyval, typalign));
	}
}
