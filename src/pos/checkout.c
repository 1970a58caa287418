/*
 * checkout.c: checkout(branch_id, lines jsonb), one call that records a
 * paid sale for web apps.
 *
 * It validates the whole JSON first (so an error names the bad element
 * instead of a cast failure deep in a query), then inserts the sale and all
 * its lines in ONE statement, so the stock trigger takes every line's
 * batches in the global lock order; that trigger also marks the sale paid
 * when it adds the lines' total (pos_checkout_sale_id tells it).  It runs as
 * the caller: row-level security decides which branch it may sell for.
 */
#include "pos/pos.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

PG_FUNCTION_INFO_V1(pos_checkout);

#define CHECKOUT_MAX_LINES 10000
#define CHECKOUT_HINT "lines is a JSON array such as [{\"sku\": \"PCT500\", \"qty\": 2}]."

static SPIPlanPtr resolve_plan;
static SPIPlanPtr sale_plan;
static SPIPlanPtr lines_plan;
static SPIPlanPtr legacy_lines_plan;

int64		pos_checkout_sale_id = 0;

/* The keys a line may have besides sku and qty: its prescription. */
static const char *const rx_keys[] = {"prescriber", "prescription_no", "prescription_date"};

static bool
is_rx_key(const char *key, int len)
{
	for (int i = 0; i < (int) lengthof(rx_keys); i++)
		if ((int) strlen(rx_keys[i]) == len && memcmp(rx_keys[i], key, len) == 0)
			return true;
	return false;
}

/* Name a key other than sku, qty and the prescription's in a line object, if there is one. */
static void
reject_unknown_keys(JsonbContainer *obj, int index)
{
	JsonbIterator *it = JsonbIteratorInit(obj);
	JsonbValue	v;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_KEY)
			continue;
		if (!(v.val.string.len == 3 &&
			  (memcmp(v.val.string.val, "sku", 3) == 0 || memcmp(v.val.string.val, "qty", 3) == 0)) &&
			!is_rx_key(v.val.string.val, v.val.string.len))
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE, CHECKOUT_HINT,
					 "line %d of checkout has an unknown key \"%.*s\"",
					 index + 1, Min(v.val.string.len, 64), v.val.string.val);
	}
}

static int32
line_qty(JsonbValue *qty, int index)
{
	Datum		n, whole;
	bool		error = false;
	int32		q;

	if (qty == NULL || qty->type != jbvNumeric)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, CHECKOUT_HINT,
				 "line %d of checkout needs a numeric \"qty\"", index + 1);
	n = NumericGetDatum(qty->val.numeric);
	whole = DirectFunctionCall2(numeric_trunc, n, Int32GetDatum(0));
	if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, n, whole)) != 0)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL,
				 "line %d of checkout: qty must be a whole number, not %s",
				 index + 1, DatumGetCString(DirectFunctionCall1(numeric_out, n)));
	q = numeric_int4_opt_error(qty->val.numeric, &error);
	if (error || q <= 0)
		mk_error(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, NULL,
				 "line %d of checkout: qty must be between 1 and %d, not %s",
				 index + 1, PG_INT32_MAX, DatumGetCString(DirectFunctionCall1(numeric_out, n)));
	return q;
}

static char *
line_sku(JsonbValue *sku, int index)
{
	if (sku == NULL || sku->type != jbvString)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, CHECKOUT_HINT,
				 "line %d of checkout needs a string \"sku\"", index + 1);
	if (sku->val.string.len == 0 || sku->val.string.len > 64)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, NULL,
				 "line %d of checkout: sku must have 1 to 64 characters, not %d",
				 index + 1, sku->val.string.len);
	return pnstrdup(sku->val.string.val, sku->val.string.len);
}

/*
 * A line's prescription key as text (NULL when absent); the columns' CHECKs
 * bound the lengths and the date, and make the three all or none.
 */
