/*
 * load.c: the streaming bulk path, mekatek.fw_load_file(path) and
 * mekatek.fw_load(lines).
 *
 * Lines are read in 64 KiB chunks (a server file) or walked in place (a text
 * argument), parsed by logline.c, and handed to PostgreSQL's own COPY FROM
 * (BeginCopyFrom with a data-source callback, then CopyFrom) as text-format
 * rows.  So the rows go in through COPY's multi-insert, with fw_log's
 * defaults, indexes and constraints handled exactly as for COPY; nothing is
 * staged.  Lines that do not parse go to a tuplestore (work_mem, then a temp
 * file) and, after the COPY, into mekatek.fw_reject in batches, in line
 * order, with their line number.
 *
 * Memory: one chunk, the reassembly buffer of a line that spans chunks (at
 * most FW_LOAD_MAX_LINE), the COPY output not yet taken (at most one COPY
 * read plus one row), a ring of line numbers, the rejects' tuplestore
 * (work_mem).  Never the whole file.
 */
#include "core/mekatek.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/copy.h"
#include "commands/copyfrom_internal.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_relation.h"
#include "storage/fd.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rls.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "firewall/logline.h"
#include "firewall/firewall.h"

#define FW_LOAD_CHUNK		65536
/* a line longer than this is not a log line: the file is not a log file */
#define FW_LOAD_MAX_LINE	(1024 * 1024)
/* rejects go into fw_reject this many at a time */
#define FW_LOAD_REJECT_BATCH 1000
/*
 * Copy row -> line number, for error messages.  COPY reads at most 64 KiB
 * ahead and buffers at most 1,000 rows before a flush, so the row an error
 * names is always among the last few thousand produced.
 */
#define FW_LOAD_RING		8192

static const char *const fw_log_columns[] = {
	"logged_at", "host", "prefix", "in_iface", "out_iface", "direction",
	"src", "dst", "proto", "spt", "dpt", "len", "ttl", "packet_id",
	"icmp_type", "icmp_code", "tcp_flags", "action", "extra"
};

typedef struct fw_loader
{
	/* input: a file read by chunks, or one in-memory text */
	const char *path;			/* NULL for the text variant */
	FILE	   *file;
	const char *buf;
	size_t		buflen,
				pos;
	bool		eof;			/* no more to read into buf */
	char	   *chunk;
	StringInfoData partial;		/* a line spanning chunks */
	bool		partial_out;	/* partial holds the line last returned */
	int64		line_no;		/* of the line last returned */

	/* output to COPY */
	StringInfoData out;
	int			out_pos;
	bool		done;
	StringInfoData json;
	MemoryContext rowcxt;
	CopyFromState cstate;
	bool		in_source;		/* inside the data-source callback */
	bool		in_read;		/* inside next_line: at line line_no + 1 */
	uint64		rows;			/* COPY rows produced */
	int64		ring[FW_LOAD_RING];

	/* parsing */
	fw_prefix_map map;
	int			year;
	int64		unmapped;		/* loaded lines whose prefix maps to no action */

	/* rejects */
	Tuplestorestate *rejects;
	TupleDesc	reject_desc;
	int64		nrejected;
} fw_loader;

/* The one load running in this backend: loads do not nest. */
static fw_loader *active_loader = NULL;

static void
fw_load_context(void *arg)
{
	fw_loader  *ld = (fw_loader *) arg;
	int64		line = ld->in_read ? ld->line_no + 1 : ld->line_no;

	if (!ld->in_source && ld->cstate && ld->cstate->cur_lineno > 0)
	{
		uint64		row = ld->cstate->cur_lineno - 1;

		line = (row < ld->rows && ld->rows - row <= FW_LOAD_RING)
			? ld->ring[row % FW_LOAD_RING] : 0;
	}
	if (line <= 0)
		return;
	if (ld->path)
		errcontext("mekatek.fw_load_file, file \"%s\", line " INT64_FORMAT, ld->path, line);
	else
		errcontext("mekatek.fw_load, line " INT64_FORMAT, line);
}

