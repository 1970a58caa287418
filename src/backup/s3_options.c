/*
 * s3_options.c: the options string of s3_export and s3_import, the admin
 * check, and the gzip-aware byte source that feeds COPY FROM.
 *
 * Options are COPY's own option list, parsed by PostgreSQL's grammar (the
 * text is wrapped into a COPY statement that is parsed, never executed),
 * plus compression, compression_level, compression_workers, parallel_workers,
 * encryption_key_id, part_size and server_side_encryption,
 * which are taken out before the rest goes to COPY for validation.
 */
#include "core/mekatek.h"

#include "pgstat.h"
#include "utils/backend_progress.h"
#include "utils/backend_status.h"

#include "catalog/pg_authid.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "utils/acl.h"
#include "utils/guc.h"

#include "backup/s3_copy.h"

typedef struct ParseContext
{
	const char *sql;
	const char *label;
} ParseContext;

/* As SPI does: a syntax error points into the text parsed, not the call. */
static void
parse_context(void *arg)
{
	ParseContext *c = arg;
	int			pos = geterrposition();

	if (pos > 0)
	{
		errposition(0);
		internalerrposition(pos);
		internalerrquery(c->sql);
	}
	errcontext("%s", c->label);
}

List *
mk_raw_parse(const char *sql, const char *label)
{
	ErrorContextCallback cb;
	ParseContext c = {sql, label};
	List	   *stmts;

	cb.callback = parse_context;
	cb.arg = &c;
	cb.previous = error_context_stack;
	error_context_stack = &cb;
	stmts = raw_parser(sql, RAW_PARSE_DEFAULT);
	error_context_stack = cb.previous;
	return stmts;
}

static char *
wrap_list(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\n')
		s++;
	if (*s == '\0')
		return pstrdup("");
	if (*s == '(')
		return pstrdup(s);
	return psprintf("(%s)", s);
}

