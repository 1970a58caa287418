/*
 * csv_fast.c: a parallel worker's block range written as CSV without
 * COPY's row path, byte for byte what COPY TO would write.
 *
 * In a worker, COPY's CSV output was half the CPU of an export: each
 * value through its type's output function into a palloc'd string, then
 * strcmp against the NULL string, strlen, a scan for quoting, the row sent
 * as a protocol message, and a memory context reset per row.  Here the
 * query runs through the executor as COPY (query) runs it, into a
 * DestReceiver that formats the slot into one buffer handed to the
 * compressor in MK_STAGE_SIZE pieces.
 *
 * The bytes stay COPY's: CopyAttributeOutCSV's rules (PostgreSQL 15,
 * copyto.c) are followed as they are, and only these types skip their
 * output function, each where the result is provably the same:
 *   - int2, int4, int8: pg_ltoa / pg_lltoa, what int2out, int4out and
 *     int8out call;
 *   - text, varchar, bpchar: the value's bytes, what textout, varcharout
 *     and bpcharout copy out;
 *   - timestamptz with DateStyle ISO, years 1 to 9999: timestamp2tm's
 *     arithmetic with the session zone's UTC offset cached for the
 *     interval pg_next_dst_boundary gives (checked against pg_localtime
 *     at both ends, else the output function for the rest of the range),
 *     then EncodeDateTime's ISO layout.
 * Everything else goes through its output function.  Options this file
 * does not handle (text or binary format, FORCE_QUOTE of named columns,
 * an encoding other than the database's) leave the range to COPY.
 * test/scripts/backup_parallel.sh compares the two paths' bytes over
 * random values in several time zones.
 */
#include "core/mekatek.h"

#include "commands/copy.h"
#include "executor/executor.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "parser/analyze.h"
#include "pgtime.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "backup/s3_copy.h"

typedef enum FastKind
{
	FK_OUTFUNC,
	FK_INT2,
	FK_INT4,
	FK_INT8,
	FK_TEXT,
	FK_TIMESTAMPTZ
} FastKind;

/* The session zone's offset over [lo, hi), or off: the output function. */
typedef struct TzSpan
{
	bool		valid;
	bool		off;
	pg_time_t	lo;
	pg_time_t	hi;
	long		gmtoff;
} TzSpan;

typedef struct FastCsv
{
	DestReceiver pub;
	CopyFormatOptions fo;
	MkBytesFn	out;
	void	   *arg;
	StringInfoData buf;
	int			natts;
	FastKind   *kind;
	FmgrInfo   *outfn;
	bool		single_attr;
	bool		dirty;			/* the row context holds something */
	MemoryContext rowcxt;
	TzSpan		tz;
	uint64		rows;
	uint64		bytes;
} FastCsv;

static void
fast_flush(FastCsv *fc)
{
	if (fc->buf.len == 0)
		return;
	fc->bytes += fc->buf.len;
	fc->out(fc->arg, fc->buf.data, fc->buf.len);
	resetStringInfo(&fc->buf);
}

/* CopyAttributeOutCSV (PostgreSQL 15), with no transcoding to do. */
static void
csv_value(FastCsv *fc, const char *s, int len, bool use_quote)
{
	char		delimc = fc->fo.delim[0];
	char		quotec = fc->fo.quote[0];
	char		escapec = fc->fo.escape[0];
	StringInfo	b = &fc->buf;

	/* COPY's strcmp(string, null_print): neither holds a NUL. */
	if (!use_quote && len == fc->fo.null_print_len && memcmp(s, fc->fo.null_print, len) == 0)
		use_quote = true;
	if (!use_quote)
	{
		if (fc->single_attr && len == 2 && s[0] == '\\' && s[1] == '.')
			use_quote = true;
		else
		{
			for (int i = 0; i < len; i++)
			{
				char		c = s[i];

				if (c == delimc || c == quotec || c == '\n' || c == '\r')
				{
					use_quote = true;
					break;
				}
			}
		}
	}
	if (!use_quote)
	{
		appendBinaryStringInfoNT(b, s, len);
		return;
	}
	appendStringInfoCharMacro(b, quotec);
	{
		int			start = 0;

		for (int i = 0; i < len; i++)
		{
			if (s[i] == quotec || s[i] == escapec)
			{
				appendBinaryStringInfoNT(b, s + start, i - start);
				appendStringInfoCharMacro(b, escapec);
				start = i;		/* the character goes with the next run */
			}
		}
		appendBinaryStringInfoNT(b, s + start, len - start);
	}
	appendStringInfoCharMacro(b, quotec);
}