static void
read_chunk(fw_loader *ld)
{
	size_t		n = fread(ld->chunk, 1, FW_LOAD_CHUNK, ld->file);

	if (n < FW_LOAD_CHUNK && ferror(ld->file))
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\": %m", ld->path)));
	if (n < FW_LOAD_CHUNK)
		ld->eof = true;
	ld->buf = ld->chunk;
	ld->buflen = n;
	ld->pos = 0;
}

static void
append_partial(fw_loader *ld, const char *s, size_t n)
{
	if ((size_t) ld->partial.len + n > FW_LOAD_MAX_LINE)
		mk_error(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
				 "A netfilter LOG line is well under 8 KiB: is this a text log file?",
				 "line " INT64_FORMAT " of file \"%s\" is longer than %d bytes",
				 ld->line_no + 1, ld->path, FW_LOAD_MAX_LINE);
	appendBinaryStringInfo(&ld->partial, s, n);
}

/*
 * The next line, without its '\n'; false at the end.  The line points into
 * the chunk (or the text) when it lies inside it, else into partial.
 */
static bool
next_line(fw_loader *ld, const char **line, size_t *len)
{
	if (ld->partial_out)
	{
		resetStringInfo(&ld->partial);
		ld->partial_out = false;
	}
	for (;;)
	{
		const char *s = ld->buf + ld->pos;
		size_t		avail = ld->buflen - ld->pos;
		const char *nl = avail ? memchr(s, '\n', avail) : NULL;
		size_t		n;

		if (!nl && !ld->eof)
		{
			if (avail)
				append_partial(ld, s, avail);
			read_chunk(ld);
			continue;
		}
		if (!nl && avail == 0 && ld->partial.len == 0)
			return false;
		/* a whole line, or the last one without a trailing newline */
		n = nl ? (size_t) (nl - s) : avail;
		ld->pos += nl ? n + 1 : n;
		if (ld->partial.len > 0)
		{
			append_partial(ld, s, n);
			ld->partial_out = true;
			s = ld->partial.data;
			n = ld->partial.len;
		}
		ld->line_no++;
		*line = s;
		*len = n;
		return true;
	}
}

static void
add_reject(fw_loader *ld, const char *line, size_t len, const char *reason)
{
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	values[0] = PointerGetDatum(cstring_to_text_with_len(line, len));
	values[1] = CStringGetTextDatum(reason);
	values[2] = Int64GetDatum(ld->line_no);
	tuplestore_putvalues(ld->rejects, ld->reject_desc, values, nulls);
	ld->nrejected++;
}

/*
 * A line that is not valid in the server encoding (or holds a NUL) cannot
 * be text: it is kept with each offending byte written as \xNN, and the
 * reason says so.
 */
static void
reject_bad_encoding(fw_loader *ld, const char *line, size_t len)
{
	int			enc = GetDatabaseEncoding();
	StringInfoData s;
	size_t		i = 0;
	long		first = -1;

	initStringInfo(&s);
	while (i < len)
	{
		int			ok = pg_encoding_verifymbstr(enc, line + i, (int) (len - i));

		appendBinaryStringInfo(&s, line + i, ok);
		i += ok;
		if (i < len)
		{
			if (first < 0)
				first = (long) i;
			appendStringInfo(&s, "\\x%02x", (unsigned char) line[i]);
			i++;
		}
	}
	add_reject(ld, s.data, s.len,
			   psprintf("a NUL byte or invalid byte sequence for encoding \"%s\" at byte %ld (such bytes are kept as \\xNN)",
						GetDatabaseEncodingName(), first));
}

/* text for COPY's text format: backslash, tab, newline and CR escaped */
static void
put_text(StringInfo o, const char *p, size_t n)
{
	size_t		start = 0;

	for (size_t i = 0; i < n; i++)
	{
		char		c = p[i];
		const char *esc;

		switch (c)
		{
			case '\\':
				esc = "\\\\";
				break;
			case '\t':
				esc = "\\t";
				break;
			case '\n':
				esc = "\\n";
				break;
			case '\r':
				esc = "\\r";
				break;
			default:
				continue;
		}
		appendBinaryStringInfo(o, p + start, i - start);
		appendBinaryStringInfo(o, esc, 2);
		start = i + 1;
	}
	appendBinaryStringInfo(o, p + start, n - start);
}