void
mk_s3_parse_options(const char *options, const char *columns, bool is_from, MkS3Options *out)
{
	char	   *sql;
	List	   *stmts;
	CopyStmt   *copy;
	ListCell   *lc;

	out->compression = is_from ? MK_COMPRESS_AUTO : MK_COMPRESS_NONE;
	out->level = 0;
	out->workers = 0;
	out->parallel = -1;
	out->key_id = NULL;
	out->part_size = MK_PART_SIZE_DEFAULT;
	out->sse = false;
	out->copy = NIL;
	out->attlist = NIL;

	if (is_from)
		sql = psprintf("COPY mk_target %s FROM STDIN %s", wrap_list(columns ? columns : ""),
					   wrap_list(options));
	else
		sql = psprintf("COPY mk_target TO STDOUT %s", wrap_list(options));

	stmts = mk_raw_parse(sql, psprintf("S3 options \"%s\"", options));

	/* Anything but the one COPY we wrote means the text escaped its list. */
	if (list_length(stmts) != 1 || !IsA(linitial_node(RawStmt, stmts)->stmt, CopyStmt))
		mk_error(ERRCODE_SYNTAX_ERROR, "Options are a COPY option list such as 'format csv, header true'.",
				 "invalid S3 options \"%s\"", options);
	copy = (CopyStmt *) linitial_node(RawStmt, stmts)->stmt;
	if (copy->is_from != is_from || copy->filename != NULL || copy->is_program ||
		copy->whereClause != NULL || copy->query != NULL || copy->relation == NULL ||
		copy->relation->schemaname != NULL || strcmp(copy->relation->relname, "mk_target") != 0)
		mk_error(ERRCODE_SYNTAX_ERROR, "Options are a COPY option list such as 'format csv, header true'.",
				 "invalid S3 options \"%s\"", options);
	out->attlist = copy->attlist;

	foreach(lc, copy->options)
	{
		DefElem    *d = lfirst_node(DefElem, lc);

		/* Positions refer to our wrapper, not to anything the user sees. */
		d->location = -1;
		if (strcmp(d->defname, "compression") == 0)
		{
			char	   *v = defGetString(d);

			if (pg_strcasecmp(v, "gzip") == 0)
				out->compression = MK_COMPRESS_GZIP;
			else if (pg_strcasecmp(v, "zstd") == 0)
				out->compression = MK_COMPRESS_ZSTD;
			else if (pg_strcasecmp(v, "none") == 0)
				out->compression = MK_COMPRESS_NONE;
			else if (is_from && pg_strcasecmp(v, "auto") == 0)
				out->compression = MK_COMPRESS_AUTO;
			else
				mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
						 is_from ? "Use gzip, zstd, none or auto." : "Use gzip, zstd or none.",
						 "invalid S3 option compression \"%s\"", v);
		}
		else if (strcmp(d->defname, "compression_level") == 0 && !is_from)
		{
			int			v = defGetInt32(d);

			if (v < 1 || v > 19)
				mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
						 "gzip levels run from 1 (fast) to 9 (small), zstd levels from 1 to 19.",
						 "invalid S3 option compression_level %d", v);
			out->level = v;
		}
		else if (strcmp(d->defname, "compression_workers") == 0 && !is_from)
		{
			int			v = defGetInt32(d);

			if (v < 0 || v > 16)
				mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
						 "zstd compresses on 0 (in the backend itself) to 16 threads of its own.",
						 "invalid S3 option compression_workers %d", v);
			out->workers = v;
		}
		else if (strcmp(d->defname, "parallel_workers") == 0 && !is_from)
		{
			int			v = defGetInt32(d);

			if (v < 0 || v > MK_PARALLEL_WORKERS_MAX)
				mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
						 "0 formats in the backend itself; up to 16 parallel workers format block ranges of the table.",
						 "invalid S3 option parallel_workers %d", v);
			out->parallel = v;
		}
		else if (strcmp(d->defname, "encryption_key_id") == 0 && !is_from)
			out->key_id = defGetString(d);
		else if (strcmp(d->defname, "part_size") == 0 && !is_from)
		{
			char	   *v = defGetString(d);
			int			bytes;
			const char *hint = NULL;

			if (!parse_int(v, &bytes, GUC_UNIT_BYTE, &hint) ||
				bytes < MK_PART_SIZE_MIN || bytes > MK_PART_SIZE_MAX)
				mk_error(ERRCODE_INVALID_PARAMETER_VALUE,
						 "S3 parts are at least 5MB; Mekatek keeps one part in memory, so at most 512MB.",
						 "invalid S3 option part_size \"%s\"", v);
			out->part_size = bytes;
		}
		else if (strcmp(d->defname, "server_side_encryption") == 0 && !is_from)
		{
			char	   *v = defGetString(d);

			if (pg_strcasecmp(v, "AES256") == 0)
				out->sse = true;
			else if (pg_strcasecmp(v, "none") == 0)
				out->sse = false;
			else
				mk_error(ERRCODE_INVALID_PARAMETER_VALUE, "Use AES256 or none.",
						 "invalid S3 option server_side_encryption \"%s\"", v);
		}
		else
			out->copy = lappend(out->copy, d);
	}
	if (out->compression == MK_COMPRESS_GZIP && out->level > 9)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, "gzip levels run from 1 (fast) to 9 (small).",
				 "invalid S3 option compression_level %d for gzip", out->level);
	if (out->workers > 0 && out->compression != MK_COMPRESS_ZSTD)
		mk_error(ERRCODE_INVALID_PARAMETER_VALUE, "Worker threads are zstd's: add compression zstd.",
				 "S3 option compression_workers needs compression zstd");
	if (out->level == 0)
		out->level = 1;
}

/* zlib allocates in the current memory context: freed with it on error. */
voidpf
mk_zalloc(voidpf opaque, uInt items, uInt size)
{
	return MemoryContextAllocZero((MemoryContext) opaque, (Size) items * size);
}