static inline char *
put2(char *p, int v)
{
	p[0] = '0' + v / 10;
	p[1] = '0' + v % 10;
	return p + 2;
}

/* The offset of unix time t, or false: this zone gets the output function. */
static bool
tz_offset(TzSpan *z, pg_time_t t, long *gmtoff)
{
	long		before,
				after;
	int			isdst_b,
				isdst_a,
				rc;
	pg_time_t	boundary,
				probe[2];

	if (z->off)
		return false;
	if (z->valid && t >= z->lo && t < z->hi)
	{
		*gmtoff = z->gmtoff;
		return true;
	}
	rc = pg_next_dst_boundary(&t, &before, &isdst_b, &boundary, &after, &isdst_a, session_timezone);
	if (rc < 0)
	{
		z->off = true;
		return false;
	}
	z->lo = t;
	z->hi = rc == 0 ? PG_INT64_MAX : boundary;
	z->gmtoff = before;
	/* pg_localtime must agree at both ends, or the function decides. */
	probe[0] = t;
	probe[1] = rc == 0 ? Max(t, (pg_time_t) 1900000000) : z->hi - 1;
	for (int i = 0; i < 2; i++)
	{
		struct pg_tm *tx = pg_localtime(&probe[i], session_timezone);
		pg_time_t	local = probe[i] + before;
		int64		days = local >= 0 ? local / SECS_PER_DAY : -((-local + SECS_PER_DAY - 1) / SECS_PER_DAY);
		int64		sod = local - days * SECS_PER_DAY;
		int			y,
					m,
					d;

		if (probe[i] < t || (rc != 0 && probe[i] >= z->hi))
			continue;
		j2date((int) (days + UNIX_EPOCH_JDATE), &y, &m, &d);
		if (tx == NULL || tx->tm_gmtoff != before || tx->tm_year + 1900 != y || tx->tm_mon + 1 != m ||
			tx->tm_mday != d || tx->tm_hour != sod / 3600 || tx->tm_min != (sod / 60) % 60 ||
			tx->tm_sec != sod % 60)
		{
			z->off = true;
			return false;
		}
	}
	z->valid = true;
	*gmtoff = before;
	return true;
}

/*
 * timestamptz_out with DateStyle ISO (timestamp2tm, EncodeDateTime,
 * AppendSeconds, EncodeTimezone); false for what it leaves to the function.
 */