static inline void
put_span_or_null(StringInfo o, fwl_span s)
{
	if (s.len > 0)
		put_text(o, s.p, s.len);
	else
		appendBinaryStringInfo(o, "\\N", 2);
}

static inline void
put_int(StringInfo o, bool present, int32 v)
{
	char		b[12];

	if (!present)
	{
		appendBinaryStringInfo(o, "\\N", 2);
		return;
	}
	appendBinaryStringInfo(o, b, pg_ltoa(v, b));
}

static inline void
put_digits(char *d, int v, int width)
{
	for (int i = width - 1; i >= 0; i--)
	{
		d[i] = '0' + v % 10;
		v /= 10;
	}
}

/* a timestamptz in UTC, as timestamptz_in reads it whatever DateStyle says */
static void
put_timestamp(StringInfo o, TimestampTz ts)
{
	struct pg_tm tm;
	fsec_t		fsec;
	char		b[32];

	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		elog(ERROR, "timestamp out of range");
	if (tm.tm_year < 1 || tm.tm_year > 9999)
	{
		/* an offset can push a year-1 or year-9999 header across */
		appendStringInfo(o, "%04d-%02d-%02d %02d:%02d:%02d.%06d+00%s",
						 tm.tm_year > 0 ? tm.tm_year : 1 - tm.tm_year, tm.tm_mon, tm.tm_mday,
						 tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec,
						 tm.tm_year > 0 ? "" : " BC");
		return;
	}
	put_digits(b, tm.tm_year, 4);
	b[4] = '-';
	put_digits(b + 5, tm.tm_mon, 2);
	b[7] = '-';
	put_digits(b + 8, tm.tm_mday, 2);
	b[10] = ' ';
	put_digits(b + 11, tm.tm_hour, 2);
	b[13] = ':';
	put_digits(b + 14, tm.tm_min, 2);
	b[16] = ':';
	put_digits(b + 17, tm.tm_sec, 2);
	b[19] = '.';
	put_digits(b + 20, fsec, 6);
	memcpy(b + 26, "+00", 3);
	appendBinaryStringInfo(o, b, 29);
}

static void
put_addr(StringInfo o, int family, const uint8_t *a)
{
	char		b[INET6_ADDRSTRLEN];

	if (family == 4)
	{
		int			n = 0;

		for (int i = 0; i < 4; i++)
		{
			if (i)
				b[n++] = '.';
			n += pg_ultoa_n(a[i], b + n);
		}
		appendBinaryStringInfo(o, b, n);
		return;
	}
	if (!inet_ntop(AF_INET6, a, b, sizeof(b)))
		elog(ERROR, "could not format an IPv6 address");
	appendStringInfoString(o, b);
}

/* a JSON string: quote, backslash and control characters escaped */
static void
json_string(StringInfo j, const char *p, int n)
{
	int			start = 0;

	appendStringInfoCharMacro(j, '"');
	for (int i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) p[i];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		/* copy the plain run, then the escape */
		appendBinaryStringInfo(j, p + start, i - start);
		if (c < 0x20)
			appendStringInfo(j, "\\u%04x", c);
		else
		{
			appendStringInfoChar(j, '\\');
			appendStringInfoChar(j, (char) c);
		}
		start = i + 1;
	}
	appendBinaryStringInfo(j, p + start, n - start);
	appendStringInfoCharMacro(j, '"');
}

static void
json_members(StringInfo j, const fwl_event *ev, bool inner, bool *first)
{
	for (int i = 0; i < ev->nkv; i++)
	{
		int			klen;
		const char *k;

		if ((bool) ev->kv[i].inner != inner)
			continue;
		if (!*first)
			appendStringInfoCharMacro(j, ',');
		*first = false;
		k = mk_fw_extra_key(ev, i, &klen);
		json_string(j, k, klen);
		appendStringInfoCharMacro(j, ':');
		if (ev->kv[i].has_val)
			json_string(j, ev->kv[i].val.p, ev->kv[i].val.len);
		else
			appendBinaryStringInfo(j, "true", 4);
	}
}

