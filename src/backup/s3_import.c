/*
 * s3_import.c: mekatek.s3_import, the shape of aws_s3.table_import_from_s3.
 *
 * The object streams from a GET straight into COPY FROM through COPY's data
 * source callback: the backend holds the curl buffer (about 1 MB at most,
 * libcurl is paused beyond that) and zlib's window, whatever the object's
 * size.  gzip and zstd are recognised by their magic bytes; an encrypted
 * object (backup_crypt.h) is downloaded to a temporary file and its tag
 * checked before COPY sees a byte.
 */
#include "core/mekatek.h"

#include "access/sysattr.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/copy.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/varlena.h"

#include "storage/buffile.h"

#include "backup/backup_crypt.h"
#include "backup/s3_client.h"
#include "backup/s3_copy.h"

static int
inflater_source(void *arg, void *buf, int minread, int maxread)
{
	return mk_inflater_read((MkInflater *) arg, buf, minread, maxread);
}

/* COPY FROM an (inflated) byte source into a relation; returns the rows. */
uint64
mk_copy_from_source(Oid relid, MkInflater *src, List *attlist, List *copy_options)
{
	MkCopyFromOpts o = {
		.what = "mekatek.s3_import",
		.rls_hint = "Load into a table without row-level security.",
	};

	return mk_copy_from(relid, attlist, copy_options, inflater_source, src, &o);
}

/* The stream, after the first bytes that were read to recognise it. */
typedef struct Peeked
{
	MkS3Stream *st;
	char		head[MK_ENC_MAGIC_LEN];
	int			head_len;
	int			head_pos;
} Peeked;

static int
peeked_read(void *arg, char *buf, int maxlen)
{
	Peeked	   *p = arg;

	if (p->head_pos < p->head_len)
	{
		int			n = Min(maxlen, p->head_len - p->head_pos);

		memcpy(buf, p->head + p->head_pos, n);
		p->head_pos += n;
		return n;
	}
	return mk_s3_stream_read(p->st, buf, maxlen);
}

static int
buffile_read(void *arg, char *buf, int maxlen)
{
	return (int) BufFileRead((BufFile *) arg, buf, maxlen);
}

static void
rewind_file(BufFile *f)
{
	if (BufFileSeek(f, 0, 0, SEEK_SET) != 0)
		mk_error(ERRCODE_IO_ERROR, NULL, "could not rewind the downloaded object");
}

PG_FUNCTION_INFO_V1(mk_s3_import);

/*
 * s3_import(table_name, column_list, options, bucket, key) returns text like
 * aws_s3's: '5 rows imported into relation "t" from file k of 80 bytes'.
 */
Datum
mk_s3_import(PG_FUNCTION_ARGS)
{
	char	   *table_name = mk_arg_cstring(fcinfo, 0, "table_name", false);
	char	   *columns = PG_ARGISNULL(1) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *options = PG_ARGISNULL(2) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *bucket = mk_arg_cstring(fcinfo, 3, "bucket", false);
	char	   *key = mk_arg_cstring(fcinfo, 4, "key", false);
	MkS3Options opts;
	MkS3Config cfg;
	RangeVar   *rv;
	Oid			relid;
	MkS3Stream *volatile st = NULL;
	MkInflater	inf;
	Peeked		p = {0};
	MkDecryptor dec;
	uint64		rows = 0;
	int64		bytes = 0;

	mk_require_admin("mekatek.s3_import", MK_BACKUP_ADMIN_HINT);
	mk_s3_check_names(bucket, key);
	mk_s3_parse_options(options, columns, true, &opts);
	rv = makeRangeVarFromNameList(stringToQualifiedNameList(table_name));
	relid = RangeVarGetRelid(rv, RowExclusiveLock, false);
	/* Columns and COPY options are checked before anything is fetched. */
	{
		Relation	rel = table_open(relid, NoLock);
		CopyFormatOptions fmt = {0};

		(void) CopyGetAttnums(RelationGetDescr(rel), rel, opts.attlist);
		table_close(rel, NoLock);
		ProcessCopyOptions(NULL, &fmt, true, opts.copy);
	}
	mk_s3_config_load(&cfg);

	PG_TRY();
	{
		st = mk_s3_stream_open(&cfg, bucket, key);
		p.st = st;
		while (p.head_len < MK_ENC_MAGIC_LEN)
		{
			int			n = mk_s3_stream_read(st, p.head + p.head_len, MK_ENC_MAGIC_LEN - p.head_len);

			if (n == 0)
				break;
			p.head_len += n;
		}
		if (mk_is_encrypted(p.head, p.head_len))
		{
			/*
			 * Encrypted: nothing may be written before the tag is checked,
			 * so the object goes to a temporary file first (as a restore's).
			 */
			BufFile    *f = BufFileCreateTemp(false);
			char	   *buf = palloc(64 * 1024);
			char	   *what = psprintf("\"%s/%s\"", bucket, key);
			int			n;

			while ((n = peeked_read(&p, buf, 64 * 1024)) > 0)
			{
				CHECK_FOR_INTERRUPTS();
				BufFileWrite(f, buf, n);
			}
			bytes = mk_s3_stream_bytes(st);
			rewind_file(f);
			mk_decryptor_init(&dec, buffile_read, f, what);
			mk_decryptor_verify(&dec);
			rewind_file(f);
			mk_decryptor_init(&dec, buffile_read, f, what);
			mk_inflater_init(&inf, mk_decryptor_read, &dec, opts.compression);
			rows = mk_copy_from_source(relid, &inf, opts.attlist, opts.copy);
			mk_inflater_end(&inf);
			BufFileClose(f);
		}
		else
		{
			mk_inflater_init(&inf, peeked_read, &p, opts.compression);
			rows = mk_copy_from_source(relid, &inf, opts.attlist, opts.copy);
			bytes = mk_s3_stream_bytes(st);
			mk_inflater_end(&inf);
		}
	}
	PG_FINALLY();
	{
		if (st)
			mk_s3_stream_close(st);
	}
	PG_END_TRY();

	PG_RETURN_TEXT_P(cstring_to_text(psprintf("%llu rows imported into relation \"%s\" from file %s of %lld bytes",
											  (unsigned long long) rows, get_rel_name(relid),
											  key, (long long) bytes)));
}
