/*
 * s3_import.c: mekatek.s3_import, the shape of aws_s3.table_import_from_s3.
 *
 * The object streams from a GET straight into COPY FROM through COPY's data
 * source callback: the backend holds the curl buffer (about 1 MB at most,
 * libcurl is paused beyond that) and zlib's window, whatever the object's
 * size.  gzip is recognised by its magic bytes.
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

static int
stream_read(void *arg, char *buf, int maxlen)
{
	return mk_s3_stream_read((MkS3Stream *) arg, buf, maxlen);
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
		mk_inflater_init(&inf, stream_read, st, opts.compression);
		rows = mk_copy_from_source(relid, &inf, opts.attlist, opts.copy);
		bytes = mk_s3_stream_bytes(st);
		mk_inflater_end(&inf);
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