/* extra, as fw_parse builds it (jsonb orders the keys the same way) */
static void
put_extra(fw_loader *ld, StringInfo o, const fwl_event *ev)
{
	StringInfo	j = &ld->json;
	bool		first = true;
	bool		any_inner = false;

	resetStringInfo(j);
	appendStringInfoChar(j, '{');
	json_members(j, ev, false, &first);
	for (int i = 0; i < ev->nkv && !any_inner; i++)
		any_inner = ev->kv[i].inner;
	if (any_inner)
	{
		bool		ifirst = true;

		if (!first)
			appendStringInfoCharMacro(j, ',');
		appendBinaryStringInfo(j, "\"inner\":{", 9);
		json_members(j, ev, true, &ifirst);
		appendStringInfoChar(j, '}');
	}
	appendStringInfoChar(j, '}');
	put_text(o, j->data, j->len);
}

/* One line: a COPY row into out, or a reject. */
static void
process_line(fw_loader *ld, const char *line, size_t len)
{
	fwl_event	ev;
	fwl_status	st;
	size_t		off;
	TimestampTz ts = 0;
	StringInfo	o = &ld->out;
	const char *act;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return;					/* empty lines are skipped, as fw_load always did */
	if (!pg_verifymbstr(line, (int) Min(len, (size_t) PG_INT32_MAX), true))
	{
		reject_bad_encoding(ld, line, len);
		return;
	}
	st = fwl_parse(line, len, &ev, &off);
	if (st == FWL_OK && ev.header != FWL_HDR_NONE && !mk_fw_event_time(&ev, ld->year, &ts))
	{
		st = FWL_ERR_HEADER;
		off = 0;
	}
	if (st != FWL_OK)
	{
		add_reject(ld, line, len, psprintf("%s, at byte %zu", fwl_status_text(st), off));
		return;
	}

	if (ev.header != FWL_HDR_NONE)
		put_timestamp(o, ts);
	else
		appendBinaryStringInfo(o, "\\N", 2);
	appendStringInfoCharMacro(o, '\t');
	put_span_or_null(o, ev.host);
	appendStringInfoCharMacro(o, '\t');
	put_span_or_null(o, ev.prefix);
	appendStringInfoCharMacro(o, '\t');
	put_span_or_null(o, ev.in_iface);
	appendStringInfoCharMacro(o, '\t');
	put_span_or_null(o, ev.out_iface);
	appendStringInfoCharMacro(o, '\t');
	{
		const char *dir = mk_fw_direction(&ev);

		if (dir)
			appendStringInfoString(o, dir);
		else
			appendBinaryStringInfo(o, "\\N", 2);
	}
	appendStringInfoCharMacro(o, '\t');
	put_addr(o, ev.family, ev.src);
	appendStringInfoCharMacro(o, '\t');
	put_addr(o, ev.family, ev.dst);
	appendStringInfoCharMacro(o, '\t');
	put_span_or_null(o, ev.proto);
	appendStringInfoCharMacro(o, '\t');
	{
		/* spt, dpt, len, ttl, packet_id, icmp_type, icmp_code */
		const unsigned bits[7] = {FWL_HAS_SPT, FWL_HAS_DPT, FWL_HAS_LEN, FWL_HAS_TTL,
		FWL_HAS_ID, FWL_HAS_TYPE, FWL_HAS_CODE};
		const int32 nums[7] = {ev.spt, ev.dpt, ev.len, ev.ttl, ev.id, ev.icmp_type, ev.icmp_code};

		for (int i = 0; i < 7; i++)
		{
			put_int(o, (ev.has & bits[i]) != 0, nums[i]);
			appendStringInfoCharMacro(o, '\t');
		}
	}
	/* tcp_flags: an array for TCP (maybe empty), NULL otherwise */
	if (ev.proto.len == 3 && memcmp(ev.proto.p, "TCP", 3) == 0)
	{
		appendStringInfoChar(o, '{');
		for (int i = 0; i < ev.nflags; i++)
		{
			if (i)
				appendStringInfoChar(o, ',');
			/* flag names are fixed upper-case words: no quoting */
			appendBinaryStringInfo(o, ev.tcp_flags[i].p, ev.tcp_flags[i].len);
		}
		appendStringInfoChar(o, '}');
	}
	else
		appendBinaryStringInfo(o, "\\N", 2);
	appendStringInfoCharMacro(o, '\t');
	act = mk_fw_prefix_action(&ld->map, ev.prefix);
	if (act)
		put_text(o, act, strlen(act));
	else
	{
		ld->unmapped++;
		appendBinaryStringInfo(o, "\\N", 2);
	}
	appendStringInfoCharMacro(o, '\t');
	put_extra(ld, o, &ev);
	appendStringInfoChar(o, '\n');

	if (ev.header != FWL_HDR_NONE)
	{
		/* threat detection counts as the rows go by (alert.c) */
		bool		syn = false;

		if (ev.proto.len == 3 && pg_strncasecmp(ev.proto.p, "TCP", 3) == 0)
		{
			bool		s = false,
						a = false;

			for (int i = 0; i < ev.nflags; i++)
			{
				if (ev.tcp_flags[i].len == 3 && memcmp(ev.tcp_flags[i].p, "SYN", 3) == 0)
					s = true;
				else if (ev.tcp_flags[i].len == 3 && memcmp(ev.tcp_flags[i].p, "ACK", 3) == 0)
					a = true;
			}
			syn = s && !a;
		}
		mk_fw_alert_load_row(ts, ev.family, ev.src, ev.dst, (ev.has & FWL_HAS_DPT) ? ev.dpt : -1, syn);
	}

	ld->ring[ld->rows % FW_LOAD_RING] = ld->line_no;
	ld->rows++;
}