static bool
fast_timestamptz(FastCsv *fc, TimestampTz ts, char *out, int *len)
{
	int64		secs,
				usec,
				local,
				days,
				sod;
	long		gmtoff;
	int			y,
				m,
				d,
				tz,
				hh,
				mi,
				ss;
	char	   *p = out;

	if (TIMESTAMP_NOT_FINITE(ts))
		return false;
	secs = ts / USECS_PER_SEC;
	usec = ts % USECS_PER_SEC;
	if (usec < 0)
	{
		usec += USECS_PER_SEC;
		secs -= 1;
	}
	secs += (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
	if (!tz_offset(&fc->tz, (pg_time_t) secs, &gmtoff))
		return false;
	local = secs + gmtoff;
	days = local >= 0 ? local / SECS_PER_DAY : -((-local + SECS_PER_DAY - 1) / SECS_PER_DAY);
	sod = local - days * SECS_PER_DAY;
	if (days + UNIX_EPOCH_JDATE < 1721426 || days + UNIX_EPOCH_JDATE > 5373484)
		return false;			/* before 0001-01-01 or after 9999-12-31 */
	j2date((int) (days + UNIX_EPOCH_JDATE), &y, &m, &d);
	if (y < 1 || y > 9999)
		return false;
	p = put2(p, y / 100);
	p = put2(p, y % 100);
	*p++ = '-';
	p = put2(p, m);
	*p++ = '-';
	p = put2(p, d);
	*p++ = ' ';
	p = put2(p, (int) (sod / 3600));
	*p++ = ':';
	p = put2(p, (int) ((sod / 60) % 60));
	*p++ = ':';
	p = put2(p, (int) (sod % 60));
	if (usec != 0)
	{
		int			v = (int) usec;
		int			ndig = 6;

		while (v % 10 == 0)
		{
			v /= 10;
			ndig--;
		}
		*p++ = '.';
		for (int i = ndig - 1; i >= 0; i--)
		{
			p[i] = '0' + v % 10;
			v /= 10;
		}
		p += ndig;
	}
	/* EncodeTimezone: tz is seconds west, shown with the sign flipped. */
	tz = (int) -gmtoff;
	*p++ = tz <= 0 ? '+' : '-';
	tz = abs(tz);
	ss = tz % 60;
	mi = (tz / 60) % 60;
	hh = tz / 3600;
	if (hh > 99)
		return false;
	p = put2(p, hh);
	if (ss != 0 || mi != 0)
	{
		*p++ = ':';
		p = put2(p, mi);
	}
	if (ss != 0)
	{
		*p++ = ':';
		p = put2(p, ss);
	}
	*len = (int) (p - out);
	return true;
}

static void
fast_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	FastCsv    *fc = (FastCsv *) self;

	fc->natts = typeinfo->natts;
	fc->single_attr = fc->natts == 1;
	fc->kind = palloc0(sizeof(FastKind) * Max(fc->natts, 1));
	fc->outfn = palloc0(sizeof(FmgrInfo) * Max(fc->natts, 1));
	for (int i = 0; i < fc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(typeinfo, i);
		Oid			fn;
		bool		isvarlena;

		getTypeOutputInfo(att->atttypid, &fn, &isvarlena);
		fmgr_info(fn, &fc->outfn[i]);
		switch (fn)
		{
			case F_INT2OUT:
				fc->kind[i] = FK_INT2;
				break;
			case F_INT4OUT:
				fc->kind[i] = FK_INT4;
				break;
			case F_INT8OUT:
				fc->kind[i] = FK_INT8;
				break;
			case F_TEXTOUT:
			case F_VARCHAROUT:
			case F_BPCHAROUT:
				fc->kind[i] = FK_TEXT;
				break;
			case F_TIMESTAMPTZ_OUT:
				fc->kind[i] = DateStyle == USE_ISO_DATES ? FK_TIMESTAMPTZ : FK_OUTFUNC;
				break;
			default:
				fc->kind[i] = FK_OUTFUNC;
		}
	}
	if (fc->fo.header_line)
	{
		for (int i = 0; i < fc->natts; i++)
		{
			const char *name = NameStr(TupleDescAttr(typeinfo, i)->attname);

			if (i > 0)
				appendStringInfoCharMacro(&fc->buf, fc->fo.delim[0]);
			csv_value(fc, name, strlen(name), false);
		}
		appendStringInfoCharMacro(&fc->buf, '\n');
	}
}