static Datum
line_rx(JsonbContainer *obj, int key, int index, bool *isnull)
{
	JsonbValue	v;
	JsonbValue *found = getKeyJsonValueFromContainer(obj, rx_keys[key], strlen(rx_keys[key]), &v);

	*isnull = found == NULL || found->type == jbvNull;
	if (*isnull)
		return (Datum) 0;
	if (found->type != jbvString)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
				 "A prescription is {\"prescriber\": \"dr. Sari\", \"prescription_no\": \"R-1\", \"prescription_date\": \"2026-11-30\"}.",
				 "line %d of checkout: \"%s\" must be a string", index + 1, rx_keys[key]);
	if (found->val.string.len > 1000)
		mk_error(ERRCODE_STRING_DATA_RIGHT_TRUNCATION, NULL,
				 "line %d of checkout: \"%s\" must have at most 1000 bytes, not %d",
				 index + 1, rx_keys[key], found->val.string.len);
	if (key == 2)
	{
		/* parsed here, so that a bad date names the line, not our INSERT */
		char	   *text = pnstrdup(found->val.string.val, found->val.string.len);

		if (strspn(text, "0123456789-") != strlen(text) || strlen(text) != 10)
			mk_error(ERRCODE_INVALID_DATETIME_FORMAT, "Write the date as YYYY-MM-DD.",
					 "line %d of checkout: prescription_date must be a date, not \"%s\"",
					 index + 1, mk_quote_short(text));
		return DirectFunctionCall1(date_in, CStringGetDatum(text));
	}
	return PointerGetDatum(cstring_to_text_with_len(found->val.string.val, found->val.string.len));
}