/*
 * COPY's data source: rows until maxread bytes are ready (or the input
 * ends); 0 means the end.
 */
static int
fw_copy_source(void *arg, void *outbuf, int minread, int maxread)
{
	fw_loader  *ld = (fw_loader *) arg;
	MemoryContext old;
	int			n;

	ld->in_source = true;
	if (ld->out_pos > 0)
	{
		/* keep only what COPY has not taken yet */
		n = ld->out.len - ld->out_pos;
		memmove(ld->out.data, ld->out.data + ld->out_pos, n);
		ld->out.len = n;
		ld->out.data[n] = '\0';
		ld->out_pos = 0;
	}
	old = MemoryContextSwitchTo(ld->rowcxt);
	while (ld->out.len < maxread && !ld->done)
	{
		const char *line;
		size_t		len;

		CHECK_FOR_INTERRUPTS();
		ld->in_read = true;
		if (!next_line(ld, &line, &len))
		{
			ld->done = true;
			break;
		}
		ld->in_read = false;
		process_line(ld, line, len);
		MemoryContextReset(ld->rowcxt);
	}
	MemoryContextSwitchTo(old);
	n = Min(ld->out.len, maxread);
	memcpy(outbuf, ld->out.data, n);
	ld->out_pos = n;
	ld->in_source = false;
	return n;
}

static SPIPlanPtr reject_plan = NULL;