void
mk_zfree(voidpf opaque, voidpf address)
{
	pfree(address);
}

bool
mk_progress_begin(Oid relid, MkProgressPhase phase)
{
	bool		started = false;

	if (MyBEEntry == NULL)
		return false;
	if (MyBEEntry->st_progress_command == PROGRESS_COMMAND_INVALID)
	{
		pgstat_progress_start_command(PROGRESS_COMMAND_COPY, relid);
		started = true;
	}
	pgstat_progress_update_param(MK_PROGRESS_MARK, MK_PROGRESS_MAGIC);
	pgstat_progress_update_param(MK_PROGRESS_PHASE, phase);
	return started;
}

void
mk_progress_update(int index, int64 value)
{
	pgstat_progress_update_param(index, value);
}

void
mk_progress_end(bool started)
{
	if (started)
		pgstat_progress_end_command();
}

#define INFLATE_IN (64 * 1024)

/* libzstd allocates with malloc: its context goes with the inflater's. */
static void
free_dctx_cb(void *arg)
{
	ZSTD_DCtx **dctx = arg;

	if (*dctx)
		ZSTD_freeDCtx(*dctx);
	*dctx = NULL;
}

void
mk_inflater_init(MkInflater *inf, MkReadFn read, void *arg, MkCompression mode)
{
	memset(inf, 0, sizeof(*inf));
	inf->read = read;
	inf->arg = arg;
	inf->mode = mode;
	inf->in = palloc(INFLATE_IN);
	/* Not COPY's per-row context, where the first read happens. */
	inf->cxt = CurrentMemoryContext;
}

/* Refill the input buffer; false at the end of the source. */
static bool
refill(MkInflater *inf)
{
	int			n;

	if (inf->eof)
		return false;
	if (inf->inpos > 0 && inf->inpos < inf->inlen)
		memmove(inf->in, inf->in + inf->inpos, inf->inlen - inf->inpos);
	inf->inlen -= inf->inpos;
	inf->inpos = 0;
	n = inf->read(inf->arg, inf->in + inf->inlen, INFLATE_IN - inf->inlen);
	if (n == 0)
		inf->eof = true;
	inf->inlen += n;
	return n > 0;
}