Datum
pos_checkout(PG_FUNCTION_ARGS)
{
	int32		branch_id;
	Jsonb	   *jb;
	int			n;
	Datum	   *skus, *qtys, *pids, *prices;
	Datum	   *rx[3];
	bool	   *rx_null[3];
	static const Oid resolve_types[] = {TEXTARRAYOID};
	static const Oid sale_types[] = {INT4OID};
	static const Oid lines_types[] = {INT8OID, INT8ARRAYOID, INT4ARRAYOID, NUMERICARRAYOID,
	TEXTARRAYOID, TEXTARRAYOID, DATEARRAYOID};
	Datum		args[7];
	bool		isnull;
	int64		sale_id;
	SPIPlanPtr	plan;

	mk_arg_not_null(fcinfo, 0, "branch_id");
	mk_arg_not_null(fcinfo, 1, "lines");
	branch_id = PG_GETARG_INT32(0);
	jb = PG_GETARG_JSONB_P(1);
	if (!JB_ROOT_IS_ARRAY(jb) || JB_ROOT_IS_SCALAR(jb))
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, CHECKOUT_HINT,
				 "lines must be a JSON array, not %s",
				 JB_ROOT_IS_OBJECT(jb) ? "an object" : "a scalar");
	n = JB_ROOT_COUNT(jb);
	if (n == 0 || n > CHECKOUT_MAX_LINES)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, CHECKOUT_HINT,
				 "lines must hold 1 to %d lines, not %d", CHECKOUT_MAX_LINES, n);

	skus = palloc(sizeof(Datum) * n);
	qtys = palloc(sizeof(Datum) * n);
	pids = palloc(sizeof(Datum) * n);
	prices = palloc(sizeof(Datum) * n);
	for (int k = 0; k < 3; k++)
	{
		rx[k] = palloc(sizeof(Datum) * n);
		rx_null[k] = palloc(sizeof(bool) * n);
	}
	for (int i = 0; i < n; i++)
	{
		JsonbValue *el = getIthJsonbValueFromContainer(&jb->root, i);
		JsonbContainer *obj;
		JsonbValue	skuv, qtyv;

		if (el == NULL || el->type != jbvBinary || !JsonContainerIsObject(el->val.binary.data))
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE, CHECKOUT_HINT,
					 "line %d of checkout must be a JSON object", i + 1);
		obj = el->val.binary.data;
		reject_unknown_keys(obj, i);
		skus[i] = CStringGetTextDatum(line_sku(getKeyJsonValueFromContainer(obj, "sku", 3, &skuv), i));
		qtys[i] = Int32GetDatum(line_qty(getKeyJsonValueFromContainer(obj, "qty", 3, &qtyv), i));
		for (int k = 0; k < 3; k++)
			rx[k][i] = line_rx(obj, k, i, &rx_null[k][i]);
		if (rx_null[0][i] != rx_null[1][i] || rx_null[0][i] != rx_null[2][i])
			mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
					 "A prescription is {\"prescriber\": \"dr. Sari\", \"prescription_no\": \"R-1\", \"prescription_date\": \"2026-11-30\"}.",
					 "line %d of checkout: give prescriber, prescription_no and prescription_date together", i + 1);
	}

	SPI_connect();

	mk_spi_plan(&resolve_plan,
				"SELECT p.product_id, p.price, p.active FROM unnest($1) WITH ORDINALITY AS t(sku, ord)"
				"  LEFT JOIN mekatek.product p ON p.sku = t.sku ORDER BY t.ord",
				1, resolve_types);
	args[0] = PointerGetDatum(construct_array(skus, n, TEXTOID, -1, false, TYPALIGN_INT));
	if (mk_spi_execute_plan(resolve_plan, args, NULL, true, 0, SPI_OK_SELECT, "SKU lookup") != (uint64) n)
		mk_error(ERRCODE_INTERNAL_ERROR, NULL, "SKU lookup returned " UINT64_FORMAT " rows for %d lines",
				 SPI_processed, n);
	for (int i = 0; i < n; i++)
	{
		pids[i] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
		if (isnull)
			mk_error(ERRCODE_FOREIGN_KEY_VIOLATION, "Register the product in mekatek.product first.",
					 "unknown SKU \"%s\" on line %d of checkout", TextDatumGetCString(skus[i]), i + 1);
		prices[i] = SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull),
									  false, -1);
		if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull)))
			mk_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, NULL,
					 "product \"%s\" is not active", TextDatumGetCString(skus[i]));
	}

	mk_spi_plan(&sale_plan,
				"INSERT INTO mekatek.sale (branch_id) VALUES ($1) RETURNING sale_id", 1, sale_types);
	args[0] = Int32GetDatum(branch_id);
	mk_spi_execute_plan(sale_plan, args, NULL, false, 0, SPI_OK_INSERT_RETURNING, "sale insert");
	sale_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	if (pos_schema_has_branches())
		plan = mk_spi_plan(&lines_plan,
						   "INSERT INTO mekatek.sale_line (sale_id, line_no, product_id, qty, unit_price,"
						   "                               prescriber, prescription_no, prescription_date)"
						   " SELECT $1, t.ord, t.product_id, t.qty, t.price, t.prescriber, t.rx_no, t.rx_date"
						   "   FROM unnest($2, $3, $4, $5, $6, $7) WITH ORDINALITY"
						   "        AS t(product_id, qty, price, prescriber, rx_no, rx_date, ord)",
						   7, lines_types);
	else						/* 0.1.0's schema, until ALTER EXTENSION UPDATE */
		plan = mk_spi_plan(&legacy_lines_plan,
						   "INSERT INTO mekatek.sale_line (sale_id, line_no, product_id, qty, unit_price)"
						   " SELECT $1, t.ord, t.product_id, t.qty, t.price"
						   "   FROM unnest($2, $3, $4) WITH ORDINALITY AS t(product_id, qty, price, ord)",
						   4, lines_types);
	args[0] = Int64GetDatum(sale_id);
	args[1] = PointerGetDatum(construct_array(pids, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[2] = PointerGetDatum(construct_array(qtys, n, INT4OID, 4, true, TYPALIGN_INT));
	args[3] = PointerGetDatum(construct_array(prices, n, NUMERICOID, -1, false, TYPALIGN_INT));
	for (int k = 0; k < 3; k++)
	{
		int			dims[1] = {n};
		int			lbs[1] = {1};

		args[4 + k] = PointerGetDatum(k < 2 ?
									  construct_md_array(rx[k], rx_null[k], 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT) :
									  construct_md_array(rx[k], rx_null[k], 1, dims, lbs, DATEOID, 4, true, TYPALIGN_INT));
	}
	pos_checkout_sale_id = sale_id;
	PG_TRY();
	{
		mk_spi_execute_plan(plan, args, NULL, false, 0, SPI_OK_INSERT, "sale line insert");
	}
	PG_FINALLY();
	{
		pos_checkout_sale_id = 0;
	}
	PG_END_TRY();

	SPI_finish();
	PG_RETURN_INT64(sale_id);
}