/* The rejects, in line order, into mekatek.fw_reject. */
static void
flush_rejects(fw_loader *ld)
{
	TupleTableSlot *slot;
	SPIPlanPtr	plan;
	Oid			argtypes[4] = {TEXTARRAYOID, TEXTARRAYOID, INT8ARRAYOID, TEXTOID};
	MemoryContext batchcxt,
				old;
	bool		more = true;

	if (ld->nrejected == 0)
		return;
	SPI_connect();
	plan = mk_spi_plan(&reject_plan,
					   "INSERT INTO mekatek.fw_reject (line, reason, source, line_no) "
					   "SELECT u.line, u.reason, $4, u.line_no "
					   "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3)) "
					   "WITH ORDINALITY AS u(line, reason, line_no, n) "
					   "ORDER BY u.n", 4, argtypes);
	slot = MakeSingleTupleTableSlot(ld->reject_desc, &TTSOpsMinimalTuple);
	batchcxt = AllocSetContextCreate(CurrentMemoryContext, "fw_load rejects", ALLOCSET_DEFAULT_SIZES);
	tuplestore_rescan(ld->rejects);
	while (more)
	{
		ArrayBuildState *lines = NULL,
				   *reasons = NULL,
				   *nums = NULL;
		int			k = 0;
		Datum		args[4];
		char		argnulls[4] = {' ', ' ', ' ', ld->path ? ' ' : 'n'};

		old = MemoryContextSwitchTo(batchcxt);
		while (k < FW_LOAD_REJECT_BATCH &&
			   (more = tuplestore_gettupleslot(ld->rejects, true, false, slot)))
		{
			bool		isnull;

			CHECK_FOR_INTERRUPTS();
			lines = accumArrayResult(lines, slot_getattr(slot, 1, &isnull), false, TEXTOID, batchcxt);
			reasons = accumArrayResult(reasons, slot_getattr(slot, 2, &isnull), false, TEXTOID, batchcxt);
			nums = accumArrayResult(nums, slot_getattr(slot, 3, &isnull), false, INT8OID, batchcxt);
			k++;
		}
		if (k > 0)
		{
			args[0] = makeArrayResult(lines, batchcxt);
			args[1] = makeArrayResult(reasons, batchcxt);
			args[2] = makeArrayResult(nums, batchcxt);
			args[3] = ld->path ? CStringGetTextDatum(ld->path) : (Datum) 0;
			mk_spi_execute_plan(plan, args, argnulls, false, 0, SPI_OK_INSERT, "fw_load: writing the rejects");
		}
		MemoryContextSwitchTo(old);

		/*
		 * Once the rejects spilled to a file, the tuplestore reads each
		 * tuple into a palloc'd chunk of batchcxt that the slot owns and
		 * frees when the next tuple is stored: let it go before the reset.
		 */
		ExecClearTuple(slot);
		MemoryContextReset(batchcxt);
	}
	ExecDropSingleTupleTableSlot(slot);
	SPI_finish();
}

static void
check_insert(Oid relid, const char *name)
{
	AclResult	acl = pg_class_aclcheck(relid, GetUserId(), ACL_INSERT);

	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, name);
}

/* Once COPY's checks have passed: what parsing needs from the tables. */
static void
load_ready(void *arg)
{
	fw_loader  *ld = (fw_loader *) arg;

	mk_fw_load_prefix_map(&ld->map, CurrentMemoryContext);
	ld->year = mk_fw_log_year();
	mk_fw_alert_load_begin();	/* threat detection counts as rows go by */
}

/*
 * The whole load; returns the loaded count.  The privilege checks are those
 * of COPY FROM (DoCopy): INSERT on the columns through the range table,
 * row-level security refused, no read-only transaction.
 */