static bool
fast_receive(TupleTableSlot *slot, DestReceiver *self)
{
	FastCsv    *fc = (FastCsv *) self;
	bool		quote_all = fc->fo.force_quote_all;
	MemoryContext old = MemoryContextSwitchTo(fc->rowcxt);

	slot_getallattrs(slot);
	for (int i = 0; i < fc->natts; i++)
	{
		Datum		v = slot->tts_values[i];
		char		num[MAXDATELEN + 32];
		int			len;

		if (i > 0)
			appendStringInfoCharMacro(&fc->buf, fc->fo.delim[0]);
		if (slot->tts_isnull[i])
		{
			appendBinaryStringInfoNT(&fc->buf, fc->fo.null_print, fc->fo.null_print_len);
			continue;
		}
		switch (fc->kind[i])
		{
			case FK_INT2:
				len = pg_ltoa((int32) DatumGetInt16(v), num);
				csv_value(fc, num, len, quote_all);
				break;
			case FK_INT4:
				len = pg_ltoa(DatumGetInt32(v), num);
				csv_value(fc, num, len, quote_all);
				break;
			case FK_INT8:
				len = pg_lltoa(DatumGetInt64(v), num);
				csv_value(fc, num, len, quote_all);
				break;
			case FK_TEXT:
				{
					text	   *t = DatumGetTextPP(v);

					if ((Pointer) t != DatumGetPointer(v))
						fc->dirty = true;
					csv_value(fc, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), quote_all);
					break;
				}
			case FK_TIMESTAMPTZ:
				if (fast_timestamptz(fc, DatumGetTimestampTz(v), num, &len))
				{
					csv_value(fc, num, len, quote_all);
					break;
				}
				/* FALLTHROUGH */
			case FK_OUTFUNC:
				{
					char	   *s = OutputFunctionCall(&fc->outfn[i], v);

					fc->dirty = true;
					csv_value(fc, s, strlen(s), quote_all);
					break;
				}
		}
	}
	appendStringInfoCharMacro(&fc->buf, '\n');
	MemoryContextSwitchTo(old);
	if (fc->dirty)
	{
		MemoryContextReset(fc->rowcxt);
		fc->dirty = false;
	}
	fc->rows++;
	/* Larger than a stage: the compressor takes it without copying. */
	if (fc->buf.len > MK_STAGE_SIZE)
	{
		fast_flush(fc);
		CHECK_FOR_INTERRUPTS();
	}
	return true;
}

static void
fast_shutdown(DestReceiver *self)
{
}

static void
fast_destroy(DestReceiver *self)
{
}

/* COPY's target encoding is the database's: nothing to convert. */
static bool
fast_options_ok(const CopyFormatOptions *fo)
{
	int			enc = fo->file_encoding >= 0 ? fo->file_encoding : pg_get_client_encoding();

	return fo->csv_mode && !fo->binary && fo->force_quote == NIL &&
		enc == GetDatabaseEncoding() && !PG_ENCODING_IS_CLIENT_ONLY(enc);
}

bool
mk_csv_fast_copy(RawStmt *raw, const char *query, List *copy_options, MkBytesFn out, void *arg,
				 uint64 *rows, uint64 *bytes)
{
	ParseState *pstate = make_parsestate(NULL);
	FastCsv    *fc = palloc0(sizeof(FastCsv));
	List	   *rewritten;
	PlannedStmt *plan;
	QueryDesc  *qd;

	pstate->p_sourcetext = query;
	ProcessCopyOptions(pstate, &fc->fo, false, copy_options);
	if (!fast_options_ok(&fc->fo))
		return false;
	fc->pub.receiveSlot = fast_receive;
	fc->pub.rStartup = fast_startup;
	fc->pub.rShutdown = fast_shutdown;
	fc->pub.rDestroy = fast_destroy;
	fc->pub.mydest = DestNone;
	fc->out = out;
	fc->arg = arg;
	initStringInfo(&fc->buf);
	enlargeStringInfo(&fc->buf, MK_STAGE_SIZE + 1024);
	fc->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "mekatek csv row",
									   ALLOCSET_DEFAULT_SIZES);

	/* As BeginCopyTo plans COPY (query) TO, and as DoCopyTo runs it. */
	rewritten = pg_analyze_and_rewrite_fixedparams(raw, query, NULL, 0, NULL);
	if (list_length(rewritten) != 1)
		mk_error(ERRCODE_FEATURE_NOT_SUPPORTED, NULL, "the export's query became several statements");
	plan = pg_plan_query(linitial_node(Query, rewritten), query, CURSOR_OPT_PARALLEL_OK, NULL);
	PushCopiedSnapshot(GetActiveSnapshot());
	UpdateActiveSnapshotCommandId();
	qd = CreateQueryDesc(plan, query, GetActiveSnapshot(), InvalidSnapshot, &fc->pub, NULL, NULL, 0);
	ExecutorStart(qd, 0);
	ExecutorRun(qd, ForwardScanDirection, 0L, true);
	ExecutorFinish(qd);
	ExecutorEnd(qd);
	FreeQueryDesc(qd);
	PopActiveSnapshot();
	fast_flush(fc);
	MemoryContextDelete(fc->rowcxt);
	*rows = fc->rows;
	*bytes = fc->bytes;
	return true;
}