int
mk_inflater_read(MkInflater *inf, char *buf, int minread, int maxread)
{
	int			got = 0;

	/* COPY FROM has just taken the progress slot: say what it loads from. */
	if (!inf->progress_marked)
	{
		(void) mk_progress_begin(InvalidOid, MK_PHASE_LOADING);
		inf->progress_marked = true;
	}

	if (inf->mode == MK_COMPRESS_AUTO || (inf->mode == MK_COMPRESS_GZIP && !inf->z_ready) ||
		(inf->mode == MK_COMPRESS_ZSTD && inf->zstd == NULL))
	{
		while (inf->inlen < 4 && refill(inf))
			;
		if (inf->mode == MK_COMPRESS_AUTO)
		{
			const unsigned char *m = (const unsigned char *) inf->in;

			if (inf->inlen >= 2 && m[0] == 0x1f && m[1] == 0x8b)
				inf->mode = MK_COMPRESS_GZIP;
			else if (inf->inlen >= 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
				inf->mode = MK_COMPRESS_ZSTD;
			else
				inf->mode = MK_COMPRESS_NONE;
		}
		if (inf->mode == MK_COMPRESS_ZSTD)
		{
			MemoryContext old = MemoryContextSwitchTo(inf->cxt);
			MemoryContextCallback *cb = palloc0(sizeof(MemoryContextCallback));

			inf->zstd_holder = palloc0(sizeof(ZSTD_DCtx *));
			*inf->zstd_holder = ZSTD_createDCtx();
			if (*inf->zstd_holder == NULL)
				mk_error(ERRCODE_OUT_OF_MEMORY, NULL, "could not start zstd decompression");
			cb->func = free_dctx_cb;
			cb->arg = inf->zstd_holder;
			MemoryContextRegisterResetCallback(inf->cxt, cb);
			inf->zstd = *inf->zstd_holder;
			MemoryContextSwitchTo(old);
		}
		if (inf->mode == MK_COMPRESS_GZIP)
		{
			inf->z.zalloc = mk_zalloc;
			inf->z.zfree = mk_zfree;
			inf->z.opaque = inf->cxt;
			if (inflateInit2(&inf->z, 16 + MAX_WBITS) != Z_OK)
				mk_error(ERRCODE_OUT_OF_MEMORY, NULL, "could not start gzip decompression");
			inf->z_ready = true;
		}
	}

	while (got < minread || (got == 0 && maxread > 0))
	{
		CHECK_FOR_INTERRUPTS();
		if (inf->mode == MK_COMPRESS_ZSTD)
		{
			ZSTD_inBuffer in;
			ZSTD_outBuffer out = {buf, (size_t) maxread, (size_t) got};
			size_t		rc;

			if (inf->inpos == inf->inlen && !refill(inf))
			{
				if (inf->zstd_frame_open)
					mk_error(ERRCODE_DATA_CORRUPTED, NULL, "zstd data ends inside a frame");
				break;
			}
			in.src = inf->in + inf->inpos;
			in.size = inf->inlen - inf->inpos;
			in.pos = 0;
			rc = ZSTD_decompressStream(inf->zstd, &out, &in);
			if (ZSTD_isError(rc))
				mk_error(ERRCODE_DATA_CORRUPTED, NULL, "invalid zstd data: %s", ZSTD_getErrorName(rc));
			inf->zstd_frame_open = rc != 0;
			inf->inpos += in.pos;
			got = out.pos;
		}
		else if (inf->mode == MK_COMPRESS_NONE)
		{
			int			n;

			if (inf->inpos == inf->inlen && !refill(inf))
				break;
			n = Min(maxread - got, inf->inlen - inf->inpos);
			memcpy(buf + got, inf->in + inf->inpos, n);
			inf->inpos += n;
			got += n;
		}
		else
		{
			int			rc;

			/* The source ended inside a gzip member: truncated, not short. */
			if (inf->inpos == inf->inlen && !refill(inf))
				mk_error(ERRCODE_DATA_CORRUPTED, NULL, "gzip data ends before its end marker");
			inf->z.next_in = (Bytef *) inf->in + inf->inpos;
			inf->z.avail_in = inf->inlen - inf->inpos;
			inf->z.next_out = (Bytef *) buf + got;
			inf->z.avail_out = maxread - got;
			rc = inflate(&inf->z, Z_NO_FLUSH);
			inf->inpos = inf->inlen - inf->z.avail_in;
			got = maxread - inf->z.avail_out;
			if (rc == Z_STREAM_END)
			{
				/* gzip files may hold several members: go on with the next. */
				inflateReset(&inf->z);
				while (inf->inpos == inf->inlen && refill(inf))
					;
				if (inf->inpos == inf->inlen)
				{
					inf->z_ready = false;
					inf->mode = MK_COMPRESS_NONE;	/* nothing more */
					inflateEnd(&inf->z);
					break;
				}
			}
			else if (rc != Z_OK && rc != Z_BUF_ERROR)
				mk_error(ERRCODE_DATA_CORRUPTED, NULL, "invalid gzip data: %s",
						 inf->z.msg ? inf->z.msg : "unknown error");
		}
	}
	return got;
}

void
mk_inflater_end(MkInflater *inf)
{
	if (inf->z_ready)
		inflateEnd(&inf->z);
	inf->z_ready = false;
	if (inf->zstd_holder && *inf->zstd_holder)
	{
		ZSTD_freeDCtx(*inf->zstd_holder);
		*inf->zstd_holder = NULL;
	}
	inf->zstd = NULL;
}
