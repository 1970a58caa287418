/*
 * report_xlsx.c: report_xlsx(report, from, to, branch) returns a real
 * .xlsx (libxlsxwriter) of the sales, margin, stock or controlled-drug
 * report, or all four ('all'), one sheet per report.
 *
 * The reports are the SQL functions (run with the caller's rights, read
 * only), so a sheet always equals what the SQL report says: a header row of
 * the column names, numbers as numbers (rupiah columns formatted
 * "Rp #,##0.00"), dates as Excel dates, and a Total row under the sales,
 * margin and stock sheets.  libxlsxwriter 1.1.4 writes only to a file: the
 * workbook goes to a file of the backend's own in base/pgsql_tmp, is read
 * back and removed (also on error).  Every query runs before the workbook
 * is opened, so an error in a report never leaves libxlsxwriter's memory
 * behind.  PDF is out of scope.
 */
#include "pos/pos.h"

#include <sys/stat.h>
#include <unistd.h>

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include <xlsxwriter.h>

PG_FUNCTION_INFO_V1(pos_report_xlsx);

typedef struct XlsxReport
{
	const char *name;			/* the report argument */
	const char *sheet;
	const char *sql;			/* $1 from, $2 to, $3 branch */
	bool		totals;
} XlsxReport;

static const XlsxReport reports[] = {
	{"sales", "Sales", "SELECT * FROM mekatek.sales_report($1, $2, 'day', $3)", true},
	{"margin", "Margin", "SELECT * FROM mekatek.margin_report($1, $2, 'month', $3)", true},
	{"stock", "Stock", "SELECT * FROM mekatek.stock_value($3) WHERE $1 <= $2", true},
	{"controlled", "Controlled drugs",
		"SELECT r.* FROM pg_catalog.generate_series(pg_catalog.date_trunc('month', $1::timestamp), $2::timestamp,"
		" interval '1 month') m, LATERAL mekatek.controlled_register(m::date, $3) r", false},
};

/* Columns in rupiah; other numbers get a plain number format. */
static bool
is_money(const char *column)
{
	static const char *const money[] = {"revenue", "cost", "margin", "value", "expiring_value",
	"expired_value", "variance_value"};

	for (int i = 0; i < (int) lengthof(money); i++)
		if (strcmp(column, money[i]) == 0)
			return true;
	return false;
}

/* One report's rows, read before any workbook exists. */
typedef struct XlsxSheet
{
	const XlsxReport *report;
	SPITupleTable *rows;
	uint64		nrows;
} XlsxSheet;

static void
write_sheet(lxw_workbook *wb, const XlsxSheet *s, lxw_format *bold, lxw_format *date_fmt,
			lxw_format *rupiah, lxw_format *number, lxw_format *bold_rupiah, lxw_format *bold_number)
{
	lxw_worksheet *ws = workbook_add_worksheet(wb, s->report->sheet);
	TupleDesc	desc = s->rows->tupdesc;
	int			ncols = desc->natts;
	double	   *sums = palloc0(sizeof(double) * ncols);

	for (int c = 0; c < ncols; c++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, c);

		worksheet_write_string(ws, 0, c, NameStr(a->attname), bold);
		worksheet_set_column(ws, c, c, a->atttypid == TEXTOID ? 24 : 14, NULL);
	}
	for (uint64 r = 0; r < s->nrows; r++)
	{
		HeapTuple	tuple = s->rows->vals[r];

		for (int c = 0; c < ncols; c++)
		{
			Form_pg_attribute a = TupleDescAttr(desc, c);
			bool		isnull;
			Datum		d = SPI_getbinval(tuple, desc, c + 1, &isnull);
			lxw_row_t	row = (lxw_row_t) (r + 1);

			if (isnull)
				continue;
			if (a->atttypid == DATEOID && !DATE_NOT_FINITE(DatumGetDateADT(d)))
			{
				lxw_datetime dt = {0};

				j2date(DatumGetDateADT(d) + POSTGRES_EPOCH_JDATE, &dt.year, &dt.month, &dt.day);
				worksheet_write_datetime(ws, row, c, &dt, date_fmt);
			}
			else if (mk_is_number_type(a->atttypid))
			{
				double		v = mk_number_to_double(d, a->atttypid);

				sums[c] += v;
				worksheet_write_number(ws, row, c, v, is_money(NameStr(a->attname)) ? rupiah : number);
			}
			else
				worksheet_write_string(ws, row, c, SPI_getvalue(tuple, desc, c + 1), NULL);
		}
		CHECK_FOR_INTERRUPTS();
	}
	if (s->report->totals)
	{
		lxw_row_t	row = (lxw_row_t) (s->nrows + 1);

		worksheet_write_string(ws, row, 0, "Total", bold);
		for (int c = 1; c < ncols; c++)
		{
			Form_pg_attribute a = TupleDescAttr(desc, c);

			if (mk_is_number_type(a->atttypid) && strcmp(NameStr(a->attname), "branch_id") != 0)
				worksheet_write_number(ws, row, c, sums[c],
									   is_money(NameStr(a->attname)) ? bold_rupiah : bold_number);
		}
	}
	worksheet_freeze_panes(ws, 1, 0);
}