static int64
run_load(fw_loader *ld)
{
	Oid			nsp = get_namespace_oid("mekatek", false);
	Oid			logid = get_relname_relid("fw_log", nsp);
	Oid			rejid = get_relname_relid("fw_reject", nsp);
	List	   *attnames = NIL;
	List	   *options;
	ErrorContextCallback errcb;
	int64		loaded;
	MkCopyFromOpts copy_opts = {
		.what = "mekatek.fw_load",
		.rls_hint = "Load with INSERT ... SELECT mekatek.fw_parse(...) instead.",
		.cstate = &ld->cstate,
		.ready = load_ready,
	};

	if (!OidIsValid(logid) || !OidIsValid(rejid))
		elog(ERROR, "mekatek.fw_log or mekatek.fw_reject is missing");
	PreventCommandIfReadOnly("mekatek.fw_load");
	PreventCommandIfParallelMode("mekatek.fw_load");
	if (active_loader != NULL)
		mk_error(ERRCODE_FEATURE_NOT_SUPPORTED, NULL,
				 "mekatek.fw_load and mekatek.fw_load_file cannot be nested");
	check_insert(rejid, "fw_reject");

	for (int i = 0; i < (int) lengthof(fw_log_columns); i++)
		attnames = lappend(attnames, makeString(pstrdup(fw_log_columns[i])));

	/* the rows are in the server encoding, whatever the client's is */
	options = list_make1(makeDefElem("encoding",
									 (Node *) makeString((char *) GetDatabaseEncodingName()), -1));

	initStringInfo(&ld->out);
	initStringInfo(&ld->json);
	initStringInfo(&ld->partial);
	ld->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "fw_load row", ALLOCSET_DEFAULT_SIZES);
	ld->reject_desc = CreateTemplateTupleDesc(3);
	TupleDescInitEntry(ld->reject_desc, 1, "line", TEXTOID, -1, 0);
	TupleDescInitEntry(ld->reject_desc, 2, "reason", TEXTOID, -1, 0);
	TupleDescInitEntry(ld->reject_desc, 3, "line_no", INT8OID, -1, 0);
	ld->rejects = tuplestore_begin_heap(true, false, work_mem);

	errcb.callback = fw_load_context;
	errcb.arg = ld;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	active_loader = ld;
	PG_TRY();
	{
		loaded = (int64) mk_copy_from(logid, attnames, options, fw_copy_source, ld, &copy_opts);
	}
	PG_CATCH();
	{
		active_loader = NULL;
		mk_fw_alert_load_abort();
		PG_RE_THROW();
	}
	PG_END_TRY();
	active_loader = NULL;
	error_context_stack = errcb.previous;

	flush_rejects(ld);
	tuplestore_end(ld->rejects);
	mk_fw_alert_load_end();
	/* once per load: fw_mine and fw_generalize ignore lines without one */
	if (ld->unmapped > 0)
		ereport(WARNING,
				(errmsg("%lld of %lld loaded lines have a LOG prefix that maps to no action",
						(long long) ld->unmapped, (long long) loaded),
				 errdetail("Their action is NULL; fw_mine and fw_generalize learn nothing from them."),
				 errhint("Map the prefixes in mekatek.fw_prefix_action (SELECT DISTINCT prefix FROM mekatek.fw_log WHERE action IS NULL lists them).")));
	return loaded;
}

static Datum
load_result(FunctionCallInfo fcinfo, int64 loaded, int64 rejected)
{
	TupleDesc	td;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &td) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "fw_load must return a composite type");
	values[0] = Int64GetDatum(loaded);
	values[1] = Int64GetDatum(rejected);
	return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(td), values, nulls));
}

PG_FUNCTION_INFO_V1(mk_fw_load_file);
Datum
mk_fw_load_file(PG_FUNCTION_ARGS)
{
	fw_loader  *ld;
	char	   *path;
	char	   *resolved;
	int64		loaded;

	path = mk_arg_cstring(fcinfo, 0, "path", false);
	/* as COPY FROM a file: superusers and pg_read_server_files only */
	if (!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
		mk_error(ERRCODE_INSUFFICIENT_PRIVILEGE,
				 "Only superusers and members of pg_read_server_files read server files; a client can pass the lines to mekatek.fw_load(text).",
				 "permission denied to read server file \"%s\"", mk_quote_short(path));

	ld = palloc0(sizeof(fw_loader));
	ld->path = path;
	/* only inside mekatek.fw_log_directory (log_directory.c) */
	ld->file = mk_fw_open_log_file(path, &resolved);
	ld->chunk = palloc(FW_LOAD_CHUNK);
	ld->buf = ld->chunk;
	loaded = run_load(ld);
	FreeFile(ld->file);
	PG_RETURN_DATUM(load_result(fcinfo, loaded, ld->nrejected));
}

PG_FUNCTION_INFO_V1(mk_fw_load_text);
Datum
mk_fw_load_text(PG_FUNCTION_ARGS)
{
	text	   *lines;
	fw_loader  *ld = palloc0(sizeof(fw_loader));
	int64		loaded;

	mk_arg_not_null(fcinfo, 0, "lines");
	lines = PG_GETARG_TEXT_PP(0);

	ld->buf = VARDATA_ANY(lines);
	ld->buflen = VARSIZE_ANY_EXHDR(lines);
	ld->eof = true;
	loaded = run_load(ld);
	PG_RETURN_DATUM(load_result(fcinfo, loaded, ld->nrejected));
}