/* Read a finished file into a bytea. */
static bytea *
read_file(const char *path)
{
	FILE	   *f = AllocateFile(path, PG_BINARY_R);
	struct stat st;
	bytea	   *result;

	if (f == NULL || fstat(fileno(f), &st) != 0)
		ereport(ERROR, (errcode_for_file_access(), errmsg("could not read the workbook \"%s\": %m", path)));
	if ((Size) st.st_size > MaxAllocSize - VARHDRSZ)
		mk_error(ERRCODE_PROGRAM_LIMIT_EXCEEDED, "Ask for a shorter range or one branch.",
				 "the workbook has %lld bytes, more than a bytea holds", (long long) st.st_size);
	result = SPI_palloc(VARHDRSZ + st.st_size);	/* outlives SPI_finish */
	if (fread(VARDATA(result), 1, st.st_size, f) != (size_t) st.st_size)
		ereport(ERROR, (errcode_for_file_access(), errmsg("could not read the workbook \"%s\": %m", path)));
	FreeFile(f);
	SET_VARSIZE(result, VARHDRSZ + st.st_size);
	return result;
}

/* Write the sheets to path; libxlsxwriter's memory is freed on error too. */
static void
write_workbook(const char *path, char *tmpdir, const XlsxSheet *sheets, int nsheets)
{
	lxw_workbook_options opts = {.constant_memory = LXW_FALSE, .tmpdir = tmpdir, .use_zip64 = LXW_FALSE};
	lxw_workbook *wb = workbook_new_opt(path, &opts);
	lxw_format *bold, *date_fmt, *rupiah, *number, *bold_rupiah, *bold_number;
	lxw_error	err;

	if (wb == NULL)
		mk_error(ERRCODE_OUT_OF_MEMORY, NULL, "could not start a workbook");
	bold = workbook_add_format(wb);
	format_set_bold(bold);
	date_fmt = workbook_add_format(wb);
	format_set_num_format(date_fmt, "yyyy-mm-dd");
	rupiah = workbook_add_format(wb);
	format_set_num_format(rupiah, "\"Rp\" #,##0.00");
	number = workbook_add_format(wb);
	format_set_num_format(number, "#,##0");
	bold_rupiah = workbook_add_format(wb);
	format_set_num_format(bold_rupiah, "\"Rp\" #,##0.00");
	format_set_bold(bold_rupiah);
	bold_number = workbook_add_format(wb);
	format_set_num_format(bold_number, "#,##0");
	format_set_bold(bold_number);
	PG_TRY();
	{
		for (int i = 0; i < nsheets; i++)
			write_sheet(wb, &sheets[i], bold, date_fmt, rupiah, number, bold_rupiah, bold_number);
	}
	PG_CATCH();
	{
		lxw_workbook_free(wb);
		PG_RE_THROW();
	}
	PG_END_TRY();
	err = workbook_close(wb);
	if (err != LXW_NO_ERROR)
		mk_error(ERRCODE_IO_ERROR, NULL, "could not write the workbook: %s", lxw_strerror(err));
}

Datum
pos_report_xlsx(PG_FUNCTION_ARGS)
{
	char	   *which = mk_arg_cstring(fcinfo, 0, "report", false);
	Datum		from = mk_arg_datum(fcinfo, 1, "from_date");
	Datum		to = mk_arg_datum(fcinfo, 2, "to_date");
	static const Oid types[] = {DATEOID, DATEOID, INT4OID};
	static const Oid range_types[] = {DATEOID, DATEOID};
	static uint32 counter = 0;
	Datum		args[3];
	char		nulls[3] = {' ', ' ', ' '};
	XlsxSheet	sheets[lengthof(reports)];
	int			nsheets = 0;
	char	   *path;
	char		tmpdir[MAXPGPATH];
	bytea	   *result = NULL;

	for (int i = 0; i < (int) lengthof(reports); i++)
		if (strcmp(which, "all") == 0 || strcmp(which, reports[i].name) == 0)
			sheets[nsheets++].report = &reports[i];
	if (nsheets == 0)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, "The reports are sales, margin, stock and controlled, or all.",
				 "report must be sales, margin, stock, controlled or all, not \"%s\"", mk_quote_short(which));

	SPI_connect();
	args[0] = from;
	args[1] = to;
	args[2] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	nulls[2] = PG_ARGISNULL(3) ? 'n' : ' ';
	mk_spi_execute("SELECT mekatek.pos_report_range($1, $2, 'report_xlsx')", 2, range_types, args, NULL,
				   true, 1, SPI_OK_SELECT, "report range check");
	for (int i = 0; i < nsheets; i++)
	{
		mk_spi_execute(sheets[i].report->sql, 3, types, args, nulls, true, 0, SPI_OK_SELECT, "report");
		sheets[i].rows = SPI_tuptable;
		sheets[i].nrows = SPI_processed;
		CHECK_FOR_INTERRUPTS();
	}

	snprintf(tmpdir, sizeof(tmpdir), "base/%s", PG_TEMP_FILES_DIR);
	(void) MakePGDirectory(tmpdir);
	path = psprintf("%s/mekatek_xlsx_%d_%u.xlsx", tmpdir, MyProcPid, counter++);
	PG_TRY();
	{
		write_workbook(path, tmpdir, sheets, nsheets);
		result = read_file(path);
	}
	PG_FINALLY();
	{
		(void) unlink(path);
	}
	PG_END_TRY();
	SPI_finish();
	PG_RETURN_BYTEA_P(result);
}
